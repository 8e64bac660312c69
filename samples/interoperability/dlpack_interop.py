# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "numpy>=1.24", "cuda-python>=13,<14", "cuda-core>=1.2", "cvcuda-cu13>=0.19",
#     "matplotlib>=3.7",
# ]
# ///
# SPDX-License-Identifier: Apache-2.0
"""
DLPack: CV-CUDA, CudaBuffer, cuda.core, PyTorch and CuPy
========================================================

The CUDA Array Interface (CAI) is a dict; DLPack is a capsule that the
consumer asks the producer for, naming the stream it will read on. PyTorch,
CuPy and ``cuda.core`` speak DLPack, and JAX speaks nothing else. This sample
passes one photo between them without a copy, and measures, at run time, what
each library exports and which stream each consumer asks for.

What to look at:

* ``cvcuda.Tensor`` has no ``__dlpack__``; its ``.cuda()`` has. Going the other
  way, ``cvcuda.as_tensor`` takes an object that speaks only DLPack.
* ``CudaBuffer`` speaks both: ``__dlpack__`` orders its pending work before the
  consumer's stream, and ``CudaBuffer.from_dlpack(obj, stream=...)`` wraps any
  producer, which orders its work before ``stream``.
* The two tables: the sample measures them; the docs page is written from them.
* PyTorch and CuPy are optional: without them their steps print a line and
  are skipped.
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
        "dlpack_interop.py: cannot run: download preflight.py, cuda_python_common.py "
        "and sample_images.py with it, into the same folder (its zip download on the "
        "site holds them all)\n"
    )
    raise SystemExit(3) from None

require_gpu("cvcuda", "cuda.core", "matplotlib")  # one line and exit 3 when missing
# sphinx_gallery_end_ignore

# docs_tag: begin_imports
import cvcuda
import numpy as np
from cuda.core import Device
from cuda.core.utils import StridedMemoryView
from cuda_python_common import (
    CudaBuffer,
    cuda_memcpy_d2h,
    cuda_memcpy_h2d,
    pinned_empty,
)
from sample_images import photo

try:  # optional: without them, their steps are skipped
    import torch
except ImportError:
    torch = None
try:
    import cupy
except ImportError:
    cupy = None
# docs_tag: end_imports

# %%
# A stream, and a photo on the GPU
# --------------------------------
# The photo goes into a ``CudaBuffer`` on a ``cuda.core`` stream, and CV-CUDA
# mirrors it on the same stream. Nothing waits yet.

# docs_tag: begin_device_and_stream
device = Device(0)
device.set_current()
stream = device.create_stream()  # owned by cuda.core
handle = stream.__cuda_stream__()[1]  # the int that DLPack and CV-CUDA take
cv_stream = cvcuda.as_stream(handle)

picture = photo()  # (600, 512, 3) uint8 RGB
host = pinned_empty(picture.shape, np.uint8)
host[...] = picture
buffer = CudaBuffer(picture.shape, np.uint8)
cuda_memcpy_h2d(host, buffer, stream=stream)  # enqueued
flipped = cvcuda.flip(cvcuda.as_tensor(buffer, "HWC"), flipCode=1, stream=cv_stream)
# docs_tag: end_device_and_stream

# %%
# What each library exports
# -------------------------
# Asked of live objects, not read from documentation: the CAI version and
# whether the dict names a stream, and whether there is DLPack.

# docs_tag: begin_what_each_exports
STREAMS = {None: "None", 1: "1 (legacy)", 2: "2 (per-thread)", handle: "ours"}


def exports(obj: object) -> tuple[str, str, str, str]:
    """CAI version, the CAI stream, ``__dlpack__``?, ``__dlpack_device__()``."""
    cai = getattr(obj, "__cuda_array_interface__", None)
    version = "-" if cai is None else f"v{cai['version']}"
    if cai is None:
        cai_stream = "-"
    elif "stream" not in cai:
        cai_stream = "no key"
    else:
        cai_stream = STREAMS.get(cai["stream"], "another")
    dlpack = "yes" if hasattr(obj, "__dlpack__") else "no"
    where = "-"
    if hasattr(obj, "__dlpack_device__"):  # torch returns an enum: print the number
        where = tuple(int(x) for x in obj.__dlpack_device__())
    return version, cai_stream, dlpack, str(where)


# docs_tag: end_what_each_exports

fresh_tensor = cvcuda.Tensor((4, 6, 3), np.uint8, "HWC")  # never written
fresh_buffer = CudaBuffer((4, 6, 3), np.uint8)
exporters = {
    "cvcuda.Tensor": flipped,
    "cvcuda Tensor.cuda(), fresh": fresh_tensor.cuda(),
    "cvcuda Tensor.cuda(), after flip": flipped.cuda(),
    "CudaBuffer, fresh": fresh_buffer,
    "CudaBuffer, after an async copy": buffer,
    "cuda.core StridedMemoryView": StridedMemoryView.from_dlpack(
        flipped.cuda(), stream_ptr=handle
    ),
}
if torch is not None:
    exporters["torch.Tensor"] = torch.zeros((4, 6, 3), dtype=torch.uint8, device="cuda")
if cupy is not None:
    exporters["cupy.ndarray"] = cupy.zeros((4, 6, 3), dtype=cupy.uint8)
print("Exports (measured here):")
print(f"{'exporter':<34}{'CAI':<5}{'CAI stream':<16}{'__dlpack__':<12}device")
for name, obj in exporters.items():
    version, cai_stream, dlpack, where = exports(obj)
    print(f"{name:<34}{version:<5}{cai_stream:<16}{dlpack:<12}{where}")
for name, module in (("torch.Tensor", torch), ("cupy.ndarray", cupy)):
    if module is None:
        print(f"{name:<34}(not installed: skipped)")
fresh_buffer.close()
del exporters, fresh_tensor

# %%
# Which stream each consumer asks for
# -----------------------------------
# ``DLPackOnly`` speaks DLPack and nothing else, like a JAX array, and notes
# what each consumer passes to ``__dlpack__``: ``stream`` is the consumer's
# stream, and the producer must order its pending work before it.


# docs_tag: begin_dlpack_only
class DLPackOnly:
    """A producer with DLPack only, like a JAX array; notes what it was asked."""

    def __init__(self, producer: object) -> None:
        self.producer = producer
        self.asked: dict = {}  # the keyword arguments of the last __dlpack__ call

    def __dlpack_device__(self) -> tuple[int, int]:
        return self.producer.__dlpack_device__()

    def __dlpack__(self, *args: object, **kwargs: object) -> object:
        self.asked = {"stream": args[0], **kwargs} if args else dict(kwargs)
        return self.producer.__dlpack__(*args, **kwargs)


# docs_tag: end_dlpack_only

consumers = {
    "cvcuda.as_tensor(obj, 'HWC')": lambda obj: cvcuda.as_tensor(obj, "HWC"),
    "StridedMemoryView.from_dlpack": lambda obj: StridedMemoryView.from_dlpack(
        obj, stream_ptr=handle
    ),
    "CudaBuffer.from_dlpack": lambda obj: CudaBuffer.from_dlpack(obj, stream=stream),
}
if torch is not None:
    consumers["torch.from_dlpack"] = torch.from_dlpack
if cupy is not None:
    consumers["cupy.from_dlpack"] = cupy.from_dlpack
print("DLPack consumers (measured here):")
print(f"{'consumer':<34}{'passes stream':<16}max_version")
for name, consume in consumers.items():
    spy = DLPackOnly(buffer)
    consume(spy)  # zero-copy views of `buffer`, dropped at once
    asked = spy.asked.get("stream", "not passed")
    print(
        f"{name:<34}{STREAMS.get(asked, str(asked)):<16}{spy.asked.get('max_version')}"
    )
del consumers, spy

# %%
# CV-CUDA to DLPack consumers
# ---------------------------
# ``flipped.cuda()`` is a producer: it orders CV-CUDA's flip before the stream
# each consumer names. No copy: every view has the tensor's pointer.

# docs_tag: begin_cvcuda_to_dlpack
exported = flipped.cuda()  # cvcuda.Tensor has no __dlpack__; its .cuda() has
ptr = exported.__cuda_array_interface__["data"][0]
view = StridedMemoryView.from_dlpack(exported, stream_ptr=handle)  # before ours
wrapped = CudaBuffer.from_dlpack(exported, stream=stream)  # keeps it alive
assert view.ptr == wrapped.ptr == ptr  # no copy
# docs_tag: end_cvcuda_to_dlpack
print(f"cuda.core view {view.shape}, strides {view.strides} (elements): no copy")

# %%
# A DLPack-only producer to CV-CUDA
# ---------------------------------
# With no CAI to read, ``cvcuda.as_tensor`` asks for a capsule. It passes the
# legacy default stream (measured above); ``CudaBuffer.__dlpack__`` orders its
# pending copy before it.

# docs_tag: begin_dlpack_to_cvcuda
tensor = cvcuda.as_tensor(DLPackOnly(buffer), "HWC")  # as CV-CUDA takes JAX's
assert tensor.cuda().__cuda_array_interface__["data"][0] == buffer.ptr  # no copy
# docs_tag: end_dlpack_to_cvcuda

# docs_tag: begin_check_both_ways
host_mirrored = pinned_empty(picture.shape, np.uint8)
host_same = pinned_empty(picture.shape, np.uint8)
cuda_memcpy_d2h(wrapped, host_mirrored, stream=stream)
cuda_memcpy_d2h(tensor.cuda(), host_same, stream=stream)
stream.sync()
np.testing.assert_array_equal(host_mirrored, picture[:, ::-1])
np.testing.assert_array_equal(host_same, picture)
# docs_tag: end_check_both_ways
print("CV-CUDA -> DLPack -> CudaBuffer and DLPack -> CV-CUDA: equals numpy's")

# %%
# PyTorch, both ways
# ------------------
# ``torch.from_dlpack`` passes PyTorch's current stream, so CV-CUDA's flip is
# ordered before PyTorch's step; handing the result back through DLPack orders
# PyTorch's step before CV-CUDA's next operator. No host wait in between.

images, titles = [picture, host_mirrored], ["Input", "cvcuda.flip, via DLPack"]
if torch is None:
    print("PyTorch is not installed: its DLPack steps are skipped")
else:
    # docs_tag: begin_torch_round_trip
    as_torch = torch.from_dlpack(flipped.cuda())  # zero-copy
    assert as_torch.data_ptr() == ptr
    negative = 255 - as_torch  # a PyTorch step, on PyTorch's stream
    back = cvcuda.as_tensor(DLPackOnly(negative), "HWC")  # DLPack only, like JAX
    restored = cvcuda.flip(back, flipCode=1, stream=cv_stream)  # mirror undone
    host_negative = pinned_empty(picture.shape, np.uint8)
    cuda_memcpy_d2h(restored.cuda(), host_negative, stream=stream)
    stream.sync()  # the only host wait
    np.testing.assert_array_equal(host_negative, 255 - picture)
    # docs_tag: end_torch_round_trip
    print("CV-CUDA -> PyTorch -> CV-CUDA through DLPack, no copy: equals numpy's")
    images.append(host_negative)
    titles.append("255 - x in PyTorch")
    del as_torch, negative, back, restored  # before the stream goes (Clean up)

# %%
# CuPy into a CudaBuffer
# ----------------------
# ``CudaBuffer.from_dlpack`` names our stream: CuPy orders its step before it.

if cupy is None:
    print("CuPy is not installed: its DLPack steps are skipped")
else:
    # docs_tag: begin_cupy_round_trip
    as_cupy = cupy.from_dlpack(flipped.cuda())  # zero-copy
    assert as_cupy.data.ptr == ptr
    halved = as_cupy // 2  # a CuPy step, on CuPy's stream
    from_cupy = CudaBuffer.from_dlpack(halved, stream=stream)  # after CuPy's step
    host_halved = pinned_empty(picture.shape, np.uint8)
    cuda_memcpy_d2h(from_cupy, host_halved, stream=stream)
    stream.sync()
    np.testing.assert_array_equal(host_halved, picture[:, ::-1] // 2)
    # docs_tag: end_cupy_round_trip
    print("CV-CUDA -> CuPy -> CudaBuffer through DLPack, no copy: equals numpy's")
    from_cupy.close()
    del as_cupy, halved, from_cupy

# %%
# The pictures
# ------------

from sample_images import show_side_by_side

show_side_by_side(*images, titles=titles)

# %%
# Clean up
# --------
# The wrappers and CV-CUDA tensors go first, and CV-CUDA's cache forgets our
# stream; the buffers free their memory; then ``cuda.core``, which created the
# stream, closes it.

# docs_tag: begin_clean_up
wrapped.close()  # lets go of `exported`, which holds CV-CUDA's memory
del flipped, exported, view, tensor, cv_stream
stream.sync()
cvcuda.clear_cache()
buffer.close()
stream.close()
# docs_tag: end_clean_up
