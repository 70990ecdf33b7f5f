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
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..train import IGNORE
from ..validate import check_float_tensor, check_in_range, check_positive

__all__ = ["distillation_loss", "Distiller"]


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
