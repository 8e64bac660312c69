# SPDX-License-Identifier: Apache-2.0
"""Stand-ins for the CUDA runtime and for other libraries' GPU memory, so that
the common module's behaviour can be tested on a machine without a GPU.

* :class:`FakeCuda` replaces each runtime function that ``cuda_python_common``
  or ``preflight`` calls (found by reading their source) with a recorder: a call
  that a test did not ``allow`` fails it, so a test proves which CUDA calls a
  helper makes, in which order, and that bad input makes none.
  ``allow_host_memory()`` backs "device" memory with host memory, so that copies
  really move bytes (``cudaMemcpy2D`` honours both pitches) and a test can check
  the data, not only the calls.
* :class:`FakeProducer` is another library's GPU array as DLPack hands it over:
  it says it is CUDA memory and gives a numpy array's capsule, which cuda.core's
  ``StridedMemoryView`` reads without a driver.
"""

from __future__ import annotations

import ctypes
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from cuda.bindings import runtime as cudart

import cuda_python_common as common
import preflight

SUCCESS = cudart.cudaError_t.cudaSuccess
MODULE_SOURCE = "\n".join(Path(module.__file__).read_text(encoding="utf-8") for module in (common, preflight))
#: Every runtime function the modules call.
CUDART_FUNCTIONS = sorted(
    {
        name
        for name in re.findall(r"\bcudart\.(\w+)", MODULE_SOURCE)
        if callable(getattr(cudart, name)) and not isinstance(getattr(cudart, name), type)
    }
)
# The real error-text lookup needs no driver; kept before any test patches it.
REAL_ERROR_STRING = cudart.cudaGetErrorString


def address(pointer: Any) -> int:
    """What cuda.bindings reads from a pointer argument: an int, or a buffer's address."""
    return pointer.ctypes.data if isinstance(pointer, np.ndarray) else int(pointer)


class FakeCuda:
    """Records every call to the modules' CUDA runtime functions; only ``allow``-ed ones may run."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[str, tuple]] = []
        self.fakes: dict[str, Callable[..., Any]] = {}
        self.blocks: dict[int, ctypes.Array] = {}  # "device" memory: host buffers by address
        for name in CUDART_FUNCTIONS:
            monkeypatch.setattr(cudart, name, self._make(name))

    def _make(self, name: str) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            self.calls.append((name, args))
            if name not in self.fakes:
                raise AssertionError(f"unexpected CUDA call: cudart.{name}{args}")
            return self.fakes[name](*args)

        return call

    def allow(self, name: str, fake: Callable[..., Any] | None = None) -> None:
        self.fakes[name] = fake or (lambda *args: (SUCCESS,))

    def allow_host_memory(self) -> None:
        """cudaMalloc/cudaMallocHost hand out host buffers; copies move their bytes."""

        def malloc(nbytes: int) -> tuple:
            block = ctypes.create_string_buffer(nbytes)
            self.blocks[ctypes.addressof(block)] = block
            return SUCCESS, ctypes.addressof(block)

        def free(ptr: int) -> tuple:
            assert self.blocks.pop(ptr, None) is not None, f"freed twice or never allocated: {ptr:#x}"
            return (SUCCESS,)

        def copy_2d(dst: Any, dpitch: int, src: Any, spitch: int, width: int, height: int, *_: Any) -> tuple:
            for row in range(height):
                ctypes.memmove(address(dst) + row * dpitch, address(src) + row * spitch, width)
            return (SUCCESS,)

        def copy(dst: Any, src: Any, nbytes: int, *_: Any) -> tuple:
            return copy_2d(dst, nbytes, src, nbytes, nbytes, 1)

        for name, fake in (("cudaMalloc", malloc), ("cudaMallocHost", malloc), ("cudaFree", free)):
            self.allow(name, fake)
        self.allow("cudaFreeHost", free)
        self.allow("cudaMemcpy", copy)
        self.allow("cudaMemcpyAsync", copy)
        self.allow("cudaMemcpy2D", copy_2d)
        self.allow("cudaMemcpy2DAsync", copy_2d)

    def allow_events(self, handle: Any = "event") -> None:
        """Stream ordering by events: create (returning ``handle``), record, wait, destroy."""
        self.allow("cudaEventCreateWithFlags", lambda flags: (SUCCESS, handle))
        for name in ("cudaEventRecord", "cudaStreamWaitEvent", "cudaEventDestroy", "cudaStreamSynchronize"):
            self.allow(name)

    def allow_error_text(self) -> None:
        self.fakes["cudaGetErrorString"] = REAL_ERROR_STRING

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def without(self, *names: str) -> list[str]:
        return [name for name in self.names if name not in names]


@contextmanager
def fake_cuda() -> Iterator[FakeCuda]:
    """A FakeCuda for code that cannot take a function-scoped fixture (hypothesis tests)."""
    with pytest.MonkeyPatch.context() as mp:
        yield FakeCuda(mp)


class FakeProducer:
    """Another library's GPU array, as DLPack hands it over: it claims CUDA memory
    (device type 2) and gives ``array``'s capsule. It records the consumer
    stream it was handed, as a producer must order its work before that stream."""

    def __init__(self, array: np.ndarray, device: tuple[int, int] = (2, 0)) -> None:
        self.array, self.device = array, device
        self.streams: list[Any] = []

    def __dlpack_device__(self) -> tuple[int, int]:
        return self.device

    def __dlpack__(self, *, stream: Any = None, max_version: Any = None, **kwargs: Any) -> Any:
        self.streams.append(stream)
        return self.array.__dlpack__(max_version=max_version) if max_version else self.array.__dlpack__()


def cai_object(**interface: Any) -> SimpleNamespace:
    """An object exposing ``interface`` as its ``__cuda_array_interface__``."""
    return SimpleNamespace(__cuda_array_interface__=interface)
