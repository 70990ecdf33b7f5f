"""Residual blocks and the small ResNet (troikadl.resnet, chapter 4) against an independent PyTorch reference."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from troikadl.resnet import ResidualBlock, ResNet, deep_cnn, gradient_norms

TOL = 1e-12   # float64


class RefBlock(nn.Module):
    """The basic block of He et al. (2016), written with torch's own layers."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.proj = None
        if stride != 1 or cin != cout:
            self.proj = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        s = x if self.proj is None else self.proj(x)
        return torch.relu(self.b2(self.c2(torch.relu(self.b1(self.c1(x))))) + s)


def _copy(ours, ref):
    """Copy our block's weights into the reference (random gamma and beta, so they matter)."""
    with torch.no_grad():
        ref.c1.weight.copy_(ours.conv1.weight)
        ref.c2.weight.copy_(ours.conv2.weight)
        pairs = [(ours.bn1, ref.b1), (ours.bn2, ref.b2)]
        if ref.proj is not None:
            ref.proj[0].weight.copy_(ours.shortcut[0].weight)
            pairs.append((ours.shortcut[1], ref.proj[1]))
        for a, b in pairs:
            a.weight.normal_(1.0, 0.3)
            a.bias.normal_(0.0, 0.3)
            b.weight.copy_(a.weight)
            b.bias.copy_(a.bias)


@settings(max_examples=15, deadline=None)
@given(cin=st.integers(1, 4), cout=st.integers(1, 4), stride=st.integers(1, 2), size=st.integers(3, 7),
       n=st.integers(2, 4))
def test_block_matches_reference_forward_backward_and_eval(cin, cout, stride, size, n):
    torch.manual_seed(0)
    ours = ResidualBlock(cin, cout, stride=stride).double()
    ref = RefBlock(cin, cout, stride).double()
    _copy(ours, ref)
    x = torch.randn(n, cin, size, size, dtype=torch.float64)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    y1, y2 = ours(x1), ref(x2)
    assert y1.shape == y2.shape == (n, cout, (size - 1) // stride + 1, (size - 1) // stride + 1)
    assert (y1 - y2).abs().max() <= TOL
    w = torch.randn_like(y1)
    (y1 * w).sum().backward()
    (y2 * w).sum().backward()
    assert (x1.grad - x2.grad).abs().max() <= TOL
    assert (ours.conv1.weight.grad - ref.c1.weight.grad).abs().max() <= TOL
    ours.eval(); ref.eval()
    assert (ours(x) - ref(x)).abs().max() <= TOL


def test_identity_shortcut_passes_the_input():
    block = ResidualBlock(3).double()
    assert isinstance(block.shortcut, nn.Identity)
    with torch.no_grad():                     # F(x) = 0: gamma of the last normalization set to zero
        block.bn2.weight.zero_()
    x = torch.rand(2, 3, 4, 4, dtype=torch.float64)   # non-negative: relu(x) = x
    assert torch.equal(block(x), x)
    assert isinstance(ResidualBlock(3, projection=True).shortcut, nn.Sequential)


def test_resnet_shapes_and_global_average_pooling():
    net = ResNet((4, 8), blocks=2)
    assert net(torch.randn(3, 1, 8, 8)).shape == (3, 10)
    assert net(torch.randn(3, 1, 16, 16)).shape == (3, 10)       # the head does not depend on the image size
    assert net.head.in_features == 8
    assert sum(isinstance(m, ResidualBlock) for m in net.modules()) == 4


def test_deep_cnn_plain_and_residual_have_the_same_weights():
    plain, res = deep_cnn(6, 4), deep_cnn(6, 4, residual=True)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(plain) == count(res)
    assert sum(isinstance(m, nn.Conv2d) for m in plain.modules()) == 7
    assert sum(isinstance(m, nn.Conv2d) for m in res.modules()) == 7
    with pytest.raises(ValueError):
        deep_cnn(5, 4, residual=True)


def test_gradient_norms_vanish_in_a_deep_plain_stack_but_not_with_shortcuts():
    torch.manual_seed(0)
    X, y = torch.randn(32, 1, 8, 8), torch.arange(32) % 10
    plain = gradient_norms(deep_cnn(16, 8), X, y)
    res = gradient_norms(deep_cnn(16, 8, residual=True), X, y)
    assert len(plain) == len(res) == 17
    assert plain[0] / plain[-1] < 1e-3 and res[0] / res[-1] > 0.1, (plain[0] / plain[-1], res[0] / res[-1])


@pytest.mark.parametrize("call, err", [
    (lambda: ResidualBlock(0), ValueError),
    (lambda: ResidualBlock(2, stride=0), ValueError),
    (lambda: ResidualBlock(2)(torch.zeros(2, 3, 4, 4)), ValueError),
    (lambda: ResNet(()), ValueError),
    (lambda: gradient_norms(deep_cnn(2, 2), torch.zeros(2, 1, 8, 8), [0.5, 1.0]), TypeError),
])
def test_bad_input(call, err):
    with pytest.raises((ValueError, TypeError)):
        call()


# --- data augmentation (troikadl.data.augment, chapter 4) ------------------------------------------------------


def test_random_shift_moves_whole_images_and_fills():
    from troikadl.data.augment import random_shift

    x = torch.randn(50, 2, 6, 5, dtype=torch.float64)
    y = random_shift(x, 2, fill=-7.0, generator=torch.Generator().manual_seed(0))
    assert y.shape == x.shape and y.dtype == x.dtype
    seen = set()
    for i in range(len(x)):     # each output is one of the shifts of its input, padded with the fill value
        padded = nn.functional.pad(x[i], (2, 2, 2, 2), value=-7.0)
        hits = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                if torch.equal(y[i], padded[:, 2 - dy:8 - dy, 2 - dx:7 - dx])]
        assert hits, i
        seen.update(hits)
    assert len(seen) >= 15                                   # shifts are spread over the 25 possible ones
    assert torch.equal(random_shift(x, 0), x)


def test_random_rotation_identity_at_zero_and_keeps_mass_of_a_centred_blob():
    from troikadl.data.augment import random_rotation

    x = torch.randn(4, 1, 8, 8, dtype=torch.float64)
    assert (random_rotation(x, 0.0) - x).abs().max() <= 1e-12
    r = torch.arange(8, dtype=torch.float64) - 3.5
    blob = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / 2)[None, None].repeat(16, 1, 1, 1)
    out = random_rotation(blob, 30.0, generator=torch.Generator().manual_seed(1))
    assert (out - blob).abs().max() <= 0.1                   # a round blob barely changes under rotation
    assert random_rotation(torch.ones(2, 1, 8, 8), 45.0, fill=1.0).sub(1).abs().max() <= 1e-6


def test_augment_bad_input():
    from troikadl.data.augment import random_rotation, random_shift

    for call in (lambda: random_shift(torch.zeros(2, 1, 4, 4), 4), lambda: random_shift(torch.zeros(2, 4, 4), 1),
                 lambda: random_rotation(torch.zeros(2, 1, 4, 4), -1.0),
                 lambda: random_rotation(torch.zeros(2, 1, 4, 4), 5.0, generator=3)):
        with pytest.raises((ValueError, TypeError)):
            call()
