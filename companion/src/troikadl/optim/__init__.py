"""Optimizers from scratch: SGD (with momentum and Nesterov), AdaGrad, RMSProp, Adam and AdamW.

Taught in chapter 3. Each is one small class with the same interface as ``torch.optim``: build it on a
list of parameters (anything with a NumPy ``.data`` and a ``.grad``, such as the chapter 2 engine's
tensors), then call ``step()`` after every backward pass. Updates happen in place.

``convention="torch"`` (the default) reproduces ``torch.optim`` exactly, defaults included.
``convention="keras"`` reproduces ``keras.optimizers`` where the two differ:

============ ================================== ======================================================
optimizer    torch                              keras
============ ================================== ======================================================
SGD          lr 1e-3; weight decay is L2: it    lr 1e-2; weight decay is decoupled: p -= lr wd p
             adds wd p to the gradient          (same momentum, written as a velocity)
AdaGrad      lr 1e-2, s starts at 0, eps        lr 1e-3, s starts at 0.1, eps 1e-7 *inside*
             1e-10 outside the root             the root: g / sqrt(s + eps)
RMSProp      lr 1e-2, rho (alpha) 0.99, eps     lr 1e-3, rho 0.9, eps 1e-7 *inside* the root:
             1e-8 outside the root              g / sqrt(v + eps)
Adam         eps 1e-8 added to sqrt(v_hat),     eps 1e-7 added to sqrt(v) before the bias correction
             after the bias correction          is applied to the step size; decoupled weight decay
AdamW        weight decay 1e-2                  weight decay 4e-3
Adam(W)      t in the bias correction counts    t counts the optimizer's updates (``iterations``), so
             each parameter's own updates       a parameter that had no gradient on an earlier step
                                                is corrected as if it had
all          hyper-parameters as given          the learning rate, momentum, weight decay and Adam's
                                                betas (in the bias correction) rounded to float32, as
                                                Keras's float32 variables and casts do
============ ================================== ======================================================

The package is split by concept: ``base`` (the shared ``Optimizer``), ``sgd`` (gradient descent
and momentum) and ``adaptive`` (per-parameter step sizes: AdaGrad, RMSProp, Adam, AdamW).
"""

from .adaptive import AdaGrad, Adam, AdamW, RMSProp
from .base import CONVENTIONS, Optimizer
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "AdaGrad", "RMSProp", "Adam", "AdamW"]
