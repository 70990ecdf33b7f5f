"""troikadl: the companion package of the Troika deep-learning course.

Modules are named by topic; each public function's docstring names the chapter that teaches it.
TensorFlow is never imported here: call :func:`import_tf` in the section that needs it.
"""

from __future__ import annotations

__version__ = "0.3.0"

from . import (attention, autograd, cnn, compress, conv, data, gradcheck, grading, landscapes, nas, neuron, nn, optim,
               plot, rnn, transformer, twins, validate)
from .notebook import require, show_source
from .report import report
from .runtime import Runtime, Timer, current, import_tf, progress, setup
from .train import History, accuracy, evaluate, fit, predict

__all__ = ["__version__", "setup", "current", "Runtime", "import_tf", "progress", "Timer", "report",
           "fit", "evaluate", "predict", "accuracy", "History", "show_source", "require",
           "attention", "autograd", "cnn", "compress", "conv", "data", "gradcheck", "grading", "landscapes", "nas",
           "neuron", "nn", "optim", "plot", "rnn", "transformer", "twins", "validate"]
