INTRO = """## 6.8 Pre-norm versus post-norm, measured

The Transformer of 2017 put the LayerNorm after each residual sum (post-norm) and trained with a learning-rate
**warmup**, a rate that rises from zero over the first steps; GPT-2 and most models since put it before each
sublayer (pre-norm). {cite:t}`xiong2020layer` analyse the difference at initialization: in a post-norm stack every
residual sum passes through a LayerNorm, so the gradient that reaches a block has passed through the
normalizations of all the blocks above it, and training without warmup is fragile; in a pre-norm stack the residual
stream carries the gradient to every block without normalizing it. We measure two things on a deeper, narrow stack
(6 blocks, 32 wide) on the characters of chapter 5's docstring corpus (the same split and vocabulary, so that
perplexities compare with chapter 5's recurrent models): the gradient that reaches each block at initialization,
and training for the same number of steps, at the same peak learning rate, from the same initial weights, with and
without a linear warmup. `train_lm`'s `schedule` sets the rate of each step; the warmup here rises over the first
quarter of the steps and then stays at the peak, so that the runs differ by the warmup only."""

GRAD = """CONTEXT = 64
deep = dict(vocab_size=len(vocab), n_positions=CONTEXT, d_model=32, heads=4, layers=6)
windows = torch.stack([train_ids[i:i + CONTEXT + 1] for i in range(0, 16 * 9973, 9973)]).to(rt.device)
grad_norms = {}
for norm_first in (True, False):
    torch.manual_seed(rt.seed)
    model = GPT(GPTConfig(**deep, norm_first=norm_first)).to(rt.device)
    logits, _ = model(windows[:, :-1])
    F.cross_entropy(logits.flatten(0, 1), windows[:, 1:].flatten()).backward()
    grad_norms["pre-norm" if norm_first else "post-norm"] = np.array(
        [float(torch.cat([p.grad.flatten() for p in block.parameters()]).norm()) for block in model.blocks])
for name, g in grad_norms.items():
    print(f"{name:9s} gradient norm of each block's parameters at initialization: {np.round(g, 3)}")
grad_ratio = grad_norms["pre-norm"][1:].mean() / grad_norms["post-norm"][1:].mean()
print(f"blocks 2 to 6: the pre-norm blocks' gradients are {grad_ratio:.0f} times the post-norm blocks'")"""

RESULT = """At initialization (the printed norms) every pre-norm block receives a gradient of about the same size. In the
post-norm stack the first block does too, but the five above it receive gradients many times smaller (the printed
ratio): their outputs pass through LayerNorms that rescale the residual stream, and at this initialization
(weights of standard deviation 0.02, as GPT-2's) the normalizations shrink what flows back. Training follows the
gradients: within the same steps the pre-norm stack leaves the plateau of the unigram model (a loss of about
$\\ln 23.75 \\approx 3.17$ nats, the unigram baseline printed above), with and without warmup, while the post-norm
stack stays on it, with and without warmup (the printed final losses). In the figure, a run whose warmup ends can
jump up for a few steps when its rate reaches the peak: warmup delays the large steps, it does not remove them. Warmup, which Xiong et al. found necessary
for post-norm Transformers trained far longer than this, does not rescue it within this budget; what it prevents,
early steps that derail training at a large learning rate, is not what holds this small stack back. This is a
small-scale picture at one depth, one width and one learning rate, not a reproduction of the paper; the
checkpoints assert the ordering on seeds 0, 1 and 2."""
