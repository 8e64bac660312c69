# SPDX-License-Identifier: Apache-2.0
"""nvImageCodec with CV-CUDA on the GPU: a silent import, zero-copy both ways,
the decode stream in the interface, lifetimes, encoded bytes and batches.

nvImageCodec (the ``codec13`` extra) is installed where the GPU tests run: a
missing module fails here, it does not skip. The sample itself runs in
``test_samples.py`` like every other.
"""

from __future__ import annotations

import gc
import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sample_runs import run_sample

from cuda_python_common import check_cuda, cuda_memcpy_d2h, destroy_stream, pinned_empty

pytestmark = pytest.mark.gpu
SAMPLES_DIR = Path(__file__).resolve().parents[1] / "samples" / "interoperability"
TOLERANCE_MAX, TOLERANCE_MEAN = 2, 0.5  # GPU decode against Pillow's, per channel


@pytest.fixture(scope="module")
def nvimgcodec() -> Any:
    from nvidia import nvimgcodec

    return nvimgcodec


@pytest.fixture(scope="module")
def cvcuda() -> Any:
    import cvcuda

    return cvcuda


@pytest.fixture(scope="module")
def jpeg_bytes() -> bytes:
    from matplotlib.cbook import get_sample_data

    with get_sample_data("grace_hopper.jpg", asfileobj=True) as file:
        return file.read()


@pytest.fixture(scope="module")
def reference(jpeg_bytes: bytes) -> np.ndarray:
    return host_decode(jpeg_bytes)


@pytest.fixture
def stream() -> Iterator[int]:
    """A non-blocking stream's handle; destroyed after the test's objects are gone."""
    from cuda.bindings import runtime as cudart
    from cuda.bindings.utils import get_cuda_native_handle

    created = cudart.cudaStreamCreateWithFlags(cudart.cudaStreamNonBlocking)
    s = check_cuda(created, "cudaStreamCreateWithFlags")
    yield get_cuda_native_handle(s)
    gc.collect()  # images free their memory on this stream: they go first
    destroy_stream(s)


def host_decode(data: bytes) -> np.ndarray:
    from matplotlib.image import imread

    return np.asarray(imread(io.BytesIO(data), format="jpeg"))


def to_host(obj: Any, stream: int) -> np.ndarray:
    """Copy a CAI object home on ``stream`` and wait for it."""
    from cuda.bindings import runtime as cudart

    cai = obj.__cuda_array_interface__
    host = pinned_empty(tuple(cai["shape"]), np.dtype(cai["typestr"]))
    cuda_memcpy_d2h(obj, host, stream=stream)
    check_cuda(cudart.cudaStreamSynchronize(stream), "cudaStreamSynchronize")
    return host


def assert_close_to(host: np.ndarray, expected: np.ndarray) -> None:
    diff = np.abs(host.astype(np.int16) - expected)
    assert diff.max() <= TOLERANCE_MAX, f"max difference {diff.max()}"
    assert diff.mean() < TOLERANCE_MEAN, f"mean difference {diff.mean():.3f}"


def encoded_bytes(code_stream: Any) -> bytes:
    return bytes(memoryview(code_stream)[: code_stream.size])


def test_import_prints_nothing() -> None:
    """The codec13 extra brings every library nvImageCodec looks for at import."""
    code = "from nvidia import nvimgcodec; print(nvimgcodec.__version__)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", f"import printed:\n{proc.stderr}"
    assert proc.stdout.strip().startswith("0.")


def test_decode_is_on_the_given_stream_and_close_to_pillow(
    nvimgcodec: Any, jpeg_bytes: bytes, reference: np.ndarray, stream: int
) -> None:
    image = nvimgcodec.Decoder().decode(nvimgcodec.CodeStream(jpeg_bytes), cuda_stream=stream)
    cai = image.__cuda_array_interface__
    assert image.buffer_kind == nvimgcodec.ImageBufferKind.STRIDED_DEVICE
    assert (tuple(cai["shape"]), cai["typestr"], cai["version"]) == ((600, 512, 3), "|u1", 3)
    assert cai["stream"] == stream
    assert_close_to(to_host(image, stream), reference)


def test_cvcuda_wraps_the_decoded_image_without_a_copy(
    nvimgcodec: Any, cvcuda: Any, jpeg_bytes: bytes, reference: np.ndarray, stream: int
) -> None:
    image = nvimgcodec.Decoder().decode(jpeg_bytes, cuda_stream=stream)
    tensor = cvcuda.as_tensor(image, "HWC")
    ptr = image.__cuda_array_interface__["data"][0]
    assert tensor.cuda().__cuda_array_interface__["data"][0] == ptr
    flipped = cvcuda.flip(tensor, flipCode=1, stream=cvcuda.as_stream(stream))
    assert flipped.cuda().__cuda_array_interface__["stream"] == stream
    np.testing.assert_array_equal(to_host(flipped.cuda(), stream), to_host(image, stream)[:, ::-1])
    assert_close_to(to_host(tensor.cuda(), stream), reference)


def encode_on_gpu(nvimgcodec: Any, device_obj: Any, stream: int) -> bytes:
    """JPEG bytes of a device image (anything with a CUDA Array Interface)."""
    image = nvimgcodec.as_image(device_obj, cuda_stream=stream)
    return encoded_bytes(nvimgcodec.Encoder().encode(image, "jpeg", cuda_stream=stream))


def test_tensor_keeps_the_decoded_image_alive(nvimgcodec: Any, cvcuda: Any, jpeg_bytes: bytes, stream: int) -> None:
    """Drop the image while CV-CUDA's tensor lives: its memory is not reused."""
    decoder = nvimgcodec.Decoder()
    image = decoder.decode(jpeg_bytes, cuda_stream=stream)
    expected = to_host(image, stream)
    tensor = cvcuda.as_tensor(image, "HWC")
    ptr = tensor.cuda().__cuda_array_interface__["data"][0]
    upside_down = cvcuda.flip(tensor, flipCode=0, stream=cvcuda.as_stream(stream))
    other_bytes = encode_on_gpu(nvimgcodec, upside_down.cuda(), stream)
    del image, upside_down
    gc.collect()
    # Fresh images of other pixels: freed memory of the same size would be reused now.
    others = [decoder.decode(other_bytes, cuda_stream=stream) for _ in range(4)]
    assert all(o.__cuda_array_interface__["data"][0] != ptr for o in others)
    assert tensor.cuda().__cuda_array_interface__["data"][0] == ptr
    np.testing.assert_array_equal(to_host(tensor.cuda(), stream), expected)
    del tensor, others


def test_encode_gives_jpeg_bytes_from_a_cvcuda_tensor(
    nvimgcodec: Any, cvcuda: Any, jpeg_bytes: bytes, stream: int
) -> None:
    """CV-CUDA's output (padded rows, BGR) handed to the encoder without a copy."""
    decoded = nvimgcodec.Decoder().decode(jpeg_bytes, cuda_stream=stream)
    rgb = cvcuda.as_tensor(decoded, "HWC")
    bgr = cvcuda.cvtcolor(rgb, cvcuda.ColorConversion.RGB2BGR, stream=cvcuda.as_stream(stream))
    pixels_bgr = to_host(bgr.cuda(), stream)
    bgr_ptr = bgr.cuda().__cuda_array_interface__["data"][0]
    image = nvimgcodec.as_image(bgr.cuda(), cuda_stream=stream, sample_format=nvimgcodec.SampleFormat.I_BGR)
    assert image.__cuda_array_interface__["data"][0] == bgr_ptr  # zero-copy
    params = nvimgcodec.EncodeParams(
        quality_type=nvimgcodec.QualityType.QUALITY,
        quality_value=95,
        chroma_subsampling=nvimgcodec.ChromaSubsampling.CSS_444,
    )
    code_stream = nvimgcodec.Encoder().encode(image, "jpeg", params=params, cuda_stream=stream)
    assert isinstance(code_stream, nvimgcodec.CodeStream)
    data = encoded_bytes(code_stream)
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"  # SOI ... EOI
    assert (code_stream.width, code_stream.height, code_stream.codec_name) == (512, 600, "jpeg")
    back = host_decode(data).astype(np.float64)
    assert np.abs(back - pixels_bgr[..., ::-1]).mean() < 2  # the channel order survived
    assert np.abs(back - pixels_bgr).mean() > 5  # ... which BGR read as RGB would not


def test_batch_decode_returns_one_image_each(nvimgcodec: Any, cvcuda: Any, jpeg_bytes: bytes, stream: int) -> None:
    first = nvimgcodec.Decoder().decode(jpeg_bytes, cuda_stream=stream)
    small = cvcuda.resize(
        cvcuda.as_tensor(first, "HWC"), (200, 160, 3), cvcuda.Interp.LINEAR, stream=cvcuda.as_stream(stream)
    )
    batch_bytes = [jpeg_bytes, encode_on_gpu(nvimgcodec, small.cuda(), stream), jpeg_bytes]
    batch = nvimgcodec.Decoder().decode([nvimgcodec.CodeStream(b) for b in batch_bytes], cuda_stream=stream)
    assert [tuple(i.shape) for i in batch] == [(600, 512, 3), (200, 160, 3), (600, 512, 3)]
    ptrs = {i.__cuda_array_interface__["data"][0] for i in batch}
    assert len(ptrs) == 3  # each image its own memory
    for data, img in zip(batch_bytes, batch, strict=True):
        tensor = cvcuda.as_tensor(img, "HWC")
        assert tensor.cuda().__cuda_array_interface__["data"][0] == img.__cuda_array_interface__["data"][0]
        assert_close_to(to_host(tensor.cuda(), stream), host_decode(data))


def test_sample_prints_what_it_verified() -> None:
    proc = run_sample(SAMPLES_DIR / "nvimagecodec_interop.py", cwd=Path("/"))  # any folder
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "no copy" in out and out.count("verified") >= 4
    assert "batch of 4 decoded in one call" in out
    assert proc.stderr == "", proc.stderr


def test_clean_up_leaves_no_codec_object_to_outlive_the_stream(nvimgcodec: Any, cvcuda: Any) -> None:
    """After the sample's clean-up, no image, tensor or codec object is still named:
    one left would be freed at exit, on the stream the sample destroyed."""
    run = run_sample(SAMPLES_DIR / "nvimagecodec_interop.py", in_process=True)
    assert run.returncode == 0, run.stdout + run.stderr
    codec_types = (nvimgcodec.Image, nvimgcodec.CodeStream, nvimgcodec.Decoder, nvimgcodec.Encoder)
    gpu_types = (*codec_types, cvcuda.Tensor, cvcuda.ImageBatchVarShape, cvcuda.Stream)
    left = sorted(name for name, value in run.names.items() if isinstance(value, gpu_types))
    assert left == [], f"still named after the clean-up: {left}"
