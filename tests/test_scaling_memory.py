"""Training memory (chapter 12): the bytes per parameter against real optimizers, activations against a hand count."""

from __future__ import annotations

import pytest
import torch

from troikadl.scaling.memory import activation_bytes, fits, measured_training_state_bytes, training_state_bytes
from troikadl.transformer import GPT, GPTConfig


@pytest.mark.parametrize("precision, optimizer, per_parameter", [
    ("float32", "adam", (4, 4, 8, 0)), ("float32", "momentum", (4, 4, 4, 0)), ("float32", "sgd", (4, 4, 0, 0)),
    ("mixed", "adam", (2, 2, 8, 4)), ("mixed", "momentum", (2, 2, 4, 4)), ("mixed", "sgd", (2, 2, 0, 4))])
def test_bytes_per_parameter(precision, optimizer, per_parameter):
    parts = training_state_bytes(1000, precision=precision, optimizer=optimizer)
    assert [parts[k] // 1000 for k in ("weights", "gradients", "optimizer_state", "master_weights")] == \
        list(per_parameter)
    assert parts["total"] == 1000 * sum(per_parameter)


def test_adam_needs_16_bytes_per_parameter_in_float32_and_in_mixed_precision():  # ZeRO, section 3.1
    assert training_state_bytes(7, optimizer="adam")["total"] == 16 * 7
    assert training_state_bytes(7, precision="mixed")["total"] == 16 * 7


def _model():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=40, n_positions=12, d_model=16, heads=2, layers=2))  # tied output layer


@pytest.mark.parametrize("name, make", [
    ("adam", lambda p: torch.optim.Adam(p, lr=1e-3)), ("adam", lambda p: torch.optim.AdamW(p, lr=1e-3)),
    ("momentum", lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)), ("sgd", lambda p: torch.optim.SGD(p, lr=0.1))])
def test_the_formula_equals_the_tensors_of_a_real_optimizer_after_a_step(name, make):
    model = _model()
    optimizer = make(model.parameters())
    before = measured_training_state_bytes(model, optimizer)
    assert before["gradients"] == before["optimizer_state"] == 0  # both appear with the first step
    model(torch.randint(0, 40, (3, 12)))[0].square().mean().backward()
    optimizer.step()
    n = sum(p.numel() for p in model.parameters())  # the tied output layer is the token embedding: once
    assert measured_training_state_bytes(model, optimizer) == training_state_bytes(n, optimizer=name)
    if name == "adam":  # the scalar step counters, one per parameter tensor, are left out
        steps = [s["step"] for s in optimizer.state.values()]
        assert len(steps) == len(list(model.parameters())) and all(t.numel() == 1 for t in steps)


def _by_hand(c, B, T):
    """Pre-norm decoder, per layer and token (float32): the block's input and its ln1 output, q, k, v, the
    attention output, the residual sum and its ln2 output (8 d), the MLP's hidden layer before and after GELU
    (8 d), two LayerNorm statistics each (4), heads * T attention weights; per layer a T x T boolean causal mask;
    the final LayerNorm (input, output, 2 statistics); the int64 token ids and positions."""
    d, h, L = c.d_model, c.heads, c.layers
    return 4 * B * T * (L * (16 * d + 4 + h * T) + 2 * d + 2) + L * T * T + 8 * B * T + 8 * T


def test_activation_bytes_equal_the_count_by_hand():
    c = GPTConfig(vocab_size=30, n_positions=16, d_model=24, heads=3, layers=2)
    model = GPT(c)
    for B, T in ((1, 5), (3, 16), (2, 9)):
        assert activation_bytes(model, torch.randint(0, 30, (B, T))) == _by_hand(c, B, T)


@pytest.mark.parametrize("norm_first", [True, False])
def test_activations_grow_linearly_with_the_batch_and_quadratically_with_the_length(norm_first):
    c = GPTConfig(vocab_size=30, n_positions=16, d_model=24, heads=3, layers=2, norm_first=norm_first)
    model = GPT(c)
    by_batch = [activation_bytes(model, torch.randint(0, 30, (B, 8))) for B in (1, 2, 3, 4)]
    steps = {b - a for a, b in zip(by_batch, by_batch[1:])}
    assert len(steps) == 1 and steps.pop() > 0  # linear in the batch (plus a constant: the positions and masks)
    B = 2
    by_length = [activation_bytes(model, torch.randint(0, 30, (B, T))) for T in range(4, 9)]
    second = {a - 2 * b + c_ for a, b, c_ in zip(by_length, by_length[1:], by_length[2:])}
    # the second difference of x T^2 is 2 x: float32 attention weights B heads T^2 and a boolean mask T^2, per layer
    assert second == {2 * c.layers * (4 * B * c.heads + 1)}


def test_a_frozen_model_keeps_no_activations():  # nothing requires a gradient: autograd builds no graph
    model = _model()
    ids = torch.randint(0, 40, (2, 12))
    assert activation_bytes(model, ids) > 0 and activation_bytes(model.requires_grad_(False), ids) == 0


def test_fits_for_inference_but_not_for_training():
    seven_b, gpu = 6_738_415_616, 80 * 2**30  # Llama 2 7B on one 80 GiB GPU
    assert fits(seven_b, gpu, training=False) and fits(seven_b, gpu, training=False, precision="mixed")
    assert not fits(seven_b, gpu, training=True) and not fits(seven_b, gpu, training=True, precision="mixed")
    assert fits(seven_b, gpu, training=True, precision="mixed", optimizer="sgd")  # 8 bytes per parameter
    assert fits(10, 40, training=False) and not fits(10, 39, training=False)  # the boundary: <=


def test_bad_input():
    with pytest.raises(ValueError, match="n_params"):
        training_state_bytes(0)
    with pytest.raises(ValueError, match="precision"):
        training_state_bytes(10, precision="float16")
    with pytest.raises(ValueError, match="optimizer"):
        training_state_bytes(10, optimizer="lion")
    with pytest.raises(TypeError, match="optimizer"):
        measured_training_state_bytes(torch.nn.Linear(2, 2), "adam")
    with pytest.raises(TypeError, match="model"):
        activation_bytes(torch.nn.Linear(2, 2), torch.zeros(1, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="ids"):
        activation_bytes(_model(), torch.zeros(1, 13, dtype=torch.long))  # longer than the context
    with pytest.raises(TypeError, match="ids"):
        activation_bytes(_model(), torch.zeros(1, 5))
    with pytest.raises(ValueError, match="memory_bytes"):
        fits(10, -1, training=True)
    with pytest.raises(TypeError, match="training"):
        fits(10, 100, training="no")
