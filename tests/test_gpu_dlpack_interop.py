# SPDX-License-Identifier: Apache-2.0
"""The DLPack paths of ``dlpack_interop.py`` on the GPU, with PyTorch and CuPy.

The sample runs once in this process; its ``exports`` measurement and its
``DLPackOnly`` producer are then checked against what the libraries do: what
each exports, which stream each consumer passes to ``__dlpack__`` (its current
stream), and zero-copy both ways. PyTorch and CuPy are installed where the GPU
tests run: a missing one fails here (the sample itself only skips them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sample_runs import run_sample

from cuda_python_common import CudaBuffer, cuda_memcpy_d2h, cuda_memcpy_h2d

pytestmark = pytest.mark.gpu
SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "interoperability" / "dlpack_interop.py"


@pytest.fixture(scope="module")
def sample() -> dict[str, Any]:
    """The names the sample defined, after a full run in this process (which checks its own results)."""
    run = run_sample(SAMPLE, in_process=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.names["torch"] is not None and run.names["cupy"] is not None  # none of its steps skipped
    return run.names


def image(shape: tuple[int, ...] = (24, 40, 3), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def cvcuda_tensor(host: np.ndarray) -> Any:
    """A CV-CUDA operator's output holding ``host`` mirrored, finished."""
    import cvcuda

    source = CudaBuffer(host.shape, np.uint8)
    cuda_memcpy_h2d(host, source)
    flipped = cvcuda.flip(cvcuda.as_tensor(source, "HWC"), flipCode=1)
    out = np.empty_like(host)
    cuda_memcpy_d2h(flipped.cuda(), out)  # waits for the flip
    return flipped


def test_the_measured_exports_of_cvcuda(sample: dict[str, Any]) -> None:
    import cvcuda

    exports = sample["exports"]
    tensor = cvcuda.Tensor((4, 6, 3), np.uint8, "HWC")
    assert exports(tensor) == ("-", "-", "no", "-")  # the Tensor itself: neither
    assert exports(tensor.cuda()) == ("v3", "1 (legacy)", "yes", "(2, 0)")


def test_the_measured_exports_of_torch_cupy_and_cuda_core(sample: dict[str, Any]) -> None:
    """What the page's "CAI or DLPack?" table says: a change here means the table changes."""
    import cupy
    import torch
    from cuda.core.utils import StridedMemoryView

    exports = sample["exports"]
    t = torch.zeros((4, 6, 3), dtype=torch.uint8, device="cuda")
    assert exports(t) == ("v2", "no key", "yes", "(2, 0)")
    c = cupy.zeros((4, 6, 3), dtype=cupy.uint8)
    assert exports(c) == ("v3", "1 (legacy)", "yes", "(2, 0)")
    view = StridedMemoryView.from_dlpack(t, stream_ptr=-1)
    assert exports(view) == ("-", "-", "yes", "(2, 0)")
    buf = CudaBuffer((4, 6, 3), np.uint8)
    assert exports(buf) == ("v3", "None", "yes", "(2, 0)")  # nothing pending yet
    cuda_memcpy_h2d(image((4, 6, 3)), buf)  # blocking: the legacy stream
    assert exports(buf) == ("v3", "1 (legacy)", "yes", "(2, 0)")


def test_torch_and_cupy_read_a_cvcuda_tensor_without_a_copy() -> None:
    import cupy
    import torch

    host = image(seed=1)
    flipped = cvcuda_tensor(host)
    ptr = flipped.cuda().__cuda_array_interface__["data"][0]
    as_torch = torch.from_dlpack(flipped.cuda())
    as_cupy = cupy.from_dlpack(flipped.cuda())
    assert as_torch.data_ptr() == ptr == as_cupy.data.ptr
    np.testing.assert_array_equal(as_torch.cpu().numpy(), host[:, ::-1])
    np.testing.assert_array_equal(cupy.asnumpy(as_cupy), host[:, ::-1])


def test_strided_memory_view_of_a_padded_cvcuda_tensor(sample: dict[str, Any]) -> None:
    import cvcuda
    from cuda.core.utils import StridedMemoryView

    tensor = cvcuda.Tensor((4, 6, 3), np.uint8, "HWC", rowalign=256)
    cai = tensor.cuda().__cuda_array_interface__
    view = StridedMemoryView.from_dlpack(tensor.cuda(), stream_ptr=-1)
    assert view.ptr == cai["data"][0]
    assert tuple(view.shape) == (4, 6, 3)
    assert tuple(view.strides) == cai["strides"] == (256, 3, 1)  # uint8: elements == bytes


def test_consumers_pass_their_current_stream(sample: dict[str, Any]) -> None:
    """DLPack's ``stream`` is the consumer's: the default stream, then a side stream."""
    import cupy
    import torch

    only = sample["DLPackOnly"]
    buf = CudaBuffer((8, 8, 3), np.uint8)
    cuda_memcpy_h2d(image((8, 8, 3)), buf)

    spy = only(buf)
    torch.from_dlpack(spy)
    assert spy.asked["stream"] == 1  # torch's default stream: the legacy stream
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        torch.from_dlpack(spy)
    assert spy.asked["stream"] == side.cuda_stream

    cupy.from_dlpack(spy)
    assert spy.asked["stream"] == 1
    with cupy.cuda.Stream(non_blocking=True) as cupy_side:
        cupy.from_dlpack(spy)
    assert spy.asked["stream"] == cupy_side.ptr
    side.synchronize()
    cupy_side.synchronize()


def test_cvcuda_asks_for_the_legacy_stream_and_wraps_without_a_copy(sample: dict[str, Any]) -> None:
    import cvcuda
    import torch

    host = image(seed=2)
    source = torch.from_numpy(host).cuda()
    spy = sample["DLPackOnly"](source)
    tensor = cvcuda.as_tensor(spy, "HWC")  # no CAI on the spy: DLPack
    assert spy.asked["stream"] == 1
    assert tensor.cuda().__cuda_array_interface__["data"][0] == source.data_ptr()
    flipped = cvcuda.flip(tensor, flipCode=0)
    out = np.empty_like(host)
    cuda_memcpy_d2h(flipped.cuda(), out)
    np.testing.assert_array_equal(out, host[::-1])


def test_cupy_into_a_cudabuffer_on_our_stream(sample: dict[str, Any]) -> None:
    import cupy
    from cuda.core import Device

    host = image((256, 256, 3), seed=3)
    stream = Device(0).create_stream()
    try:
        halved = cupy.asarray(host) // 2  # pending on CuPy's stream
        buf = CudaBuffer.from_dlpack(halved, stream=stream)
        assert buf.ptr == halved.data.ptr
        out = np.empty_like(host)
        cuda_memcpy_d2h(buf, out, stream=stream)
        stream.sync()
        np.testing.assert_array_equal(out, host // 2)
        buf.close()
    finally:
        stream.sync()
        stream.close()
