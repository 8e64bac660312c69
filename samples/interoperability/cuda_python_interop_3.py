# /// script
# requires-python = ">=3.10"
# dependencies = ["numpy>=1.24", "cuda-python>=13,<14", "cvcuda-cu13>=0.19"]
# ///
# SPDX-License-Identifier: Apache-2.0
"""
Approach 3: pinned memory and one stream, at the PCIe ceiling
=============================================================

Approaches 1 and 2 copy with blocking ``cudaMemcpy`` from ordinary (pageable)
numpy memory: every copy is staged through a driver buffer and the host waits
for it. Here the host arrays live in page-locked memory, every step is
enqueued on one non-blocking CUDA stream that CV-CUDA shares, and the host
synchronises once, at the end.

What to look at:

* :func:`~cuda_python_common.pinned_empty` gives numpy arrays backed by
  ``cudaMallocHost``: the GPU's copy engines read them directly.
* ``cvcuda.as_stream`` hands a ``cuda.bindings`` stream to CV-CUDA, so the copy
  in, the operator and the copy out run in order on the GPU with no host wait.
* The CAI ``stream`` field tells each consumer what to wait for: a buffer
  written by an async copy exports that stream, and CV-CUDA, wrapping it after
  the copy, orders its work after that stream.
* With two streams, frame *i+1* uploads while frame *i* downloads: the batch
  runs faster than the serial loop.
"""

# %%
# Imports
# -------

# sphinx_gallery_start_ignore
from cuda_python_common import require_gpu

require_gpu("cvcuda")  # one line and exit status 3 when no GPU, driver or CV-CUDA is usable
# sphinx_gallery_end_ignore

# docs_tag: begin_imports
import time

import cvcuda
import numpy as np
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

# docs_tag: end_imports

# %%
# One stream for CUDA Python and CV-CUDA
# --------------------------------------
# A non-blocking stream does not wait for the legacy default stream, so
# nothing else in the process can stall it. CV-CUDA wraps it without owning it.

# docs_tag: begin_pinned_stream
stream = check_cuda(cudart.cudaStreamCreateWithFlags(cudart.cudaStreamNonBlocking), "cudaStreamCreateWithFlags")
cv_stream = cvcuda.as_stream(get_cuda_native_handle(stream))

rng = np.random.default_rng(seed=3)
host_in = pinned_empty((1080, 1920, 3), np.uint8)  # page-locked; freed when collected
host_in[...] = rng.integers(0, 256, size=host_in.shape, dtype=np.uint8)
host_out = pinned_empty(host_in.shape, host_in.dtype)
# docs_tag: end_pinned_stream

# %%
# Copy in, process, copy out -- one synchronisation
# -------------------------------------------------
# Each call returns as soon as its work is enqueued. ``device`` exports the
# stream of its pending upload, and the flip runs on that same stream, so it is
# ordered after the upload; the download reads ``flipped``'s interface, which
# names the same stream again.

# docs_tag: begin_async_round_trip
device = CudaBuffer(host_in.shape, host_in.dtype)
cuda_memcpy_h2d(host_in, device, stream=stream)  # enqueued; returns at once
tensor = cvcuda.as_tensor(device, "HWC")  # zero-copy, ordered after the upload
flipped = cvcuda.flip(tensor, flipCode=1, stream=cv_stream)
cuda_memcpy_d2h(flipped.cuda(), host_out, stream=stream)  # enqueued after the flip
check_cuda(cudart.cudaStreamSynchronize(stream), "cudaStreamSynchronize")  # the only host wait
# docs_tag: end_async_round_trip

np.testing.assert_array_equal(host_out, host_in[:, ::-1])
print(f"one frame {host_in.shape}: upload, flip and download on one stream, verified")

# %%
# A batch with transfers and compute overlapped
# ---------------------------------------------
# The serial loop waits for each frame before starting the next, so the
# upload and download engines take turns. The pipelined loop round-robins
# frames over two streams, each with its own buffers: while one stream
# downloads frame *i*, the other uploads frame *i + 1*. A slot's next frame is
# enqueued behind its previous one on the same stream, so the GPU never
# overwrites a buffer that is still in use, and the host never waits.

# docs_tag: begin_overlapped_batch
FRAMES, SLOTS = 16, 2  # frames in the batch, frames in flight
frames_in = pinned_empty((FRAMES, 1080, 1920, 3), np.uint8)
frames_in[...] = np.random.default_rng(seed=4).integers(0, 256, size=frames_in.shape, dtype=np.uint8)
frames_out = pinned_empty(frames_in.shape, frames_in.dtype)

streams = [
    check_cuda(cudart.cudaStreamCreateWithFlags(cudart.cudaStreamNonBlocking), "cudaStreamCreateWithFlags")
    for _ in range(SLOTS)
]
cv_streams = [cvcuda.as_stream(get_cuda_native_handle(s)) for s in streams]
inputs = [CudaBuffer(frames_in.shape[1:], np.uint8) for _ in range(SLOTS)]
in_tensors = [cvcuda.as_tensor(buf, "HWC") for buf in inputs]
out_tensors = [cvcuda.Tensor(frames_in.shape[1:], cvcuda.Type.U8, "HWC") for _ in range(SLOTS)]


def process_batch(slots: int) -> float:
    """Flip every frame using ``slots`` streams; return the elapsed seconds."""
    start = time.perf_counter()
    for i in range(FRAMES):
        k = i % slots
        cuda_memcpy_h2d(frames_in[i], inputs[k], stream=streams[k])
        cvcuda.flip_into(out_tensors[k], in_tensors[k], flipCode=1, stream=cv_streams[k])
        cuda_memcpy_d2h(out_tensors[k].cuda(), frames_out[i], stream=streams[k])
        if slots == 1:
            check_cuda(cudart.cudaStreamSynchronize(streams[k]), "cudaStreamSynchronize")  # serial: wait
    for s in streams[:slots]:
        check_cuda(cudart.cudaStreamSynchronize(s), "cudaStreamSynchronize")
    return time.perf_counter() - start


process_batch(SLOTS)  # warm-up: first-use costs stay out of the timings
frames_out[...] = 0  # each loop's output is checked on its own
serial = min(process_batch(1) for _ in range(3))
np.testing.assert_array_equal(frames_out, frames_in[:, :, ::-1])
frames_out[...] = 0
overlapped = min(process_batch(SLOTS) for _ in range(3))
np.testing.assert_array_equal(frames_out, frames_in[:, :, ::-1])
# docs_tag: end_overlapped_batch

gbytes = 2 * frames_in.nbytes / 1e9  # up and down
print(f"batch of {FRAMES} frames 1080x1920x3 uint8, both loops verified:")
print(f"  serial loop     {serial * 1e3:7.2f} ms  {FRAMES / serial:6.0f} frames/s  {gbytes / serial:5.1f} GB/s")
print(
    f"  {SLOTS} streams       {overlapped * 1e3:7.2f} ms  {FRAMES / overlapped:6.0f} frames/s  "
    f"{gbytes / overlapped:5.1f} GB/s"
)
print(f"  speed-up        {serial / overlapped:.2f}x")

# %%
# Clean up
# --------
# Streams we created are ours to destroy; CV-CUDA only borrowed them. Drop the
# tensors and CV-CUDA's stream wrappers first: ``destroy_stream`` then waits for
# the stream and clears CV-CUDA's cache, which remembers each tensor's last
# stream. The device buffers go back with ``close()``.
tensor = flipped = cv_stream = None
in_tensors.clear()
out_tensors.clear()
cv_streams.clear()
for s in [stream, *streams]:
    destroy_stream(s)
for buf in [device, *inputs]:
    buf.close()
