# SPDX-License-Identifier: Apache-2.0
"""The copy methods the transfers part times (:data:`METHODS`), and their memory.

Each method makes a :class:`Plan` for one transfer size: a call that copies the
size host -> device, one that copies it back, where the copy back lands (to
check it) and how the copies are timed: with events on ``stream``, or until
``sync`` returns. :class:`SizeResources` holds the buffers every method of one
size shares; :class:`registered` page-locks an existing numpy array.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import render_results as names
from timing import Gpu, KiB, why

PAGE = 4 * KiB


# ---- host memory ---------------------------------------------------------- #
def page_aligned_empty(nbytes: int) -> np.ndarray:
    """A pageable uint8 array that starts on a page and shares no page with any
    other: ``cudaHostRegister`` of two arrays on one page would overlap."""
    block = np.empty(nbytes + (-nbytes) % PAGE + PAGE, np.uint8)
    offset = (-block.ctypes.data) % PAGE
    return block[offset : offset + nbytes]


def page_aligned_zeros(nbytes: int) -> np.ndarray:
    a = page_aligned_empty(nbytes)
    a.fill(0)
    return a


def make_pattern(nbytes: int) -> np.ndarray:
    """A pageable uint8 array holding a non-trivial, reproducible pattern."""
    a = page_aligned_empty(nbytes)
    words = a[: nbytes - nbytes % 8].view(np.uint64)
    words[:] = np.arange(words.size, dtype=np.uint64)
    words *= np.uint64(0x9E3779B97F4A7C15)  # wraps modulo 2**64: every byte varies
    a[words.nbytes :] = 0xA5
    return a


class registered:
    """``with registered(arr):`` page-locks an existing C-contiguous numpy array
    (``cudaHostRegister``) for the block. On exit it waits for the device
    (stream-ordered copies may still use the pages), then unregisters them."""

    def __init__(self, array: np.ndarray) -> None:
        if not isinstance(array, np.ndarray):
            kind = type(array).__name__
            raise TypeError(f"registered() needs a numpy.ndarray, got {kind}")
        if not array.flags.c_contiguous:
            got = f"strides {array.strides}"
            raise ValueError(f"registered() needs a C-contiguous array, got {got}")
        self.array, self.ptr = array, 0  # ptr: the registered address, inside

    def __enter__(self) -> np.ndarray:
        from cuda.bindings import runtime as cudart

        from cuda_python_common import check_cuda

        if self.array.nbytes:
            ptr, size = self.array.ctypes.data, self.array.nbytes
            flags = cudart.cudaHostRegisterDefault
            check_cuda(cudart.cudaHostRegister(ptr, size, flags), "cudaHostRegister")
            self.ptr = ptr
        return self.array

    def __exit__(self, *exc: object) -> None:
        from cuda.bindings import runtime as cudart

        from cuda_python_common import check_cuda

        if self.ptr:
            ptr, self.ptr = self.ptr, 0
            check_cuda(cudart.cudaDeviceSynchronize(), "cudaDeviceSynchronize")
            check_cuda(cudart.cudaHostUnregister(ptr), "cudaHostUnregister")


class SizeResources:
    """Buffers of one size, allocated on first use and freed by :meth:`close`:
    ``src`` (a pattern) and ``dst`` (zeros), pageable; ``pinned_src`` and
    ``pinned_dst``; ``dev``, a CudaBuffer; ``raw_dev``, a cudaMalloc pointer."""

    def __init__(self, gpu: Gpu, nbytes: int) -> None:
        self.gpu, self.nbytes = gpu, nbytes
        self.src, self.dst = make_pattern(nbytes), page_aligned_zeros(nbytes)
        self._dev: Any = None
        self._raw = 0
        self._pinned: dict[str, np.ndarray] = {}

    @property
    def dev(self) -> Any:
        if self._dev is None:
            self._dev = self.gpu.cu.CudaBuffer(self.nbytes, np.uint8)
        return self._dev

    @property
    def raw_dev(self) -> int:
        if not self._raw:
            malloc = self.gpu.cudart.cudaMalloc(self.nbytes)
            self._raw = self.gpu.check(malloc, "cudaMalloc")
        return self._raw

    @property
    def pinned_src(self) -> np.ndarray:
        return self._pinned_array("src", self.src)

    @property
    def pinned_dst(self) -> np.ndarray:
        return self._pinned_array("dst", None)

    def _pinned_array(self, key: str, fill: np.ndarray | None) -> np.ndarray:
        if key not in self._pinned:
            a = self.gpu.cu.pinned_empty(self.nbytes, np.uint8)
            if fill is not None:
                a[:] = fill
            self._pinned[key] = a
        return self._pinned[key]

    def close(self) -> list[str]:
        """Free everything; returns the errors met (none expected)."""
        gpu, steps = self.gpu, [self.gpu.sync_device]
        if self._dev is not None:
            steps.append(self._dev.close)
        if self._raw:
            ptr, self._raw = self._raw, 0
            steps.append(lambda: gpu.check(gpu.cudart.cudaFree(ptr), "cudaFree"))
        errors = []
        for step in steps:
            try:
                step()
            except Exception as exc:
                errors.append(why(exc))
        self._dev, self._pinned = None, {}  # pinned arrays: freed when collected
        self.src = self.dst = None  # type: ignore[assignment]
        gc.collect()
        return errors


# ---- the plans ------------------------------------------------------------- #
@dataclass
class Plan:
    """One method at one size: how to copy each way, where d2h lands, clean-up."""

    h2d: Callable[[], None]
    d2h: Callable[[], None]
    output: Callable[[], Any]  # the host array the last d2h wrote
    reset_output: Callable[[], None]
    stream: Any = None  # set: timed with events on this stream
    sync: Callable[[], None] | None = None  # wallclock: how to wait (default: device)
    cleanup: Callable[[], None] = lambda: None


def _into(dst: Any, h2d: Callable, d2h: Callable, **kw: Any) -> Plan:
    """A Plan whose copy back lands in the host array ``dst``."""
    return Plan(h2d, d2h, output=lambda: dst, reset_output=lambda: dst.fill(0), **kw)


def raw_copies(gpu: Gpu, res: SizeResources, src: Any, dst: Any, stream: Any) -> Plan:
    """cudaMemcpy (``stream`` None) or cudaMemcpyAsync on ``stream``, between
    the host arrays and the cudaMalloc pointer."""
    cudart, check, n, dev = gpu.cudart, gpu.check, res.nbytes, res.raw_dev
    s, d = src.ctypes.data, dst.ctypes.data

    def copy(to: int, frm: int, kind: Any) -> None:
        if stream is None:
            check(cudart.cudaMemcpy(to, frm, n, kind), "cudaMemcpy")
        else:
            check(cudart.cudaMemcpyAsync(to, frm, n, kind, stream), "cudaMemcpyAsync")

    h2d, d2h = lambda: copy(dev, s, gpu.H2D), lambda: copy(d, dev, gpu.D2H)
    return _into(dst, h2d, d2h, stream=stream)


def helper_copies(
    gpu: Gpu, res: SizeResources, src: Any, dst: Any, stream: Any, **kw: Any
) -> Plan:
    """cuda_memcpy_h2d / cuda_memcpy_d2h between the host arrays and the
    CudaBuffer, blocking (``stream`` None) or with ``stream=``."""
    cu, dev, on = gpu.cu, res.dev, {} if stream is None else {"stream": stream}
    h2d = lambda: cu.cuda_memcpy_h2d(src, dev, **on)  # noqa: E731
    d2h = lambda: cu.cuda_memcpy_d2h(dev, dst, **on)  # noqa: E731
    return _into(dst, h2d, d2h, stream=stream, **kw)


def _registered(gpu: Gpu, res: SizeResources) -> Plan:
    stack = contextlib.ExitStack()
    try:
        stack.enter_context(registered(res.src))  # for as long as the Plan lives
        stack.enter_context(registered(res.dst))
    except BaseException:
        stack.close()
        raise
    return helper_copies(gpu, res, res.src, res.dst, gpu.stream, cleanup=stack.close)


def _framework_plan(free: Callable[[], None], held: dict, **kw: Any) -> Plan:
    """A CuPy or PyTorch Plan: its objects live in ``held`` until the clean-up,
    which drops them and hands the framework's cached memory back."""

    def cleanup() -> None:
        if "stream" in held:
            held["stream"].synchronize()
        held.clear()
        free()

    return Plan(cleanup=cleanup, **kw)


def _cupy_pageable(gpu: Gpu, res: SizeResources) -> Plan:
    cp, src, held = gpu.cupy, res.src, {}

    def h2d() -> None:
        held["d"] = cp.asarray(src)

    def d2h() -> None:
        held["out"] = cp.asnumpy(held["d"])

    return _framework_plan(
        gpu.free_cupy, held, h2d=h2d, d2h=d2h,
        output=lambda: held.get("out"), reset_output=lambda: held.pop("out", None),
    )  # fmt: skip


def _cupy_pinned(gpu: Gpu, res: SizeResources) -> Plan:
    import cupyx

    cp, n = gpu.cupy, res.nbytes
    held: dict[str, Any] = {}  # the closures look buffers up here
    try:
        held["stream"] = stream = cp.cuda.Stream(non_blocking=True)
        held["src"] = cupyx.empty_pinned((n,), dtype=np.uint8)
        held["src"][...] = res.src
        held["dst"] = cupyx.empty_pinned((n,), dtype=np.uint8)
        held["dev"] = cp.empty((n,), dtype=cp.uint8)
        get_kw: dict[str, Any] = {"blocking": False}  # the end event waits
        try:
            held["dev"].get(stream=stream, out=held["dst"], **get_kw)
        except TypeError:  # a CuPy without the blocking= keyword
            get_kw = {}
        stream.synchronize()
    except BaseException:
        held.clear()
        gpu.free_cupy()
        raise

    def h2d() -> None:
        held["dev"].set(held["src"], stream=held["stream"])

    def d2h() -> None:
        held["dev"].get(stream=held["stream"], out=held["dst"], **get_kw)

    return _framework_plan(
        gpu.free_cupy, held, h2d=h2d, d2h=d2h, stream=int(stream.ptr),
        output=lambda: held["dst"], reset_output=lambda: held["dst"].fill(0),
    )  # fmt: skip


def _torch_pageable(gpu: Gpu, res: SizeResources) -> Plan:
    torch, src, held = gpu.torch, res.src, {}

    def h2d() -> None:
        held["d"] = torch.from_numpy(src).to("cuda")

    def d2h() -> None:
        held["out"] = held["d"].cpu()

    def output() -> Any:
        return None if "out" not in held else held["out"].numpy()

    return _framework_plan(
        gpu.free_torch, held, h2d=h2d, d2h=d2h,
        output=output, reset_output=lambda: held.pop("out", None),
    )  # fmt: skip


def _torch_pinned(gpu: Gpu, res: SizeResources) -> Plan:
    torch, held = gpu.torch, {}
    previous = torch.cuda.current_stream()

    def free() -> None:
        torch.cuda.set_stream(previous)
        gpu.free_torch()

    try:  # torch's current stream: the benchmark's, where events time the copies
        held["stream"] = on = torch.cuda.ExternalStream(int(gpu.stream))
        torch.cuda.set_stream(on)
        held["src"] = torch.from_numpy(res.src).pin_memory()
        held["dst"] = torch.empty(res.nbytes, dtype=torch.uint8).pin_memory()
    except BaseException:
        held.clear()
        free()
        raise

    def h2d() -> None:
        held["d"] = held["src"].to("cuda", non_blocking=True)

    def d2h() -> None:
        held["dst"].copy_(held["d"], non_blocking=True)

    return _framework_plan(
        free, held, h2d=h2d, d2h=d2h, stream=gpu.stream,
        output=lambda: held["dst"].numpy(), reset_output=lambda: held["dst"].zero_(),
    )  # fmt: skip


def _core_pinned(gpu: Gpu, res: SizeResources) -> Plan:
    core, n, stream = gpu.core, res.nbytes, gpu.core_stream
    src, dst = res.pinned_src, res.pinned_dst
    # Non-owning views: the arrays and the cudaMalloc pointer own the memory.
    device = core.Buffer.from_handle(res.raw_dev, n)
    host_src = core.Buffer.from_handle(src.ctypes.data, n)
    host_dst = core.Buffer.from_handle(dst.ctypes.data, n)
    h2d = lambda: device.copy_from(host_src, stream=stream)  # noqa: E731
    d2h = lambda: host_dst.copy_from(device, stream=stream)  # noqa: E731
    return _into(dst, h2d, d2h, stream=gpu.stream)  # the same stream: events time it


# ---- the table ------------------------------------------------------------- #
@dataclass(frozen=True)
class MethodSpec:
    name: str
    timer: str  # "wallclock" or "events": how its copies are timed
    description: str
    build: Callable[[Gpu, SizeResources], Plan]
    requires: str | None = None  # "cupy" / "torch" / "core": a Gpu attribute


METHODS = (
    MethodSpec(
        names.RAW_PAGEABLE, "wallclock",
        "cudart.cudaMemcpy between a numpy array's .ctypes.data and a cudaMalloc "
        "pointer",
        lambda gpu, r: raw_copies(gpu, r, r.src, r.dst, None),
    ),
    MethodSpec(
        names.HELPERS_PAGEABLE, "wallclock",
        "cuda_memcpy_h2d / cuda_memcpy_d2h with a numpy array and a CudaBuffer "
        "(Approach 1/2 path)",
        lambda gpu, r: helper_copies(gpu, r, r.src, r.dst, None),
    ),
    MethodSpec(
        names.HELPERS_PINNED, "events",
        "pinned_empty host arrays, cuda_memcpy_h2d / cuda_memcpy_d2h with stream= "
        "a cudaStreamNonBlocking stream",
        lambda gpu, r: helper_copies(gpu, r, r.pinned_src, r.pinned_dst, gpu.stream),
    ),
    MethodSpec(
        names.RAW_PINNED, "events",
        "cudart.cudaMemcpyAsync on the same pinned host memory and stream",
        lambda gpu, r: raw_copies(gpu, r, r.pinned_src, r.pinned_dst, gpu.stream),
    ),
    MethodSpec(
        names.REGISTERED, "events",
        "numpy arrays page-locked with `with registered(arr):`, then the helpers "
        "with stream=",
        _registered,
    ),
    MethodSpec(
        names.CUPY_PAGEABLE, "wallclock",
        "cupy.asarray(numpy_array) and cupy.asnumpy(device_array) (a new array "
        "each call)",
        _cupy_pageable, "cupy",
    ),
    MethodSpec(
        names.CUPY_PINNED, "events",
        "cupyx.empty_pinned host arrays, cupy.ndarray.set(..., stream=) / "
        ".get(stream=, out=) on a non-blocking cupy stream",
        _cupy_pinned, "cupy",
    ),
    MethodSpec(
        names.TORCH_PAGEABLE, "wallclock",
        "torch.from_numpy(x).to('cuda') and tensor.cpu() (a new tensor each call)",
        _torch_pageable, "torch",
    ),
    MethodSpec(
        names.TORCH_PINNED, "events",
        "pinned = torch.from_numpy(x).pin_memory() once; pinned.to('cuda', "
        "non_blocking=True) and pinned_out.copy_(d, non_blocking=True), torch's "
        "current stream set to the benchmark's stream (torch.cuda.ExternalStream)",
        _torch_pinned, "torch",
    ),
    MethodSpec(
        names.CORE_PINNED, "events",
        "cuda.core Buffer.from_handle views of the pinned host arrays and the "
        "device buffer, Buffer.copy_from(..., stream=) on the same stream (the "
        "cuda.core sample's path)",
        _core_pinned, "core",
    ),
)  # fmt: skip
