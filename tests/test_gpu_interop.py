# SPDX-License-Identifier: Apache-2.0
"""GPU tests of the first slice: exact round trips, zero-copy both ways, lifetimes.

Every test here needs a CUDA device, its driver and CV-CUDA; elsewhere they skip
with the reason, and REQUIRE_GPU=1 turns the skips into failures.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest

pytestmark = pytest.mark.gpu

DTYPES = [np.uint8, np.int16, np.float32]
SHAPES = [(1,), (7,), (16, 16), (480, 640, 3), (3, 5, 7, 2), (1080, 1920, 4)]


def random_array(shape: tuple[int, ...], dtype: type, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
    return rng.standard_normal(shape).astype(dtype)


@pytest.fixture(scope="module")
def cvcuda():
    import cvcuda

    return cvcuda


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_cudabuffer_round_trip_is_exact(shape: tuple[int, ...], dtype: type) -> None:
    from cuda_python_common import CudaBuffer, cuda_memcpy_d2h, cuda_memcpy_h2d

    host = random_array(shape, dtype)
    with CudaBuffer(shape, dtype) as buffer:
        cuda_memcpy_h2d(host, buffer)
        back = np.empty_like(host)
        cuda_memcpy_d2h(buffer, back)
    np.testing.assert_array_equal(back, host)
    assert back.tobytes() == host.tobytes()  # bit-exact, NaN payloads and -0.0 included


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", [(16, 16, 1), (480, 640, 3), (2, 9, 11, 4)], ids=str)
def test_cvcuda_tensor_round_trip_is_exact(cvcuda, shape: tuple[int, ...], dtype: type) -> None:
    from cuda_python_common import cuda_memcpy_d2h, cuda_memcpy_h2d

    host = random_array(shape, dtype, seed=1)
    tensor = cvcuda.Tensor(shape, dtype, "HWC" if len(shape) == 3 else "NHWC")
    cuda_memcpy_h2d(host, tensor.cuda())
    back = np.empty_like(host)
    cuda_memcpy_d2h(tensor.cuda(), back)
    assert back.tobytes() == host.tobytes()


def test_zero_copy_both_ways(cvcuda) -> None:
    from cuda_python_common import CudaBuffer, cuda_memcpy_d2h, cuda_memcpy_h2d

    host = random_array((48, 64, 3), np.uint8)
    buffer = CudaBuffer(host.shape, host.dtype)
    cuda_memcpy_h2d(host, buffer)
    tensor = cvcuda.as_tensor(buffer, "HWC")
    assert tensor.cuda().__cuda_array_interface__["data"][0] == buffer.ptr  # CudaBuffer -> CV-CUDA

    flipped = cvcuda.flip(tensor, flipCode=1)
    wrapper = CudaBuffer.from_cuda(flipped.cuda())
    assert wrapper.ptr == flipped.cuda().__cuda_array_interface__["data"][0]  # CV-CUDA -> CudaBuffer

    # A write through one side is seen by the other: same memory, not a copy.
    cuda_memcpy_h2d(np.zeros_like(host), wrapper)
    seen = np.empty_like(host)
    cuda_memcpy_d2h(flipped.cuda(), seen)
    assert not seen.any()


def test_from_cuda_keeps_its_source_alive(cvcuda) -> None:
    """Drop the source tensor, collect, allocate and fill new tensors: the wrapper's data is intact."""
    from cuda_python_common import CudaBuffer, cuda_memcpy_d2h, cuda_memcpy_h2d

    shape = (256, 256, 3)
    host = random_array(shape, np.uint8, seed=7)
    source = cvcuda.Tensor(shape, cvcuda.Type.U8, "HWC")
    cuda_memcpy_h2d(host, source.cuda())
    wrapper = CudaBuffer.from_cuda(source.cuda())
    ptr = wrapper.ptr
    del source
    gc.collect()
    others = [cvcuda.Tensor(shape, cvcuda.Type.U8, "HWC") for _ in range(100)]
    for other in others:
        assert other.cuda().__cuda_array_interface__["data"][0] != ptr, "freed memory was handed out again"
        cuda_memcpy_h2d(np.full(shape, 0xAB, np.uint8), other.cuda())
    back = np.empty_like(host)
    cuda_memcpy_d2h(wrapper, back)
    np.testing.assert_array_equal(back, host)


def test_operator_output_on_a_nonblocking_stream_is_waited_for(cvcuda) -> None:
    """A d2h copy of a tensor written on another stream waits for that stream (CAI v3 consumer)."""
    from cuda.bindings import runtime as cudart
    from cuda.bindings.utils import get_cuda_native_handle

    from cuda_python_common import check_cuda, cuda_memcpy_d2h, cuda_memcpy_h2d, destroy_stream

    stream = check_cuda(cudart.cudaStreamCreateWithFlags(cudart.cudaStreamNonBlocking))
    try:
        cv_stream = cvcuda.as_stream(get_cuda_native_handle(stream))
        host = random_array((2160, 3840, 3), np.uint8, seed=31)
        tensor = cvcuda.Tensor(host.shape, cvcuda.Type.U8, "HWC")
        cuda_memcpy_h2d(host, tensor.cuda())
        out = cvcuda.Tensor(host.shape, cvcuda.Type.U8, "HWC")
        cuda_memcpy_h2d(np.zeros_like(host), out.cuda())  # what an early read would see
        chain = [tensor]  # every intermediate stays alive: no memory is recycled under the test
        for code in (1, 0, 1, 0):  # queue up work on the stream
            chain.append(cvcuda.flip(chain[-1], flipCode=code, stream=cv_stream))
        cvcuda.flip_into(out, chain[-1], flipCode=1, stream=cv_stream)
        assert out.cuda().__cuda_array_interface__["stream"] == get_cuda_native_handle(stream)
        back = np.empty_like(host)
        cuda_memcpy_d2h(out.cuda(), back)  # no explicit sync: the helper must wait
        np.testing.assert_array_equal(back, host[:, ::-1])
    finally:
        tensor = out = chain = None
        gc.collect()
        destroy_stream(stream)


def test_pageable_host_memory_is_refused_as_device_memory() -> None:
    """An interface that names pageable host memory: cuda.core refuses it, before any copy."""
    from cuda_fakes import cai_object

    from cuda_python_common import cuda_memcpy_d2h, cuda_memcpy_h2d

    host = np.zeros(4096, np.uint8)
    other = np.ones(4096, np.uint8)
    fake = cai_object(shape=(4096,), typestr="|u1", data=(other.ctypes.data, False), version=3)
    with pytest.raises(ValueError, match="cannot read SimpleNamespace's __cuda_array_interface__"):
        cuda_memcpy_d2h(fake, host)
    with pytest.raises(ValueError, match="cannot read SimpleNamespace's __cuda_array_interface__"):
        cuda_memcpy_h2d(host, fake)
    assert not host.any() and other.all(), "the refused copies must not have moved anything"


def test_cuda_errors_are_raised_with_their_name() -> None:
    from cuda.bindings import runtime as cudart

    from cuda_python_common import CudaBuffer, CudaError, check_cuda

    with CudaBuffer(1000, np.uint8) as small:
        src = np.zeros(2000, np.uint8)
        with pytest.raises(CudaError, match="cudaErrorInvalidValue") as info:
            # the raw binding, deliberately past the end: the helpers would refuse this before calling CUDA
            check_cuda(
                cudart.cudaMemcpy(small.ptr, src.ctypes.data, 2000, cudart.cudaMemcpyKind.cudaMemcpyHostToDevice),
                "cudaMemcpy",
            )
        assert info.value.name == "cudaErrorInvalidValue"
