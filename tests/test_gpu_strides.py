# SPDX-License-Identifier: Apache-2.0
"""Pitched (row-padded) copies and crops, exact against numpy."""

from __future__ import annotations

import gc

import numpy as np
import pytest

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def cvcuda():
    import cvcuda

    return cvcuda


CASES = [
    ((100, 75, 3), np.uint8, 256),
    ((10, 7, 3), np.int16, 64),
    ((33, 17, 1), np.float32, 512),
    ((64, 64, 4), np.uint8, 128),
    ((5, 3, 4), np.float32, 1024),
    ((1, 9, 3), np.uint16, 256),
]


def random_array(shape: tuple[int, ...], dtype: type, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.issubdtype(dtype, np.integer):
        return rng.integers(np.iinfo(dtype).min, np.iinfo(dtype).max, size=shape, dtype=dtype, endpoint=True)
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("shape,dtype,rowalign", CASES, ids=lambda v: str(v))
def test_pitched_round_trip_is_exact(cvcuda, shape, dtype, rowalign) -> None:
    from cuda_python_common import cuda_memcpy_d2h, cuda_memcpy_h2d

    host = random_array(shape, dtype, seed=rowalign)
    tensor = cvcuda.Tensor(shape, dtype, "HWC", rowalign=rowalign)
    cai = tensor.cuda().__cuda_array_interface__
    row_bytes = shape[1] * shape[2] * np.dtype(dtype).itemsize
    if shape[0] > 1:
        assert cai["strides"][0] % rowalign == 0 and cai["strides"][0] >= row_bytes
    cuda_memcpy_h2d(host, tensor.cuda())
    back = np.empty_like(host)
    cuda_memcpy_d2h(tensor.cuda(), back)
    assert back.tobytes() == host.tobytes()


@pytest.mark.parametrize("shape,dtype,rowalign", [c for c in CASES if c[1] in (np.uint8, np.float32)], ids=str)
def test_operator_on_padded_tensor_matches_numpy(cvcuda, shape, dtype, rowalign) -> None:
    from cuda_python_common import cuda_memcpy_d2h, cuda_memcpy_h2d

    host = random_array(shape, dtype, seed=1)
    tensor = cvcuda.Tensor(shape, dtype, "HWC", rowalign=rowalign)
    cuda_memcpy_h2d(host, tensor.cuda())
    flipped = cvcuda.flip(tensor, flipCode=1)
    back = np.empty_like(host)
    cuda_memcpy_d2h(flipped.cuda(), back)
    np.testing.assert_array_equal(back, host[:, ::-1])


@pytest.mark.parametrize("use_stream", [False, True], ids=["blocking", "stream"])
def test_pitched_copies_on_a_stream(cvcuda, use_stream: bool) -> None:
    from cuda.bindings import runtime as cudart

    from cuda_python_common import check_cuda, cuda_memcpy_d2h, cuda_memcpy_h2d, destroy_stream, pinned_empty

    stream = check_cuda(cudart.cudaStreamCreateWithFlags(cudart.cudaStreamNonBlocking)) if use_stream else None
    try:
        host = pinned_empty((120, 77, 3), np.uint8)
        host[...] = random_array(host.shape, np.uint8, seed=4)
        tensor = cvcuda.Tensor(host.shape, cvcuda.Type.U8, "HWC", rowalign=256)
        cuda_memcpy_h2d(host, tensor.cuda(), stream=stream)
        back = pinned_empty(host.shape, np.uint8)
        cuda_memcpy_d2h(tensor.cuda(), back, stream=stream)
        if stream is not None:
            check_cuda(cudart.cudaStreamSynchronize(stream))
        np.testing.assert_array_equal(back, host)
    finally:
        if stream is not None:
            tensor = None
            gc.collect()
            destroy_stream(stream)


@pytest.mark.parametrize("top,left,height,width", [(0, 0, 100, 75), (10, 20, 50, 40), (99, 74, 1, 1), (3, 0, 7, 75)])
def test_crop_is_a_zero_copy_window(cvcuda, top, left, height, width) -> None:
    from cuda_python_common import CudaBuffer, cuda_memcpy_d2h, cuda_memcpy_h2d

    host = random_array((100, 75, 3), np.uint8, seed=9)
    tensor = cvcuda.Tensor(host.shape, cvcuda.Type.U8, "HWC", rowalign=256)
    cuda_memcpy_h2d(host, tensor.cuda())
    window = CudaBuffer.from_cuda(tensor.cuda()).crop(top, left, height, width)
    back = np.empty((height, width, 3), np.uint8)
    cuda_memcpy_d2h(window, back)
    np.testing.assert_array_equal(back, host[top : top + height, left : left + width])

    wrapped = cvcuda.as_tensor(window, "HWC")
    assert wrapped.cuda().__cuda_array_interface__["data"][0] == window.ptr
    patch = random_array((height, width, 3), np.uint8, seed=10)
    cuda_memcpy_h2d(patch, window)  # write through the window: only the window changes
    expected = host.copy()
    expected[top : top + height, left : left + width] = patch
    whole = np.empty_like(host)
    cuda_memcpy_d2h(tensor.cuda(), whole)
    np.testing.assert_array_equal(whole, expected)


def test_a_flat_copy_of_padded_rows_is_wrong_and_ours_is_right(cvcuda) -> None:
    """The failure the helpers prevent, shown on the GPU: CV-CUDA issues #187, #159, #218, #13."""
    from cuda.bindings import runtime as cudart

    from cuda_python_common import check_cuda, cuda_memcpy_d2h, cuda_memcpy_h2d

    host = random_array((100, 75, 3), np.uint8, seed=11)
    tensor = cvcuda.Tensor(host.shape, cvcuda.Type.U8, "HWC", rowalign=256)
    cuda_memcpy_h2d(host, tensor.cuda())
    flat = np.empty_like(host)
    ptr = tensor.cuda().__cuda_array_interface__["data"][0]
    check_cuda(cudart.cudaMemcpy(flat.ctypes.data, ptr, flat.nbytes, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost))
    assert not np.array_equal(flat, host)
    right = np.empty_like(host)
    cuda_memcpy_d2h(tensor.cuda(), right)
    np.testing.assert_array_equal(right, host)
