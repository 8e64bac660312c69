# SPDX-License-Identifier: Apache-2.0
"""A recording stand-in for the CUDA runtime functions the samples' modules call.

CPU tests replace each function that ``cuda_python_common`` or ``preflight``
calls (found by reading their source)
with a recorder: a call that a test did not ``allow`` fails it, so a test proves
which CUDA calls happen, in which order, and that bad input makes none.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

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
# The real error-text lookups need no driver; kept before any test patches them.
REAL_ERROR_NAME = cudart.cudaGetErrorName
REAL_ERROR_STRING = cudart.cudaGetErrorString


class FakeCuda:
    """Records every call to the module's CUDA runtime functions; only ``allow``-ed ones may run."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[str, tuple]] = []
        self.fakes: dict[str, Callable[..., Any]] = {}
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

    def allow_device_pointers(self, memory_type: Any = None) -> None:
        if memory_type is None:  # not `or`: cudaMemoryTypeUnregistered is 0
            memory_type = cudart.cudaMemoryType.cudaMemoryTypeDevice
        self.allow("cudaPointerGetAttributes", lambda ptr: (SUCCESS, SimpleNamespace(type=memory_type)))

    def allow_copies(self) -> None:
        for name in ("cudaMemcpy", "cudaMemcpyAsync", "cudaMemcpy2D", "cudaMemcpy2DAsync", "cudaStreamSynchronize"):
            self.allow(name)

    def allow_events(self, handle: Any = "ev") -> None:
        """Stream ordering by events: create (returning ``handle``), record, wait, destroy."""
        self.allow("cudaEventCreateWithFlags", lambda flags: (SUCCESS, handle))
        for name in ("cudaEventRecord", "cudaStreamWaitEvent", "cudaEventDestroy"):
            self.allow(name)

    def allow_error_text(self) -> None:
        self.fakes["cudaGetErrorName"] = REAL_ERROR_NAME
        self.fakes["cudaGetErrorString"] = REAL_ERROR_STRING

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def without(self, *names: str) -> list[tuple[str, tuple]]:
        return [call for call in self.calls if call[0] not in names]


@contextmanager
def fake_cuda() -> Iterator[FakeCuda]:
    """A FakeCuda for code that cannot take a function-scoped fixture (hypothesis tests)."""
    with pytest.MonkeyPatch.context() as mp:
        yield FakeCuda(mp)
