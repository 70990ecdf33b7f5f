"""Knowledge distillation: a student trained on a teacher's temperature-softened outputs (Hinton et al., 2015).

Taught in chapter 9. With temperature ``T`` the teacher's probabilities ``softmax(z_t / T)`` reveal how
it ranks the wrong classes too ("a 7 looks a bit like a 1"); the student matches them with
``softmax(z_s / T)``. The loss is

    alpha * T^2 * KL(p_t^T || p_s^T) + (1 - alpha) * CE(z_s, y),

where the ``T^2`` keeps the soft term's gradients on the scale of the hard term's as ``T`` changes.
Distillation transfers the teacher's *outputs*, not its weights (article 001 §3.2 says weights).
Examples without a label (``y = IGNORE``) get the soft term only.
"""

from __future__ import annotations

from typing import Any

from ..validate import check_in_range, check_positive

__all__ = ["IGNORE", "distillation_loss", "Distiller"]

#: The label of an example without one (PyTorch's default ``ignore_index``).
IGNORE = -100


def distillation_loss(student_logits: Any, teacher_logits: Any, labels: Any = None, *, T: float = 4.0,
                      alpha: float = 0.9) -> Any:
    """The distillation loss above, averaged over the batch (a torch scalar).

    ``labels=None`` (or every label ``IGNORE``) means no hard term; ``alpha`` then does not matter.
    """
    import torch
    import torch.nn.functional as F

    check_positive(T, "T")
    check_in_range(alpha, "alpha", 0.0, 1.0)
    if student_logits.ndim != 2 or student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student_logits and teacher_logits must both be (batch, classes) of the same shape, "
                         f"got {tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}")
    log_p_s = F.log_softmax(student_logits / T, dim=1)
    p_t = F.softmax(teacher_logits.detach() / T, dim=1)
    soft = (p_t * (torch.log(p_t.clamp_min(1e-30)) - log_p_s)).sum(1).mean() * T * T
    if labels is None:
        return soft
    labels = torch.as_tensor(labels, device=student_logits.device)
    if labels.shape != student_logits.shape[:1]:
        raise ValueError(f"labels must have shape ({student_logits.shape[0]},), got {tuple(labels.shape)}")
    labelled = labels != IGNORE
    if not bool(labelled.any()):
        return soft
    hard = F.cross_entropy(student_logits[labelled], labels[labelled], reduction="sum") / len(labels)
    return alpha * soft + (1 - alpha) * hard


def Distiller(student: Any, teacher: Any, *, T: float = 4.0, alpha: float = 0.9) -> Any:
    """Wrap a student and a frozen teacher so that :func:`troikadl.fit` trains the student.

    ``d = Distiller(student, teacher)``, then ``fit(d, (X, y), loss=d.loss, metric=None, ...)``: the
    forward pass returns the student's logits stacked with the teacher's, and ``d.loss`` splits them.
    Unlabelled examples carry the label ``IGNORE``. Only the student's parameters are trained.
    """
    import torch
    from torch import nn

    check_positive(T, "T")
    check_in_range(alpha, "alpha", 0.0, 1.0)
    for name, m in (("student", student), ("teacher", teacher)):
        if not isinstance(m, nn.Module):
            raise TypeError(f"{name} must be a torch.nn.Module, got {type(m).__name__}")

    class _Distiller(nn.Module):
        def __init__(self) -> None:
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
            return distillation_loss(out[0], out[1], y, T=self.T, alpha=self.alpha)

    return _Distiller()
