# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "numpy>=1.24",
#     "cuda-python>=13,<14",
#     "cvcuda-cu13>=0.19",
#     "matplotlib>=3.7",
# ]
# ///
# SPDX-License-Identifier: Apache-2.0
"""
Approach 3: pinned memory and streams, at the PCIe ceiling
==========================================================

Approaches 1 and 2 copy with blocking ``cudaMemcpy`` from ordinary (pageable)
numpy memory: every copy is staged through a driver buffer and the host waits
for it. Here the host arrays live in page-locked memory, every step is
enqueued on non-blocking CUDA streams that CV-CUDA shares, and the host
synchronises once, at the end.

What to look at:

* :func:`~cuda_python_common.pinned_empty` gives numpy arrays backed by
  ``cudaMallocHost``: the GPU's copy engines read them directly.
* ``cvcuda.as_stream`` hands a ``cuda.bindings`` stream to CV-CUDA, so the copy
  in, the operator and the copy out run in order on the GPU with no host wait.
* The CAI ``stream`` field tells each consumer what to wait for: a buffer
  written by an async copy exports that stream, and CV-CUDA, wrapping it after
  the copy, orders its work after that stream.
* Over a batch, one stream per copy engine and one for the kernels, with
  events between them: frame *i + 1* uploads while frame *i* downloads, and
  neither copy engine waits for the other.
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
        "cuda_python_interop_3.py: cannot run: download preflight.py, "
        "cuda_python_common.py and sample_images.py with it, into the same folder (its "
        "zip download on the site holds them all)\n"
    )
    raise SystemExit(3) from None

require_gpu("cvcuda", "matplotlib")  # one line and exit 3 when something is missing
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
    new_event,
    pinned_empty,
    record_event,
    wait_event,
)
from sample_images import photo

# docs_tag: end_imports

# %%
# One stream for CUDA Python and CV-CUDA
# --------------------------------------
# A non-blocking stream does not wait for the legacy default stream, so
# nothing else in the process can stall it. CV-CUDA wraps it without owning it.

# docs_tag: begin_pinned_stream
flags = cudart.cudaStreamNonBlocking  # never waits for the legacy default stream
stream = check_cuda(cudart.cudaStreamCreateWithFlags(flags), "cudaStreamCreate")
cv_stream = cvcuda.as_stream(get_cuda_native_handle(stream))  # borrowed, not owned

host_in = pinned_empty((1080, 1920, 3), np.uint8)  # page-locked; freed when collected
host_in[...] = np.tile(photo(), (2, 4, 1))[:1080, :1920]  # the photo, tiled to 1080p
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
check_cuda(cudart.cudaStreamSynchronize(stream), "cudaStreamSynchronize")  # one wait
# docs_tag: end_async_round_trip

np.testing.assert_array_equal(host_out, host_in[:, ::-1])
print(f"one frame {host_in.shape}: upload, flip and download on one stream, verified")

# %%
# A batch with transfers and compute overlapped
# ---------------------------------------------
# The GPU has a copy engine for each direction and runs kernels besides. Each
# gets its own stream: ``upload`` copies frames in, ``compute`` flips them,
# ``download`` copies them home, so a frame's download, the next frame's flip
# and the one after's upload all run at once. Events carry the order between
# the streams: a flip waits for its upload, a download for its flip, and an
# upload into a slot for the download that last read it. ``SLOTS`` buffers are
# in flight; with two, an upload often waits for a download to free its slot,
# and three keep both copy engines busy. The host never waits until the end.

# docs_tag: begin_overlapped_batch
FRAMES, SLOTS = 16, 3  # frames in the batch; frames in flight
shape = (FRAMES, 1080, 1920, 3)
frames_in = pinned_empty(shape, np.uint8)
panorama = np.tile(photo(), (2, 5, 1))  # (1200, 2560, 3): the photo, repeated
for i in range(FRAMES):  # a camera panning right, 24 pixels a frame
    frames_in[i] = panorama[:1080, 24 * i : 24 * i + 1920]
frames_out = pinned_empty(shape, np.uint8)

upload, compute, download = (
    check_cuda(cudart.cudaStreamCreateWithFlags(flags), "cudaStreamCreate")
    for _ in range(3)
)
cv_compute = cvcuda.as_stream(get_cuda_native_handle(compute))
inputs = [CudaBuffer(shape[1:], np.uint8) for _ in range(SLOTS)]
in_tensors = [cvcuda.as_tensor(buf, "HWC") for buf in inputs]
out_tensors = [cvcuda.Tensor(shape[1:], cvcuda.Type.U8, "HWC") for _ in range(SLOTS)]
# Wrapped once, for the stream that reads them: a frame's copy home then reads
# a checked layout instead of parsing the tensor's interface every time.
outputs = [CudaBuffer.from_cuda(t.cuda(), stream=download) for t in out_tensors]
# One event per slot and step: recorded after the slot's latest upload, flip
# and download, waited for by the step that must follow it.
up_done, flip_done, down_done = ([new_event() for _ in range(SLOTS)] for _ in range(3))


def process_batch(slots: int) -> float:
    """Flip every frame with ``slots`` buffers in flight; return the seconds.

    One slot is the serial loop: the host waits for each frame."""
    start = time.perf_counter()
    for i in range(FRAMES):
        k = i % slots
        if i >= slots:  # the slot is free once its previous frame went home
            wait_event(upload, down_done[k])
        cuda_memcpy_h2d(frames_in[i], inputs[k], stream=upload)
        record_event(up_done[k], upload)
        wait_event(compute, up_done[k])
        cvcuda.flip_into(out_tensors[k], in_tensors[k], flipCode=1, stream=cv_compute)
        record_event(flip_done[k], compute)
        wait_event(download, flip_done[k])
        cuda_memcpy_d2h(outputs[k], frames_out[i], stream=download)
        record_event(down_done[k], download)
        if slots == 1:  # the serial loop
            check_cuda(cudart.cudaStreamSynchronize(download), "cudaStreamSynchronize")
    # The last download waited for everything before it: one wait is enough.
    check_cuda(cudart.cudaStreamSynchronize(download), "cudaStreamSynchronize")
    return time.perf_counter() - start


process_batch(SLOTS)  # warm-up: first-use costs stay out of the timings
timings = {}
for slots in (1, SLOTS):
    frames_out[...] = 0  # each loop's output is checked on its own
    timings[slots] = min(process_batch(slots) for _ in range(3))
    np.testing.assert_array_equal(frames_out, frames_in[:, :, ::-1])
# docs_tag: end_overlapped_batch

gbytes = 2 * frames_in.nbytes / 1e9  # up and down
print(f"batch of {FRAMES} frames 1080x1920x3 uint8, both loops verified:")
for slots, seconds in timings.items():
    label = "serial loop" if slots == 1 else f"{slots} in flight"
    print(
        f"  {label:12s} {seconds * 1e3:7.2f} ms  {FRAMES / seconds:6.0f} frames/s"
        f"  {gbytes / seconds:5.1f} GB/s"
    )
print(f"  speed-up     {timings[1] / timings[SLOTS]:.2f}x")

# %%
# The pictures
# ------------
# The last frame of the batch as it went up, and as it came back flipped.

from sample_images import show_side_by_side

show_side_by_side(
    frames_in[-1],
    frames_out[-1],
    titles=(f"Frame {FRAMES} of the batch", "Flipped on the GPU, copied home"),
)

# %%
# Clean up
# --------
# Streams and events we created are ours to destroy; CV-CUDA only borrowed the
# streams. Drop the tensors and CV-CUDA's stream wrappers first:
# ``destroy_stream`` then waits for the stream and clears CV-CUDA's cache,
# which remembers each tensor's last stream. The device buffers go back with
# ``close()``; the pinned host arrays when they are collected.

# docs_tag: begin_clean_up
del tensor, flipped, cv_stream
for objects in (in_tensors, outputs, out_tensors):
    objects.clear()  # process_batch refers to the lists themselves
cv_compute = None  # process_batch refers to it: dropped, not deleted
for event in up_done + flip_done + down_done:
    check_cuda(cudart.cudaEventDestroy(event), "cudaEventDestroy")
for s in (stream, upload, compute, download):
    destroy_stream(s)
for buf in [device, *inputs]:
    buf.close()
# docs_tag: end_clean_up
