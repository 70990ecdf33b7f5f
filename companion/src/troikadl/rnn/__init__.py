"""Recurrent networks from scratch (chapter 5): the Elman RNN, the LSTM and the GRU, stacked and
bidirectional networks, and weight maps to PyTorch and Keras.

``cells`` holds the weights (PyTorch's layout), the step functions and their loops over time;
``frameworks`` moves one layer's weights to and from PyTorch and Keras (which order a GRU's gates
differently and may place its reset gate differently, Keras's ``reset_after``); ``stacked`` runs stacks of
one- or bidirectional layers and reads them from ``nn.LSTM(num_layers=..., bidirectional=True)`` or Keras's
``Bidirectional``; ``training`` holds what the chapter trains: ``SequenceModel`` and ``clip_grad_norm``.
Every public name is re-exported here: ``tk.rnn.lstm_cell``, ``from troikadl.rnn import SequenceModel``.
"""

from __future__ import annotations

from .cells import Weights, gru_cell, gru_forward, lstm_cell, lstm_forward, rnn_cell, rnn_forward
from .frameworks import from_keras, from_torch, to_keras, to_torch
from .stacked import stacked_forward, stacked_from_keras, stacked_from_torch
from .training import SequenceModel, clip_grad_norm

__all__ = ["Weights", "rnn_cell", "lstm_cell", "gru_cell", "rnn_forward", "lstm_forward", "gru_forward",
           "from_torch", "to_torch", "to_keras", "from_keras", "stacked_forward", "stacked_from_torch",
           "stacked_from_keras", "clip_grad_norm", "SequenceModel"]
