# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "numpy>=1.24", "cuda-python>=13,<14", "cuda-core>=1.2", "cvcuda-cu13>=0.19",
#     "matplotlib>=3.7",
# ]
# ///
# SPDX-License-Identifier: Apache-2.0
"""
cuda.core: Device, Stream and Buffer with CV-CUDA
=================================================

``cuda.core`` is the pythonic layer of CUDA Python: objects instead of
``(err, value)`` tuples. Its :class:`~cuda.core.Buffer` speaks DLPack but not
the CUDA Array Interface, and it is a flat run of bytes; a
:class:`~cuda.core.utils.StridedMemoryView` gives it a shape and a dtype that
CV-CUDA understands. Everything runs on one ``cuda.core`` stream that CV-CUDA
borrows.

What to look at:

* ``StridedMemoryView.from_buffer(buffer, shape, dtype=...)`` then
  ``cvcuda.as_tensor(view, "HWC")``: a typed tensor over the same bytes.
* ``StridedMemoryView.from_any_interface(result.cuda(), stream)`` going back:
  the consumer passes its stream, so the view is ordered after CV-CUDA's work.
* Every pointer is compared: no step copies on the device.

Use it for new code, where objects that own and release their resources beat
``(err, value)`` tuples, and to allocate from the device's stream-ordered pool.
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
        "cuda_core_interop.py: cannot run: download preflight.py, "
        "cuda_python_common.py and sample_images.py with it, into the same folder (its "
        "zip download on the site holds them all)\n"
    )
    raise SystemExit(3) from None

# one line and exit status 3 when something is missing
require_gpu("cvcuda", "cuda.core", "matplotlib")
# sphinx_gallery_end_ignore

# docs_tag: begin_imports
import cvcuda
import numpy as np
from cuda.core import Buffer, Device
from cuda.core.utils import StridedMemoryView
from cuda_python_common import pinned_empty
from sample_images import photo

# docs_tag: end_imports

# %%
# Device, stream and host data
# ----------------------------
# ``cvcuda.as_stream`` takes the raw handle, which ``__cuda_stream__`` gives.

# docs_tag: begin_device_and_stream
device = Device(0)
device.set_current()
stream = device.create_stream()  # owned by cuda.core
cv_stream = cvcuda.as_stream(stream.__cuda_stream__()[1])  # borrowed by CV-CUDA

host_image = pinned_empty((600, 512, 3), np.uint8)  # page-locked, so copies are async
host_image[...] = photo()  # the photo that ships with matplotlib, uint8 RGB
# docs_tag: end_device_and_stream
print(
    f"device {device.device_id}: {device.name}; stream {stream.__cuda_stream__()[1]:#x}"
)

# %%
# cuda.core to CV-CUDA
# --------------------
# Allocate from the device's stream-ordered memory pool, upload, and view the
# bytes as an HWC uint8 image. The upload and the flip are on one stream, so the
# GPU runs them in order with no host wait. The tensor views ``frame``'s memory:
# keep ``frame`` alive while the tensor is in use (here, until the clean-up).

# docs_tag: begin_cuda_core_to_cvcuda
frame = device.allocate(host_image.nbytes, stream=stream)
frame.copy_from(
    Buffer.from_handle(host_image.ctypes.data, host_image.nbytes), stream=stream
)

view = StridedMemoryView.from_buffer(frame, host_image.shape, dtype=host_image.dtype)
tensor = cvcuda.as_tensor(view, "HWC")  # zero-copy
assert tensor.cuda().__cuda_array_interface__["data"][0] == frame.handle

flipped = cvcuda.flip(
    tensor, flipCode=1, stream=cv_stream
)  # same stream: after the upload
# docs_tag: end_cuda_core_to_cvcuda
print(f"cuda.core Buffer {frame.handle:#x} viewed as a {tensor.shape} tensor, no copy")

# %%
# CV-CUDA to cuda.core
# --------------------
# The consumer names its stream; the view then is safe to use on it (CV-CUDA's
# interface names the stream its flip ran on). ``Buffer.from_handle`` makes a
# ``Buffer`` that does not own its memory: ``flipped`` owns the device bytes and
# ``host_result`` the host ones, so both outlive the copy, which ``sync`` ends.

# docs_tag: begin_cvcuda_to_cuda_core
consumer = stream.__cuda_stream__()[1]
result = StridedMemoryView.from_any_interface(flipped.cuda(), consumer)
assert result.ptr == flipped.cuda().__cuda_array_interface__["data"][0]  # zero-copy

host_result = pinned_empty(host_image.shape, host_image.dtype)
result_bytes = Buffer.from_handle(result.ptr, host_result.nbytes)  # `flipped` owns it
host_bytes = Buffer.from_handle(host_result.ctypes.data, host_result.nbytes)
host_bytes.copy_from(result_bytes, stream=stream)
stream.sync()  # the only host wait
# docs_tag: end_cvcuda_to_cuda_core

# docs_tag: begin_ensure_tensors_unchanged
np.testing.assert_array_equal(host_result, host_image[:, ::-1])
# docs_tag: end_ensure_tensors_unchanged
print(f"result {result.shape} copied home on the same stream: equals numpy's flip")

# %%
# The pictures
# ------------
# The photo in pinned memory, and the flip that came back through cuda.core.

from sample_images import show_side_by_side

show_side_by_side(
    host_image, host_result, titles=("Input", "cvcuda.flip, copied by cuda.core")
)

# %%
# Clean up
# --------
# Each owner releases its own: the pool memory goes back on the stream, and
# the stream is closed by cuda.core, which created it, once CV-CUDA's cache
# has forgotten it (the cache remembers each tensor's last stream).

# docs_tag: begin_clean_up
del tensor, view, result, result_bytes, host_bytes, flipped, cv_stream
frame.close(stream)  # back to the pool, in stream order
stream.sync()
cvcuda.clear_cache()
stream.close()
# docs_tag: end_clean_up
