# SPDX-License-Identifier: Apache-2.0
"""A catalogue of bad inputs to the public helpers of ``cuda_python_common``.

Each entry must raise exactly :class:`ValueError` or :class:`TypeError` (the
entry says which) with a message that names the problem and the values
involved, and it must do so *before* any CUDA call: an autouse fixture
replaces every CUDA runtime function the module uses with a recorder, and
every test asserts that the recorder saw nothing. Device memory is always a
synthetic ``__cuda_array_interface__`` dict -- never a real allocation -- so the
whole file runs on a machine without a GPU or driver.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from cuda_fakes import CUDART_FUNCTIONS, FakeCuda

import cuda_python_common as common
from cuda_python_common import (
    CudaBuffer,
    cuda_memcpy_d2h,
    cuda_memcpy_h2d,
    parse_cuda_array_interface,
    pinned_empty,
    registered,
    stream_handle,
)


# --------------------------------------------------------------------------- #
# No CUDA call: every cudart function the module uses becomes a recorder      #
# --------------------------------------------------------------------------- #
@pytest.fixture(autouse=True)
def cuda_calls(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Replace every CUDA runtime function the module calls; fail if any is called."""
    cuda = FakeCuda(monkeypatch)  # nothing allowed: any call fails the test
    yield cuda.calls
    assert cuda.calls == [], f"CUDA calls were made: {cuda.calls}"


def test_recorder_covers_every_cuda_function_the_module_uses() -> None:
    expected = {
        "cudaMalloc",
        "cudaFree",
        "cudaMemcpy",
        "cudaMemcpyAsync",
        "cudaMemcpy2D",
        "cudaMemcpy2DAsync",
        "cudaPointerGetAttributes",
        "cudaStreamSynchronize",
        "cudaEventCreateWithFlags",
        "cudaEventRecord",
        "cudaEventDestroy",
        "cudaStreamWaitEvent",
        "cudaMallocHost",
        "cudaFreeHost",
        "cudaHostRegister",
        "cudaHostUnregister",
        "cudaGetDeviceCount",
        "cudaGetErrorName",
        "cudaGetErrorString",
    }
    assert expected <= set(CUDART_FUNCTIONS), sorted(expected - set(CUDART_FUNCTIONS))
    for name in CUDART_FUNCTIONS:  # the fixture really replaced them
        assert getattr(common.cudart, name).__qualname__.endswith("_make.<locals>.call"), name


def test_recorder_sees_a_call(cuda_calls: list) -> None:
    """The recorder is live: a real call is caught (then cleared, so teardown passes)."""
    with pytest.raises(AssertionError, match=r"unexpected CUDA call: cudart\.cudaMalloc"):
        common.cudart.cudaMalloc(16)
    assert [name for name, *_ in cuda_calls] == ["cudaMalloc"]
    cuda_calls.clear()


# --------------------------------------------------------------------------- #
# Synthetic inputs                                                            #
# --------------------------------------------------------------------------- #
PTR = 0x7F0000000000
SHAPE = (10, 10, 3)


def dev(drop: str | None = None, **changes: Any) -> dict[str, Any]:
    """A fresh synthetic CAI dict for a (10, 10, 3) uint8 image; ``changes`` override keys."""
    cai: dict[str, Any] = {"shape": SHAPE, "typestr": "|u1", "data": (PTR, False), "version": 3}
    cai.update(changes)
    if drop is not None:
        del cai[drop]
    return cai


def host(shape: tuple[int, ...] = SHAPE, dtype: Any = np.uint8) -> np.ndarray:
    return np.zeros(shape, dtype)


def readonly_host() -> np.ndarray:
    arr = host()
    arr.setflags(write=False)
    return arr


def wrapped(**changes: Any) -> CudaBuffer:
    """A CudaBuffer wrapping a synthetic dict (no CUDA call: the dict names no stream)."""
    return CudaBuffer.from_cuda(dev(**changes))


def closed_buffer() -> CudaBuffer:
    buf = wrapped()
    buf.close()
    return buf


def crop_of_closed_parent() -> CudaBuffer:
    parent = wrapped()
    window = parent.crop(1, 1, 4, 4)
    parent.close()
    return window


def wrapper_of_closed_buffer() -> CudaBuffer:
    inner = wrapped()
    outer = CudaBuffer.from_cuda(inner)
    inner.close()
    return outer


class CaiObject:
    """A foreign producer exposing ``__cuda_array_interface__``."""

    def __init__(self, cai: dict[str, Any]) -> None:
        self.__cuda_array_interface__ = cai


class DLPackProducer:
    """A foreign DLPack producer on ``device``; its capsule must never be asked for
    (every entry using it is refused before that)."""

    def __init__(self, device: tuple[int, int] = (2, 0)) -> None:
        self.device = device

    def __dlpack_device__(self) -> tuple[int, int]:
        return self.device

    def __dlpack__(self, **kwargs: Any) -> Any:
        raise AssertionError("the capsule was asked for")


class Entry:
    """One catalogue entry: ``call()`` must raise exactly ``exc`` with every part of ``parts``, in order."""

    def __init__(self, id: str, exc: type[Exception], parts: Sequence[str], call: Callable[[], Any]) -> None:
        self.id, self.exc, self.parts, self.call = id, exc, tuple(parts), call

    @property
    def pattern(self) -> str:
        return "(?s)" + ".*".join(re.escape(part) for part in self.parts)


V, T = ValueError, TypeError
H2D, D2H = "cuda_memcpy_h2d", "cuda_memcpy_d2h"
DST, SRC = "destination device buffer", "source device buffer"
CAI = "__cuda_array_interface__"

# fmt: off
CATALOGUE: list[Entry] = [
    # --- wrong byte size, either way -------------------------------------------------------------------------
    Entry("h2d-host-larger-than-device", V,
          [H2D, "size mismatch", "400 bytes (shape (10, 10, 4), uint8)", DST, "300 bytes (shape (10, 10, 3), uint8)"],
          lambda: cuda_memcpy_h2d(host((10, 10, 4)), dev())),
    Entry("h2d-host-smaller-than-device", V,
          [H2D, "size mismatch", "200 bytes (shape (10, 10, 2), uint8)", "300 bytes (shape (10, 10, 3), uint8)"],
          lambda: cuda_memcpy_h2d(host((10, 10, 2)), dev())),
    Entry("d2h-host-larger-than-device", V,
          [D2H, "size mismatch", "1200 bytes (shape (10, 10, 3), float32)", SRC, "300 bytes"],
          lambda: cuda_memcpy_d2h(dev(), host(dtype=np.float32))),
    Entry("d2h-host-smaller-than-device", V,
          [D2H, "size mismatch", "30 bytes (shape (10, 3), uint8)", "300 bytes (shape (10, 10, 3), uint8)"],
          lambda: cuda_memcpy_d2h(dev(), host((10, 3)))),
    Entry("h2d-zero-size-host-non-empty-device", V,
          [H2D, "size mismatch", "0 bytes (shape (0, 10, 3), uint8)", "300 bytes"],
          lambda: cuda_memcpy_h2d(host((0, 10, 3)), dev())),
    Entry("d2h-non-empty-host-zero-size-device", V,
          [D2H, "size mismatch", "300 bytes", SRC, "0 bytes (shape (0, 10, 3), uint8)"],
          lambda: cuda_memcpy_d2h(dev(shape=(0, 10, 3), data=(0, False)), host())),
    # --- dtype mismatch with equal byte counts --------------------------------------------------------------
    Entry("h2d-dtype-int8-vs-uint8", T,
          [H2D, "dtype mismatch", "host array is int8", DST, "is uint8", "'|u1'"],
          lambda: cuda_memcpy_h2d(host(dtype=np.int8), dev())),
    Entry("d2h-dtype-uint16-vs-float16", T,
          [D2H, "dtype mismatch", "host array is uint16", SRC, "is float16", "'<f2'"],
          lambda: cuda_memcpy_d2h(dev(typestr="<f2"), host(dtype=np.uint16))),
    Entry("h2d-dtype-byte-order", T,
          [H2D, "dtype mismatch", "host array is >u2", "is uint16", "'<u2'"],
          lambda: cuda_memcpy_h2d(host(dtype=">u2"), dev(typestr="<u2"))),
    # --- host arrays that are not C-contiguous --------------------------------------------------------------
    Entry("h2d-host-transposed", V,
          [H2D, "must be C-contiguous", "shape (10, 10, 3)", "strides (1, 10, 100)"],
          lambda: cuda_memcpy_h2d(host((3, 10, 10)).T, dev())),
    Entry("d2h-host-transposed", V,
          [D2H, "must be C-contiguous", "shape (10, 10, 3)", "strides (1, 10, 100)"],
          lambda: cuda_memcpy_d2h(dev(), host((3, 10, 10)).T)),
    Entry("h2d-host-sliced-with-step", V,
          [H2D, "must be C-contiguous", "shape (10, 10, 3)", "strides (60, 6, 1)"],
          lambda: cuda_memcpy_h2d(host((10, 20, 3))[:, ::2], dev())),
    Entry("d2h-host-negative-stride", V,
          [D2H, "must be C-contiguous", "shape (10, 10, 3)", "strides (-30, 3, 1)"],
          lambda: cuda_memcpy_d2h(dev(), host()[::-1])),
    Entry("h2d-host-1d-reversed", V,
          [H2D, "must be C-contiguous", "shape (300,)", "strides (-1,)"],
          lambda: cuda_memcpy_h2d(host((300,))[::-1], dev(shape=(300,)))),
    # --- hosts that are not numpy arrays --------------------------------------------------------------------
    Entry("h2d-host-list", T, [H2D, "must be a numpy.ndarray, got list"],
          lambda: cuda_memcpy_h2d([0] * 300, dev())),
    Entry("h2d-host-memoryview", T, [H2D, "must be a numpy.ndarray, got memoryview"],
          lambda: cuda_memcpy_h2d(memoryview(bytearray(300)), dev())),
    Entry("h2d-host-bytes", T, [H2D, "must be a numpy.ndarray, got bytes"],
          lambda: cuda_memcpy_h2d(bytes(300), dev())),
    Entry("d2h-host-None", T, [D2H, "must be a numpy.ndarray, got NoneType"],
          lambda: cuda_memcpy_d2h(dev(), None)),
    Entry("d2h-host-bytearray", T, [D2H, "must be a numpy.ndarray, got bytearray"],
          lambda: cuda_memcpy_d2h(dev(), bytearray(300))),
    Entry("h2d-host-object-dtype", T, [H2D, "dtype object", "Python objects"],
          lambda: cuda_memcpy_h2d(np.empty(SHAPE, dtype=object), dev())),
    # --- read-only ends -------------------------------------------------------------------------------------
    Entry("d2h-read-only-host-destination", V, [D2H, "host array is read-only"],
          lambda: cuda_memcpy_d2h(dev(), readonly_host())),
    Entry("h2d-device-marked-readonly", V, [H2D, DST, "read-only"],
          lambda: cuda_memcpy_h2d(host(), dev(data=(PTR, True)))),
    # --- malformed interface dicts --------------------------------------------------------------------------
    Entry("parse-not-a-dict-list", T, [CAI, "must be a dict, got list"],
          lambda: parse_cuda_array_interface([("shape", SHAPE)])),
    Entry("parse-not-a-dict-None", T, [CAI, "must be a dict, got NoneType"],
          lambda: parse_cuda_array_interface(None)),
    Entry("h2d-device-str", T, [DST, "must be a CudaBuffer", "got str"],
          lambda: cuda_memcpy_h2d(host(), "0x7f0000000000")),
    Entry("parse-missing-shape", V, [CAI, "missing the required key 'shape'", "['data', 'typestr', 'version']"],
          lambda: parse_cuda_array_interface(dev(drop="shape"))),
    Entry("parse-missing-typestr", V, [CAI, "missing the required key 'typestr'"],
          lambda: parse_cuda_array_interface(dev(drop="typestr"))),
    Entry("parse-missing-data", V, [CAI, "missing the required key 'data'"],
          lambda: parse_cuda_array_interface(dev(drop="data"))),
    Entry("parse-missing-version", V, [CAI, "missing the required key 'version'"],
          lambda: parse_cuda_array_interface(dev(drop="version"))),
    Entry("h2d-device-missing-data", V, [DST, "missing the required key 'data'"],
          lambda: cuda_memcpy_h2d(host(), dev(drop="data"))),
    Entry("parse-version-0", V, ["['version'] must be 2 or 3, got 0"],
          lambda: parse_cuda_array_interface(dev(version=0))),
    Entry("parse-version-1", V, ["['version'] must be 2 or 3, got 1"],
          lambda: parse_cuda_array_interface(dev(version=1))),
    Entry("parse-version-4", V, ["['version'] must be 2 or 3, got 4"],
          lambda: parse_cuda_array_interface(dev(version=4))),
    Entry("parse-version-str-3", V, ["['version'] must be 2 or 3, got '3'"],
          lambda: parse_cuda_array_interface(dev(version="3"))),
    Entry("parse-version-bool", V, ["['version'] must be 2 or 3, got True"],
          lambda: parse_cuda_array_interface(dev(version=True))),
    Entry("parse-typestr-unknown-x9", V, ["['typestr'] 'x9' is not a numpy type string"],
          lambda: parse_cuda_array_interface(dev(typestr="x9"))),
    Entry("parse-typestr-object", V, ["['typestr'] '|O' is not a plain numeric type"],
          lambda: parse_cuda_array_interface(dev(typestr="|O"))),
    Entry("parse-typestr-structured", V, ["['typestr'] 'u1,u2' is not a plain numeric type"],
          lambda: parse_cuda_array_interface(dev(typestr="u1,u2"))),
    Entry("parse-typestr-subarray", V, ["['typestr'] '(3,)u1' is not a plain numeric type"],
          lambda: parse_cuda_array_interface(dev(typestr="(3,)u1"))),
    Entry("parse-typestr-empty", V, ["['typestr'] '' is not a numpy type string"],
          lambda: parse_cuda_array_interface(dev(typestr=""))),
    Entry("parse-typestr-int", T, ["['typestr'] must be a str, got int"],
          lambda: parse_cuda_array_interface(dev(typestr=8))),
    Entry("parse-typestr-bytes", T, ["['typestr'] must be a str, got bytes"],
          lambda: parse_cuda_array_interface(dev(typestr=b"|u1"))),
    Entry("parse-typestr-numpy-dtype", T, ["['typestr'] must be a str, got"],
          lambda: parse_cuda_array_interface(dev(typestr=np.dtype(np.uint8)))),
    Entry("parse-shape-negative", V, ["['shape'] must not be negative, got (10, -1, 3)"],
          lambda: parse_cuda_array_interface(dev(shape=(10, -1, 3)))),
    Entry("parse-shape-float", T, ["['shape'] must hold ints, got 2.5 in (10, 2.5, 3)"],
          lambda: parse_cuda_array_interface(dev(shape=(10, 2.5, 3)))),
    Entry("parse-shape-str-element", T, ["['shape'] must hold ints, got '3' in (10, 10, '3')"],
          lambda: parse_cuda_array_interface(dev(shape=(10, 10, "3")))),
    Entry("parse-shape-bool-element", T, ["['shape'] must hold ints, got True in (10, True, 3)"],
          lambda: parse_cuda_array_interface(dev(shape=(10, True, 3)))),
    Entry("parse-shape-int-not-tuple", T, ["['shape'] must be a tuple of ints, got int"],
          lambda: parse_cuda_array_interface(dev(shape=300))),
    Entry("parse-shape-str-not-tuple", T, ["['shape'] must be a tuple of ints, got str"],
          lambda: parse_cuda_array_interface(dev(shape="10,10,3"))),
    Entry("parse-strides-not-multiple-of-itemsize", V,
          ["['strides'] (60, 6, 3) are not multiples of the item size 2 of '<u2'"],
          lambda: parse_cuda_array_interface(dev(typestr="<u2", strides=(60, 6, 3)))),
    Entry("parse-strides-wrong-length", V, ["['strides'] (30, 3) has 2 entries but shape (10, 10, 3) has 3"],
          lambda: parse_cuda_array_interface(dev(strides=(30, 3)))),
    Entry("parse-strides-float", T, ["['strides'] must hold ints, got 30.0 in (30.0, 3, 1)"],
          lambda: parse_cuda_array_interface(dev(strides=(30.0, 3, 1)))),
    Entry("parse-strides-not-tuple", T, ["['strides'] must be None or a tuple, got str"],
          lambda: parse_cuda_array_interface(dev(strides="30,3,1"))),
    Entry("parse-null-pointer-non-empty", V, ["['data'] holds a null pointer", "shape (10, 10, 3)"],
          lambda: parse_cuda_array_interface(dev(data=(0, False)))),
    Entry("parse-data-not-a-pair-1-tuple", T, ["['data'] must be a (pointer, readonly) pair", f"({PTR},)"],
          lambda: parse_cuda_array_interface(dev(data=(PTR,)))),
    Entry("parse-data-not-a-pair-int", T, ["['data'] must be a (pointer, readonly) pair", str(PTR)],
          lambda: parse_cuda_array_interface(dev(data=PTR))),
    Entry("parse-data-not-a-pair-triple", T, ["['data'] must be a (pointer, readonly) pair"],
          lambda: parse_cuda_array_interface(dev(data=(PTR, False, 0)))),
    Entry("parse-data-pointer-negative", V, ["['data'][0]", "pointer", "got -4096"],
          lambda: parse_cuda_array_interface(dev(data=(-4096, False)))),
    Entry("parse-data-pointer-wider-than-64-bits", V, ["['data'][0]", "64-bit", f"got {2**64}"],
          lambda: parse_cuda_array_interface(dev(data=(2**64, False)))),
    Entry("parse-data-pointer-float", T, ["['data'][0] must be an int pointer, got float"],
          lambda: parse_cuda_array_interface(dev(data=(float(PTR), False)))),
    Entry("parse-data-readonly-not-bool", T, ["['data'][1] (readonly) must be a bool, got 0"],
          lambda: parse_cuda_array_interface(dev(data=(PTR, 0)))),
    Entry("parse-stream-0", V, ["['stream'] is 0, which CAI v3 disallows"],
          lambda: parse_cuda_array_interface(dev(stream=0))),
    Entry("parse-stream-str", T, ["['stream'] must be None or an int handle, got '1'"],
          lambda: parse_cuda_array_interface(dev(stream="1"))),
    Entry("parse-stream-float", T, ["['stream'] must be None or an int handle, got 1.0"],
          lambda: parse_cuda_array_interface(dev(stream=1.0))),
    Entry("parse-stream-bool", T, ["['stream'] must be None or an int handle, got True"],
          lambda: parse_cuda_array_interface(dev(stream=True))),
    Entry("parse-stream-negative-not-minus-1", V, ["['stream']", "got -5"],
          lambda: parse_cuda_array_interface(dev(stream=-5))),
    Entry("parse-stream-wider-than-64-bits", V, ["['stream']", "64-bit", f"got {2**64}"],
          lambda: parse_cuda_array_interface(dev(stream=2**64))),
    Entry("from-cuda-producer-stream-negative", V, ["['stream']", "got -7"],
          lambda: CudaBuffer.from_cuda(dev(stream=-7))),
    Entry("parse-mask-set", V, ["['mask'] is set", "masked arrays are not supported"],
          lambda: parse_cuda_array_interface(dev(mask=(PTR + 4096, False)))),
    Entry("h2d-cai-object-bad-version", V, [DST, "['version'] must be 2 or 3, got 1"],
          lambda: cuda_memcpy_h2d(host(), CaiObject(dev(version=1)))),
    Entry("d2h-device-stream-0", V, [SRC, "['stream'] is 0"],
          lambda: cuda_memcpy_d2h(dev(stream=0), host())),
    # --- device strides a copy cannot express ---------------------------------------------------------------
    Entry("h2d-device-overlapping-rows", V, [DST, "strides (24, 3, 1) for shape (10, 10, 3)", "C-contiguous"],
          lambda: cuda_memcpy_h2d(host(), dev(strides=(24, 3, 1)))),
    Entry("d2h-device-negative-row-stride", V, [SRC, "strides (-30, 3, 1) for shape (10, 10, 3)"],
          lambda: cuda_memcpy_d2h(dev(strides=(-30, 3, 1)), host())),
    Entry("h2d-device-negative-inner-stride", V, [DST, "strides (30, 3, -1) for shape (10, 10, 3)"],
          lambda: cuda_memcpy_h2d(host(), dev(strides=(30, 3, -1)))),
    Entry("h2d-device-zero-row-stride", V, [DST, "strides (0, 3, 1) for shape (10, 10, 3)"],
          lambda: cuda_memcpy_h2d(host(), dev(strides=(0, 3, 1)))),
    Entry("d2h-device-broadcast-column", V, [SRC, "strides (30, 0, 1) for shape (10, 10, 3)"],
          lambda: cuda_memcpy_d2h(dev(strides=(30, 0, 1)), host())),
    Entry("h2d-device-fortran-order", V, [DST, "strides (1, 10, 100) for shape (10, 10, 3)"],
          lambda: cuda_memcpy_h2d(host(), dev(strides=(1, 10, 100)))),
    Entry("d2h-device-uneven-row-spacing", V, [SRC, "strides (100, 40, 1) for shape (10, 10, 3)"],
          lambda: cuda_memcpy_d2h(dev(strides=(100, 40, 1)), host())),
    # --- closed CudaBuffers and wrappers of closed ones -----------------------------------------------------
    Entry("h2d-into-closed-buffer", V, ["CudaBuffer(shape=(10, 10, 3), dtype=uint8, wrapped, closed) is closed"],
          lambda: cuda_memcpy_h2d(host(), closed_buffer())),
    Entry("d2h-from-closed-buffer", V, ["is closed", "may already belong to someone else"],
          lambda: cuda_memcpy_d2h(closed_buffer(), host())),
    Entry("from-cuda-of-closed-buffer", V, ["is closed"],
          lambda: CudaBuffer.from_cuda(closed_buffer())),
    Entry("crop-of-closed-buffer", V, ["is closed"],
          lambda: closed_buffer().crop(0, 0, 2, 2)),
    Entry("set-stream-on-closed-buffer", V, ["is closed"],
          lambda: closed_buffer().set_stream(7)),
    Entry("h2d-into-crop-of-closed-parent", V, ["wraps a CudaBuffer that was closed"],
          lambda: cuda_memcpy_h2d(host((4, 4, 3)), crop_of_closed_parent())),
    Entry("from-cuda-of-crop-of-closed-parent", V, ["wraps a CudaBuffer that was closed"],
          lambda: CudaBuffer.from_cuda(crop_of_closed_parent())),
    Entry("from-cuda-of-wrapper-of-closed-buffer", V, ["wraps a CudaBuffer that was closed"],
          lambda: CudaBuffer.from_cuda(wrapper_of_closed_buffer())),
    Entry("d2h-from-wrapper-of-closed-buffer", V, ["wraps a CudaBuffer that was closed"],
          lambda: cuda_memcpy_d2h(wrapper_of_closed_buffer(), host())),
    # --- raw device pointers --------------------------------------------------------------------------------
    Entry("h2d-raw-pointer-0", V, [DST, "pointer must be a positive device address, got 0"],
          lambda: cuda_memcpy_h2d(host(), 0)),
    Entry("d2h-raw-pointer-negative", V, [SRC, "pointer must be a positive device address, got -4096"],
          lambda: cuda_memcpy_d2h(-4096, host())),
    Entry("d2h-raw-pointer-bool", T, [SRC, "or an int device pointer, got bool"],
          lambda: cuda_memcpy_d2h(True, host())),
    Entry("h2d-raw-pointer-float", T, [DST, "or an int device pointer, got float"],
          lambda: cuda_memcpy_h2d(host(), float(PTR))),
    Entry("h2d-device-None", T, [DST, "got NoneType"],
          lambda: cuda_memcpy_h2d(host(), None)),
    # --- crop -----------------------------------------------------------------------------------------------
    Entry("crop-rows-out-of-bounds", V, ["window rows 8:11, columns 0:5", "10 rows x 10 columns"],
          lambda: wrapped().crop(8, 0, 3, 5)),
    Entry("crop-columns-out-of-bounds", V, ["window rows 0:2, columns 9:11", "10 rows x 10 columns"],
          lambda: wrapped().crop(0, 9, 2, 2)),
    Entry("crop-negative-top", V, ["crop: top must be a non-negative int, got -1"],
          lambda: wrapped().crop(-1, 0, 2, 2)),
    Entry("crop-negative-width", V, ["crop: width must be a non-negative int, got -2"],
          lambda: wrapped().crop(0, 0, 2, -2)),
    Entry("crop-float-height", V, ["crop: height must be a non-negative int, got 2.5"],
          lambda: wrapped().crop(0, 0, 2.5, 2)),
    Entry("crop-str-left", V, ["crop: left must be a non-negative int, got '1'"],
          lambda: wrapped().crop(0, "1", 2, 2)),
    Entry("crop-bool-top", V, ["crop: top must be a non-negative int, got True"],
          lambda: wrapped().crop(True, 0, 2, 2)),
    Entry("crop-1d-buffer", V, ["crop needs a buffer of at least 2 dimensions, got shape (300,)"],
          lambda: wrapped(shape=(300,)).crop(0, 0, 1, 1)),
    # --- CudaBuffer(shape, dtype) and pinned_empty: refused before allocating -------------------------------
    Entry("cudabuffer-negative-extent", V, ["CudaBuffer['shape'] must not be negative, got (-1,)"],
          lambda: CudaBuffer((-1,), np.uint8)),
    Entry("cudabuffer-negative-int-shape", V, ["CudaBuffer['shape'] must not be negative, got (-5,)"],
          lambda: CudaBuffer(-5)),
    Entry("cudabuffer-object-dtype", V, ["CudaBuffer", "object", "is not a plain numeric type"],
          lambda: CudaBuffer((2,), object)),
    Entry("cudabuffer-structured-dtype", V, ["CudaBuffer", "('a', 'u1')", "is not a plain numeric type"],
          lambda: CudaBuffer((2,), [("a", np.uint8), ("b", np.float32)])),
    Entry("cudabuffer-subarray-dtype", V, ["CudaBuffer", "(3,)", "is not a plain numeric type"],
          lambda: CudaBuffer((2,), "(3,)u1")),
    Entry("cudabuffer-shape-float", T, ["CudaBuffer", "shape must be an int or a tuple of ints, got 2.5"],
          lambda: CudaBuffer(2.5)),
    Entry("cudabuffer-shape-None", T, ["CudaBuffer", "shape must be an int or a tuple of ints, got None"],
          lambda: CudaBuffer(None)),
    Entry("cudabuffer-shape-bool", T, ["CudaBuffer", "shape must be an int or a tuple of ints, got True"],
          lambda: CudaBuffer(True)),
    Entry("cudabuffer-float-extent", T, ["CudaBuffer['shape'] must hold ints, got 2.5 in (4, 2.5)"],
          lambda: CudaBuffer((4, 2.5))),
    Entry("cudabuffer-unknown-dtype", T, ["CudaBuffer", "'x9'", "not a numpy dtype"],
          lambda: CudaBuffer((2,), "x9")),
    Entry("pinned-empty-negative-shape", V, ["pinned_empty['shape'] must not be negative, got (4, -3)"],
          lambda: pinned_empty((4, -3))),
    Entry("pinned-empty-negative-int", V, ["pinned_empty['shape'] must not be negative, got (-3,)"],
          lambda: pinned_empty(-3)),
    Entry("pinned-empty-object-dtype", V, ["pinned_empty", "object", "is not a plain numeric type"],
          lambda: pinned_empty((2,), object)),
    Entry("pinned-empty-structured-dtype", V, ["pinned_empty", "is not a plain numeric type"],
          lambda: pinned_empty((2,), [("a", np.uint8), ("b", np.float32)])),
    Entry("pinned-empty-shape-float", T, ["pinned_empty", "shape must be an int or a tuple of ints, got 2.5"],
          lambda: pinned_empty(2.5)),
    # --- registered -----------------------------------------------------------------------------------------
    Entry("registered-list", T, ["registered() needs a numpy.ndarray, got list"],
          lambda: registered([1, 2, 3])),
    Entry("registered-bytearray", T, ["registered() needs a numpy.ndarray, got bytearray"],
          lambda: registered(bytearray(16))),
    Entry("registered-sliced-with-step", V, ["registered() needs a C-contiguous array, got strides (64, 16)"],
          lambda: registered(np.zeros((4, 8))[:, ::2])),
    Entry("registered-transposed", V, ["registered() needs a C-contiguous array, got strides (1, 10, 100)"],
          lambda: registered(host((3, 10, 10)).T)),
    # --- streams --------------------------------------------------------------------------------------------
    Entry("stream-handle-str", T, ["expected a CUDA stream or its int handle, got str"],
          lambda: stream_handle("stream-1")),
    Entry("stream-handle-float", T, ["expected a CUDA stream or its int handle, got float"],
          lambda: stream_handle(1.5)),
    Entry("stream-handle-bool", T, ["expected a CUDA stream or its int handle, got bool"],
          lambda: stream_handle(True)),
    Entry("h2d-stream-str", T, ["expected a CUDA stream or its int handle, got str"],
          lambda: cuda_memcpy_h2d(host(), dev(), stream="default")),
    Entry("d2h-stream-list", T, ["expected a CUDA stream or its int handle, got list"],
          lambda: cuda_memcpy_d2h(dev(), host(), stream=[1])),
    Entry("from-cuda-stream-str", T, ["expected a CUDA stream or its int handle, got str"],
          lambda: CudaBuffer.from_cuda(dev(), stream="s")),
    Entry("set-stream-str", T, ["expected a CUDA stream or its int handle, got str"],
          lambda: wrapped().set_stream("s")),
    # --- from_cuda of things without an interface -----------------------------------------------------------
    Entry("from-cuda-list", T, ["CudaBuffer.from_cuda needs __cuda_array_interface__, got list"],
          lambda: CudaBuffer.from_cuda([PTR, 300])),
    Entry("from-cuda-None", T, ["CudaBuffer.from_cuda needs __cuda_array_interface__, got NoneType"],
          lambda: CudaBuffer.from_cuda(None)),
    Entry("from-cuda-int-pointer", T, ["CudaBuffer.from_cuda needs __cuda_array_interface__, got int"],
          lambda: CudaBuffer.from_cuda(PTR)),
    Entry("from-cuda-numpy-host-array", T, ["CudaBuffer.from_cuda needs __cuda_array_interface__, got ndarray"],
          lambda: CudaBuffer.from_cuda(host())),
    Entry("from-cuda-object-missing-shape", V, [CAI, "missing the required key 'shape'"],
          lambda: CudaBuffer.from_cuda(CaiObject(dev(drop="shape")))),
    # --- DLPack, both ways ----------------------------------------------------------------------------------
    Entry("from-dlpack-cpu-array", V, ["ndarray lives in CPU memory (DLPack device type 1)", "cuda_memcpy_h2d"],
          lambda: CudaBuffer.from_dlpack(host())),
    Entry("from-dlpack-non-cuda-device", V, ["DLPack device type 10 (device 0) is not memory that CUDA can reach"],
          lambda: CudaBuffer.from_dlpack(DLPackProducer(device=(10, 0)))),
    Entry("from-dlpack-capsule", T, ["needs the producer (an object with __dlpack__), not a capsule"],
          lambda: CudaBuffer.from_dlpack(host().__dlpack__())),
    Entry("from-dlpack-list", T, ["CudaBuffer.from_dlpack needs __dlpack__, got list"],
          lambda: CudaBuffer.from_dlpack([PTR, 300])),
    Entry("from-dlpack-stream-str", T, ["expected a CUDA stream or its int handle, got str"],
          lambda: CudaBuffer.from_dlpack(DLPackProducer(), stream="s")),
    Entry("dlpack-export-stream-zero", V, ["stream=0 is ambiguous in DLPack"],
          lambda: wrapped().__dlpack__(stream=0)),
    Entry("dlpack-export-stream-str", T, ["__dlpack__: stream must be an int or None, got 's'"],
          lambda: wrapped().__dlpack__(stream="s")),
    Entry("dlpack-export-stream-negative", V, ["__dlpack__: stream must be -1 or a 64-bit handle, got -5"],
          lambda: wrapped().__dlpack__(stream=-5)),
    Entry("dlpack-export-of-closed-buffer", V, ["is closed", "may already belong to someone else"],
          lambda: closed_buffer().__dlpack__()),
    Entry("dlpack-export-of-crop-of-closed-parent", V, ["wraps a CudaBuffer that was closed"],
          lambda: crop_of_closed_parent().__dlpack__(stream=-1)),
]
# fmt: on


@pytest.mark.parametrize("entry", [pytest.param(e, id=e.id) for e in CATALOGUE])
def test_bad_input_is_refused_before_any_cuda_call(entry: Entry, cuda_calls: list) -> None:
    with pytest.raises(entry.exc, match=entry.pattern) as info:
        entry.call()
    assert type(info.value) is entry.exc, f"expected exactly {entry.exc.__name__}, got {type(info.value).__name__}"
    assert cuda_calls == []


# --------------------------------------------------------------------------- #
# The documented zero-size decision                                          #
# --------------------------------------------------------------------------- #
ZERO_DEVICES = {
    "dict-null-pointer": lambda: dev(shape=(0, 10, 3), data=(0, False)),
    "dict-non-null-pointer": lambda: dev(shape=(0, 10, 3)),
    "cai-object-null-pointer": lambda: CaiObject(dev(shape=(0, 10, 3), data=(0, False))),
    "wrapped-null-pointer": lambda: CudaBuffer.from_cuda(dev(shape=(0, 10, 3), data=(0, False))),
}


@pytest.mark.parametrize("direction", ["h2d", "d2h"])
@pytest.mark.parametrize("make_device", ZERO_DEVICES.values(), ids=ZERO_DEVICES.keys())
@pytest.mark.parametrize("stream", [None, 5], ids=["blocking", "stream-5"])
def test_zero_size_copy_is_a_no_op_without_cuda_calls(direction, make_device, stream, cuda_calls) -> None:
    arr = host((0, 10, 3))
    if direction == "h2d":
        assert cuda_memcpy_h2d(arr, make_device(), stream=stream) is None
    else:
        assert cuda_memcpy_d2h(make_device(), arr, stream=stream) is None
    assert cuda_calls == []


def test_zero_size_parse_allows_a_null_pointer() -> None:
    view = parse_cuda_array_interface(dev(shape=(0, 10, 3), data=(0, False)))
    assert (view.ptr, view.shape, view.nbytes) == (0, (0, 10, 3), 0)


def test_zero_size_buffer_and_pinned_array_allocate_nothing(cuda_calls) -> None:
    buf = CudaBuffer((0, 4), np.float32)
    assert (buf.ptr, buf.nbytes, buf.owns_memory) == (0, 0, False)
    buf.close()
    arr = pinned_empty((3, 0), np.int16)
    assert arr.shape == (3, 0) and arr.dtype == np.int16
    with registered(np.zeros(0)):
        pass
    assert cuda_calls == []


# --------------------------------------------------------------------------- #
# Int arguments outside the 64-bit handle range                               #
# --------------------------------------------------------------------------- #
# A raw int device pointer and the ``stream=`` argument are range-checked like the dict's
# values; otherwise cuda.bindings would fail with TypeError/OverflowError after a CUDA call.
OUT_OF_RANGE = {
    "h2d-raw-pointer-wider-than-64-bits": lambda: cuda_memcpy_h2d(host((4,)), 2**64),
    "d2h-raw-pointer-wider-than-64-bits": lambda: cuda_memcpy_d2h(2**70, host((4,))),
    "h2d-stream-wider-than-64-bits": lambda: cuda_memcpy_h2d(host(), dev(), stream=2**64),
    "d2h-stream-negative": lambda: cuda_memcpy_d2h(dev(), host(), stream=-5),
    "from-cuda-stream-negative": lambda: CudaBuffer.from_cuda(dev(stream=7), stream=-5),
}


@pytest.mark.parametrize("call", OUT_OF_RANGE.values(), ids=OUT_OF_RANGE.keys())
def test_out_of_range_int_arguments_are_refused_before_any_cuda_call(call: Callable[[], Any], cuda_calls) -> None:
    try:
        with pytest.raises(ValueError, match=r"64-bit|pointer|stream"):
            call()
    finally:
        made = [name for name, *_ in cuda_calls]
        cuda_calls.clear()  # reported by the assertion below, not by the fixture's teardown
    assert made == []


# --------------------------------------------------------------------------- #
# The catalogue must not silently shrink                                      #
# --------------------------------------------------------------------------- #
def test_catalogue_size() -> None:
    ids = [entry.id for entry in CATALOGUE]
    assert len(ids) == len(set(ids)), "catalogue ids must be unique"
    assert {entry.exc for entry in CATALOGUE} == {ValueError, TypeError}
    assert len(CATALOGUE) >= 30, f"the bad-input catalogue has only {len(CATALOGUE)} entries"
