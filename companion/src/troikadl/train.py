"""One small, reusable training loop for PyTorch models, with a progress bar and a history.

Shown in full in chapter 1.

Chapters call :func:`fit` rather than writing their own loop, so that every chapter's training looks the
same and is tested once. The loop is deliberately plain (shuffle, forward, loss, backward, step), so a
reader can read it whole with ``tk.show_source(tk.fit)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .runtime import current, progress
from .validate import as_float_array, as_tensor, check_choice, check_float, check_int, check_same_length

__all__ = ["History", "fit", "evaluate", "predict", "accuracy", "LOSSES", "CLASSIFICATION_LOSSES", "DEFAULT_LR", "IGNORE"]

#: The label of a position that no loss counts (PyTorch's ``ignore_index`` default): masked-language-model
#: targets that were not masked, padding, unlabelled examples in distillation.
IGNORE = -100


@dataclass
class History:
    """Per-epoch curves recorded by :func:`fit`: ``history["train_loss"]`` etc."""

    curves: dict[str, list[float]] = field(default_factory=dict)

    def log(self, **values: float) -> None:
        for k, v in values.items():
            self.curves.setdefault(k, []).append(float(v))

    def __getitem__(self, key: str) -> list[float]:
        return self.curves[key]

    def __contains__(self, key: object) -> bool:
        return key in self.curves

    def last(self, key: str) -> float:
        return self.curves[key][-1]

    def __repr__(self) -> str:
        last = ", ".join(f"{k}={v[-1]:.4g}" for k, v in self.curves.items())
        n = len(next(iter(self.curves.values()), []))
        return f"History({n} epochs: {last})"


def _bce(logits: Any, y: Any) -> Any:
    import torch.nn.functional as F

    return F.binary_cross_entropy_with_logits(logits.reshape(-1), y.reshape(-1).to(logits.dtype))


def _ce(logits: Any, y: Any) -> Any:
    import torch.nn.functional as F

    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1).long())


def _mse(pred: Any, y: Any) -> Any:
    import torch.nn.functional as F

    return F.mse_loss(pred.reshape(y.shape), y.to(pred.dtype))


#: Named losses: "bce" (one logit per sample, labels 0/1), "cross_entropy" (class logits in the last
#: axis, e.g. (batch, classes) or (batch, positions, classes) for per-token labels), "mse".
LOSSES: dict[str, Callable[[Any, Any], Any]] = {"bce": _bce, "cross_entropy": _ce, "mse": _mse}
#: The named losses of classifiers, for which accuracy means something (recorded by default).
CLASSIFICATION_LOSSES = ("bce", "cross_entropy")
#: Adam's learning rate in :func:`fit` when neither ``lr`` nor an ``optimizer`` is given.
DEFAULT_LR = 1e-2


def accuracy(y_true: Any, scores: Any) -> float:
    """Fraction of correct predictions. ``scores``: labels, one logit per sample (threshold 0), or class scores."""
    y = as_float_array(y_true, "y_true", dtype=None)
    if np.any(y != np.round(y)):
        raise ValueError("y_true must hold class labels (whole numbers), got fractional values")
    return _accuracy(y, as_float_array(scores, "scores", dtype=None))


def _accuracy(y_true: Any, scores: Any) -> float:
    """:func:`accuracy` without the checks (training calls it on every batch, NaN outputs included)."""
    y = np.asarray(y_true.detach().cpu() if hasattr(y_true, "detach") else y_true)
    s = np.asarray(scores.detach().cpu() if hasattr(scores, "detach") else scores)
    if s.ndim >= 2 and s.shape[-1] > 1 and s.shape[:-1] == y.shape:  # class scores, per sample or token
        pred = s.argmax(axis=-1).reshape(-1)
    elif s.ndim == 2 and s.shape[1] > 1:
        pred = s.argmax(axis=1)
    elif np.issubdtype(s.dtype, np.floating):
        pred = (s.reshape(-1) > 0).astype(np.int64)
    else:
        pred = s.reshape(-1)
    y = y.reshape(-1)
    if pred.shape[0] != y.shape[0]:
        raise ValueError(f"scores must have one row per label of y_true ({y.shape[0]}), got {pred.shape[0]}")
    return float(np.mean(pred == y))


def _loss_fn(loss: Any) -> Callable[[Any, Any], Any]:
    if isinstance(loss, str):
        return LOSSES[check_choice(loss, "loss", sorted(LOSSES))]
    if not callable(loss):
        raise TypeError(f"loss must be one of {sorted(LOSSES)} or a callable loss(outputs, y), got {loss!r}")
    return loss


def _targets(y: Any, name: str, loss: Any) -> Any:
    """``y`` as a tensor of real, finite targets; whole numbers for cross-entropy, in [0, 1] for "bce"."""
    yt = as_tensor(y, name, dtype="any")
    if yt.ndim == 0:
        raise ValueError(f"{name} must hold one target per sample, got a single number")
    if loss == "cross_entropy" and yt.is_floating_point() and bool((yt != yt.round()).any()):
        raise ValueError(f"{name} must hold whole-number class labels for loss='cross_entropy'")
    if loss == "bce" and yt.numel() and bool(((yt < 0) | (yt > 1)).any()):
        raise ValueError(f"{name} must hold labels in [0, 1] for loss='bce'")
    return yt


def _inputs(X: Any, name: str, dtype: Any, desc: str = "") -> tuple[Any, ...]:
    """``X``, one array or a tuple of arrays (one per model input), as a tuple of checked tensors with one row
    per example each: float inputs in ``dtype``, integer inputs (token ids) kept integer. A list is one array."""
    if not isinstance(X, tuple):
        parts = {f"{name}{desc}": X}
    elif not X:
        raise ValueError(f"{name} must be one array or a tuple of arrays (one per model input), got an empty tuple")
    else:
        parts = {f"{name}[{i}]{desc}": x for i, x in enumerate(X)}
    tensors = {}
    for part, x in parts.items():
        t = as_tensor(x, part, dtype="any", nonempty=True)
        if t.ndim == 0:
            raise ValueError(f"{part} must hold one row per example, got a single number")
        tensors[part] = t.to(dtype) if t.is_floating_point() else t
    if len(tensors) > 1:
        check_same_length(**tensors)
    return tuple(tensors.values())


def _tensors(data: Any, device: Any, name: str, loss: Any) -> tuple[tuple[Any, ...], Any]:
    """The checked ``(X, y)`` pair ``data`` as tensors on ``device``: ``X`` as a tuple of input tensors (one per
    model input; float inputs in torch's default dtype, integer ones kept), ``y`` as one tensor."""
    import torch

    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise TypeError(f"{name} must be a pair (X, y) of inputs and targets, got {type(data).__name__}"
                        + (f" of length {len(data)}" if isinstance(data, (tuple, list)) else ""))
    Xt = _inputs(data[0], f"{name}[0]", torch.get_default_dtype(), " (inputs)")
    yt = _targets(data[1], f"{name}[1] (targets)", loss)
    check_same_length(**{f"{name}[0] (inputs)": Xt[0], f"{name}[1] (targets)": yt})
    return tuple(x.to(device) for x in Xt), yt.to(device)


def _check_model(model: Any) -> Any:
    import torch

    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return model


def predict(model: Any, X: Any, *, batch_size: int = 4096) -> np.ndarray:
    """Model outputs for ``X`` as a NumPy array (evaluation mode, no gradients).

    ``X`` is one array, or a tuple of arrays for a model with several inputs (``model(*X)``), as in :func:`fit`.
    A model without parameters (e.g. PyTorch's int8 models, chapter 10) runs on the CPU in float32.
    """
    import torch

    first = next(_check_model(model).parameters(), None)  # None for a quantized model (weights in buffers)
    device = first.device if first is not None else torch.device("cpu")
    Xt = _inputs(X, "X", first.dtype if first is not None else torch.float32)
    check_int(batch_size, "batch_size", min=1)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = torch.cat([model(*(x[i:i + batch_size].to(device) for x in Xt))
                         for i in range(0, len(Xt[0]), batch_size)])
    model.train(was_training)
    return out.cpu().numpy()


def evaluate(model: Any, X: Any, y: Any, *, loss: str | Callable[[Any, Any], Any] = "cross_entropy",
             metric: str | None = "auto") -> dict[str, float]:
    """Loss (and accuracy) of ``model`` on ``(X, y)``; ``metric`` as in :func:`fit` (accuracy for classifiers).

    ``X`` is one array, or a tuple of arrays for a model with several inputs, as in :func:`fit`."""
    import torch

    loss_fn, metric = _loss_fn(loss), _metric(metric, loss)
    yt = _targets(y.cpu() if torch.is_tensor(y) else y, "y", loss)
    out = torch.as_tensor(predict(model, X))
    if isinstance(loss, str):  # the named losses take one target per sample (a callable may differ)
        check_same_length(X=out, y=yt)
    if loss == "cross_entropy" and yt.numel() and not 0 <= int(yt.min()) <= int(yt.max()) < out.shape[-1]:
        raise ValueError(f"y must hold class labels in [0, {out.shape[-1]}) for the model's {out.shape[-1]} "
                         f"outputs, got values from {int(yt.min())} to {int(yt.max())}")
    res = {"loss": float(loss_fn(out, yt))}
    if metric == "accuracy":
        res["acc"] = _accuracy(yt, out)
    return res


def fit(model: Any, train: tuple[Any, Any], *, epochs: int, loss: str | Callable[[Any, Any], Any],
        lr: float | None = None, optimizer: Any = None, batch_size: int | None = None,
        val: tuple[Any, Any] | None = None, val_name: str = "val", metric: str | None = "auto",
        clip_norm: float | None = None, desc: str = "training", seed: int | None = None,
        show_progress: bool = True) -> History:
    """Train ``model`` on ``train = (X, y)`` for ``epochs`` passes; return the per-epoch :class:`History`.

    Taught in chapter 1. ``X`` is one array, or a tuple of arrays of the same length for a model with several
    inputs, called as ``model(*X)`` (chapter 11: images and questions); a list is one array. Float inputs
    become torch's default dtype; integer inputs (token ids) stay integer. ``loss`` is a name from
    :data:`LOSSES` or a callable ``loss(outputs, y)``.
    The optimizer is Adam with learning rate ``lr`` (``None``: :data:`DEFAULT_LR`), or the ``optimizer``
    given, built on the model's parameters with its own learning rate; passing both ``lr`` and
    ``optimizer`` is a ``ValueError``, since ``lr`` would be ignored. ``batch_size=None`` means full batch. The
    shuffling uses a torch generator seeded from :func:`troikadl.setup`'s seed, so runs repeat exactly.
    The model is moved to the runtime's device. Progress is shown unless running quietly (CI, book).
    With ``clip_norm``, gradients are clipped to that global norm before each step (chapter 5), and the
    history records the largest norm seen before clipping in each epoch (``grad_norm_max``).
    ``seed`` overrides the setup's seed for the shuffling (chapter 8 trains each architecture of a
    benchmark with its own stored seed); ``show_progress=False`` hides this run's bar.
    ``val = (X, y)`` is evaluated after every epoch and recorded as ``<val_name>_loss`` (and ``_acc``).
    ``metric="auto"`` records accuracy (``train_acc``, ``<val_name>_acc``) for the classification losses
    (:data:`CLASSIFICATION_LOSSES`) and nothing for "mse" or a callable loss; ``metric="accuracy"`` asks for
    it with a callable loss (a ``ValueError`` with "mse"), ``metric=None`` records losses only.
    Name it for what it is: ``val_name="test"`` when the curve only *monitors* the test set and nothing
    is chosen on it (chapters 1-7); a set used to choose anything is a validation set (chapter 8).
    """
    import torch

    loss_fn, metric = _check_fit(model, epochs, loss, lr, optimizer, batch_size, val_name, metric, clip_norm, seed)
    rt = current()
    model.to(rt.device)
    X, y = _tensors(train, rt.device, "train", loss)
    Xv, yv = _tensors(val, rt.device, "val", loss) if val is not None else (None, None)
    if optimizer is None:
        optimizer = torch.optim.Adam(model.parameters(), lr=DEFAULT_LR if lr is None else lr)
    n = len(y)
    bs = n if batch_size is None else min(batch_size, n)
    gen = torch.Generator().manual_seed(rt.seed if seed is None else seed)
    history = History()
    bar = progress(range(epochs), desc=desc, unit="epoch", **({} if show_progress else {"disable": True}))
    for _ in bar:
        model.train()
        order = torch.randperm(n, generator=gen).to(rt.device)
        total, correct, grad_max = 0.0, 0.0, 0.0
        for start in range(0, n, bs):
            idx = order[start:start + bs]
            out = model(*(x[idx] for x in X))
            batch_loss = loss_fn(out, y[idx])
            optimizer.zero_grad()
            batch_loss.backward()
            if clip_norm is not None:
                grad_max = max(grad_max, float(torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)))
            optimizer.step()
            total += batch_loss.item() * len(idx)
            if metric == "accuracy":
                correct += _accuracy(y[idx], out.detach()) * len(idx)
        logs = {"train_loss": total / n}
        if clip_norm is not None:
            logs["grad_norm_max"] = grad_max
        if metric == "accuracy":
            logs["train_acc"] = correct / n
        if Xv is not None:
            logs.update({f"{val_name}_{k}": v for k, v in
                         evaluate(model, Xv, yv, loss=loss_fn, metric=metric).items()})
        history.log(**logs)
        bar.set_postfix({k: f"{v:.3g}" for k, v in logs.items()}, refresh=False)
    return history


def _check_fit(model: Any, epochs: Any, loss: Any, lr: Any, optimizer: Any, batch_size: Any, val_name: Any,
               metric: Any, clip_norm: Any, seed: Any) -> tuple[Callable[[Any, Any], Any], str | None]:
    """Check :func:`fit`'s settings (its data are checked by ``_tensors``); return the loss function and metric."""
    import torch

    _check_model(model)
    check_int(epochs, "epochs", min=1)
    if lr is not None:
        check_float(lr, "lr", min=0, min_open=True)
    if optimizer is not None:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer built on the model's parameters, "
                            f"got {type(optimizer).__name__}")
        if lr is not None:
            raise ValueError(f"lr must not be given with an optimizer (got lr={lr!r}): the optimizer's own "
                             f"learning rate is used; set it when building the optimizer")
        held = {id(p) for group in optimizer.param_groups for p in group["params"]}
        if not any(id(p) in held for p in model.parameters()):
            raise ValueError("optimizer must be built on the model's parameters, but it holds none of them")
    for name, value in (("batch_size", batch_size), ("seed", seed)):
        if value is not None:
            check_int(value, name, min=1 if name == "batch_size" else 0)
    if clip_norm is not None:
        check_float(clip_norm, "clip_norm", min=0, min_open=True)
    if not (isinstance(val_name, str) and val_name.isidentifier() and val_name != "train"):
        raise ValueError(f"val_name must be a name such as 'val' or 'test' (not 'train'), got {val_name!r}")
    return _loss_fn(loss), _metric(metric, loss)


def _metric(metric: Any, loss: Any) -> str | None:
    """The metric to record: "auto" is accuracy for a classification loss, else none; accuracy never with "mse"."""
    check_choice(metric, "metric", ("auto", "accuracy", None))
    classification = isinstance(loss, str) and loss in CLASSIFICATION_LOSSES
    if metric == "auto":
        return "accuracy" if classification else None
    if metric == "accuracy" and isinstance(loss, str) and not classification:
        raise ValueError(f"metric='accuracy' needs a classification loss {CLASSIFICATION_LOSSES}, got loss={loss!r} "
                         f"(a regression); use metric=None or 'auto'")
    return metric
