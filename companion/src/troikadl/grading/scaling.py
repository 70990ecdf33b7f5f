"""Exercises on scale (chapter 12): counting a GPT's parameters, the compute-optimal model, per-rank memory."""

from __future__ import annotations

from .core import Case, Exercise, register

CHAPTER = "12_scale"

# --- scaling.gpt_parameters: a GPT-2-style decoder's parameter count from its sizes (exercise 12.1) ----------


def _gpt_reference(vocab_size, n_positions, d_model, layers):
    """The count of the course's GPT (checked equal to Hugging Face's GPT-2), built on the meta device."""
    import torch

    from ..transformer import GPT, GPTConfig

    with torch.device("meta"):
        model = GPT(GPTConfig(vocab_size=vocab_size, n_positions=n_positions, d_model=d_model, heads=1,
                              layers=layers))
    return sum(p.numel() for p in model.parameters())


def _gpt_wrong(V, P, d, L, variant):
    per_layer = 12 * d * d + 13 * d
    total = V * d + P * d + L * per_layer + 2 * d
    if variant == "output layer counted again (untied)":
        return total + V * d
    if variant == "no biases":
        return total - L * (3 * d + d + 4 * d + d)
    if variant == "no position table":
        return total - P * d
    if variant == "MLP as wide as the model":
        return total - L * (6 * d * d + 3 * d)
    return total - L * 4 * d - 2 * d  # "LayerNorms forgotten"


def _gpt_case(name, V, P, d, L, hint=""):
    return Case(name, (V, P, d, L), expected=lambda: _gpt_reference(V, P, d, L), hint=hint, rtol=0, atol=0)


register(Exercise(
    id="scaling.gpt_parameters", chapter=CHAPTER, function="gpt_parameters",
    title="Count a GPT's parameters from its sizes",
    hint="Token table V*d, position table P*d; per block: two LayerNorms (a scale and a shift each), the q, k, v "
         "projections and the output projection (weights and biases), an MLP d -> 4d -> d (weights and biases); "
         "one final LayerNorm; the output layer is the token table (tied), so it adds nothing.",
    cases=[
        _gpt_case("a tiny model", 10, 8, 4, 1, "d = 4: each weight matrix of a block is 4 x 4 or 4 x 16."),
        _gpt_case("chapter 6's model", 96, 64, 64, 2),
        _gpt_case("GPT-2 small", 50257, 1024, 768, 12,
                  "GPT-2 small has 124,439,808 parameters (not the 117M its paper lists)."),
    ],
    wrong_answers={name: (lambda v: lambda V, P, d, L: _gpt_wrong(V, P, d, L, v))(name)
                   for name in ("output layer counted again (untied)", "no biases", "no position table",
                                "MLP as wide as the model", "LayerNorms forgotten")},
))

# --- scaling.compute_optimal: minimise E + A/N^alpha + B/D^beta subject to 6 N D = C (exercise 12.2) ----------


def _optimal(E, A, B, alpha, beta, C, variant=""):
    flops_per = 1.0 if variant == "C = N D (the 6 forgotten)" else 6.0
    a, b = (alpha, beta) if variant == "exponents swapped" else (beta, alpha)
    G = (alpha * A / (beta * B)) ** (1 / (alpha + beta))
    if variant == "G inverted":
        G = 1 / G
    n = G * (C / flops_per) ** (a / (alpha + beta))
    return n, C / (flops_per * n)


_HOFFMANN = (1.69, 406.4, 410.7, 0.34, 0.28)  # the fit of Hoffmann et al. (2022), their approach 3


def _opt_case(name, params, C, hint=""):
    return Case(name, (*params, C), expected=lambda: _optimal(*params, C), hint=hint, rtol=1e-6)


register(Exercise(
    id="scaling.compute_optimal", chapter=CHAPTER, function="compute_optimal",
    title="The compute-optimal model size and token count",
    hint="Substitute D = C / (6 N) into the loss, set the derivative with respect to N to zero: "
         "alpha A / N^alpha = beta B / D^beta. Solve for N: N = G (C/6)^(beta/(alpha+beta)) with "
         "G = (alpha A / (beta B))^(1/(alpha+beta)); then D = C / (6 N).",
    cases=[
        _opt_case("symmetric law", (1.0, 100.0, 100.0, 0.5, 0.5), 6e6,
                  "With equal A, B and exponents the optimum has N = D."),
        _opt_case("Hoffmann et al.'s fit, Chinchilla's budget", _HOFFMANN, 5.76e23),
        _opt_case("a laptop's budget", (1.2, 8.0, 30.0, 0.4, 0.3), 1e13),
    ],
    wrong_answers={name: (lambda v: lambda E, A, B, alpha, beta, C: _optimal(E, A, B, alpha, beta, C, v))(name)
                   for name in ("C = N D (the 6 forgotten)", "exponents swapped", "G inverted")},
))

# --- scaling.per_rank_bytes: training state per rank under DDP, ZeRO-1 and FSDP (exercise 12.3) ---------------


def _per_rank(n_params, ranks, strategy, variant=""):
    weights, grads, moments = 4 * n_params, 4 * n_params, 8 * n_params
    if variant == "Adam keeps one moment":
        moments = 4 * n_params
    if strategy == "ddp":
        return weights + grads + moments
    if strategy == "zero1":
        if variant == "ZeRO-1 shards the gradients too":
            return weights + (grads + moments) / ranks
        return weights + grads + moments / ranks
    if variant == "FSDP keeps full parameters":
        return weights + (grads + moments) / ranks
    return (weights + grads + moments) / ranks


def _rank_case(name, n, ranks, strategy, hint=""):
    return Case(name, (n, ranks, strategy), expected=float(_per_rank(n, ranks, strategy)), hint=hint)


register(Exercise(
    id="scaling.per_rank_bytes", chapter=CHAPTER, function="per_rank_bytes",
    title="Training memory per rank: DDP, ZeRO-1, FSDP",
    hint="Float32 Adam holds 4 bytes of weights, 4 of gradients and 8 of moments (two) per parameter. DDP keeps "
         "all of it on every rank; ZeRO-1 splits the optimizer state over the ranks; FSDP splits all three.",
    cases=[
        _rank_case("DDP: everything everywhere", 1000, 2, "ddp"),
        _rank_case("ZeRO-1 on 2 ranks", 1000, 2, "zero1", "Only the optimizer state is split."),
        _rank_case("FSDP on 4 ranks", 1000, 4, "fsdp"),
        _rank_case("ZeRO-1 on 8 ranks, GPT-2 small", 124_439_808, 8, "zero1"),
    ],
    wrong_answers={name: (lambda v: lambda n, ranks, strategy: _per_rank(n, ranks, strategy, v))(name)
                   for name in ("Adam keeps one moment", "ZeRO-1 shards the gradients too",
                                "FSDP keeps full parameters")},
))
