# SPDX-License-Identifier: Apache-2.0
"""Stream-ordered copies from pinned memory, and the CAI stream field both ways."""

from __future__ import annotations

import gc

import numpy as np
import pytest

pytestmark = pytest.mark.gpu


@pytest.fixture
def stream():
    from cuda.bindings import runtime as cudart

    from cuda_python_common import check_cuda, destroy_stream

    handle = check_cuda(cudart.cudaStreamCreateWithFlags(cudart.cudaStreamNonBlocking))
    yield handle
    gc.collect()  # tensors that used the stream go before it does
    destroy_stream(handle)


def test_async_copy_exports_its_stream_and_cvcuda_orders_after_it(stream) -> None:
    import cvcuda
    from cuda.bindings import runtime as cudart
    from cuda.bindings.utils import get_cuda_native_handle

    from cuda_python_common import CudaBuffer, check_cuda, cuda_memcpy_d2h, cuda_memcpy_h2d, pinned_empty

    handle = get_cuda_native_handle(stream)
    host = pinned_empty((2160, 3840, 3), np.uint8)
    host[...] = np.random.default_rng(0).integers(0, 256, host.shape, dtype=np.uint8)
    device = CudaBuffer(host.shape, np.uint8)
    assert device.__cuda_array_interface__["stream"] is None  # nothing pending on a fresh buffer
    cuda_memcpy_h2d(host, device, stream=stream)
    assert device.__cuda_array_interface__["stream"] == handle
    # CV-CUDA on the *default* stream: it must wait for our stream because the interface says so.
    flipped = cvcuda.flip(cvcuda.as_tensor(device, "HWC"), flipCode=0)
    out = pinned_empty(host.shape, np.uint8)
    cuda_memcpy_d2h(flipped.cuda(), out)  # blocking copy: waits for CV-CUDA's stream
    np.testing.assert_array_equal(out, host[::-1])
    check_cuda(cudart.cudaStreamSynchronize(stream))


def test_blocking_copy_exports_the_legacy_stream() -> None:
    from cuda_python_common import CudaBuffer, cuda_memcpy_h2d

    device = CudaBuffer(16, np.uint8)
    cuda_memcpy_h2d(np.arange(16, dtype=np.uint8), device)
    assert device.__cuda_array_interface__["stream"] == 1


def test_from_cuda_with_a_consumer_stream_waits_on_the_gpu(stream) -> None:
    import cvcuda
    from cuda.bindings import runtime as cudart
    from cuda.bindings.utils import get_cuda_native_handle

    from cuda_python_common import (
        CudaBuffer,
        check_cuda,
        cuda_memcpy_d2h,
        cuda_memcpy_h2d,
        destroy_stream,
        pinned_empty,
    )

    producer = check_cuda(cudart.cudaStreamCreateWithFlags(cudart.cudaStreamNonBlocking))
    try:
        cv_producer = cvcuda.as_stream(get_cuda_native_handle(producer))
        host = pinned_empty((2160, 3840, 3), np.uint8)
        host[...] = np.random.default_rng(41).integers(0, 256, host.shape, dtype=np.uint8)
        tensor = cvcuda.Tensor(host.shape, cvcuda.Type.U8, "HWC")
        cuda_memcpy_h2d(host, tensor.cuda())
        result = cvcuda.Tensor(host.shape, cvcuda.Type.U8, "HWC")
        cuda_memcpy_h2d(np.zeros(host.shape, np.uint8), result.cuda())  # what an early read would see
        chain = [tensor]  # intermediates stay alive: no memory is recycled under the test
        for code in (1, 0, 1):
            chain.append(cvcuda.flip(chain[-1], flipCode=code, stream=cv_producer))
        cvcuda.flip_into(result, chain[-1], flipCode=1, stream=cv_producer)  # net: both axes flipped
        wrapper = CudaBuffer.from_cuda(result.cuda(), stream=stream)  # event wait, no host block
        assert wrapper.__cuda_array_interface__["stream"] == get_cuda_native_handle(stream)
        out = pinned_empty(host.shape, np.uint8)
        cuda_memcpy_d2h(wrapper, out, stream=stream)
        check_cuda(cudart.cudaStreamSynchronize(stream))
        np.testing.assert_array_equal(out, host[::-1, ::-1])
    finally:
        tensor = result = chain = wrapper = None
        gc.collect()
        destroy_stream(producer)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32], ids=lambda d: np.dtype(d).name)
def test_pinned_async_round_trip_is_exact(stream, dtype) -> None:
    from cuda.bindings import runtime as cudart

    from cuda_python_common import CudaBuffer, check_cuda, cuda_memcpy_d2h, cuda_memcpy_h2d, pinned_empty

    host = pinned_empty((513, 257), dtype)
    host[...] = np.arange(host.size).reshape(host.shape).astype(dtype)
    back = pinned_empty(host.shape, dtype)
    with CudaBuffer(host.shape, dtype) as device:
        cuda_memcpy_h2d(host, device, stream=stream)
        cuda_memcpy_d2h(device, back, stream=stream)
        check_cuda(cudart.cudaStreamSynchronize(stream))
    assert back.tobytes() == host.tobytes()


def test_cuda_core_stream_is_accepted() -> None:
    from cuda.core import Device  # part of both dependency sets: a missing one fails here

    from cuda_python_common import CudaBuffer, cuda_memcpy_d2h, cuda_memcpy_h2d, pinned_empty, stream_handle

    device = Device(0)
    device.set_current()
    core_stream = device.create_stream()
    host = pinned_empty(4096, np.uint8)
    host[...] = 7
    with CudaBuffer(4096, np.uint8) as buffer:
        cuda_memcpy_h2d(host, buffer, stream=core_stream)
        assert buffer.__cuda_array_interface__["stream"] == stream_handle(core_stream)
        back = pinned_empty(4096, np.uint8)
        cuda_memcpy_d2h(buffer, back, stream=core_stream)
        core_stream.sync()
    assert (back == 7).all()
    core_stream.close()
