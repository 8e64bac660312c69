# SPDX-License-Identifier: Apache-2.0
"""What ``cuda_python_common`` does, tested without a GPU.

Every CUDA runtime function the module calls is replaced by a recorder (the
``cuda`` fixture). "Device" memory is host memory: ``cudaMalloc`` hands out host
buffers and the copy functions move their bytes, and another library's GPU array
is a numpy array handed over through DLPack (``FakeProducer``). So these tests
check the data each copy moves, the CUDA calls it makes, in order, the stream
each buffer exports, and who keeps whom alive.
"""

from __future__ import annotations

import gc
import sys
import weakref
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from cuda.bindings import runtime as cudart
from cuda_fakes import FakeCuda, FakeProducer, cai_object

from cuda_python_common import (
    CudaBuffer,
    CudaError,
    check_cuda,
    cuda_memcpy_d2h,
    cuda_memcpy_h2d,
    destroy_stream,
    new_event,
    pinned_empty,
    record_event,
    stream_handle,
    wait_event,
)

Err = cudart.cudaError_t
SUCCESS = Err.cudaSuccess
# Read before any test patches the runtime: the real state of this machine.
NO_DRIVER_HERE = cudart.cudaGetDeviceCount()[0] == Err.cudaErrorInsufficientDriver
COPIES = ("cudaMemcpy", "cudaMemcpyAsync", "cudaMemcpy2D", "cudaMemcpy2DAsync")


@pytest.fixture
def cuda(monkeypatch: pytest.MonkeyPatch) -> FakeCuda:
    fake = FakeCuda(monkeypatch)
    fake.allow_host_memory()
    fake.allow_events()
    yield fake
    gc.collect()  # buffers a test dropped are freed while the fakes are in place


def photo(shape: tuple[int, ...] = (6, 5, 3), dtype: Any = np.uint8) -> np.ndarray:
    return np.arange(np.prod(shape)).astype(dtype).reshape(shape)


# --------------------------------------------------------------------------- #
# check_cuda and CudaError                                                    #
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    ("result", "expected"),
    [((SUCCESS,), None), ((SUCCESS, 42), 42), ((SUCCESS, None), None), ((SUCCESS, 42, "x"), (42, "x"))],
    ids=["nothing", "one-value", "one-None", "two-values"],
)
def test_check_cuda_returns_what_follows_the_error_code(result: tuple, expected: Any) -> None:
    assert check_cuda(result, "cudaSomething") == expected


@pytest.mark.parametrize(
    ("err", "text"),
    [(Err.cudaErrorInvalidValue, "invalid argument"), (Err.cudaErrorMemoryAllocation, "out of memory")],
    ids=lambda v: getattr(v, "name", None),
)
def test_check_cuda_raises_an_error_naming_the_call_and_the_error(err: Any, text: str) -> None:
    with pytest.raises(CudaError) as info:
        check_cuda((err, None), "cudaMalloc")
    assert (info.value.code, info.value.call, info.value.name) == (err, "cudaMalloc", err.name)
    assert str(info.value) == f"cudaMalloc failed: {err.name}: {text}"
    assert isinstance(info.value, RuntimeError)


# --------------------------------------------------------------------------- #
# CudaBuffer: allocate, free once, export                                      #
# --------------------------------------------------------------------------- #
def test_a_buffer_allocates_its_bytes_and_exports_cai_v3(cuda: FakeCuda) -> None:
    buf = CudaBuffer((4, 6, 3), np.float32)
    assert cuda.calls == [("cudaMalloc", (4 * 6 * 3 * 4,))]
    assert buf.__cuda_array_interface__ == {
        "version": 3,
        "shape": (4, 6, 3),
        "typestr": "<f4",
        "data": (buf.ptr, False),
        "strides": None,
        "stream": None,  # fresh: nothing pending
    }
    buf.close()


def test_memory_is_freed_exactly_once(cuda: FakeCuda) -> None:
    closed = CudaBuffer(16)
    closed.close()
    closed.close()
    with CudaBuffer(16) as in_a_block:
        pass
    collected = CudaBuffer(16)
    freed = [closed.ptr, in_a_block.ptr, collected.ptr]
    del collected
    gc.collect()
    assert [args[0] for name, args in cuda.calls if name == "cudaFree"] == freed
    assert closed.closed and in_a_block.closed


def test_a_failed_free_is_reported(cuda: FakeCuda) -> None:
    cuda.allow("cudaFree", lambda ptr: (Err.cudaErrorInvalidValue,))
    cuda.allow_error_text()
    buf = CudaBuffer(16)
    with pytest.raises(CudaError, match="cudaFree failed: cudaErrorInvalidValue"):
        buf.close()


def test_zero_bytes_allocate_nothing(cuda: FakeCuda) -> None:
    buf = CudaBuffer((0, 4), np.float32)
    assert (buf.ptr, buf.nbytes) == (0, 0)
    buf.close()
    assert pinned_empty((3, 0), np.int16).shape == (3, 0)
    assert cuda.calls == []


# --------------------------------------------------------------------------- #
# Copies: the bytes, the call, the streams                                     #
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(("stream", "call"), [(None, "cudaMemcpy"), (7, "cudaMemcpyAsync")])
def test_a_round_trip_moves_every_byte_with_one_flat_copy_each_way(cuda: FakeCuda, stream: Any, call: str) -> None:
    host = photo(dtype=np.int16)
    with CudaBuffer(host.shape, host.dtype) as buf:
        cuda_memcpy_h2d(host, buf, stream=stream)
        back = np.zeros_like(host)
        cuda_memcpy_d2h(buf, back, stream=stream)
    np.testing.assert_array_equal(back, host)
    assert [name for name in cuda.names if name in COPIES] == [call, call]


def test_a_buffer_exports_the_stream_of_its_last_copy(cuda: FakeCuda) -> None:
    host = photo()
    buf = CudaBuffer(host.shape)
    cuda_memcpy_h2d(host, buf, stream=7)
    assert buf.__cuda_array_interface__["stream"] == 7
    cuda_memcpy_h2d(host, buf)  # blocking, on the legacy default stream
    assert buf.stream == 1
    buf.close()


def test_a_copy_on_another_stream_waits_for_the_pending_one_on_the_gpu(cuda: FakeCuda) -> None:
    host = photo()
    buf = CudaBuffer(host.shape)
    cuda_memcpy_h2d(host, buf, stream=5)
    del cuda.calls[:]
    cuda_memcpy_d2h(buf, np.empty_like(host), stream=7)
    assert cuda.calls == [
        ("cudaEventCreateWithFlags", (cudart.cudaEventDisableTiming,)),
        ("cudaEventRecord", ("event", 5)),  # the producer's stream
        ("cudaStreamWaitEvent", (7, "event", 0)),  # the consumer's waits: no host wait
        ("cudaEventDestroy", ("event",)),
        ("cudaMemcpyAsync", cuda.calls[-1][1]),
    ]
    del cuda.calls[:]
    cuda_memcpy_d2h(buf, np.empty_like(host), stream=7)  # same stream: in order already
    assert cuda.names == ["cudaMemcpyAsync"]
    buf.close()


def test_a_crop_copies_row_by_row_with_the_parents_pitch(cuda: FakeCuda) -> None:
    image = photo((8, 10, 3))
    parent = CudaBuffer(image.shape)
    cuda_memcpy_h2d(image, parent)
    window = parent.crop(top=2, left=3, height=4, width=5)
    assert window.ptr == parent.ptr + 2 * 30 + 3 * 3
    assert (window.shape, window.strides) == ((4, 5, 3), (30, 3, 1))
    out = np.zeros((4, 5, 3), np.uint8)
    del cuda.calls[:]
    cuda_memcpy_d2h(window, out, stream=7)
    np.testing.assert_array_equal(out, image[2:6, 3:8])
    assert cuda.calls[-1] == ("cudaMemcpy2DAsync", (out, 15, window.ptr, 30, 15, 4, cuda.calls[-1][1][6], 7))
    cuda_memcpy_h2d(np.full((4, 5, 3), 255, np.uint8), window)
    back = np.zeros_like(image)
    cuda_memcpy_d2h(parent, back)
    expected = image.copy()
    expected[2:6, 3:8] = 255
    np.testing.assert_array_equal(back, expected)  # only the window was written
    parent.close()


def test_crops_and_their_parent_share_one_pending_stream(cuda: FakeCuda) -> None:
    parent = CudaBuffer((8, 10, 3))
    window = parent.crop(1, 1, 2, 2)
    cuda_memcpy_h2d(np.zeros((2, 2, 3), np.uint8), window, stream=9)
    assert parent.stream == window.stream == 9
    parent.stream = cudart.cudaStream_t(11)  # e.g. after your own kernel wrote it
    assert window.__cuda_array_interface__["stream"] == 11
    parent.close()


def test_a_crop_keeps_its_parent_alive_and_a_closed_parent_closes_it(cuda: FakeCuda) -> None:
    parent = CudaBuffer((8, 10, 3))
    alive = weakref.ref(parent)
    window = parent.crop(0, 0, 2, 2)
    del parent
    gc.collect()
    assert alive() is not None
    alive().close()
    assert window.closed
    with pytest.raises(ValueError, match="is closed"):
        cuda_memcpy_d2h(window, np.zeros((2, 2, 3), np.uint8))


@pytest.mark.parametrize("window", [(0, 0, 8, 10), (8, 10, 0, 0), (7, 9, 1, 1)])
def test_crop_accepts_windows_on_the_edges(cuda: FakeCuda, window: tuple[int, int, int, int]) -> None:
    with CudaBuffer((8, 10, 3)) as parent:
        assert parent.crop(*window).shape == (window[2], window[3], 3)


# --------------------------------------------------------------------------- #
# Another library's memory (DLPack; CAI needs a driver, see the GPU tests)     #
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(("stream", "expected"), [(None, 1), (0, 1), (7, 7), (2, 2)])
def test_from_dlpack_hands_the_producer_the_consumer_stream(cuda: FakeCuda, stream: Any, expected: int) -> None:
    producer = FakeProducer(np.zeros((4, 5), np.float32))
    wrapper = CudaBuffer.from_dlpack(producer, stream=stream)
    assert producer.streams == [expected]
    assert wrapper.stream == expected  # its next users follow the consumer's stream
    assert cuda.calls == []


def test_from_dlpack_reads_shape_dtype_and_strides_in_bytes(cuda: FakeCuda) -> None:
    base = np.arange(24, dtype=np.int16).reshape(4, 6)
    wrapper = CudaBuffer.from_dlpack(FakeProducer(base[:, :3]))  # rows 12 bytes apart
    assert (wrapper.ptr, wrapper.shape, wrapper.dtype) == (base.ctypes.data, (4, 3), np.int16)
    assert wrapper.strides == (12, 2)
    out = np.zeros((4, 3), np.int16)
    cuda_memcpy_d2h(wrapper, out)
    np.testing.assert_array_equal(out, base[:, :3])
    assert "cudaMemcpy2D" in cuda.names


def test_a_wrapper_keeps_the_producer_alive_until_closed(cuda: FakeCuda) -> None:
    producer = FakeProducer(np.ones((8, 8), np.uint8))
    alive = weakref.ref(producer)
    wrapper = CudaBuffer.from_dlpack(producer)
    del producer
    gc.collect()
    assert alive() is not None, "the producer died while the wrapper lives"
    wrapper.close()
    gc.collect()
    assert alive() is None, "the producer outlived the closed wrapper"


def test_a_read_only_producer_cannot_be_written(cuda: FakeCuda) -> None:
    frozen = np.zeros((4, 4), np.uint8)
    frozen.setflags(write=False)
    wrapper = CudaBuffer.from_dlpack(FakeProducer(frozen))
    assert wrapper.__cuda_array_interface__["data"][1] is True
    with pytest.raises(ValueError, match="read-only"):
        cuda_memcpy_h2d(np.ones((4, 4), np.uint8), wrapper)
    assert not frozen.any()


@pytest.mark.skipif(not NO_DRIVER_HERE, reason="a driver is installed here; the GPU tests read CAI objects")
def test_from_cuda_without_a_driver_names_the_missing_driver(cuda: FakeCuda) -> None:
    tensor = cai_object(shape=(4,), typestr="|u1", data=(0x7F0000000000, False), version=3, stream=None)
    with pytest.raises(ValueError, match=r"cannot read SimpleNamespace's __cuda_array_interface__: .*driver"):
        CudaBuffer.from_cuda(tensor)


# --------------------------------------------------------------------------- #
# Streams and events                                                           #
# --------------------------------------------------------------------------- #
class CoreLikeStream:
    """Has ``__cuda_stream__``, as cuda.core and cuda.bindings streams do."""

    def __init__(self, handle: int) -> None:
        self.handle_value = handle

    def __cuda_stream__(self) -> tuple[int, int]:
        return (0, self.handle_value)


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        (None, 1),
        (0, 1),
        (1, 1),
        (2, 2),
        (0x5A5A, 0x5A5A),
        (np.uint64(2**64 - 1), 2**64 - 1),
        (cudart.cudaStream_t(0x1234), 0x1234),
        (CoreLikeStream(0x99), 0x99),
        (SimpleNamespace(handle=0x77), 0x77),  # cvcuda.Stream
    ],
    ids=["None", "0", "1", "2", "int", "uint64", "cudaStream_t", "__cuda_stream__", "handle"],
)
def test_stream_handle_has_one_rule(stream: Any, expected: int) -> None:
    assert stream_handle(stream) == expected
    assert type(stream_handle(stream)) is int


def test_events_record_and_wait_with_the_stream_handles(cuda: FakeCuda) -> None:
    event = new_event()
    record_event(event, CoreLikeStream(5))
    wait_event(None, event)
    assert cuda.calls == [
        ("cudaEventCreateWithFlags", (cudart.cudaEventDisableTiming,)),
        ("cudaEventRecord", ("event", 5)),
        ("cudaStreamWaitEvent", (1, "event", 0)),
    ]


def test_destroy_stream_waits_then_clears_cvcudas_cache(cuda: FakeCuda, monkeypatch: pytest.MonkeyPatch) -> None:
    cleared = []
    monkeypatch.setitem(sys.modules, "cvcuda", SimpleNamespace(clear_cache=lambda: cleared.append(cuda.names[:])))
    cuda.allow("cudaStreamDestroy")
    destroy_stream(cudart.cudaStream_t(0x42))
    assert cuda.calls == [("cudaStreamSynchronize", (0x42,)), ("cudaStreamDestroy", (0x42,))]
    assert cleared == [["cudaStreamSynchronize"]]  # after the wait, before the destroy


# --------------------------------------------------------------------------- #
# Pinned host memory                                                           #
# --------------------------------------------------------------------------- #
def test_pinned_memory_is_freed_with_the_last_view(cuda: FakeCuda) -> None:
    array = pinned_empty((4, 8), np.float32)
    assert array.flags.writeable and array.flags.c_contiguous and array.shape == (4, 8)
    ptr = array.ctypes.data
    assert cuda.calls == [("cudaMallocHost", (128,))]
    view = array[1:]
    del array
    gc.collect()
    assert "cudaFreeHost" not in cuda.names, "freed while a view lives"
    del view
    gc.collect()
    assert cuda.calls[-1] == ("cudaFreeHost", (ptr,))
