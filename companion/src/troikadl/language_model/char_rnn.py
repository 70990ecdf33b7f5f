"""The character-level recurrent model and its training loop (truncated BPTT with teacher forcing).

Taught in chapter 5. See :mod:`troikadl.language_model`.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..runtime import progress
from ..train import History
from ..validate import check_bool, check_callable, check_choice, check_float, check_instance, check_int
from .text import _check_token_batch, _ids, bptt_batches

__all__ = ["CELLS", "CharRNN", "char_rnn_parameters", "matched_hidden", "train_lm"]

CELLS = ("RNN", "LSTM", "GRU")
_GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}  # weight blocks per cell in torch's stacked layout


def _map(fn: Any, state: Any) -> Any:
    """``fn`` applied to a recurrent state: None, one tensor (1, batch, H), or an LSTM's pair (h, c)."""
    return None if state is None else tuple(map(fn, state)) if isinstance(state, tuple) else fn(state)


def _detach(state: Any) -> Any:
    """The state with its history cut: gradients stop here (the truncation of truncated BPTT)."""
    return _map(torch.Tensor.detach, state)


class CharRNN(nn.Module):
    """Embedding -> one torch recurrent layer (``nn.RNN`` tanh, ``nn.LSTM`` or ``nn.GRU``) -> linear readout.

    Taught in chapter 5. ``forward(ids, state=None)`` takes ids (batch, time) and returns logits (batch, time,
    vocab_size) for the *next* character at every position, and the final state to pass to the next call.
    """

    def __init__(self, vocab_size: int, hidden: int, cell: str = "LSTM", *, embed: int = 32) -> None:
        check_int(vocab_size, "vocab_size", min=2)
        check_int(hidden, "hidden", min=1)
        check_choice(cell, "cell", CELLS)
        check_int(embed, "embed", min=1)
        super().__init__()
        self.vocab_size, self.hidden, self.cell, self.embed_dim = int(vocab_size), int(hidden), cell, int(embed)
        self.embed = nn.Embedding(self.vocab_size, self.embed_dim)
        self.recurrent = getattr(nn, cell)(self.embed_dim, self.hidden, batch_first=True)
        self.readout = nn.Linear(self.hidden, self.vocab_size)

    def forward(self, ids: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        _check_token_batch(ids, self.vocab_size)
        out, state = self.recurrent(self.embed(ids), self._check_state(state, ids.shape[0]))
        return self.readout(out), state

    def _check_state(self, state: Any, batch: int) -> Any:
        """``None``, or what the torch layer returned: (1, batch, hidden), a pair of them for an LSTM."""
        parts = state if isinstance(state, tuple) else (state,)
        if state is not None and (len(parts) != (2 if self.cell == "LSTM" else 1) or not all(
                isinstance(s, torch.Tensor) and s.is_floating_point() and s.shape == (1, batch, self.hidden)
                for s in parts)):
            want = "a pair (h, c)" if self.cell == "LSTM" else "one tensor h"
            raise ValueError(f"state must be None or {want} of shape (1, {batch}, {self.hidden}) (as the model "
                             f"returned it), got {type(state).__name__}")
        return state

    def extra_repr(self) -> str:
        return f"cell={self.cell!r}, parameters={sum(p.numel() for p in self.parameters()):,}"


def char_rnn_parameters(vocab_size: int, hidden: int, cell: str = "LSTM", *, embed: int = 32) -> int:
    """The parameter count of ``CharRNN(vocab_size, hidden, cell, embed=embed)`` (chapter 5), by formula:

    ``V E`` (embedding) + ``G (H E + H H + 2 H)`` (torch's recurrent layer, two biases, G = 1, 4, 3 blocks for
    the RNN, LSTM, GRU) + ``H V + V`` (readout).
    """
    V, H = check_int(vocab_size, "vocab_size", min=2), check_int(hidden, "hidden", min=1)
    E, G = check_int(embed, "embed", min=1), _GATES[check_choice(cell, "cell", CELLS)]
    return V * E + G * (H * E + H * H + 2 * H) + H * V + V


def matched_hidden(vocab_size: int, hidden: int, *, reference: str = "LSTM", embed: int = 32) -> dict[str, int]:
    """The hidden size of each cell whose CharRNN has the parameter count closest to the reference's (chapter 5).

    The reference cell gets ``hidden``; every other cell the size whose count is nearest to it, so counts differ
    by at most half the parameters of one hidden unit (under 1% at the chapter's sizes).
    """
    check_choice(reference, "reference", CELLS)
    target = char_rnn_parameters(vocab_size, hidden, reference, embed=embed)
    out = {}
    for cell in CELLS:
        G, V, E = _GATES[cell], vocab_size, embed  # solve G H^2 + (G (E + 2) + V) H + (V E + V) = target
        b = G * (E + 2) + V
        h = max(1, int((-b + math.sqrt(b * b + 4 * G * (target - V * E - V))) / (2 * G)))
        out[cell] = min((h, h + 1), key=lambda k: (abs(char_rnn_parameters(V, k, cell, embed=E) - target), k))
    return out


def check_window(model: nn.Module, bptt: int, carry_state: bool) -> None:
    """A model with a fixed context (an ``n_positions`` attribute, chapter 6's GPT) reads windows of at most that
    many tokens, each from scratch: ``carry_state=False`` and ``bptt <= n_positions``."""
    n = getattr(model, "n_positions", None)
    if n is not None and carry_state:
        raise ValueError(f"carry_state must be False for a model with a fixed context (n_positions = {n}): its "
                         f"state is a cache of past tokens, which would run past its position table")
    if n is not None and bptt > n:
        raise ValueError(f"bptt ({bptt}) must not exceed the model's context n_positions = {n}")


def train_lm(model: nn.Module, ids: Any, *, steps: int, batch_size: int = 32, bptt: int = 64, lr: float = 3e-3,
             clip_norm: float | None = None, carry_state: bool = True, schedule: Callable[[int], float] | None = None,
             desc: str = "training") -> History:
    """Train a language model for ``steps`` windows of truncated BPTT with teacher forcing; Adam, learning rate ``lr``.

    Taught in chapter 5. The windows come from :func:`bptt_batches` in order; the state at the end of one window
    is detached (gradients stop at the window's start) and carried into the next, unless ``carry_state=False``
    (each window then starts from a zero state: required, with ``bptt <= n_positions``, for a model with a
    fixed context such as chapter 6's GPT); it is reset when the windows run out and start again. With
    ``clip_norm``, gradients are clipped to that global norm. The :class:`~troikadl.train.History` records, per
    step, ``loss`` (the mean cross-entropy of the window, in nats) and ``grad_norm`` (the global gradient
    norm *before* clipping). With ``schedule``, step ``t`` (from 0) uses the learning rate ``schedule(t)``
    instead of ``lr`` (chapter 6 warms up with ``functools.partial`` of :func:`troikadl.schedules.warmup_lr`).
    """
    check_instance(model, "model", nn.Module, "a torch.nn.Module called as model(ids, state)")
    check_int(steps, "steps", min=1)
    check_float(lr, "lr", min=0.0, min_open=True)
    if clip_norm is not None:
        check_float(clip_norm, "clip_norm", min=0.0, min_open=True)
    check_bool(carry_state, "carry_state")
    if schedule is not None:
        check_callable(schedule, "schedule", "a function of the step number returning the learning rate")
    check_window(model, check_int(bptt, "bptt", min=1), carry_state)
    device = next(model.parameters()).device
    windows = bptt_batches(_ids(ids, vocab_size=getattr(model, "vocab_size", None)).to(device), batch_size, bptt)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history, state = History(), None
    model.train()
    for step in progress(range(steps), desc=desc, unit="step"):
        k = step % len(windows)
        if k == 0 or not carry_state:
            state = None
        x, y = windows[k]
        logits, state = model(x, _detach(state))
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), math.inf if clip_norm is None else clip_norm)
        if schedule is not None:
            for group in optimizer.param_groups:
                group["lr"] = schedule(step)
        optimizer.step()
        history.log(loss=loss.item(), grad_norm=float(norm))
    return history
