# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "numpy>=1.24", "cuda-python>=13,<14", "cuda-core>=1.2", "cvcuda-cu13>=0.19",
#     "matplotlib>=3.7",
# ]
# ///
# SPDX-License-Identifier: Apache-2.0
"""
Your own kernel between two CV-CUDA operators
=============================================

CV-CUDA has no operator for every step. Here a CUDA C++ kernel of our own, a
sepia tone in integer arithmetic, is compiled at run time with NVRTC through
``cuda.core`` and runs between two CV-CUDA operators on the same stream, on
CV-CUDA's memory and on a ``CudaBuffer``. The host waits once, when the
results are copied home.

What to look at:

* ``Program(...).compile("cubin").get_kernel(...)`` runs once; the kernel is
  then launched on every frame. The sample prints what the compile cost.
* The kernel takes a pointer and a **row pitch in bytes**, both read from the
  CUDA Array Interface: CV-CUDA pads its rows (here to 256 bytes) and a crop
  keeps its parent's pitch, so ``y * width * 3`` would read the wrong bytes.
* Every launch goes on the stream CV-CUDA uses, so the GPU orders it after the
  operator before it and before the one after it, with no host wait.
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
        "cuda_python_kernel.py: cannot run: download preflight.py, "
        "cuda_python_common.py and sample_images.py with it, into the same folder (its "
        "zip download on the site holds them all)\n"
    )
    raise SystemExit(3) from None

require_gpu("cvcuda", "cuda.core", "matplotlib")  # one line and exit 3 when missing
# sphinx_gallery_end_ignore

# docs_tag: begin_imports
import time

import cvcuda
import numpy as np
from cuda.core import (
    LEGACY_DEFAULT_STREAM,
    PER_THREAD_DEFAULT_STREAM,
    Device,
    LaunchConfig,
    Program,
    ProgramOptions,
    Stream,
    launch,
)
from cuda_python_common import (
    CudaBuffer,
    cuda_memcpy_d2h,
    cuda_memcpy_h2d,
    pinned_empty,
)
from sample_images import photo

# docs_tag: end_imports

# %%
# The kernel
# ----------
# One thread per pixel. Row ``y`` starts ``y * pitch`` bytes after the first
# pixel: the pitch is what the memory's interface says, not the width. The
# integer weights make the answer exact, so numpy can check every byte.

# docs_tag: begin_kernel_source
SEPIA_SOURCE = r"""
__device__ unsigned char clamp255(int v) { return v > 255 ? 255 : v; }

extern "C" __global__ void sepia(unsigned char* image, long long pitch,
                                 int height, int width, int channels)
{
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= width || y >= height) return;
    unsigned char* p = image + y * pitch + x * channels;  // rows are pitch apart
    const int r = p[0], g = p[1], b = p[2];  // a 4th channel (alpha) is kept
    p[0] = clamp255((402 * r + 787 * g + 194 * b) >> 10);
    p[1] = clamp255((357 * r + 702 * g + 172 * b) >> 10);
    p[2] = clamp255((279 * r + 547 * g + 134 * b) >> 10);
}
"""


def sepia_reference(image: np.ndarray) -> np.ndarray:
    """numpy's answer: the same integer weights, the same shift and clamp."""
    weights = np.array([[402, 787, 194], [357, 702, 172], [279, 547, 134]], np.int32)
    toned = image.copy()
    mixed = (image[..., :3].astype(np.int32) @ weights.T) >> 10
    toned[..., :3] = np.minimum(mixed, 255)
    return toned


# docs_tag: end_kernel_source

# %%
# Compile once
# ------------
# NVRTC compiles the source for this GPU's architecture into a cubin; loading
# it gives a kernel that every later launch reuses. Compile at start-up, never
# per frame: the compile costs milliseconds, a launch microseconds.

# docs_tag: begin_compile_once
device = Device(0)
device.set_current()
options = ProgramOptions(arch=f"sm_{device.arch}", std="c++17")
start = time.perf_counter()
program = Program(SEPIA_SOURCE, code_type="c++", options=options)
sepia = program.compile("cubin").get_kernel("sepia")  # the one compile
compile_ms = (time.perf_counter() - start) * 1e3
# docs_tag: end_compile_once
print(f"NVRTC compiled the kernel for sm_{device.arch} in {compile_ms:.0f} ms, once")

# %%
# Launch on any image with the CUDA Array Interface
# -------------------------------------------------
# ``launch_sepia`` takes the raw pieces; ``sepia_in_place`` reads them from
# the interface (a ``cvcuda`` tensor's ``.cuda()``, a ``CudaBuffer``, a crop):
# the pointer, the row pitch from ``strides[0]`` (``None`` means packed rows)
# and the stream whose pending work must finish first (CAI v3).

# docs_tag: begin_launch
DEFAULT_STREAMS = {1: LEGACY_DEFAULT_STREAM, 2: PER_THREAD_DEFAULT_STREAM}


def launch_sepia(stream: Stream, ptr: int, pitch: int, shape: tuple) -> None:
    """Enqueue the kernel on ``stream``: an HWC uint8 image, rows ``pitch`` apart."""
    height, width, channels = shape
    block = (32, 8)
    grid = ((width + block[0] - 1) // block[0], (height + block[1] - 1) // block[1])
    config = LaunchConfig(grid=grid, block=block)
    args = (np.int64(pitch), np.int32(height), np.int32(width), np.int32(channels))
    launch(stream, config, sepia, ptr, *args)


def sepia_in_place(image: object, stream: Stream) -> None:
    """Tone ``image`` (anything with ``__cuda_array_interface__``) on ``stream``."""
    cai = image.__cuda_array_interface__
    height, width, channels = cai["shape"]
    strides = cai.get("strides") or (width * channels, channels, 1)  # None: packed
    if cai["typestr"] != "|u1" or channels < 3 or tuple(strides[1:]) != (channels, 1):
        raise ValueError(f"sepia needs packed HWC uint8 pixels, got {cai}")
    producer = cai.get("stream")  # CAI v3: pending work the kernel must follow
    if producer not in (None, -1, stream.__cuda_stream__()[1]):
        stream.wait(DEFAULT_STREAMS.get(producer) or Stream.from_handle(producer))
    launch_sepia(stream, cai["data"][0], strides[0], (height, width, channels))


# docs_tag: end_launch

# %%
# Between two CV-CUDA operators, frame after frame
# ------------------------------------------------
# CV-CUDA borrows the ``cuda.core`` stream. Per frame: upload, mirror
# (CV-CUDA) into a tensor whose rows are padded to 256 bytes, tone (ours, in
# place), turn upside down (CV-CUDA), download. The two flips stand for any
# operators; numpy reproduces them exactly. Nothing waits until the end.

# docs_tag: begin_between_operators
stream = device.create_stream()  # owned by cuda.core
cv_stream = cvcuda.as_stream(stream.__cuda_stream__()[1])  # borrowed by CV-CUDA

FRAMES, (H, W) = 4, (480, 500)  # 500 pixels = 1500 bytes a row, pitch 1536
picture = photo()  # (600, 512, 3) uint8 RGB
frames_in = pinned_empty((FRAMES, H, W, 3), np.uint8)
for i in range(FRAMES):  # each frame a different window of the photo
    frames_in[i] = picture[40 * i : 40 * i + H, 4 * i : 4 * i + W]
frames_out = pinned_empty(frames_in.shape, np.uint8)
inputs = [CudaBuffer((H, W, 3), np.uint8) for _ in range(FRAMES)]
mirrored = [cvcuda.Tensor((H, W, 3), np.uint8, "HWC", rowalign=256) for _ in inputs]
results = []

start = time.perf_counter()
for i in range(FRAMES):
    cuda_memcpy_h2d(frames_in[i], inputs[i], stream=stream)  # enqueued
    source = cvcuda.as_tensor(inputs[i], "HWC")  # zero-copy
    cvcuda.flip_into(mirrored[i], source, flipCode=1, stream=cv_stream)  # CV-CUDA
    sepia_in_place(mirrored[i].cuda(), stream)  # ours, same stream, same memory
    results.append(cvcuda.flip(mirrored[i], flipCode=0, stream=cv_stream))  # CV-CUDA
    cuda_memcpy_d2h(results[i].cuda(), frames_out[i], stream=stream)  # enqueued
stream.sync()  # the only host wait
pipeline_ms = (time.perf_counter() - start) * 1e3
# docs_tag: end_between_operators

# docs_tag: begin_check_frames
pitch = mirrored[0].cuda().__cuda_array_interface__["strides"][0]
for i in range(FRAMES):
    expected = sepia_reference(frames_in[i][:, ::-1])[::-1]  # mirror, tone, flip
    np.testing.assert_array_equal(frames_out[i], expected)
# docs_tag: end_check_frames
print(f"{FRAMES} frames: flip, our kernel, flip on one stream in {pipeline_ms:.1f} ms")
print(f"rows of {W * 3} bytes, {pitch} apart in CV-CUDA's tensor: equals numpy's")

# %%
# On your own memory: a CudaBuffer and a crop of it
# -------------------------------------------------
# A crop moves the pointer and keeps the parent's pitch, so the kernel tones
# just the window. After it, the buffer records our stream: whoever reads it
# next (a copy, CV-CUDA) is ordered after the kernel.

# docs_tag: begin_cuda_buffer_crop
host_photo = pinned_empty(picture.shape, np.uint8)
host_photo[...] = picture
whole = CudaBuffer(picture.shape, np.uint8)  # packed rows: strides None
cuda_memcpy_h2d(host_photo, whole, stream=stream)
face = whole.crop(top=60, left=130, height=260, width=240)  # zero-copy window
sepia_in_place(face, stream)  # pointer moved, pitch 1536: only the window
whole.stream = stream  # the kernel wrote it: the next user follows the stream
host_toned = pinned_empty(picture.shape, np.uint8)
cuda_memcpy_d2h(whole, host_toned, stream=stream)
stream.sync()
# docs_tag: end_cuda_buffer_crop

# docs_tag: begin_check_crop
expected = picture.copy()
expected[60:320, 130:370] = sepia_reference(picture[60:320, 130:370])
np.testing.assert_array_equal(host_toned, expected)
# docs_tag: end_check_crop
print(f"a {face.shape} crop of a CudaBuffer, rows {face.strides[0]} apart:")
print("only the window was toned, the rest of the photo unchanged: equals numpy's")

# %%
# The pictures
# ------------
# The photo, one frame of the pipeline, and the photo toned through a crop.

from sample_images import show_side_by_side

show_side_by_side(
    picture,
    frames_out[0],
    host_toned,
    titles=("Input", "flip, our kernel, flip", "Our kernel on a crop"),
)

# %%
# Clean up
# --------
# CV-CUDA's cache remembers the stream each tensor last used: clear it before
# ``cuda.core``, which created the stream, closes it. The buffers free their
# ``cudaMalloc`` memory now rather than when collected.

# docs_tag: begin_clean_up
del source, mirrored, results, cv_stream
cvcuda.clear_cache()
for buffer in (*inputs, face, whole):
    buffer.close()
stream.close()
# docs_tag: end_clean_up
