# SPDX-License-Identifier: Apache-2.0
"""Shared helpers for the CUDA Python <-> CV-CUDA samples.

This module is the one place for the plumbing the samples need, so that the
samples themselves stay short:

* :class:`CudaBuffer` -- device memory that speaks ``__cuda_array_interface__``
  (CAI) v3, either allocated with ``cudaMalloc`` (and freed exactly once) or
  wrapped, without a copy, around memory that someone else owns.
* :func:`cuda_memcpy_h2d` / :func:`cuda_memcpy_d2h` -- checked host <-> device
  copies, flat or row-pitched (``cudaMemcpy2D``), blocking or stream-ordered.
* :func:`pinned_empty` / :func:`registered` -- page-locked host memory.
* :func:`check_cuda` -- turns a ``cuda.bindings`` ``(err, value...)`` tuple into a
  value or a :class:`CudaError` that names the error.
* :func:`require_gpu` -- the samples' preflight: one line and a non-zero exit
  when no GPU, driver or CV-CUDA is usable.

Every argument is validated *before* any copy: a bad input raises
:class:`ValueError` or :class:`TypeError` whose message names the problem and the
values on both sides. Checks that need the GPU (is this pointer device memory?
does the copy stay inside its allocation?) are queries, never copies. Zero-size
copies are allowed and are no-ops (no CUDA call).

Limits: a :class:`CudaBuffer` is not thread-safe (share one across threads only
with your own lock), allocates on the calling thread's current device, and
cannot tell when memory owned by another library (a CV-CUDA tensor, a CuPy
array) is freed: keep such owners alive while a wrapper is in use, which
:meth:`CudaBuffer.from_cuda` does for you unless you hand it a bare dict.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import sys
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np
from cuda.bindings import runtime as cudart

__all__ = [
    "EXIT_GPU_UNAVAILABLE",
    "CaiView",
    "CudaBuffer",
    "CudaError",
    "check_cuda",
    "cuda_memcpy_d2h",
    "cuda_memcpy_h2d",
    "destroy_stream",
    "gpu_unavailable_reason",
    "parse_cuda_array_interface",
    "pinned_empty",
    "registered",
    "require_gpu",
    "stream_handle",
]

#: Exit status of a sample that could not run because no GPU, driver or
#: CV-CUDA is usable (distinct from 1, which means the sample failed).
EXIT_GPU_UNAVAILABLE = 3

_SUCCESS = cudart.cudaError_t.cudaSuccess
_ADDRESS_LIMIT = 1 << 64  # pointers, sizes and stream handles are 64-bit
_TYPESTR = re.compile(r"[<>|=]?[biufc][0-9]+")  # the array-interface form: byte order, kind, item size
# CAI v3 stream values with a special meaning (cudaStreamLegacy / PerThread).
_LEGACY_STREAM = 1
_PER_THREAD_STREAM = 2


# --------------------------------------------------------------------------- #
# Errors                                                                      #
# --------------------------------------------------------------------------- #
class CudaError(RuntimeError):
    """A CUDA runtime call returned an error code.

    ``name`` is the error's name (``"cudaErrorInvalidValue"``), ``code`` its
    ``cudaError_t`` value and ``call`` the function that returned it.
    """

    def __init__(self, err: Any, call: str = "CUDA call") -> None:
        self.code = err
        self.call = call
        self.name = _error_text(cudart.cudaGetErrorName, err, getattr(err, "name", str(err)))
        message = _error_text(cudart.cudaGetErrorString, err, "unknown error")
        super().__init__(f"{call} failed: {self.name}: {message}")


def _error_text(fn: Any, err: Any, fallback: str) -> str:
    try:
        status, text = fn(err)
    except Exception:  # pragma: no cover - only at interpreter shutdown
        return fallback
    return text.decode() if status == _SUCCESS else fallback


def check_cuda(result: tuple, call: str = "CUDA call") -> Any:
    """Unwrap the ``(err, value...)`` tuple that every ``cuda.bindings`` call returns.

    Returns ``None`` for ``(err,)``, the value for ``(err, value)`` and the tuple
    of values otherwise; raises :class:`CudaError` when ``err`` is not success.
    """
    err, *values = result
    if err != _SUCCESS:
        raise CudaError(err, call)
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


# --------------------------------------------------------------------------- #
# Is a GPU usable?                                                            #
# --------------------------------------------------------------------------- #
def gpu_unavailable_reason(*modules: str) -> str | None:
    """Return ``None`` when a CUDA device is usable and each named module imports,
    else one line saying what is missing (driver, device or module)."""
    err, count = cudart.cudaGetDeviceCount()
    if err == cudart.cudaError_t.cudaErrorInsufficientDriver:
        _, driver = cudart.cudaDriverGetVersion()  # 0 when no driver is installed
        if not driver:
            return "no NVIDIA driver found (cudaGetDeviceCount: cudaErrorInsufficientDriver)"
        _, runtime = cudart.cudaRuntimeGetVersion()
        return (
            f"the NVIDIA driver supports CUDA {_cuda_version(driver)} but cuda-python here is built for CUDA "
            f"{_cuda_version(runtime)}: install the cu{driver // 1000} wheels or a newer driver "
            "(cudaErrorInsufficientDriver)"
        )
    if err != _SUCCESS:
        return f"no usable CUDA device ({CudaError(err, 'cudaGetDeviceCount')})"
    if not count:
        return "no CUDA device visible (cudaGetDeviceCount returned 0)"
    for module in modules:
        try:
            __import__(module)
        except Exception as exc:  # ImportError: libcuda.so.1 missing, wheel not installed; or a failing init
            return f"cannot import {module}: {type(exc).__name__}: {exc}"
    return None


def _cuda_version(version: int) -> str:
    return f"{version // 1000}.{version % 1000 // 10}"


def require_gpu(*modules: str) -> None:
    """Preflight for a sample: exit with one line when it cannot run here.

    On failure it prints ``<sample>: cannot run: <why>`` to stderr and exits
    with :data:`EXIT_GPU_UNAVAILABLE` -- no traceback.
    """
    why = gpu_unavailable_reason(*modules)
    if why is not None:
        sample = os.path.basename(sys.argv[0]) or "sample"
        print(f"{sample}: cannot run: {why}", file=sys.stderr)
        raise SystemExit(EXIT_GPU_UNAVAILABLE)


# --------------------------------------------------------------------------- #
# Parsing __cuda_array_interface__                                            #
# --------------------------------------------------------------------------- #
@dataclass
class CaiView:
    """Validated metadata of a CUDA Array Interface: treat it as read-only (the copy
    helpers update the ``stream`` of a CudaBuffer's own view).

    ``strides`` is ``None`` for C-contiguous data (as CAI allows), otherwise the
    byte strides. ``stream`` is the producer's stream (``None``: nothing pending).
    """

    ptr: int
    shape: tuple[int, ...]
    dtype: np.dtype
    strides: tuple[int, ...] | None
    readonly: bool
    stream: int | None
    version: int

    @cached_property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize

    @property
    def typestr(self) -> str:
        return self.dtype.str


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_plain_numeric(dtype: np.dtype) -> bool:
    return dtype.kind in "biufc" and dtype.fields is None and dtype.subdtype is None


def _new_array_view(shape: Any, dtype: Any, what: str) -> CaiView:
    """Validate the ``shape`` and ``dtype`` of a new allocation, before allocating anything."""
    if _is_int(shape):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"{what}: shape must be an int or a tuple of ints, got {shape!r}")
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{what}: dtype {dtype!r} is not a numpy dtype") from None
    if not _is_plain_numeric(dtype):
        raise ValueError(f"{what}: dtype {dtype} is not a plain numeric type (bool, int, uint, float, complex)")
    view = parse_cuda_array_interface(
        {"shape": tuple(shape), "typestr": dtype.str, "data": (1, False), "version": 3}, what=what
    )
    return replace(view, ptr=0)


def _packed_strides(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    strides, step = [], itemsize
    for extent in reversed(shape):
        strides.append(step)
        step *= max(extent, 1)
    return tuple(reversed(strides))


def parse_cuda_array_interface(cai: Any, *, what: str = "__cuda_array_interface__") -> CaiView:
    """Validate a CAI dict (version 2 or 3) and return its :class:`CaiView`.

    Raises :class:`TypeError` for values of the wrong type and :class:`ValueError`
    for values that are out of range or inconsistent; each message names the key
    and the value. Makes no CUDA call.
    """
    if not isinstance(cai, Mapping):
        raise TypeError(f"{what} must be a dict, got {type(cai).__name__}")
    for key in ("shape", "typestr", "data", "version"):
        if key not in cai:
            raise ValueError(f"{what} is missing the required key {key!r} (has {sorted(cai)})")

    version = cai["version"]
    if not _is_int(version) or version not in (2, 3):
        raise ValueError(f"{what}['version'] must be 2 or 3, got {version!r}")

    shape = cai["shape"]
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"{what}['shape'] must be a tuple of ints, got {type(shape).__name__}")
    for extent in shape:
        if not _is_int(extent):
            raise TypeError(f"{what}['shape'] must hold ints, got {extent!r} in {tuple(shape)}")
        if extent < 0:
            raise ValueError(f"{what}['shape'] must not be negative, got {tuple(shape)}")
    shape = tuple(int(e) for e in shape)

    typestr = cai["typestr"]
    if not isinstance(typestr, str):
        raise TypeError(f"{what}['typestr'] must be a str, got {type(typestr).__name__}")
    try:
        dtype = np.dtype(typestr)
    except TypeError:
        raise ValueError(f"{what}['typestr'] {typestr!r} is not a numpy type string") from None
    if not _is_plain_numeric(dtype):
        raise ValueError(f"{what}['typestr'] {typestr!r} is not a plain numeric type")
    if not _TYPESTR.fullmatch(typestr):  # numpy also parses names like 'float32'; CAI wants '<f4'
        raise ValueError(f"{what}['typestr'] {typestr!r} is not a numpy type string in the form '<f4' or '|u1'")

    data = cai["data"]
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(f"{what}['data'] must be a (pointer, readonly) pair, got {data!r}")
    ptr, readonly = data
    if not _is_int(ptr):
        raise TypeError(f"{what}['data'][0] must be an int pointer, got {type(ptr).__name__}")
    if not 0 <= ptr < _ADDRESS_LIMIT:
        raise ValueError(f"{what}['data'][0] must be a 64-bit unsigned pointer, got {ptr}")
    if not isinstance(readonly, (bool, np.bool_)):
        raise TypeError(f"{what}['data'][1] (readonly) must be a bool, got {readonly!r}")
    nelems = math.prod(shape)
    if nelems * dtype.itemsize >= _ADDRESS_LIMIT:
        raise ValueError(f"{what} of shape {shape} and type {typestr!r} spans 2**64 bytes or more")
    if ptr == 0 and nelems:
        raise ValueError(f"{what}['data'] holds a null pointer for a non-empty array of shape {shape}")

    strides = cai.get("strides")
    if strides is not None:
        if not isinstance(strides, (tuple, list)):
            raise TypeError(f"{what}['strides'] must be None or a tuple, got {type(strides).__name__}")
        if len(strides) != len(shape):
            raise ValueError(
                f"{what}['strides'] {tuple(strides)} has {len(strides)} entries but shape {shape} has {len(shape)}"
            )
        for stride in strides:
            if not _is_int(stride):
                raise TypeError(f"{what}['strides'] must hold ints, got {stride!r} in {tuple(strides)}")
            if stride % dtype.itemsize:
                raise ValueError(
                    f"{what}['strides'] {tuple(strides)} are not multiples of the item size "
                    f"{dtype.itemsize} of {typestr!r}"
                )
        strides = tuple(int(s) for s in strides)
        if strides == _packed_strides(shape, dtype.itemsize):
            strides = None

    if cai.get("mask") is not None:
        raise ValueError(f"{what}['mask'] is set; masked arrays are not supported")

    stream = cai.get("stream")
    if stream is not None:
        if not _is_int(stream):
            raise TypeError(f"{what}['stream'] must be None or an int handle, got {stream!r}")
        if stream == 0:
            raise ValueError(
                f"{what}['stream'] is 0, which CAI v3 disallows as ambiguous; "
                "use 1 (legacy default stream), 2 (per-thread) or None"
            )
        if not (stream == -1 or 0 < stream < _ADDRESS_LIMIT):
            raise ValueError(f"{what}['stream'] must be a 64-bit stream handle (or -1), got {stream}")
        # -1 is CV-CUDA's "already synchronised": nothing to wait for.
        stream = None if stream == -1 else int(stream)

    return CaiView(int(ptr), shape, dtype, strides, bool(readonly), stream, int(version))


# --------------------------------------------------------------------------- #
# Streams                                                                     #
# --------------------------------------------------------------------------- #
#: A stream: an int handle, a ``cudaStream_t``, a ``cvcuda.Stream`` or a ``cuda.core`` Stream.
StreamLike = Any


def stream_handle(stream: StreamLike | None) -> int | None:
    """The integer handle of a stream given as an int, a ``cudaStream_t``/``CUstream``,
    anything with ``__cuda_stream__`` (cuda.core) or a ``cvcuda.Stream`` (``.handle``)."""
    if stream is None:
        return None
    if _is_int(stream):
        handle = int(stream)
    elif hasattr(stream, "__cuda_stream__"):
        handle = int(stream.__cuda_stream__()[1])
    elif _is_int(getattr(stream, "handle", None)):
        handle = int(stream.handle)
    else:
        from cuda.bindings.utils import get_cuda_native_handle

        try:
            handle = int(get_cuda_native_handle(stream))
        except (TypeError, ValueError):
            raise TypeError(f"expected a CUDA stream or its int handle, got {type(stream).__name__}") from None
    if not 0 <= handle < _ADDRESS_LIMIT:
        raise ValueError(f"a stream handle must be a 64-bit unsigned int, got {handle}")
    return handle


def _export_stream(handle: int | None) -> int | None:
    """CAI v3 forbids exporting 0: the legacy default stream is exported as 1."""
    return _LEGACY_STREAM if handle == 0 else handle


def _wait_for_producer(producer: int | None, consumer: int | None) -> int | None:
    """Order the consumer after the producer's pending work (CAI v3 consumer rule).

    ``consumer is None`` means a blocking copy on the legacy default stream: the
    host waits for a producer on any other stream. Otherwise the consumer stream
    waits on an event, so the host does not block. Returns the stream that a
    later consumer must still order after, i.e. what a wrapper exports.
    """
    if producer is None or producer == consumer:
        return consumer
    if consumer is None:
        if producer in (_LEGACY_STREAM, _PER_THREAD_STREAM):
            return producer  # a legacy-stream copy already follows these; later consumers must too
        _unless_stream_gone(cudart.cudaStreamSynchronize(producer), "cudaStreamSynchronize(producer stream)")
        return None
    _order_after(consumer, producer, foreign="signaller")
    return consumer


def _order_after(waiter: int, signaller: int, *, foreign: str) -> None:
    """Make stream ``waiter`` wait, on the GPU, for the work enqueued so far on ``signaller``.

    ``foreign`` names the side ("waiter" or "signaller") that another library
    owns: a destroyed stream there has nothing left to order (``_STREAM_GONE``),
    while an invalid stream of the caller's is an error.
    """
    event = check_cuda(cudart.cudaEventCreateWithFlags(cudart.cudaEventDisableTiming), "cudaEventCreateWithFlags")
    try:
        recorded = cudart.cudaEventRecord(event, signaller)
        if foreign == "signaller" and not _unless_stream_gone(recorded, "cudaEventRecord(producer stream)"):
            return
        check_cuda(recorded, "cudaEventRecord")
        waited = cudart.cudaStreamWaitEvent(waiter, event, 0)
        if foreign == "waiter":
            _unless_stream_gone(waited, "cudaStreamWaitEvent(owner stream)")
        else:
            check_cuda(waited, "cudaStreamWaitEvent(consumer stream)")
    finally:
        check_cuda(cudart.cudaEventDestroy(event), "cudaEventDestroy")


#: What CUDA returned here for a stream handle that was destroyed. CV-CUDA tensors
#: can name the last stream that wrote them after its owner destroyed it, and
#: cudaStreamDestroy lets pending work finish first, so there is nothing left to
#: wait for. This is best effort: the real rule is to keep a stream alive while
#: tensors name it (see destroy_stream).
_STREAM_GONE = (cudart.cudaError_t.cudaErrorContextIsDestroyed, cudart.cudaError_t.cudaErrorInvalidResourceHandle)


def _unless_stream_gone(result: tuple, call: str) -> bool:
    """``check_cuda`` for a call on a producer stream; False when the stream no longer exists."""
    if result[0] in _STREAM_GONE:
        return False
    check_cuda(result, call)
    return True


def destroy_stream(stream: StreamLike) -> None:
    """Destroy a stream created with ``cudaStreamCreate*`` once nobody needs it.

    Waits for the stream, then, if CV-CUDA is loaded, clears CV-CUDA's cache:
    the cache remembers the stream each tensor was last used on, and a later
    tensor from it would otherwise name (and CV-CUDA wait on) a destroyed
    stream. Drop your CV-CUDA tensors that used the stream before calling this.
    """
    handle = stream_handle(stream)
    if handle in (None, 0, _LEGACY_STREAM, _PER_THREAD_STREAM):
        raise ValueError(f"destroy_stream needs a created stream, not the default stream handle {handle}")
    check_cuda(cudart.cudaStreamSynchronize(handle), "cudaStreamSynchronize")
    cvcuda = sys.modules.get("cvcuda")
    if cvcuda is not None:
        cvcuda.clear_cache()
    check_cuda(cudart.cudaStreamDestroy(handle), "cudaStreamDestroy")


# --------------------------------------------------------------------------- #
# CudaBuffer                                                                  #
# --------------------------------------------------------------------------- #
def _free_device(ptr: int) -> Any:
    try:
        return cudart.cudaFree(ptr)[0]
    except Exception:  # pragma: no cover - interpreter shutdown: modules torn down
        return None


# docs_tag: begin_cuda_buffer
class CudaBuffer:
    """Device memory exposing ``__cuda_array_interface__`` v3.

    ``CudaBuffer(shape, dtype)`` allocates with ``cudaMalloc`` and owns the
    memory: it is freed exactly once, by :meth:`close` (or leaving a ``with``
    block) or when the buffer is garbage-collected. :meth:`from_cuda` wraps
    memory owned by someone else without copying and keeps that owner alive.
    """

    def __init__(self, shape: int | tuple[int, ...], dtype: Any = np.uint8) -> None:
        view = _new_array_view(shape, dtype, "CudaBuffer")  # validated before allocating
        ptr = check_cuda(cudart.cudaMalloc(view.nbytes), "cudaMalloc") if view.nbytes else 0
        self._init(replace(view, ptr=ptr), source=None)
        self._device_accessible = True  # cudaMalloc memory
        # weakref.finalize runs at most once: on close(), on collection, or at exit.
        self._free = weakref.finalize(self, _free_device, ptr) if ptr else None

    def _init(self, view: CaiView, source: Any) -> None:
        self._view = view
        self._source = source  # keeps a wrapped owner (and so its memory) alive
        self._free = None
        self._closed = False
        self._device_accessible = source is None and view.ptr == 0  # checked on first copy
        # Views of one CudaBuffer (crops, from_cuda wrappers) share its pending stream.
        self._root = source._root if isinstance(source, CudaBuffer) else self

    def _record_stream(self, handle: int | None) -> None:
        """Note that work on ``handle`` may still use this memory; every view of it exports that."""
        self._root._view.stream = handle  # the one place it is kept; ``view`` reads it from there

    @classmethod
    def from_cuda(cls, obj: Any, *, stream: StreamLike | None = None) -> CudaBuffer:
        """Wrap ``obj`` (anything with ``__cuda_array_interface__``, or the dict) without copying.

        The wrapper holds a reference to ``obj`` so the memory outlives it (a bare
        dict refers to nothing: then its owner must outlive the wrapper). If the
        interface names a producer ``stream``, its pending work is waited for as
        CAI v3 requires: by the host when ``stream`` is ``None`` (the legacy and
        per-thread default streams are passed on instead, since legacy-stream
        work already follows them), else by ``stream`` through an event wait
        with no host block; the wrapper exports the stream still to follow.
        """
        if isinstance(obj, CudaBuffer):
            cai = obj.__cuda_array_interface__  # raises if obj is closed
        elif isinstance(obj, Mapping):
            cai = obj
        elif hasattr(obj, "__cuda_array_interface__"):
            cai = obj.__cuda_array_interface__
        else:
            raise TypeError(f"CudaBuffer.from_cuda needs __cuda_array_interface__, got {type(obj).__name__}")
        view = parse_cuda_array_interface(cai)
        pending = _wait_for_producer(view.stream, stream_handle(stream))
        wrapper = cls.__new__(cls)
        wrapper._init(replace(view, version=3), source=None if isinstance(obj, Mapping) else obj)
        wrapper._record_stream(_export_stream(pending))
        return wrapper

    @property
    def __cuda_array_interface__(self) -> dict[str, Any]:
        view = self.view
        return {
            "version": 3,
            "shape": view.shape,
            "typestr": view.typestr,
            "data": (view.ptr, view.readonly),
            "strides": view.strides,
            "stream": view.stream,
        }

    @property
    def view(self) -> CaiView:
        """The validated metadata; raises :class:`ValueError` once the memory is gone."""
        if self._closed:
            raise ValueError(f"{self!r} is closed; its memory may already belong to someone else")
        if isinstance(self._source, CudaBuffer) and self._source.closed:
            raise ValueError(f"{self!r} wraps a CudaBuffer that was closed; its memory is freed")
        self._view.stream = self._root._view.stream  # crops and wrappers follow their root buffer
        return self._view

    @property
    def ptr(self) -> int:
        return self.view.ptr

    @property
    def shape(self) -> tuple[int, ...]:
        return self._view.shape

    @property
    def dtype(self) -> np.dtype:
        return self._view.dtype

    @property
    def nbytes(self) -> int:
        return self._view.nbytes

    @property
    def owns_memory(self) -> bool:
        return self._free is not None

    @property
    def closed(self) -> bool:
        """True once this buffer, or the CudaBuffer it views, has been closed."""
        return self._closed or (isinstance(self._source, CudaBuffer) and self._source.closed)

    def set_stream(self, stream: StreamLike | None) -> None:
        """Record that work on ``stream`` may still be writing this buffer (exported as CAI ``stream``)."""
        self.view  # noqa: B018  (refuses a closed buffer)
        self._record_stream(_export_stream(stream_handle(stream)))

    def crop(self, top: int, left: int, height: int, width: int) -> CudaBuffer:
        """A zero-copy window of rows ``top:top+height`` and columns ``left:left+width``.

        For a buffer laid out as (rows, columns, ...), e.g. an HWC image. The
        window keeps the parent's row pitch in its strides and keeps the parent
        alive, so it can be handed to ``cvcuda.as_tensor`` or the copy helpers.
        """
        view = self.view
        if len(view.shape) < 2:
            raise ValueError(f"crop needs a buffer of at least 2 dimensions, got shape {view.shape}")
        for name, value in (("top", top), ("left", left), ("height", height), ("width", width)):
            if not _is_int(value) or value < 0:
                raise ValueError(f"crop: {name} must be a non-negative int, got {value!r}")
        rows, cols = view.shape[:2]
        if top + height > rows or left + width > cols:
            raise ValueError(
                f"crop: window rows {top}:{top + height}, columns {left}:{left + width} "
                f"leaves the buffer's {rows} rows x {cols} columns"
            )
        strides = view.strides or _packed_strides(view.shape, view.dtype.itemsize)
        window = CudaBuffer.__new__(CudaBuffer)
        window._init(
            replace(
                view,
                ptr=view.ptr + top * strides[0] + left * strides[1],
                shape=(height, width, *view.shape[2:]),
                strides=strides,
            ),
            source=self,
        )
        return window

    def close(self) -> None:
        """Free owned memory now (idempotent); drop the reference to a wrapped owner."""
        if self._closed:
            return
        self._closed = True
        self._source = None
        if self._free is not None:
            err = self._free()  # None if it already ran
            if err is not None and err != _SUCCESS:
                raise CudaError(err, "cudaFree")

    def __enter__(self) -> CudaBuffer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        kind = "owned" if self._free is not None else "wrapped"
        state = ", closed" if self._closed else ""
        return f"CudaBuffer(shape={self._view.shape}, dtype={self._view.dtype}, {kind}{state})"


# docs_tag: end_cuda_buffer


# --------------------------------------------------------------------------- #
# Host <-> device copies                                                      #
# --------------------------------------------------------------------------- #
#: Device memory: a CudaBuffer, an object with ``__cuda_array_interface__``, its dict, or an int pointer.
DeviceLike = Any


class _Rows(NamedTuple):
    """A device region as ``height`` rows of ``width`` bytes, ``pitch`` bytes apart."""

    height: int
    width: int
    pitch: int

    @property
    def contiguous(self) -> bool:
        return self.pitch == self.width or self.height <= 1


def _as_rows(view: CaiView, side: str) -> _Rows:
    """Describe ``view`` as pitched rows, or refuse a layout a 2-D copy cannot express."""
    isz = view.dtype.itemsize
    nbytes = view.nbytes
    if view.strides is None or nbytes == 0:
        return _Rows(1, nbytes, nbytes)
    dims = [(e, s) for e, s in zip(view.shape, view.strides, strict=True) if e != 1]  # size-1 dims have no stride
    # The packed suffix: innermost dimensions laid out without gaps.
    width, k = isz, len(dims)
    while k and dims[k - 1][1] == width:
        width *= dims[k - 1][0]
        k -= 1
    if k == 0:
        return _Rows(1, nbytes, nbytes)
    pitch = dims[k - 1][1]
    height, step = 1, pitch
    for extent, stride in reversed(dims[:k]):
        if stride != step:
            break
        height *= extent
        step *= extent
    else:
        if pitch >= width:
            return _Rows(height, width, pitch)
    raise ValueError(
        f"{side} has strides {view.strides} for shape {view.shape} ({view.dtype}): only C-contiguous "
        "data or rows padded to a pitch (the innermost dimensions packed) can be copied"
    )


def _device_view(device: DeviceLike, side: str, host_nbytes: int) -> CaiView:
    if isinstance(device, CudaBuffer):
        return device.view
    if isinstance(device, Mapping):
        return parse_cuda_array_interface(device, what=side)
    if _is_int(device):
        if not 0 < device < _ADDRESS_LIMIT:
            raise ValueError(f"{side} pointer must be a positive device address, got {device} (addresses are 64-bit)")
        return CaiView(int(device), (host_nbytes,), np.dtype(np.uint8), None, False, None, 3)
    if hasattr(device, "__cuda_array_interface__"):
        return parse_cuda_array_interface(device.__cuda_array_interface__, what=side)
    raise TypeError(
        f"{side} must be a CudaBuffer, an object with __cuda_array_interface__, its dict or an int "
        f"device pointer, got {type(device).__name__}"
    )


def _check_device_memory(device: DeviceLike, view: CaiView, rows: _Rows, side: str) -> None:
    """Refuse memory the GPU cannot reach, and a copy that would leave its allocation.

    Cheap queries, no copy. A CudaBuffer remembers the answer; our own
    allocations never ask. Pinned host memory passes (the GPU reaches it), but
    only device and managed memory have an allocation size to check against.
    """
    if isinstance(device, CudaBuffer) and device._device_accessible:
        return
    ptr = view.ptr
    attrs = check_cuda(cudart.cudaPointerGetAttributes(ptr), "cudaPointerGetAttributes")
    if attrs.type == cudart.cudaMemoryType.cudaMemoryTypeUnregistered:
        raise ValueError(
            f"{side} pointer {ptr:#x} is not CUDA-accessible memory (a pageable host pointer?); "
            "pass device, managed or pinned memory"
        )
    span = (rows.height - 1) * rows.pitch + rows.width
    # Only a bare pointer or dict can promise more memory than exists: an object that
    # exposes the interface owns the memory and describes it (and the driver API this
    # query loads would otherwise show up in compute-sanitizer's API error report).
    bare = _is_int(device) or isinstance(device, Mapping) or (isinstance(device, CudaBuffer) and device._source is None)
    if bare and attrs.type != cudart.cudaMemoryType.cudaMemoryTypeHost:
        end = _allocation_end(ptr)
        if end is not None and ptr + span > end:
            raise ValueError(
                f"{side}: a copy of {span} bytes at {ptr:#x} would run {ptr + span - end} bytes past the end "
                f"of its allocation ({end - ptr} bytes from that pointer are left)"
            )
    if isinstance(device, CudaBuffer):
        device._device_accessible = True


def _allocation_end(ptr: int) -> int | None:
    """The end address of the device allocation that holds ``ptr`` (driver API), or None if unknown."""
    try:
        from cuda.bindings import driver

        err, base, size = driver.cuMemGetAddressRange(ptr)
    except Exception:  # no driver library: the runtime check before this one already failed
        return None
    return int(base) + int(size) if err == driver.CUresult.CUDA_SUCCESS else None


def _describe(shape: tuple[int, ...], dtype: np.dtype, nbytes: int) -> str:
    return f"{nbytes} bytes (shape {shape}, {dtype})"


def _check_pair(host: Any, device: DeviceLike, *, writing_host: bool, fn: str) -> tuple[np.ndarray, CaiView]:
    if not isinstance(host, np.ndarray):
        raise TypeError(f"{fn}: host array must be a numpy.ndarray, got {type(host).__name__}")
    flags = host.flags
    if not flags.c_contiguous:
        raise ValueError(
            f"{fn}: host array must be C-contiguous, got shape {host.shape} with strides {host.strides} "
            "(use numpy.ascontiguousarray)"
        )
    if writing_host and not flags.writeable:
        raise ValueError(f"{fn}: host array is read-only; pass a writeable destination")
    if host.dtype.hasobject:
        raise TypeError(f"{fn}: host array has dtype {host.dtype}, which holds Python objects")
    side = "destination device buffer" if not writing_host else "source device buffer"
    view = _device_view(device, side, host.nbytes)
    if view.nbytes != host.nbytes:
        raise ValueError(
            f"{fn}: size mismatch: host array has {_describe(host.shape, host.dtype, host.nbytes)} but {side} has "
            f"{_describe(view.shape, view.dtype, view.nbytes)}"
        )
    if view.dtype != host.dtype and not _is_int(device):
        raise TypeError(
            f"{fn}: dtype mismatch: host array is {host.dtype} but {side} is {view.dtype} "
            f"(typestr {view.typestr!r}); convert with host.astype(...) first"
        )
    if not writing_host and view.readonly:
        raise ValueError(f"{fn}: {side} is marked read-only in its __cuda_array_interface__")
    return host, view


def _copy(dst: int, dst_pitch: int, src: int, src_pitch: int, rows: _Rows, stream: int | None) -> None:
    """One flat or pitched copy of ``rows``. The direction comes from the pointers
    (``cudaMemcpyDefault``, unified addressing), so pinned memory on either side is fine."""
    kind = cudart.cudaMemcpyKind.cudaMemcpyDefault
    if rows.contiguous:
        if stream is None:
            check_cuda(cudart.cudaMemcpy(dst, src, rows.width * rows.height, kind), "cudaMemcpy")
        else:
            check_cuda(cudart.cudaMemcpyAsync(dst, src, rows.width * rows.height, kind, stream), "cudaMemcpyAsync")
    elif stream is None:
        check_cuda(cudart.cudaMemcpy2D(dst, dst_pitch, src, src_pitch, rows.width, rows.height, kind), "cudaMemcpy2D")
    else:
        check_cuda(
            cudart.cudaMemcpy2DAsync(dst, dst_pitch, src, src_pitch, rows.width, rows.height, kind, stream),
            "cudaMemcpy2DAsync",
        )


def _hand_back(producer: int | None, consumer: int | None, fn: str) -> None:
    """After a copy into or out of memory owned elsewhere, order its owner's next work after the copy.

    The owner's stream (the one its interface names) waits for ``consumer``. A
    blocking copy, or one into memory that names no stream, is finished here.
    """
    if consumer is None or producer is None:
        # Blocking copies from pageable memory may return before the DMA lands, and an
        # owner that names no stream would not wait: complete the copy now.
        check_cuda(cudart.cudaStreamSynchronize(_LEGACY_STREAM if consumer is None else consumer), f"{fn}: sync")
    elif producer != consumer:
        _order_after(producer, consumer, foreign="waiter")


# docs_tag: begin_cuda_memcpy_h2d
def cuda_memcpy_h2d(host_array: np.ndarray, device: DeviceLike, *, stream: StreamLike | None = None) -> None:
    """Copy a C-contiguous numpy array into device memory.

    ``device`` is a :class:`CudaBuffer`, any object with ``__cuda_array_interface__``
    (e.g. ``cvcuda.Tensor.cuda()``), the interface dict, or an int device pointer
    (then ``host_array.nbytes`` bytes are written, checked against the allocation).
    Sizes and dtypes are checked first; padded device rows use ``cudaMemcpy2D``.
    With ``stream=None`` the copy is blocking. With a stream it is enqueued there
    (use pinned host memory for a truly asynchronous copy), and the memory's next
    user is ordered after it: a :class:`CudaBuffer` exports the stream, and the
    stream an interface names is made to wait for it.
    """
    fn = "cuda_memcpy_h2d"
    host_array, view = _check_pair(host_array, device, writing_host=False, fn=fn)
    consumer = stream_handle(stream)
    if host_array.nbytes == 0:
        return
    rows = _as_rows(view, f"{fn}: destination device buffer")
    _check_device_memory(device, view, rows, f"{fn}: destination device buffer")
    producer = view.stream
    _wait_for_producer(producer, consumer)  # earlier work may still read or write the buffer
    _copy(view.ptr, rows.pitch, host_array.ctypes.data, rows.width, rows, consumer)
    if isinstance(device, CudaBuffer):
        # A blocking copy from pageable memory may return before the DMA lands:
        # export the legacy stream it is on, so the next consumer orders after it.
        device._record_stream(_LEGACY_STREAM if consumer is None else _export_stream(consumer))
    else:
        _hand_back(producer, consumer, fn)


# docs_tag: end_cuda_memcpy_h2d


# docs_tag: begin_cuda_memcpy_d2h
def cuda_memcpy_d2h(device: DeviceLike, host_array: np.ndarray, *, stream: StreamLike | None = None) -> None:
    """Copy device memory into a writeable, C-contiguous numpy array.

    Accepts the same ``device`` forms as :func:`cuda_memcpy_h2d`. Before reading,
    it waits for the producer stream the interface names (CAI v3), so a tensor
    written by a CV-CUDA operator on any stream is read only once it is complete.
    With ``stream=None`` the host array is filled on return; with a stream the
    copy is enqueued there, later writers of the device memory are ordered after
    it, and the caller synchronises the stream before reading the array.
    """
    fn = "cuda_memcpy_d2h"
    host_array, view = _check_pair(host_array, device, writing_host=True, fn=fn)
    consumer = stream_handle(stream)
    if host_array.nbytes == 0:
        return
    rows = _as_rows(view, f"{fn}: source device buffer")
    _check_device_memory(device, view, rows, f"{fn}: source device buffer")
    producer = view.stream
    _wait_for_producer(producer, consumer)
    _copy(host_array.ctypes.data, rows.width, view.ptr, rows.pitch, rows, consumer)
    if consumer is None:
        return
    if isinstance(device, CudaBuffer):
        device._record_stream(_export_stream(consumer))  # the pending read: a later writer must wait for it
    else:
        _hand_back(producer, consumer, fn)


# docs_tag: end_cuda_memcpy_d2h


# --------------------------------------------------------------------------- #
# Page-locked host memory                                                     #
# --------------------------------------------------------------------------- #
def _free_host(ptr: int) -> None:
    with contextlib.suppress(Exception):  # interpreter shutdown: modules may be torn down
        cudart.cudaFreeHost(ptr)


class _PinnedHostMemory:
    """Owner of a ``cudaMallocHost`` block; numpy keeps it as the array's ``base``."""

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype, nbytes: int) -> None:
        ptr = check_cuda(cudart.cudaMallocHost(nbytes), "cudaMallocHost")
        self.__array_interface__ = {"shape": shape, "typestr": dtype.str, "data": (ptr, False), "version": 3}
        weakref.finalize(self, _free_host, ptr)


def pinned_empty(shape: int | tuple[int, ...], dtype: Any = np.uint8) -> np.ndarray:
    """A numpy array in page-locked (pinned) host memory from ``cudaMallocHost``.

    The memory is freed with ``cudaFreeHost`` when the array (and every view of
    it) has been collected. Contents are uninitialised, like ``numpy.empty``.
    """
    view = _new_array_view(shape, dtype, "pinned_empty")  # the same rules as device memory
    if view.nbytes == 0:  # nothing to pin (and numpy < 2.4 refuses a null data pointer)
        return np.empty(view.shape, view.dtype)
    return np.asarray(_PinnedHostMemory(view.shape, view.dtype, view.nbytes))


class registered:
    """Context manager that page-locks an existing numpy array with ``cudaHostRegister``.

    ``with registered(arr): ...`` -- inside, copies from and to ``arr`` run at
    pinned speed. On exit it waits for the device to finish (stream-ordered
    copies may still use the pages), then unregisters them; the array stays
    valid. Registration works on whole pages: two arrays that share a page
    cannot both be registered, so register large arrays, not small views.
    """

    def __init__(self, array: np.ndarray) -> None:
        if not isinstance(array, np.ndarray):
            raise TypeError(f"registered() needs a numpy.ndarray, got {type(array).__name__}")
        if not array.flags.c_contiguous:
            raise ValueError(f"registered() needs a C-contiguous array, got strides {array.strides}")
        self.array = array
        self._ptr = 0

    def __enter__(self) -> np.ndarray:
        if self.array.nbytes:
            check_cuda(
                cudart.cudaHostRegister(self.array.ctypes.data, self.array.nbytes, cudart.cudaHostRegisterDefault),
                "cudaHostRegister",
            )
            self._ptr = self.array.ctypes.data
        return self.array

    def __exit__(self, *exc: object) -> None:
        if self._ptr:
            ptr, self._ptr = self._ptr, 0
            check_cuda(cudart.cudaDeviceSynchronize(), "cudaDeviceSynchronize (before cudaHostUnregister)")
            check_cuda(cudart.cudaHostUnregister(ptr), "cudaHostUnregister")
