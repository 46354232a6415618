"""The CPU transposed convolution: same numbers as torch's, whichever path a layer picks."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from studio.model.fast_convt import AutoConvTranspose2d, accelerate, prefers_fold


@pytest.mark.parametrize("cin, cout, k, stride, pad, bias, n, hw", [
    (16, 8, 4, 1, 0, False, 1, 1),    # DCGAN's first layer: 1x1 -> 4x4
    (32, 16, 4, 2, 1, False, 1, 4),   # DCGAN's doubling layers
    (8, 3, 4, 2, 1, True, 3, 16),
    (6, 5, 3, 2, 1, True, 2, 5),      # odd kernel and size
    (4, 4, 3, 1, 1, False, 1, 7),
])
def test_fold_path_matches_torch(cin, cout, k, stride, pad, bias, n, hw):
    torch.manual_seed(0)
    ref = nn.ConvTranspose2d(cin, cout, k, stride, pad, bias=bias)
    fast = nn.ConvTranspose2d(cin, cout, k, stride, pad, bias=bias)
    fast.load_state_dict(ref.state_dict())
    assert accelerate(nn.Sequential(fast)) == 1 and isinstance(fast, AutoConvTranspose2d)
    x = torch.randn(n, cin, hw, hw)
    with torch.inference_mode():
        want = ref(x)
        got_fold = fast._fold_forward(x)
        got_auto = fast(x)
    assert got_fold.shape == want.shape
    assert torch.allclose(got_fold, want, atol=1e-5, rtol=1e-5)
    assert torch.allclose(got_auto, want, atol=1e-5, rtol=1e-5)


def test_state_dict_keys_and_training_are_untouched():
    net = nn.Sequential(nn.ConvTranspose2d(4, 2, 4, 2, 1), nn.Tanh())
    keys = list(net.state_dict())
    accelerate(net)
    assert list(net.state_dict()) == keys
    x = torch.randn(2, 4, 3, 3, requires_grad=True)
    net(x).sum().backward()  # grad mode takes torch's own kernel, so training still works
    assert x.grad is not None


def test_folded_weights_follow_weight_changes():
    m = nn.ConvTranspose2d(3, 2, 4, 2, 1, bias=False)
    accelerate(nn.Sequential(m))
    x = torch.randn(1, 3, 2, 2)
    with torch.inference_mode():
        before = m._fold_forward(x)
    with torch.no_grad():
        m.weight.mul_(2.0)
    with torch.inference_mode():
        after = m._fold_forward(x)
    assert torch.allclose(after, 2 * before, atol=1e-6)


def test_grouped_or_dilated_layers_are_left_alone():
    net = nn.Sequential(nn.ConvTranspose2d(4, 4, 3, groups=2), nn.ConvTranspose2d(4, 4, 3, dilation=2))
    assert accelerate(net) == 0 and all(type(m) is nn.ConvTranspose2d for m in net)


def test_kernel_choice_is_a_rule_of_the_shape_not_a_timing(monkeypatch):
    """The same shape takes the same path every call (so the same bits), and forward never reads a clock."""
    import time

    monkeypatch.setattr(time, "perf_counter", lambda: pytest.fail("forward timed something"))
    assert prefers_fold(1, 100, 512, 1, 1)  # DCGAN's z projection at batch 1: a matrix-vector product
    assert not prefers_fold(16, 100, 512, 1, 1)
    assert prefers_fold(1, 64, 3, 32, 32)  # an RGB output layer
    assert not prefers_fold(1, 64, 32, 64, 64)
    m = nn.ConvTranspose2d(100, 8, 4, 1, 0, bias=False)
    ref = nn.ConvTranspose2d(100, 8, 4, 1, 0, bias=False)
    ref.load_state_dict(m.state_dict())
    accelerate(nn.Sequential(m))
    x = torch.randn(1, 100, 1, 1)
    with torch.inference_mode():
        outs = [m(x) for _ in range(3)]
        want_fold = m._fold_forward(x)
    assert all(torch.equal(o, want_fold) for o in outs)  # the fold path, bit for bit, every time
    with torch.inference_mode():
        assert torch.allclose(outs[0], ref(x), atol=1e-5)
