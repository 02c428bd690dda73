"""CPU stand-ins for MANet's and ATNet's CUDA-only code (backends/cpu_shims.py, backends/plumbing.py).

The pure-PyTorch correlation is checked against a naive loop written from the CUDA kernel's own
indexing (FlowNet2 ``correlation_cuda_kernel.cu``, ``correlation_forward``); the contexts must leave
torch exactly as they found it.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from backends import _checkout as ck
from backends import cpu_shims, plumbing
from backends.base import BackendError


def naive_correlation(in1, in2, pad_size, kernel_size, max_displacement, stride1, stride2):
    """The CUDA kernel, one output value at a time (kernel_size 1, as FlowNet2/ATNet use it)."""
    b, c, h, w = in1.shape
    p1 = np.pad(in1.numpy(), ((0, 0), (0, 0), (pad_size, pad_size), (pad_size, pad_size)))
    p2 = np.pad(in2.numpy(), ((0, 0), (0, 0), (pad_size, pad_size), (pad_size, pad_size)))
    border = (kernel_size - 1) // 2 + max_displacement
    out_h = int(np.ceil((h + 2 * pad_size - 2 * border) / stride1))
    out_w = int(np.ceil((w + 2 * pad_size - 2 * border) / stride1))
    rad = max_displacement // stride2
    size = 2 * rad + 1
    out = np.zeros((b, size * size, out_h, out_w), np.float32)
    for n in range(b):
        for oy in range(out_h):
            for ox in range(out_w):
                y1, x1 = oy * stride1 + max_displacement, ox * stride1 + max_displacement
                for tj in range(-rad, rad + 1):
                    for ti in range(-rad, rad + 1):
                        y2, x2 = y1 + tj * stride2, x1 + ti * stride2
                        acc = sum(float(p1[n, ch, y1, x1]) * float(p2[n, ch, y2, x2]) for ch in range(c))
                        out[n, (tj + rad) * size + (ti + rad), oy, ox] = acc / c
    return torch.from_numpy(out)


@pytest.mark.parametrize("args", [
    (8, 1, 8, 1, 2),   # ATNet's local affinity: pad 8, displacement 8, stride2 2 -> 81 channels
    (2, 1, 2, 1, 1),
    (4, 1, 4, 2, 2),
    (0, 1, 2, 1, 1),   # no padding: smaller output
    (3, 1, 2, 2, 1),
])
def test_correlation_matches_naive_loop(args):
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 3, 7, 9, generator=g), torch.randn(2, 3, 7, 9, generator=g)
    got = cpu_shims.correlation(a, b, *args)
    want = naive_correlation(a, b, *args)
    assert got.shape == want.shape == (2,) + cpu_shims.correlation_shape(7, 9, *args)
    assert torch.allclose(got, want, atol=1e-5)


def test_correlation_module_fills_the_checkouts_output_tensor():
    mod = cpu_shims.correlation_cuda_module()
    a = torch.randn(1, 4, 6, 5)
    out = a.new()  # the checkout's correlation.py hands an empty tensor to correlation_cuda.forward
    assert mod.forward(a, a, a.new(), a.new(), out, 2, 1, 2, 1, 1, 1) == 1
    assert out.shape == (1, 25, 6, 5) and torch.allclose(out[0, 12], (a * a).mean(1)[0])
    with pytest.raises(NotImplementedError):
        mod.backward()
    with pytest.raises(ValueError, match="kernel_size=1"):
        cpu_shims.correlation(a, a, 2, 3, 2, 1, 1)


def test_shim_contexts_restore_torch_and_sys_modules():
    before = (torch.Tensor.cuda, torch.nn.Module.cuda, torch.cuda.is_available, sys.modules.get("correlation_cuda"))
    shims = cpu_shims.CpuShims(pretend_cuda_on_import=True, correlation_op=True)
    with shims.importing():
        assert torch.cuda.is_available()
        import correlation_cuda

        assert "stand-in" in correlation_cuda.__doc__
        t = torch.zeros(2)
        assert t.cuda() is t and torch.nn.Linear(1, 1).cuda().weight.device.type == "cpu"
    with shims.running():
        assert torch.zeros(1).cuda().device.type == "cpu"
        assert torch.cuda.is_available() is before[2]()
    after = (torch.Tensor.cuda, torch.nn.Module.cuda, torch.cuda.is_available, sys.modules.get("correlation_cuda"))
    assert after == before
    none = cpu_shims.NO_SHIMS
    with none.importing(), none.running():
        assert torch.Tensor.cuda is before[0]
    assert not none.active and shims.active


def test_flags_and_notes(monkeypatch, tmp_path):
    monkeypatch.setattr(ck, "DEFAULT_CONFIG", tmp_path / "none.toml")
    monkeypatch.setenv("IVOSW_BACKENDS_CONFIG", "")
    for key in ("RANDOM_WEIGHTS", "CPU_SHIMS"):
        monkeypatch.delenv(f"IVOSW_MANET_{key}", raising=False)
    assert plumbing.notes("manet") is None and not plumbing.random_weights("manet")
    assert plumbing.shims("manet") is cpu_shims.NO_SHIMS
    monkeypatch.setenv("IVOSW_MANET_RANDOM_WEIGHTS", "yes")
    monkeypatch.setenv("IVOSW_MANET_CPU_SHIMS", "1")
    assert plumbing.random_weights("manet") and not plumbing.random_weights("manet", False)
    assert plumbing.shims("manet", pretend_cuda_on_import=True).pretend_cuda_on_import
    notes = plumbing.notes("manet")
    assert "random weights (IVOSW_MANET_RANDOM_WEIGHTS)" in notes and "IVOSW_MANET_CPU_SHIMS" in notes
    monkeypatch.setenv("IVOSW_MANET_RANDOM_WEIGHTS", "maybe")
    with pytest.raises(BackendError, match="random_weights .*IVOSW_MANET_RANDOM_WEIGHTS.* must be 1/true"):
        plumbing.random_weights("manet")


def test_seeded_draws_are_reproducible_and_leave_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    with plumbing.seeded(5):
        a = torch.nn.Linear(4, 4).weight.clone()
    with plumbing.seeded(5):
        b = torch.nn.Linear(4, 4).weight.clone()
    assert torch.equal(a, b) and torch.equal(torch.rand(1), expected)


def test_checkout_cuda_calls_follow_the_chosen_device():
    """MANet's and ATNet's bare .cuda() calls go to the current CUDA device: with device cuda:1 they
    landed on cuda:0 (and ATNet's ltm_transfer keeps a plain tensor attribute that .to() never moves)."""
    ctx = plumbing.on_device("cuda:1")
    assert isinstance(ctx, torch.cuda.device) and ctx.idx == 1  # not entered: no GPU here
    for plain in ("cuda", "cpu"):  # the current device: nothing to switch
        with plumbing.on_device(plain):
            pass
