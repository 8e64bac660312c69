# SPDX-License-Identifier: Apache-2.0
"""What the benchmark's parts share: the device, its clocks, the timing loop.

``bench.py`` starts one :class:`Gpu` and hands it to each part it runs
(``bench_transfers.py``, ``bench_batch.py``, ``bench_interop.py``,
``bench_decode.py``, ``bench_pipeline.py``). A part measures with the clocks
here, so that every number on the Performance page is taken one of three ways:

* :meth:`Gpu.on_stream` ("events"): ``cudaEventRecord`` on the call's stream
  before and after it, ``cudaEventSynchronize`` and ``cudaEventElapsedTime``;
* :meth:`Gpu.until_synced` ("wallclock"): ``time.perf_counter()`` from before
  the call to after a synchronize;
* :meth:`Gpu.call_only`: ``time.perf_counter()`` around the call alone, the
  synchronize after it outside the time (the host cost of a call).

:func:`time_interleaved` runs the calls being compared in turns, so that drift
affects them alike. Standard library only: the pure parts import anywhere.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
PROG = "bench.py"

#: ``measure(fn)``: run ``fn`` once and return its time in seconds.
Measure = Callable[[Callable[[], Any]], float]


def say(text: str) -> None:
    print(f"{PROG}: {text}", flush=True)


def exit_after_results(status: int) -> NoReturn:
    """End a benchmark script with ``status`` once its results are written,
    without the interpreter's teardown. After the pipeline part ran, that
    teardown has aborted the process ("free(): invalid pointer", signal 6) in
    some GPU runs; the cause is not pinned (a suspect: torch's profiler freeing
    buffers CUPTI still holds, pytorch/pytorch#195207). Nothing is left to
    clean up by then: the pipeline's process pool is already terminated."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def why(exc: BaseException) -> str:
    """One line for a results file: the exception's type and first line."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip().rstrip(":")


def time_interleaved(
    calls: Sequence[Callable[[], Any]], measure: Measure, reps: int, warmup: int = 0
) -> list[list[float]]:
    """Time each of ``calls`` ``reps`` times; one list of seconds per call.

    The calls take turns, in order and then in reverse (A B, B A, ...), so that
    drift and position affect all of them alike; with one call this is a plain
    timing loop. The garbage collector is paused while the times are taken.
    """
    for _ in range(warmup):
        for fn in calls:
            measure(fn)
    times: list[list[float]] = [[] for _ in calls]
    order = list(range(len(calls)))
    with gc_paused():
        for rep in range(reps):
            for i in order if rep % 2 == 0 else order[::-1]:
                times[i].append(measure(calls[i]))
    return times


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Gpu:
    """Device 0 for one run: a non-blocking stream and two timing events, the
    frameworks that are usable (``cupy``, ``torch``, ``core``: None and a note
    in ``notes`` when not), and the clean-up warnings the results record."""

    def __init__(self, cu: Any, cudart: Any, quick: bool) -> None:
        self.cu, self.cudart, self.check, self.quick = cu, cudart, cu.check_cuda, quick
        self.H2D = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        self.D2H = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self.stream: Any = None
        self.events: tuple[Any, Any] | None = None
        self.cupy: Any = None
        self.torch: Any = None
        self.core: Any = None
        self.core_stream: Any = None  # cuda.core's view of ``stream``
        self.notes: dict[str, str] = {}
        self.warnings: list[str] = []

    def start(self) -> None:
        cudart, check = self.cudart, self.check
        check(cudart.cudaSetDevice(0), "cudaSetDevice")
        check(cudart.cudaFree(0), "cudaFree(0) (context creation)")
        self.stream = self.new_stream()
        start = check(cudart.cudaEventCreate(), "cudaEventCreate")
        self.events = (start, check(cudart.cudaEventCreate(), "cudaEventCreate"))
        self._import_frameworks()

    def _import_frameworks(self) -> None:
        try:
            import cupy
            import cupyx  # noqa: F401  (cupyx.empty_pinned)

            cupy.cuda.runtime.getDeviceCount()
            self.cupy = cupy
        except Exception as exc:  # not installed, or cannot reach the device
            self.notes["cupy"] = f"cupy not usable: {why(exc)}"
        try:
            import torch

            if not torch.cuda.is_available():
                raise RuntimeError("torch.cuda.is_available() is False")
            torch.zeros(1, device="cuda")  # torch's CUDA set-up, outside the timings
            torch.cuda.synchronize()
            self.torch = torch
        except Exception as exc:
            self.notes["torch"] = f"torch not usable: {why(exc)}"
        try:
            import cuda.core as core
            from cuda.bindings.utils import get_cuda_native_handle

            core.Device(0).set_current()
            handle = int(get_cuda_native_handle(self.stream))
            self.core_stream = core.Stream.from_handle(handle)
            self.core = core
        except Exception as exc:
            self.notes["core"] = f"cuda.core not usable: {why(exc)}"

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.cudart.cudaDeviceSynchronize()
        destroy = self.cudart.cudaEventDestroy
        for event in self.events or ():
            self.soft(lambda e=event: self.check(destroy(e), "cudaEventDestroy"))
        self.events = None
        self.core_stream = None  # cuda.core's view of the stream goes first
        if self.stream is not None:
            stream, self.stream = self.stream, None
            self.soft(lambda: self.cu.destroy_stream(stream))

    # ---- clean-up -------------------------------------------------------- #
    def soft(self, fn: Callable[[], Any]) -> None:
        """Run a clean-up step; record a failure instead of raising."""
        try:
            fn()
        except Exception as exc:
            self.warnings.append(f"clean-up: {why(exc)}")

    def settle(self) -> None:
        """After a failure: let pending work finish before buffers are freed."""
        with contextlib.suppress(Exception):
            self.cudart.cudaDeviceSynchronize()

    def guarded(self, what: dict[str, Any], fn: Callable[[], dict]) -> dict[str, Any]:
        """``fn()``, or ``what`` with ``skipped`` set to why it failed."""
        try:
            return fn()
        except Exception as exc:
            self.settle()
            return {**what, "skipped": why(exc)}

    def free_cupy(self) -> None:
        self.cupy.get_default_memory_pool().free_all_blocks()
        self.cupy.get_default_pinned_memory_pool().free_all_blocks()

    def free_torch(self) -> None:
        torch = self.torch
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        host_empty = getattr(torch._C, "_host_emptyCache", None)  # pin_memory() cache
        if host_empty is not None:
            host_empty()

    def release_frameworks(self) -> None:
        """Hand the frameworks' cached device and pinned blocks back."""
        if self.cupy is not None:
            self.soft(self.free_cupy)
        if self.torch is not None:
            self.soft(self.free_torch)

    # ---- streams and clocks ---------------------------------------------- #
    def new_stream(self) -> Any:
        flags = self.cudart.cudaStreamNonBlocking
        created = self.cudart.cudaStreamCreateWithFlags(flags)
        return self.check(created, "cudaStreamCreateWithFlags")

    def sync_device(self) -> None:
        self.check(self.cudart.cudaDeviceSynchronize(), "cudaDeviceSynchronize")

    def sync_stream(self, stream: Any) -> None:
        self.check(self.cudart.cudaStreamSynchronize(stream), "cudaStreamSynchronize")

    @staticmethod
    def call_only(sync: Callable[[], None]) -> Measure:
        """The call alone is timed; ``sync`` runs after it, outside the time."""
        clock = time.perf_counter

        def measure(fn: Callable[[], Any]) -> float:
            t0 = clock()
            fn()
            t1 = clock()
            sync()
            return t1 - t0

        return measure

    @staticmethod
    def until_synced(sync: Callable[[], None]) -> Measure:
        """From before the call to after ``sync`` returns ("wallclock")."""
        clock = time.perf_counter

        def measure(fn: Callable[[], Any]) -> float:
            t0 = clock()
            fn()
            sync()
            return clock() - t0

        return measure

    def on_stream(self, stream: Any) -> Measure:
        """Between events recorded on ``stream`` around the call ("events")."""
        cudart, check = self.cudart, self.check
        assert self.events is not None
        start, end = self.events
        record, elapsed = cudart.cudaEventRecord, cudart.cudaEventElapsedTime

        def measure(fn: Callable[[], Any]) -> float:
            began = record(start, stream)
            fn()
            ended = record(end, stream)
            check(began, "cudaEventRecord(start)")
            check(ended, "cudaEventRecord(end)")
            check(cudart.cudaEventSynchronize(end), "cudaEventSynchronize")
            return check(elapsed(start, end), "cudaEventElapsedTime") / 1e3

        return measure

    def on_stream_warm(self, stream: Any) -> Measure:
        """As :meth:`on_stream`, after an untimed, finished call of the same: each
        call is timed warm, as in a loop of copies, wherever it falls in the turns."""
        timed = self.on_stream(stream)

        def measure(fn: Callable[[], Any]) -> float:
            fn()
            self.sync_stream(stream)
            return timed(fn)

        return measure


class TorchSpinner:
    """``spin(ms, stream)``: queue about ``ms`` of GPU work on a torch ``stream``
    (None: torch's current stream), to keep a stream busy while something else
    is timed or raced. A spin kernel (``torch.cuda._sleep``, in clock cycles),
    else as many matrix products; calibrated once, on a stream of its own."""

    def __init__(self, torch: Any) -> None:
        self.torch, self.probe = torch, torch.cuda.Stream()
        self.sleep = getattr(torch.cuda, "_sleep", None)
        if self.sleep is not None:
            cycles = 1 << 20
            self.elapsed_ms(lambda: self.sleep(cycles))  # warm-up
            self.per_ms = cycles / max(
                self.elapsed_ms(lambda: self.sleep(cycles)), 1e-3
            )
        else:
            self.a = torch.ones((2048, 2048), device="cuda")
            self.elapsed_ms(lambda: torch.mm(self.a, self.a))  # warm-up
            self.mm_ms = max(self.elapsed_ms(lambda: torch.mm(self.a, self.a)), 1e-3)

    def __call__(self, ms: float, stream: Any = None) -> None:
        torch = self.torch
        with torch.cuda.stream(stream or torch.cuda.current_stream()):
            if self.sleep is not None:
                self.sleep(max(1, int(self.per_ms * ms)))
            else:
                for _ in range(max(1, round(ms / self.mm_ms))):
                    torch.mm(self.a, self.a)

    def elapsed_ms(self, fn: Callable[[], Any]) -> float:
        """How long the GPU work ``fn`` queues takes, on an idle stream."""
        torch = self.torch
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        with torch.cuda.stream(self.probe):
            start.record()
            fn()
            end.record()
        end.synchronize()
        return start.elapsed_time(end)
