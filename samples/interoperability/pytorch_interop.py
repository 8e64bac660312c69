# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "numpy>=1.24", "cuda-python>=13,<14", "cvcuda-cu13>=0.19", "matplotlib>=3.7",
#     # and PyTorch with CUDA: pick the wheel for your driver on pytorch.org
# ]
# ///
# SPDX-License-Identifier: Apache-2.0
"""
PyTorch and CV-CUDA: zero-copy, on torch's stream
=================================================

A batch of images in a PyTorch tensor goes into CV-CUDA and comes back without
a copy, and the CV-CUDA operator runs on torch's current stream, so nothing
waits for work it does not depend on. Then the two pitfalls people meet most:
an NCHW tensor permuted to NHWC, and CV-CUDA's padded rows coming back.

What to look at:

* torch exports the CUDA Array Interface as version 2, without a stream, which
  makes CV-CUDA order its work after the legacy default stream. A small
  wrapper exports version 3 and names torch's current stream instead.
* ``cvcuda.as_stream(torch.cuda.current_stream())``: CV-CUDA on torch's
  stream, here a non-default one; ``torch.from_dlpack(out.cuda())`` going back.
* ``nchw.permute(0, 2, 3, 1)`` is refused (its channels are not packed): one
  ``.contiguous()`` copy fixes it, and ``channels_last`` memory needs none.
* A padded CV-CUDA output keeps its row pitch in torch: no silent repack.
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
        "pytorch_interop.py: cannot run: download preflight.py and sample_images.py "
        "with it, into the same folder (its zip download on the site holds them all)\n"
    )
    raise SystemExit(3) from None

# one line and exit status 3 when something is missing
require_gpu("cvcuda", "torch", "matplotlib")
# sphinx_gallery_end_ignore

# docs_tag: begin_imports
import cvcuda
import numpy as np
import torch
from sample_images import photo

# docs_tag: end_imports

# %%
# A non-default torch stream, shared with CV-CUDA
# -----------------------------------------------
# torch owns the stream; ``cvcuda.as_stream`` takes a ``torch.cuda.Stream`` and
# borrows it. Four copies of the photo make an NHWC batch.

# docs_tag: begin_torch_stream
stream = torch.cuda.Stream()  # torch owns it; not the default stream
torch.cuda.set_stream(stream)  # torch's current stream from here on
cv_stream = cvcuda.as_stream(torch.cuda.current_stream())  # borrowed by CV-CUDA
assert cv_stream.handle == stream.cuda_stream

host = np.stack([photo()] * 4)  # 4 x 600 x 512 x 3 uint8: NHWC
frames = torch.from_numpy(host).to("cuda")  # uploaded on torch's current stream
# docs_tag: end_torch_stream
iface = frames.__cuda_array_interface__
print(
    f"torch {torch.__version__}: CUDA Array Interface version {iface['version']}, "
    f"stream {iface.get('stream', 'not given')}"
)

# %%
# PyTorch to CV-CUDA, without a copy
# ----------------------------------
# torch's interface names no stream, so CV-CUDA would wait for the legacy
# default stream (and whatever else is queued there). The wrapper names the
# stream that wrote the tensor: torch's current stream.


# docs_tag: begin_torch_to_cvcuda
class OnTorchStream:
    """A torch tensor's CUDA Array Interface as version 3, naming torch's
    current stream: CV-CUDA then orders its work after that stream only."""

    def __init__(self, tensor: torch.Tensor) -> None:
        self.tensor = tensor  # CV-CUDA keeps this wrapper, so the tensor, alive
        handle = torch.cuda.current_stream(tensor.device).cuda_stream
        self.__cuda_array_interface__ = {
            **tensor.__cuda_array_interface__,  # torch's: version 2, no stream
            "version": 3,
            "stream": handle or 1,  # CAI v3 forbids 0: 1 is the legacy stream
        }


tensor = cvcuda.as_tensor(OnTorchStream(frames), "NHWC")  # zero-copy
assert tensor.cuda().__cuda_array_interface__["data"][0] == frames.data_ptr()
# docs_tag: end_torch_to_cvcuda
print(f"torch tensor {tuple(frames.shape)} at {frames.data_ptr():#x}: wrapped, no copy")

# %%
# A CV-CUDA operator on torch's current stream
# --------------------------------------------
# The flip is queued behind the upload on the same stream: no wait is needed
# and none is inserted.

# docs_tag: begin_run_on_torch_stream
cv_current = cvcuda.as_stream(torch.cuda.current_stream())  # `stream`, set above
flipped = cvcuda.flip(tensor, flipCode=1, stream=cv_current)  # mirror each row
# docs_tag: end_run_on_torch_stream

# %%
# CV-CUDA to PyTorch, without a copy
# ----------------------------------
# ``torch.from_dlpack`` passes torch's current stream to CV-CUDA, which orders
# its own writes before it; torch keeps the output alive.

# docs_tag: begin_cvcuda_to_torch
result = torch.from_dlpack(flipped.cuda())  # zero-copy, ordered on torch's stream
assert result.data_ptr() == flipped.cuda().__cuda_array_interface__["data"][0]

negative = 255 - result  # more torch work, same stream: nothing to wait for
host_result = negative.cpu().numpy()  # the one host wait: .cpu() syncs the stream
# docs_tag: end_cvcuda_to_torch

# docs_tag: begin_ensure_results_equal
np.testing.assert_array_equal(host_result, 255 - host[:, :, ::-1])
# docs_tag: end_ensure_results_equal
print(
    f"flip on torch's stream, then 255 - x in torch: equals numpy {tuple(host.shape)}"
)

# %%
# Pitfall: an NCHW tensor permuted to NHWC
# ----------------------------------------
# Models hold NCHW tensors; ``permute`` gives an NHWC *shape* whose channels
# are a whole plane apart. CV-CUDA needs each pixel's channels side by side.

# docs_tag: begin_permute_pitfall
nchw = frames.permute(0, 3, 1, 2).contiguous()  # how a model holds it: N, C, H, W
nhwc_view = nchw.permute(0, 2, 3, 1)  # NHWC shape, channels H * W bytes apart
try:
    cvcuda.flip(cvcuda.as_tensor(nhwc_view, "NHWC"), flipCode=1, stream=cv_current)
except Exception as exc:  # CV-CUDA refuses strides it cannot read as NHWC
    refusal = str(exc)
else:
    raise AssertionError("CV-CUDA accepted an NHWC view whose channels are apart")
# docs_tag: end_permute_pitfall
import textwrap

print(f"permuted NCHW, strides {nhwc_view.stride()}: refused")
first_line = refusal.splitlines()[0]
print(textwrap.fill(first_line, 84, initial_indent="  ", subsequent_indent="  "))

# %%
# The fixes, measured
# -------------------
# One ``.contiguous()`` copy on torch's stream makes the view packed. Cheaper
# still: NCHW tensors in ``channels_last`` memory, allocated where they are
# made. Their NHWC view is packed, so CV-CUDA wraps them without a copy.


# docs_tag: begin_permute_fixes
def per_call_us(step, calls: int = 20) -> float:
    """Time per call of ``step`` on torch's current stream (CUDA events)."""
    step()  # warm-up: allocations and CV-CUDA's caches
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(calls):
        step()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) * 1000 / calls  # ms -> us


out = cvcuda.Tensor(tuple(frames.shape), cvcuda.Type.U8, "NHWC")


def copy_then_flip() -> None:  # fix 1: one copy into packed NHWC
    packed = nchw.permute(0, 2, 3, 1).contiguous()
    packed_in = cvcuda.as_tensor(OnTorchStream(packed), "NHWC")
    cvcuda.flip_into(out, packed_in, flipCode=1, stream=cv_current)


# fix 2: allocate NCHW tensors in channels_last memory (NHWC order in memory)
nchw_cl = torch.empty_like(nchw, memory_format=torch.channels_last)
nchw_cl.copy_(nchw)  # where a model writes its output; here once, from nchw
assert nchw_cl.permute(0, 2, 3, 1).is_contiguous()  # the NHWC view is packed


def flip_channels_last() -> None:  # no copy at all
    view_in = cvcuda.as_tensor(OnTorchStream(nchw_cl.permute(0, 2, 3, 1)), "NHWC")
    cvcuda.flip_into(out, view_in, flipCode=1, stream=cv_current)


copy_us, channels_last_us = per_call_us(copy_then_flip), per_call_us(flip_channels_last)
# docs_tag: end_permute_fixes


def read(cv_tensor: cvcuda.Tensor) -> np.ndarray:
    return torch.from_dlpack(cv_tensor.cuda()).cpu().numpy()


for fix in (copy_then_flip, flip_channels_last):
    fix()
    np.testing.assert_array_equal(read(out), host[:, :, ::-1])
cl_ptr = cvcuda.as_tensor(OnTorchStream(nchw_cl.permute(0, 2, 3, 1)), "NHWC")
assert cl_ptr.cuda().__cuda_array_interface__["data"][0] == nchw_cl.data_ptr()
del cl_ptr
print(f"fix 1, .contiguous() copy + flip: {copy_us:8.1f} us per call, verified")
print(
    f"fix 2, channels_last view + flip: {channels_last_us:8.1f} us per call, verified"
)

# %%
# Pitfall: padded rows coming back
# --------------------------------
# CV-CUDA may pad each row of a tensor it allocates (``rowalign``). torch
# takes the strides as they are: the view is not contiguous, and nothing is
# repacked behind your back. A crop goes in the same way, without a copy.

# docs_tag: begin_padded_output
crop = frames[:, :, :500]  # 500 pixels wide; rows keep the frame's 1536-byte pitch
padded = cvcuda.Tensor((4, 600, 500, 3), cvcuda.Type.U8, "NHWC", rowalign=256)
crop_in = cvcuda.as_tensor(OnTorchStream(crop), "NHWC")  # zero-copy, strided
cvcuda.flip_into(padded, crop_in, flipCode=1, stream=cv_current)

padded_view = torch.from_dlpack(padded.cuda())  # zero-copy: CV-CUDA's strides
cai = padded.cuda().__cuda_array_interface__
assert padded_view.data_ptr() == cai["data"][0]
assert padded_view.stride() == cai["strides"]  # uint8: elements == bytes
assert not padded_view.is_contiguous()  # rows of 1500 bytes, 1536 apart
# docs_tag: end_padded_output
np.testing.assert_array_equal(padded_view.cpu().numpy(), host[:, :, :500][:, :, ::-1])
print(f"padded output strides {padded_view.stride()} kept in torch: verified")

# %%
# The pictures
# ------------
# The first photo of the batch, and what came back: flipped by CV-CUDA and
# inverted by torch, on one stream.

from sample_images import show_side_by_side

show_side_by_side(
    host[0], host_result[0], titles=("Input", "cvcuda.flip, then 255 - x in torch")
)

# %%
# Clean up
# --------
# torch owns the stream and the tensors' memory; CV-CUDA owns its outputs.
# CV-CUDA's cache remembers each tensor's last stream, so it forgets before
# torch's current stream goes back to the default.

# docs_tag: begin_clean_up
del tensor, flipped, result, negative, crop_in, padded, padded_view, cv_stream
torch.cuda.current_stream().synchronize()  # the work on `stream` is done
cvcuda.clear_cache()
torch.cuda.set_stream(torch.cuda.default_stream())  # as it was before
# docs_tag: end_clean_up
