import sys, time, functools, numpy as np, torch
import troikadl as tk
from troikadl import language_model as lm
from troikadl.data.corpus import stdlib_corpus
from troikadl.transformer import GPT, GPTConfig
rt = tk.setup(seed=int(sys.argv[1]))
steps, lr, layers, d = int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
corpus = stdlib_corpus()
tr, va = lm.train_val_split(corpus, val_fraction=0.1, seed=0)
vocab = lm.CharVocab.from_text(tr); ti, vi = vocab.encode(tr), vocab.encode(va); vs = vi[:20000]
torch.manual_seed(rt.seed)
g = GPT(GPTConfig(vocab_size=len(vocab), n_positions=64, d_model=d, heads=4, layers=layers))
t = time.time()
h = lm.train_lm(g, ti, steps=steps, batch_size=int(sys.argv[6]) if len(sys.argv) > 6 else 32, bptt=64, lr=lr, clip_norm=1.0, carry_state=False, desc="g",
   schedule=functools.partial(tk.schedules.warmup_lr, lr=lr, warmup_steps=steps // 10, total_steps=steps))
t1 = time.time() - t
p = lm.perplexity(g, vs, batch_size=20, bptt=64, carry_state=False)
print(f"seed {rt.seed} steps {steps} lr {lr} L{layers} d{d}: ppl {p:.2f} bigram {lm.bigram_perplexity(ti, vs, len(vocab)):.2f} train {t1:.1f}s threads {rt.threads}")
L = np.array(h["loss"])
print("train loss (mean of 20) at", {s: round(float(L[max(0, s-20):s].mean()), 3) for s in range(50, steps + 1, 50)})
