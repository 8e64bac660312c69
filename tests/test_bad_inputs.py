# SPDX-License-Identifier: Apache-2.0
"""A catalogue of bad inputs to the public helpers of ``cuda_python_common``.

Each entry must raise exactly :class:`ValueError` or :class:`TypeError` (the
entry says which) with a message that names the problem, and it must do so
*before* any copy: every CUDA runtime function the module uses is a recorder,
and only allocations (to make the buffers the entries misuse) may run.

The device side is what users hand over: a ``CudaBuffer``, another library's
array through DLPack (a numpy array posing as GPU memory, which cuda.core reads
without a driver), or an object with ``__cuda_array_interface__``. Interfaces
that only a hand-made dict can get wrong are read by cuda.core, whose refusal
becomes one ValueError naming the object (here without a driver, on a GPU with
one: the same ValueError either way).
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from cuda_fakes import FakeCuda, FakeProducer, cai_object
from numpy.lib.stride_tricks import as_strided

from cuda_python_common import CudaBuffer, cuda_memcpy_d2h, cuda_memcpy_h2d, pinned_empty, stream_handle

ALLOCATIONS = ("cudaMalloc", "cudaFree", "cudaMallocHost", "cudaFreeHost")


@pytest.fixture(autouse=True)
def cuda_calls(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Allocations may run (host memory stands in for the GPU's); nothing else may."""
    cuda = FakeCuda(monkeypatch)
    cuda.allow_host_memory()
    for name in ("cudaMemcpy", "cudaMemcpyAsync", "cudaMemcpy2D", "cudaMemcpy2DAsync"):
        del cuda.fakes[name]  # a copy fails the entry at once
    yield cuda
    gc.collect()
    assert cuda.without(*ALLOCATIONS) == [], f"CUDA calls were made: {cuda.calls}"


SHAPE = (10, 10, 3)


def host(shape: tuple[int, ...] = SHAPE, dtype: Any = np.uint8) -> np.ndarray:
    return np.zeros(shape, dtype)


def read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


def buffer(shape: tuple[int, ...] = SHAPE, dtype: Any = np.uint8) -> CudaBuffer:
    return CudaBuffer(shape, dtype)


def closed(make: Callable[[], CudaBuffer] = buffer) -> CudaBuffer:
    made = make()
    made.close()
    return made


def crop_of_closed_parent() -> CudaBuffer:
    parent = buffer()
    window = parent.crop(1, 1, 4, 4)
    parent.close()
    return window


def foreign(array: np.ndarray) -> CudaBuffer:
    """Another library's GPU array with ``array``'s layout, wrapped through DLPack."""
    return CudaBuffer.from_dlpack(FakeProducer(array))


def bad_cai(drop: str | None = None, **changes: Any) -> Any:
    """An object whose interface differs from a good one by ``changes``, or lacks ``drop``."""
    interface = {"shape": SHAPE, "typestr": "|u1", "data": (0x7F0000000000, False), "version": 3}
    interface.update(changes)
    interface.pop(drop, None)
    return cai_object(**interface)


class Entry:
    """One entry: ``call()`` must raise exactly ``exc`` with every part of ``parts``, in order."""

    def __init__(self, id: str, exc: type[Exception], parts: Sequence[str], call: Callable[[], Any]) -> None:
        self.id, self.exc, self.parts, self.call = id, exc, tuple(parts), call

    @property
    def pattern(self) -> str:
        return "(?s)" + ".*".join(re.escape(part) for part in self.parts)


V, T = ValueError, TypeError
H2D, D2H = "cuda_memcpy_h2d", "cuda_memcpy_d2h"
BUF = "<CudaBuffer shape=(10, 10, 3) dtype=uint8>"
CANNOT_READ = "cannot read SimpleNamespace's __cuda_array_interface__"

# fmt: off
CATALOGUE: list[Entry] = [
    # --- wrong byte size, either way, into our memory and another library's --------------------------------
    Entry("h2d-host-larger", V, [H2D, "size mismatch", "400 bytes (10, 10, 4)", "against 300", BUF],
          lambda: cuda_memcpy_h2d(host((10, 10, 4)), buffer())),
    Entry("h2d-host-smaller", V, [H2D, "size mismatch", "200 bytes (10, 10, 2)", "against 300"],
          lambda: cuda_memcpy_h2d(host((10, 10, 2)), buffer())),
    Entry("d2h-host-larger", V, [D2H, "size mismatch", "1200 bytes", "against 300"],
          lambda: cuda_memcpy_d2h(buffer(), host(dtype=np.float32))),
    Entry("d2h-host-smaller", V, [D2H, "size mismatch", "30 bytes (10, 3)", "against 300"],
          lambda: cuda_memcpy_d2h(buffer(), host((10, 3)))),
    Entry("h2d-empty-host-into-non-empty", V, [H2D, "size mismatch", "0 bytes (0, 10, 3)", "against 300"],
          lambda: cuda_memcpy_h2d(host((0, 10, 3)), buffer())),
    Entry("d2h-non-empty-host-from-empty", V, [D2H, "size mismatch", "300 bytes", "against 0"],
          lambda: cuda_memcpy_d2h(buffer((0, 10, 3)), host())),
    Entry("h2d-past-the-end-of-a-foreign-array", V, [H2D, "size mismatch", "600 bytes", "against 300"],
          lambda: cuda_memcpy_h2d(host((20, 10, 3)), foreign(host()))),
    Entry("d2h-past-the-end-of-a-crop", V, [D2H, "size mismatch", "300 bytes", "against 48"],
          lambda: cuda_memcpy_d2h(buffer().crop(0, 0, 4, 4), host())),
    # --- dtype mismatch with equal byte counts --------------------------------------------------------------
    Entry("h2d-dtype-int8-vs-uint8", T, [H2D, "dtype mismatch", "host array int8", BUF],
          lambda: cuda_memcpy_h2d(host(dtype=np.int8), buffer())),
    Entry("d2h-dtype-uint16-vs-float16", T, [D2H, "dtype mismatch", "host array uint16", "dtype=float16"],
          lambda: cuda_memcpy_d2h(buffer(dtype=np.float16), host(dtype=np.uint16))),
    Entry("h2d-dtype-byte-order", T, [H2D, "dtype mismatch", "host array >u2", "dtype=uint16"],
          lambda: cuda_memcpy_h2d(host(dtype=">u2"), buffer(dtype="<u2"))),
    Entry("d2h-dtype-of-a-foreign-array", T, [D2H, "dtype mismatch", "host array uint8", "dtype=int8"],
          lambda: cuda_memcpy_d2h(foreign(host(dtype=np.int8)), host())),
    # --- host arrays that are not C-contiguous --------------------------------------------------------------
    Entry("h2d-host-transposed", V, [H2D, "not C-contiguous", "shape (10, 10, 3)", "strides (1, 10, 100)"],
          lambda: cuda_memcpy_h2d(host((3, 10, 10)).T, buffer())),
    Entry("d2h-host-transposed", V, [D2H, "not C-contiguous", "strides (1, 10, 100)"],
          lambda: cuda_memcpy_d2h(buffer(), host((3, 10, 10)).T)),
    Entry("h2d-host-sliced-with-step", V, [H2D, "not C-contiguous", "strides (60, 6, 1)"],
          lambda: cuda_memcpy_h2d(host((10, 20, 3))[:, ::2], buffer())),
    Entry("d2h-host-negative-stride", V, [D2H, "not C-contiguous", "strides (-30, 3, 1)"],
          lambda: cuda_memcpy_d2h(buffer(), host()[::-1])),
    Entry("h2d-host-1d-reversed", V, [H2D, "not C-contiguous", "strides (-1,)"],
          lambda: cuda_memcpy_h2d(host((300,))[::-1], buffer((300,)))),
    # --- hosts that are not numpy arrays --------------------------------------------------------------------
    Entry("h2d-host-list", T, [H2D, "must be a numpy.ndarray, not list"],
          lambda: cuda_memcpy_h2d([0] * 300, buffer())),
    Entry("h2d-host-memoryview", T, [H2D, "must be a numpy.ndarray, not memoryview"],
          lambda: cuda_memcpy_h2d(memoryview(bytearray(300)), buffer())),
    Entry("h2d-host-bytes", T, [H2D, "must be a numpy.ndarray, not bytes"],
          lambda: cuda_memcpy_h2d(bytes(300), buffer())),
    Entry("d2h-host-None", T, [D2H, "must be a numpy.ndarray, not NoneType"],
          lambda: cuda_memcpy_d2h(buffer(), None)),
    Entry("d2h-host-bytearray", T, [D2H, "must be a numpy.ndarray, not bytearray"],
          lambda: cuda_memcpy_d2h(buffer(), bytearray(300))),
    Entry("h2d-host-object-dtype", T, [H2D, "dtype mismatch", "host array object"],
          lambda: cuda_memcpy_h2d(np.empty((10, 10, 3), dtype=object), buffer(dtype=np.uint64))),
    # --- read-only ends -------------------------------------------------------------------------------------
    Entry("d2h-into-a-read-only-host-array", V, [D2H, "the host array is read-only"],
          lambda: cuda_memcpy_d2h(buffer(), read_only(host()))),
    Entry("h2d-into-read-only-device-memory", V, [H2D, "is read-only"],
          lambda: cuda_memcpy_h2d(host(), foreign(read_only(host())))),
    # --- device sides that are not device memory ------------------------------------------------------------
    Entry("h2d-device-str", T, [H2D, "needs an object with __cuda_array_interface__, got str"],
          lambda: cuda_memcpy_h2d(host(), "0x7f0000000000")),
    Entry("h2d-device-None", T, [H2D, "needs an object with __cuda_array_interface__, got NoneType"],
          lambda: cuda_memcpy_h2d(host(), None)),
    Entry("h2d-raw-int-pointer", T, [H2D, "needs an object with __cuda_array_interface__, got int"],
          lambda: cuda_memcpy_h2d(host(), 0x7F0000000000)),
    Entry("d2h-bare-interface-dict", T, [D2H, "needs an object with __cuda_array_interface__, got dict"],
          lambda: cuda_memcpy_d2h({"shape": SHAPE, "typestr": "|u1", "data": (1, False), "version": 3}, host())),
    Entry("d2h-numpy-host-array", T, [D2H, "needs an object with __cuda_array_interface__, got ndarray"],
          lambda: cuda_memcpy_d2h(host(), host())),
    Entry("from-cuda-list", T, ["CudaBuffer.from_cuda needs an object with __cuda_array_interface__, got list"],
          lambda: CudaBuffer.from_cuda([0x7F0000000000, 300])),
    Entry("from-cuda-numpy-host-array", T, ["CudaBuffer.from_cuda needs", "got ndarray"],
          lambda: CudaBuffer.from_cuda(host())),
    # --- interfaces cuda.core refuses: one ValueError naming the object -------------------------------------
    Entry("cai-null-pointer-non-empty", V, [H2D, CANNOT_READ, "a null pointer for a non-empty array"],
          lambda: cuda_memcpy_h2d(host(), bad_cai(data=(0, False)))),
    Entry("cai-missing-shape", V, ["CudaBuffer.from_cuda", CANNOT_READ, "KeyError('shape')"],
          lambda: CudaBuffer.from_cuda(bad_cai(drop="shape"))),
    Entry("cai-missing-data", V, [D2H, CANNOT_READ, "KeyError('data')"],
          lambda: cuda_memcpy_d2h(bad_cai(drop="data"), host())),
    Entry("cai-version-2", V, [H2D, CANNOT_READ, "v3"],
          lambda: cuda_memcpy_h2d(host(), bad_cai(version=2))),
    Entry("cai-mask", V, ["CudaBuffer.from_cuda", CANNOT_READ, "mask"],
          lambda: CudaBuffer.from_cuda(bad_cai(mask=(0x7F0000001000, False)))),
    Entry("cai-data-not-a-pair", V, ["CudaBuffer.from_cuda", CANNOT_READ],
          lambda: CudaBuffer.from_cuda(bad_cai(data=0x7F0000000000))),
    Entry("cai-not-a-dict", V, ["CudaBuffer.from_cuda", CANNOT_READ],
          lambda: CudaBuffer.from_cuda(SimpleNamespace(__cuda_array_interface__=[("shape", SHAPE)]))),
    # --- device layouts that one 2-D copy cannot express (another library's strides) ------------------------
    Entry("h2d-device-transposed", V, ["strides (10, 1, 100)", "are not rows"],
          lambda: cuda_memcpy_h2d(host(), foreign(host((3, 10, 10)).transpose(1, 2, 0)))),
    Entry("d2h-device-rows-reversed", V, ["strides (-30, 3, 1)", "are not rows"],
          lambda: cuda_memcpy_d2h(foreign(host()[::-1]), host())),
    Entry("h2d-device-overlapping-rows", V, ["strides (24, 3, 1)", "are not rows"],
          lambda: cuda_memcpy_h2d(host(), foreign(as_strided(host(), SHAPE, (24, 3, 1))))),
    Entry("d2h-device-broadcast-column", V, ["strides (30, 0, 1)", "are not rows"],
          lambda: cuda_memcpy_d2h(foreign(as_strided(host(), SHAPE, (30, 0, 1))), host())),
    Entry("d2h-device-uneven-row-spacing", V, ["strides (100, 40, 1)", "are not rows"],
          lambda: cuda_memcpy_d2h(foreign(as_strided(host((40, 40)), SHAPE, (100, 40, 1))), host())),
    # --- closed buffers, and views of closed ones -----------------------------------------------------------
    Entry("h2d-into-a-closed-buffer", V, ["<closed CudaBuffer shape=(10, 10, 3) dtype=uint8> is closed"],
          lambda: cuda_memcpy_h2d(host(), closed())),
    Entry("d2h-from-a-closed-buffer", V, ["is closed", "may belong to another"],
          lambda: cuda_memcpy_d2h(closed(), host())),
    Entry("from-cuda-of-a-closed-buffer", V, ["is closed"],
          lambda: CudaBuffer.from_cuda(closed())),
    Entry("crop-of-a-closed-buffer", V, ["is closed"],
          lambda: closed().crop(0, 0, 2, 2)),
    Entry("h2d-into-a-crop-of-a-closed-parent", V, ["<closed CudaBuffer shape=(4, 4, 3)", "is closed"],
          lambda: cuda_memcpy_h2d(host((4, 4, 3)), crop_of_closed_parent())),
    Entry("dlpack-export-of-a-closed-buffer", V, ["is closed"],
          lambda: closed().__dlpack__()),
    Entry("dlpack-export-of-a-crop-of-a-closed-parent", V, ["is closed"],
          lambda: crop_of_closed_parent().__dlpack__(stream=-1)),
    Entry("interface-of-a-closed-wrapper", V, ["is closed"],
          lambda: closed(lambda: foreign(host())).__cuda_array_interface__),
    # --- crop -----------------------------------------------------------------------------------------------
    Entry("crop-rows-out-of-bounds", V, ["crop(8, 0, 3, 5) is outside shape (10, 10, 3)"],
          lambda: buffer().crop(8, 0, 3, 5)),
    Entry("crop-columns-out-of-bounds", V, ["crop(0, 9, 2, 2) is outside shape (10, 10, 3)"],
          lambda: buffer().crop(0, 9, 2, 2)),
    Entry("crop-negative-top", V, ["crop(-1, 0, 2, 2): 4 ints >= 0"],
          lambda: buffer().crop(-1, 0, 2, 2)),
    Entry("crop-negative-width", V, ["crop(0, 0, 2, -2): 4 ints >= 0"],
          lambda: buffer().crop(0, 0, 2, -2)),
    Entry("crop-float-height", V, ["crop(0, 0, 2.5, 2): 4 ints >= 0"],
          lambda: buffer().crop(0, 0, 2.5, 2)),
    Entry("crop-str-left", V, ["crop(0, '1', 2, 2): 4 ints >= 0"],
          lambda: buffer().crop(0, "1", 2, 2)),
    Entry("crop-bool-top", V, ["crop(True, 0, 2, 2): 4 ints >= 0"],
          lambda: buffer().crop(True, 0, 2, 2)),
    Entry("crop-1d-buffer", V, ["crop(0, 0, 1, 1)", "on 2 or more dimensions"],
          lambda: buffer((300,)).crop(0, 0, 1, 1)),
    # --- CudaBuffer(shape, dtype) and pinned_empty: refused before allocating -------------------------------
    Entry("cudabuffer-negative-extent", V, ["CudaBuffer: shape must not be negative, got (-1,)"],
          lambda: CudaBuffer((-1,), np.uint8)),
    Entry("cudabuffer-negative-int-shape", V, ["CudaBuffer: shape must not be negative, got (-5,)"],
          lambda: CudaBuffer(-5)),
    Entry("cudabuffer-object-dtype", V, ["CudaBuffer: dtype object is not a plain number type"],
          lambda: CudaBuffer((2,), object)),
    Entry("cudabuffer-structured-dtype", V, ["CudaBuffer: dtype", "('a', 'u1')", "is not a plain number type"],
          lambda: CudaBuffer((2,), [("a", np.uint8), ("b", np.float32)])),
    Entry("cudabuffer-subarray-dtype", V, ["CudaBuffer: dtype", "(3,)", "is not a plain number type"],
          lambda: CudaBuffer((2,), "(3,)u1")),
    Entry("cudabuffer-shape-float", T, ["CudaBuffer: shape must be an int or ints, got 2.5"],
          lambda: CudaBuffer(2.5)),
    Entry("cudabuffer-shape-None", T, ["CudaBuffer: shape must be an int or ints, got None"],
          lambda: CudaBuffer(None)),
    Entry("cudabuffer-shape-bool", T, ["CudaBuffer: shape must be an int or ints, got True"],
          lambda: CudaBuffer(True)),
    Entry("cudabuffer-float-extent", T, ["CudaBuffer: shape must be an int or ints, got (4, 2.5)"],
          lambda: CudaBuffer((4, 2.5))),
    Entry("cudabuffer-unknown-dtype", T, ["CudaBuffer: 'x9' is not a numpy dtype"],
          lambda: CudaBuffer((2,), "x9")),
    Entry("pinned-empty-negative-shape", V, ["pinned_empty: shape must not be negative, got (4, -3)"],
          lambda: pinned_empty((4, -3))),
    Entry("pinned-empty-negative-int", V, ["pinned_empty: shape must not be negative, got (-3,)"],
          lambda: pinned_empty(-3)),
    Entry("pinned-empty-object-dtype", V, ["pinned_empty: dtype object is not a plain number type"],
          lambda: pinned_empty((2,), object)),
    Entry("pinned-empty-shape-float", T, ["pinned_empty: shape must be an int or ints, got 2.5"],
          lambda: pinned_empty(2.5)),
    # --- streams --------------------------------------------------------------------------------------------
    Entry("stream-handle-str", T, ["expected a CUDA stream or its int handle, got str"],
          lambda: stream_handle("stream-1")),
    Entry("stream-handle-float", T, ["expected a CUDA stream or its int handle, got float"],
          lambda: stream_handle(1.5)),
    Entry("stream-handle-bool", T, ["expected a CUDA stream or its int handle, got bool"],
          lambda: stream_handle(True)),
    Entry("stream-handle-negative", V, ["a stream handle is a 64-bit unsigned int, got -5"],
          lambda: stream_handle(-5)),
    Entry("stream-handle-wider-than-64-bits", V, ["64-bit unsigned int, got 18446744073709551616"],
          lambda: stream_handle(2**64)),
    Entry("stream-object-with-a-str-handle", T, ["expected a CUDA stream or its int handle, got str"],
          lambda: stream_handle(SimpleNamespace(handle="7"))),
    Entry("h2d-stream-str", T, ["expected a CUDA stream or its int handle, got str"],
          lambda: cuda_memcpy_h2d(host(), buffer(), stream="default")),
    Entry("d2h-stream-list", T, ["expected a CUDA stream or its int handle, got list"],
          lambda: cuda_memcpy_d2h(buffer(), host(), stream=[1])),
    Entry("d2h-stream-negative", V, ["64-bit unsigned int, got -5"],
          lambda: cuda_memcpy_d2h(buffer(), host(), stream=-5)),
    Entry("from-dlpack-stream-str", T, ["expected a CUDA stream or its int handle, got str"],
          lambda: CudaBuffer.from_dlpack(FakeProducer(host()), stream="s")),
    Entry("set-stream-str", T, ["expected a CUDA stream or its int handle, got str"],
          lambda: setattr(buffer(), "stream", "s")),
    # --- DLPack, both ways ----------------------------------------------------------------------------------
    Entry("from-dlpack-numpy-host-array", V, ["CudaBuffer.from_dlpack: ndarray is in host memory", H2D],
          lambda: CudaBuffer.from_dlpack(host())),
    Entry("from-dlpack-non-cuda-device", V, ["CudaBuffer.from_dlpack: cannot read FakeProducer's __dlpack__"],
          lambda: CudaBuffer.from_dlpack(FakeProducer(host(), device=(10, 0)))),
    Entry("from-dlpack-capsule", T, ["CudaBuffer.from_dlpack needs an object with __dlpack__, got PyCapsule"],
          lambda: CudaBuffer.from_dlpack(host().__dlpack__())),
    Entry("from-dlpack-list", T, ["CudaBuffer.from_dlpack needs an object with __dlpack__, got list"],
          lambda: CudaBuffer.from_dlpack([1, 2])),
    Entry("dlpack-export-stream-str", T, ["expected a CUDA stream or its int handle, got str"],
          lambda: foreign(host()).__dlpack__(stream="s")),
    Entry("dlpack-export-stream-negative", V, ["64-bit unsigned int, got -5"],
          lambda: foreign(host()).__dlpack__(stream=-5)),
]
# fmt: on


@pytest.mark.parametrize("entry", [pytest.param(e, id=e.id) for e in CATALOGUE])
def test_bad_input_is_refused_before_any_copy(entry: Entry, cuda_calls: FakeCuda) -> None:
    with pytest.raises(entry.exc, match=entry.pattern) as info:
        entry.call()
    assert type(info.value) is entry.exc, f"expected exactly {entry.exc.__name__}, got {type(info.value).__name__}"


@pytest.mark.parametrize("stream", [None, 5], ids=["blocking", "stream-5"])
@pytest.mark.parametrize(
    "device", [lambda: buffer((0, 10, 3)), lambda: foreign(host((0, 10, 3)))], ids=["ours", "DLPack"]
)
def test_a_zero_size_copy_moves_nothing(device: Callable[[], CudaBuffer], stream: Any, cuda_calls: FakeCuda) -> None:
    cuda_calls.allow_events()  # the copy still orders its stream; it moves no byte
    cuda_memcpy_h2d(host((0, 10, 3)), device(), stream=stream)
    cuda_memcpy_d2h(device(), host((0, 10, 3)), stream=stream)
    assert (
        cuda_calls.without(
            *ALLOCATIONS,
            "cudaEventCreateWithFlags",
            "cudaEventRecord",
            "cudaStreamWaitEvent",
            "cudaEventDestroy",
            "cudaStreamSynchronize",
        )
        == []
    )
    del cuda_calls.calls[:]  # checked above, without the fixture's stricter rule


def test_the_catalogue_holds_distinct_entries_of_both_kinds() -> None:
    ids = [entry.id for entry in CATALOGUE]
    assert len(ids) == len(set(ids)), "catalogue ids must be unique"
    assert {entry.exc for entry in CATALOGUE} == {ValueError, TypeError}
    print(f"{len(CATALOGUE)} bad inputs refused")
