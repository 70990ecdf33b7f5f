"""The character language model (chapter 5): vocabulary, split, truncated-BPTT batches, training, perplexity, sampling.

Expected values are computed here independently: whole sequences run through torch at once (no windows),
cross-entropies with ``torch.nn.functional`` over all targets, unigram counts with NumPy, parameter counts from
the modules' own tensors, sampling frequencies against the softmax by a chi-square test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from troikadl import language_model as lm
from troikadl.data.corpus import Corpus

TOL64 = 1e-10  # float64 sums of a few thousand log-probabilities, read window by window or at once
MATCH_TOLERANCE = 0.01  # parameter counts of matched cells, relative, at the chapter's sizes (hidden >= 64)
P_MIN = 1e-4  # chi-square tests: fail only if the frequencies are this unlikely under the expected law
TEXT = ("The quick brown fox jumps over the lazy dog. " * 6 + "Pack my box with five dozen liquor jugs.\n") * 3


def _model(vocab_size=12, hidden=5, cell="LSTM", seed=0):
    torch.manual_seed(seed)
    return lm.CharRNN(vocab_size, hidden, cell, embed=4).double()


# --- vocabulary and split -----------------------------------------------------------------------------------

def test_vocab_round_trip_and_the_unknown_id():
    vocab = lm.CharVocab.from_text("banana band")
    assert vocab.chars == (" ", "a", "b", "d", "n") and len(vocab) == 6
    ids = vocab.encode("band aid!")
    assert ids.dtype == torch.int64 and ids.tolist() == [3, 2, 5, 4, 1, 2, lm.UNKNOWN, 4, lm.UNKNOWN]
    assert vocab.decode(vocab.encode("banana")) == "banana"
    assert vocab.decode(ids) == "band a\ufffdd\ufffd"
    assert vocab.decode(np.array([], dtype=np.int64)) == "" and vocab.encode("").numel() == 0


def test_split_holds_out_whole_modules():
    docs = tuple((f"Doc {i} of module {i % 7} says something.", "A second sentence.") for i in range(40))
    corpus = Corpus(docs, "3.x", "0" * 64, tuple(f"m{i % 7}" for i in range(40)))
    for seed in (0, 1, 2):
        train, val = lm.train_val_split(corpus, 0.2, seed=seed)
        assert train and val
        texts = [" ".join(d) for d in docs]
        held = {i for i, t in enumerate(texts) if t in val.split("\n")}
        kept = {i for i, t in enumerate(texts) if t in train.split("\n")}
        assert held | kept == set(range(40)) and not held & kept  # every document on exactly one side, whole
        assert not {i % 7 for i in held} & {i % 7 for i in kept}  # and every module
        assert len(val) >= 0.2 * (len(train) + len(val)) - 1
        assert val.split("\n") == [texts[i] for i in sorted(held)]  # corpus order kept
    assert lm.train_val_split(corpus, 0.2, seed=1) == lm.train_val_split(corpus, 0.2, seed=1)


def test_split_of_a_list_of_documents_keeps_one_in_training():
    train, val = lm.train_val_split(["one doc here", "another doc"], 0.99)
    assert train and val and {train, val} == {"one doc here", "another doc"}
    with pytest.raises(ValueError, match="corpus"):
        lm.train_val_split(["only one"], 0.5)


# --- truncated-BPTT batches ----------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 80), batch_size=st.integers(1, 6), bptt=st.integers(1, 12))
def test_windows_of_a_row_concatenate_to_a_contiguous_stream(n, batch_size, bptt):
    ids = torch.as_tensor(np.random.default_rng(n).integers(0, 9, n))
    if (n - 1) // batch_size < 1:
        with pytest.raises(ValueError, match="ids"):
            lm.bptt_batches(ids, batch_size, bptt)
        return
    windows = lm.bptt_batches(ids, batch_size, bptt)
    L = (n - 1) // batch_size
    assert all(x.shape == y.shape and x.shape[0] == batch_size and 1 <= x.shape[1] <= bptt for x, y in windows)
    rows_x = torch.cat([x for x, _ in windows], dim=1)
    rows_y = torch.cat([y for _, y in windows], dim=1)
    for b in range(batch_size):
        assert rows_x[b].tolist() == ids[b * L:(b + 1) * L].tolist()
        assert rows_y[b].tolist() == ids[b * L + 1:(b + 1) * L + 1].tolist()  # the next character


@pytest.mark.parametrize("cell", lm.CELLS)
def test_carried_state_makes_windows_equal_to_one_pass(cell):
    """The state at the end of a window is the right start for the next: window by window equals all at once."""
    model = _model(cell=cell)
    ids = torch.as_tensor(np.random.default_rng(3).integers(0, 12, 4 * 23 + 1))
    windows = lm.bptt_batches(ids, 4, 5)
    state, outs = None, []
    with torch.no_grad():
        for x, _ in windows:
            logits, state = model(x, state)
            outs.append(logits)
        whole, _ = model(ids[:4 * 23].view(4, 23))
    np.testing.assert_allclose(torch.cat(outs, 1).numpy(), whole.numpy(), atol=TOL64, rtol=0)


# --- the model and matched sizes -------------------------------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(vocab_size=st.integers(2, 150), hidden=st.integers(1, 70), embed=st.integers(1, 40),
       cell=st.sampled_from(lm.CELLS))
def test_parameter_formula_counts_the_modules_tensors(vocab_size, hidden, embed, cell):
    model = lm.CharRNN(vocab_size, hidden, cell, embed=embed)
    assert lm.char_rnn_parameters(vocab_size, hidden, cell, embed=embed) == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("vocab_size,hidden,embed", [(99, 64, 32), (99, 128, 32), (100, 96, 16), (60, 256, 64)])
def test_matched_hidden_sizes_have_nearly_equal_parameter_counts(vocab_size, hidden, embed):
    sizes = lm.matched_hidden(vocab_size, hidden, embed=embed)
    assert sizes["LSTM"] == hidden and sizes["RNN"] > sizes["GRU"] > hidden
    count = {c: sum(p.numel() for p in lm.CharRNN(vocab_size, h, c, embed=embed).parameters()) for c, h in sizes.items()}
    target = count["LSTM"]
    for cell, h in sizes.items():
        assert abs(count[cell] - target) <= MATCH_TOLERANCE * target, count
        for other in (h - 1, h + 1):  # no other size is closer
            assert abs(lm.char_rnn_parameters(vocab_size, other, cell, embed=embed) - target) >= abs(count[cell] - target)
    assert lm.matched_hidden(vocab_size, sizes["GRU"], reference="GRU", embed=embed)["GRU"] == sizes["GRU"]


def test_forward_shapes_and_errors_name_the_argument():
    model = _model()
    logits, (h, c) = model(torch.zeros(3, 7, dtype=torch.long))
    assert logits.shape == (3, 7, 12) and h.shape == c.shape == (1, 3, 5)
    with pytest.raises(TypeError, match="ids"):
        model(torch.zeros(3, 7))
    with pytest.raises(ValueError, match="ids"):
        model(torch.full((3, 7), 12))
    with pytest.raises(ValueError, match="cell"):
        lm.CharRNN(12, 5, "transformer")


# --- training -------------------------------------------------------------------------------------------------

class Spy(torch.nn.Module):
    """A tiny GRU language model that records the state it is given at each call."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.inner = lm.CharRNN(12, 4, "GRU", embed=3).double()
        self.received, self.returned = [], []

    def forward(self, ids, state=None):
        self.received.append(state)
        logits, new = self.inner(ids, state)
        self.returned.append(new.detach().clone())
        return logits, new


@pytest.mark.parametrize("carry", [True, False])
def test_training_carries_the_detached_state_and_resets_it_each_pass(carry):
    ids = torch.as_tensor(np.random.default_rng(0).integers(0, 12, 2 * 12 + 1))
    spy = Spy()
    lm.train_lm(spy, ids, steps=7, batch_size=2, bptt=4, carry_state=carry)  # 3 windows per pass
    for step, got in enumerate(spy.received):
        if step % 3 == 0 or not carry:
            assert got is None, step
        else:
            assert not got.requires_grad and torch.equal(got, spy.returned[step - 1]), step


def test_history_records_the_loss_and_the_gradient_norm_before_clipping():
    ids = torch.as_tensor(np.random.default_rng(1).integers(0, 12, 3 * 10 + 1))
    model, copy = _model(seed=4), _model(seed=4)
    history = lm.train_lm(model, ids, steps=2, batch_size=3, bptt=10, lr=0.1, clip_norm=1e-3)
    x, y = lm.bptt_batches(ids, 3, 10)[0]
    logits, _ = copy(x)
    loss = F.cross_entropy(logits.reshape(-1, 12), y.reshape(-1))
    loss.backward()
    norm = math.sqrt(sum(float((p.grad ** 2).sum()) for p in copy.parameters()))
    assert history["loss"][0] == pytest.approx(loss.item(), abs=TOL64)
    assert history["grad_norm"][0] == pytest.approx(norm, rel=1e-9) and norm > 1e-3
    assert len(history["loss"]) == len(history["grad_norm"]) == 2


def test_training_learns_a_repeating_text():
    vocab = lm.CharVocab.from_text(TEXT)
    ids = vocab.encode(TEXT)
    torch.manual_seed(0)
    model = lm.CharRNN(len(vocab), 16, "LSTM", embed=8)
    before = lm.perplexity(model, ids)
    lm.train_lm(model, ids, steps=40, batch_size=8, bptt=16, lr=3e-2, clip_norm=1.0)
    assert lm.perplexity(model, ids) < 0.2 * before


# --- perplexity ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cell", lm.CELLS)
@pytest.mark.parametrize("bptt", [1, 7, 500])
def test_perplexity_is_exp_of_the_mean_cross_entropy(cell, bptt):
    model = _model(cell=cell, seed=2)
    ids = torch.as_tensor(np.random.default_rng(5).integers(0, 12, 137))
    with torch.no_grad():
        logits, _ = model(ids[None, :-1])
    expected = math.exp(F.cross_entropy(logits[0], ids[1:]).item())
    assert lm.perplexity(model, ids, bptt=bptt) == pytest.approx(expected, rel=TOL64)


class Bigram(torch.nn.Module):
    """Logits that depend on the current character only (no state): every stream layout must agree."""

    def __init__(self, vocab_size=12):
        super().__init__()
        self.vocab_size = vocab_size
        self.table = torch.nn.Parameter(torch.randn(vocab_size, vocab_size, generator=torch.Generator().manual_seed(0),
                                                    dtype=torch.float64))

    def forward(self, ids, state=None):
        return self.table[ids], state


@pytest.mark.parametrize("batch_size", [1, 2, 3, 7, 50])
def test_perplexity_counts_every_target_once_whatever_the_streams(batch_size):
    ids = torch.as_tensor(np.random.default_rng(6).integers(0, 12, 101))
    model = Bigram()
    expected = math.exp(F.cross_entropy(model.table[ids[:-1]], ids[1:]).item())
    assert lm.perplexity(model, ids, batch_size=batch_size, bptt=9) == pytest.approx(expected, rel=TOL64)


@pytest.mark.parametrize("batch_size,n", [(3, 50), (4, 103), (5, 11)])
def test_perplexity_with_streams_reads_each_stream_whole_and_the_last_to_the_end(batch_size, n):
    """Each of the first streams is read from a zero state; the last one runs on to the end of the text."""
    model = _model(cell="GRU", seed=3)
    ids = torch.as_tensor(np.random.default_rng(n).integers(0, 12, n))
    L, total = (n - 1) // batch_size, 0.0
    with torch.no_grad():
        for b in range(batch_size):
            end = (b + 1) * L if b < batch_size - 1 else n - 1
            logits, _ = model(ids[None, b * L:end])
            total += F.cross_entropy(logits[0], ids[b * L + 1:end + 1], reduction="sum").item()
    assert lm.perplexity(model, ids, batch_size=batch_size, bptt=4) == pytest.approx(math.exp(total / (n - 1)), rel=TOL64)


@pytest.mark.parametrize("batch_size", [1, 4])
def test_constant_logits_give_the_vocabulary_size(batch_size):
    model = _model()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.readout.bias.fill_(0.7)
    ids = torch.as_tensor(np.random.default_rng(7).integers(0, 12, 50))
    assert lm.perplexity(model, ids, batch_size=batch_size) == pytest.approx(12.0, rel=1e-12)


def test_unigram_perplexity_by_hand():
    train = np.array([1, 1, 1, 2, 2, 3, 0, 1])
    ids = np.array([2, 1, 4, 3, 1])
    counts = np.array([1, 4, 2, 1, 0, 0]) + 1.0
    p = counts / counts.sum()
    expected = np.exp(-np.mean(np.log(p[[1, 4, 3, 1]])))  # the first character is never predicted
    assert lm.unigram_perplexity(torch.as_tensor(train), ids, 6) == pytest.approx(expected, rel=1e-12)
    uniform = lm.unigram_perplexity(np.arange(6), np.array([0, 1, 2, 3, 4, 5]), 6)
    assert uniform == pytest.approx(6.0, rel=1e-12)
    with pytest.raises(ValueError, match="ids"):
        lm.unigram_perplexity(train, np.array([1]), 6)


# --- sampling --------------------------------------------------------------------------------------------------

LOGITS = torch.tensor([1.0, 2.5, 0.0, 2.0, -1.0], dtype=torch.float64)


def _frequencies(temperature, n=20000, seed=0):
    gen = torch.Generator().manual_seed(seed)
    draws = lm.sample_next(LOGITS.expand(n, 5), temperature, generator=gen)
    return np.bincount(draws.numpy(), minlength=5)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_sample_next_follows_the_tempered_softmax(temperature):
    stats = pytest.importorskip("scipy.stats")
    counts = _frequencies(temperature)
    expected = np.exp(LOGITS.numpy() / temperature)
    expected = expected / expected.sum() * counts.sum()
    assert stats.chisquare(counts, expected).pvalue > P_MIN


def test_low_temperature_is_greedy_and_high_temperature_is_uniform():
    stats = pytest.importorskip("scipy.stats")
    assert _frequencies(0.0, n=100).tolist() == [0, 100, 0, 0, 0]
    low = _frequencies(0.02)
    assert low[1] == low.sum()  # the next best is exp(-0.5 / 0.02), about 1e-11, less likely
    high = _frequencies(1e4)
    assert stats.chisquare(high).pvalue > P_MIN  # uniform
    assert stats.chisquare(_frequencies(1.0)).pvalue < 1e-6  # and temperature 1 is not


def test_sample_is_reproducible_and_never_writes_the_unknown_id():
    vocab = lm.CharVocab.from_text(TEXT)
    torch.manual_seed(0)
    model = lm.CharRNN(len(vocab), 8, "GRU")
    out = [lm.sample(model, vocab, "The ", 60, temperature=50.0, generator=torch.Generator().manual_seed(s))
           for s in (1, 1, 2)]
    assert out[0] == out[1] != out[2] and out[0].startswith("The ") and len(out[0]) == 64
    assert "\ufffd" not in "".join(out)
    greedy, ids, state = lm.sample(model, vocab, "Th", 5, temperature=0.0), vocab.encode("Th")[None], None
    with torch.no_grad():  # the greedy loop written out
        text = "Th"
        for _ in range(5):
            logits, state = model(ids, state)
            nxt = int(logits[0, -1, 1:].argmax()) + 1
            text += vocab.chars[nxt - 1]
            ids = torch.tensor([[nxt]])
    assert greedy == text
    with pytest.raises(ValueError, match="prompt"):
        lm.sample(model, vocab, "", 5)
    with pytest.raises(ValueError, match="temperature"):
        lm.sample_next(LOGITS, -1.0)
