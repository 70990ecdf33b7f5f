"""The trainable TokenEncoder (chapter 6) as a module-level class, and the token tasks it learns.

Its numerics (every block against our from-scratch encoder) are in test_attention.py; here: it is built
from PyTorch's own layers in a fixed order (so a seed gives the chapter the same model), pickles, and is
checked with ``isinstance``; ``token_task`` against sorting and reversing written in the test.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from torch import nn

from troikadl.data import token_task
from troikadl.transformer import TokenEncoder

SETTINGS = dict(d_model=8, heads=2, layers=2, d_ff=16)


def _reference(vocab_size, length, n_out, positions):
    """The layers TokenEncoder holds, built here with torch in the order the chapter's numbers depend on."""
    parts = {"tokens": nn.Embedding(vocab_size, 8)}
    if positions == "learned":
        parts["positions"] = nn.Embedding(length, 8)
    parts["blocks"] = nn.ModuleList(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
                                    for _ in range(2))
    parts["readout"] = nn.Linear(8, n_out)
    return parts


@pytest.mark.parametrize("positions, n_out", [("learned", None), ("none", 4), ("sinusoidal", None)])
def test_token_encoder_is_initialised_like_torch_layers_built_in_order(positions, n_out):
    torch.manual_seed(3)
    model = TokenEncoder(11, 6, n_out=n_out, positions=positions, **SETTINGS)
    after = torch.random.get_rng_state()
    torch.manual_seed(3)
    parts = _reference(11, 6, n_out or 11, positions)
    assert torch.equal(torch.random.get_rng_state(), after)  # the same draws, no more
    expected = {f"{name}.{k}": v for name, part in parts.items() for k, v in part.state_dict().items()}
    state = {k: v for k, v in model.state_dict().items() if k != "fixed_positions"}
    assert list(state) == list(expected)
    assert all(torch.equal(state[k], expected[k]) for k in expected)
    ids = torch.as_tensor(np.random.default_rng(0).integers(0, 11, (3, 5)))
    x = parts["tokens"](ids)
    if positions == "learned":
        x = x + parts["positions"](torch.arange(5))
        assert not model.fixed_positions.any()  # learned positions: the fixed table is zero
    if positions == "sinusoidal":  # Vaswani et al.: sin at even columns, cos at odd ones, float32 table
        pos, i = np.arange(5)[:, None], np.arange(0, 8, 2)[None]
        table = np.zeros((5, 8))
        table[:, 0::2], table[:, 1::2] = np.sin(pos / 10000 ** (i / 8)), np.cos(pos / 10000 ** (i / 8))
        x = x + torch.as_tensor(table, dtype=torch.float32)
    for block in parts["blocks"]:
        x = block(x)
    with torch.no_grad():
        torch.testing.assert_close(model(ids), parts["readout"](x), rtol=0, atol=1e-5)  # float32


def test_token_encoder_is_a_picklable_module_with_keyword_settings():
    torch.manual_seed(0)
    model = TokenEncoder(vocab_size=7, length=4, **SETTINGS)
    clone = pickle.loads(pickle.dumps(model))
    assert isinstance(model, TokenEncoder) and isinstance(clone, TokenEncoder) and isinstance(clone, nn.Module)
    ids = torch.tensor([[0, 6, 3, 3], [1, 2, 5, 4]])
    with torch.no_grad():
        assert torch.equal(clone(ids), model(ids))
        assert all(torch.equal(a, b) for a, b in zip(clone.attention_maps(ids), model.attention_maps(ids)))
    assert model(ids).shape == (2, 4, 7)  # n_out defaults to vocab_size
    with pytest.raises(TypeError):
        TokenEncoder(7, 4, 8)  # settings after the length are keyword-only
    with pytest.raises(ValueError, match="vocab_size must be > 0"):
        TokenEncoder(vocab_size=0, length=4)
    with pytest.raises(ValueError, match=r"ids must be in \[0, 7\)"):
        model(torch.tensor([[0, 7]]))


@pytest.mark.parametrize("task", ["sort", "reverse"])
def test_token_task_against_sorting_and_reversing_written_here(task):
    X, y = token_task(300, 6, vocab_size=5, task=task, seed=4)
    assert X.shape == y.shape == (300, 6) and X.dtype == y.dtype == np.int64
    assert set(np.unique(X)) == set(range(5))  # every token of the vocabulary, and no other
    expected = [sorted(row) if task == "sort" else list(row)[::-1] for row in X.tolist()]
    assert y.tolist() == expected
    np.testing.assert_array_equal(token_task(300, 6, 5, task, seed=4)[0], X)  # the seed fixes the data
    assert not np.array_equal(token_task(300, 6, 5, task, seed=5)[0], X)
    with pytest.raises(TypeError):
        token_task(300, 6, 5, task, 4)  # the seed is keyword-only
    with pytest.raises(ValueError, match="vocab_size must be > 0"):
        token_task(3, 6, vocab_size=0)
