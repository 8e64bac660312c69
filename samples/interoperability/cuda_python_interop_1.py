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
Approach 1: your own CUDA memory, shared with CV-CUDA
=====================================================

This sample allocates device memory itself, with ``cudaMalloc`` wrapped in
:class:`~cuda_python_common.CudaBuffer`, and lends it to CV-CUDA without a copy.
Then it wraps a CV-CUDA result the other way and copies it home.

What to look at:

* ``cvcuda.as_tensor(buffer, "HWC")`` reads the buffer's
  ``__cuda_array_interface__``: the tensor's data pointer *is* the buffer's
  pointer (zero-copy), and the tensor keeps ``buffer`` alive.
* ``CudaBuffer.from_cuda(result.cuda())`` goes back the same way, and holds a
  reference to the tensor so its memory cannot be recycled underneath.
* Every byte that comes back is checked against a numpy reference.
"""

# %%
# Imports
# -------
# ``cuda_python_common`` lives next to this file; it holds the checked helpers.

# sphinx_gallery_start_ignore
try:  # preflight.py is standard library only: it runs before any import
    from preflight import require_gpu
except ImportError:  # downloaded alone: name the files it needs, exit 3
    import sys

    sys.stderr.write(
        "cuda_python_interop_1.py: cannot run: download preflight.py, "
        "cuda_python_common.py and sample_images.py with it, into the same folder (its "
        "zip download on the site holds them all)\n"
    )
    raise SystemExit(3) from None

require_gpu("cvcuda", "matplotlib")  # one line and exit 3 when something is missing
# sphinx_gallery_end_ignore

# docs_tag: begin_imports
import cvcuda
import numpy as np
from cuda_python_common import CudaBuffer, cuda_memcpy_d2h, cuda_memcpy_h2d
from sample_images import photo

# docs_tag: end_imports

# %%
# CUDA Python to CV-CUDA
# ----------------------
# Allocate device memory we own, fill it from the host with a photo (the one
# that ships with matplotlib), and wrap it as a tensor. No copy happens in
# ``as_tensor``: compare the two pointers.

# docs_tag: begin_cuda_python_to_cvcuda
host_image = photo()  # (600, 512, 3) uint8 RGB, read from disk: no network

buffer = CudaBuffer(host_image.shape, host_image.dtype)  # cudaMalloc, freed once
cuda_memcpy_h2d(host_image, buffer)  # sizes and dtypes are checked before copying

tensor = cvcuda.as_tensor(buffer, "HWC")  # zero-copy: the tensor reads our memory
tensor_ptr = tensor.cuda().__cuda_array_interface__["data"][0]
assert tensor_ptr == buffer.ptr, "as_tensor copied the data"
# docs_tag: end_cuda_python_to_cvcuda
print(f"wrapped a {tensor.shape} CudaBuffer as a tensor, same pointer {tensor_ptr:#x}")

# %%
# CV-CUDA to CUDA Python
# ----------------------
# A CV-CUDA operator (a horizontal flip: exact, so the result can be compared
# bit for bit) writes a new tensor, and ``from_cuda`` wraps it without copying.
# The interface names the stream CV-CUDA wrote on, and the wrapper orders
# whoever reads it after that stream, so the copy below never reads a
# half-written result.

# docs_tag: begin_cvcuda_to_cuda_python
flipped = cvcuda.flip(tensor, flipCode=1)
result = CudaBuffer.from_cuda(flipped.cuda())  # keeps `flipped` alive, no copy
assert result.ptr == flipped.cuda().__cuda_array_interface__["data"][0]

host_result = np.empty_like(host_image)
cuda_memcpy_d2h(result, host_result)
# docs_tag: end_cvcuda_to_cuda_python
print(f"copied the flipped {result.shape} image home through a zero-copy wrapper")

# %%
# Check the round trip
# --------------------
# The result must equal numpy's flip, and the input buffer must still hold
# the original image: the operator wrote a new tensor, not ours.

# docs_tag: begin_ensure_tensors_unchanged
np.testing.assert_array_equal(host_result, host_image[:, ::-1])

host_input = np.empty_like(host_image)
cuda_memcpy_d2h(buffer, host_input)
np.testing.assert_array_equal(host_input, host_image)
# docs_tag: end_ensure_tensors_unchanged
print(f"verified: {host_result.size} values equal numpy's flip; the input is unchanged")

# %%
# The pictures
# ------------
# The photo that went in, and the flipped copy that came back from the GPU.

from sample_images import show_side_by_side

show_side_by_side(host_image, host_result, titles=("Input", "cvcuda.flip, copied home"))

# %%
# Who frees what
# --------------
# ``tensor`` views ``buffer``'s memory and holds a reference to it, so drop the
# tensor before closing the buffer. ``result`` keeps ``flipped`` alive; CV-CUDA
# takes that memory back when both are gone.

# docs_tag: begin_clean_up
del tensor, result, flipped
buffer.close()  # cudaFree now; the garbage collector would do it otherwise
# docs_tag: end_clean_up
