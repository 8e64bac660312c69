# SPDX-License-Identifier: Apache-2.0
"""Shared helpers for the CUDA Python <-> CV-CUDA samples.

* :class:`CudaBuffer`: device memory that speaks ``__cuda_array_interface__``
  (CAI) v3, either from ``cudaMalloc`` (freed exactly once) or wrapped, with
  no copy, around memory that someone else owns.
* :func:`cuda_memcpy_h2d` / :func:`cuda_memcpy_d2h`: checked host <-> device
  copies, flat or row-pitched (``cudaMemcpy2D``), blocking or stream-ordered.
* :func:`pinned_empty` / :func:`registered`: page-locked host memory.
* :func:`check_cuda`: a ``cuda.bindings`` ``(err, value...)`` tuple to a value,
  or a :class:`CudaError` that names the error.

The file reads in the order of the CUDA Python page: the teaching core first
(imports, ``CudaBuffer``, the two copy helpers), then the guard rails, each in
its own marked region. Every argument is checked before any copy: bad input
raises :class:`ValueError` or :class:`TypeError` naming the problem. Checks
that need the GPU (is this device memory? does the copy stay inside its
allocation?) are queries, never copies. Zero-size copies make no CUDA call.

Limits: a :class:`CudaBuffer` is not thread-safe, allocates on the calling
thread's current device, and cannot tell when memory owned by another library
is freed: keep such owners alive while a wrapper is in use, which
:meth:`CudaBuffer.from_cuda` does for you unless you hand it a bare dict.
"""

# docs_tag: begin_imports
from __future__ import annotations

import contextlib
import ctypes
import math
import re
import sys
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np
from cuda.bindings import runtime as cudart

# docs_tag: end_imports

__all__ = [
    "CaiView",
    "CudaBuffer",
    "CudaError",
    "DeviceLike",
    "Rows",
    "StreamLike",
    "check_cuda",
    "cuda_memcpy_d2h",
    "cuda_memcpy_h2d",
    "destroy_stream",
    "new_event",
    "parse_cuda_array_interface",
    "pinned_empty",
    "record_event",
    "registered",
    "stream_handle",
    "wait_event",
]


# docs_tag: begin_cuda_buffer
class CudaBuffer:
    """Device memory that exposes ``__cuda_array_interface__`` v3.

    ``CudaBuffer(shape, dtype)`` allocates with ``cudaMalloc`` and frees the
    memory exactly once: on :meth:`close`, at the end of a ``with`` block, or
    when the buffer is garbage-collected. :meth:`from_cuda` wraps memory that
    someone else owns, without a copy, and keeps that owner alive.

    :param shape: an int or a tuple of non-negative ints.
    :param dtype: a plain numeric numpy dtype (bool, int, uint, float, complex).
    """

    def __init__(self, shape: int | tuple[int, ...], dtype: Any = np.uint8) -> None:
        layout = new_array_layout(shape, dtype, "CudaBuffer")  # checked first
        ptr = 0
        if layout.nbytes:
            ptr = check_cuda(cudart.cudaMalloc(layout.nbytes), "cudaMalloc")
        self._setup(replace(layout, ptr=ptr), owner=None)
        self.checked_memory = True  # cudaMalloc'd: never ask what it is
        # finalize runs at most once: on close(), on collection, or at exit
        self._free = weakref.finalize(self, free_device, ptr) if ptr else None

    @classmethod
    def from_cuda(cls, obj: Any, *, stream: StreamLike = None) -> CudaBuffer:
        """Wrap ``obj`` (with ``__cuda_array_interface__``, or the dict), no copy.

        The wrapper keeps ``obj`` alive (a bare dict refers to nothing: then
        the memory's owner must outlive the wrapper). Pending work on the
        producer stream that the interface names is waited for as CAI v3 asks:
        on the GPU by ``stream``, or by the host when ``stream`` is None.
        """
        layout = parse_cuda_array_interface(interface_of(obj, "CudaBuffer.from_cuda"))
        pending = wait_for_producer(layout.stream, stream_handle(stream))
        wrapper = cls.__new__(cls)
        owner = None if isinstance(obj, Mapping) else obj
        wrapper._setup(replace(layout, stream=None, version=3), owner=owner)
        wrapper.set_stream(pending)  # what the wrapper's next user must follow
        return wrapper

    @classmethod
    def from_dlpack(cls, obj: Any, *, stream: StreamLike = None) -> CudaBuffer:
        """Wrap a DLPack producer (``__dlpack__``: PyTorch, CuPy, JAX...), no copy.

        The producer orders its pending work before ``stream`` (None: the
        legacy default stream), as DLPack asks; the wrapper keeps it alive.
        """
        consumer = stream_handle(stream) or LEGACY_STREAM  # DLPack: 0 is ambiguous
        layout, owner = dlpack_layout(obj, consumer, "CudaBuffer.from_dlpack")
        wrapper = cls.__new__(cls)
        wrapper._setup(layout, owner=owner)
        wrapper.set_stream(consumer)
        return wrapper

    @property
    def __cuda_array_interface__(self) -> dict[str, Any]:
        view = self.view  # refuses a closed buffer
        return {
            "version": 3,
            "shape": view.shape,
            "typestr": view.typestr,
            "data": (view.ptr, view.readonly),
            "strides": view.strides,  # None: C-contiguous
            "stream": view.stream,  # the stream a consumer must wait for
        }

    def close(self) -> None:
        """Free owned memory now (idempotent); let go of a wrapped owner."""
        if self._closed:
            return
        self._closed = True
        self._owner = None
        self.checked_copies = [None, None]
        if self._free is not None:
            err = self._free()  # None if it already ran
            if err is not None and err != SUCCESS:
                raise CudaError(err, "cudaFree")

    def __enter__(self) -> CudaBuffer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # docs_tag: end_cuda_buffer

    # docs_tag: begin_buffer_details
    def _setup(self, layout: CaiView, owner: Any) -> None:
        self._layout = layout  # immutable; the pending stream lives in _root
        self._memo = layout  # the last CaiView handed out, with its stream
        self._owner = owner  # keeps a wrapped owner (and its memory) alive
        self._parent = owner if isinstance(owner, CudaBuffer) else None
        # Views of one CudaBuffer (crops, wrappers) share its pending stream.
        self._root = self if self._parent is None else self._parent._root
        self._pending: int | None = None  # read on _root only
        self._free: weakref.finalize | None = None
        self._closed = False
        #: True once the memory is known to be CUDA-accessible (asked once).
        self.checked_memory = False
        #: The last copy checked in each direction (h2d, d2h), so that the same
        #: copy again skips the checks it passed; forgotten when the pending
        #: stream changes or on close(). Holds its host array until then.
        self.checked_copies: list[CheckedCopy | None] = [None, None]

    @property
    def view(self) -> CaiView:
        """The checked metadata; raises :class:`ValueError` once the memory is gone."""
        if self._closed or self._parent is not None:
            self._check_open()
        pending = self._root._pending
        if self._memo.stream != pending:
            self._memo = replace(self._layout, stream=pending)
        return self._memo

    def set_stream(self, stream: StreamLike) -> None:
        """Record that work on ``stream`` may still use this memory.

        Every view of the memory (crops, wrappers) exports it as CAI ``stream``;
        ``None`` says nothing is pending.
        """
        if self._closed or self._parent is not None:
            self._check_open()
        if type(stream) is int and 0 < stream < ADDRESS_LIMIT:
            handle = stream  # the common case, checked cheaply
        else:
            handle = stream_handle(stream)
            handle = LEGACY_STREAM if handle == 0 else handle  # never 0
        root = self._root
        if root._pending != handle:
            root._pending = handle
            root.checked_copies = [None, None]  # they checked the old stream

    def remember_copy(self, checked: CheckedCopy, writing_host: bool) -> None:
        """Keep what ``check_copy`` found, until the pending stream changes.

        Views (crops, wrappers of a CudaBuffer) do not remember: their root's
        pending stream and closing could change behind their back."""
        if self._parent is None:
            self.checked_copies[writing_host] = checked

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(
                f"{self!r} is closed; its memory may already belong to someone else"
            )
        if self._parent is not None and self._parent.closed:
            raise ValueError(
                f"{self!r} wraps a CudaBuffer that was closed; its memory is freed"
            )

    def __dlpack__(
        self,
        *,
        stream: int | None = None,
        max_version: tuple[int, int] | None = None,
        dl_device: tuple[int, int] | None = None,
        copy: bool | None = None,
    ) -> Any:
        """Export the memory as a DLPack capsule, without a copy.

        ``stream`` is the consumer's (DLPack: None is the legacy default stream,
        -1 asks for no ordering): pending work on this buffer is ordered before
        it on the GPU. The capsule keeps this buffer alive until it is consumed
        and released. cuda.core's StridedMemoryView builds the capsule.
        """
        consumer = dlpack_consumer_stream(stream)
        if copy:
            raise BufferError(
                "CudaBuffer.__dlpack__: copy=True: this buffer only lends"
            )
        view = self.view  # refuses a closed buffer
        if dl_device is not None and tuple(dl_device) != self.__dlpack_device__():
            raise BufferError(
                f"CudaBuffer.__dlpack__: dl_device={tuple(dl_device)} but the memory "
                f"is on {self.__dlpack_device__()}"
            )
        if consumer is not None:
            wait_for_producer(view.stream, consumer)
        from cuda.core.utils import StridedMemoryView

        exported = StridedMemoryView.from_cuda_array_interface(self, stream_ptr=-1)
        return exported.__dlpack__(stream=-1, max_version=max_version)

    def __dlpack_device__(self) -> tuple[int, int]:
        """(device type, device id) of the memory, as DLPack names them."""
        ptr = self.view.ptr
        attrs = check_cuda(
            cudart.cudaPointerGetAttributes(ptr), "cudaPointerGetAttributes"
        )
        kind = DLPACK_DEVICE_OF_MEMORY.get(int(attrs.type))
        if kind is None:
            raise BufferError(f"{self!r}: memory at {ptr:#x} is not CUDA-accessible")
        return kind, int(attrs.device)

    @property
    def ptr(self) -> int:
        return self.view.ptr

    @property
    def shape(self) -> tuple[int, ...]:
        return self._layout.shape

    @property
    def dtype(self) -> np.dtype:
        return self._layout.dtype

    @property
    def nbytes(self) -> int:
        return self._layout.nbytes

    @property
    def owns_memory(self) -> bool:
        return self._free is not None

    @property
    def closed(self) -> bool:
        """True once this buffer, or the CudaBuffer it views, has been closed."""
        return self._closed or (self._parent is not None and self._parent.closed)

    @property
    def wraps_bare_interface(self) -> bool:
        """True for a wrapper of a bare dict: nothing vouches for the memory."""
        return self._owner is None and self._free is None

    def crop(self, top: int, left: int, height: int, width: int) -> CudaBuffer:
        """A zero-copy window of rows ``top:top+height``, columns ``left:left+width``.

        For a buffer laid out as (rows, columns, ...), e.g. an HWC image. The
        window keeps the parent's row pitch in its strides and keeps the
        parent alive, so ``cvcuda.as_tensor`` and the copy helpers take it.

        :param top: first row of the window.
        :param left: first column of the window.
        :param height: rows in the window.
        :param width: columns in the window.
        """
        view = self.view
        if len(view.shape) < 2:
            raise ValueError(
                f"crop needs a buffer of at least 2 dimensions, got shape {view.shape}"
            )
        for name, value in (
            ("top", top),
            ("left", left),
            ("height", height),
            ("width", width),
        ):
            if not is_int(value) or value < 0:
                raise ValueError(
                    f"crop: {name} must be a non-negative int, got {value!r}"
                )
        rows, cols = view.shape[:2]
        if top + height > rows or left + width > cols:
            raise ValueError(
                f"crop: window rows {top}:{top + height}, "
                f"columns {left}:{left + width} "
                f"leaves the buffer's {rows} rows x {cols} columns"
            )
        strides = view.strides or packed_strides(view.shape, view.dtype.itemsize)
        window = CudaBuffer.__new__(CudaBuffer)
        layout = replace(
            self._layout,
            ptr=view.ptr + top * strides[0] + left * strides[1],
            shape=(height, width, *view.shape[2:]),
            strides=strides,
        )
        window._setup(layout, owner=self)
        return window

    def __repr__(self) -> str:
        kind = "owned" if self._free is not None else "wrapped"
        state = ", closed" if self._closed else ""
        layout = self._layout
        return f"CudaBuffer(shape={layout.shape}, dtype={layout.dtype}, {kind}{state})"


def free_device(ptr: int) -> Any:
    """``cudaFree``; the error code, or None when CUDA is already torn down."""
    try:
        return cudart.cudaFree(ptr)[0]
    except Exception:  # pragma: no cover - interpreter shutdown
        return None


# docs_tag: end_buffer_details


# docs_tag: begin_cuda_memcpy_h2d
def cuda_memcpy_h2d(
    host_array: np.ndarray, device: DeviceLike, *, stream: StreamLike = None
) -> None:
    """Copy a C-contiguous numpy array into device memory.

    :param host_array: the source, C-contiguous, as many bytes as ``device``.
    :param device: a :class:`CudaBuffer`, an object with the interface (e.g.
        ``tensor.cuda()``), the dict, or an int pointer.
    :param stream: None: the copy blocks. A stream: the copy is enqueued there
        (pinned host memory makes it asynchronous) and the memory's next user
        is ordered after it.
    """
    fn = "cuda_memcpy_h2d"
    view, src, consumer = check_copy(fn, host_array, device, stream, writing_host=False)
    if view is None:  # zero bytes: nothing to do
        return
    if view.stream not in (None, consumer or LEGACY_STREAM):  # ordered already?
        wait_for_producer(view.stream, consumer)  # earlier work may still use it
    rows = view.rows  # padded rows and crops: rows of `width` bytes, `pitch` apart
    copy_rows(view.ptr, rows.pitch, src, rows.width, rows, consumer)
    if isinstance(device, CudaBuffer):
        # A blocking copy from pageable memory can return before the DMA lands:
        # export its stream (the legacy default) so the next user follows it.
        pending = LEGACY_STREAM if consumer is None else consumer
        if view.stream != pending:
            device.set_stream(pending)
    else:
        hand_back(view.stream, consumer, fn)  # the owner's stream waits for ours


# docs_tag: end_cuda_memcpy_h2d


# docs_tag: begin_cuda_memcpy_d2h
def cuda_memcpy_d2h(
    device: DeviceLike, host_array: np.ndarray, *, stream: StreamLike = None
) -> None:
    """Copy device memory into a writeable, C-contiguous numpy array.

    The producer stream the interface names (CAI v3) is waited for first.

    :param device: as for :func:`cuda_memcpy_h2d`.
    :param host_array: the destination, writeable and C-contiguous.
    :param stream: None: filled on return. A stream: the copy is enqueued
        there; synchronise it before reading the array.
    """
    fn = "cuda_memcpy_d2h"
    view, dst, consumer = check_copy(fn, host_array, device, stream, writing_host=True)
    if view is None:  # zero bytes: nothing to do
        return
    if view.stream not in (None, consumer or LEGACY_STREAM):  # ordered already?
        wait_for_producer(view.stream, consumer)  # the writer finishes first
    rows = view.rows
    copy_rows(dst, rows.width, view.ptr, rows.pitch, rows, consumer)
    if consumer is None or view.stream == consumer:  # nothing new is pending
        return
    if isinstance(device, CudaBuffer):
        device.set_stream(consumer)  # a later writer must wait for this read
    else:
        hand_back(view.stream, consumer, fn)


# docs_tag: end_cuda_memcpy_d2h


# docs_tag: begin_errors
SUCCESS = cudart.cudaError_t.cudaSuccess


class CudaError(RuntimeError):
    """A CUDA runtime call returned an error code.

    ``name`` is the error's name (``"cudaErrorInvalidValue"``), ``code`` its
    ``cudaError_t`` value and ``call`` the function that returned it.
    """

    def __init__(self, err: Any, call: str = "CUDA call") -> None:
        self.code = err
        self.call = call
        self.name = error_text(
            cudart.cudaGetErrorName, err, getattr(err, "name", str(err))
        )
        message = error_text(cudart.cudaGetErrorString, err, "unknown error")
        super().__init__(f"{call} failed: {self.name}: {message}")


def error_text(lookup: Any, err: Any, fallback: str) -> str:
    """``cudaGetErrorName`` / ``cudaGetErrorString`` as text, or ``fallback``."""
    try:
        status, text = lookup(err)
    except Exception:  # pragma: no cover - only at interpreter shutdown
        return fallback
    return text.decode() if status == SUCCESS else fallback


def check_cuda(result: tuple, call: str = "CUDA call") -> Any:
    """Unwrap the ``(err, value...)`` tuple that every ``cuda.bindings`` call returns.

    Returns ``None`` for ``(err,)``, the value for ``(err, value)`` and the
    tuple of values otherwise; raises :class:`CudaError` unless ``err`` is
    success.

    :param result: what a ``cuda.bindings`` function returned.
    :param call: the call's name, for the error message.
    """
    err = result[0]
    if err is not SUCCESS and err != SUCCESS:  # `is`: the fast, common answer
        raise CudaError(err, call)
    if len(result) == 1:
        return None
    return result[1] if len(result) == 2 else tuple(result[1:])


# docs_tag: end_errors


# docs_tag: begin_cai_parsing
ADDRESS_LIMIT = 1 << 64  # pointers, sizes and stream handles are 64-bit
#: The array-interface form of a type: byte order, kind, item size ('<f4').
TYPESTR = re.compile(r"[<>|=]?[biufc][0-9]+")


@dataclass(frozen=True)
class CaiView:
    """Checked, immutable metadata of a CUDA Array Interface.

    ``strides`` is ``None`` for C-contiguous data (as CAI allows), otherwise
    byte strides. ``stream`` is the producer's stream (``None``: nothing
    pending).
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

    @cached_property
    def rows(self) -> Rows:
        """The memory as pitched rows; ValueError for a layout no copy expresses."""
        return rows_of(self)


def is_int(value: Any) -> bool:
    """An int or numpy integer, and not a bool."""
    if type(value) is int:  # the common case, checked cheaply
        return True
    return isinstance(value, (int, np.integer)) and not isinstance(
        value, (bool, np.bool_)
    )


def is_plain_numeric(dtype: np.dtype) -> bool:
    return dtype.kind in "biufc" and dtype.fields is None and dtype.subdtype is None


def packed_strides(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    strides, step = [], itemsize
    for extent in reversed(shape):
        strides.append(step)
        step *= max(extent, 1)
    return tuple(reversed(strides))


def new_array_layout(shape: Any, dtype: Any, what: str) -> CaiView:
    """Check the ``shape`` and ``dtype`` of a new allocation before allocating."""
    if is_int(shape):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)):
        raise TypeError(
            f"{what}: shape must be an int or a tuple of ints, got {shape!r}"
        )
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{what}: dtype {dtype!r} is not a numpy dtype") from None
    if not is_plain_numeric(dtype):
        raise ValueError(
            f"{what}: dtype {dtype} is not a plain numeric type "
            "(bool, int, uint, float, complex)"
        )
    cai = {
        "shape": tuple(shape),
        "typestr": dtype.str,
        "data": (1, False),
        "version": 3,
    }
    return replace(parse_cuda_array_interface(cai, what=what), ptr=0)


def interface_of(obj: Any, what: str) -> Mapping:
    """The CAI dict of ``obj`` (a CudaBuffer, an object with the interface, a dict)."""
    if isinstance(obj, Mapping):
        return obj
    if hasattr(obj, "__cuda_array_interface__"):
        return obj.__cuda_array_interface__  # a closed CudaBuffer raises here
    raise TypeError(f"{what} needs __cuda_array_interface__, got {type(obj).__name__}")


def parse_cuda_array_interface(
    cai: Any, *, what: str = "__cuda_array_interface__"
) -> CaiView:
    """Check a CAI dict (version 2 or 3) and return its :class:`CaiView`.

    Raises :class:`TypeError` for values of the wrong type and
    :class:`ValueError` for values out of range or inconsistent; each message
    names the key and the value. Makes no CUDA call.

    :param cai: the interface dict.
    :param what: how messages name the dict.
    """
    if not isinstance(cai, Mapping):
        raise TypeError(f"{what} must be a dict, got {type(cai).__name__}")
    for key in ("shape", "typestr", "data", "version"):
        if key not in cai:
            raise ValueError(
                f"{what} is missing the required key {key!r} (has {sorted(cai)})"
            )

    version = cai["version"]
    if not is_int(version) or version not in (2, 3):
        raise ValueError(f"{what}['version'] must be 2 or 3, got {version!r}")

    shape = cai["shape"]
    if not isinstance(shape, (tuple, list)):
        raise TypeError(
            f"{what}['shape'] must be a tuple of ints, got {type(shape).__name__}"
        )
    for extent in shape:
        if not is_int(extent):
            raise TypeError(
                f"{what}['shape'] must hold ints, got {extent!r} in {tuple(shape)}"
            )
        if extent < 0:
            raise ValueError(
                f"{what}['shape'] must not be negative, got {tuple(shape)}"
            )
    shape = tuple(int(e) for e in shape)

    dtype = parse_typestr(cai["typestr"], what)

    data = cai["data"]
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(
            f"{what}['data'] must be a (pointer, readonly) pair, got {data!r}"
        )
    ptr, readonly = data
    if not is_int(ptr):
        raise TypeError(
            f"{what}['data'][0] must be an int pointer, got {type(ptr).__name__}"
        )
    if not 0 <= ptr < ADDRESS_LIMIT:
        raise ValueError(
            f"{what}['data'][0] must be a 64-bit unsigned pointer, got {ptr}"
        )
    if not isinstance(readonly, (bool, np.bool_)):
        raise TypeError(
            f"{what}['data'][1] (readonly) must be a bool, got {readonly!r}"
        )
    nelems = math.prod(shape)
    if nelems * dtype.itemsize >= ADDRESS_LIMIT:
        raise ValueError(
            f"{what} of shape {shape} and type {dtype.str!r} spans 2**64 bytes or more"
        )
    if ptr == 0 and nelems:
        raise ValueError(
            f"{what}['data'] holds a null pointer for a non-empty array "
            f"of shape {shape}"
        )

    strides = parse_strides(cai.get("strides"), shape, dtype, what)
    if cai.get("mask") is not None:
        raise ValueError(f"{what}['mask'] is set; masked arrays are not supported")
    stream = parse_stream(cai.get("stream"), what)
    return CaiView(
        int(ptr), shape, dtype, strides, bool(readonly), stream, int(version)
    )


def parse_typestr(typestr: Any, what: str) -> np.dtype:
    if not isinstance(typestr, str):
        raise TypeError(
            f"{what}['typestr'] must be a str, got {type(typestr).__name__}"
        )
    try:
        dtype = np.dtype(typestr)
    except TypeError:
        raise ValueError(
            f"{what}['typestr'] {typestr!r} is not a numpy type string"
        ) from None
    if not is_plain_numeric(dtype):
        raise ValueError(f"{what}['typestr'] {typestr!r} is not a plain numeric type")
    if not TYPESTR.fullmatch(typestr):  # numpy also reads 'float32'; CAI wants '<f4'
        raise ValueError(
            f"{what}['typestr'] {typestr!r} is not a numpy type string "
            "in the form '<f4' or '|u1'"
        )
    return dtype


def parse_strides(
    strides: Any, shape: tuple[int, ...], dtype: np.dtype, what: str
) -> tuple[int, ...] | None:
    """Byte strides as a tuple, or None when absent or C-contiguous."""
    if strides is None:
        return None
    if not isinstance(strides, (tuple, list)):
        raise TypeError(
            f"{what}['strides'] must be None or a tuple, got {type(strides).__name__}"
        )
    if len(strides) != len(shape):
        raise ValueError(
            f"{what}['strides'] {tuple(strides)} has {len(strides)} entries "
            f"but shape {shape} has {len(shape)}"
        )
    for stride in strides:
        if not is_int(stride):
            raise TypeError(
                f"{what}['strides'] must hold ints, got {stride!r} in {tuple(strides)}"
            )
        if stride % dtype.itemsize:
            raise ValueError(
                f"{what}['strides'] {tuple(strides)} are not multiples "
                "of the item size "
                f"{dtype.itemsize} of {dtype.str!r}"
            )
    strides = tuple(int(s) for s in strides)
    return None if strides == packed_strides(shape, dtype.itemsize) else strides


def parse_stream(stream: Any, what: str) -> int | None:
    """A CAI v3 ``stream``: an int handle, or None when nothing is pending."""
    if stream is None:
        return None
    if not is_int(stream):
        raise TypeError(
            f"{what}['stream'] must be None or an int handle, got {stream!r}"
        )
    if stream == 0:
        raise ValueError(
            f"{what}['stream'] is 0, which CAI v3 disallows as ambiguous; "
            "use 1 (legacy default stream), 2 (per-thread) or None"
        )
    if not (stream == -1 or 0 < stream < ADDRESS_LIMIT):
        raise ValueError(
            f"{what}['stream'] must be a 64-bit stream handle (or -1), got {stream}"
        )
    # -1 is CV-CUDA's "already synchronised": nothing to wait for.
    return None if stream == -1 else int(stream)


# docs_tag: end_cai_parsing


# docs_tag: begin_row_layout
class Rows(NamedTuple):
    """A device region as ``height`` rows of ``width`` bytes, ``pitch`` bytes apart."""

    height: int
    width: int
    pitch: int


def rows_of(view: CaiView) -> Rows:
    """``view`` as pitched rows, or refuse a layout a 2-D copy cannot express."""
    isz, nbytes = view.dtype.itemsize, view.nbytes
    if view.strides is None or nbytes == 0:
        return Rows(1, nbytes, nbytes)
    # size-1 dimensions have no meaningful stride
    dims = [(e, s) for e, s in zip(view.shape, view.strides, strict=True) if e != 1]
    # The packed suffix: innermost dimensions laid out without gaps.
    width, k = isz, len(dims)
    while k and dims[k - 1][1] == width:
        width *= dims[k - 1][0]
        k -= 1
    if k == 0:
        return Rows(1, nbytes, nbytes)
    pitch = dims[k - 1][1]
    height, step = 1, pitch
    for extent, stride in reversed(dims[:k]):
        if stride != step:
            break
        height *= extent
        step *= extent
    else:
        if pitch >= width:
            return Rows(height, width, pitch)
    raise ValueError(
        f"has strides {view.strides} for shape {view.shape} ({view.dtype}): only "
        "C-contiguous data or rows padded to a pitch (the innermost dimensions "
        "packed) can be copied"
    )


# docs_tag: end_row_layout


# docs_tag: begin_stream_ordering
#: A stream: an int handle, a ``cudaStream_t``, a ``cvcuda.Stream``, a
#: ``cuda.core`` Stream, or None where "no stream" (a blocking call) is allowed.
StreamLike = Any
#: CAI v3 stream values with a special meaning (cudaStreamLegacy / PerThread).
LEGACY_STREAM = 1
PER_THREAD_STREAM = 2


def stream_handle(stream: StreamLike) -> int | None:
    """The int handle of a stream: an int, a ``cudaStream_t``/``CUstream``,
    anything with ``__cuda_stream__`` (cuda.core) or a ``cvcuda.Stream``."""
    if stream is None:
        return None
    kind = type(stream)
    if kind is int and 0 <= stream < ADDRESS_LIMIT:
        return stream  # the common cases first, checked cheaply
    if kind is cudart.cudaStream_t:
        return int(stream)
    if is_int(stream):
        handle = int(stream)
    elif hasattr(stream, "__cuda_stream__"):
        handle = int(stream.__cuda_stream__()[1])
    elif is_int(getattr(stream, "handle", None)):
        handle = int(stream.handle)
    else:
        from cuda.bindings.utils import get_cuda_native_handle

        try:
            handle = int(get_cuda_native_handle(stream))
        except (TypeError, ValueError):
            raise TypeError(
                f"expected a CUDA stream or its int handle, got {type(stream).__name__}"
            ) from None
    if not 0 <= handle < ADDRESS_LIMIT:
        raise ValueError(f"a stream handle must be a 64-bit unsigned int, got {handle}")
    return handle


def wait_for_producer(producer: int | None, consumer: int | None) -> int | None:
    """Order the consumer after the producer's pending work (the CAI v3 consumer rule).

    ``consumer is None`` means a blocking copy on the legacy default stream:
    the host waits for a producer on any other stream. Otherwise the consumer
    stream waits on an event, and the host does not block. Returns the stream
    a later consumer must still order after, i.e. what a wrapper exports.
    """
    if producer is None or producer == consumer:
        return consumer
    if consumer is None:
        if producer in (LEGACY_STREAM, PER_THREAD_STREAM):
            return producer  # a legacy-stream copy follows these already
        sync = cudart.cudaStreamSynchronize(producer)
        unless_stream_gone(sync, "cudaStreamSynchronize(producer stream)")
        return None
    order_after(consumer, producer, foreign="signaller")
    return consumer


def new_event() -> Any:
    """A CUDA event for ordering streams; destroy it with ``cudaEventDestroy``.

    Timing is off: such an event is cheaper to record and to wait on."""
    flags = cudart.cudaEventDisableTiming
    return check_cuda(
        cudart.cudaEventCreateWithFlags(flags), "cudaEventCreateWithFlags"
    )


def record_event(event: Any, stream: int | cudart.cudaStream_t) -> None:
    """Mark the work enqueued on ``stream`` (a ``cudaStream_t`` or its int handle)
    so far; later waits on ``event`` see it."""
    check_cuda(cudart.cudaEventRecord(event, stream), "cudaEventRecord")


def wait_event(stream: int | cudart.cudaStream_t, event: Any) -> None:
    """Make the later work on ``stream`` (a ``cudaStream_t`` or its int handle)
    wait, on the GPU, for ``event``'s last record."""
    check_cuda(cudart.cudaStreamWaitEvent(stream, event, 0), "cudaStreamWaitEvent")


def order_after(waiter: int, signaller: int, *, foreign: str) -> None:
    """Make stream ``waiter`` wait, on the GPU, for the work enqueued on ``signaller``.

    ``foreign`` names the side ("waiter" or "signaller") that another library
    owns: a destroyed stream there has nothing left to order
    (``STREAM_GONE``), while an invalid stream of the caller's is an error.
    """
    event = new_event()
    try:
        recorded = cudart.cudaEventRecord(event, signaller)
        producer_call = "cudaEventRecord(producer stream)"
        if foreign == "signaller" and not unless_stream_gone(recorded, producer_call):
            return  # the producer's stream is gone: nothing left to wait for
        check_cuda(recorded, "cudaEventRecord")
        waited = cudart.cudaStreamWaitEvent(waiter, event, 0)
        if foreign == "waiter":
            unless_stream_gone(waited, "cudaStreamWaitEvent(owner stream)")
        else:
            check_cuda(waited, "cudaStreamWaitEvent(consumer stream)")
    finally:
        check_cuda(cudart.cudaEventDestroy(event), "cudaEventDestroy")


#: What CUDA returned here for a stream handle that was destroyed. CV-CUDA
#: tensors can name the last stream that wrote them after its owner destroyed
#: it, and cudaStreamDestroy lets pending work finish first, so there is
#: nothing left to wait for. Best effort: the real rule is to keep a stream
#: alive while tensors name it (see destroy_stream).
STREAM_GONE = (
    cudart.cudaError_t.cudaErrorContextIsDestroyed,
    cudart.cudaError_t.cudaErrorInvalidResourceHandle,
)


def unless_stream_gone(result: tuple, call: str) -> bool:
    """``check_cuda`` for a call on a producer stream; False when it is gone."""
    if result[0] in STREAM_GONE:
        return False
    check_cuda(result, call)
    return True


def hand_back(producer: int | None, consumer: int | None, fn: str) -> None:
    """After a copy into or out of memory owned elsewhere, order its owner's next
    work after the copy: the owner's stream (the one its interface names)
    waits for ``consumer``. A blocking copy, or one into memory that names no
    stream, is finished here."""
    if consumer is None or producer is None:
        # A blocking copy from pageable memory may return before the DMA lands,
        # and an owner that names no stream would not wait: complete it now.
        stream = LEGACY_STREAM if consumer is None else consumer
        check_cuda(cudart.cudaStreamSynchronize(stream), f"{fn}: sync")
    elif producer != consumer:
        order_after(producer, consumer, foreign="waiter")


def destroy_stream(stream: StreamLike) -> None:
    """Destroy a stream created with ``cudaStreamCreate*`` once nobody needs it.

    Waits for the stream, then, if CV-CUDA is loaded, clears CV-CUDA's cache:
    the cache remembers the stream each tensor was last used on, and a later
    tensor from it would otherwise name (and CV-CUDA wait on) a destroyed
    stream. Drop your CV-CUDA tensors that used the stream before calling this.
    """
    handle = stream_handle(stream)
    if handle in (None, 0, LEGACY_STREAM, PER_THREAD_STREAM):
        raise ValueError(
            "destroy_stream needs a created stream, "
            f"not the default stream handle {handle}"
        )
    check_cuda(cudart.cudaStreamSynchronize(handle), "cudaStreamSynchronize")
    cvcuda = sys.modules.get("cvcuda")
    if cvcuda is not None:
        cvcuda.clear_cache()
    check_cuda(cudart.cudaStreamDestroy(handle), "cudaStreamDestroy")


# docs_tag: end_stream_ordering


# docs_tag: begin_dlpack
#: DLPack device types (dlpack.h) of memory CUDA can reach.
DLPACK_CPU, DLPACK_CUDA, DLPACK_CUDA_HOST, DLPACK_CUDA_MANAGED = 1, 2, 3, 13
#: cudaMemoryType (host, device, managed) -> DLPack device type.
DLPACK_DEVICE_OF_MEMORY = {1: DLPACK_CUDA_HOST, 2: DLPACK_CUDA, 3: DLPACK_CUDA_MANAGED}


def dlpack_consumer_stream(stream: Any) -> int | None:
    """The consumer's stream as DLPack passes it: None for "no ordering" (-1),
    the legacy default stream for None; 0 is refused as ambiguous."""
    if stream is None:
        return LEGACY_STREAM
    if not is_int(stream):
        raise TypeError(f"__dlpack__: stream must be an int or None, got {stream!r}")
    if stream == -1:
        return None
    if stream == 0:
        raise ValueError(
            "__dlpack__: stream=0 is ambiguous in DLPack; pass 1 (legacy default "
            "stream), 2 (per-thread default stream) or a stream handle"
        )
    if not 0 < stream < ADDRESS_LIMIT:
        raise ValueError(
            f"__dlpack__: stream must be -1 or a 64-bit handle, got {stream}"
        )
    return int(stream)


def dlpack_layout(obj: Any, consumer: int, what: str) -> tuple[CaiView, Any]:
    """Check a DLPack producer and import it with cuda.core's StridedMemoryView.

    Returns the checked layout and the owner to keep alive (the view, which
    holds the producer). The producer orders its work before ``consumer``.
    """
    if type(obj).__name__ == "PyCapsule":
        raise TypeError(
            f"{what} needs the producer (an object with __dlpack__), not a capsule: "
            "a capsule can be consumed only once and names no device"
        )
    if not hasattr(obj, "__dlpack__"):
        raise TypeError(f"{what} needs __dlpack__, got {type(obj).__name__}")
    if hasattr(obj, "__dlpack_device__"):
        kind, device = obj.__dlpack_device__()
        if kind == DLPACK_CPU:
            raise ValueError(
                f"{what}: {type(obj).__name__} lives in CPU memory (DLPack device "
                f"type {kind}); copy it to the GPU first (cuda_memcpy_h2d)"
            )
        if kind not in DLPACK_DEVICE_OF_MEMORY.values():
            raise ValueError(
                f"{what}: DLPack device type {kind} (device {device}) is not memory "
                "that CUDA can reach (CUDA, CUDA host or CUDA managed)"
            )
    from cuda.core.utils import StridedMemoryView

    view = StridedMemoryView.from_dlpack(obj, stream_ptr=consumer)
    if not view.is_device_accessible:
        raise ValueError(f"{what}: {type(obj).__name__} is not CUDA-accessible memory")
    dtype = np.dtype(view.dtype)
    strides = view.strides  # in elements, or None
    cai = {
        "shape": tuple(view.shape),
        "typestr": dtype.str,
        "data": (int(view.ptr), bool(view.readonly)),
        "strides": None
        if strides is None
        else tuple(s * dtype.itemsize for s in strides),
        "version": 3,
    }
    return parse_cuda_array_interface(cai, what=what), view


# docs_tag: end_dlpack


# docs_tag: begin_copy_checks
#: Device memory: a CudaBuffer, an object with ``__cuda_array_interface__``,
#: the interface dict, or an int device pointer.
DeviceLike = Any
#: Copies take their direction from the pointers (unified addressing).
MEMCPY_DEFAULT = cudart.cudaMemcpyKind.cudaMemcpyDefault


def check_copy(
    fn: str,
    host: Any,
    device: DeviceLike,
    stream: StreamLike,
    *,
    writing_host: bool,
) -> tuple[CaiView | None, int, int | None]:
    """Every check a copy makes, before any copy. Returns the device side's
    :class:`CaiView` (None when there are no bytes to copy), the host array's
    address and the stream handle.

    This runs on every copy, so it does each piece of work once. A CudaBuffer
    remembers its checked layout, that its memory is device memory, and the
    last copy checked in each direction: the same host array and stream again
    only need what numpy lets change in place (dtype, contiguity, writeable)
    looked at. Otherwise the buffer protocol gives a writeable C-contiguous
    array's address in one call (``array.ctypes.data`` builds a helper object
    each time, which costs more than a small copy) and refuses other arrays on
    the way.
    """
    buffer = device if type(device) is CudaBuffer else None
    if buffer is not None:
        last = buffer.checked_copies[writing_host]  # None once closed
        if last is not None:
            last_host, last_stream, view, last_dtype, host_ptr, consumer = last
            if (
                last_host is host
                and last_stream is stream
                and host.dtype is last_dtype  # numpy lets both change in place
                and (host.flags.carray if writing_host else host.flags.c_contiguous)
            ):
                return view, host_ptr, consumer
    host_ptr = 0
    if type(host) is np.ndarray:
        try:  # noqa: SIM105 (contextlib.suppress costs a context manager per copy)
            host_ptr = ctypes.addressof(ctypes.c_char.from_buffer(host))
        except (TypeError, ValueError, BufferError):
            pass  # read-only, empty or strided: check_host_array says which
    if not host_ptr:
        check_host_array(fn, host, writing_host)
    dtype = host.dtype
    if dtype.hasobject:
        raise TypeError(
            f"{fn}: host array has dtype {dtype}, which holds Python objects"
        )
    side = "source device buffer" if writing_host else "destination device buffer"
    nbytes = host.nbytes
    view = device_view(device, side, nbytes) if buffer is None else buffer.view
    if view.nbytes != nbytes:
        raise ValueError(
            f"{fn}: size mismatch: host array has "
            f"{describe(host.shape, dtype, nbytes)} but {side} has "
            f"{describe(view.shape, view.dtype, view.nbytes)}"
        )
    if view.dtype is not dtype and view.dtype != dtype and not is_int(device):
        raise TypeError(
            f"{fn}: dtype mismatch: host array is {dtype} "
            f"but {side} is {view.dtype} "
            f"(typestr {view.typestr!r}); convert with host.astype(...) first"
        )
    if not writing_host and view.readonly:
        raise ValueError(
            f"{fn}: {side} is marked read-only in its __cuda_array_interface__"
        )
    consumer = None if stream is None else stream_handle(stream)
    if not nbytes:
        return None, 0, consumer
    try:
        rows = view.rows
    except ValueError as exc:
        raise ValueError(f"{fn}: {side} {exc}") from None
    if buffer is None or not buffer.checked_memory:
        check_device_memory(device, view, rows, f"{fn}: {side}")
    host_ptr = host_ptr or host.ctypes.data
    if buffer is not None and (stream is None or type(stream) in HANDLE_TYPES):
        # A handle object cannot change; one with __cuda_stream__ can be closed.
        checked = CheckedCopy(host, stream, view, dtype, host_ptr, consumer)
        buffer.remember_copy(checked, writing_host)
    return view, host_ptr, consumer


class CheckedCopy(NamedTuple):
    """What ``check_copy`` found for one copy of a :class:`CudaBuffer`."""

    host: np.ndarray
    stream: StreamLike
    view: CaiView
    dtype: np.dtype
    host_ptr: int
    consumer: int | None


#: Stream arguments whose handle is fixed: a checked copy with one is remembered.
HANDLE_TYPES = (int, cudart.cudaStream_t)


def check_host_array(fn: str, host: Any, writing_host: bool) -> None:
    """Refuse a host side that is not a C-contiguous numpy array (writeable
    when it is written)."""
    if not isinstance(host, np.ndarray):
        raise TypeError(
            f"{fn}: host array must be a numpy.ndarray, got {type(host).__name__}"
        )
    if not host.flags.c_contiguous:
        raise ValueError(
            f"{fn}: host array must be C-contiguous, got shape {host.shape} with "
            f"strides {host.strides} (use numpy.ascontiguousarray)"
        )
    if writing_host and not host.flags.writeable:
        raise ValueError(f"{fn}: host array is read-only; pass a writeable destination")


def describe(shape: tuple[int, ...], dtype: np.dtype, nbytes: int) -> str:
    return f"{nbytes} bytes (shape {shape}, {dtype})"


def device_view(device: DeviceLike, side: str, host_nbytes: int) -> CaiView:
    """The :class:`CaiView` of any accepted form of device memory."""
    if isinstance(device, CudaBuffer):
        return device.view
    if isinstance(device, Mapping):
        return parse_cuda_array_interface(device, what=side)
    if is_int(device):
        if not 0 < device < ADDRESS_LIMIT:
            raise ValueError(
                f"{side} pointer must be a positive device address, got {device} "
                "(addresses are 64-bit)"
            )
        return CaiView(
            int(device), (host_nbytes,), np.dtype(np.uint8), None, False, None, 3
        )
    if hasattr(device, "__cuda_array_interface__"):
        return parse_cuda_array_interface(device.__cuda_array_interface__, what=side)
    raise TypeError(
        f"{side} must be a CudaBuffer, an object with __cuda_array_interface__, "
        "its dict "
        f"or an int device pointer, got {type(device).__name__}"
    )


def check_device_memory(
    device: DeviceLike, view: CaiView, rows: Rows, side: str
) -> None:
    """Refuse memory the GPU cannot reach, and a copy that would leave its allocation.

    Cheap queries, no copy. A CudaBuffer remembers the answer; our own
    allocations never ask. Pinned host memory passes (the GPU reaches it), but
    only device and managed memory have an allocation size to check against.
    """
    buffer = device if isinstance(device, CudaBuffer) else None
    if buffer is not None and buffer.checked_memory:
        return
    ptr = view.ptr
    attrs = check_cuda(cudart.cudaPointerGetAttributes(ptr), "cudaPointerGetAttributes")
    if attrs.type == cudart.cudaMemoryType.cudaMemoryTypeUnregistered:
        raise ValueError(
            f"{side} pointer {ptr:#x} is not CUDA-accessible memory (a pageable host "
            "pointer?); pass device, managed or pinned memory"
        )
    span = (rows.height - 1) * rows.pitch + rows.width
    # Only a bare pointer or dict can promise more memory than exists: an object
    # that exposes the interface owns the memory and describes it (and the driver
    # API this query loads would show up in compute-sanitizer's API error report).
    bare = is_int(device) or isinstance(device, Mapping)
    bare = bare or (buffer is not None and buffer.wraps_bare_interface)
    if bare and attrs.type != cudart.cudaMemoryType.cudaMemoryTypeHost:
        end = allocation_end(ptr)
        if end is not None and ptr + span > end:
            raise ValueError(
                f"{side}: a copy of {span} bytes at {ptr:#x} "
                f"would run {ptr + span - end} "
                f"bytes past the end of its allocation ({end - ptr} bytes from that "
                "pointer are left)"
            )
    if buffer is not None:
        buffer.checked_memory = True


def allocation_end(ptr: int) -> int | None:
    """The end address of the device allocation that holds ``ptr`` (driver API)."""
    try:
        from cuda.bindings import driver

        err, base, size = driver.cuMemGetAddressRange(ptr)
    except Exception:  # no driver library: the runtime check before this failed
        return None
    return int(base) + int(size) if err == driver.CUresult.CUDA_SUCCESS else None


def copy_rows(
    dst: int, dst_pitch: int, src: int, src_pitch: int, rows: Rows, stream: int | None
) -> None:
    """One flat or pitched copy of ``rows``. The direction comes from the
    pointers (``cudaMemcpyDefault``, unified addressing), so pinned memory on
    either side is fine."""
    height, width, pitch = rows
    flat = pitch == width or height <= 1  # one run of bytes
    if flat and stream is None:
        result = cudart.cudaMemcpy(dst, src, width * height, MEMCPY_DEFAULT)
    elif flat:
        nbytes = width * height
        result = cudart.cudaMemcpyAsync(dst, src, nbytes, MEMCPY_DEFAULT, stream)
    elif stream is None:
        result = cudart.cudaMemcpy2D(
            dst, dst_pitch, src, src_pitch, width, height, MEMCPY_DEFAULT
        )
    else:
        result = cudart.cudaMemcpy2DAsync(
            dst, dst_pitch, src, src_pitch, width, height, MEMCPY_DEFAULT, stream
        )
    if result[0] is not SUCCESS:  # success needs no call to check_cuda
        call = "cudaMemcpy" if flat else "cudaMemcpy2D"
        check_cuda(result, call if stream is None else call + "Async")


# docs_tag: end_copy_checks


# docs_tag: begin_pinned_memory
def free_host(ptr: int) -> None:
    with contextlib.suppress(Exception):  # interpreter shutdown: modules torn down
        cudart.cudaFreeHost(ptr)


class PinnedHostMemory:
    """Owner of a ``cudaMallocHost`` block; numpy keeps it as the array's ``base``."""

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype, nbytes: int) -> None:
        ptr = check_cuda(cudart.cudaMallocHost(nbytes), "cudaMallocHost")
        self.__array_interface__ = {
            "shape": shape,
            "typestr": dtype.str,
            "data": (ptr, False),
            "version": 3,
        }
        weakref.finalize(self, free_host, ptr)


def pinned_empty(shape: int | tuple[int, ...], dtype: Any = np.uint8) -> np.ndarray:
    """A numpy array in page-locked (pinned) host memory from ``cudaMallocHost``.

    The memory is freed with ``cudaFreeHost`` when the array (and every view
    of it) has been collected. Contents are uninitialised, like
    ``numpy.empty``.

    :param shape: an int or a tuple of non-negative ints.
    :param dtype: a plain numeric numpy dtype.
    """
    layout = new_array_layout(shape, dtype, "pinned_empty")  # device-memory rules
    if layout.nbytes == 0:  # nothing to pin (numpy < 2.4 refuses a null pointer)
        return np.empty(layout.shape, layout.dtype)
    return np.asarray(PinnedHostMemory(layout.shape, layout.dtype, layout.nbytes))


class registered:
    """Context manager that page-locks an existing numpy array (``cudaHostRegister``).

    ``with registered(arr): ...``: inside, copies from and to ``arr`` run at
    pinned speed. On exit it waits for the device to finish (stream-ordered
    copies may still use the pages), then unregisters them; the array stays
    valid. Registration works on whole pages: two arrays that share a page
    cannot both be registered, so register large arrays, not small views.
    """

    def __init__(self, array: np.ndarray) -> None:
        if not isinstance(array, np.ndarray):
            raise TypeError(
                f"registered() needs a numpy.ndarray, got {type(array).__name__}"
            )
        if not array.flags.c_contiguous:
            raise ValueError(
                f"registered() needs a C-contiguous array, got strides {array.strides}"
            )
        self.array = array
        self.ptr = 0  # the registered address while inside the block

    def __enter__(self) -> np.ndarray:
        array = self.array
        if array.nbytes:
            flags = cudart.cudaHostRegisterDefault
            result = cudart.cudaHostRegister(array.ctypes.data, array.nbytes, flags)
            check_cuda(result, "cudaHostRegister")
            self.ptr = array.ctypes.data
        return array

    def __exit__(self, *exc: object) -> None:
        if self.ptr:
            ptr, self.ptr = self.ptr, 0
            # stream-ordered copies may still use the pages
            sync = cudart.cudaDeviceSynchronize()
            check_cuda(sync, "cudaDeviceSynchronize (before cudaHostUnregister)")
            check_cuda(cudart.cudaHostUnregister(ptr), "cudaHostUnregister")


# docs_tag: end_pinned_memory
