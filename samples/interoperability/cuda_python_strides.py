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
Padded rows: copying tensors whose rows do not touch
====================================================

CV-CUDA often lays an image out with each row starting at an aligned address:
a 75-pixel RGB row holds 225 bytes of pixels but the next row starts 256 bytes
later. A flat ``cudaMemcpy`` of ``height * width * channels`` bytes then copies
the padding as if it were pixels and returns a garbled image. The row pitch is
in the tensor's ``__cuda_array_interface__`` ``strides``; a pitched copy,
``cudaMemcpy2D``, uses it.

What to look at:

* The interface of a tensor allocated with ``rowalign=256``: strides
  ``(256, 3, 1)``, not the packed ``(225, 3, 1)``.
* The flat copy's garbled result next to the pitched copy's exact one.
* A crop is just another pitch: :meth:`~cuda_python_common.CudaBuffer.crop`
  makes a zero-copy window that CV-CUDA and the helpers read correctly.
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
        "cuda_python_strides.py: cannot run: download preflight.py, "
        "cuda_python_common.py and sample_images.py with it, into the same folder (its "
        "zip download on the site holds them all)\n"
    )
    raise SystemExit(3) from None

require_gpu("cvcuda", "matplotlib")  # one line and exit 3 when something is missing
# sphinx_gallery_end_ignore

# docs_tag: begin_imports
import cvcuda
import numpy as np
from cuda.bindings import runtime as cudart
from cuda_python_common import (
    CudaBuffer,
    check_cuda,
    cuda_memcpy_d2h,
    cuda_memcpy_h2d,
)
from sample_images import photo

# docs_tag: end_imports

# %%
# A tensor with padded rows
# -------------------------

# docs_tag: begin_padded_tensor
host_image = np.ascontiguousarray(photo()[::6, 31:481:6])  # a (100, 75, 3) thumbnail

tensor = cvcuda.Tensor(host_image.shape, cvcuda.Type.U8, "HWC", rowalign=256)
cai = tensor.cuda().__cuda_array_interface__
row_pitch = cai["strides"][0]  # bytes from one row to the next
# CV-CUDA's kernels read some padding bytes too (compute-sanitizer's initcheck
# sees it): give the padding defined contents.
padding = cudart.cudaMemset2D(cai["data"][0], row_pitch, 0, row_pitch, 100)
check_cuda(padding, "cudaMemset2D")
pixels = host_image.shape[1] * 3
print(f"strides {cai['strides']}: {pixels} bytes of pixels per {row_pitch}-byte row")
# docs_tag: end_padded_tensor

# %%
# Copy in with the pitch
# ----------------------
# The helpers see the strides and switch to ``cudaMemcpy2D``: 100 rows of 225
# bytes each, written 256 bytes apart.

# docs_tag: begin_pitched_copy
cuda_memcpy_h2d(host_image, tensor.cuda())  # cudaMemcpy2D under the hood

flipped = cvcuda.flip(tensor, flipCode=1)  # the output is padded the same way
host_flipped = np.empty_like(host_image)
cuda_memcpy_d2h(flipped.cuda(), host_flipped)
np.testing.assert_array_equal(host_flipped, host_image[:, ::-1])
# docs_tag: end_pitched_copy
print("pitched copies in and out: the flipped image equals numpy's flip")

# %%
# What a flat copy does
# ---------------------
# The same bytes read back with one ``cudaMemcpy`` of ``host_image.nbytes``:
# from the second row on, every row is shifted by the padding before it.

# docs_tag: begin_flat_copy_is_wrong
garbled = np.empty_like(host_image)
kind = cudart.cudaMemcpyKind.cudaMemcpyDefault
flat = cudart.cudaMemcpy(garbled.ctypes.data, cai["data"][0], garbled.nbytes, kind)
check_cuda(flat, "cudaMemcpy")
rows_right = int(np.all(garbled == host_image, axis=(1, 2)).sum())
print(
    f"flat cudaMemcpy: {rows_right} of {host_image.shape[0]} rows right"
)  # only row 0
# docs_tag: end_flat_copy_is_wrong
assert rows_right < host_image.shape[0]

# %%
# A crop is a pitch too
# ---------------------
# A window into the image shares its memory: the data pointer moves to the
# window's first pixel and the row pitch stays the parent's.

# docs_tag: begin_crop
image = CudaBuffer.from_cuda(tensor.cuda())  # keeps `tensor` alive
window = image.crop(top=10, left=20, height=50, width=40)
print(f"crop: shape {window.shape}, strides {window.strides}")

window_tensor = cvcuda.as_tensor(window, "HWC")  # zero-copy
window_flipped = cvcuda.flip(window_tensor, flipCode=0)
host_window = np.empty((50, 40, 3), np.uint8)
cuda_memcpy_d2h(window_flipped.cuda(), host_window)
np.testing.assert_array_equal(host_window, host_image[10:60, 20:60][::-1])
# docs_tag: end_crop
print("a crop flipped by CV-CUDA without a copy: equals numpy's result")

# %%
# The pictures
# ------------
# The thumbnail that went in, the flat copy that ignored the pitch (each row
# slides by the padding of the rows before it), and the pitched copy of the
# flip.

from sample_images import show_side_by_side

show_side_by_side(
    host_image,
    garbled,
    host_flipped,
    titles=("Input, 100x75", "Flat cudaMemcpy", "Pitched copy of the flip"),
)
