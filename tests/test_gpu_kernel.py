# SPDX-License-Identifier: Apache-2.0
"""The run-time compiled kernel of ``cuda_python_kernel.py`` on the GPU.

The sample runs once in this process (its own run checks its frames and its
crop, and says it compiled the kernel once); its kernel, launch helpers and
numpy reference are then reused. The kernel gives numpy's answer launched again
and again, on a padded CV-CUDA tensor, a CudaBuffer crop and a plain
CudaBuffer, and a launch with the packed width as the pitch gives a wrong image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sample_runs import run_sample

from cuda_python_common import CudaBuffer, cuda_memcpy_d2h, cuda_memcpy_h2d, pinned_empty

pytestmark = pytest.mark.gpu
SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "interoperability" / "cuda_python_kernel.py"


@pytest.fixture(scope="module")
def sample() -> dict[str, Any]:
    """The names the sample defined, after a full run in this process."""
    run = run_sample(SAMPLE, in_process=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("NVRTC compiled the kernel") == 1, run.stdout  # 4 frames and a crop: one compile
    return run.names


@pytest.fixture
def stream(sample: dict[str, Any]) -> Any:
    import cvcuda
    from cuda.core import Device

    device = Device(0)
    device.set_current()
    s = device.create_stream()
    yield s
    s.sync()
    cvcuda.clear_cache()  # it may remember the stream
    s.close()


def image(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def padded_tensor(host: np.ndarray, stream: Any) -> Any:
    """``host`` mirrored by CV-CUDA into a tensor with rows padded to 256 bytes."""
    import cvcuda

    source = CudaBuffer(host.shape, np.uint8)
    cuda_memcpy_h2d(host, source)
    tensor = cvcuda.Tensor(host.shape, np.uint8, "HWC", rowalign=256)
    cv_stream = cvcuda.as_stream(stream.__cuda_stream__()[1])
    cvcuda.flip_into(tensor, cvcuda.as_tensor(source, "HWC"), flipCode=1, stream=cv_stream)
    stream.sync()
    return tensor


def download(obj: Any, shape: tuple[int, ...], stream: Any) -> np.ndarray:
    out = np.empty(shape, np.uint8)
    cuda_memcpy_d2h(obj, out, stream=stream)
    stream.sync()
    return out


def test_the_compiled_kernel_is_launched_again_and_again(sample: dict[str, Any], stream: Any) -> None:
    from cuda.core import Kernel

    assert isinstance(sample["sepia"], Kernel)
    host = image((20, 30, 3))
    with CudaBuffer(host.shape, np.uint8) as buf:
        cuda_memcpy_h2d(host, buf)
        for _ in range(3):
            sample["sepia_in_place"](buf, stream)
        buf.stream = stream
        out = download(buf, host.shape, stream)
    expected = host
    for _ in range(3):
        expected = sample["sepia_reference"](expected)
    np.testing.assert_array_equal(out, expected)
    assert 0 < sample["compile_ms"] < 60_000


def test_padded_cvcuda_tensor_equals_numpy(sample: dict[str, Any], stream: Any) -> None:
    host = image((50, 75, 3), seed=1)  # 225 bytes a row
    tensor = padded_tensor(host, stream)
    cai = tensor.cuda().__cuda_array_interface__
    assert cai["strides"][0] == 256 != host.shape[1] * 3  # really padded
    sample["sepia_in_place"](tensor.cuda(), stream)
    out = download(tensor.cuda(), host.shape, stream)
    np.testing.assert_array_equal(out, sample["sepia_reference"](host[:, ::-1]))


def test_the_packed_width_as_pitch_gives_a_wrong_image(sample: dict[str, Any], stream: Any) -> None:
    """The pitch matters: rows 225 bytes apart instead of 256 tone the wrong bytes."""
    host = image((50, 75, 3), seed=2)
    tensor = padded_tensor(host, stream)
    ptr = tensor.cuda().__cuda_array_interface__["data"][0]
    sample["launch_sepia"](stream, ptr, host.shape[1] * 3, host.shape)  # wrong pitch
    out = download(tensor.cuda(), host.shape, stream)
    right = sample["sepia_reference"](host[:, ::-1])
    wrong_rows = int((out != right).any(axis=(1, 2)).sum())
    assert wrong_rows > host.shape[0] // 2, f"only {wrong_rows} rows differ"
    np.testing.assert_array_equal(out[0], right[0])  # row 0 starts at the pointer


def test_a_cudabuffer_crop_tones_only_its_window(sample: dict[str, Any], stream: Any) -> None:
    host = image((64, 80, 3), seed=3)
    with CudaBuffer(host.shape, np.uint8) as whole:
        cuda_memcpy_h2d(host, whole)
        crop = whole.crop(top=5, left=7, height=40, width=50)
        assert crop.__cuda_array_interface__["strides"][0] == 240 != 50 * 3
        sample["sepia_in_place"](crop, stream)
        whole.stream = stream
        out = download(whole, host.shape, stream)
    expected = host.copy()
    expected[5:45, 7:57] = sample["sepia_reference"](host[5:45, 7:57])
    np.testing.assert_array_equal(out, expected)


def test_a_plain_cudabuffer_equals_numpy(sample: dict[str, Any], stream: Any) -> None:
    host = image((33, 47, 3), seed=4)
    with CudaBuffer(host.shape, np.uint8) as buf:
        cuda_memcpy_h2d(host, buf)  # blocking: the buffer names the legacy stream
        assert buf.__cuda_array_interface__["strides"] is None  # packed rows
        sample["sepia_in_place"](buf, stream)
        buf.stream = stream
        out = download(buf, host.shape, stream)
    np.testing.assert_array_equal(out, sample["sepia_reference"](host))


def test_four_channels_keep_alpha(sample: dict[str, Any], stream: Any) -> None:
    host = image((16, 24, 4), seed=5)
    with CudaBuffer(host.shape, np.uint8) as buf:
        cuda_memcpy_h2d(host, buf)
        sample["sepia_in_place"](buf, stream)
        buf.stream = stream
        out = download(buf, host.shape, stream)
    np.testing.assert_array_equal(out, sample["sepia_reference"](host))
    np.testing.assert_array_equal(out[..., 3], host[..., 3])


def test_work_pending_on_another_stream_is_waited_for(sample: dict[str, Any], stream: Any) -> None:
    """A buffer whose upload is pending on another stream: the kernel follows it."""
    from cuda.core import Device

    host = pinned_empty((512, 512, 3), np.uint8)
    host[...] = image(host.shape, seed=6)
    other = Device(0).create_stream()
    try:
        with CudaBuffer(host.shape, np.uint8) as buf:
            cuda_memcpy_h2d(host, buf, stream=other)  # pending on `other`
            assert buf.__cuda_array_interface__["stream"] == other.__cuda_stream__()[1]
            sample["sepia_in_place"](buf, stream)
            buf.stream = stream
            out = download(buf, host.shape, stream)
    finally:
        other.sync()
        other.close()
    np.testing.assert_array_equal(out, sample["sepia_reference"](np.asarray(host)))


def test_other_layouts_are_refused(sample: dict[str, Any], stream: Any) -> None:
    with CudaBuffer((8, 8, 3), np.float32) as floats, pytest.raises(ValueError, match="uint8"):
        sample["sepia_in_place"](floats, stream)
    with CudaBuffer((8, 8, 2), np.uint8) as two, pytest.raises(ValueError, match="HWC"):
        sample["sepia_in_place"](two, stream)
