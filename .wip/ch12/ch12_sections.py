"""Sections 12.1-12.6, summary, exercises and checkpoints of chapter 12 (scaffolding for issue #29)."""


def FIG(name, caption, alt, hide=False):  # noqa: N802
    meta = {"mystnb": {"figure": {"caption": caption, "name": name}, "image": {"alt": alt}}}
    if hide:
        meta["tags"] = ["hide-input"]
    return meta


SECTIONS = [
("markdown", r"""
## 12.1 Counting parameters

A Transformer's size follows from a handful of numbers in its configuration. Take chapter 6's decoder, which has
GPT-2's layout, with width $d$, depth $L$, a vocabulary of $V$ tokens and $P$ positions. Each block holds

- the attention: the query, key and value projections and the output projection, four $d \times d$ matrices
  with their biases, $4d^2 + 4d$;
- the MLP, $d \to 4d \to d$: $4d^2 + 4d$ and $4d^2 + d$;
- two LayerNorms, a scale and a shift each: $4d$;

in all $12d^2 + 13d$ per block. Around the blocks sit the token and position tables ($Vd + Pd$) and a final
LayerNorm ($2d$); the output layer reuses the token table (tied weights), so it adds nothing. The number of
heads does not appear: the heads split the same $d$ columns. For a wide model the $12 d^2 L$ term is nearly
everything but the embeddings, and it is what {cite:t}`kaplan2020scaling` call $N$, the **non-embedding**
parameter count. `S.parameter_breakdown` counts from a configuration in this way (for GPT-2, BERT and Llama
configurations too), and `S.meta_parameters` builds the model itself on PyTorch's `meta` device, where every
tensor has a shape and a type but no storage, so that even a model of billions of parameters is built in a
second, without memory and without downloading a weight:
"""),
("code", r"""
ours = GPTConfig(vocab_size=99, n_positions=64, d_model=64, heads=4, layers=2)  # chapter 6's decoder
print("chapter 6's GPT:", S.parameter_breakdown(ours))
refs = S.reference_models()
counts = {}
print(f"{'model':13s} {'from the sizes':>15s} {'built on meta':>15s} {'non-embedding':>15s} {'published':>10s} "
      f"{'count/published':>15s}")
for name, ref in refs.items():
    formula, meta = S.analytic_parameters(ref.config), S.meta_parameters(ref.config)
    counts[name] = dict(formula=formula, meta=meta, published=ref.published,
                        non_embedding=S.analytic_parameters(ref.config, non_embedding=True))
    print(f"{name:13s} {formula:>15,} {meta:>15,} {counts[name]['non_embedding']:>15,} "
          f"{ref.published / 1e6:>9,.0f}M {formula / ref.published:>15.3f}")
"""),
("markdown", r"""
The formula and the model built from the same configuration agree to the parameter for every architecture (the
tests check it on many more configurations, including grouped-query attention and untied output layers).
The published sizes are another matter. BERT's "110M" and "340M" {cite:p}`devlin2019bert` are rounded
(BERT-large has 335 million). GPT-2's paper {cite:p}`radford2019language` lists 117M, 345M, 762M and 1542M;
the models its configurations describe are larger, by 7 to 16 million parameters each, and GPT-2 small is
124 million, the figure Hugging Face reports. A "7B" model has 6.74 billion. Sizes in papers are labels;
count the model.

Article 002 calls a "large" model one with "hundreds to tens of millions of parameters". The printed counts
say otherwise: BERT-base, a model of 2018 nobody calls large today, already has 110 million, GPT-2 1.5 billion,
a small modern decoder 6.7 billion, and GPT-3 175 billion {cite:p}`brown2020language`. Article 004's "billions
to hundreds of billions" is the right order of magnitude. Our decoder of chapter 6 has about 110 thousand.
"""),
("markdown", r"""
## 12.2 Counting compute: $C \approx 6ND$

How much arithmetic does training take? Take one linear layer $Y = XW$ with $W$ of shape
$n_{in} \times n_{out}$, applied to $T$ tokens. The forward pass is one matrix product: each weight is used once
per token, in one multiplication and one addition, **2 FLOPs per weight per token**. The backward pass needs two
products of the same size: $\partial L/\partial X = (\partial L/\partial Y) W^\top$, to pass the gradient to the
layer below, and $\partial L/\partial W = X^\top (\partial L/\partial Y)$, the gradient the optimizer uses:
**4 FLOPs per weight per token**. Nearly all of a Transformer's parameters sit in such layers, so training a
model of $N$ parameters on $D$ tokens costs about

$$ C \approx 6 N D \text{ FLOPs}. $$

What the rule leaves out: attention's own products, which have no weights ($QK^\top$ and the weighted sum of
the values, about $4 L\, T d$ FLOPs per token for a context of $T$), the output layer when it is tied, the
optimizer's update (a few FLOPs per parameter per *step*, not per token), and the extra forward pass that
activation recomputation adds in large runs. For models whose width is much larger than the context, these are
small.
"""),
("code", r"""
tk.figures.scale.training_flops()
plt.show()
""", FIG("fig-12-training-flops",
         "Training a linear layer $Y = XW$ costs three matrix products of the same size: the forward one, and two "
         "in the backward pass ($dX = dY\\,W^\\top$ for the layer below, $dW = X^\\top dY$ for the optimizer). Each "
         "costs 2 FLOPs per weight per token, so training costs about $6ND$. The sizes are GPT-2 small's first MLP "
         "layer on 1,024 tokens.",
         "Three rows of boxes and arrows: X and W feed the product Y = XW; dY and W transpose feed dX = dY W "
         "transpose; X transpose and dY feed dW = X transpose dY. Each row gives the shapes and a FLOP count of two "
         "times tokens times n_in times n_out, and the bottom lines sum them to 6 FLOPs per weight per token.",
         hide=True)),
("markdown", r"""
PyTorch can count the FLOPs a computation really performs: `torch.utils.flop_counter.FlopCounterMode` records
every matrix product. We count a forward pass of chapter 6's decoder, then a forward and backward pass, and
compare with the rule, per token:
"""),
("code", r"""
from torch.utils.flop_counter import FlopCounterMode

torch.manual_seed(rt.seed)
model = GPT(ours)
ids = torch.randint(0, ours.vocab_size, (8, ours.n_positions))
with FlopCounterMode(display=False) as counter:
    model(ids)
forward = counter.get_total_flops() / ids.numel()
with FlopCounterMode(display=False) as counter:
    logits, _ = model(ids)
    F.cross_entropy(logits.flatten(0, 1), ids.flatten()).backward()
training = counter.get_total_flops() / ids.numel()
N = S.count_parameters(model, non_embedding=True)
weights = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
print(f"non-embedding parameters N = {N:,} (of which {weights:,} in linear layers)")
print(f"measured forward FLOPs per token {forward:,.0f}; 2 x linear weights {2 * weights:,}, "
      f"attention 4 L T d {4 * ours.layers * ours.n_positions * ours.d_model:,}, "
      f"output layer 2 d V {2 * ours.d_model * ours.vocab_size:,}")
print(f"Kaplan et al.'s count 2N + 2 L T d (+ 2 d V): {S.forward_flops_per_token(ours, output_layer=True):,}")
print(f"training / forward = {training / forward:.3f}; training FLOPs per token / (6 N) = {training / (6 * N):.2f}")
import transformers

gpt3_config = transformers.GPT2Config(vocab_size=50257, n_positions=2048, n_embd=12288, n_layer=96, n_head=96)
for name, config in [("GPT-2 small", refs["GPT-2 small"].config), ("GPT-3 175B", gpt3_config)]:
    n_ne = S.analytic_parameters(config, non_embedding=True)
    ratio = S.forward_flops_per_token(config, output_layer=True) / (2 * n_ne)
    print(f"{name}: forward FLOPs per token, attention and output layer included, / 2N = {ratio:.2f}")
"""),
("markdown", r"""
The backward pass costs exactly twice the forward one (the printed ratio is 3), and the forward pass is the
linear layers' $2 \times$ weights plus the two attention products and the output layer. In this tiny model,
whose context (64) equals its width and whose output layer is as large as a block, those extras are a large
share: training costs more than $6N$ per token (the printed ratio to $6N$). They stay large for GPT-2 small at its
full context of 1,024 tokens, whose output layer alone has 39 million weights (the printed ratio for it, by
Kaplan et al.'s count), and they fade for GPT-3 (96 layers 12,288 wide, context 2,048): for models of hundreds of
billions of parameters $6ND$ is accurate to a few per cent, and for small ones it is a lower bound.

The rule makes sizes comparable. GPT-3 (175 billion parameters, 300 billion tokens) {cite:p}`brown2020language`:
"""),
("code", r"""
gpt3 = S.training_flops(175e9, 300e9)
print(f"GPT-3: 6 N D = {gpt3:.3g} FLOPs")
for gpus, sustained in [(1, 100e12), (1024, 100e12)]:
    days = gpt3 / (gpus * sustained) / 86400
    print(f"  on {gpus:>5,} GPU(s) sustaining {sustained / 1e12:.0f} TFLOP/s each: {days:,.0f} days")
ours_sweep = S.training_flops(793_344, 462_848)
print(f"the largest run of this chapter's sweep: {ours_sweep:.3g} FLOPs, {gpt3 / ours_sweep:.1e} times less")
"""),
("markdown", r"""
The GPT-3 paper reports $3.14 \times 10^{23}$ FLOPs for that run (its Table D.1), the printed rule to within a
third of a per cent. At a sustained 100 TFLOP/s per accelerator (an assumption: a good fraction of a modern
GPU's peak for 16-bit matrix products), one GPU would need the printed number of days, and a thousand GPUs
about a month. Article 003's "a few days to a few weeks" for "a large model" is therefore true only of the
smaller ones, and it depends on the cluster more than on the model.
"""),
("markdown", r"""
## 12.3 Memory: why a model that runs does not train

To run a model (inference), the accelerator must hold its weights: 4 bytes per parameter in float32, 2 in
16-bit formats. To train it with Adam, it must also hold a gradient for every parameter and Adam's two moments
(chapter 3): in float32, $4 + 4 + 8 = 16$ bytes per parameter. **Mixed-precision** training
{cite:p}`micikevicius2018mixed` computes in 16 bits but keeps a float32 master copy of the weights for the
update: $2 + 2$ (16-bit weights and gradients) $+ 4 + 4 + 4$ (master weights and the two moments) $= 16$ bytes
again, as counted by {cite:t}`rajbhandari2020zero`. Mixed precision saves time and activation memory, not the
training state. The formula, checked on a real model and a real optimizer after one step:
"""),
("code", r"""
torch.manual_seed(rt.seed)
model = GPT(ours)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
logits, _ = model(ids)
F.cross_entropy(logits.flatten(0, 1), ids.flatten()).backward()
optimizer.step()
n = S.count_parameters(model)
measured_state = S.measured_training_state_bytes(model, optimizer)
formula_state = S.training_state_bytes(n, precision="float32", optimizer="adam")
print(f"{n:,} parameters; measured {measured_state}")
print(f"{'':20s} formula  {formula_state}")
print("mixed precision:", S.training_state_bytes(n, precision="mixed", optimizer="adam"))
"""),
("markdown", r"""
The parts agree byte for byte (Adam's step counters, one number per tensor, are left out). Now the real models
of section 12.1 against one accelerator with 80 GB of memory, a common size for training accelerators:
"""),
("code", r"""
GB, CARD = 1e9, 80e9
print(f"{'model':13s} {'weights, 16-bit':>16s} {'training state':>15s}  fits 80 GB: inference / training")
fit_table = {}
for name, c in counts.items():
    infer = S.training_state_bytes(c["meta"], precision="mixed")["weights"]
    train = S.training_state_bytes(c["meta"], precision="mixed")["total"]
    fit_table[name] = (S.fits(c["meta"], CARD, training=False, precision="mixed"),
                       S.fits(c["meta"], CARD, training=True, precision="mixed"))
    print(f"{name:13s} {infer / GB:>13.1f} GB {train / GB:>12.1f} GB  {fit_table[name][0]!s:>10s} / "
          f"{fit_table[name][1]!s}")
"""),
("markdown", r"""
Llama-2-7B's weights take the printed 13.5 GB in 16 bits and run on one such card; its training state, 108 GB,
does not fit, before a single activation is stored. That gap, a factor of 8 between the weights and the training
state, is why large models are trained on many accelerators, and why section 12.6 shards the training state
across them.

**Activations** come on top: everything the backward pass needs from the forward one (chapter 2 measured it
for a small network). For a Transformer they grow with the batch and with the context, and the attention
weights, one $T \times T$ matrix per head and layer, grow with its square. Measured on chapter 6's decoder with
`saved_tensors_hooks`:
"""),
("code", r"""
torch.manual_seed(rt.seed)
model = GPT(GPTConfig(vocab_size=99, n_positions=256, d_model=64, heads=4, layers=2))
act = {(b, T): S.activation_bytes(model, torch.randint(0, 99, (b, T))) for b in (1, 2, 4) for T in (64, 128, 256)}
for (b, T), v in act.items():
    print(f"batch {b}, context {T:>3}: {v / 1e6:6.2f} MB saved for the backward pass "
          f"({v / (b * T):,.0f} bytes per token)")
"""),
("markdown", r"""
Doubling the batch doubles the activations (almost exactly: the causal mask, one per layer, serves the whole
batch); doubling the context more than doubles them, because the
bytes per token grow with the context (the attention weights). For large models the activations often exceed
the training state, which is why large runs recompute them in the backward pass instead of storing them
(*activation checkpointing*), and why fused attention kernels never store the $T \times T$ weights.
"""),
("markdown", r"""
## 12.4 A scaling study of our own

{cite:t}`kaplan2020scaling` trained hundreds of language models and found that, over several orders of
magnitude, the loss falls as a **power law** in the number of parameters, in the amount of data, and in the
compute, as long as neither of the other two holds it back. {cite:t}`hoffmann2022training` trained over 400
models under a fixed compute budget each and fitted one formula to all of them,

$$ L(N, D) = E + \frac{A}{N^{\alpha}} + \frac{B}{D^{\beta}}, $$

an irreducible loss $E$ (the entropy of the text itself) plus one term that shrinks with the model and one that
shrinks with the data. We do the same at a scale a laptop can run: chapter 6's decoder at six sizes, from 3
thousand to 790 thousand non-embedding parameters (2.4 decades), each trained on 5 budgets of characters, from
29 thousand to one pass over the 463 thousand training characters, with seeds 0, 1 and 2: 90 runs. The command
`python -m troikadl.scaling.sweep --out docstring_gpt.csv --workers 2` trains them all (21 CPU-minutes, one
thread per run; `--shard i/n` splits the sweep over processes or machines, and `--merge` joins the parts into the
same table); the table ships with the package, and every row is a pure function of its settings, so the
command rebuilds it bit for bit on the same machine. Every run uses the same recipe: Adam with a warmup over a
tenth of the steps and a cosine decay to a tenth of the peak rate, the decay matched to the run's own length
(as Hoffmann et al. found necessary), the same peak rate for every size, and the held-out loss of chapter 6.
"""),
("code", r"""
table = S.Table.load()
print("settings:", table.settings)
Ns, Ds = np.unique(table.N), np.unique(table.D)
mean_loss = np.array([[table.loss[(table.N == n) & (table.D == d)].mean() for d in Ds] for n in Ns])
print(f"{len(table.loss)} runs; held-out loss (nats per character), mean of seeds {table.seeds}:")
print(f"{'N non-embedding':>16s} " + " ".join(f"D={d:>7,}" for d in Ds))
for n, row in zip(Ns, mean_loss):
    print(f"{n:>16,} " + " ".join(f"{v:>9.3f}" for v in row))
print(f"the sweep's CPU time: {table.seconds.sum() / 60:.1f} minutes")
"""),
("markdown", r"""
A table that nobody can re-run is a claim. Two of its cheapest rows, trained again now with the same code
(`S.train_row`, one thread), must give the same held-out losses:
"""),
("code", r"""
live = {}
for seed in (0, 1):
    i = int(np.flatnonzero((table.d_model == 16) & (table.steps == table.settings["steps"][0])
                           & (table.seed == seed))[0])
    row = table.row(i)
    live[seed] = (S.train_row(row["d_model"], row["layers"], row["heads"], steps=row["steps"], seed=seed)["val_loss"],
                  row["val_loss"])
    print(f"d_model {row['d_model']}, {row['steps']} steps, seed {seed}: re-trained {live[seed][0]:.6f}, "
          f"table {live[seed][1]:.6f}")
live_gap = max(abs(a - b) for a, b in live.values())
same_corpus = table.corpus_sha256 == tk.data.corpus.stdlib_corpus().sha256
print(f"largest difference {live_gap:.1e}; corpus identical to the table's: {same_corpus}")
"""),
("markdown", r"""
Where the corpus is the one the table was built from (the docstrings of this Python version's standard
library), the re-trained losses equal the table's to the printed digits, or within rounding on another kind of
processor; on another Python version the corpus, and so every number, changes a little.

The table, drawn two ways: the loss against the model size for each data budget, and against the data for each
model size.
"""),
("code", r"""
print("gain from the smallest to the largest model, per data budget:  ", np.round(mean_loss[0] - mean_loss[-1], 2))
print("gain from the smallest to the largest budget, per model size:", np.round(mean_loss[:, 0] - mean_loss[:, -1], 2))
fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
colors = plt.cm.viridis(np.linspace(0, 0.9, max(len(Ns), len(Ds))))
for j, d in enumerate(Ds):
    a1.plot(Ns, mean_loss[:, j], "o-", color=colors[j], label=f"D = {d:,}")
for i, n in enumerate(Ns):
    a2.plot(Ds, mean_loss[i], "s-", color=colors[i], label=f"N = {n:,}")
a1.set(xscale="log", xlabel="non-embedding parameters N", ylabel="held-out loss (nats per character)")
a2.set(xscale="log", xlabel="training characters D")
a1.legend(fontsize=7), a2.legend(fontsize=7)
a2.set_xticks(Ds, [f"{d / 1000:.0f}k" for d in Ds])
a2.xaxis.set_minor_formatter(plt.NullFormatter())
fig.tight_layout()
plt.show()
""", FIG("fig-12-sweep",
         "The scaling sweep (mean of three seeds): held-out loss against model size for each data budget (left) and "
         "against training characters for each model size (right), log scales on the horizontal axes.",
         "Two panels with log horizontal axes. Left: five curves of loss against parameter count, one per data "
         "budget, lower for larger budgets and falling slowly with size. Right: six curves of loss against "
         "training characters, one per model size, each falling steeply with more data.")),
("markdown", r"""
Read the right panel first: every model improves steeply with data, and at the smallest budget the three
smallest models are still at the unigram model's loss (about 3.17 nats), on the plateau that chapter 6's
training curves start on. The left panel's curves are shallower and less regular: across 2.4 decades of size the
loss falls by between 0.16 and 0.49 nats, depending on the budget, while every size gains between 0.58 and
0.89 nats from 1.2 decades of data (the printed gains).
A bigger model helps most when it has read enough to use its capacity.
"""),
("markdown", r"""
## 12.5 Fitting the laws

First the one-variable laws, as {cite:t}`kaplan2020scaling` fitted them: the loss against $N$ at the largest
budget, and against $D$ for the largest model, each as a pure power law $A x^{-\alpha}$ (their form) and with
a floor, $E + A x^{-\alpha}$. Then the surface $L(N, D)$ fitted to all 90 runs as {cite:t}`hoffmann2022training`
did: a Huber loss on the logarithm of the prediction's error, minimized by L-BFGS from a grid of starting
points (`S.fit_loss_surface`). The uncertainty comes from the seeds: the **bootstrap** refits the surface 200
times, each time on one randomly drawn seed's run (with replacement) for every size and budget, and the spread
of the refits is the interval.
"""),
("code", r"""
largest_D, largest_N = table.D == Ds[-1], table.N == Ns[-1]
laws = {"L(N), pure power law": S.fit_power_law(table.N[largest_D], table.loss[largest_D], irreducible=False),
        "L(N), with a floor": S.fit_power_law(table.N[largest_D], table.loss[largest_D]),
        "L(D), pure power law": S.fit_power_law(table.D[largest_N], table.loss[largest_N], irreducible=False),
        "L(D), with a floor": S.fit_power_law(table.D[largest_N], table.loss[largest_N])}
for name, law in laws.items():
    print(f"{name:22s} exponent {law.alpha:.3f}, A {law.A:.3g}, E {law.E:.3f}")
C_max = float(table.flops.max())
boot = S.bootstrap_fit(table.N, table.D, table.loss, n_boot=200, seed=rt.seed, compute=C_max)
surface = boot.fit
intervals = {q: boot.interval(q) for q in ("alpha", "beta", "E", "ratio")}
print(f"L(N, D) = {surface.E:.3f} + {surface.A:.3g} / N^{surface.alpha:.3f} + {surface.B:.3g} / D^{surface.beta:.3f}")
for q, (lo, hi) in intervals.items():
    fmt = ".2g" if q == "ratio" else ".3f"
    print(f"  {q:5s} 90% bootstrap interval [{lo:{fmt}}, {hi:{fmt}}]")
"""),
("markdown", r"""
With the loss surface in hand, the **compute-optimal** question has an answer. For a budget of $C = 6ND$
FLOPs, substitute $D = C/(6N)$ and minimize over $N$: the minimum is where
$\alpha A / N^{\alpha} = \beta B / D^{\beta}$, that is

$$ N_{opt}(C) = G \left(\frac{C}{6}\right)^{\frac{\beta}{\alpha + \beta}}, \qquad
   D_{opt}(C) = \frac{C}{6 N_{opt}(C)}, \qquad G = \left(\frac{\alpha A}{\beta B}\right)^{\frac{1}{\alpha + \beta}}. $$

Hoffmann et al.'s fits gave exponents near 0.5 for both, so that model and data should grow in proportion,
about 20 tokens per parameter (Chinchilla: 70 billion parameters, 1.4 trillion tokens). Ours:
"""),
("code", r"""
budgets = np.logspace(np.log10(table.flops.min()), np.log10(C_max), 30)
frontier = np.array([S.compute_optimal(surface, C) for C in budgets])
n_opt, d_opt = S.compute_optimal(surface, C_max)
print(f"at C = {C_max:.2g} FLOPs (our largest run): N_opt = {n_opt:,.0f}, D_opt = {d_opt:,.0f} characters, "
      f"{d_opt / n_opt:,.0f} characters per parameter, {d_opt / Ds[-1]:.0f} times our largest budget")
print(f"Hoffmann et al.'s published fit at their largest budget, 5.76e23 FLOPs: N_opt, D_opt =",
      tuple(f"{v:.3g}" for v in S.compute_optimal(S.LossSurface(1.69, 406.4, 410.7, 0.34, 0.28), 5.76e23)))
fig, ax = plt.subplots(figsize=(6.5, 3.8))
sc = ax.scatter(table.flops, table.loss, c=np.log10(table.N), cmap="viridis", s=14)
D_grid = np.logspace(np.log10(Ds[0]), np.log10(Ds[-1]), 20)
for n in Ns:  # the fitted surface along each model size, over the sweep's data range
    ax.plot(6 * n * D_grid, surface.predict(n, D_grid), color=sc.to_rgba(np.log10(n)), lw=1)
ax.plot(budgets, surface.predict(frontier[:, 0], frontier[:, 1]), "k--",
        label="fitted optimum (outside the sweep)")
ax.set(xscale="log", xlabel="training compute C = 6ND (FLOPs)", ylabel="held-out loss (nats per character)")
fig.colorbar(sc, label="log10 N")
ax.legend(fontsize=8, loc="upper right")
plt.show()
""", FIG("fig-12-frontier",
         "Every run of the sweep as held-out loss against its training compute, coloured by model size; the fitted "
         "surface along each model size over the sweep's data range (solid lines); and the loss the fit predicts "
         "for the compute-optimal split of each budget (dashed), which lies outside the sweep.",
         "A scatter of 90 points of loss against compute on a log axis, coloured from dark (small models) to "
         "yellow (large models), with one thin fitted line per model size running through its points; a dashed "
         "curve falls well below all of them, from about 2.8 to 1.6 nats.")),
("markdown", r"""
Hoffmann et al.'s own published parameters, put into the same formula, give the printed 32 billion parameters
at Chinchilla's budget, not the 70 billion the paper trained: the rounded estimates of its third approach
disagree with its first two approaches, as {cite:t}`besiroglu2024chinchilla` found when they refitted the
paper's data. A fitted law is only as good as its fit.

What our own fit measures, and where it departs from the published laws:

- **The data term is measured well, the model term is not.** $\beta$ is pinned down tightly by the seeds (its
  printed interval is narrow); $\alpha$ and $E$ are not. The floor $E$ goes to zero: at one pass over a small
  corpus no model comes near the entropy of the text, so the data contain no floor to fit. Our exponents differ
  from Hoffmann et al.'s (0.34 and 0.28), and Kaplan et al.'s pure power laws ($0.076$ for $N$, $0.095$ for $D$)
  resemble ours for $D$ and not for $N$. Our losses are nats per *character*, theirs per BPE token, so the
  constants cannot be compared at all, only the shapes.
- **Every run here is short of data.** The largest budget gives the largest model less than one character per
  parameter; Chinchilla's rule would ask for twenty tokens per parameter, sixteen million characters, about 34
  times our training text. In this regime a smaller model trained on more data wins at every budget we can afford,
  which is what the fitted frontier says: its printed optimum is smaller than our smallest model and its
  tokens-per-parameter ratio enormous, an extrapolation beyond the sweep, not a finding about language models.
  In the figure the fitted lines follow each size's points, while the dashed optimum runs far below them: to
  reach it, a model smaller than any we trained would read hundreds of times our largest budget.
- **The smallest budget is partly on the plateau**, where the loss is not a power law at all: a hundred steps
  of training leave the smaller models at the unigram loss. Large studies start their fits after it.

So the experiment shows the method (sweep, fit, uncertainty, frontier) and the one result it can support, that
loss falls as a power of the data with a well-determined exponent, and it shows why the published laws needed
thousands of GPU-days: the model term only appears once the data stop being the bottleneck.
"""),
("markdown", r"""
## 12.6 Beyond one machine: sharded data parallelism

A model whose training state does not fit on one accelerator must be split. **Data parallelism** runs one copy
of the model per accelerator (a *rank*), gives each rank its own slice of every batch, and averages the
gradients across ranks with an *all-reduce* before every update, so every copy takes the same step (chapter 7
trained BERT this way with PyTorch's `DistributedDataParallel`, DDP). DDP saves time, not memory: every rank
holds the whole training state. {cite:t}`rajbhandari2020zero` observed that this state is redundant and shard it
(ZeRO): stage 1 splits Adam's moments across the ranks, each rank updating its own part of the parameters and
sending the result to the others; stage 3 also splits the parameters and gradients, gathering each layer's
parameters just before it runs and discarding them after. PyTorch's **fully sharded data parallel** (FSDP)
{cite:p}`zhao2023pytorch` is ZeRO stage 3; its current form, `fully_shard`, splits every parameter along its
first dimension.
"""),
("code", r"""
tk.figures.scale.sharding(ranks=2)
plt.show()
""", FIG("fig-12-sharding",
         "What each of two data-parallel ranks holds, per parameter, in float32 training with Adam. DDP copies "
         "everything (16 bytes); ZeRO-1 splits the optimizer state (12 bytes); FSDP (ZeRO-3) splits parameters, "
         "gradients and optimizer state (8 bytes), gathering each layer's parameters when it runs.",
         "Three panels, DDP, ZeRO-1 and FSDP, each with two GPU columns of three stacked bars for parameters, "
         "gradients and optimizer state. In DDP all bars are full. In ZeRO-1 each GPU's optimizer bar is half "
         "filled and half dashed. In FSDP all three bars are half filled; each panel lists its bytes per "
         "parameter and its collectives.", hide=True)),
("markdown", r"""
We run all three on chapter 6's decoder with `torchrun`, PyTorch's launcher, as two processes on this CPU
communicating through the gloo backend: one launch trains the model for a few steps with plain DDP, with DDP and
`ZeroRedundancyOptimizer` (ZeRO-1), and with `fully_shard` (FSDP), each from the same initial weights on the same
global batches (each rank on its half), and the one-process run on the whole batches as the reference. Every
rank reports the bytes of parameters, gradients and optimizer state that it holds.
"""),
("code", r"""
shard_run = S.run_torchrun(2)
ref_loss = np.array(shard_run["strategies"]["single"]["losses"])
print(f"{shard_run['world']} processes ({shard_run['backend']}), {len(ref_loss)} steps, launch "
      f"{shard_run['seconds']:.1f} s (most of it starting the processes)")
print(f"{'strategy':9s} {'rank':>4s} {'parameters':>11s} {'gradients':>10s} {'optimizer':>10s} {'total':>9s}  "
      f"loss vs one process")
shard_bytes, loss_gap = {}, {}
for name in ("single", "ddp", "zero1", "fsdp"):
    run = shard_run["strategies"][name]
    loss_gap[name] = float(np.max(np.abs(np.array(run["losses"]) - ref_loss) / ref_loss))
    for r, b in enumerate(run["ranks"]):
        total = b["parameter_bytes"] + b["gradient_bytes"] + b["optimizer_bytes"]
        shard_bytes[name, r] = total
        print(f"{name:9s} {r:>4d} {b['parameter_bytes']:>11,} {b['gradient_bytes']:>10,} {b['optimizer_bytes']:>10,} "
              f"{total:>9,}  " + (f"{loss_gap[name]:.1e}" if r == 0 else ""))
saving = {name: shard_bytes[name, 0] / shard_bytes["ddp", 0] for name in ("zero1", "fsdp")}
print(f"rank 0's training state relative to DDP: ZeRO-1 {saving['zero1']:.2f}, FSDP {saving['fsdp']:.2f}")
fig, ax = plt.subplots(figsize=(6, 3))
for name, marker, size in (("ddp", "o", 10), ("zero1", "s", 7), ("fsdp", "^", 4)):
    gap = np.abs(np.array(shard_run["strategies"][name]["losses"]) - ref_loss) / ref_loss
    ax.plot(np.maximum(gap, 1e-12), marker + "-", ms=size, mfc="none", lw=0.8, label=name)
ax.axhline(1e-12, color="0.6", lw=0.6)
ax.text(0, 2e-12, "exactly equal", fontsize=8, color="0.4")
ax.set(yscale="log", xlabel="step", ylabel="relative loss difference\nfrom one process")
ax.legend(fontsize=8)
plt.show()
""", FIG("fig-12-shard-loss",
         "Relative difference between each two-process run's loss and the one-process run's, step by step (log "
         "scale): rounding-level for DDP, ZeRO-1 and FSDP, whose markers lie on top of each other. Steps where the "
         "losses are exactly equal are drawn on the bottom line.",
         "Three coinciding curves of relative loss difference per training step on a logarithmic vertical axis, "
         "jumping between about one part in ten million and the bottom line marked exactly equal.")),
("markdown", r"""
The three strategies follow the one-process run to rounding (the printed differences: the sums over each rank's
half of the batch are added in a different order), so sharding changes where the numbers live, not what is
computed. The bytes are the diagram's, measured: DDP holds the 16 bytes per parameter on every rank; ZeRO-1
holds the full parameters and gradients and half of the optimizer state, 12 bytes (the split follows whole
tensors, so the halves differ by a few hundred bytes); FSDP holds half of everything, 8 bytes. With $k$ ranks,
FSDP's share is $16/k$ bytes per parameter: the 108 GB of Llama-2-7B's training state is 13.5 GB per GPU on 8
GPUs, before activations. What sharding costs is communication: FSDP gathers every layer's parameters in the
forward and again in the backward pass, and it only pays when the network between the accelerators is fast.

The same entry point runs unchanged on GPUs, with the nccl backend: on one machine with 8 GPUs,
`torchrun --standalone --nproc_per_node=8 -m troikadl.scaling.distributed --out result.json`; across two such
machines, the same command on each with `--nnodes=2 --node_rank=0` (or `1`) and a rendezvous address
`--rdzv_backend=c10d --rdzv_endpoint=<host of rank 0>:29500` in place of `--standalone`. Real runs combine this
with tensor and pipeline parallelism (splitting each layer, or the stack of layers, across accelerators), which
this chapter leaves to the references.
"""),
("markdown", r"""
## Summary

- A Transformer's size follows from its configuration: $12d^2 + 13d$ per GPT block, plus embeddings. Counted
  from the sizes and checked on models built on the `meta` device, published sizes turn out rounded (BERT) or
  wrong (GPT-2's 117M is 124M); article 002's "hundreds to tens of millions" is two to four orders of magnitude
  short of today's large models.
- Training costs about $6ND$ FLOPs: 2 per weight per token forward, 4 backward, checked with PyTorch's FLOP
  counter; attention and the output layer add what the rule leaves out, a large share only for tiny models.
- Training with Adam holds 16 bytes per parameter in float32 and in mixed precision alike, eight times the
  16-bit weights: a model that fits for inference may not fit for training; activations add more, growing with
  the batch and faster than linearly with the context.
- The scaling study (90 runs, 2.4 decades of size, 5 data budgets, 3 seeds) shows loss falling as a power law
  in the data with a tight bootstrap interval for $\beta$; the model term and the floor are not identifiable at
  one pass over a small corpus, and the fitted compute-optimal frontier points at small models on more data, far
  from Chinchilla's 20 tokens per parameter, because every run is short of data.
- DDP copies the training state to every rank; ZeRO-1 shards the optimizer state, FSDP everything. Measured on
  two processes: the same losses as one process to rounding, and 12 and 8 bytes per parameter per rank instead
  of 16.
"""),
("markdown", r"""
## Exercises

### Exercise 12.1: count a GPT

Write `gpt_parameters(vocab_size, n_positions, d_model, layers)`: the number of parameters of a GPT-2-style
decoder (chapter 6's `GPT`: learned positions, pre-norm blocks with biases everywhere, an MLP four times as
wide as the model, a final LayerNorm, the output layer tied to the token embedding). Derive the count on paper
first; then check it against `S.meta_parameters(GPTConfig(...))` for a few sizes. Which term dominates for
GPT-2 small, and which for chapter 6's model?
"""),
("code", r"""
def gpt_parameters(vocab_size, n_positions, d_model, layers):
    "Parameters of a GPT-2-style decoder with tied output layer."
    ### BEGIN SOLUTION
    d = d_model
    per_block = 4 * d * d + 4 * d + 8 * d * d + 5 * d + 4 * d   # attention, MLP, two LayerNorms
    return vocab_size * d + n_positions * d + layers * per_block + 2 * d
    ### END SOLUTION
""", {"nbgrader": {"grade": False, "grade_id": "scaling-gpt_parameters-answer", "locked": False,
                   "schema_version": 3, "solution": True, "task": False}, "tags": ["hide-input"]}),
("code", r"""
tk.grading.check("scaling.gpt_parameters", gpt_parameters)
""", {"nbgrader": {"grade": True, "grade_id": "scaling-gpt_parameters-public", "locked": True, "points": 1,
                   "schema_version": 3, "solution": False, "task": False}}),
("code", r"""
### BEGIN HIDDEN TESTS
tk.grading.check("scaling.gpt_parameters", gpt_parameters, cases=[
    tk.grading.Case("GPT-2 XL", (50257, 1024, 1600, 48), expected=1_557_611_200, rtol=0, atol=0),
    tk.grading.Case("GPT-2 medium", (50257, 1024, 1024, 24), expected=354_823_168, rtol=0, atol=0),
    tk.grading.Case("one token, one position", (1, 1, 8, 3), expected=tk.scaling.meta_parameters(
        tk.transformer.GPTConfig(vocab_size=1, n_positions=1, d_model=8, heads=1, layers=3)), rtol=0, atol=0),
])
### END HIDDEN TESTS
""", {"nbgrader": {"grade": True, "grade_id": "scaling-gpt_parameters-hidden", "locked": True, "points": 2,
                   "schema_version": 3, "solution": False, "task": False}, "tags": ["remove-cell"]}),
("markdown", r"""
### Exercise 12.2: the compute-optimal model

Write `compute_optimal(E, A, B, alpha, beta, C)` returning `(N_opt, D_opt)`: the model size and token count that
minimize $L(N, D) = E + A/N^{\alpha} + B/D^{\beta}$ subject to $6ND = C$. Derive it (substitute $D$, set the
derivative to zero) before writing code. Then answer: (a) with Hoffmann et al.'s published fit ($E = 1.69$,
$A = 406.4$, $B = 410.7$, $\alpha = 0.34$, $\beta = 0.28$), how many tokens per parameter does your function give
at $C = 5.76 \times 10^{23}$, and does it match Chinchilla's 70 billion parameters? (b) If $C$ grows tenfold, by
what factor do $N_{opt}$ and $D_{opt}$ grow? (c) Why does our fitted surface put $N_{opt}$ below our smallest
model?
"""),
("code", r"""
def compute_optimal(E, A, B, alpha, beta, C):
    "The (N, D) minimizing E + A / N**alpha + B / D**beta with 6 N D = C."
    ### BEGIN SOLUTION
    G = (alpha * A / (beta * B)) ** (1 / (alpha + beta))
    n = G * (C / 6) ** (beta / (alpha + beta))
    return n, C / (6 * n)
    ### END SOLUTION
""", {"nbgrader": {"grade": False, "grade_id": "scaling-compute_optimal-answer", "locked": False,
                   "schema_version": 3, "solution": True, "task": False}, "tags": ["hide-input"]}),
("code", r"""
tk.grading.check("scaling.compute_optimal", compute_optimal)
""", {"nbgrader": {"grade": True, "grade_id": "scaling-compute_optimal-public", "locked": True, "points": 1,
                   "schema_version": 3, "solution": False, "task": False}}),
("code", r"""
### BEGIN HIDDEN TESTS
_law = tk.scaling.LossSurface(1.2, 50.0, 20.0, 0.45, 0.25)
tk.grading.check("scaling.compute_optimal", compute_optimal, cases=[
    tk.grading.Case(f"C = {C:.0e}", (_law.E, _law.A, _law.B, _law.alpha, _law.beta, C),
                    expected=tk.scaling.compute_optimal(_law, C), rtol=1e-6) for C in (1e9, 3e15, 1e21)])
### END HIDDEN TESTS
""", {"nbgrader": {"grade": True, "grade_id": "scaling-compute_optimal-hidden", "locked": True, "points": 2,
                   "schema_version": 3, "solution": False, "task": False}, "tags": ["remove-cell"]}),
("markdown", r"""
### Exercise 12.3: memory per rank

Write `per_rank_bytes(n_params, ranks, strategy)`: the bytes of training state (weights, gradients and Adam's
two moments, float32, activations not counted) that each of `ranks` data-parallel ranks holds under
`strategy`, one of `"ddp"`, `"zero1"` and `"fsdp"`, assuming the parameters split evenly. Predict first, then
compare with the bytes that section 12.6 measured for two ranks: which of its measured numbers differ from your
prediction, and why?
"""),
("code", r"""
def per_rank_bytes(n_params, ranks, strategy):
    "Training-state bytes per rank: float32 weights, gradients and two Adam moments."
    ### BEGIN SOLUTION
    weights, grads, moments = 4 * n_params, 4 * n_params, 8 * n_params
    if strategy == "ddp":
        return float(weights + grads + moments)
    if strategy == "zero1":
        return float(weights + grads + moments / ranks)
    return float((weights + grads + moments) / ranks)
    ### END SOLUTION
""", {"nbgrader": {"grade": False, "grade_id": "scaling-per_rank_bytes-answer", "locked": False,
                   "schema_version": 3, "solution": True, "task": False}, "tags": ["hide-input"]}),
("code", r"""
tk.grading.check("scaling.per_rank_bytes", per_rank_bytes)
""", {"nbgrader": {"grade": True, "grade_id": "scaling-per_rank_bytes-public", "locked": True, "points": 1,
                   "schema_version": 3, "solution": False, "task": False}}),
("code", r"""
### BEGIN HIDDEN TESTS
tk.grading.check("scaling.per_rank_bytes", per_rank_bytes, cases=[
    tk.grading.Case("FSDP, Llama-2-7B on 8 ranks", (6_738_415_616, 8, "fsdp"), expected=16 * 6_738_415_616 / 8),
    tk.grading.Case("ZeRO-1 on one rank is DDP", (1234, 1, "zero1"), expected=16.0 * 1234),
    tk.grading.Case("DDP does not depend on the ranks", (1000, 64, "ddp"), expected=16000.0),
])
### END HIDDEN TESTS
""", {"nbgrader": {"grade": True, "grade_id": "scaling-per_rank_bytes-hidden", "locked": True, "points": 2,
                   "schema_version": 3, "solution": False, "task": False}, "tags": ["remove-cell"]}),
("markdown", r"""
## Checkpoints

The chapter's headline results, asserted with margin (they hold for seeds 0, 1 and 2).
"""),
("code", r"""
assert all(c["formula"] == c["meta"] for c in counts.values()), counts      # the formula = the model built on meta
assert counts["GPT-2 small"]["meta"] == 124_439_808 and counts["Llama-2-7B"]["meta"] == 6_738_415_616
assert all(c["meta"] > 1e8 for c in counts.values())                        # article 002's "tens of millions"
assert abs(training / forward - 3) < 0.01                                   # backward = twice the forward
assert abs(gpt3 / 3.14e23 - 1) < 0.01                                       # 6ND = the GPT-3 paper's count
assert {k: v for k, v in measured_state.items() if k != "total"} == {
    k: v for k, v in formula_state.items() if k != "total"}                   # 16 bytes per parameter, measured
assert fit_table["Llama-2-7B"] == (True, False) and fit_table["GPT-2 small"] == (True, True)
assert abs(act[4, 64] / act[2, 64] - 2) < 0.02 and act[1, 256] / 256 > act[1, 64] / 64 * 1.2
assert len(table.loss) == 90 and np.log10(Ns[-1] / Ns[0]) >= 1.5
assert live_gap < (1e-5 if same_corpus else 0.1), (live, same_corpus)       # the table re-trained live
assert (mean_loss[:, -1] < mean_loss[:, 0] - 0.3).all()                      # more data helps every size
lo, hi = intervals["beta"]
assert 0.05 < lo <= surface.beta <= hi < 0.2 and hi - lo < 0.05, intervals  # beta well determined
assert intervals["alpha"][1] - intervals["alpha"][0] > hi - lo               # alpha less so
assert n_opt < Ns[0], n_opt                                                  # the frontier: small models, more data
assert max(loss_gap[k] for k in ("ddp", "zero1", "fsdp")) < 1e-5, loss_gap  # sharded = one process
assert 0.7 < saving["zero1"] < 0.8 and 0.45 < saving["fsdp"] < 0.55, saving  # 12 and 8 bytes of 16
print("all checkpoints hold")
"""),
("code", r"""
tk.report("12_scale", gpt2_small_params=counts["GPT-2 small"]["meta"], llama2_7b_params=counts["Llama-2-7B"]["meta"],
          train_over_forward_flops=training / forward, gpt3_flops=gpt3, live_row_gap=live_gap,
          alpha=surface.alpha, beta=surface.beta, beta_low=lo, beta_high=hi, n_opt_at_max_compute=n_opt,
          tokens_per_param_at_max_compute=d_opt / n_opt, fsdp_bytes_vs_ddp=saving["fsdp"],
          zero1_bytes_vs_ddp=saving["zero1"], sharded_loss_gap=max(loss_gap[k] for k in ("ddp", "zero1", "fsdp")))
"""),
]
