"""Assemble chapter 6 from the chapter (sections 6.1-6.6, exercises) and the helpers' drafts (A, B, C, D)."""
import copy
import json
import re
import sys

ROOT = "/work/main"
CH = f"{ROOT}/chapters/06_attention.ipynb"
nb = json.load(open(f"{ROOT}/.wip/ch06/06_attention_base.ipynb" if len(sys.argv) > 1 else CH))
drafts = {k: json.load(open(f"/work/main/.wip/ch06/ch06_{k}.ipynb"))["cells"] for k in "ABCD"}


def src(c):
    return "".join(c["source"])


def clean(c):
    c = copy.deepcopy(c)
    md = {k: v for k, v in c.get("metadata", {}).items() if k in ("tags", "mystnb", "nbgrader")}
    c["metadata"] = md
    if c["cell_type"] == "code":
        c["outputs"], c["execution_count"] = [], None
    return c


def md(text):
    return {"cell_type": "markdown", "metadata": {}, "source": text}


def code(text, **meta):
    return {"cell_type": "code", "metadata": meta, "source": text, "outputs": [], "execution_count": None}


def sub(c, old, new, count=1):
    s = src(c)
    assert old in s, (old, s[:200])
    c["source"] = s.replace(old, new, count)
    return c


cells = nb["cells"]
intro = cells[1]
sub(intro, "{term}`Transformer`.", "{term}`Transformer`, {term}`decoder`, {term}`cross-attention`, {term}`KV cache`,\n"
    "{term}`nucleus sampling`, {term}`rotary position embedding`, {term}`perplexity`, {term}`warmup`.")
sub(intro, "to PyTorch's, shows what the source article's attention formula and module get wrong, and trains a\nsmall encoder to sort.",
    "to PyTorch's, shows what the source article's attention formula and module get wrong, and trains a\nsmall encoder to sort. "
    "It then turns to the decoder, the architecture of GPT and of today's large language models: a GPT\n"
    "checked equal to Hugging Face's GPT-2, pre-norm against post-norm, next-character training on the\n"
    "course's docstring corpus, decoding strategies, the KV cache, the cost of attention, rotary position\n"
    "embeddings, and an encoder–decoder whose cross-attention learns to align numbers with their words.")
sub(intro, "- how to read attention maps.", "- how to read attention maps;\n"
    "- the decoder: causal masking, next-token training, perplexity, pre-norm versus post-norm;\n"
    "- generation: greedy, temperature, top-k and top-p sampling, and the KV cache that makes it fast;\n"
    "- what attention costs as sequences grow, and rotary position embeddings;\n"
    "- the encoder–decoder with cross-attention, teacher forcing and exposure bias.")
sub(intro, "primary sources {cite:p}`bahdanau2015neural,vaswani2017attention,ba2016layer`",
    "primary sources {cite:p}`bahdanau2015neural,vaswani2017attention,ba2016layer,radford2019language,"
    "xiong2020layer,holtzman2020curious,su2021roformer`")
# locate the split: cell holding the reversal paragraph + Summary + Exercise 6.1
i_sum = next(i for i, c in enumerate(cells) if c["cell_type"] == "markdown" and "## Summary" in src(c))
s = src(cells[i_sum])
rev_par, rest = s.split("## Summary", 1)
summary, ex61 = ("## Summary" + rest).split("## Exercises", 1)
ex61 = "## Exercises" + ex61
i_ck = next(i for i, c in enumerate(cells) if c["cell_type"] == "markdown" and src(c).startswith("## Checkpoints"))
head = cells[:i_sum] + [md(rev_par.rstrip() + "\n")]
exercises = [md(ex61)] + cells[i_sum + 1:i_ck]
checkpoints = cells[i_ck:]

A, B, C, D = ({i: clean(c) for i, c in enumerate(drafts[k])} for k in "ABCD")

# --- A: 6.7-6.9 ------------------------------------------------------------------------------------------
A[12] = md(open("/work/main/.wip/ch06/ch06_A12.md").read()) if False else A[12]
exec(open("/work/main/.wip/ch06/ch06_68.py").read())
sub(A[3], "(the generation section below)", "(section 6.11)")
sub(B[17], "Section 6.1 added a position vector", "Section 6.5 added a position vector")
sub(B[20], "for the prediction plotted\nabove", "for the prediction plotted in\nsection 6.10")
A[9] = md(INTRO)
A[12] = md(RESULT)
grad_cell = code(GRAD)
sub(A[11], 'ax.axhline(np.log(bigram_ppl), color="gray", ls=":", label="bigram baseline (held out)")',
    'ax.axhline(np.log(unigram_ppl), color="gray", ls="-.", label="unigram baseline (held out)")\n'
    'ax.axhline(np.log(bigram_ppl), color="gray", ls=":", label="bigram baseline (held out)")')
A[11]["metadata"]["mystnb"]["figure"]["caption"] = A[11]["metadata"]["mystnb"]["figure"]["caption"].replace(
    "the bigram baseline's held-out loss dotted", "the unigram (dash-dotted) and bigram (dotted) baselines' held-out losses")
sub(A[11], "NORM_STEPS, NORM_LR, WARMUP, CONTEXT = 120, 1e-2, 30, 64\ndeep = dict(vocab_size=len(vocab), n_positions=CONTEXT, d_model=32, heads=4, layers=6)\n",
    "NORM_STEPS, NORM_LR, WARMUP = 160, 6e-3, 40\n")
sub(A[14], "GPT_STEPS, GPT_LR = 300, 1e-2", "GPT_STEPS, GPT_LR = 500, 3e-3")
new = [A[1], D[1], A[2], A[3], A[4], A[5], A[6], A[7], A[8], A[9], D[2], A[10], grad_cell, A[11], A[12], A[13], A[14], A[15]]
# --- B: 6.10-6.13 ----------------------------------------------------------------------------------------
sub(B[1], "## Generating text: greedy, temperature, top-k, top-p", "## 6.10 Generating text: greedy, temperature, top-k, top-p")
sub(B[7], "## The KV cache", "## 6.11 The KV cache")
sub(B[13], "## Attention's cost", "## 6.12 Attention's cost")
sub(B[17], "## Rotary position embeddings", "## 6.13 Rotary position embeddings")
sub(B[17], "(RoPE; Su et al., 2021)", "(RoPE) {cite:p}`su2021roformer`")
sub(B[1], "(*nucleus* sampling)", "(*nucleus* sampling {cite:p}`holtzman2020curious`)")
sub(B[6], "figsize=(10, 3.2)", "figsize=(7.2, 3.2)")
sub(B[10], "torch.set_num_threads(1)\n", "threads = torch.get_num_threads()\ntorch.set_num_threads(1)\n")
sub(B[10], 'torch.set_num_threads(rt.threads if hasattr(rt, "threads") else torch.get_num_threads())',
    "torch.set_num_threads(threads)")
sub(B[2], "tk.transformer.generate(gpt, ids, 60,", "tk.transformer.generate(gpt, ids, 50,")
sub(B[4], "max_new_tokens=60,", "max_new_tokens=50,")
sub(B[4], "ours = tk.transformer.generate(gpt, ids[None], 60, greedy=True)", "ours = tk.transformer.generate(gpt, ids[None], 50, greedy=True)")
sub(B[8], "val_text[:160]", "val_text[:CONTEXT]")
sub(B[8], "# all 160 positions at once, no cache", "# all 64 positions at once, no cache")
sub(B[8], "gpt(text_ids[:, :40])          # a 40-character prompt, then one character at a time",
    "gpt(text_ids[:, :16])          # a 16-character prompt, then one character at a time")
sub(B[8], "for t in range(40, 160):", "for t in range(16, CONTEXT):")
sub(B[8], '"cache after 160 characters, layer 0 keys:"', 'f"cache after {CONTEXT} characters, layer 0 keys:"')
sub(B[9], "Below, the wall time of generating $N$ characters both\nways (greedy, one thread, the best of two runs).",
    "Below, the wall time of generating $N$ characters both\nways (greedy, one thread, the best of two runs). "
    "The time does not depend on what the weights are, so\nwe time an untrained model of the same sizes with a longer "
    "context (512 positions), to reach past our\nmodel's 64.")
sub(B[10], "def gen_time(n, use_cache, repeats=2):",
    "torch.manual_seed(rt.seed)\ntiming_gpt = GPT(GPTConfig(vocab_size=len(vocab), n_positions=512, d_model=64, heads=4,\n"
    "                            layers=2)).to(rt.device)   # untrained: only the sizes matter for the time\n"
    "def gen_time(n, use_cache, repeats=2):")
sub(B[10], "tk.transformer.generate(gpt, ids[:1], n,", "tk.transformer.generate(timing_gpt, ids[:1], n,")
sub(B[10], "lengths = [16, 32, 64, 128]", "lengths = [32, 64, 128, 256]")
sub(B[10], "ax.legend()", "ax.legend()\nplt.show()")
sub(B[14], "ax.legend()", "ax.legend()\nplt.show()")
new += [B[i] for i in range(1, 8)] + [D[3]] + [B[i] for i in range(8, 20)]
# --- C: 6.14 ---------------------------------------------------------------------------------------------
sub(C[1], "## The encoder–decoder: cross-attention, trained", "## 6.14 The encoder–decoder: cross-attention, trained")
sub(C[1], "The Transformer of Vaswani et al. (2017)", "The Transformer of {cite:t}`vaswani2017attention`")
new += [C[1], D[4]] + [C[i] for i in range(2, 14)]
new += [md(open("/work/main/.wip/ch06/ch06_masks.md").read())]

ex63 = [B[20], B[21], B[22], B[23]]
A[17]["source"] = src(A[17]).replace("assert all(np.isfinite(v) for v in final_loss.values())",
    "assert grad_ratio > 5, grad_norms\n"
    "assert max(final_loss[f'pre-norm, {w}'] for w in ('no warmup', 'warmup')) < "
    "min(final_loss[f'post-norm, {w}'] for w in ('no warmup', 'warmup')) - 0.05, final_loss")
asserts_new = "\n".join(l for k, i in (("A", 17), ("B", 25), ("C", 14)) for l in src({"A": A, "B": B, "C": C}[k][i]).splitlines()
                        if l.startswith("assert"))
ck_code = checkpoints[1]
s = src(ck_code)
s = s.replace('print("all checkpoints hold")', asserts_new + '\nprint("all checkpoints hold")')
ck_code["source"] = s
rep = checkpoints[2]
s = src(rep).rstrip()
assert s.endswith(")")
s = s[:-1] + (",\n          gpt2_logit_diff=gpt2_diff, gpt_val_ppl=gpt_ppl, bigram_ppl=bigram_ppl, unigram_ppl=unigram_ppl,"
              "\n          postnorm_nowarmup_loss=final_loss[\"post-norm, no warmup\"],"
              " prenorm_nowarmup_loss=final_loss[\"pre-norm, no warmup\"],"
              "\n          greedy_equal_hf=greedy_equal, kv_cache_diff=cache_diff, kv_speedup_256=speedups[-1],"
              " attention_time_slope=slope_time,"
              "\n          rope_gap=rope_gap, s2s_sequence_acc=s2s_seq_acc, s2s_rest_ok_forced=rest_ok_forced)")
rep["source"] = s

summary_cell = md(open("/work/main/.wip/ch06/ch06_summary.md").read())
nb["cells"] = head + new + [summary_cell] + exercises + ex63 + checkpoints
import uuid
seen = set()
for c in nb["cells"]:
    if c.get("id") in seen or "id" not in c:
        c["id"] = uuid.uuid4().hex[:8]
    seen.add(c["id"])
    if isinstance(c["source"], str):
        c["source"] = c["source"].splitlines(keepends=True)
json.dump(nb, open(CH, "w"), indent=1, ensure_ascii=False)
print(len(nb["cells"]), "cells")
