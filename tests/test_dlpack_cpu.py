# SPDX-License-Identifier: Apache-2.0
"""``CudaBuffer.from_dlpack`` without a GPU: what it reads from a producer, the
stream it hands the producer, and whom it keeps alive.

The producer here says it is CUDA memory (``__dlpack_device__``) and hands out
a numpy array's capsule, which cuda.core's StridedMemoryView reads the same
way; no CUDA runtime function may be called (the ``cuda`` fixture fails on
any).
"""

from __future__ import annotations

import gc
import weakref
from typing import Any

import numpy as np
import pytest
from cuda_fakes import FakeCuda

from cuda_python_common import CudaBuffer


class Producer:
    """A DLPack producer that claims CUDA memory and records the stream it is given."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array
        self.streams: list[Any] = []

    def __dlpack_device__(self) -> tuple[int, int]:
        return (2, 0)

    def __dlpack__(self, *, stream: Any = None, **kwargs: Any) -> Any:
        self.streams.append(stream)
        return self.array.__dlpack__()


@pytest.fixture(autouse=True)
def no_cuda_calls(monkeypatch: pytest.MonkeyPatch) -> Any:
    cuda = FakeCuda(monkeypatch)
    yield
    assert cuda.calls == []


@pytest.mark.parametrize(("stream", "expected"), [(None, 1), (0, 1), (7, 7), (2, 2)])
def test_the_producer_is_handed_the_consumer_stream(stream: Any, expected: int) -> None:
    producer = Producer(np.zeros((4, 5), np.float32))
    buf = CudaBuffer.from_dlpack(producer, stream=stream)
    assert producer.streams == [expected]
    # the wrapper's next users follow the consumer's stream
    assert buf.__cuda_array_interface__["stream"] == expected


def test_shape_dtype_and_strides_in_bytes() -> None:
    base = np.arange(24, dtype=np.int16).reshape(4, 6)
    producer = Producer(base[:, :3])  # rows 12 bytes apart, 3 int16 each
    view = CudaBuffer.from_dlpack(producer).view
    assert view.ptr == base.ctypes.data
    assert (view.shape, view.dtype, view.strides) == ((4, 3), np.dtype(np.int16), (12, 2))
    assert (view.rows.height, view.rows.width, view.rows.pitch) == (4, 6, 12)


def test_packed_memory_has_no_strides() -> None:
    view = CudaBuffer.from_dlpack(Producer(np.zeros((2, 3, 3), np.uint8))).view
    assert view.strides is None and view.nbytes == 18


def test_the_wrapper_keeps_the_producer_alive() -> None:
    producer = Producer(np.ones((8, 8), np.uint8))
    alive = weakref.ref(producer)
    buf = CudaBuffer.from_dlpack(producer)
    del producer
    gc.collect()
    assert alive() is not None, "the producer died while the wrapper lives"
    buf.close()  # a wrapper frees nothing, but lets go of its owner
    del buf
    gc.collect()
    assert alive() is None, "the producer outlived the closed wrapper"
