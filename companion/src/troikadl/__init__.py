"""troikadl: the companion package of the Troika deep-learning course.

Modules are named by topic; each public function's docstring names the chapter that teaches it.
TensorFlow is never imported here: call :func:`import_tf` in the section that needs it.
"""

from __future__ import annotations

__version__ = "0.14.0"

from ._lazy import lazy_submodules
from .notebook import require, show_source
from .report import report
from .runtime import Runtime, Timer, current, import_tf, progress, setup
from .train import History, accuracy, evaluate, fit, predict

__all__ = ["__version__", "setup", "current", "Runtime", "import_tf", "progress", "Timer", "report",
           "fit", "evaluate", "predict", "accuracy", "History", "show_source", "require",
           "activations", "architectures", "attention", "autograd", "cnn", "compress", "conv", "data", "figures",
           "gradcheck", "grading", "initialization", "landscapes", "language_model", "memory", "nas", "neuron", "nn",
           "normalization", "optim", "plot", "regularization", "resnet", "rnn", "scaling", "schedules", "transformer",
           "twins", "validate", "vit"]

#: Topic modules, imported on first use (``tk.rnn``), so that ``import troikadl`` stays light: a module that
#: defines PyTorch models imports torch at its top.
_SUBMODULES = ("activations", "architectures", "attention", "autograd", "cnn", "compress", "conv", "data", "figures",
               "gradcheck", "grading", "initialization", "landscapes", "language_model", "memory", "nas", "neuron",
               "nn", "normalization", "optim", "plot", "regularization", "resnet", "rnn", "scaling", "schedules",
               "transformer", "twins", "validate", "vit")

__getattr__, __dir__ = lazy_submodules(__name__, _SUBMODULES)
