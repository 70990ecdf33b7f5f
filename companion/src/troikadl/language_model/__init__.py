"""A character-level language model: vocabulary, batches for truncated BPTT, a recurrent model, perplexity, sampling.

Taught in chapter 5 (next-character prediction with an RNN, an LSTM and a GRU, in the style of Karpathy's
char-rnn); chapter 6 reuses the vocabulary, the split, :func:`perplexity`'s definition, the unigram baseline
and :func:`sample_next` for its decoders; chapter 11 scores generated captions with :mod:`.bleu`. Everything runs offline on the standard-library docstring corpus
(:func:`troikadl.data.corpus.stdlib_corpus`).

Conventions: ids are int64 torch tensors; a model is called as ``model(ids, state) -> (logits, state)`` with
``ids`` of shape (batch, time), ``logits`` (batch, time, vocab_size) and ``state`` whatever the model carries
(``None`` at the start: a zero state). Training is **teacher forcing**: at every position the model reads the
true previous character, never its own prediction; only :func:`sample` feeds the model its own output.

Split by concept: :mod:`.text` (vocabulary, split, windows), :mod:`.char_rnn` (the model and its training
loop), :mod:`.evaluation` (perplexity, the unigram baseline), :mod:`.sampling` (generation with a temperature).
"""

from __future__ import annotations

from . import bleu
from .char_rnn import CELLS, CharRNN, char_rnn_parameters, matched_hidden, train_lm
from .evaluation import bigram_perplexity, perplexity, unigram_perplexity
from .sampling import sample, sample_next
from .text import UNKNOWN, CharVocab, bptt_batches, train_val_split

__all__ = ["bleu", "CharVocab", "train_val_split", "bptt_batches", "CharRNN", "char_rnn_parameters", "matched_hidden",
           "train_lm", "perplexity", "unigram_perplexity", "bigram_perplexity", "sample_next", "sample", "CELLS",
           "UNKNOWN"]
