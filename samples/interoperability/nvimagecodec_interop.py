# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "numpy>=1.24", "cuda-python>=13,<14", "cvcuda-cu13>=0.19", "matplotlib>=3.7",
#     "nvidia-nvimgcodec-cu13[nvjpeg,nvjpeg2k,nvtiff]>=0.9",
# ]
# ///
# SPDX-License-Identifier: Apache-2.0
"""
nvImageCodec: JPEG bytes to CV-CUDA and back, on the GPU
========================================================

Most CV-CUDA pipelines start from compressed images. nvImageCodec decodes
JPEG bytes straight into GPU memory; CV-CUDA wraps the decoded image without a
copy, works on it, and nvImageCodec encodes the result again. Every step runs
on one CUDA stream, and the host waits only when the encoded bytes are needed.

What to look at:

* ``decoder.decode(code_stream, cuda_stream=handle)``: the decoded image names
  that stream in its CUDA Array Interface, so CV-CUDA orders its work after it.
* ``cvcuda.as_tensor(image, "HWC")``: the same device pointer, no copy.
* ``nvimgcodec.as_image(result.cuda(), sample_format=...I_BGR)``: the encoder
  is told the channel order of what it gets.
* ``Encoder.encode`` returns a ``CodeStream``; its buffer holds the bytes.
* A batch: one ``decode`` call for a list of code streams.
"""

# %%
# Imports
# -------

# sphinx_gallery_start_ignore
try:  # preflight.py is standard library only: it runs before any import
    from preflight import require_gpu
except ImportError:  # downloaded alone: name the files it needs, exit 3
    import sys

    sys.stderr.write(
        "nvimagecodec_interop.py: cannot run: download preflight.py, "
        "cuda_python_common.py and sample_images.py with it, into the same folder (its "
        "zip download on the site holds them all)\n"
    )
    raise SystemExit(3) from None

# one line and exit status 3 when something is missing
require_gpu("cvcuda", "nvidia.nvimgcodec", "matplotlib")
# sphinx_gallery_end_ignore

# docs_tag: begin_imports
import io
import time

import cvcuda
import numpy as np
from cuda.bindings import runtime as cudart
from cuda.bindings.utils import get_cuda_native_handle
from cuda_python_common import (
    check_cuda,
    cuda_memcpy_d2h,
    destroy_stream,
    pinned_empty,
)
from matplotlib.cbook import get_sample_data
from matplotlib.image import imread
from nvidia import nvimgcodec

# docs_tag: end_imports

# %%
# JPEG bytes and one stream
# -------------------------
# The input is a compressed file's bytes, as read from disk or the network:
# the photo that ships with matplotlib. One non-blocking stream carries the
# decode, the CV-CUDA operators, the copies home and the encode.

# docs_tag: begin_bytes_and_stream
with get_sample_data("grace_hopper.jpg", asfileobj=True) as file:
    jpeg_bytes = file.read()  # 61,306 bytes of JPEG

stream = check_cuda(
    cudart.cudaStreamCreateWithFlags(cudart.cudaStreamNonBlocking),
    "cudaStreamCreateWithFlags",
)
handle = get_cuda_native_handle(stream)  # the cudaStream_t as an int
cv_stream = cvcuda.as_stream(handle)  # borrowed by CV-CUDA
# docs_tag: end_bytes_and_stream
print(f"input: {len(jpeg_bytes):,} bytes of JPEG; stream {handle:#x}")

# %%
# Decode on the GPU
# -----------------
# The first decoder and its first decode load the codec libraries and set up
# their GPU resources: a one-time cost. Later decodes take well under a
# millisecond for this photo.

# docs_tag: begin_decode
started = time.perf_counter()
decoder = nvimgcodec.Decoder()
encoder = nvimgcodec.Encoder()
code_stream = nvimgcodec.CodeStream(jpeg_bytes)  # parses the header, no decode
image = decoder.decode(code_stream, cuda_stream=handle)
init_ms = (time.perf_counter() - started) * 1e3

cai = image.__cuda_array_interface__
assert image.buffer_kind == nvimgcodec.ImageBufferKind.STRIDED_DEVICE
assert cai["stream"] == handle  # decoded on our stream: consumers order after it
# docs_tag: end_decode
print(
    f"decoded to a {image.shape} {image.dtype} image on the GPU "
    f"(first decode, with set-up: {init_ms:.0f} ms)"
)

# %%
# nvImageCodec to CV-CUDA
# -----------------------
# The decoded image exports the CUDA Array Interface, so CV-CUDA wraps it as
# it is. The interface's ``stream`` is the decode stream; CV-CUDA's operators
# on the same stream simply run after the decode.

# docs_tag: begin_nvimgcodec_to_cvcuda
tensor = cvcuda.as_tensor(image, "HWC")  # zero-copy
assert tensor.cuda().__cuda_array_interface__["data"][0] == cai["data"][0]

height, width = image.shape[0] // 2, image.shape[1] // 2
small = cvcuda.resize(
    tensor, (height, width, 3), cvcuda.Interp.LINEAR, stream=cv_stream
)
bgr = cvcuda.cvtcolor(small, cvcuda.ColorConversion.RGB2BGR, stream=cv_stream)
# docs_tag: end_nvimgcodec_to_cvcuda
print(f"CV-CUDA wrapped the decoded image at {cai['data'][0]:#x}: no copy")

# %%
# Copies home for the checks
# --------------------------
# Only the checks need the pixels on the host. The copies are enqueued on the
# same stream into pinned memory, so they do not make the host wait either.

# docs_tag: begin_copies_home
decoded_host = pinned_empty(image.shape, np.uint8)
small_host = pinned_empty((height, width, 3), np.uint8)
bgr_host = pinned_empty((height, width, 3), np.uint8)
cuda_memcpy_d2h(image, decoded_host, stream=stream)
cuda_memcpy_d2h(small.cuda(), small_host, stream=stream)
cuda_memcpy_d2h(bgr.cuda(), bgr_host, stream=stream)
# docs_tag: end_copies_home

# %%
# CV-CUDA to nvImageCodec: encode
# -------------------------------
# ``as_image`` wraps CV-CUDA's output without a copy; its interface names the
# stream CV-CUDA wrote it on, and the pixels are BGR, which the encoder must
# be told. ``encode`` is where the host waits: it returns once the bytes are
# on the host.

# docs_tag: begin_cvcuda_to_nvimgcodec
to_encode = nvimgcodec.as_image(
    bgr.cuda(), cuda_stream=handle, sample_format=nvimgcodec.SampleFormat.I_BGR
)


def jpeg_params(quality: int) -> nvimgcodec.EncodeParams:
    """JPEG at ``quality`` (1 to 100), colour at full resolution (4:4:4)."""
    return nvimgcodec.EncodeParams(
        quality_type=nvimgcodec.QualityType.QUALITY,
        quality_value=quality,
        chroma_subsampling=nvimgcodec.ChromaSubsampling.CSS_444,
    )


encoded_stream = encoder.encode(
    to_encode, "jpeg", params=jpeg_params(95), cuda_stream=handle
)
encoded = bytes(memoryview(encoded_stream)[: encoded_stream.size])  # a CodeStream
check_cuda(cudart.cudaStreamSynchronize(stream), "cudaStreamSynchronize")
# docs_tag: end_cvcuda_to_nvimgcodec
print(f"encoded {to_encode.shape} BGR pixels to {len(encoded):,} bytes of JPEG")

# %%
# Check every step
# ----------------
# The GPU decode against matplotlib's (Pillow's) decode of the same bytes:
# JPEG decoders may round differently, so within 2 per channel and 0.5 on
# average. The colour conversion is exact. The resize halves each side, so
# each output pixel is the mean of a 2x2 block, within 1 for rounding. The
# re-encoded JPEG, decoded on the host, is within JPEG's loss of the resized
# pixels: a mean difference under 2 and a PSNR of at least 35 dB.

# docs_tag: begin_ensure_results
reference = imread(io.BytesIO(jpeg_bytes), format="jpeg")  # Pillow, on the host
decode_diff = np.abs(decoded_host.astype(np.int16) - reference)
assert decode_diff.max() <= 2 and decode_diff.mean() < 0.5

np.testing.assert_array_equal(bgr_host, small_host[..., ::-1])  # exact

blocks = decoded_host.reshape(height, 2, width, 2, 3).astype(np.float64)
box_mean = blocks.mean(axis=(1, 3))
assert np.abs(small_host - box_mean).max() <= 1

assert encoded[:2] == b"\xff\xd8" and encoded[-2:] == b"\xff\xd9"  # SOI, EOI
round_trip = imread(io.BytesIO(encoded), format="jpeg")  # RGB again
jpeg_diff = round_trip.astype(np.float64) - small_host
psnr = 10 * np.log10(255**2 / np.mean(jpeg_diff**2))
assert np.abs(jpeg_diff).mean() < 2 and psnr >= 35
# docs_tag: end_ensure_results
print(
    f"GPU decode equals Pillow's within {decode_diff.max()} "
    f"(mean {decode_diff.mean():.3f}): verified"
)
print("RGB2BGR verified exact; resize within 1 of numpy's 2x2 mean")
print(f"re-encoded JPEG verified: PSNR {psnr:.1f} dB against the resized pixels")

# %%
# Batch decode
# ------------
# One ``decode`` call takes a list of code streams, of any sizes, and returns
# one image each (``None`` where one could not be decoded). Here: the original
# photo, the same photo re-encoded on the GPU at two qualities, and the
# pipeline's own output.

# docs_tag: begin_batch_decode
variants = [
    encoder.encode(image, "jpeg", params=jpeg_params(q), cuda_stream=handle)
    for q in (90, 75)
]
batch_bytes = [jpeg_bytes]
batch_bytes += [bytes(memoryview(v)[: v.size]) for v in variants]
batch_bytes += [encoded]
batch = decoder.decode(
    [nvimgcodec.CodeStream(data) for data in batch_bytes], cuda_stream=handle
)
batch_tensors = [cvcuda.as_tensor(img, "HWC") for img in batch]  # zero-copy each
decoded_at = [img.__cuda_array_interface__["data"][0] for img in batch]
wrapped_at = [t.cuda().__cuda_array_interface__["data"][0] for t in batch_tensors]
assert wrapped_at == decoded_at  # the same memory: no copy
# docs_tag: end_batch_decode


# docs_tag: begin_ensure_batch
def matches_pillow(data: bytes, decoded: nvimgcodec.Image) -> bool:
    """The GPU's decode of ``data`` within 2 per channel of Pillow's (mean 0.5)."""
    host = pinned_empty(decoded.shape, np.uint8)
    cuda_memcpy_d2h(decoded, host, stream=stream)
    check_cuda(cudart.cudaStreamSynchronize(stream), "cudaStreamSynchronize")
    diff = np.abs(host.astype(np.int16) - imread(io.BytesIO(data), format="jpeg"))
    return bool(diff.max() <= 2 and diff.mean() < 0.5)


assert all(map(matches_pillow, batch_bytes, batch))
# docs_tag: end_ensure_batch
sizes = ", ".join(f"{img.shape[0]}x{img.shape[1]}" for img in batch)
print(f"batch of {len(batch)} decoded in one call ({sizes}): each verified")
print("against Pillow's decode of the same bytes, and wrapped by CV-CUDA")

# %%
# The pictures
# ------------
# The photo as the GPU decoded it, and the pipeline's output: resized,
# converted to BGR, encoded to JPEG and decoded again on the host.

from sample_images import show_side_by_side

show_side_by_side(
    decoded_host,
    round_trip,
    titles=("Decoded on the GPU", "Resized, BGR, re-encoded"),
)

# %%
# Clean up
# --------
# nvImageCodec owns the decoded images' memory and frees it in the order of
# the stream they were decoded on; CV-CUDA's tensors keep the images they wrap
# alive. So the stream goes last: drop the tensors, the images and every other
# nvImageCodec object, then destroy the stream (``destroy_stream`` waits for it
# and clears CV-CUDA's cache). An image still named when the interpreter exits
# would be freed on a destroyed stream, at a time nobody chose.

# docs_tag: begin_clean_up
del tensor, small, bgr, to_encode, batch_tensors, batch, image, variants
del cv_stream, decoder, encoder, code_stream, encoded_stream
destroy_stream(stream)
# docs_tag: end_clean_up
