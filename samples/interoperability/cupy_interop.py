# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "numpy>=1.24", "cuda-python>=13,<14", "cvcuda-cu13>=0.19", "matplotlib>=3.7",
#     # and CuPy: cupy-cuda13x (CUDA 13 driver) or cupy-cuda12x (CUDA 12 driver)
# ]
# ///
# SPDX-License-Identifier: Apache-2.0
"""
CuPy and CV-CUDA: zero-copy, on CuPy's stream
=============================================

A batch of images in a CuPy array goes into CV-CUDA and comes back without a
copy, and the CV-CUDA operator runs on CuPy's current stream. CuPy already
exports the CUDA Array Interface version 3 with its current stream, so CV-CUDA
orders its work after exactly that stream: nothing to wrap.

What to look at:

* ``cvcuda.as_tensor(cupy_array, "NHWC")``: same pointer, and the interface
  names CuPy's stream.
* ``cvcuda.as_stream(cupy.cuda.get_current_stream())``: CV-CUDA on CuPy's
  stream, here a non-default one.
* ``cupy.from_dlpack(out.cuda())`` going back: the order is kept on the GPU,
  where ``cupy.asarray`` may wait on the host.
* A transposed NCHW array is refused; a padded CV-CUDA output keeps its
  strides in CuPy.

Use it when your images are CuPy arrays, or your own kernels are written with
CuPy, and you want the interface to do the stream ordering for you.
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
        "cupy_interop.py: cannot run: download preflight.py and sample_images.py with "
        "it, into the same folder (its zip download on the site holds them all)\n"
    )
    raise SystemExit(3) from None

# one line and exit status 3 when something is missing
require_gpu("cvcuda", "cupy", "matplotlib")
# sphinx_gallery_end_ignore

# docs_tag: begin_imports
import cupy
import cvcuda
import numpy as np
from sample_images import photo

# docs_tag: end_imports

# %%
# A non-default CuPy stream, shared with CV-CUDA
# ----------------------------------------------
# CuPy owns the stream; ``cvcuda.as_stream`` takes a ``cupy.cuda.Stream`` and
# borrows it. Four copies of the photo make an NHWC batch.

# docs_tag: begin_cupy_stream
stream = cupy.cuda.Stream(non_blocking=True)  # CuPy owns it
stream.use()  # CuPy's current stream from here on
cv_stream = cvcuda.as_stream(cupy.cuda.get_current_stream())  # borrowed by CV-CUDA
assert cv_stream.handle == stream.ptr

host = np.stack([photo()] * 4)  # 4 x 600 x 512 x 3 uint8: NHWC
frames = cupy.asarray(host)  # uploaded on CuPy's current stream
# docs_tag: end_cupy_stream
iface = frames.__cuda_array_interface__
print(
    f"CuPy {cupy.__version__}: CUDA Array Interface version {iface['version']}, "
    f"stream {iface.get('stream')} (ours: {stream.ptr})"
)

# %%
# CuPy to CV-CUDA, and an operator on CuPy's stream
# -------------------------------------------------
# The interface names the stream that wrote the array, and the flip runs on
# that same stream: queued behind the upload, with no wait inserted.

# docs_tag: begin_cupy_to_cvcuda
tensor = cvcuda.as_tensor(frames, "NHWC")  # zero-copy; CuPy's interface is v3
assert tensor.cuda().__cuda_array_interface__["data"][0] == frames.data.ptr

flipped = cvcuda.flip(tensor, flipCode=1, stream=cv_stream)  # on CuPy's stream
# docs_tag: end_cupy_to_cvcuda
print(f"CuPy array {frames.shape} at {frames.data.ptr:#x}: wrapped, no copy")

# %%
# CV-CUDA to CuPy, without a copy
# -------------------------------
# ``cupy.from_dlpack`` passes CuPy's current stream to CV-CUDA, which orders
# its writes before it on the GPU. (``cupy.asarray(flipped.cuda())`` is
# zero-copy too, but honours the interface's stream by a host synchronise:
# CuPy's ``CUPY_CUDA_ARRAY_INTERFACE_SYNC``, on by default.)

# docs_tag: begin_cvcuda_to_cupy
result = cupy.from_dlpack(flipped.cuda())  # zero-copy, ordered on CuPy's stream
assert result.data.ptr == flipped.cuda().__cuda_array_interface__["data"][0]

negative = 255 - result  # more CuPy work, same stream: nothing to wait for
host_result = cupy.asnumpy(negative)  # the one host wait: the copy home
# docs_tag: end_cvcuda_to_cupy

# docs_tag: begin_ensure_results_equal
np.testing.assert_array_equal(host_result, 255 - host[:, :, ::-1])
# docs_tag: end_ensure_results_equal
print(f"flip on CuPy's stream, then 255 - x in CuPy: equals numpy {host.shape}")

# %%
# Pitfall: a transposed NCHW array
# --------------------------------
# ``transpose`` gives an NHWC *shape* whose channels are a whole plane apart;
# CV-CUDA needs each pixel's channels side by side. One copy fixes it.

# docs_tag: begin_transpose_pitfall
nchw = cupy.ascontiguousarray(frames.transpose(0, 3, 1, 2))  # N, C, H, W
nhwc_view = nchw.transpose(0, 2, 3, 1)  # NHWC shape, channels H * W bytes apart
try:
    cvcuda.flip(cvcuda.as_tensor(nhwc_view, "NHWC"), flipCode=1, stream=cv_stream)
except Exception as exc:  # CV-CUDA refuses strides it cannot read as NHWC
    refusal = str(exc)
else:
    raise AssertionError("CV-CUDA accepted an NHWC view whose channels are apart")

packed = cupy.ascontiguousarray(nhwc_view)  # the fix: one copy, on CuPy's stream
fixed = cvcuda.flip(cvcuda.as_tensor(packed, "NHWC"), flipCode=1, stream=cv_stream)
# docs_tag: end_transpose_pitfall
import textwrap

np.testing.assert_array_equal(
    cupy.asnumpy(cupy.from_dlpack(fixed.cuda())), host[:, :, ::-1]
)
print(f"transposed NCHW, strides {nhwc_view.strides}: refused")
first_line = refusal.splitlines()[0]
print(textwrap.fill(first_line, 84, initial_indent="  ", subsequent_indent="  "))
print("after cupy.ascontiguousarray: flipped, verified")

# %%
# Pitfall: padded rows coming back
# --------------------------------
# CV-CUDA may pad each row of a tensor it allocates (``rowalign``). CuPy takes
# the strides as they are: the array is not C-contiguous, and nothing is
# repacked behind your back. A crop goes in the same way, without a copy.

# docs_tag: begin_padded_output
crop = frames[:, :, :500]  # 500 pixels wide; rows keep the frame's 1536-byte pitch
padded = cvcuda.Tensor((4, 600, 500, 3), cvcuda.Type.U8, "NHWC", rowalign=256)
crop_in = cvcuda.as_tensor(crop, "NHWC")  # zero-copy, strided
cvcuda.flip_into(padded, crop_in, flipCode=1, stream=cv_stream)

padded_view = cupy.from_dlpack(padded.cuda())  # zero-copy: CV-CUDA's strides
cai = padded.cuda().__cuda_array_interface__
assert padded_view.data.ptr == cai["data"][0]
assert padded_view.strides == cai["strides"]  # both in bytes
assert not padded_view.flags.c_contiguous  # rows of 1500 bytes, 1536 apart
# docs_tag: end_padded_output
np.testing.assert_array_equal(cupy.asnumpy(padded_view), host[:, :, :500][:, :, ::-1])
print(f"padded output strides {padded_view.strides} kept in CuPy: verified")

# %%
# The pictures
# ------------
# The first photo of the batch, and what came back: flipped by CV-CUDA and
# inverted by CuPy, on one stream.

from sample_images import show_side_by_side

show_side_by_side(
    host[0], host_result[0], titles=("Input", "cvcuda.flip, then 255 - x in CuPy")
)

# %%
# Clean up
# --------
# CuPy owns the stream and the arrays' memory (its pool frees an array when the
# last reference goes, and a CV-CUDA tensor that wraps it holds one); CV-CUDA
# owns its outputs, and an array made with ``from_dlpack`` keeps one alive.
# CV-CUDA's cache remembers each tensor's last stream, so it forgets first;
# CuPy destroys the stream when ``stream`` is collected.

# docs_tag: begin_clean_up
del tensor, flipped, result, fixed, crop_in, padded, padded_view, cv_stream
stream.synchronize()  # the work on `stream` is done
cvcuda.clear_cache()
cupy.cuda.Stream.null.use()  # CuPy's default stream is current again
# docs_tag: end_clean_up
