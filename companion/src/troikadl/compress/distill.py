"""Knowledge distillation: a student trained on a teacher's temperature-softened outputs (Hinton et al., 2015).

Taught in chapter 9. With temperature ``T`` the teacher's probabilities ``softmax(z_t / T)`` reveal how
it ranks the wrong classes too ("a 7 looks a bit like a 1"); the student matches them with
``softmax(z_s / T)``. The loss is

    alpha * T^2 * KL(p_t^T || p_s^T) + (1 - alpha) * CE(z_s, y),

where the ``T^2`` keeps the soft term's gradients on the same scale as ``T`` changes: per example, the
gradient of the KL term with respect to a student logit is ``(p_s - p_t) / T``, and for a high ``T`` and
zero-mean logits ``p_s - p_t`` is about ``(z_s - z_t) / (N T)`` (``N`` classes), so the gradient shrinks
like ``1 / T^2``; times ``T^2`` it does not depend on ``T`` (Hinton et al., 2015, section 2.1), and the
balance set by ``alpha`` between the soft and the hard term survives a change of temperature.
Distillation transfers the teacher's *outputs*, not its weights (article 001 §3.2 says weights).
Examples without a label (``y = IGNORE``) get the soft term only.

Feature distillation matches *intermediate* representations as well (FitNets, Romero et al., 2015): a hidden
layer of the student, mapped by a learned **regressor** to the width of a hidden layer of the teacher, is
pulled towards that layer's output by :func:`feature_loss` (mean squared error, or DistilBERT's cosine
loss, Sanh et al., 2019, which needs no regressor when the widths agree). :class:`FeatureDistiller` adds
``beta`` times that term to the distillation loss above.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..train import IGNORE
from ..validate import check_choice, check_float, check_float_tensor, check_in_range, check_int, check_positive

__all__ = ["distillation_loss", "Distiller", "feature_loss", "FeatureDistiller", "FEATURE_LOSSES"]

#: The kinds of :func:`feature_loss`.
FEATURE_LOSSES = ("mse", "cosine")


def distillation_loss(student_logits: Any, teacher_logits: Any, labels: Any = None, *, T: float = 4.0,
                      alpha: float = 0.9) -> Any:
    """The distillation loss above, averaged over the batch (a torch scalar).

    ``labels=None`` (or every label ``IGNORE``) means no hard term; ``alpha`` then does not matter.
    The loss has the student logits' dtype and device (the teacher's logits are cast to that dtype).
    """
    check_positive(T, "T")
    check_in_range(alpha, "alpha", 0.0, 1.0)
    check_float_tensor(student_logits, "student_logits", ndim=2)
    check_float_tensor(teacher_logits, "teacher_logits", ndim=2)
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student_logits and teacher_logits must both be (batch, classes) of the same shape, "
                         f"got {tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}")
    log_p_s = F.log_softmax(student_logits / T, dim=1)
    p_t = F.softmax(teacher_logits.detach().to(student_logits.dtype) / T, dim=1)
    soft = (p_t * (torch.log(p_t.clamp_min(1e-30)) - log_p_s)).sum(1).mean() * T * T
    if labels is None:
        return soft
    try:
        labels = torch.as_tensor(labels, device=student_logits.device)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(f"labels must hold integer class labels (or IGNORE = {IGNORE}), got "
                        f"{type(labels).__name__} {getattr(labels, 'dtype', '')}") from exc
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise TypeError(f"labels must hold integer class labels (or IGNORE = {IGNORE}), got {labels.dtype}")
    if labels.shape != student_logits.shape[:1]:
        raise ValueError(f"labels must have shape ({student_logits.shape[0]},), got {tuple(labels.shape)}")
    n_classes = student_logits.shape[1]
    bad = ((labels < 0) | (labels >= n_classes)) & (labels != IGNORE)
    if labels.device.type != "meta" and bool(bad.any()):
        raise ValueError(f"labels must be in [0, {n_classes}) or IGNORE = {IGNORE}, got "
                         f"{sorted(set(labels[bad].tolist()))}")
    labelled = labels != IGNORE
    if labels.device.type != "meta" and not bool(labelled.any()):
        return soft
    hard = F.cross_entropy(student_logits, labels, ignore_index=IGNORE, reduction="sum") / len(labels)
    return alpha * soft + (1 - alpha) * hard


class Distiller(nn.Module):
    """Wrap a student and a frozen teacher so that :func:`troikadl.fit` trains the student.

    ``d = Distiller(student, teacher)``, then ``fit(d, (X, y), loss=d.loss, metric=None, ...)``: the
    forward pass returns the student's logits stacked with the teacher's, and ``d.loss`` splits them.
    Unlabelled examples carry the label ``IGNORE`` (:data:`troikadl.train.IGNORE`). Only the student's
    parameters are trained.
    """

    def __init__(self, student: nn.Module, teacher: nn.Module, *, T: float = 4.0, alpha: float = 0.9) -> None:
        check_positive(T, "T")
        check_in_range(alpha, "alpha", 0.0, 1.0)
        for name, m in (("student", student), ("teacher", teacher)):
            if not isinstance(m, nn.Module):
                raise TypeError(f"{name} must be a torch.nn.Module, got {type(m).__name__}")
        super().__init__()
        self.student = student
        self.teacher = [teacher]  # in a list: not a submodule, so fit neither trains nor saves it
        self.T, self.alpha = T, alpha

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        teacher = self.teacher[0].to(x.device).eval()
        with torch.no_grad():
            zt = teacher(x)
        return torch.stack([self.student(x), zt])

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The distillation loss of the stacked (student, teacher) logits ``out`` against labels ``y``."""
        return distillation_loss(out[0], out[1], y, T=self.T, alpha=self.alpha)


def feature_loss(student_features: Any, teacher_features: Any, *, kind: str = "mse") -> Any:
    """How far the (regressed) student features are from the teacher's, averaged over the batch (a torch scalar).

    Both are ``(batch, ...)`` float tensors of the same shape. ``kind="mse"`` (FitNets' hint loss, up to
    its factor 1/2 and a sum in place of our mean): the mean over *all elements* of ``(s - t)^2``, i.e.
    ``F.mse_loss(s, t)``. ``kind="cosine"`` (DistilBERT's): each example's features flattened to a vector,
    ``1 - cos(s_i, t_i)`` averaged over the batch, i.e. ``F.cosine_embedding_loss(s, t, +1)``; it ignores
    the features' lengths, so it needs no common scale. As in torch, ``cos = <s, t> / sqrt((|s|^2 + eps)
    (|t|^2 + eps))`` with ``eps = 1e-12``: a zero vector has cosine 0 with everything, and a gradient. No
    gradient flows into ``teacher_features`` (they are cast to the student features' dtype).
    """
    check_choice(kind, "kind", FEATURE_LOSSES)
    check_float_tensor(student_features, "student_features")
    check_float_tensor(teacher_features, "teacher_features")
    s, t = student_features, teacher_features.detach().to(student_features.dtype)
    if s.ndim < 2 or s.shape != t.shape:
        raise ValueError(f"student_features and teacher_features must both be (batch, features...) of the same "
                         f"shape, got {tuple(s.shape)} and {tuple(t.shape)}")
    if kind == "mse":
        return (s - t).square().mean()
    s, t = s.reshape(len(s), -1), t.reshape(len(t), -1)
    cos = (s * t).sum(1) / ((s.square().sum(1) + 1e-12) * (t.square().sum(1) + 1e-12)).sqrt()
    return (1 - cos).mean()


def _width(seq: nn.Sequential, index: int, name: str) -> int:
    """The output width of ``seq[:index + 1]``: the ``out_features`` of the last ``nn.Linear`` up to ``index``."""
    for layer in reversed(list(seq)[:index + 1]):
        if isinstance(layer, nn.Linear):
            return layer.out_features
    raise ValueError(f"{name}: no nn.Linear at or before layer {index}, so its width is unknown; pass a "
                     f"regressor module that maps these features to the teacher's")


class FeatureDistiller(nn.Module):
    """A :class:`Distiller` that also matches a hidden layer of the student to a hidden layer of the teacher.

    ``student`` and ``teacher`` are ``nn.Sequential`` (e.g. :func:`troikadl.cnn.mlp`); the outputs of
    ``student[student_layer]`` and ``teacher[teacher_layer]`` are matched (default ``-2``: the last hidden
    activation of an MLP). The loss is

        distillation_loss(z_s, z_t, y; T, alpha) + beta * feature_loss(regressor(h_s), h_t; kind).

    ``regressor``: ``"auto"`` (an ``nn.Linear`` from the student's width to the teacher's when they differ,
    none when they agree), ``"linear"`` (always that ``nn.Linear``), ``None`` (no regressor: the widths must
    agree) or an ``nn.Module`` of your own. ``fit(d, (X, y), loss=d.loss, metric=None, ...)`` trains the
    student and the regressor; the teacher is frozen (kept outside the module's parameters, run without
    gradients). Unlabelled examples carry the label ``IGNORE``; the feature term needs no labels. The forward
    pass returns ``[z_s, z_t, regressor(h_s), h_t]`` concatenated along axis 1 (features flattened);
    :meth:`split` takes them apart. With ``beta=0`` the loss equals :class:`Distiller`'s.
    """

    def __init__(self, student: nn.Module, teacher: nn.Module, *, student_layer: int = -2, teacher_layer: int = -2,
                 regressor: Any = "auto", kind: str = "mse", beta: float = 1.0, T: float = 4.0,
                 alpha: float = 0.9) -> None:
        check_positive(T, "T")
        check_in_range(alpha, "alpha", 0.0, 1.0)
        check_float(beta, "beta", min=0.0)
        check_choice(kind, "kind", FEATURE_LOSSES)
        layers = {}
        for name, m, index in (("student", student, student_layer), ("teacher", teacher, teacher_layer)):
            if not isinstance(m, nn.Sequential):
                raise TypeError(f"{name} must be a torch.nn.Sequential (its layers are indexed), "
                                f"got {type(m).__name__}")
            if len(m) == 0:
                raise ValueError(f"{name} must have at least one layer")
            layers[name] = check_int(index, f"{name}_layer", min=-len(m), max=len(m) - 1) % len(m)
        super().__init__()
        self.student = student
        self.teacher = [teacher]  # in a list: not a submodule, so fit neither trains nor saves it
        self.student_layer, self.teacher_layer = layers["student"], layers["teacher"]
        self.regressor = self._regressor(regressor)
        self.kind, self.beta, self.T, self.alpha = kind, float(beta), T, alpha
        self._widths: tuple[int, int] | None = None

    def _regressor(self, regressor: Any) -> nn.Module:
        if isinstance(regressor, nn.Module):
            return regressor
        check_choice(regressor, "regressor", ("auto", "linear", None))
        ws = _width(self.student, self.student_layer, f"student_layer={self.student_layer}")
        wt = _width(self.teacher[0], self.teacher_layer, f"teacher_layer={self.teacher_layer}")
        if regressor == "linear" or (regressor == "auto" and ws != wt):
            p = next(self.student.parameters(), None)
            return nn.Linear(ws, wt, **({} if p is None else {"dtype": p.dtype, "device": p.device}))
        if ws != wt:
            raise ValueError(f"regressor=None needs the student's features (width {ws} at student_layer="
                             f"{self.student_layer}) as wide as the teacher's (width {wt} at teacher_layer="
                             f"{self.teacher_layer}); use regressor='auto'")
        return nn.Identity()

    @staticmethod
    def _run(seq: nn.Sequential, x: torch.Tensor, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        h = x
        for i, layer in enumerate(seq):
            h = layer(h)
            if i == index:
                feature = h
        return h, feature.reshape(len(feature), -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_float_tensor(x, "x", finite=False)
        teacher = self.teacher[0].to(x.device).eval()
        with torch.no_grad():
            zt, ht = self._run(teacher, x, self.teacher_layer)
        zs, hs = self._run(self.student, x, self.student_layer)
        hs = self.regressor(hs)
        if hs.shape != ht.shape or zs.shape != zt.shape:
            raise ValueError(f"the regressed student features {tuple(hs.shape)} and logits {tuple(zs.shape)} must "
                             f"have the teacher's shapes {tuple(ht.shape)} and {tuple(zt.shape)}")
        self._widths = (zs.shape[1], hs.shape[1])
        return torch.cat([zs, zt.to(zs.dtype), hs, ht.to(zs.dtype)], dim=1)

    def split(self, out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(z_s, z_t, regressor(h_s), h_t)`` from a forward pass's output ``out``."""
        if self._widths is None:
            raise ValueError("out must come from this FeatureDistiller's forward pass, which has not run yet")
        c, w = self._widths
        check_float_tensor(out, "out", ndim=2, finite=False)
        if out.shape[1] != 2 * (c + w):
            raise ValueError(f"out must have 2 x ({c} logits + {w} features) = {2 * (c + w)} columns, "
                             f"got {out.shape[1]}")
        return out[:, :c], out[:, c:2 * c], out[:, 2 * c:2 * c + w], out[:, 2 * c + w:]

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The distillation loss plus ``beta`` times the feature loss, for the output ``out`` and labels ``y``."""
        zs, zt, hs, ht = self.split(out)
        response = distillation_loss(zs, zt, y, T=self.T, alpha=self.alpha)
        if self.beta == 0:
            return response
        return response + self.beta * feature_loss(hs, ht, kind=self.kind)
