# SPDX-License-Identifier: Apache-2.0
"""The helpers the CUDA Python samples share: read it top to bottom, copy it whole.

:class:`CudaBuffer` is GPU memory that CV-CUDA, PyTorch and CuPy read without a
copy; the copy helpers move numpy arrays in and out, checked before they run;
the stream helpers say who waits for whom. cuda.core reads other libraries' memory.
"""

from __future__ import annotations

import ctypes
import math
import sys
import weakref
from typing import Any

import numpy as np
from cuda.bindings import runtime as cudart
from cuda.core.utils import StridedMemoryView

#: Copies take their direction from the pointers: pinned or device memory, any side.
DEFAULT = cudart.cudaMemcpyKind.cudaMemcpyDefault
SUCCESS = cudart.cudaError_t.cudaSuccess
#: None, an int handle, or a stream: cuda.bindings, cuda.core or CV-CUDA's.
StreamLike = Any


class CudaError(RuntimeError):
    """A CUDA call failed: ``call`` names it, ``name`` the error, ``code`` its value."""

    def __init__(self, code: cudart.cudaError_t, call: str) -> None:
        self.code, self.call, self.name = code, call, code.name
        text = cudart.cudaGetErrorString(code)[1].decode()
        super().__init__(f"{call} failed: {self.name}: {text}")


def check_cuda(result: tuple, call: str = "CUDA call") -> Any:
    """What a ``cuda.bindings`` call returned after its error code (None, the value,
    or a tuple of values); a :class:`CudaError` unless it is ``cudaSuccess``."""
    if result[0] != SUCCESS:
        raise CudaError(result[0], call)
    if len(result) == 1:
        return None
    return result[1] if len(result) == 2 else result[1:]


class CudaBuffer:
    """Device memory that other libraries read without a copy. ``CudaBuffer(shape,
    dtype)`` allocates with ``cudaMalloc`` and frees the memory once: on
    :meth:`close`, at the end of a ``with`` block, or when it is collected.
    :meth:`from_cuda` and :meth:`from_dlpack` wrap another library's memory, and
    keep its owner alive."""

    def __init__(self, shape: int | tuple[int, ...], dtype: Any = np.uint8) -> None:
        shape, dtype = checked_layout(shape, dtype, "CudaBuffer")
        nbytes = math.prod(shape) * dtype.itemsize
        ptr = check_cuda(cudart.cudaMalloc(nbytes), "cudaMalloc") if nbytes else 0
        self._become(ptr, shape, dtype, owner=None)
        if ptr:  # runs once: on close(), when the buffer is collected, or at exit
            self._free = weakref.finalize(self, cudart.cudaFree, ptr)

    @classmethod
    def from_cuda(cls, obj: Any, *, stream: StreamLike = None) -> CudaBuffer:
        """Wrap the memory of ``obj``, which has ``__cuda_array_interface__`` v3
        (a CV-CUDA tensor's ``.cuda()``, a CuPy array). Work you enqueue on
        ``stream`` (None: the legacy default stream, where blocking copies
        run) is ordered after the work ``obj`` still has pending."""
        return wrap(obj, stream, "CudaBuffer.from_cuda", dlpack=False)

    @classmethod
    def from_dlpack(cls, obj: Any, *, stream: StreamLike = None) -> CudaBuffer:
        """Wrap a DLPack producer (PyTorch, CuPy, JAX, cuda.core), which orders
        its pending work before ``stream``, as DLPack asks."""
        return wrap(obj, stream, "CudaBuffer.from_dlpack", dlpack=True)

    def _become(self, ptr: int, shape: tuple, dtype: np.dtype, owner: Any) -> None:
        self.ptr, self.shape, self.dtype = ptr, shape, dtype
        self.nbytes = math.prod(shape) * dtype.itemsize
        self.strides: tuple[int, ...] | None = None  # bytes; None: C-contiguous
        self.readonly, self._owner, self._free, self._closed = False, owner, None, False
        self._base = owner._base if isinstance(owner, CudaBuffer) else self
        self._stream: int | None = None  # only the one on _base counts

    @property
    def stream(self) -> int | None:
        """The stream whose work may still use the memory (None: none). The
        interface exports it; crops and wrappers of one buffer share it."""
        return self._base._stream

    @stream.setter
    def stream(self, stream: StreamLike) -> None:
        self._base._stream = stream_handle(stream)

    @property
    def __cuda_array_interface__(self) -> dict[str, Any]:
        self.check_open()
        return {
            "version": 3,
            "shape": self.shape,
            "typestr": self.dtype.str,
            "data": (self.ptr, self.readonly),
            "strides": self.strides,
            "stream": self.stream,  # what a consumer must wait for first
        }

    def __dlpack__(self, *, stream: int | None = None, **options: Any) -> Any:
        """The memory as a DLPack capsule. ``stream`` is the consumer's (None:
        the legacy default stream; -1: no ordering)."""
        self.check_open()
        device = options.get("dl_device")  # None: where the memory is
        if options.get("copy") or (device and device != self.__dlpack_device__()):
            raise BufferError("a CudaBuffer only lends its memory: no copy or move")
        if stream != -1 and self.stream not in (None, stream_handle(stream)):
            order_after(stream, self.stream)
        view = StridedMemoryView.from_cuda_array_interface(self, stream_ptr=-1)
        return view.__dlpack__(stream=-1, max_version=options.get("max_version"))

    def __dlpack_device__(self) -> tuple[int, int]:
        where = cudart.cudaPointerGetAttributes(self.ptr)
        where = check_cuda(where, "cudaPointerGetAttributes")  # pinned 3, managed 13
        return {1: 3, 3: 13}.get(int(where.type), 2), int(where.device)

    def crop(self, top: int, left: int, height: int, width: int) -> CudaBuffer:
        """A window on rows ``top:top+height``, columns ``left:left+width`` of an
        image laid out (rows, columns, ...), without a copy. It keeps this
        buffer alive, and the row pitch in ``strides``."""
        self.check_open()
        window = (top, left, height, width)
        if not all(is_int(n) and n >= 0 for n in window) or len(self.shape) < 2:
            raise ValueError(f"crop{window}: 4 ints >= 0, on 2 or more dimensions")
        if top + height > self.shape[0] or left + width > self.shape[1]:
            raise ValueError(f"crop{window} is outside shape {self.shape}")
        size, shape = self.dtype.itemsize, self.shape
        packed = tuple(size * math.prod(shape[i + 1 :]) for i in range(len(shape)))
        strides = self.strides or packed
        view = CudaBuffer.__new__(CudaBuffer)
        ptr = self.ptr + top * strides[0] + left * strides[1]
        view._become(ptr, (height, width, *shape[2:]), self.dtype, owner=self)
        view.strides, view.readonly = strides, self.readonly
        return view

    @property
    def closed(self) -> bool:
        return self._closed or self._base._closed

    def check_open(self) -> None:
        if self.closed:
            raise ValueError(f"{self!r} is closed: its memory may belong to another")

    def close(self) -> None:
        """Free owned memory now, or let go of the owner; a second call does
        nothing. Drop the CV-CUDA tensors that view the memory first."""
        freed = not self._closed and self._free and self._free()  # None: ran
        self._closed, self._owner = True, None
        if freed:
            check_cuda(freed, "cudaFree")

    def __enter__(self) -> CudaBuffer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed " if self.closed else ""
        return f"<{state}CudaBuffer shape={self.shape} dtype={self.dtype}>"


def wrap(obj: Any, stream: StreamLike, what: str, *, dlpack: bool) -> CudaBuffer:
    """A CudaBuffer on another library's memory, read by cuda.core, which
    orders ``stream`` after the producer's pending work. What it refuses, or
    lets through (a null pointer for a non-empty array), is one ValueError."""
    handle, name = stream_handle(stream), type(obj).__name__
    protocol = "__dlpack__" if dlpack else "__cuda_array_interface__"
    if not hasattr(obj, protocol):
        raise TypeError(f"{what} needs an object with {protocol}, got {name}")
    if dlpack and obj.__dlpack_device__()[0] == 1:  # DLPack's kDLCPU
        raise ValueError(f"{what}: {name} is in host memory: use cuda_memcpy_h2d")
    cai = None if dlpack else obj.__cuda_array_interface__  # may refuse itself
    try:
        if cai and not cai["data"][0] and math.prod(cai["shape"]):
            raise ValueError("a null pointer for a non-empty array")
        if dlpack:
            view = StridedMemoryView.from_dlpack(obj, stream_ptr=handle)
        else:
            view = StridedMemoryView.from_cuda_array_interface(obj, stream_ptr=handle)
        shape, strides, size = tuple(view.shape), view.strides, view.dtype.itemsize
    except Exception as problem:  # KeyError, CUDA_ERROR_INVALID_VALUE, no driver
        message = f"{what}: cannot read {name}'s {protocol}: {problem!r}"
        raise ValueError(message) from None
    buffer = CudaBuffer.__new__(CudaBuffer)
    buffer._become(view.ptr, shape, view.dtype, owner=view if dlpack else obj)
    buffer.strides = strides and tuple(s * size for s in strides)  # items -> bytes
    buffer.readonly, buffer.stream = view.readonly, handle
    return buffer


def cuda_memcpy_h2d(
    host: np.ndarray, device: Any, *, stream: StreamLike = None
) -> None:
    """Copy a C-contiguous numpy array into device memory of its dtype and size:
    a :class:`CudaBuffer`, or anything with ``__cuda_array_interface__`` v3
    (``tensor.cuda()``), rows padded or not. ``stream=None`` blocks; a stream
    gets the copy enqueued, asynchronous from pinned memory (:func:`pinned_empty`).
    """
    handle = stream_handle(stream)
    target = checked_sides(host, device, handle, "cuda_memcpy_h2d", to_host=False)
    if host.nbytes:
        height, width, pitch = pitched_rows(target)
        dst, src = target.ptr, host  # cuda.bindings takes an array's address
        if pitch == width and stream is None:  # packed rows: one run of bytes
            done = cudart.cudaMemcpy(dst, src, width * height, DEFAULT)
        elif pitch == width:
            done = cudart.cudaMemcpyAsync(dst, src, width * height, DEFAULT, handle)
        elif stream is None:  # padded rows: one 2-D copy, row by row
            done = cudart.cudaMemcpy2D(dst, pitch, src, width, width, height, DEFAULT)
        else:
            done = cudart.cudaMemcpy2DAsync(
                dst, pitch, src, width, width, height, DEFAULT, handle
            )
        check_cuda(done, "cudaMemcpy")
    after_copy(device, handle)


def cuda_memcpy_d2h(
    device: Any, host: np.ndarray, *, stream: StreamLike = None
) -> None:
    """Copy device memory into a writable, C-contiguous numpy array of its dtype
    and size; ``device`` and ``stream`` as for :func:`cuda_memcpy_h2d`. It waits,
    on the GPU, for the work that the device side's interface names as pending.
    """
    handle = stream_handle(stream)
    source = checked_sides(host, device, handle, "cuda_memcpy_d2h", to_host=True)
    if host.nbytes:
        height, width, pitch = pitched_rows(source)
        dst, src = host, source.ptr  # cuda.bindings takes an array's address
        if pitch == width and stream is None:  # packed rows: one run of bytes
            done = cudart.cudaMemcpy(dst, src, width * height, DEFAULT)
        elif pitch == width:
            done = cudart.cudaMemcpyAsync(dst, src, width * height, DEFAULT, handle)
        elif stream is None:  # padded rows: one 2-D copy, row by row
            done = cudart.cudaMemcpy2D(dst, width, src, pitch, width, height, DEFAULT)
        else:
            done = cudart.cudaMemcpy2DAsync(
                dst, width, src, pitch, width, height, DEFAULT, handle
            )
        check_cuda(done, "cudaMemcpy")
    after_copy(device, handle)


def checked_sides(
    host: Any, device: Any, stream: int, what: str, *, to_host: bool
) -> CudaBuffer:
    """Check both sides of a copy before it runs. Returns the device side as a
    CudaBuffer, with ``stream`` ordered after the work that may still use it."""
    if not isinstance(host, np.ndarray):
        kind = type(host).__name__
        raise TypeError(f"{what}: the host array must be a numpy.ndarray, not {kind}")
    flags = host.flags
    if not flags.c_contiguous:
        layout = f"shape {host.shape}, strides {host.strides}"
        raise ValueError(f"{what}: the host array is not C-contiguous ({layout})")
    if not isinstance(device, CudaBuffer):
        device = wrap(device, stream, what, dlpack=False)  # ordered by cuda.core
    device.check_open()
    if not flags.writeable if to_host else device.readonly:
        written = "the host array" if to_host else repr(device)
        raise ValueError(f"{what}: {written} is read-only")
    if host.nbytes != device.nbytes:
        sizes = f"{host.nbytes} bytes {host.shape} against {device.nbytes}"
        raise ValueError(f"{what}: size mismatch: host array {sizes} in {device!r}")
    if host.dtype != device.dtype:
        raise TypeError(f"{what}: dtype mismatch: host array {host.dtype}, {device!r}")
    if device.stream not in (None, stream):  # earlier work may still use it
        order_after(stream, device.stream)
    return device


def after_copy(device: Any, stream: int) -> None:
    """Make the memory's next user wait for the copy just enqueued on ``stream``.
    A CudaBuffer exports the stream. Memory another library owns names its own
    stream, which waits for ours; or none, and then the copy finishes now."""
    if isinstance(device, CudaBuffer):
        device._base._stream = stream  # a handle already: no need to convert it
        return
    owner_stream = device.__cuda_array_interface__.get("stream")
    if owner_stream is None:
        check_cuda(cudart.cudaStreamSynchronize(stream), "cudaStreamSynchronize")
    elif owner_stream != stream:
        order_after(owner_stream, stream)


def pitched_rows(device: CudaBuffer) -> tuple[int, int, int]:
    """The memory as ``(height, width, pitch)``: rows of ``width`` bytes,
    ``pitch`` bytes apart; a ValueError where one 2-D copy cannot say it."""
    if device.strides is None:
        return 1, device.nbytes, device.nbytes
    dims = [d for d in zip(device.shape, device.strides, strict=True) if d[0] != 1]
    width = device.dtype.itemsize
    while dims and dims[-1][1] == width:  # packed inner dimensions make a row
        width *= dims.pop()[0]
    height, pitch = 1, dims[-1][1] if dims else width
    for extent, stride in reversed(dims):  # the rest must step over whole rows
        if stride != height * pitch or pitch < width:
            raise ValueError(f"{device!r}: strides {device.strides} are not rows")
        height *= extent
    return height, width, pitch


def checked_layout(shape: Any, dtype: Any, what: str) -> tuple[tuple, np.dtype]:
    """The shape and dtype of a new allocation, checked before allocating."""
    shape = (shape,) if is_int(shape) else shape
    if not isinstance(shape, (tuple, list)) or not all(map(is_int, shape)):
        raise TypeError(f"{what}: shape must be an int or ints, got {shape!r}")
    if min(shape, default=0) < 0:
        raise ValueError(f"{what}: shape must not be negative, got {tuple(shape)}")
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{what}: {dtype!r} is not a numpy dtype") from None
    if dtype.kind not in "biufc" or dtype.fields or dtype.subdtype:
        raise ValueError(f"{what}: dtype {dtype} is not a plain number type")
    return tuple(int(n) for n in shape), dtype


def is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def pinned_empty(shape: int | tuple[int, ...], dtype: Any = np.uint8) -> np.ndarray:
    """A numpy array in page-locked (pinned) host memory, from ``cudaMallocHost``.

    The GPU's copy engines read pinned memory directly, so copies to and from it
    on a stream are asynchronous. ``cudaFreeHost`` runs once the array and every
    view of it are collected. Uninitialised, like ``numpy.empty``.
    """
    shape, dtype = checked_layout(shape, dtype, "pinned_empty")
    nbytes = math.prod(shape) * dtype.itemsize
    if not nbytes:  # nothing to pin
        return np.empty(shape, dtype)
    ptr = check_cuda(cudart.cudaMallocHost(nbytes), "cudaMallocHost")
    memory = (ctypes.c_byte * nbytes).from_address(ptr)
    weakref.finalize(memory, cudart.cudaFreeHost, ptr)  # numpy keeps `memory`
    return np.frombuffer(memory, dtype).reshape(shape)


def stream_handle(stream: StreamLike) -> int:
    """The int handle of any stream, by one rule: None, 0 and 1 all name the
    legacy default stream, and become 1 (CAI v3 forbids 0 as ambiguous; DLPack
    reads None as the legacy default stream)."""
    if hasattr(stream, "__cuda_stream__"):  # cuda.core and cuda.bindings streams
        stream = stream.__cuda_stream__()[1]
    elif hasattr(stream, "handle"):  # cvcuda.Stream
        stream = stream.handle
    if stream is not None and not is_int(stream):
        kind = type(stream).__name__
        raise TypeError(f"expected a CUDA stream or its int handle, got {kind}")
    if not 0 <= (stream or 0) < 2**64:
        raise ValueError(f"a stream handle is a 64-bit unsigned int, got {stream}")
    return int(stream or 1)  # 1: the legacy default stream


def new_event() -> cudart.cudaEvent_t:
    """An event to order streams (no timing: cheaper); ``cudaEventDestroy`` it."""
    flags = cudart.cudaEventDisableTiming
    return check_cuda(cudart.cudaEventCreateWithFlags(flags), "cudaEventCreate")


def record_event(event: cudart.cudaEvent_t, stream: StreamLike) -> None:
    """Mark the work enqueued on ``stream`` so far; waits for ``event`` wait for it."""
    check_cuda(cudart.cudaEventRecord(event, stream_handle(stream)), "cudaEventRecord")


def wait_event(stream: StreamLike, event: cudart.cudaEvent_t) -> None:
    """Make ``stream``'s later work wait, on the GPU, for ``event``'s last record."""
    handle = stream_handle(stream)
    check_cuda(cudart.cudaStreamWaitEvent(handle, event, 0), "cudaStreamWaitEvent")


def order_after(waiter: StreamLike, signaller: StreamLike) -> None:
    """Make ``waiter``'s later work wait, on the GPU, for ``signaller``'s so far."""
    event = new_event()
    try:
        record_event(event, signaller)
        wait_event(waiter, event)
    finally:  # CUDA keeps the event for as long as the wait needs it
        check_cuda(cudart.cudaEventDestroy(event), "cudaEventDestroy")


def destroy_stream(stream: StreamLike) -> None:
    """Destroy a stream you created, once nobody needs it: wait for it, then clear
    CV-CUDA's cache, which keeps each tensor's last stream (a tensor it hands out
    later would name, and CV-CUDA wait on, a destroyed stream)."""
    handle = stream_handle(stream)
    if handle in (1, 2):  # the legacy and the per-thread default streams
        raise ValueError(f"destroy_stream: {handle} is a default stream, not yours")
    check_cuda(cudart.cudaStreamSynchronize(handle), "cudaStreamSynchronize")
    if "cvcuda" in sys.modules:
        sys.modules["cvcuda"].clear_cache()
    check_cuda(cudart.cudaStreamDestroy(handle), "cudaStreamDestroy")
