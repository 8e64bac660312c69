# SPDX-License-Identifier: Apache-2.0
"""CuPy with CV-CUDA on the GPU: zero-copy both ways, lifetimes, the stream CuPy's
interface names (and the race when it names none), the transposed-NCHW refusal,
padded outputs in CuPy.

CuPy is installed where the GPU tests run: a missing one fails.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sample_runs import run_sample

pytestmark = pytest.mark.gpu
SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "interoperability" / "cupy_interop.py"
SHAPE = (1080, 1920, 3)


class WithStream:
    """A CuPy array's interface with ``stream`` replaced (None: "nothing pending")."""

    def __init__(self, array: Any, stream: int | None) -> None:
        self.array = array
        self.__cuda_array_interface__ = {**array.__cuda_array_interface__, "stream": stream}


def cai_ptr(cv_tensor: Any) -> int:
    return cv_tensor.cuda().__cuda_array_interface__["data"][0]


@pytest.fixture(scope="module")
def cupy() -> Any:
    import cupy

    cupy.cuda.runtime.getDeviceCount()
    return cupy


@pytest.fixture(scope="module")
def cvcuda() -> Any:
    import cvcuda

    yield cvcuda
    cvcuda.clear_cache()


def random_frame(cupy: Any, seed: int = 0) -> Any:
    host = np.random.default_rng(seed).integers(0, 256, SHAPE, dtype=np.uint8)
    return cupy.asarray(host)


def test_cupy_exports_cai_v3_with_its_current_stream(cupy: Any) -> None:
    array = cupy.zeros(4)
    assert array.__cuda_array_interface__["version"] == 3
    stream = cupy.cuda.Stream(non_blocking=True)
    with stream:
        assert array.__cuda_array_interface__["stream"] == stream.ptr


def test_as_stream_takes_cupy_streams(cupy: Any, cvcuda: Any) -> None:
    stream = cupy.cuda.Stream(non_blocking=True)
    assert cvcuda.as_stream(stream).handle == stream.ptr


def test_zero_copy_both_ways(cupy: Any, cvcuda: Any) -> None:
    frame = random_frame(cupy)
    tensor = cvcuda.as_tensor(frame, "HWC")
    assert cai_ptr(tensor) == frame.data.ptr
    flipped = cvcuda.flip(tensor, flipCode=1)
    for back in (cupy.from_dlpack(flipped.cuda()), cupy.asarray(flipped.cuda())):
        assert back.data.ptr == cai_ptr(flipped)
        assert bool((back == frame[:, ::-1]).all())


def test_cvcuda_keeps_the_cupy_array_alive(cupy: Any, cvcuda: Any) -> None:
    frame = random_frame(cupy, 1)
    expected = cupy.asnumpy(frame)[:, ::-1]
    tensor = cvcuda.as_tensor(frame, "HWC")
    del frame
    gc.collect()
    churn = [cupy.full(SHAPE, 7, dtype=cupy.uint8) for _ in range(20)]
    flipped = cvcuda.flip(tensor, flipCode=1)
    np.testing.assert_array_equal(cupy.asnumpy(cupy.from_dlpack(flipped.cuda())), expected)
    del churn


def test_cupy_keeps_the_cvcuda_output_alive(cupy: Any, cvcuda: Any) -> None:
    frame = random_frame(cupy, 2)
    flipped = cvcuda.flip(cvcuda.as_tensor(frame, "HWC"), flipCode=1)
    result = cupy.from_dlpack(flipped.cuda())
    ptr = result.data.ptr
    del flipped
    gc.collect()
    churn = [cvcuda.flip(cvcuda.as_tensor(cupy.zeros_like(frame), "HWC"), flipCode=0) for _ in range(20)]
    cupy.cuda.Device().synchronize()
    assert ptr not in {cai_ptr(c) for c in churn}, "CV-CUDA reused memory CuPy still holds"
    assert bool((result == frame[:, ::-1]).all())


def _slow_write(cupy: Any, frame: Any, source: Any, stream: Any) -> None:
    """On ``stream``: many passes over a large buffer, then write ``source`` into ``frame``."""
    with stream:  # allocated, used and released in this stream's order
        big = cupy.ones(1 << 27, dtype=cupy.float32)  # 512 MiB: ~0.25 ms a pass
        for _ in range(100):
            big *= 1.0001
        frame[...] = source


def _race(cupy: Any, cvcuda: Any, stream_of: Any, runs: int = 3) -> tuple[list[bool], list[bool]]:
    producer = cupy.cuda.Stream(non_blocking=True)
    consumer = cupy.cuda.Stream(non_blocking=True)
    cv_consumer = cvcuda.as_stream(consumer)
    source = random_frame(cupy, 3)
    expected = cupy.asnumpy(source)[:, ::-1]
    frame = cupy.zeros_like(source)
    out = cvcuda.Tensor(SHAPE, cvcuda.Type.U8, "HWC")
    right, busy = [], []
    for _ in range(runs):
        frame.fill(0)
        cupy.cuda.Device().synchronize()
        _slow_write(cupy, frame, source, producer)
        with producer:
            wrapped = cvcuda.as_tensor(stream_of(frame, producer), "HWC")
        cvcuda.flip_into(out, wrapped, flipCode=1, stream=cv_consumer)
        busy.append(not producer.done)
        cupy.cuda.Device().synchronize()
        right.append(bool(np.array_equal(cupy.asnumpy(cupy.from_dlpack(out.cuda())), expected)))
        del wrapped
    cvcuda.clear_cache()
    return right, busy


def test_cupys_own_interface_orders_the_operator(cupy: Any, cvcuda: Any) -> None:
    """CuPy names the producer's stream: CV-CUDA on another stream waits for it."""
    right, busy = _race(cupy, cvcuda, lambda a, s: a)
    assert all(busy), "the producer finished before the operator was queued: no race window"
    assert all(right), right


def test_without_the_stream_the_operator_reads_too_early(cupy: Any, cvcuda: Any, record_property: Any) -> None:
    """The same interface with its stream removed ("nothing pending") races.

    Recorded and asserted only if the race window was there (the producer still busy)."""
    right, busy = _race(cupy, cvcuda, lambda a, s: WithStream(a, None))
    record_property("right_without_wait", right)
    print(f"without the wait: results right {right}, producer busy when queued {busy}")
    assert all(busy), "the producer finished before the operator was queued: no race window"
    assert not all(right), "no run read the frame early: the race did not show"


def test_a_transposed_nchw_array_is_refused_and_the_copy_fixes_it(cupy: Any, cvcuda: Any) -> None:
    nhwc = cupy.stack([random_frame(cupy, 4)[:240, :320]] * 2)
    nchw = cupy.ascontiguousarray(nhwc.transpose(0, 3, 1, 2))
    with pytest.raises(Exception, match=r"(?i)pitch|packed|stride"):
        cvcuda.flip(cvcuda.as_tensor(nchw.transpose(0, 2, 3, 1), "NHWC"), flipCode=1)
    packed = cupy.ascontiguousarray(nchw.transpose(0, 2, 3, 1))
    out = cupy.from_dlpack(cvcuda.flip(cvcuda.as_tensor(packed, "NHWC"), flipCode=1).cuda())
    assert bool((out == nhwc[:, :, ::-1]).all())


def test_padded_output_keeps_its_strides_in_cupy(cupy: Any, cvcuda: Any) -> None:
    frame = random_frame(cupy, 5)
    crop = frame[:, :500]
    padded = cvcuda.Tensor((SHAPE[0], 500, 3), cvcuda.Type.U8, "HWC", rowalign=256)
    cvcuda.flip_into(padded, cvcuda.as_tensor(crop, "HWC"), flipCode=1)
    cai = padded.cuda().__cuda_array_interface__
    assert cai["strides"][0] > 500 * 3
    for view in (cupy.from_dlpack(padded.cuda()), cupy.asarray(padded.cuda())):
        assert view.data.ptr == cai["data"][0]
        assert view.strides == cai["strides"] and not view.flags.c_contiguous
        assert bool((view == crop[:, ::-1]).all())


def test_sample_prints_what_it_verified(tmp_path: Path) -> None:
    proc = run_sample(SAMPLE, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "CUDA Array Interface version 3" in out
    assert "wrapped, no copy" in out and "equals numpy" in out
    assert "refused" in out and "after cupy.ascontiguousarray: flipped, verified" in out
    assert "kept in CuPy: verified" in out
    assert all(len(line) <= 88 for line in out.splitlines()), "a printed line is wider than the page"
