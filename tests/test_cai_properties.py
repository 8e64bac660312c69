# SPDX-License-Identifier: Apache-2.0
"""Property-based tests of ``__cuda_array_interface__`` handling in ``cuda_python_common``.

(a) valid interface dicts parse to the same metadata, and ``CudaBuffer.from_cuda``
    exports it back unchanged;
(b) a valid dict broken in one documented way always raises exactly the
    documented ``ValueError`` or ``TypeError`` -- never anything else, never a CUDA call;
(c) copies to and from padded device layouts pick ``cudaMemcpy`` or ``cudaMemcpy2D``
    with the right arguments, and (replayed on host memory) move exactly the right bytes.

No GPU is used: the CUDA runtime functions are replaced by fakes for each example.
"""

from __future__ import annotations

import ctypes
import math
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from cuda_fakes import fake_cuda
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import cuda_python_common as common
from cuda_python_common import CudaBuffer, cuda_memcpy_d2h, cuda_memcpy_h2d, parse_cuda_array_interface

cudart = common.cudart
SUCCESS = cudart.cudaError_t.cudaSuccess

# Every property runs at least 1,000 examples whatever the active profile says.
settings.register_profile(
    "cai-properties",
    max_examples=1000,
    deadline=None,
    derandomize=False,
    suppress_health_check=[HealthCheck.too_slow],
)
PROFILE = settings.get_profile("cai-properties")
assert PROFILE.max_examples >= 1000


# --------------------------------------------------------------------------- #
# Fake CUDA runtime                                                           #
# --------------------------------------------------------------------------- #
def device_attributes(ptr: int) -> tuple[Any, Any]:
    return SUCCESS, SimpleNamespace(type=cudart.cudaMemoryType.cudaMemoryTypeDevice, devicePointer=ptr)


# --------------------------------------------------------------------------- #
# Strategies                                                                  #
# --------------------------------------------------------------------------- #
TYPESTRS = [
    np.dtype(t).str
    for t in ("u1", "i1", "|b1", "<u2", "<i2", "<f2", "<u4", "<i4", "<f4", "<u8", "<i8", "<f8", "<c8", "<c16")
] + [">i4", ">f8", ">u2"]
MULTIBYTE = [t for t in TYPESTRS if np.dtype(t).itemsize > 1]


def packed_strides(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    """C-order byte strides (extent 0 counts as 1, as numpy and the module do)."""
    out, step = [], itemsize
    for extent in reversed(shape):
        out.append(step)
        step *= max(extent, 1)
    return tuple(reversed(out))


def pitched_strides(shape: tuple[int, ...], itemsize: int, split: int, pad: int) -> tuple[int, ...]:
    """Rows = dims ``[:split]``, each a packed block of dims ``[split:]`` padded by ``pad`` items."""
    inner = packed_strides(shape[split:], itemsize)
    pitch = math.prod(max(e, 1) for e in shape[split:]) * itemsize + pad * itemsize
    outer, step = [], pitch
    for extent in reversed(shape[:split]):
        outer.append(step)
        step *= max(extent, 1)
    return tuple(reversed(outer)) + inner


@st.composite
def valid_cai(draw: st.DrawFn, min_ndim: int = 1) -> tuple[dict[str, Any], dict[str, Any]]:
    """A valid CAI dict and the metadata ``parse_cuda_array_interface`` must return for it."""
    ndim = draw(st.integers(min_ndim, 5))
    shape = tuple(draw(st.lists(st.integers(0, 7), min_size=ndim, max_size=ndim)))
    typestr = draw(st.sampled_from(TYPESTRS))
    dtype = np.dtype(typestr)
    isz = dtype.itemsize
    nelems = math.prod(shape)
    ptr = draw(st.integers(1, 2**48) if nelems else st.one_of(st.just(0), st.integers(1, 2**48)))
    readonly = draw(st.booleans())
    stream = draw(st.one_of(st.none(), st.sampled_from([1, 2, -1]), st.integers(3, 2**48)))
    version = draw(st.sampled_from([2, 3]))
    kind = draw(st.sampled_from(["absent", "none", "packed", "padded"]))

    cai: dict[str, Any] = {
        "shape": draw(st.sampled_from([tuple, list]))(shape),
        "typestr": typestr,
        "data": draw(st.sampled_from([tuple, list]))((ptr, readonly)),
        "version": version,
    }
    expected_strides = None
    if kind == "none":
        cai["strides"] = None
    elif kind == "packed":
        cai["strides"] = packed_strides(shape, isz)
    elif kind == "padded":
        split = draw(st.integers(0, ndim - 1))  # split 0: every dim packed, the outermost one padded
        pad = draw(st.integers(1, 9))
        if split == 0:
            strides = list(packed_strides(shape, isz))
            strides[0] += pad * isz
            expected_strides = tuple(strides)
        else:
            expected_strides = pitched_strides(shape, isz, split, pad)
        cai["strides"] = draw(st.sampled_from([tuple, list]))(expected_strides)
    if stream is not None or draw(st.booleans()):
        cai["stream"] = stream
    if draw(st.booleans()):
        cai["mask"] = None

    expected = {
        "ptr": ptr,
        "shape": shape,
        "dtype": dtype,
        "strides": expected_strides,
        "readonly": readonly,
        "stream": None if stream in (None, -1) else stream,
        "version": version,
    }
    return cai, expected


def metadata(view: common.CaiView) -> dict[str, Any]:
    return {
        "ptr": view.ptr,
        "shape": view.shape,
        "dtype": view.dtype,
        "strides": view.strides,
        "readonly": view.readonly,
        "stream": view.stream,
        "version": view.version,
    }


# --------------------------------------------------------------------------- #
# (a) valid dicts round-trip                                                  #
# --------------------------------------------------------------------------- #
@settings(PROFILE, max_examples=1000, deadline=None)
@given(valid_cai())
def test_parse_returns_the_same_metadata(case: tuple[dict[str, Any], dict[str, Any]]) -> None:
    cai, expected = case
    with fake_cuda() as fake:
        view = parse_cuda_array_interface(cai)
    assert fake.calls == []
    assert metadata(view) == expected
    assert type(view.ptr) is int and all(type(e) is int for e in view.shape)
    assert view.typestr == cai["typestr"]
    assert view.nbytes == math.prod(expected["shape"]) * expected["dtype"].itemsize


@settings(PROFILE, max_examples=1000, deadline=None)
@given(valid_cai(), st.one_of(st.none(), st.sampled_from([0, 1, 2]), st.integers(3, 2**48)))
def test_from_cuda_exports_the_same_metadata(case: tuple[dict[str, Any], dict[str, Any]], consumer: int | None) -> None:
    cai, expected = case
    producer = expected["stream"]
    with fake_cuda() as fake:
        fake.allow("cudaStreamSynchronize")
        fake.allow_events("event")
        buf = CudaBuffer.from_cuda(cai) if consumer is None else CudaBuffer.from_cuda(cai, stream=consumer)
        exported = buf.__cuda_array_interface__

    # CAI v3 consumer rule: wait for the producer's stream before exporting.
    if producer is None or producer == consumer:
        assert fake.calls == []
    elif consumer is None:
        # The host waits for a producer on an ordinary stream; 1 and 2 (legacy / per-thread) make no call.
        assert fake.calls == ([] if producer in (1, 2) else [("cudaStreamSynchronize", (producer,))])
    else:
        assert fake.calls == [
            ("cudaEventCreateWithFlags", (cudart.cudaEventDisableTiming,)),
            ("cudaEventRecord", ("event", producer)),
            ("cudaStreamWaitEvent", (consumer, "event", 0)),
            ("cudaEventDestroy", ("event",)),
        ]

    assert exported == {
        "version": 3,
        "shape": expected["shape"],
        "typestr": expected["dtype"].str,
        "data": (expected["ptr"], expected["readonly"]),
        "strides": expected["strides"],
        "stream": exported["stream"],  # checked below
    }
    if consumer is not None:
        assert exported["stream"] == (1 if consumer == 0 else consumer)  # 0 is never exported
    elif producer in (1, 2):
        assert exported["stream"] == producer  # not host-synchronised: later consumers must still follow it
    else:
        assert exported["stream"] is None  # host-synchronised (or nothing was pending)
    # ...and the export parses back to the same metadata.
    assert metadata(parse_cuda_array_interface(exported)) == {**expected, "stream": exported["stream"], "version": 3}
    assert buf.owns_memory is False and buf.closed is False


# --------------------------------------------------------------------------- #
# (b) one documented mistake -> exactly ValueError or TypeError               #
# --------------------------------------------------------------------------- #
Mutation = Callable[[dict[str, Any], st.DrawFn], type[Exception]]


def _drop_key(cai: dict[str, Any], draw: st.DrawFn) -> type[Exception]:
    del cai[draw(st.sampled_from(["shape", "typestr", "data", "version"]))]
    return ValueError


def _negative_extent(cai: dict[str, Any], draw: st.DrawFn) -> type[Exception]:
    shape = list(cai["shape"])
    shape[draw(st.integers(0, len(shape) - 1))] = draw(st.integers(-(2**40), -1))
    cai["shape"] = tuple(shape)
    return ValueError


def _non_int_extent(cai: dict[str, Any], draw: st.DrawFn) -> type[Exception]:
    shape = list(cai["shape"])
    shape[draw(st.integers(0, len(shape) - 1))] = draw(st.sampled_from([2.5, 3.0, "3", True, None, (2,)]))
    cai["shape"] = tuple(shape)
    return TypeError


def _shape_not_a_sequence(cai: dict[str, Any], draw: st.DrawFn) -> type[Exception]:
    cai["shape"] = draw(st.sampled_from([7, "7", None, 2.0, {7}]))
    return TypeError


def _non_multiple_stride(cai: dict[str, Any], draw: st.DrawFn) -> type[Exception]:
    typestr = draw(st.sampled_from(MULTIBYTE))
    isz = np.dtype(typestr).itemsize
    strides = list(packed_strides(tuple(cai["shape"]), isz))
    strides[draw(st.integers(0, len(strides) - 1))] += draw(st.integers(1, isz - 1))
    cai["typestr"], cai["strides"] = typestr, tuple(strides)
    return ValueError


def _strides_wrong_length(cai: dict[str, Any], draw: st.DrawFn) -> type[Exception]:
    isz = np.dtype(cai["typestr"]).itemsize
    ndim = len(cai["shape"])
    n = draw(st.integers(0, 6).filter(lambda k: k != ndim))
    cai["strides"] = tuple([isz] * n)
    return ValueError


def _bad_version(cai: dict[str, Any], draw: st.DrawFn) -> type[Exception]:
    cai["version"] = draw(st.one_of(st.sampled_from([0, 1, 4, "3", 3.0, True, None, -3]), st.integers(4, 10**6)))
    return ValueError


def _null_pointer(cai: dict[str, Any], draw: st.DrawFn) -> type[Exception]:
    cai["shape"] = tuple(max(int(e), 1) for e in cai["shape"])
    cai.pop("strides", None)
    cai["data"] = (0, cai["data"][1])
    return ValueError


def _negative_pointer(cai: dict[str, Any], draw: st.DrawFn) -> type[Exception]:
    cai["data"] = (draw(st.integers(-(2**48), -1)), cai["data"][1])
    return ValueError


def _pointer_too_wide(cai: dict[str, Any], draw: st.DrawFn) -> type[Exception]:
    cai["data"] = (draw(st.integers(2**64, 2**80)), cai["data"][1])
    return ValueError


def _stream_out_of_range(cai: dict[str, Any], draw: st.DrawFn) -> type[Exception]:
    cai["stream"] = draw(st.one_of(st.integers(-(2**64), -2), st.integers(2**64, 2**80)))
    return ValueError


def _data_not_a_pair(cai: dict[str, Any], draw: st.DrawFn) -> type[Exception]:
    ptr, readonly = cai["data"]
    cai["data"] = draw(st.sampled_from([(ptr,), (ptr, readonly, 0), ptr, None, "data", ()]))
    return TypeError


def _readonly_not_bool(cai: dict[str, Any], draw: st.DrawFn) -> type[Exception]:
    cai["data"] = (cai["data"][0], draw(st.sampled_from([0, 1, "False", None])))
    return TypeError


def _stream_zero(cai: dict[str, Any], draw: st.DrawFn) -> type[Exception]:
    cai["stream"] = draw(st.sampled_from([0, np.int64(0)]))
    return ValueError


def _stream_wrong_type(cai: dict[str, Any], draw: st.DrawFn) -> type[Exception]:
    cai["stream"] = draw(st.sampled_from(["1", 1.0, True, b"\x01", [1]]))
    return TypeError


def _unknown_typestr(cai: dict[str, Any], draw: st.DrawFn) -> type[Exception]:
    cai["typestr"] = draw(st.sampled_from(["x9", "|O", "O", "u1,u2", "(2,)<f4", "|V0", "", "<f12", "Q9", "<i3"]))
    return ValueError


def _non_str_typestr(cai: dict[str, Any], draw: st.DrawFn) -> type[Exception]:
    cai["typestr"] = draw(st.sampled_from([8, None, b"<f4", np.dtype("<f4"), ("<f4",), np.float32]))
    return TypeError


def _mask_set(cai: dict[str, Any], draw: st.DrawFn) -> type[Exception]:
    cai["mask"] = draw(st.sampled_from([(1, False), 0, False, "mask"]))
    return ValueError


def _not_a_mapping(cai: dict[str, Any], draw: st.DrawFn) -> type[Exception]:
    return TypeError  # handled by the caller: the dict is replaced by one of its items


MUTATIONS: dict[str, Mutation] = {
    f.__name__.lstrip("_"): f
    for f in (
        _drop_key,
        _negative_extent,
        _non_int_extent,
        _shape_not_a_sequence,
        _non_multiple_stride,
        _strides_wrong_length,
        _bad_version,
        _null_pointer,
        _negative_pointer,
        _pointer_too_wide,
        _stream_out_of_range,
        _data_not_a_pair,
        _readonly_not_bool,
        _stream_zero,
        _stream_wrong_type,
        _unknown_typestr,
        _non_str_typestr,
        _mask_set,
        _not_a_mapping,
    )
}


@st.composite
def invalid_cai(draw: st.DrawFn) -> tuple[str, Any, type[Exception], tuple[tuple[int, ...], np.dtype]]:
    """A valid dict broken in one way, the exception it must raise, and the (shape, dtype) of the valid dict."""
    cai, expected = draw(valid_cai())
    name = draw(st.sampled_from(sorted(MUTATIONS)))
    broken: Any = dict(cai)
    exc = MUTATIONS[name](broken, draw)
    if name == "not_a_mapping":
        broken = draw(st.sampled_from([list(cai.items()), tuple(cai.values()), None, str(cai), 42]))
    return name, broken, exc, (expected["shape"], expected["dtype"])


class CaiProducer:
    def __init__(self, cai: Any) -> None:
        self.__cuda_array_interface__ = cai


@settings(PROFILE, max_examples=1000, deadline=None)
@given(invalid_cai())
def test_broken_dict_raises_exactly_the_documented_error(case: tuple[str, Any, type[Exception], Any]) -> None:
    name, broken, exc, (shape, dtype) = case
    event(name)
    host = np.zeros(shape, dtype)  # matches the valid dict, so only the mutation can be wrong
    attempts = {
        "parse": lambda: parse_cuda_array_interface(broken),
        "from_cuda": lambda: CudaBuffer.from_cuda(broken if name != "not_a_mapping" else CaiProducer(broken)),
        "h2d": lambda: cuda_memcpy_h2d(host, broken if name != "not_a_mapping" else CaiProducer(broken)),
        "d2h": lambda: cuda_memcpy_d2h(CaiProducer(broken), host),
    }
    with fake_cuda() as fake:
        for where, attempt in attempts.items():
            with pytest.raises((ValueError, TypeError)) as info:
                attempt()
            assert type(info.value) is exc, f"{name} via {where}: {type(info.value).__name__}: {info.value}"
            assert str(info.value), f"{name} via {where}: empty message"
    assert fake.calls == []


# --------------------------------------------------------------------------- #
# (c) pitched copies                                                          #
# --------------------------------------------------------------------------- #
@st.composite
def pitched_layout(draw: st.DrawFn) -> dict[str, Any]:
    ndim = draw(st.integers(1, 4))
    shape = list(draw(st.lists(st.integers(1, 6), min_size=ndim, max_size=ndim)))
    if draw(st.integers(0, 9)) == 0:  # now and then an empty array: no call at all
        shape[draw(st.integers(0, ndim - 1))] = 0
    shape = tuple(shape)
    dtype = np.dtype(draw(st.sampled_from(TYPESTRS)))
    split = draw(st.integers(1, ndim))  # rows: dims [:split]; each row: dims [split:] packed
    pad = draw(st.integers(0, 5))  # 0: packed
    return {
        "shape": shape,
        "dtype": dtype,
        "split": split,
        "pad": pad,
        "strides": pitched_strides(shape, dtype.itemsize, split, pad),
        "direction": draw(st.sampled_from(["h2d", "d2h"])),
        "stream": draw(st.sampled_from([None, 5])),
        "form": draw(st.sampled_from(["dict", "dict-packed-strides-none", "from_cuda", "cai-object", "crop"])),
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


class Memory:
    """Host-memory stand-ins for both ends of a copy; memmoves only inside known regions."""

    def __init__(self) -> None:
        self.regions: list[tuple[int, int]] = []

    def add(self, arr: np.ndarray) -> int:
        start = arr.ctypes.data
        self.regions.append((start, start + arr.nbytes))
        return start

    def check(self, ptr: int, n: int) -> None:
        assert any(lo <= ptr and ptr + n <= hi for lo, hi in self.regions), f"{n} bytes at {ptr:#x} out of bounds"

    def memcpy(self, dst: int, src: int, n: int, kind: Any, stream: Any = None) -> tuple[Any]:
        self.check(dst, n)
        self.check(src, n)
        ctypes.memmove(dst, src, n)
        return (SUCCESS,)

    def memcpy2d(self, dst: int, dpitch: int, src: int, spitch: int, width: int, height: int, kind: Any,
                 stream: Any = None) -> tuple[Any]:  # fmt: skip
        assert dpitch >= width and spitch >= width, (dpitch, spitch, width)
        for row in range(height):
            self.memcpy(dst + row * dpitch, src + row * spitch, width, kind)
        return (SUCCESS,)


@settings(PROFILE, max_examples=1000, deadline=None)
@given(pitched_layout())
def test_padded_layout_copies_pick_the_right_memcpy(layout: dict[str, Any]) -> None:
    shape, dtype, strides, pad = layout["shape"], layout["dtype"], layout["strides"], layout["pad"]
    isz, nbytes = dtype.itemsize, math.prod(shape) * dtype.itemsize
    rng = np.random.default_rng(layout["seed"])
    rows = math.prod(shape[: layout["split"]])
    width = math.prod(shape[layout["split"] :]) * isz
    pitch = width + pad * isz

    # Fake device memory: an arena with a sentinel everywhere, the array's bytes at strided offsets.
    span = sum((e - 1) * s for e, s in zip(shape, strides, strict=True)) + isz if nbytes else 0
    memory = Memory()
    arena = np.full(span + 2 * 64, 0xA5, np.uint8)
    base = memory.add(arena) + 64 if nbytes else 0
    device_view = (
        np.ndarray(shape, dtype, buffer=arena, offset=64, strides=strides) if nbytes else np.empty(shape, dtype)
    )
    touched = np.zeros(arena.shape, bool)
    if nbytes:
        np.ndarray((*shape, isz), np.bool_, buffer=touched, offset=64, strides=(*strides, 1))[...] = True

    host = np.frombuffer(rng.bytes(nbytes), np.uint8).view(dtype).reshape(shape).copy()
    if layout["direction"] == "d2h":
        arena[touched] = rng.integers(0, 256, int(touched.sum()), np.uint8)
        expected_host = device_view.copy()
        host[...] = np.frombuffer(b"\x5a" * nbytes, np.uint8).view(dtype).reshape(shape)
    before = arena.copy()
    if nbytes:
        memory.add(host)

    cai = {"shape": shape, "typestr": dtype.str, "data": (base, False), "version": 3, "strides": strides}
    if layout["form"] == "dict-packed-strides-none" and pad == 0:
        cai["strides"] = None
    form = layout["form"]
    if form == "from_cuda":
        device: Any = CudaBuffer.from_cuda(cai)
    elif form == "cai-object":
        device = CaiProducer(cai)
    elif form == "crop" and len(shape) >= 2:
        device = CudaBuffer.from_cuda(cai).crop(0, 0, shape[0], shape[1])  # the whole buffer, as a window
    else:
        device = cai

    stream = layout["stream"]
    with fake_cuda() as fake:
        fake.allow("cudaPointerGetAttributes", device_attributes)
        fake.allow("cudaMemcpy", memory.memcpy)
        fake.allow("cudaMemcpyAsync", memory.memcpy)
        fake.allow("cudaMemcpy2D", memory.memcpy2d)
        fake.allow("cudaMemcpy2DAsync", memory.memcpy2d)
        fake.allow("cudaStreamSynchronize")
        if layout["direction"] == "h2d":
            cuda_memcpy_h2d(host, device, stream=stream)
        else:
            cuda_memcpy_d2h(device, host, stream=stream)

    if nbytes == 0:
        event("zero-size: no call")
        assert fake.calls == []
        return

    h2d = layout["direction"] == "h2d"
    kind = cudart.cudaMemcpyKind.cudaMemcpyDefault  # the direction comes from the pointers
    dst, src = (base, host.ctypes.data) if h2d else (host.ctypes.data, base)
    tail = () if stream is None else (stream,)
    suffix = "" if stream is None else "Async"
    event(f"{'flat' if pad == 0 or rows == 1 else 'pitched'} {layout['direction']} via {form}")
    if pad == 0 or rows == 1:  # packed, or a single row: one flat copy
        copy = (f"cudaMemcpy{suffix}", (dst, src, nbytes, kind, *tail))
    else:
        dpitch, spitch = (pitch, width) if h2d else (width, pitch)
        copy = (f"cudaMemcpy2D{suffix}", (dst, dpitch, src, spitch, width, rows, kind, *tail))
    # Foreign memory cannot export a stream, and this one names none: a blocking upload waits for
    # its DMA to land, and a stream-ordered copy either way is finished before the call returns.
    foreign = not isinstance(device, CudaBuffer)
    if foreign and stream is not None:
        landed = [("cudaStreamSynchronize", (stream,))]
    elif foreign and h2d:
        landed = [("cudaStreamSynchronize", (1,))]
    else:
        landed = []
    assert fake.calls == [("cudaPointerGetAttributes", (base,)), copy, *landed]

    # Replayed on host memory, the copy moved exactly the array's bytes and nothing else.
    if h2d:
        assert device_view.tobytes() == host.tobytes()
        assert np.array_equal(arena[~touched], before[~touched]), "padding bytes were written"
        if isinstance(device, CudaBuffer):  # the destination records the stream for its next consumer
            assert device.__cuda_array_interface__["stream"] == (1 if stream is None else stream)
    else:
        assert host.tobytes() == expected_host.tobytes()
        assert np.array_equal(arena, before), "a device-to-host copy wrote device memory"
