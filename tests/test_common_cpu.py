# SPDX-License-Identifier: Apache-2.0
"""CPU-only behaviour of ``cuda_python_common``: errors, the GPU preflight, buffer
lifetimes, crops, streams, and the CUDA calls the copy helpers make.

Device memory is a synthetic ``__cuda_array_interface__`` dict, and every CUDA
runtime function the module uses is replaced by a fake (the ``cuda`` fixture),
so these tests run -- and mean the same -- with or without a GPU.
"""

from __future__ import annotations

import gc
import warnings
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from cuda_fakes import FakeCuda

import cuda_python_common as common
from cuda_python_common import (
    CaiView,
    CudaBuffer,
    CudaError,
    check_cuda,
    cuda_memcpy_d2h,
    cuda_memcpy_h2d,
    parse_cuda_array_interface,
    pinned_empty,
    registered,
    stream_handle,
)

cudart = common.cudart
Err = cudart.cudaError_t
SUCCESS = Err.cudaSuccess
# Copies take their direction from the pointers (unified addressing), both ways.
H2D = D2H = cudart.cudaMemcpyKind.cudaMemcpyDefault
PTR = 0x7F0000000000

# Read before any test patches the runtime: the real state of this machine.
REAL_DEVICE_COUNT = cudart.cudaGetDeviceCount()
NO_DRIVER_HERE = REAL_DEVICE_COUNT[0] == Err.cudaErrorInsufficientDriver


def dev(**changes: Any) -> dict[str, Any]:
    cai: dict[str, Any] = {"shape": (10, 10, 3), "typestr": "|u1", "data": (PTR, False), "version": 3}
    cai.update(changes)
    return cai


@pytest.fixture
def cuda(monkeypatch: pytest.MonkeyPatch) -> FakeCuda:
    return FakeCuda(monkeypatch)


# --------------------------------------------------------------------------- #
# check_cuda / CudaError                                                      #
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    ("result", "expected"),
    [
        pytest.param((SUCCESS,), None, id="success-only"),
        pytest.param((SUCCESS, 42), 42, id="one-value"),
        pytest.param((SUCCESS, None), None, id="one-None-value"),
        pytest.param((SUCCESS, (1, 2)), (1, 2), id="one-tuple-value"),
        pytest.param((SUCCESS, 42, "x"), (42, "x"), id="two-values"),
        pytest.param((SUCCESS, 1, 2, 3), (1, 2, 3), id="three-values"),
    ],
)
def test_check_cuda_unwraps_success(result: tuple, expected: Any) -> None:
    assert check_cuda(result, "cudaSomething") == expected


@pytest.mark.parametrize(
    ("err", "text"),
    [
        (Err.cudaErrorInvalidValue, "invalid argument"),
        (Err.cudaErrorMemoryAllocation, "out of memory"),
        (Err.cudaErrorInsufficientDriver, "CUDA driver version is insufficient"),
    ],
    ids=lambda v: getattr(v, "name", None),
)
@pytest.mark.parametrize("values", [(), (None,), (5, 6)], ids=["no-value", "one-value", "two-values"])
def test_check_cuda_raises_cuda_error_naming_error_and_call(err: Any, text: str, values: tuple) -> None:
    with pytest.raises(CudaError) as info:
        check_cuda((err, *values), "cudaMalloc")
    exc = info.value
    assert isinstance(exc, RuntimeError)
    assert (exc.code, exc.call, exc.name) == (err, "cudaMalloc", err.name)
    assert str(exc).startswith(f"cudaMalloc failed: {err.name}: ")
    assert text in str(exc)


def test_check_cuda_default_call_name() -> None:
    with pytest.raises(CudaError, match=r"^CUDA call failed: cudaErrorInvalidValue: ") as info:
        check_cuda((Err.cudaErrorInvalidValue,))
    assert info.value.call == "CUDA call"


def test_cuda_error_falls_back_when_the_name_lookup_fails(cuda: FakeCuda) -> None:
    cuda.allow("cudaGetErrorName", lambda err: (Err.cudaErrorInvalidValue, None))
    cuda.allow("cudaGetErrorString", lambda err: (Err.cudaErrorInvalidValue, None))
    exc = CudaError(Err.cudaErrorLaunchFailure, "cudaLaunchKernel")
    assert exc.name == "cudaErrorLaunchFailure"
    assert str(exc) == "cudaLaunchKernel failed: cudaErrorLaunchFailure: unknown error"


# --------------------------------------------------------------------------- #
# from_cuda lifetimes                                                        #
# --------------------------------------------------------------------------- #
class Producer:
    """A foreign owner of device memory, exposing ``__cuda_array_interface__``."""

    def __init__(self, **changes: Any) -> None:
        self.__cuda_array_interface__ = dev(**changes)


class WeakrefableDict(dict):
    """A dict that can be weak-referenced (plain dicts cannot)."""


def test_from_cuda_keeps_its_source_alive_until_closed_and_deleted(cuda: FakeCuda) -> None:
    src = Producer()
    ref = weakref.ref(src)
    wrapper = CudaBuffer.from_cuda(src)
    del src
    gc.collect()
    assert ref() is not None, "the wrapper must keep its source (and so the memory) alive"
    assert wrapper.ptr == PTR and not wrapper.owns_memory
    wrapper.close()
    del wrapper
    gc.collect()
    assert ref() is None
    assert cuda.calls == []


def test_from_cuda_releases_its_source_when_collected() -> None:
    src = Producer()
    ref = weakref.ref(src)
    wrapper = CudaBuffer.from_cuda(src)
    del src
    gc.collect()
    assert ref() is not None
    del wrapper
    gc.collect()
    assert ref() is None


def test_close_drops_the_source_at_once() -> None:
    src = Producer()
    ref = weakref.ref(src)
    wrapper = CudaBuffer.from_cuda(src)
    del src
    wrapper.close()
    gc.collect()
    assert ref() is None and wrapper.closed


def test_from_cuda_of_a_cudabuffer_keeps_it_alive() -> None:
    inner = CudaBuffer.from_cuda(dev())
    ref = weakref.ref(inner)
    outer = CudaBuffer.from_cuda(inner)
    del inner
    gc.collect()
    assert ref() is not None
    assert outer.ptr == PTR
    del outer
    gc.collect()
    assert ref() is None


def test_a_wrapper_of_a_dict_keeps_no_source(cuda: FakeCuda) -> None:
    cai = WeakrefableDict(dev())
    ref = weakref.ref(cai)
    wrapper = CudaBuffer.from_cuda(cai)
    del cai
    gc.collect()
    assert ref() is None, "a wrapper of a bare dict must not keep the dict"
    assert wrapper.ptr == PTR and wrapper.__cuda_array_interface__["shape"] == (10, 10, 3)
    assert cuda.calls == []


# --------------------------------------------------------------------------- #
# crop                                                                        #
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    ("cai", "strides"),
    [
        pytest.param(dev(), (30, 3, 1), id="packed-hwc-u1"),
        pytest.param(dev(strides=(64, 3, 1)), (64, 3, 1), id="pitched-hwc-u1"),
        pytest.param(dev(typestr="<f4", strides=(160, 12, 4)), (160, 12, 4), id="pitched-hwc-f4"),
        pytest.param(dev(shape=(10, 10), typestr="<i2"), (20, 2), id="packed-hw-i2"),
        pytest.param(dev(shape=(10, 10, 2, 2), typestr="<u2"), (80, 8, 4, 2), id="packed-4d-u2"),
    ],
)
def test_crop_offsets_pointer_and_keeps_strides(cai: dict[str, Any], strides: tuple[int, ...]) -> None:
    parent = CudaBuffer.from_cuda(cai)
    window = parent.crop(2, 3, 4, 5)
    assert window.ptr == PTR + 2 * strides[0] + 3 * strides[1]
    assert window.shape == (4, 5, *cai["shape"][2:])
    assert window.dtype == np.dtype(cai["typestr"])
    exported = window.__cuda_array_interface__
    assert exported["strides"] == strides
    assert exported["data"] == (window.ptr, False)
    assert exported["typestr"] == np.dtype(cai["typestr"]).str
    assert not window.owns_memory
    # A crop of a crop offsets from the window, keeping the same strides.
    inner = window.crop(1, 1, 2, 2)
    assert inner.ptr == window.ptr + strides[0] + strides[1]
    assert inner.__cuda_array_interface__["strides"] == strides


def test_crop_keeps_readonly_and_stream() -> None:
    window = CudaBuffer.from_cuda(dev(data=(PTR, True), stream=1)).crop(0, 0, 1, 1)
    cai = window.__cuda_array_interface__
    assert cai["data"] == (PTR, True) and cai["stream"] == 1


@pytest.mark.parametrize("window", [(0, 0, 10, 10), (10, 10, 0, 0), (0, 0, 0, 10), (9, 9, 1, 1)])
def test_crop_accepts_windows_on_the_edges(window: tuple[int, int, int, int]) -> None:
    top, left, height, width = window
    crop = CudaBuffer.from_cuda(dev()).crop(*window)
    assert crop.shape == (height, width, 3)
    assert crop.ptr == PTR + 30 * top + 3 * left


def test_crop_keeps_its_parent_alive() -> None:
    parent = CudaBuffer.from_cuda(Producer())
    ref = weakref.ref(parent)
    window = parent.crop(1, 1, 2, 2)
    del parent
    gc.collect()
    assert ref() is not None
    assert window.ptr == PTR + 33
    window.close()
    del window
    gc.collect()
    assert ref() is None


def test_copy_into_a_crop_uses_the_parent_pitch(cuda: FakeCuda) -> None:
    cuda.allow_device_pointers()
    cuda.allow_copies()
    parent = CudaBuffer.from_cuda(dev(strides=(64, 3, 1)))
    window = parent.crop(2, 3, 4, 5)
    host = np.zeros((4, 5, 3), np.uint8)
    cuda_memcpy_h2d(host, window)
    start = PTR + 2 * 64 + 3 * 3
    assert cuda.calls == [
        ("cudaPointerGetAttributes", (start,)),
        ("cudaMemcpy2D", (start, 64, host.ctypes.data, 15, 15, 4, H2D)),
    ]
    assert window.__cuda_array_interface__["stream"] == 1  # blocking copy: the legacy stream


# --------------------------------------------------------------------------- #
# close                                                                       #
# --------------------------------------------------------------------------- #
def test_close_is_idempotent_for_a_wrapper(cuda: FakeCuda) -> None:
    buf = CudaBuffer.from_cuda(dev())
    assert not buf.closed
    buf.close()
    buf.close()
    assert buf.closed
    with buf:  # leaving a with block closes again: still fine
        pass
    assert "closed" in repr(buf)
    assert cuda.calls == []


@pytest.fixture
def fake_malloc(cuda: FakeCuda) -> FakeCuda:
    pointers = iter(range(0x7E0000000000, 0x7E0000100000, 0x1000))
    cuda.allow("cudaMalloc", lambda nbytes: (SUCCESS, next(pointers)))
    cuda.allow("cudaFree")
    return cuda


def test_owned_buffer_is_freed_exactly_once_by_close(fake_malloc: FakeCuda) -> None:
    buf = CudaBuffer((4, 5), np.float32)
    assert fake_malloc.calls == [("cudaMalloc", (80,))]
    ptr = buf.ptr
    assert buf.owns_memory and buf.nbytes == 80
    buf.close()
    buf.close()
    del buf
    gc.collect()
    assert fake_malloc.calls == [("cudaMalloc", (80,)), ("cudaFree", (ptr,))]


def test_owned_buffer_is_freed_exactly_once_by_with_and_gc(fake_malloc: FakeCuda) -> None:
    with CudaBuffer(16) as buf:
        ptr = buf.ptr
    assert buf.closed
    del buf
    other = CudaBuffer((2, 2), np.int16)
    other_ptr = other.ptr
    del other  # never closed: the collector frees it
    gc.collect()
    frees = [args for name, args in fake_malloc.calls if name == "cudaFree"]
    assert frees == [(ptr,), (other_ptr,)]


def test_close_reports_a_failed_free(fake_malloc: FakeCuda) -> None:
    fake_malloc.allow("cudaFree", lambda ptr: (Err.cudaErrorInvalidValue,))
    fake_malloc.allow_error_text()
    buf = CudaBuffer(8)
    with pytest.raises(CudaError, match="cudaFree failed: cudaErrorInvalidValue"):
        buf.close()
    buf.close()  # already closed: nothing more to free
    assert fake_malloc.names.count("cudaFree") == 1


# --------------------------------------------------------------------------- #
# closed propagates to crops and wrappers                                    #
# --------------------------------------------------------------------------- #
USES: dict[str, Callable[[CudaBuffer], Any]] = {
    "ptr": lambda b: b.ptr,
    "view": lambda b: b.view,
    "cai": lambda b: b.__cuda_array_interface__,
    "crop": lambda b: b.crop(0, 0, 1, 1),
    "from_cuda": CudaBuffer.from_cuda,
    "set_stream": lambda b: b.set_stream(5),
    "h2d": lambda b: cuda_memcpy_h2d(np.zeros(b.shape, b.dtype), b),
    "d2h": lambda b: cuda_memcpy_d2h(b, np.zeros(b.shape, b.dtype)),
}
CHILDREN: dict[str, Callable[[CudaBuffer], CudaBuffer]] = {
    "crop": lambda p: p.crop(1, 1, 3, 3),
    "crop-of-crop": lambda p: p.crop(1, 1, 3, 3).crop(1, 1, 1, 1),
    "from_cuda": CudaBuffer.from_cuda,
    "from_cuda-of-crop": lambda p: CudaBuffer.from_cuda(p.crop(0, 0, 2, 2)),
    "crop-of-from_cuda": lambda p: CudaBuffer.from_cuda(p).crop(0, 0, 2, 2),
}


@pytest.mark.parametrize("use", USES.values(), ids=USES.keys())
@pytest.mark.parametrize("child_of", CHILDREN.values(), ids=CHILDREN.keys())
def test_closed_parent_closes_its_views(cuda: FakeCuda, child_of: Callable, use: Callable) -> None:
    parent = CudaBuffer.from_cuda(dev())
    child = child_of(parent)
    assert not child.closed
    parent.close()
    assert child.closed
    with pytest.raises(ValueError, match="closed"):
        use(child)
    assert cuda.calls == []


def test_closing_a_view_leaves_its_parent_open() -> None:
    parent = CudaBuffer.from_cuda(dev())
    window = parent.crop(0, 0, 2, 2)
    wrapper = CudaBuffer.from_cuda(parent)
    window.close()
    wrapper.close()
    assert not parent.closed and parent.ptr == PTR


# --------------------------------------------------------------------------- #
# stream_handle and exported streams                                          #
# --------------------------------------------------------------------------- #
class CoreStream:
    def __init__(self, handle: int) -> None:
        self.handle_value = handle

    def __cuda_stream__(self) -> tuple[int, int]:
        return (0, self.handle_value)


class CvcudaLikeStream:
    def __init__(self, handle: Any) -> None:
        self.handle = handle


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        pytest.param(None, None, id="None"),
        pytest.param(0, 0, id="int-0"),
        pytest.param(7, 7, id="int"),
        pytest.param(2**63, 2**63, id="int-large"),
        pytest.param(np.uint64(9), 9, id="numpy-uint64"),
        pytest.param(CoreStream(0x1234), 0x1234, id="__cuda_stream__"),
        pytest.param(CvcudaLikeStream(99), 99, id="handle-int"),
        pytest.param(CvcudaLikeStream(np.int64(98)), 98, id="handle-numpy-int"),
        pytest.param(cudart.cudaStream_t(0x5678), 0x5678, id="cudaStream_t"),
    ],
)
def test_stream_handle(stream: Any, expected: int | None) -> None:
    handle = stream_handle(stream)
    assert handle == expected
    assert handle is None or type(handle) is int


@pytest.mark.parametrize("bad", ["1", 1.0, True, CvcudaLikeStream("7"), CvcudaLikeStream(None)])
def test_stream_handle_refuses_non_streams(bad: Any) -> None:
    with pytest.raises(TypeError, match="expected a CUDA stream or its int handle"):
        stream_handle(bad)


def test_producer_stream_0_is_not_allowed(cuda: FakeCuda) -> None:
    with pytest.raises(ValueError, match=r"\['stream'\] is 0, which CAI v3 disallows"):
        CudaBuffer.from_cuda(dev(stream=0))
    with pytest.raises(ValueError, match=r"\['stream'\] is 0"):
        CudaBuffer.from_cuda(Producer(stream=0))
    assert cuda.calls == []


@pytest.mark.parametrize(
    ("producer", "exported"),
    [
        pytest.param(None, None, id="none"),
        pytest.param(-1, None, id="cvcuda-already-synchronised"),
        pytest.param(1, 1, id="legacy-passed-on"),
        pytest.param(2, 2, id="per-thread-passed-on"),
    ],
)
def test_from_cuda_exports_without_a_cuda_call(cuda: FakeCuda, producer: int | None, exported: int | None) -> None:
    wrapper = CudaBuffer.from_cuda(dev(stream=producer))
    assert wrapper.__cuda_array_interface__["stream"] == exported
    assert wrapper.view.stream == exported
    assert cuda.calls == []


@pytest.mark.parametrize(
    ("stream", "exported"),
    [(0, 1), (None, None), (5, 5), (1, 1), (2, 2), (CoreStream(0xABC), 0xABC), (CvcudaLikeStream(77), 77)],
    ids=["0-as-legacy", "None", "int", "legacy", "per-thread", "__cuda_stream__", "handle"],
)
def test_set_stream_exports_a_cai_v3_stream(stream: Any, exported: int | None) -> None:
    buf = CudaBuffer.from_cuda(dev(stream=9), stream=9)  # producer == consumer: no CUDA call
    buf.set_stream(stream)
    assert buf.__cuda_array_interface__["stream"] == exported
    assert parse_cuda_array_interface(buf.__cuda_array_interface__).stream == exported


def test_from_cuda_with_stream_0_exports_legacy_stream(cuda: FakeCuda) -> None:
    assert CudaBuffer.from_cuda(dev(), stream=0).__cuda_array_interface__["stream"] == 1
    assert cuda.calls == []


def test_from_cuda_host_waits_for_an_ordinary_producer_stream(cuda: FakeCuda) -> None:
    cuda.allow("cudaStreamSynchronize")
    wrapper = CudaBuffer.from_cuda(dev(stream=0x5000))
    assert cuda.calls == [("cudaStreamSynchronize", (0x5000,))]
    assert wrapper.__cuda_array_interface__["stream"] is None


def test_from_cuda_orders_a_consumer_stream_with_an_event(cuda: FakeCuda) -> None:
    cuda.allow_events()
    wrapper = CudaBuffer.from_cuda(dev(stream=0x5000), stream=CoreStream(0x6000))
    assert cuda.calls == [
        ("cudaEventCreateWithFlags", (cudart.cudaEventDisableTiming,)),
        ("cudaEventRecord", ("ev", 0x5000)),
        ("cudaStreamWaitEvent", (0x6000, "ev", 0)),
        ("cudaEventDestroy", ("ev",)),
    ]
    assert wrapper.__cuda_array_interface__["stream"] == 0x6000


def test_from_cuda_destroys_the_event_when_the_wait_fails(cuda: FakeCuda) -> None:
    cuda.allow("cudaEventCreateWithFlags", lambda flags: (SUCCESS, "ev"))
    cuda.allow("cudaEventRecord")
    cuda.allow("cudaStreamWaitEvent", lambda *args: (Err.cudaErrorInvalidResourceHandle,))
    cuda.allow("cudaEventDestroy")
    cuda.allow_error_text()
    with pytest.raises(CudaError, match=r"cudaStreamWaitEvent.*cudaErrorInvalidResourceHandle"):
        CudaBuffer.from_cuda(dev(stream=0x5000), stream=0x6000)
    assert cuda.names[-1] == "cudaEventDestroy"


def test_from_cuda_reports_a_failed_host_wait(cuda: FakeCuda) -> None:
    cuda.allow("cudaStreamSynchronize", lambda stream: (Err.cudaErrorLaunchFailure,))
    cuda.allow_error_text()
    with pytest.raises(CudaError, match=r"cudaStreamSynchronize\(producer stream\) failed: cudaErrorLaunchFailure"):
        CudaBuffer.from_cuda(dev(stream=0x5000))


# --------------------------------------------------------------------------- #
# What the copies call                                                        #
# --------------------------------------------------------------------------- #
def test_blocking_h2d_into_a_wrapper_records_the_legacy_stream(cuda: FakeCuda) -> None:
    cuda.allow_device_pointers()
    cuda.allow_copies()
    buf = CudaBuffer.from_cuda(dev())
    host = np.arange(300, dtype=np.uint8).reshape(10, 10, 3)
    cuda_memcpy_h2d(host, buf)
    assert cuda.calls == [
        ("cudaPointerGetAttributes", (PTR,)),
        ("cudaMemcpy", (PTR, host.ctypes.data, 300, H2D)),
    ]
    assert buf.__cuda_array_interface__["stream"] == 1
    # A stream-ordered copy follows the legacy stream the buffer now names (an event wait, no
    # host block); the pointer was checked once already and is not queried again.
    cuda.allow_events()
    cuda_memcpy_h2d(host, buf, stream=CoreStream(0x7000))
    assert cuda.calls[2:] == [
        ("cudaEventCreateWithFlags", (cudart.cudaEventDisableTiming,)),
        ("cudaEventRecord", ("ev", 1)),
        ("cudaStreamWaitEvent", (0x7000, "ev", 0)),
        ("cudaEventDestroy", ("ev",)),
        ("cudaMemcpyAsync", (PTR, host.ctypes.data, 300, H2D, 0x7000)),
    ]
    assert buf.__cuda_array_interface__["stream"] == 0x7000
    # The same stream again: nothing to wait for.
    cuda_memcpy_h2d(host, buf, stream=0x7000)
    assert cuda.calls[7:] == [("cudaMemcpyAsync", (PTR, host.ctypes.data, 300, H2D, 0x7000))]


def test_blocking_h2d_into_foreign_memory_waits_for_the_dma(cuda: FakeCuda) -> None:
    cuda.allow_device_pointers()
    cuda.allow_copies()
    host = np.zeros((10, 10, 3), np.uint8)
    cuda_memcpy_h2d(host, Producer())
    assert cuda.calls == [
        ("cudaPointerGetAttributes", (PTR,)),
        ("cudaMemcpy", (PTR, host.ctypes.data, 300, H2D)),
        ("cudaStreamSynchronize", (1,)),
    ]


def test_d2h_waits_for_the_producer_stream_first(cuda: FakeCuda) -> None:
    cuda.allow_device_pointers()
    cuda.allow_copies()
    host = np.empty((10, 10, 3), np.uint8)
    cuda_memcpy_d2h(dev(stream=0x5000), host)
    assert cuda.calls == [
        ("cudaPointerGetAttributes", (PTR,)),
        ("cudaStreamSynchronize", (0x5000,)),
        ("cudaMemcpy", (host.ctypes.data, PTR, 300, D2H)),
    ]


@pytest.mark.parametrize("producer", [1, 2, -1, None])
def test_blocking_d2h_needs_no_host_wait_for_default_streams(cuda: FakeCuda, producer: int | None) -> None:
    cuda.allow_device_pointers()
    cuda.allow_copies()
    host = np.empty((10, 10, 3), np.uint8)
    cuda_memcpy_d2h(dev(stream=producer), host)
    assert cuda.names == ["cudaPointerGetAttributes", "cudaMemcpy"]


def test_copy_refuses_pageable_host_memory_as_device(cuda: FakeCuda) -> None:
    cuda.allow_device_pointers(cudart.cudaMemoryType.cudaMemoryTypeUnregistered)
    with pytest.raises(ValueError, match=f"pointer {PTR:#x} is not CUDA-accessible memory"):
        cuda_memcpy_h2d(np.zeros((10, 10, 3), np.uint8), dev())
    assert cuda.names == ["cudaPointerGetAttributes"]


def test_copy_reports_a_failed_memcpy(cuda: FakeCuda) -> None:
    cuda.allow_device_pointers()
    cuda.allow("cudaMemcpy", lambda *args: (Err.cudaErrorIllegalAddress,))
    cuda.allow_error_text()
    with pytest.raises(CudaError, match=r"cudaMemcpy.*failed: cudaErrorIllegalAddress") as info:
        cuda_memcpy_d2h(dev(), np.empty((10, 10, 3), np.uint8))
    assert info.value.name == "cudaErrorIllegalAddress"


# --------------------------------------------------------------------------- #
# Page-locked host memory                                                     #
# --------------------------------------------------------------------------- #
def test_pinned_empty_allocates_and_frees_once(cuda: FakeCuda) -> None:
    backing: list[np.ndarray] = []

    def malloc_host(nbytes: int) -> tuple[Any, int]:
        backing.append(np.empty(nbytes, np.uint8))  # real memory stands in for cudaMallocHost
        return SUCCESS, backing[-1].ctypes.data

    cuda.allow("cudaMallocHost", malloc_host)
    cuda.allow("cudaFreeHost")
    arr = pinned_empty((4, 5), np.float32)
    assert arr.shape == (4, 5) and arr.dtype == np.float32 and arr.flags.c_contiguous and arr.flags.writeable
    assert arr.ctypes.data == backing[0].ctypes.data
    arr[...] = 1.5
    view = arr[1:]
    del arr
    gc.collect()
    assert "cudaFreeHost" not in cuda.names, "a view keeps the pinned block alive"
    del view
    gc.collect()
    assert cuda.calls == [("cudaMallocHost", (80,)), ("cudaFreeHost", (backing[0].ctypes.data,))]


def test_registered_pins_and_unpins(cuda: FakeCuda) -> None:
    cuda.allow("cudaHostRegister")
    cuda.allow("cudaHostUnregister")
    cuda.allow("cudaDeviceSynchronize")
    arr = np.zeros((8, 8), np.float64)
    with registered(arr) as inside:
        assert inside is arr
        assert cuda.calls == [("cudaHostRegister", (arr.ctypes.data, 512, cudart.cudaHostRegisterDefault))]
    # pending stream-ordered copies may still read the pages: wait before unpinning them
    assert cuda.calls[1:] == [("cudaDeviceSynchronize", ()), ("cudaHostUnregister", (arr.ctypes.data,))]


def test_caiview_properties() -> None:
    view = parse_cuda_array_interface(dev(typestr="<f4", shape=(2, 3)))
    assert isinstance(view, CaiView)
    assert (view.nbytes, view.typestr, view.strides, view.stream, view.version) == (24, "<f4", None, None, 3)


@pytest.mark.parametrize("handle", [None, 0, 1, 2], ids=["none", "zero", "legacy", "per-thread"])
def test_destroy_stream_refuses_the_default_streams(handle) -> None:
    with pytest.raises(ValueError, match="default stream"):
        common.destroy_stream(handle)


def test_events_order_one_stream_after_another(cuda: FakeCuda) -> None:
    """The batch's three helpers: each is one CUDA call, and a failure names it."""
    cuda.allow_events(handle="ev")
    event = common.new_event()
    common.record_event(event, 0x7000)
    common.wait_event(0x8000, event)
    assert cuda.calls == [
        ("cudaEventCreateWithFlags", (cudart.cudaEventDisableTiming,)),
        ("cudaEventRecord", ("ev", 0x7000)),
        ("cudaStreamWaitEvent", (0x8000, "ev", 0)),
    ]
    cuda.allow_error_text()
    cuda.allow("cudaStreamWaitEvent", lambda *args: (cudart.cudaError_t.cudaErrorInvalidResourceHandle,))
    with pytest.raises(common.CudaError, match=r"cudaStreamWaitEvent.*InvalidResourceHandle"):
        common.wait_event(0x8000, event)


# --------------------------------------------------------------------------- #
# Streams shared by views; the owner of foreign memory; allocation bounds     #
# --------------------------------------------------------------------------- #
def test_views_of_a_buffer_share_its_pending_stream(cuda: FakeCuda) -> None:
    """An async write through a crop or a wrapper is what the parent exports next, and back."""
    cuda.allow_device_pointers()
    cuda.allow_copies()
    cuda.allow_events()
    parent = CudaBuffer.from_cuda(dev())
    window = parent.crop(0, 0, 2, 10)
    wrapper = CudaBuffer.from_cuda(parent)
    cuda_memcpy_h2d(np.zeros((2, 10, 3), np.uint8), window, stream=0x7000)
    assert [b.__cuda_array_interface__["stream"] for b in (parent, window, wrapper)] == [0x7000] * 3
    cuda_memcpy_d2h(wrapper, np.empty((10, 10, 3), np.uint8), stream=0x8000)
    assert [b.__cuda_array_interface__["stream"] for b in (parent, window, wrapper)] == [0x8000] * 3


@pytest.mark.parametrize("direction", ["h2d", "d2h"])
def test_async_copy_of_foreign_memory_makes_its_owner_wait(cuda: FakeCuda, direction: str) -> None:
    """CAI v3: the owner's stream (0x5000) is ordered after our copy on 0x6000, on the GPU."""
    cuda.allow_device_pointers()
    cuda.allow_copies()
    cuda.allow_events()
    owner = dev(stream=0x5000)
    host = np.zeros((10, 10, 3), np.uint8)
    if direction == "h2d":
        cuda_memcpy_h2d(host, owner, stream=0x6000)
    else:
        cuda_memcpy_d2h(owner, host, stream=0x6000)
    waits = [args for name, args in cuda.calls if name in ("cudaEventRecord", "cudaStreamWaitEvent")]
    # before the copy: our stream waits for the owner's; after it: the owner's waits for ours
    assert waits == [("ev", 0x5000), (0x6000, "ev", 0), ("ev", 0x6000), (0x5000, "ev", 0)]
    assert cuda.names.index("cudaMemcpyAsync") == 5
    assert "cudaStreamSynchronize" not in cuda.names


def test_async_copy_of_foreign_memory_naming_no_stream_completes(cuda: FakeCuda) -> None:
    """An owner that names no stream would not wait for anything: the copy is finished before return."""
    cuda.allow_device_pointers()
    cuda.allow_copies()
    cuda_memcpy_h2d(np.zeros((10, 10, 3), np.uint8), dev(), stream=0x6000)
    assert cuda.names[-2:] == ["cudaMemcpyAsync", "cudaStreamSynchronize"]
    assert cuda.calls[-1] == ("cudaStreamSynchronize", (0x6000,))


def test_a_copy_past_the_end_of_the_allocation_is_refused(cuda: FakeCuda, monkeypatch) -> None:
    """The seed's overrun: a raw pointer with a larger host array. Refused before the copy."""
    cuda.allow_device_pointers()
    cuda.allow_copies()
    base = 0x7F0000000000
    monkeypatch.setattr(common, "allocation_end", lambda ptr: base + 1000)
    with pytest.raises(ValueError, match=r"would run 1000 bytes past the end of its allocation"):
        cuda_memcpy_h2d(np.zeros(2000, np.uint8), base)
    with pytest.raises(ValueError, match=r"past the end"):
        cuda_memcpy_d2h(base + 500, np.zeros(600, np.uint8))
    assert not [name for name in cuda.names if name.startswith("cudaMemcpy")]
    cuda_memcpy_h2d(np.zeros(1000, np.uint8), base)  # exactly to the end is fine
    assert cuda.names[-2:] == ["cudaMemcpy", "cudaStreamSynchronize"]


@pytest.mark.parametrize("typestr", ["float32", "uint", "int", "f"])
def test_numpy_names_are_not_cai_typestrs(typestr: str) -> None:
    with pytest.raises(ValueError, match="type string"):
        parse_cuda_array_interface(dev(typestr=typestr))


@pytest.mark.parametrize("shape", [(2**70,), (2**40, 2**40)], ids=["one-huge-dim", "huge-product"])
def test_sizes_of_2_to_the_64_bytes_are_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"2\*\*64"):
        CudaBuffer(shape, np.uint8)
    with pytest.raises(ValueError, match=r"2\*\*64"):
        common.pinned_empty(shape, np.float64)


def test_zero_size_pinned_array_needs_no_cuda(cuda: FakeCuda) -> None:
    array = common.pinned_empty((0, 3), np.float32)
    assert array.shape == (0, 3) and array.dtype == np.float32
    assert cuda.calls == []


# --------------------------------------------------------------------------- #
# A CudaBuffer remembers the last copy checked in each direction              #
# --------------------------------------------------------------------------- #
def counting_stream_handle(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    seen: list[Any] = []
    real = common.stream_handle

    def spy(stream: Any) -> int | None:
        if stream is not None:
            seen.append(stream)
        return real(stream)

    monkeypatch.setattr(common, "stream_handle", spy)
    return seen


def test_the_same_copy_again_skips_the_checks_it_passed(cuda: FakeCuda, monkeypatch) -> None:
    cuda.allow_device_pointers()
    cuda.allow_copies()
    seen = counting_stream_handle(monkeypatch)
    buf = CudaBuffer.from_cuda(dev())
    up, down = np.ones((10, 10, 3), np.uint8), np.zeros((10, 10, 3), np.uint8)
    for _ in range(3):  # a round trip, both directions remembered side by side
        cuda_memcpy_h2d(up, buf, stream=0x7000)
        cuda_memcpy_d2h(buf, down, stream=0x7000)
    # Checked twice per direction: the first copy, and the one after the pending
    # stream changed from "none" to 0x7000. Then remembered.
    assert seen == [0x7000] * 3
    assert [c.host for c in buf.checked_copies] == [up, down]
    assert cuda.calls[0] == ("cudaPointerGetAttributes", (PTR,))
    assert (
        cuda.without("cudaPointerGetAttributes")
        == [
            ("cudaMemcpyAsync", (PTR, up.ctypes.data, 300, H2D, 0x7000)),
            ("cudaMemcpyAsync", (down.ctypes.data, PTR, 300, D2H, 0x7000)),
        ]
        * 3
    )
    cuda_memcpy_h2d(up.copy(), buf, stream=0x7000)  # another array: checked again
    assert len(seen) == 4


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        pytest.param(lambda a: setattr(a, "dtype", np.int8), TypeError, "dtype mismatch", id="dtype"),
        pytest.param(lambda a: setattr(a.flags, "writeable", False), ValueError, "read-only", id="made-read-only"),
        pytest.param(lambda a: setattr(a, "strides", (3, 30, 1)), ValueError, "C-contiguous", id="strides"),
    ],
)
def test_a_remembered_copy_still_sees_what_numpy_changes_in_place(
    cuda: FakeCuda, change: Callable, error: type, match: str
) -> None:
    """dtype, strides and writeable can change on the same array object: each is
    looked at again, so the remembered copy refuses it like a first one would."""
    cuda.allow_device_pointers()
    cuda.allow_copies()
    buf = CudaBuffer.from_cuda(dev())
    host = np.zeros((10, 10, 3), np.uint8)
    cuda_memcpy_d2h(buf, host)
    cuda_memcpy_d2h(buf, host)
    assert buf.checked_copies[True] is not None and len(cuda.names) == 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # numpy 2.4: strides
        change(host)
    with pytest.raises(error, match=match):
        cuda_memcpy_d2h(buf, host)
    assert len(cuda.names) == 3  # refused before any CUDA call


def test_a_new_pending_stream_or_close_forgets_the_checked_copies(cuda: FakeCuda) -> None:
    cuda.allow_device_pointers()
    cuda.allow_copies()
    cuda.allow_events()
    buf = CudaBuffer.from_cuda(dev())
    host = np.zeros((10, 10, 3), np.uint8)
    cuda_memcpy_h2d(host, buf, stream=0x7000)
    cuda_memcpy_h2d(host, buf, stream=0x7000)
    assert buf.checked_copies[False] is not None
    buf.set_stream(0x8000)  # another library wrote it on its stream
    assert buf.checked_copies == [None, None]
    before = len(cuda.calls)
    cuda_memcpy_h2d(host, buf, stream=0x7000)  # so this copy waits for that one
    assert cuda.names[before:] == [
        "cudaEventCreateWithFlags",
        "cudaEventRecord",
        "cudaStreamWaitEvent",
        "cudaEventDestroy",
        "cudaMemcpyAsync",
    ]
    buf.close()
    assert buf.checked_copies == [None, None]  # the host array is let go
    with pytest.raises(ValueError, match="closed"):
        cuda_memcpy_h2d(host, buf, stream=0x7000)


def test_views_and_stream_objects_are_checked_every_time(cuda: FakeCuda) -> None:
    """A crop's parent can change or close behind its back, and a stream object
    with ``__cuda_stream__`` can be closed: neither is remembered."""
    cuda.allow_device_pointers()
    cuda.allow_copies()
    parent = CudaBuffer.from_cuda(dev())
    window = parent.crop(0, 0, 2, 10)
    host = np.zeros((2, 10, 3), np.uint8)
    for _ in range(2):
        cuda_memcpy_h2d(host, window, stream=0x7000)
    assert window.checked_copies == [None, None]
    full = np.zeros((10, 10, 3), np.uint8)
    for _ in range(2):
        cuda_memcpy_h2d(full, parent, stream=CoreStream(0x7000))
    assert parent.checked_copies == [None, None]
