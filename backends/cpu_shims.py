"""CPU stand-ins for the CUDA-only parts of the MANet and ATNet checkouts (tests and plumbing checks).

MANet and ATNet call CUDA unconditionally: MANet's ``config.py`` raises at import without CUDA and
``networks/IntVOS.py`` calls ``.cuda()`` on index tensors; ATNet imports FlowNet2's compiled
``correlation_cuda`` extension and ``networks/ltm_transfer.py`` calls ``.cuda()``. To run the *real*
upstream code on a machine without a GPU (randomly initialised, for tests and for checking the
plumbing), this module provides, without touching the checkout:

* :func:`correlation`: FlowNet2's correlation op in pure PyTorch, same arguments and output as the
  CUDA kernel (``tests/test_cpu_shims.py`` checks it against a naive loop);
* :func:`correlation_cuda_module`: a stand-in for the compiled ``correlation_cuda`` module whose
  ``forward`` fills the checkout's output tensor with :func:`correlation`;
* :class:`CpuShims`: contexts that, only while they are active, make ``Tensor.cuda()`` /
  ``Module.cuda()`` keep tensors on the CPU, pretend CUDA is present while a checkout is imported
  (MANet's config check) and put the correlation stand-in in ``sys.modules``.

Nothing here is active unless asked for: an adapter uses :class:`CpuShims` only when its
``cpu_shims`` setting is on (constructor option or ``IVOSW_<METHOD>_CPU_SHIMS=1``), which also runs
it on the CPU; otherwise it gets :data:`NO_SHIMS` and the checkout runs exactly as its authors wrote
it, on CUDA. The ``.cuda()`` redirection is process-wide while active (single-threaded use).
"""
from __future__ import annotations

import contextlib
import math
import sys
import types
from typing import Iterator



# ------------------------------------------------------------------------------------- correlation
def correlation_shape(height: int, width: int, pad_size: int, kernel_size: int, max_displacement: int,
                      stride1: int, stride2: int) -> tuple[int, int, int]:
    """(channels, height, width) of the correlation output, as the CUDA op computes them."""
    border = (kernel_size - 1) // 2 + max_displacement
    out_h = math.ceil((height + 2 * pad_size - 2 * border) / stride1)
    out_w = math.ceil((width + 2 * pad_size - 2 * border) / stride1)
    side = (max_displacement // stride2) * 2 + 1
    return side * side, out_h, out_w


def correlation(input1, input2, pad_size: int = 0, kernel_size: int = 1, max_displacement: int = 0,
                stride1: int = 1, stride2: int = 2, corr_multiply: int = 1):
    """FlowNet2 correlation (``correlation_cuda.forward``) in pure PyTorch.

    Both inputs ``[B, C, H, W]`` are zero-padded by ``pad_size``; output channel
    ``(tj + r) * (2r + 1) + (ti + r)`` (``r = max_displacement // stride2``) at output pixel (y, x) is
    ``sum_c in1[c, y1, x1] * in2[c, y1 + tj * stride2, x1 + ti * stride2] / C`` with
    ``(y1, x1) = (y, x) * stride1 + max_displacement`` in padded coordinates. ``corr_multiply`` is
    unused by the CUDA forward as well. Only ``kernel_size=1`` (what FlowNet2, ATNet and MANet use):
    the CUDA kernel centres its window at ``max_displacement`` and reads outside the padded input
    for larger kernels.
    """
    import torch.nn.functional as F

    if kernel_size != 1:
        raise ValueError(f"only kernel_size=1 is emulated (got {kernel_size})")
    b, c, h, w = input1.shape
    n_out, out_h, out_w = correlation_shape(h, w, pad_size, kernel_size, max_displacement, stride1, stride2)
    if out_h <= 0 or out_w <= 0:
        raise ValueError(f"correlation of {h}x{w} inputs with pad {pad_size} and displacement "
                         f"{max_displacement} has no output pixel")
    p1 = F.pad(input1, [pad_size] * 4)
    p2 = F.pad(input2, [pad_size] * 4)
    span_y, span_x = (out_h - 1) * stride1 + 1, (out_w - 1) * stride1 + 1

    def window(p, y0, x0):
        return p[:, :, y0:y0 + span_y:stride1, x0:x0 + span_x:stride1].float()

    md, rad = max_displacement, max_displacement // stride2
    ref = window(p1, md, md)
    out = input1.new_empty((b, n_out, out_h, out_w))
    for tj in range(-rad, rad + 1):
        for ti in range(-rad, rad + 1):
            moved = window(p2, md + tj * stride2, md + ti * stride2)
            out[:, (tj + rad) * (2 * rad + 1) + (ti + rad)] = ((ref * moved).sum(1) / c).to(out.dtype)
    return out


def correlation_cuda_module() -> types.ModuleType:
    """A module that stands in for FlowNet2's compiled ``correlation_cuda`` (forward only)."""
    mod = types.ModuleType("correlation_cuda")
    mod.__doc__ = "ivosw-bench CPU stand-in for correlation_cuda (backends/cpu_shims.py)"

    def forward(input1, input2, rinput1, rinput2, output, pad_size, kernel_size, max_displacement,
                stride1, stride2, corr_multiply):
        result = correlation(input1, input2, pad_size, kernel_size, max_displacement, stride1, stride2,
                             corr_multiply)
        output.resize_(result.shape).copy_(result)
        return 1

    def backward(*args, **kwargs):
        raise NotImplementedError("the CPU stand-in of correlation_cuda is for inference only")

    mod.forward, mod.backward = forward, backward
    return mod


# ------------------------------------------------------------------------------------- contexts
def _stay_on_cpu(self, *args, **kwargs):
    return self


@contextlib.contextmanager
def cuda_calls_stay_on_cpu() -> Iterator[None]:
    """While active, ``Tensor.cuda()`` and ``Module.cuda()`` return the object unchanged (CPU)."""
    import torch

    saved = (torch.Tensor.cuda, torch.nn.Module.cuda)
    torch.Tensor.cuda, torch.nn.Module.cuda = _stay_on_cpu, _stay_on_cpu
    try:
        yield
    finally:
        torch.Tensor.cuda, torch.nn.Module.cuda = saved


@contextlib.contextmanager
def cuda_reported_available() -> Iterator[None]:
    """While active, ``torch.cuda.is_available()`` is True (for import-time checks such as MANet's
    ``config.py``; nothing must actually use CUDA meanwhile)."""
    import torch

    saved = torch.cuda.is_available
    torch.cuda.is_available = lambda: True
    try:
        yield
    finally:
        torch.cuda.is_available = saved


@contextlib.contextmanager
def correlation_stand_in() -> Iterator[None]:
    """While active, ``import correlation_cuda`` gives :func:`correlation_cuda_module`."""
    saved = sys.modules.get("correlation_cuda")
    sys.modules["correlation_cuda"] = correlation_cuda_module()
    try:
        yield
    finally:
        if saved is None:
            sys.modules.pop("correlation_cuda", None)
        else:
            sys.modules["correlation_cuda"] = saved


class NoShims:
    """The default: the checkout runs as written (CUDA)."""

    active = False

    def importing(self):
        return contextlib.nullcontext()

    def running(self):
        return contextlib.nullcontext()


class CpuShims(NoShims):
    """CPU stand-ins around a checkout's import (``importing``) and its calls (``running``)."""

    active = True

    def __init__(self, pretend_cuda_on_import: bool = False, correlation_op: bool = False):
        self.pretend_cuda_on_import = pretend_cuda_on_import
        self.correlation_op = correlation_op

    @contextlib.contextmanager
    def importing(self):
        with contextlib.ExitStack() as stack:
            stack.enter_context(cuda_calls_stay_on_cpu())
            if self.pretend_cuda_on_import:
                stack.enter_context(cuda_reported_available())
            if self.correlation_op:
                stack.enter_context(correlation_stand_in())
            yield

    def running(self):
        return cuda_calls_stay_on_cpu()


NO_SHIMS = NoShims()

