# SPDX-License-Identifier: Apache-2.0
"""Property-based tests of the copy helpers, on any layout another library hands over.

Hypothesis draws numpy views (padded rows, crops, steps, transposes, size-1 and
zero-size dimensions) and hands them over as GPU arrays through DLPack; "device"
memory is host memory and the CUDA copies move real bytes. For every layout a
copy either moves exactly the bytes numpy says it holds, both ways, with one
``cudaMemcpy`` or ``cudaMemcpy2D``, or it is refused with a ValueError before
any copy. No GPU is used.
"""

from __future__ import annotations

import numpy as np
from cuda_fakes import FakeProducer, fake_cuda
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cuda_python_common import CudaBuffer, cuda_memcpy_d2h, cuda_memcpy_h2d, stream_handle

COPIES = {"cudaMemcpy", "cudaMemcpyAsync", "cudaMemcpy2D", "cudaMemcpy2DAsync"}
PROPERTY = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def views(draw: st.DrawFn) -> np.ndarray:
    """A view of a larger array: any slice steps and an axis order, of 1 to 4 dimensions."""
    ndim = draw(st.integers(1, 4))
    dtype = draw(st.sampled_from([np.uint8, np.int16, np.float32, np.complex128]))
    shape = tuple(draw(st.integers(0, 6)) for _ in range(ndim))
    base = np.arange(int(np.prod(shape)), dtype=np.int64).astype(dtype).reshape(shape)
    index = tuple(slice(draw(st.integers(0, max(n - 1, 0))), None, draw(st.sampled_from([1, 1, 1, 2]))) for n in shape)
    view = base[index]
    if draw(st.booleans()):
        view = view.transpose(draw(st.permutations(range(ndim))))
    return view


@PROPERTY
@given(views(), st.sampled_from([None, 7]))
def test_a_copy_moves_numpys_bytes_or_is_refused_before_any_copy(view: np.ndarray, stream: int | None) -> None:
    with fake_cuda() as cuda:
        cuda.allow_host_memory()
        device = CudaBuffer.from_dlpack(FakeProducer(view), stream=stream)
        out = np.zeros(view.shape, view.dtype)
        try:
            cuda_memcpy_d2h(device, out, stream=stream)
        except ValueError as refused:
            assert "are not rows" in str(refused)
            assert not COPIES & set(cuda.names)
            assert not view.flags.c_contiguous  # a packed array is always copied
            event("refused")
            return
        np.testing.assert_array_equal(out, view)
        event("2-D copy" if {"cudaMemcpy2D", "cudaMemcpy2DAsync"} & set(cuda.names) else "flat copy")
        assert len(COPIES & set(cuda.names)) <= 1  # one copy call, or none for 0 bytes
        fresh = np.arange(view.size, dtype=np.int64).astype(view.dtype).reshape(view.shape) + 1
        cuda_memcpy_h2d(fresh, device, stream=stream)
        np.testing.assert_array_equal(view, fresh)  # written through the layout


@PROPERTY
@given(st.integers(0, 2**64 - 1))
def test_every_64_bit_handle_is_kept_and_0_means_the_legacy_stream(handle: int) -> None:
    assert stream_handle(handle) == (handle or 1)
    assert stream_handle(np.uint64(handle)) == (handle or 1)
