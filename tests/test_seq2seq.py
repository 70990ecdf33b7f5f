"""The encoder-decoder Transformer of chapter 6 and its number-to-words task (troikadl.transformer.seq2seq,
troikadl.data.translation)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import troikadl as tk
from troikadl.data.translation import (BOS, DIGIT_VOCAB, EOS, PAD, WORD_VOCAB, TokenVocab, number_to_words,
                                       number_words)
from troikadl.transformer.seq2seq import Seq2SeqTransformer, causal_mask, seq2seq_accuracy


# --- the data ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, words", [
    (0, "zero"), (7, "seven"), (10, "ten"), (11, "eleven"), (19, "nineteen"), (20, "twenty"), (21, "twenty one"),
    (90, "ninety"), (100, "one hundred"), (101, "one hundred one"), (110, "one hundred ten"),
    (999, "nine hundred ninety nine"), (1000, "one thousand"), (1001, "one thousand one"),
    (3021, "three thousand twenty one"), (12_015, "twelve thousand fifteen"), (100_000, "one hundred thousand"),
    (999_999, "nine hundred ninety nine thousand nine hundred ninety nine")])
def test_number_to_words_edge_cases(value, words):
    assert number_to_words(value) == words.split()


def test_vocabularies_round_trip_and_frame():
    words = list(WORD_VOCAB.tokens[3:])
    ids = WORD_VOCAB.encode(words, bos=True, eos=True)
    assert ids[0] == BOS and ids[-1] == EOS and len(set(ids[1:-1].tolist())) == len(words)
    assert WORD_VOCAB.decode(ids) == words
    assert WORD_VOCAB.decode(np.r_[ids, PAD, PAD]) == words  # padding after <eos> is dropped
    assert WORD_VOCAB.decode(np.array([BOS, 5, EOS, 6])) == [WORD_VOCAB.tokens[5]]  # stops at <eos>
    assert DIGIT_VOCAB.decode(DIGIT_VOCAB.encode(list("9071"))) == list("9071")
    assert len(DIGIT_VOCAB) == 13 and len(WORD_VOCAB) == 33


def test_split_is_by_value_and_the_pairs_are_right():
    train, test = number_words(999, test_fraction=0.25, seed=3)
    assert len(test) == 250 and len(train) == 750
    assert not set(train.values) & set(test.values)
    assert sorted(np.r_[train.values, test.values].tolist()) == list(range(1000))
    assert train.src.shape == (750, 3) and test.tgt.shape[1] == train.tgt.shape[1] == 6  # 4 words + frame
    for pairs in (train, test):
        for i in (0, 1, len(pairs) - 1):
            digits, words = pairs.text(i)
            assert digits == str(pairs.values[i]) and words == " ".join(number_to_words(int(pairs.values[i])))
    other, _ = number_words(999, test_fraction=0.25, seed=4)
    assert set(other.values) != set(train.values)  # the seed chooses the held-out values


def test_teacher_forcing_shifts_and_ignores_padding():
    train, _ = number_words(99, seed=0)
    (src, tgt_in), tgt_out = train.teacher_forcing()
    i = int(np.flatnonzero(train.values == 7)[0])  # "seven": <bos> seven <eos> <pad>
    assert tgt_in[i].tolist() == [BOS, WORD_VOCAB.encode(["seven"])[0], EOS]
    assert tgt_out[i].tolist() == [WORD_VOCAB.encode(["seven"])[0], EOS, tk.train.IGNORE]
    assert np.array_equal(src, train.src)


def test_data_bad_input():
    with pytest.raises(ValueError, match="value"):
        number_to_words(1_000_000)
    with pytest.raises(ValueError, match="tokens"):
        WORD_VOCAB.encode(["three", "lakh"])
    with pytest.raises(ValueError, match="tokens"):
        TokenVocab(["a", "<pad>"])
    with pytest.raises(ValueError, match="test_fraction"):
        number_words(9, test_fraction=1.0)
    with pytest.raises(TypeError, match="max_value"):
        number_words(99.0)


# --- the model -----------------------------------------------------------------------------------------------

def _model(seed=0, **kw):
    torch.manual_seed(seed)
    return Seq2SeqTransformer(13, 33, 6, 8, d_model=16, heads=2, d_ff=24, **kw).double().eval()


def _batch(seed=0, n=5, ls=4, lt=6):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(3, 13, (n, ls), generator=g)
    src[0, 2:] = PAD  # a short source
    tgt = torch.randint(3, 33, (n, lt), generator=g)
    tgt[:, 0] = BOS
    return src, tgt


def test_shapes():
    m = _model(enc_layers=1, dec_layers=3)
    src, tgt = _batch()
    assert m(src, tgt).shape == (5, 6, 33)
    maps = m.cross_attention_maps(src, tgt)
    assert len(maps) == 3 and all(a.shape == (5, 2, 6, 4) for a in maps)


def test_causal_mask_uses_pytorchs_convention():
    assert causal_mask(3).tolist() == [[False, True, True], [False, False, True], [False, False, False]]


def test_decoder_is_causal():
    m = _model()
    src, tgt = _batch()
    base = m(src, tgt)
    for k in (1, 3, 5):
        changed = tgt.clone()
        changed[:, k] = (changed[:, k] - 3 + 1) % 30 + 3
        out = m(src, changed)
        torch.testing.assert_close(out[:, :k], base[:, :k], rtol=0, atol=1e-12)
        assert (out[:, k:] - base[:, k:]).abs().amax() > 1e-4  # the change is seen from position k on


def test_source_padding_does_not_change_the_output():
    m = _model()
    src, tgt = _batch(ls=3)
    padded = torch.cat([src, torch.full((5, 3), PAD)], dim=1)
    for training in (False, True):
        m.train(training)
        torch.testing.assert_close(m(padded, tgt), m(src, tgt), rtol=0, atol=1e-10)
    m.eval()
    assert torch.equal(m.greedy_decode(padded, 8), m.greedy_decode(src, 8))
    torch.testing.assert_close(m.cross_attention_maps(padded, tgt)[0][..., :3],
                               m.cross_attention_maps(src, tgt)[0], rtol=0, atol=1e-10)
    # and the source matters: changing a real digit changes the output
    other = src.clone()
    other[:, 0] = (other[:, 0] - 3 + 1) % 10 + 3
    assert (m(other, tgt) - m(src, tgt)).abs().amax() > 1e-4


def test_greedy_decode_equals_a_step_by_step_argmax_loop():
    m = _model(seed=1)
    with torch.no_grad():  # make <eos> likely so that rows stop at different steps
        m.readout.bias[EOS] += 0.5
    src, _ = _batch(seed=2, n=12)
    got = m.greedy_decode(src, 8)
    for i in range(len(src)):  # one row at a time, re-running the full model on the growing sequence
        seq = [BOS]
        while len(seq) < 8 and seq[-1] != EOS:
            logits = m(src[i:i + 1], torch.tensor([seq]))[0, -1]
            seq.append(int(torch.argmax(logits)))
        row = got[i].tolist()
        assert row[:len(seq)] == seq and all(t == PAD for t in row[len(seq):]), (i, row, seq)
    lengths = {int((r != PAD).sum()) for r in got}
    assert len(lengths) > 1  # rows did stop at different steps: the padding after <eos> was exercised


def test_greedy_decode_continues_a_forced_prefix():
    m = _model(seed=3)
    src, _ = _batch(n=4)
    prefix = torch.tensor([[BOS, 7]] * 4)
    out = m.greedy_decode(src, 6, prefix=prefix)
    assert torch.equal(out[:, :2], prefix)
    with torch.no_grad():
        nxt = m(src, prefix)[:, -1].argmax(-1)
    assert torch.equal(out[:, 2], torch.where(prefix[:, -1] == EOS, PAD, nxt))


def test_cross_attention_maps_are_the_weights_pytorchs_layer_uses():
    m = _model()
    src, tgt = _batch()
    seen = []
    hooks = [layer.multihead_attn.register_forward_pre_hook(lambda mod, a, kw: seen.append((mod, a, kw)),
                                                            with_kwargs=True) for layer in m.decoder]
    m(src, tgt)
    for h in hooks:
        h.remove()
    maps = m.cross_attention_maps(src, tgt)
    assert len(seen) == len(maps) == 2
    for (mod, args, kw), got in zip(seen, maps):
        kw = {**kw, "need_weights": True, "average_attn_weights": False}
        want = mod(*args, **kw)[1]
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    for a in maps:
        torch.testing.assert_close(a.sum(-1), torch.ones(5, 2, 6, dtype=a.dtype), rtol=0, atol=1e-12)
        assert float(a[0, :, :, 2:].abs().max()) == 0.0  # the padded source positions of row 0


def test_accuracy_counts_what_it_says():
    m = _model(seed=4)
    src, tgt = _batch(n=6)
    tgt[:, 4], tgt[:, 5] = EOS, PAD
    tgt[0, 2:] = torch.tensor([EOS, PAD, PAD, PAD])
    res = seq2seq_accuracy(m, src, tgt, batch_size=4)
    real = tgt[:, 1:] != PAD
    with torch.no_grad():
        tf = (m(src, tgt[:, :-1]).argmax(-1) == tgt[:, 1:])[real].double().mean()
    assert res["teacher_forced"] == pytest.approx(float(tf), abs=1e-12)
    got = m.greedy_decode(src, 6)
    got = torch.nn.functional.pad(got, (0, 6 - got.shape[1]), value=PAD)
    tgt[1:3] = got[1:3]  # two rows the model decodes exactly (the others almost surely not)
    tgt[1:3, -1] = torch.where(tgt[1:3, -2] == PAD, PAD, tgt[1:3, -1])
    res = seq2seq_accuracy(m, src, tgt, batch_size=4)
    real = tgt[:, 1:] != PAD
    hits = (got[:, 1:] == tgt[:, 1:]) & real
    assert res["greedy_token"] == pytest.approx(hits.sum().item() / real.sum().item(), abs=1e-12)
    assert res["greedy_sequence"] == pytest.approx(2 / 6, abs=1e-12)


def test_training_learns_the_task_on_held_out_numbers():
    rt = tk.setup(seed=0)
    train, test = number_words(999, test_fraction=0.2, seed=0)
    torch.manual_seed(0)
    m = Seq2SeqTransformer(len(DIGIT_VOCAB), len(WORD_VOCAB), 3, train.tgt.shape[1], d_model=32, heads=4,
                           d_ff=64, enc_layers=1, dec_layers=1)
    X, y = train.teacher_forcing()
    tk.fit(m, (X, y), epochs=8, loss="cross_entropy", metric=None, lr=1e-2, batch_size=100, show_progress=False)
    res = seq2seq_accuracy(m, test.src, test.tgt)
    assert res["greedy_sequence"] >= 0.8, res
    assert rt.seed == 0


def test_model_bad_input():
    m = _model()
    src, tgt = _batch()
    with pytest.raises(ValueError, match="d_model"):
        Seq2SeqTransformer(13, 33, 6, 8, d_model=10, heads=4)
    with pytest.raises(TypeError, match="src"):
        m(src.double(), tgt)
    with pytest.raises(ValueError, match="src"):
        m(torch.full((2, 3), PAD), tgt[:2])
    with pytest.raises(ValueError, match="src"):
        m(torch.full((2, 7), 3), tgt[:2])  # longer than src_len
    with pytest.raises(ValueError, match="tgt_in"):
        m(src, tgt[:, 1:])  # does not start with <bos>
    with pytest.raises(ValueError, match="tgt_in"):
        m(src, tgt[:3])
    with pytest.raises(ValueError, match="max_len"):
        m.greedy_decode(src, 9)
    with pytest.raises(ValueError, match="prefix"):
        m.greedy_decode(src, 6, prefix=torch.tensor([[BOS, PAD]] * 5))
    with pytest.raises(TypeError, match="model"):
        seq2seq_accuracy(torch.nn.Linear(2, 2), src, tgt)
