import sys, time, functools, numpy as np, torch
import troikadl as tk
from troikadl import language_model as lm
from troikadl.data.corpus import stdlib_corpus
from troikadl.transformer import GPT, GPTConfig
rt = tk.setup(seed=int(sys.argv[1])); lr = float(sys.argv[2]); steps = int(sys.argv[3]); layers = int(sys.argv[4])
tr, va = lm.train_val_split(stdlib_corpus(), val_fraction=0.1, seed=0)
vocab = lm.CharVocab.from_text(tr); ti = vocab.encode(tr)
deep = dict(vocab_size=len(vocab), n_positions=64, d_model=32, heads=4, layers=layers)
# gradient norms at init
x = torch.stack([ti[i:i + 65] for i in range(0, 65 * 16, 65)])
for nf in (True, False):
    torch.manual_seed(rt.seed); m = GPT(GPTConfig(**deep, norm_first=nf))
    logits, _ = m(x[:, :-1]); loss = torch.nn.functional.cross_entropy(logits.reshape(-1, len(vocab)), x[:, 1:].reshape(-1)); loss.backward()
    g = [float(torch.sqrt(sum((p.grad ** 2).sum() for p in b.parameters()))) for b in m.blocks]
    print("pre " if nf else "post", "grad norm per block at init:", np.round(g, 3))
warm = functools.partial(tk.schedules.warmup_lr, lr=lr, warmup_steps=steps // 4, total_steps=steps, min_lr=lr)
t = time.time()
for nf in (True, False):
    for sch in (None, warm):
        torch.manual_seed(rt.seed); m = GPT(GPTConfig(**deep, norm_first=nf))
        L = lm.train_lm(m, ti, steps=steps, batch_size=16, bptt=64, lr=lr, carry_state=False, schedule=sch, desc="x")["loss"]
        print(f"{'pre ' if nf else 'post'} {'warm' if sch else 'none'}: last20 {np.mean(L[-20:]):.3f} at", [round(float(np.mean(L[max(0,s-10):s])),2) for s in range(20, steps+1, 20)])
print(f"{time.time()-t:.1f}s")
