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
Approach 2: CV-CUDA owns the memory
===================================

Here CV-CUDA allocates: a :class:`cvcuda.Tensor` is the buffer, and CUDA Python
only copies bytes in and out through the tensor's ``.cuda()`` view, which
exposes ``__cuda_array_interface__``.

What to look at:

* ``cuda_memcpy_h2d(host, tensor.cuda())`` writes straight into the tensor's
  memory; there is no ``CudaBuffer`` to manage.
* The copy helpers check sizes and dtypes against the tensor's interface first:
  an image of the wrong shape or type is refused, not written past the end.
* CV-CUDA takes the memory back into its cache when the last tensor referring
  to it is collected, and hands it to the next tensor at once: never keep a raw
  pointer to it past that.
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
        "cuda_python_interop_2.py: cannot run: download preflight.py, "
        "cuda_python_common.py and sample_images.py with it, into the same folder (its "
        "zip download on the site holds them all)\n"
    )
    raise SystemExit(3) from None

require_gpu("cvcuda", "matplotlib")  # one line and exit 3 when something is missing
# sphinx_gallery_end_ignore

# docs_tag: begin_imports
import cvcuda
import numpy as np
from cuda_python_common import cuda_memcpy_d2h, cuda_memcpy_h2d
from sample_images import photo

# docs_tag: end_imports

# %%
# CUDA Python to CV-CUDA
# ----------------------
# Read an 8-bit RGB photo (the one that ships with matplotlib), let CV-CUDA
# allocate a tensor of the same shape and copy into it.

# docs_tag: begin_cuda_python_to_cvcuda
host_image = photo()  # (600, 512, 3) uint8 RGB, read from disk: no network

tensor = cvcuda.Tensor(host_image.shape, cvcuda.Type.U8, "HWC")  # CV-CUDA allocates
cuda_memcpy_h2d(host_image, tensor.cuda())  # into the tensor's own memory
# docs_tag: end_cuda_python_to_cvcuda
print(f"copied a {host_image.shape} uint8 image into a CV-CUDA-allocated tensor")

# %%
# CV-CUDA to CUDA Python
# ----------------------
# Swap the channel order, RGB to BGR (exact, so numpy can check it), and copy
# the operator's output home. The helper reads the tensor's interface, waits
# for the stream CV-CUDA wrote on, then copies.

# docs_tag: begin_cvcuda_to_cuda_python
bgr = cvcuda.cvtcolor(tensor, cvcuda.ColorConversion.RGB2BGR)
host_bgr = np.empty_like(host_image)
cuda_memcpy_d2h(bgr.cuda(), host_bgr)
# docs_tag: end_cvcuda_to_cuda_python
print(f"copied the {bgr.shape} BGR result back to numpy")

# %%
# Check the round trip
# --------------------

# docs_tag: begin_ensure_tensors_unchanged
np.testing.assert_array_equal(host_bgr, host_image[..., ::-1])

host_input = np.empty_like(host_image)
cuda_memcpy_d2h(tensor.cuda(), host_input)
np.testing.assert_array_equal(host_input, host_image)
# docs_tag: end_ensure_tensors_unchanged
print(f"verified: {host_bgr.size} values equal numpy's channel swap; input unchanged")

# %%
# The pictures
# ------------
# The photo that went in, and the BGR result drawn as if it were RGB: red and
# blue trade places, so skin turns blue.

from sample_images import show_side_by_side

show_side_by_side(
    host_image, host_bgr, titles=("Input (RGB)", "RGB2BGR result, drawn as RGB")
)
