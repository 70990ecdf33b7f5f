"""Zero-cost proxies: scoring an architecture at initialization, without training it, and testing the ranking.

Taught in chapter 8. A *proxy* looks at an untrained network (and at most one batch of data) and returns a
number meant to rank architectures the way their trained accuracy would. Three classics:

- :func:`synflow`, the synaptic flow of Tanaka, Kunin, Yamins and Ganguli (2020), "Pruning neural networks
  without any data by iteratively conserving synaptic flow", arXiv:2006.05467, used as a NAS proxy by
  Abdelfattah, Mehrotra, Dudziak and Lane (2021), "Zero-Cost Proxies for Lightweight NAS", arXiv:2101.08134;
- :func:`grad_norm`, the norm of the loss's gradient on one batch (also in Abdelfattah et al.);
- :func:`naswot`, from Mellor, Turner, Storkey and Crowley (2021), "Neural Architecture Search without
  Training", ICML, arXiv:2006.04647: how differently the ReLU units split a batch of inputs.

:func:`proxy_scores` scores every architecture of the benchmark's space (the weights drawn with the same
seed as the table's training run of that seed), and :func:`rank_correlation` measures how well a proxy ranks
them, with a bootstrap interval: a proxy is worth its name only if it ranks better than counting parameters.
"""

from __future__ import annotations

import copy
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..data.tabular import Split
from ..validate import (as_float_array, as_labels, as_tensor, check_choice, check_in_range, check_instance,
                        check_int, check_int_list, check_same_length, check_str_list)
from .analysis import Interval
from .space import SearchSpace

__all__ = ["PROXIES", "synflow", "grad_norm", "naswot", "proxy_scores", "rank_correlation"]

#: The proxies :func:`proxy_scores` knows, by name.
PROXIES: tuple[str, ...] = ("synflow", "grad_norm", "naswot")


def _trainable(model: nn.Module) -> list[torch.Tensor]:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model must have trainable parameters (requires_grad=True), got none")
    return params


def _forward(model: nn.Module, x: torch.Tensor, name: str) -> torch.Tensor:
    """``model(x)``; a shape the model cannot take raises ``ValueError`` naming the argument ``x`` came from."""
    try:
        return model(x)
    except RuntimeError as exc:
        raise ValueError(f"{name} of shape {tuple(x.shape)} does not fit the model: {exc}") from exc


def _batch(model: nn.Module, X: Any) -> torch.Tensor:
    """``X`` as a tensor of the model's dtype and device (a batch: at least 2-D, one example per row)."""
    X = as_tensor(X, "X", ndim=(2, 3, 4, 5), nonempty=True)
    param = next(model.parameters(), None)
    return X if param is None else X.to(dtype=param.dtype, device=param.device)


def synflow(model: nn.Module, input_shape: Sequence[int]) -> float:
    """The synaptic flow of ``model``: ``sum |theta * dR/dtheta|`` over its parameters, data-free.

    Every parameter is replaced by its absolute value and the input is one example of ones, of shape
    ``input_shape`` (without the batch axis, e.g. ``(1, 8, 8)``); ``R`` is the sum of the outputs, a product
    of the layers' weights along every path from input to output. Each parameter's *synaptic saliency*
    ``|theta * dR/dtheta|`` is what removing it would cost that flow; the score is their sum, over every
    parameter (Abdelfattah et al.'s code sums over the weights of convolution and linear layers only; here
    biases count too). ``R`` is a product of many weights, so everything runs in float64 to avoid overflow.

    Works on a copy: ``model`` (its weights, dtype, gradients) is left as it was. No randomness, no data.
    For a ReLU network the score does not change if one layer's weights and biases are multiplied by ``c > 0``
    and the next layer's weights divided by ``c`` (the flow is conserved), which a per-layer norm would see.
    """
    check_instance(model, "model", nn.Module, "a torch.nn.Module")
    shape = check_int_list(input_shape, "input_shape", min=1, min_length=1, example="(1, 8, 8)")
    net = copy.deepcopy(model).double()
    params = _trainable(net)
    with torch.no_grad():
        for p in params:
            p.abs_()
    out = _forward(net, torch.ones((1, *shape), dtype=torch.float64, device=params[0].device), "input_shape")
    grads = torch.autograd.grad(out.sum(), params, allow_unused=True)
    with torch.no_grad():
        return float(sum((p * g).abs().sum() for p, g in zip(params, grads) if g is not None))


def grad_norm(model: nn.Module, X: Any, y: Any) -> float:
    """The Euclidean norm of the gradient of the cross-entropy on one batch ``(X, y)``, w.r.t. all parameters.

    The loss is PyTorch's ``cross_entropy`` of ``model(X)`` (the batch mean), computed in the model's dtype
    and current mode. Abdelfattah et al.'s code sums the norms of each layer's weight gradient instead; here
    it is the norm of the whole gradient vector, biases included. The gradient is taken with
    ``torch.autograd.grad``: the parameters' ``.grad`` are left as they were.
    """
    check_instance(model, "model", nn.Module, "a torch.nn.Module")
    params = _trainable(model)
    X = _batch(model, X)
    y = torch.as_tensor(as_labels(y, "y"), device=X.device)
    check_same_length(X=X, y=y)
    out = _forward(model, X, "X")
    if out.ndim != 2:
        raise ValueError(f"model must return logits of shape (n, classes) for X, got shape {tuple(out.shape)}")
    if int(y.min()) < 0 or int(y.max()) >= out.shape[1]:
        raise ValueError(f"y must hold labels in [0, {out.shape[1]}) (the model's {out.shape[1]} outputs), "
                         f"got values from {int(y.min())} to {int(y.max())}")
    grads = torch.autograd.grad(nn.functional.cross_entropy(out, y), params, allow_unused=True)
    return float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads if g is not None)))


def naswot(model: nn.Module, X: Any) -> float:
    """The NASWOT score of Mellor et al. (2021): ``log |K_H|`` for the binary activation codes of a batch.

    Each input of the batch ``X`` (n examples) gets a binary code: one bit per unit of every ``nn.ReLU``
    module of ``model``, 1 where the unit's pre-activation is positive (the unit is active). With ``N_A``
    units, ``K_H[i, j] = N_A - hamming(c_i, c_j)`` counts the units on which inputs ``i`` and ``j`` agree,
    and the score is the log-determinant of the n x n matrix ``K_H`` (``slogdet``): high when the network
    separates the inputs into different linear regions. Two inputs with the same code make ``K_H`` singular:
    the score is then ``-inf``.

    The paper defines the code for rectified linear units only. Here ``nn.Tanh`` units count as well, with the
    same code: the sign of the pre-activation (``tanh(z) > 0`` exactly when ``z > 0``), so tanh networks are
    scored as the ReLU networks with the same weights would be. The forward pass runs under
    ``torch.no_grad()`` in the model's current mode; the hooks that read the codes are removed afterwards.
    """
    check_instance(model, "model", nn.Module, "a torch.nn.Module")
    units = [m for m in model.modules() if isinstance(m, (nn.ReLU, nn.Tanh))]
    if not units:
        raise ValueError("model must contain nn.ReLU or nn.Tanh modules (naswot reads their pre-activations), "
                         "got none")
    X = _batch(model, X)
    codes: list[torch.Tensor] = []
    hooks = [m.register_forward_pre_hook(lambda module, inp: codes.append(inp[0].flatten(1) > 0)) for m in units]
    try:
        with torch.no_grad():
            _forward(model, X, "X")
    finally:
        for h in hooks:
            h.remove()
    C = torch.cat(codes, dim=1).to(torch.float64).cpu().numpy()
    K = C @ C.T + (1 - C) @ (1 - C).T  # agreements: active in both plus inactive in both
    sign, logdet = np.linalg.slogdet(K)
    return float(logdet) if sign > 0 else float("-inf")


def proxy_scores(space: SearchSpace, data: Split, *, seed: int, batch_size: int = 64,
                 proxies: Sequence[str] = PROXIES) -> dict[str, np.ndarray]:
    """Every architecture's score for every proxy, and its number of parameters, in ``space``'s order.

    ``space`` is the benchmark's :data:`~troikadl.nas.benchmark.SPACE` or a part of it. Each CNN is built by
    :func:`~troikadl.nas.benchmark.build_cnn` right after ``torch.manual_seed(seed)``, inside
    ``torch.random.fork_rng()`` (the caller's stream is left as it was): these are exactly the initial
    weights of the table's training run with that seed. :func:`grad_norm` and :func:`naswot` see the same
    batch for every architecture, the first ``batch_size`` training examples of ``data`` (already shuffled
    by the split); :func:`synflow` sees no data, only their shape. Returns ``{name: array}`` for each of
    ``proxies`` and ``"params"``.
    """
    from .benchmark import SPACE, build_cnn

    check_instance(space, "space", SearchSpace, "a troikadl.nas.SearchSpace (the benchmark's SPACE or a part)")
    for arch in space:
        try:
            SPACE.check(arch)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"space must hold architectures of the benchmark's SPACE: {exc}") from exc
    check_instance(data, "data", Split, "a troikadl.data.Split of images (troikadl.data.digits(images=True))")
    check_int(seed, "seed", min=0)
    X = as_tensor(data.X_train, "data.X_train", ndim=4, nonempty=True)
    if X.shape[2] != X.shape[3]:
        raise ValueError(f"data.X_train must hold square images (n, channels, side, side), got {tuple(X.shape)}")
    y = as_labels(data.y_train, "data.y_train", n=len(X))
    batch_size = check_int(batch_size, "batch_size", min=1, max=len(X))
    names = check_str_list(proxies, "proxies")
    for i, name in enumerate(names):
        check_choice(name, f"proxies[{i}]", PROXIES)
    if len(set(names)) != len(names):
        raise ValueError(f"proxies must not repeat a name, got {names}")
    Xb, yb = X[:batch_size], y[:batch_size]
    n_classes = max(2, int(y.max()) + 1)
    out: dict[str, list[float]] = {name: [] for name in [*names, "params"]}
    for arch in space:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            model = build_cnn(arch, in_channels=X.shape[1], n_classes=n_classes, side=X.shape[2])
        for name in names:
            score = {"synflow": lambda: synflow(model, tuple(X.shape[1:])),
                     "grad_norm": lambda: grad_norm(model, Xb, yb),
                     "naswot": lambda: naswot(model, Xb)}[name]()
            out[name].append(score)
        out["params"].append(sum(p.numel() for p in model.parameters()))
    return {k: np.asarray(v, dtype=np.int64 if k == "params" else np.float64) for k, v in out.items()}


def _spearman(x: np.ndarray, y: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Spearman's rho of each resample ``x[idx[b]], y[idx[b]]``: Pearson's r of the ranks (ties: mean rank)."""
    from scipy.stats import rankdata

    rx, ry = rankdata(x[idx], axis=1), rankdata(y[idx], axis=1)
    rx, ry = rx - rx.mean(1, keepdims=True), ry - ry.mean(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rx * ry).sum(1) / np.sqrt((rx ** 2).sum(1) * (ry ** 2).sum(1))


def _kendall(x: np.ndarray, y: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of each resample: the sum over pairs of sign(dx) sign(dy), divided by the root of
    (pairs not tied in x) x (pairs not tied in y). A resample holds example i ``w[i]`` times, so a pair of
    examples counts ``w[i] w[j]`` times (copies of one example tie in both): each sum is ``w^T S w`` for an
    n x n matrix ``S`` of the original pairs, one matrix product for all the resamples. O(n^2) memory."""
    w = np.zeros(idx.shape)
    np.add.at(w, (np.arange(len(idx))[:, None], idx), 1.0)
    sx, sy = np.sign(x[:, None] - x[None, :]), np.sign(y[:, None] - y[None, :])
    num, nx, ny = (((w @ S) * w).sum(1) for S in (sx * sy, np.abs(sx), np.abs(sy)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / np.sqrt(nx * ny)


def rank_correlation(x: Any, y: Any, *, method: str = "spearman", n_boot: int = 1000, seed: int = 0,
                     level: float = 0.95) -> Interval:
    """The rank correlation of ``x`` and ``y`` (Spearman's rho or Kendall's tau-b), with a bootstrap interval.

    The estimate handles ties as ``scipy.stats.spearmanr`` (mean ranks) and ``scipy.stats.kendalltau`` (tau-b)
    do. The interval is the percentile bootstrap: ``n_boot`` resamples of the pairs ``(x[i], y[i])`` drawn
    with replacement, ``numpy.random.default_rng(seed).integers(n, size=(n_boot, n))``, and the
    ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of their correlations (``numpy.quantile``'s linear
    interpolation). A resample in which ``x`` or ``y`` is constant has no correlation and is left out.
    Kendall's tau needs O(n^2) memory: meant for the hundreds of architectures of a benchmark.
    """
    x = as_float_array(x, "x", ndim=1)
    y = as_float_array(y, "y", ndim=1)
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length (one pair per architecture), got {len(x)} and {len(y)}")
    if len(x) < 3:
        raise ValueError(f"x and y must hold at least 3 pairs for a rank correlation, got {len(x)}")
    for name, v in (("x", x), ("y", y)):
        if np.all(v == v[0]):
            raise ValueError(f"{name} must not be constant (a rank correlation needs two different values)")
    corr = {"spearman": _spearman, "kendall": _kendall}[check_choice(method, "method", ("spearman", "kendall"))]
    n_boot = check_int(n_boot, "n_boot", min=2)
    check_int(seed, "seed", min=0)
    level = check_in_range(level, "level", 0.0, 1.0, closed="neither")
    estimate = float(corr(x, y, np.arange(len(x))[None])[0])
    boot = corr(x, y, np.random.default_rng(seed).integers(len(x), size=(n_boot, len(x))))
    boot = boot[np.isfinite(boot)]
    if len(boot) < 2:
        raise ValueError("x and y must vary within bootstrap resamples: almost every resample was constant")
    low, high = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return Interval(estimate, float(low), float(high))
