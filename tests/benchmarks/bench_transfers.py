# SPDX-License-Identifier: Apache-2.0
"""Host <-> device transfer benchmark for the gallery's copy helpers.

    python tests/benchmarks/bench_transfers.py [--quick] [--out PATH] [--strict]

Measures host->device ("h2d") and device->host ("d2h") rates in GB/s
(1 GB/s = 1e9 bytes/s) for the copy paths the samples use and for the raw
``cuda.bindings`` calls, CuPy and PyTorch beside them, all in one run on one
device, and writes them to ``docs/performance/results.json`` (the docs render
that file into a figure and a table; see ``docs/performance/plot_results.py``).

How each method is timed
------------------------
* Synchronous methods ("wallclock"): ``time.perf_counter()`` before the call
  and after the call *and* a following ``cudaDeviceSynchronize`` (PyTorch
  pinned: ``torch.cuda.synchronize()``), one copy per sample.
* Stream-ordered methods ("events"): ``cudaEventRecord`` on the copy's stream
  before and after the copy, ``cudaEventSynchronize`` on the end event and
  ``cudaEventElapsedTime``, one copy per sample.

Warm-up copies run first; then at least 10 timed repetitions per point, of
which the median, minimum and maximum rate are reported. Every d2h row is
checked byte for byte against the host pattern that went up with the same
method ("verified"). A point that cannot be measured (e.g. a 1 GiB pinned
allocation that fails) is recorded with ``"skipped": "<why>"`` and the run
goes on. Buffers of one size are freed before the next size is allocated.

Exit status: 0 when the results were written (``--strict``: 1 if a target
FAILs), 3 when no GPU is usable (one line says why, nothing is written).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "docs" / "performance"))
from plot_results import format_bytes, format_cuda_version  # noqa: E402  (one formatter for table and plot)

SAMPLES_DIR = ROOT / "samples" / "interoperability"
DEFAULT_OUT = ROOT / "docs" / "performance" / "results.json"
PROG = "bench_transfers.py"
EXIT_GPU_UNAVAILABLE = 3  # == cuda_python_common.EXIT_GPU_UNAVAILABLE (not importable without cuda-bindings)

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
PAGE = 4 * KiB
SIZES_FULL = (4 * KiB, 64 * KiB, 1 * MiB, 16 * MiB, 256 * MiB, 1 * GiB)
SIZES_QUICK = (4 * KiB, 64 * KiB, 1 * MiB, 16 * MiB, 64 * MiB)
REPEATS_FULL, REPEATS_QUICK = 20, 10  # timed repetitions per point; never fewer than 10
SMALL_BYTES = 1 * MiB  # at or below this size a point gets SMALL_FACTOR times the repetitions (cheap, noisier)
SMALL_FACTOR = 5
OVERHEAD_BYTES = 4 * KiB
OVERHEAD_CALLS_FULL, OVERHEAD_CALLS_QUICK = 5000, 1000  # >= 1000 each
RATIO_BYTES = 256 * MiB  # helper vs raw (pageable); --quick uses its largest size instead

DIRECTIONS = ("h2d", "d2h")

RAW_PAGEABLE = "raw cudaMemcpy (pageable)"
HELPERS_PAGEABLE = "helpers (pageable)"
HELPERS_PINNED = "helpers pinned async"
RAW_PINNED = "raw cudaMemcpyAsync (pinned)"
REGISTERED = "cudaHostRegister-ed numpy"
CUPY_PAGEABLE = "CuPy asarray/asnumpy"
CUPY_PINNED = "CuPy pinned"
TORCH_PAGEABLE = "PyTorch pageable"
TORCH_PINNED = "PyTorch pinned non_blocking"
CORE_PINNED = "cuda.core Buffer.copy_from (pinned)"

# Targets (see compute_targets).
PINNED_TARGET_METHOD = HELPERS_PINNED
PINNED_TARGET_RATIO = 0.95
PINNED_TARGET_MIN_BYTES = 16 * MiB
HELPER_RAW_MIN_RATIO = 0.97
OVERHEAD_MAX_US = 5.0

TIMERS = {
    "events": (
        "cudaEventRecord(start, stream); copy; cudaEventRecord(end, stream); cudaEventSynchronize(end); "
        "cudaEventElapsedTime(start, end) -- one copy per sample, on the method's non-blocking stream"
    ),
    "wallclock": (
        "time.perf_counter() before the call and after the call plus cudaDeviceSynchronize() "
        "(PyTorch pinned: torch.cuda.synchronize()) -- one copy per sample"
    ),
}


# --------------------------------------------------------------------------- #
# Pure helpers (no CUDA): importable on any machine, used by the tests too     #
# --------------------------------------------------------------------------- #
def summarize(
    method: str, direction: str, nbytes: int, seconds: list[float], timer: str, verified: bool | None = None
) -> dict[str, Any]:
    """One result row from per-copy times in seconds."""
    rates = sorted(nbytes / max(t, 1e-9) / 1e9 for t in seconds)
    return {
        "method": method,
        "direction": direction,
        "bytes": nbytes,
        "gbps_median": round(statistics.median(rates), 4),
        "gbps_min": round(rates[0], 4),
        "gbps_max": round(rates[-1], 4),
        "timer": timer,
        "repeats": len(seconds),
        "time_us_median": round(statistics.median(seconds) * 1e6, 3),
        "verified": verified,
        "skipped": None,
    }


def skipped_row(method: str, direction: str, nbytes: int, timer: str, why: str) -> dict[str, Any]:
    return {
        "method": method,
        "direction": direction,
        "bytes": nbytes,
        "gbps_median": None,
        "gbps_min": None,
        "gbps_max": None,
        "timer": timer,
        "repeats": 0,
        "time_us_median": None,
        "verified": None,
        "skipped": why,
    }


def _measured(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r.get("gbps_median") is not None]


def _all_pass(flags: list[bool | None]) -> bool | None:
    """False if any check failed, True if all passed, None if some could not be evaluated (or none exist)."""
    if any(f is False for f in flags):
        return False
    if flags and all(f is True for f in flags):
        return True
    return None


def compute_targets(doc: dict[str, Any]) -> dict[str, Any]:
    """The target checks, computed from a results document (its "results", "helper_vs_raw", "overhead_us").

    Each target has ``description``, ``pass`` (True/False, or None when it could not be
    evaluated) and ``summary`` (one line with the numbers behind the verdict).
    """
    rows = _measured(doc.get("results", []))
    targets: dict[str, Any] = {}

    # 1. The helpers' pinned async path is within 5% of the best method at >= 16 MiB.
    checks = []
    sizes = sorted({r["bytes"] for r in doc.get("results", []) if r["bytes"] >= PINNED_TARGET_MIN_BYTES})
    for direction in DIRECTIONS:
        for n in sizes:
            here = [r for r in rows if r["direction"] == direction and r["bytes"] == n]
            if not here:
                continue
            best = max(here, key=lambda r: r["gbps_median"])
            mine = next((r for r in here if r["method"] == PINNED_TARGET_METHOD), None)
            ratio = None if mine is None else mine["gbps_median"] / best["gbps_median"]
            checks.append(
                {
                    "direction": direction,
                    "bytes": n,
                    "gbps": None if mine is None else mine["gbps_median"],
                    "best_method": best["method"],
                    "best_gbps": best["gbps_median"],
                    "ratio": None if ratio is None else round(ratio, 4),
                    "pass": None if ratio is None else ratio >= PINNED_TARGET_RATIO,
                }
            )
    rated = [c for c in checks if c["ratio"] is not None]
    if rated:
        worst = min(rated, key=lambda c: c["ratio"])
        summary = (
            f"lowest {worst['ratio']:.1%} ({worst['direction']}, {format_bytes(worst['bytes'])}: "
            f"{worst['gbps']:.2f} vs {worst['best_gbps']:.2f} GB/s of {worst['best_method']})"
        )
        missing = len(checks) - len(rated)
        if missing:
            summary += f"; {missing} point(s) not measured"
    else:
        summary = "not measured"
    targets["pinned_near_best"] = {
        "description": (
            f"{PINNED_TARGET_METHOD} >= {PINNED_TARGET_RATIO:.0%} of the best method at every size >= "
            f"{format_bytes(PINNED_TARGET_MIN_BYTES)}, both directions"
        ),
        "method": PINNED_TARGET_METHOD,
        "threshold": PINNED_TARGET_RATIO,
        "min_bytes": PINNED_TARGET_MIN_BYTES,
        "checks": checks,
        "pass": _all_pass([c["pass"] for c in checks]),
        "summary": summary,
    }

    # 2. The helpers on pageable memory cost nothing measurable against the raw binding at the ratio size.
    hvr = doc.get("helper_vs_raw") or {}
    nbytes = hvr.get("bytes")
    ratios: dict[str, float | None] = {}
    for direction in DIRECTIONS:
        ratio = (hvr.get(direction) or {}).get("ratio")
        if ratio is None and nbytes:  # fall back to the main table
            by = {r["method"]: r["gbps_median"] for r in rows if r["direction"] == direction and r["bytes"] == nbytes}
            if RAW_PAGEABLE in by and HELPERS_PAGEABLE in by:
                ratio = round(by[HELPERS_PAGEABLE] / by[RAW_PAGEABLE], 4)
        ratios[direction] = ratio
    size_text = format_bytes(nbytes) if nbytes else f"{format_bytes(RATIO_BYTES)} (not measured)"
    targets["helpers_match_raw"] = {
        "description": (
            f"{HELPERS_PAGEABLE} within {1 - HELPER_RAW_MIN_RATIO:.0%} of {RAW_PAGEABLE} at {size_text} "
            f"(helper GB/s >= {HELPER_RAW_MIN_RATIO:.0%} of raw), both directions"
        ),
        "bytes": nbytes,
        "threshold": HELPER_RAW_MIN_RATIO,
        "ratios": ratios,
        "pass": _all_pass([None if r is None else r >= HELPER_RAW_MIN_RATIO for r in ratios.values()]),
        "summary": ", ".join(f"{d} {'n/a' if r is None else f'{r:.1%}'}" for d, r in ratios.items())
        + (" (interleaved runs)" if hvr.get("interleaved") else ""),
    }

    # 3. Per-call overhead of the helpers at 4 KiB.
    ovh = doc.get("overhead_us") or {}
    extra = {d: (ovh.get(d) or {}).get("overhead_us") for d in DIRECTIONS}
    targets["helper_overhead"] = {
        "description": (
            f"per-call overhead of the helpers vs the raw binding <= {OVERHEAD_MAX_US:g} us at "
            f"{format_bytes(ovh.get('bytes') or OVERHEAD_BYTES)} (pageable, synchronous), both directions"
        ),
        "threshold_us": OVERHEAD_MAX_US,
        "overhead_us": extra,
        "pass": _all_pass([None if v is None else v <= OVERHEAD_MAX_US for v in extra.values()]),
        "summary": ", ".join(f"{d} {'n/a' if v is None else f'{v:+.2f} us'}" for d, v in extra.items()),
    }
    targets["all_pass"] = _all_pass([t["pass"] for k, t in targets.items() if k != "all_pass"])
    return targets


def verdict(flag: bool | None) -> str:
    return {True: "PASS", False: "FAIL"}.get(flag, "N/A")


def format_report(doc: dict[str, Any]) -> str:
    """The human-readable table, overhead, ratio and target lines."""
    rows = doc.get("results", [])
    sizes = sorted({r["bytes"] for r in rows})
    methods = list(dict.fromkeys(r["method"] for r in rows))
    lines = [
        f"{doc.get('device')} | driver CUDA {format_cuda_version(doc.get('driver'))} "
        f"({doc.get('driver_release') or 'release unknown'}) | runtime {format_cuda_version(doc.get('runtime'))} "
        f"| cuda-bindings {doc.get('cuda_bindings')} | {doc.get('date')}",
    ]
    width = max([len(m) for m in methods] + [6])
    for direction, label in (("h2d", "host -> device"), ("d2h", "device -> host")):
        lines.append("")
        lines.append(f"{label}, GB/s (median of >= {doc.get('repeats')} timed copies)")
        lines.append(" ".join([f"{'method':<{width}}", *(f"{format_bytes(n):>9}" for n in sizes), " timer"]))
        for method in methods:
            cells, timer = [], ""
            for n in sizes:
                row = next(
                    (r for r in rows if r["method"] == method and r["direction"] == direction and r["bytes"] == n), None
                )
                if row is None:
                    cells.append(f"{'-':>9}")
                    continue
                timer = row["timer"]
                if row.get("gbps_median") is None:
                    cells.append(f"{'skipped':>9}")
                else:
                    mark = "!" if row.get("verified") is False else ""
                    cells.append(f"{row['gbps_median']:>8.2f}{mark or ' '}")
            lines.append(" ".join([f"{method:<{width}}", *cells, f" {timer}"]))
    skipped = [r for r in rows if r.get("skipped")]
    if skipped:
        lines.append("")
        lines.append("skipped points:")
        lines.extend(f"  {r['method']} {r['direction']} {format_bytes(r['bytes'])}: {r['skipped']}" for r in skipped)
    bad = [r for r in rows if r.get("verified") is False]
    if bad:
        lines.append("")
        lines.extend(f"  ! data mismatch after {r['method']} {r['direction']} {format_bytes(r['bytes'])}" for r in bad)
    for m in doc.get("methods", []):
        if not m.get("available", True):
            lines.append(f"not measured: {m['name']}: {m.get('note')}")
    ovh = doc.get("overhead_us") or {}
    lines.append("")
    if ovh.get("skipped"):
        lines.append(f"per-call overhead: skipped ({ovh['skipped']})")
    elif ovh:
        for d in DIRECTIONS:
            o = ovh.get(d) or {}
            lines.append(
                f"per-call time at {format_bytes(ovh['bytes'])} {d}: helper {o.get('helper_us', 0):.2f} us, "
                f"raw {o.get('raw_us', 0):.2f} us, overhead {o.get('overhead_us', 0):+.2f} us "
                f"(median of {ovh.get('calls')} calls each)"
            )
    hvr = doc.get("helper_vs_raw") or {}
    if hvr.get("skipped"):
        lines.append(f"helpers vs raw (pageable): skipped ({hvr['skipped']})")
    elif hvr:
        for d in DIRECTIONS:
            o = hvr.get(d) or {}
            lines.append(
                f"helpers vs raw at {format_bytes(hvr['bytes'])} {d} (pageable, interleaved): "
                f"{o.get('helper_gbps_median', 0):.2f} vs {o.get('raw_gbps_median', 0):.2f} GB/s "
                f"= {o.get('ratio', 0):.1%}"
            )
    lines.append("")
    lines.append("targets:")
    for key, target in (doc.get("targets") or {}).items():
        if key == "all_pass":
            continue
        lines.append(f"{verdict(target['pass']):<4} {target['description']}: {target['summary']}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- #
# Measurement (needs a GPU)                                                   #
# --------------------------------------------------------------------------- #
def page_aligned_empty(nbytes: int) -> np.ndarray:
    """A pageable uint8 array that starts on a page and shares no page with any other array.

    Two small arrays from malloc can share a page, and ``cudaHostRegister`` of the
    second would then overlap the first; padding each array to whole pages avoids that.
    """
    pad = (-nbytes) % PAGE
    block = np.empty(nbytes + pad + PAGE, np.uint8)
    offset = (-block.ctypes.data) % PAGE
    return block[offset : offset + nbytes]


def page_aligned_zeros(nbytes: int) -> np.ndarray:
    a = page_aligned_empty(nbytes)
    a.fill(0)
    return a


def make_pattern(nbytes: int) -> np.ndarray:
    """A pageable uint8 array of ``nbytes`` holding a non-trivial, reproducible pattern."""
    a = page_aligned_empty(nbytes)
    words = a[: nbytes - nbytes % 8].view(np.uint64)
    words[:] = np.arange(words.size, dtype=np.uint64)
    words *= np.uint64(0x9E3779B97F4A7C15)  # wraps modulo 2**64: every byte varies
    a[words.nbytes :] = 0xA5
    return a


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip().rstrip(":")


@dataclass
class Plan:
    """One method at one size: how to copy each way, where d2h lands, and how to clean up."""

    h2d: Callable[[], None]
    d2h: Callable[[], None]
    output: Callable[[], Any]  # the host array the last d2h wrote
    reset_output: Callable[[], None]
    stream: Any = None  # set: timed with events on this stream
    sync: Callable[[], None] | None = None  # wallclock: how to wait for the copy (default cudaDeviceSynchronize)
    cleanup: Callable[[], None] = lambda: None


@dataclass(frozen=True)
class MethodSpec:
    name: str
    timer: str
    description: str
    build: str  # name of the Bench method that makes the Plan
    requires: str | None = None  # "cupy" / "torch" / "core"


METHODS = (
    MethodSpec(
        RAW_PAGEABLE,
        "wallclock",
        "cudart.cudaMemcpy between a numpy array's .ctypes.data and a cudaMalloc pointer",
        "_raw_pageable",
    ),
    MethodSpec(
        HELPERS_PAGEABLE,
        "wallclock",
        "cuda_memcpy_h2d / cuda_memcpy_d2h with a numpy array and a CudaBuffer (Approach 1/2 path)",
        "_helpers_pageable",
    ),
    MethodSpec(
        HELPERS_PINNED,
        "events",
        "pinned_empty host arrays, cuda_memcpy_h2d / cuda_memcpy_d2h with stream= a cudaStreamNonBlocking stream",
        "_helpers_pinned",
    ),
    MethodSpec(
        RAW_PINNED,
        "events",
        "cudart.cudaMemcpyAsync on the same pinned host memory and stream (the raw ceiling)",
        "_raw_pinned",
    ),
    MethodSpec(
        REGISTERED,
        "events",
        "numpy arrays page-locked with `with registered(arr):`, then the helpers with stream=",
        "_registered",
    ),
    MethodSpec(
        CUPY_PAGEABLE,
        "wallclock",
        "cupy.asarray(numpy_array) and cupy.asnumpy(device_array) (a new array each call)",
        "_cupy_pageable",
        "cupy",
    ),
    MethodSpec(
        CUPY_PINNED,
        "events",
        "cupyx.empty_pinned host arrays, cupy.ndarray.set(..., stream=) / .get(stream=, out=) on a "
        "non-blocking cupy stream",
        "_cupy_pinned",
        "cupy",
    ),
    MethodSpec(
        TORCH_PAGEABLE,
        "wallclock",
        "torch.from_numpy(x).to('cuda') and tensor.cpu() (a new tensor each call)",
        "_torch_pageable",
        "torch",
    ),
    MethodSpec(
        TORCH_PINNED,
        "wallclock",
        "pinned = torch.from_numpy(x).pin_memory() once; pinned.to('cuda', non_blocking=True) and "
        "pinned_out.copy_(d, non_blocking=True), each followed by torch.cuda.synchronize()",
        "_torch_pinned",
        "torch",
    ),
    MethodSpec(
        CORE_PINNED,
        "events",
        "cuda.core Buffer.from_handle views of the pinned host arrays and the device buffer, "
        "Buffer.copy_from(..., stream=) on the same stream (the cuda.core sample's path)",
        "_core_pinned",
        "core",
    ),
)


class SizeResources:
    """Buffers of one size, allocated on first use and freed by :meth:`close`."""

    def __init__(self, cu: Any, nbytes: int) -> None:
        self.cu = cu
        self.nbytes = nbytes
        self.src = make_pattern(nbytes)
        self.dst = page_aligned_zeros(nbytes)
        self._dev = None
        self._raw = 0
        self._pinned_src: np.ndarray | None = None
        self._pinned_dst: np.ndarray | None = None

    @property
    def dev(self) -> Any:
        if self._dev is None:
            self._dev = self.cu.CudaBuffer(self.nbytes, np.uint8)
        return self._dev

    @property
    def raw_dev(self) -> int:
        if not self._raw:
            cudart = self.cu.cudart
            self._raw = self.cu.check_cuda(cudart.cudaMalloc(self.nbytes), "cudaMalloc")
        return self._raw

    @property
    def pinned_src(self) -> np.ndarray:
        if self._pinned_src is None:
            a = self.cu.pinned_empty(self.nbytes, np.uint8)
            a[:] = self.src
            self._pinned_src = a
        return self._pinned_src

    @property
    def pinned_dst(self) -> np.ndarray:
        if self._pinned_dst is None:
            self._pinned_dst = self.cu.pinned_empty(self.nbytes, np.uint8)
        return self._pinned_dst

    def close(self) -> list[str]:
        """Free everything; returns the errors met (none expected)."""
        errors = []
        cudart = self.cu.cudart
        try:
            self.cu.check_cuda(cudart.cudaDeviceSynchronize(), "cudaDeviceSynchronize")
        except Exception as exc:
            errors.append(_why(exc))
        if self._dev is not None:
            try:
                self._dev.close()
            except Exception as exc:
                errors.append(_why(exc))
            self._dev = None
        if self._raw:
            ptr, self._raw = self._raw, 0
            try:
                self.cu.check_cuda(cudart.cudaFree(ptr), "cudaFree")
            except Exception as exc:
                errors.append(_why(exc))
        self._pinned_src = self._pinned_dst = None  # cudaFreeHost runs when the arrays are collected
        self.src = self.dst = None  # type: ignore[assignment]
        gc.collect()
        return errors


class Bench:
    def __init__(self, cu: Any, args: argparse.Namespace) -> None:
        self.cu = cu
        self.cudart = cu.cudart
        self.check = cu.check_cuda
        self.quick = args.quick
        self.sizes = SIZES_QUICK if args.quick else SIZES_FULL
        self.repeats = REPEATS_QUICK if args.quick else REPEATS_FULL
        self.overhead_calls = OVERHEAD_CALLS_QUICK if args.quick else OVERHEAD_CALLS_FULL
        self.ratio_bytes = RATIO_BYTES if RATIO_BYTES in self.sizes else max(self.sizes)
        self.H2D = self.cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        self.D2H = self.cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self.stream: Any = None
        self.events: tuple[Any, Any] | None = None
        self.cupy: Any = None
        self.torch: Any = None
        self.core: Any = None
        self.core_stream: Any = None
        self.notes: dict[str, str] = {}
        self.results: list[dict[str, Any]] = []
        self.overhead: dict[str, Any] = {}
        self.helper_vs_raw: dict[str, Any] = {}
        self.warnings: list[str] = []

    # ---- setup / teardown ------------------------------------------------ #
    def start(self) -> None:
        cudart, check = self.cudart, self.check
        check(cudart.cudaSetDevice(0), "cudaSetDevice")
        check(cudart.cudaFree(0), "cudaFree(0) (context creation)")
        self.stream = check(cudart.cudaStreamCreateWithFlags(cudart.cudaStreamNonBlocking), "cudaStreamCreateWithFlags")
        start = check(cudart.cudaEventCreate(), "cudaEventCreate")
        end = check(cudart.cudaEventCreate(), "cudaEventCreate")
        self.events = (start, end)
        self._import_frameworks()

    def _import_frameworks(self) -> None:
        try:
            import cupy
            import cupyx  # noqa: F401  (cupyx.empty_pinned)

            cupy.cuda.runtime.getDeviceCount()
            self.cupy = cupy
        except Exception as exc:  # ImportError, or a CuPy that imports but cannot reach the device
            self.notes["cupy"] = f"cupy not usable: {_why(exc)}"
        try:
            import torch

            if not torch.cuda.is_available():
                raise RuntimeError("torch.cuda.is_available() is False")
            torch.zeros(1, device="cuda")  # initialise torch's CUDA state outside the timings
            torch.cuda.synchronize()
            self.torch = torch
        except Exception as exc:
            self.notes["torch"] = f"torch not usable: {_why(exc)}"
        try:
            import cuda.core as core

            core.Device(0).set_current()
            handle = self.cu.stream_handle(self.stream)
            from_handle = getattr(core.Stream, "from_handle", None)  # newer cuda.core
            self.core_stream = from_handle(handle) if from_handle else core.Device(0).create_stream(self.stream)
            self.core = core
        except Exception as exc:
            self.notes["core"] = f"cuda.core not usable: {_why(exc)}"

    def close(self) -> None:
        cudart = self.cudart
        with contextlib.suppress(Exception):
            cudart.cudaDeviceSynchronize()
        if self.events:
            for ev in self.events:
                self._soft(cudart.cudaEventDestroy(ev), "cudaEventDestroy")
            self.events = None
        if self.stream is not None:
            self._soft(cudart.cudaStreamDestroy(self.stream), "cudaStreamDestroy")
            self.stream = None

    def _soft(self, result: tuple, call: str) -> None:
        """Check a clean-up call's status; record a failure instead of raising."""
        try:
            self.check(result, call)
        except Exception as exc:
            self.warnings.append(_why(exc))

    def sync_device(self) -> None:
        self.check(self.cudart.cudaDeviceSynchronize(), "cudaDeviceSynchronize")

    # ---- timers ---------------------------------------------------------- #
    def _repeats_for(self, nbytes: int) -> int:
        return self.repeats * SMALL_FACTOR if nbytes <= SMALL_BYTES else self.repeats

    @staticmethod
    def _warmup_for(nbytes: int) -> int:
        return 5 if nbytes <= 16 * MiB else 2

    def time_wallclock(self, fn: Callable[[], None], sync: Callable[[], None], warmup: int, reps: int) -> list[float]:
        for _ in range(warmup):
            fn()
            sync()
        times = []
        clock = time.perf_counter
        with _gc_paused():
            for _ in range(reps):
                t0 = clock()
                fn()
                sync()
                times.append(clock() - t0)
        return times

    def time_events(self, fn: Callable[[], None], stream: Any, warmup: int, reps: int) -> list[float]:
        cudart, check = self.cudart, self.check
        assert self.events is not None
        start, end = self.events
        for _ in range(warmup):
            fn()
        check(cudart.cudaStreamSynchronize(stream), "cudaStreamSynchronize")
        times = []
        with _gc_paused():
            for _ in range(reps):
                check(cudart.cudaEventRecord(start, stream), "cudaEventRecord(start)")
                fn()
                check(cudart.cudaEventRecord(end, stream), "cudaEventRecord(end)")
                check(cudart.cudaEventSynchronize(end), "cudaEventSynchronize")
                ms = check(cudart.cudaEventElapsedTime(start, end), "cudaEventElapsedTime")
                times.append(ms / 1e3)
        return times

    def _time(self, plan: Plan, fn: Callable[[], None], nbytes: int) -> tuple[str, list[float]]:
        warmup, reps = self._warmup_for(nbytes), self._repeats_for(nbytes)
        if plan.stream is not None:
            return "events", self.time_events(fn, plan.stream, warmup, reps)
        return "wallclock", self.time_wallclock(fn, plan.sync or self.sync_device, warmup, reps)

    def _finish(self, plan: Plan) -> None:
        if plan.stream is not None:
            self.check(self.cudart.cudaStreamSynchronize(plan.stream), "cudaStreamSynchronize")
        (plan.sync or self.sync_device)()

    # ---- methods --------------------------------------------------------- #
    def _raw_pageable(self, res: SizeResources) -> Plan:
        cudart, check, n = self.cudart, self.check, res.nbytes
        dev, src, dst = res.raw_dev, res.src, res.dst
        src_ptr, dst_ptr = src.ctypes.data, dst.ctypes.data
        h2d_kind, d2h_kind = self.H2D, self.D2H

        def h2d() -> None:
            check(cudart.cudaMemcpy(dev, src_ptr, n, h2d_kind), "cudaMemcpy(HostToDevice)")

        def d2h() -> None:
            check(cudart.cudaMemcpy(dst_ptr, dev, n, d2h_kind), "cudaMemcpy(DeviceToHost)")

        return Plan(h2d, d2h, output=lambda: dst, reset_output=lambda: dst.fill(0))

    def _helpers_pageable(self, res: SizeResources) -> Plan:
        cu, dev, src, dst = self.cu, res.dev, res.src, res.dst
        dev.set_stream(None)
        return Plan(
            lambda: cu.cuda_memcpy_h2d(src, dev),
            lambda: cu.cuda_memcpy_d2h(dev, dst),
            output=lambda: dst,
            reset_output=lambda: dst.fill(0),
        )

    def _helpers_pinned(self, res: SizeResources) -> Plan:
        cu, dev, stream = self.cu, res.dev, self.stream
        src, dst = res.pinned_src, res.pinned_dst
        dev.set_stream(None)
        return Plan(
            lambda: cu.cuda_memcpy_h2d(src, dev, stream=stream),
            lambda: cu.cuda_memcpy_d2h(dev, dst, stream=stream),
            output=lambda: dst,
            reset_output=lambda: dst.fill(0),
            stream=stream,
        )

    def _raw_pinned(self, res: SizeResources) -> Plan:
        cudart, check, n, stream = self.cudart, self.check, res.nbytes, self.stream
        dev, src, dst = res.raw_dev, res.pinned_src, res.pinned_dst
        src_ptr, dst_ptr = src.ctypes.data, dst.ctypes.data
        h2d_kind, d2h_kind = self.H2D, self.D2H

        def h2d() -> None:
            check(cudart.cudaMemcpyAsync(dev, src_ptr, n, h2d_kind, stream), "cudaMemcpyAsync(HostToDevice)")

        def d2h() -> None:
            check(cudart.cudaMemcpyAsync(dst_ptr, dev, n, d2h_kind, stream), "cudaMemcpyAsync(DeviceToHost)")

        return Plan(h2d, d2h, output=lambda: dst, reset_output=lambda: dst.fill(0), stream=stream)

    def _registered(self, res: SizeResources) -> Plan:
        cu, dev, stream, src, dst = self.cu, res.dev, self.stream, res.src, res.dst
        stack = contextlib.ExitStack()
        try:
            stack.enter_context(cu.registered(src))  # `with registered(arr):` for as long as the Plan lives
            stack.enter_context(cu.registered(dst))
        except BaseException:
            stack.close()
            raise
        dev.set_stream(None)
        return Plan(
            lambda: cu.cuda_memcpy_h2d(src, dev, stream=stream),
            lambda: cu.cuda_memcpy_d2h(dev, dst, stream=stream),
            output=lambda: dst,
            reset_output=lambda: dst.fill(0),
            stream=stream,
            cleanup=stack.close,
        )

    def _cupy_free(self) -> None:
        cp = self.cupy
        cp.get_default_memory_pool().free_all_blocks()
        cp.get_default_pinned_memory_pool().free_all_blocks()

    def _cupy_pageable(self, res: SizeResources) -> Plan:
        cp, src, held = self.cupy, res.src, {}

        def h2d() -> None:
            held["d"] = cp.asarray(src)

        def d2h() -> None:
            held["out"] = cp.asnumpy(held["d"])

        def cleanup() -> None:
            held.clear()
            self._cupy_free()

        return Plan(
            h2d, d2h, output=lambda: held.get("out"), reset_output=lambda: held.pop("out", None), cleanup=cleanup
        )

    def _cupy_pinned(self, res: SizeResources) -> Plan:
        import cupyx

        cp, n = self.cupy, res.nbytes
        held: dict[str, Any] = {}  # the closures look buffers up here, so clean-up really lets go of them
        try:
            held["stream"] = stream = cp.cuda.Stream(non_blocking=True)
            held["src"] = cupyx.empty_pinned((n,), dtype=np.uint8)
            held["src"][...] = res.src
            held["dst"] = cupyx.empty_pinned((n,), dtype=np.uint8)
            held["dev"] = cp.empty((n,), dtype=cp.uint8)
            get_kw: dict[str, Any] = {"blocking": False}  # enqueue only; the end event does the waiting
            try:
                held["dev"].get(stream=stream, out=held["dst"], **get_kw)
            except TypeError:  # a CuPy without the blocking= keyword
                get_kw = {}
            stream.synchronize()
        except BaseException:
            held.clear()
            self._cupy_free()
            raise

        def h2d() -> None:
            held["dev"].set(held["src"], stream=held["stream"])

        def d2h() -> None:
            held["dev"].get(stream=held["stream"], out=held["dst"], **get_kw)

        def cleanup() -> None:
            held["stream"].synchronize()
            held.clear()
            self._cupy_free()

        return Plan(
            h2d,
            d2h,
            output=lambda: held["dst"],
            reset_output=lambda: held["dst"].fill(0),
            stream=int(stream.ptr),
            cleanup=cleanup,
        )

    def _torch_free(self) -> None:
        torch = self.torch
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        host_empty = getattr(torch._C, "_host_emptyCache", None)  # pinned blocks cached by pin_memory()
        if host_empty is not None:
            host_empty()

    def _torch_pageable(self, res: SizeResources) -> Plan:
        torch, src, held = self.torch, res.src, {}

        def h2d() -> None:
            held["d"] = torch.from_numpy(src).to("cuda")

        def d2h() -> None:
            held["out"] = held["d"].cpu()

        def cleanup() -> None:
            held.clear()
            self._torch_free()

        return Plan(
            h2d,
            d2h,
            output=lambda: None if "out" not in held else held["out"].numpy(),
            reset_output=lambda: held.pop("out", None),
            cleanup=cleanup,
        )

    def _torch_pinned(self, res: SizeResources) -> Plan:
        torch, n, held = self.torch, res.nbytes, {}
        try:
            held["src"] = torch.from_numpy(res.src).pin_memory()
            held["dst"] = torch.empty(n, dtype=torch.uint8).pin_memory()
        except BaseException:
            held.clear()
            self._torch_free()
            raise

        def h2d() -> None:
            held["d"] = held["src"].to("cuda", non_blocking=True)

        def d2h() -> None:
            held["dst"].copy_(held["d"], non_blocking=True)

        def cleanup() -> None:
            held.clear()
            self._torch_free()

        return Plan(
            h2d,
            d2h,
            output=lambda: held["dst"].numpy(),
            reset_output=lambda: held["dst"].zero_(),
            sync=torch.cuda.synchronize,
            cleanup=cleanup,
        )

    def _core_pinned(self, res: SizeResources) -> Plan:
        core, n, stream = self.core, res.nbytes, self.core_stream
        src, dst = res.pinned_src, res.pinned_dst
        device = core.Buffer.from_handle(res.raw_dev, n)  # non-owning views: the arrays own the memory
        host_src = core.Buffer.from_handle(src.ctypes.data, n)
        host_dst = core.Buffer.from_handle(dst.ctypes.data, n)
        return Plan(
            lambda: device.copy_from(host_src, stream=stream),
            lambda: host_dst.copy_from(device, stream=stream),
            output=lambda: dst,
            reset_output=lambda: dst.fill(0),
            stream=self.stream,  # the same stream: events time the copies
        )

    # ---- one method at one size ------------------------------------------ #
    def run_method(self, spec: MethodSpec, res: SizeResources) -> list[dict[str, Any]]:
        n = res.nbytes
        try:
            plan: Plan = getattr(self, spec.build)(res)
        except Exception as exc:
            why = f"setup failed: {_why(exc)}"
            return [skipped_row(spec.name, d, n, spec.timer, why) for d in DIRECTIONS]
        rows: list[dict[str, Any]] = []
        try:
            try:
                timer, times = self._time(plan, plan.h2d, n)
                rows.append(summarize(spec.name, "h2d", n, times, timer))
            except Exception as exc:
                rows.append(skipped_row(spec.name, "h2d", n, spec.timer, _why(exc)))
                self._settle()
            try:
                plan.h2d()  # the device holds the pattern, whatever the h2d timings did
                self._finish(plan)
                plan.reset_output()
                self._finish(plan)
                timer, times = self._time(plan, plan.d2h, n)
                self._finish(plan)
                out = plan.output()
                verified = out is not None and bool(np.array_equal(np.asarray(out), res.src))
                rows.append(summarize(spec.name, "d2h", n, times, timer, verified))
                if rows[0]["skipped"] is None:
                    rows[0]["verified"] = verified  # the round trip checks the h2d copy too
            except Exception as exc:
                rows.append(skipped_row(spec.name, "d2h", n, spec.timer, _why(exc)))
                self._settle()
        finally:
            try:
                plan.cleanup()
            except Exception as exc:
                self.warnings.append(f"{spec.name} {format_bytes(n)} clean-up: {_why(exc)}")
        return rows

    def _release_frameworks(self) -> None:
        """Hand the frameworks' cached device and pinned blocks back before the next size."""
        for name, free in (("cupy", self._cupy_free), ("torch", self._torch_free)):
            if getattr(self, name) is not None:
                try:
                    free()
                except Exception as exc:
                    self.warnings.append(f"{name} clean-up: {_why(exc)}")

    def _settle(self) -> None:
        """After a failure: let pending copies finish before buffers are freed (status ignored)."""
        with contextlib.suppress(Exception):
            self.cudart.cudaDeviceSynchronize()

    # ---- helper vs raw, interleaved (pageable) ---------------------------- #
    def measure_helper_vs_raw(self, res: SizeResources) -> dict[str, Any]:
        cu, cudart, check, n = self.cu, self.cudart, self.check, res.nbytes
        dev, raw, src, dst = res.dev, res.raw_dev, res.src, res.dst
        dev.set_stream(None)
        src_ptr, dst_ptr = src.ctypes.data, dst.ctypes.data
        h2d_kind, d2h_kind = self.H2D, self.D2H
        pairs = {
            "h2d": (
                lambda: cu.cuda_memcpy_h2d(src, dev),
                lambda: check(cudart.cudaMemcpy(raw, src_ptr, n, h2d_kind), "cudaMemcpy(HostToDevice)"),
            ),
            "d2h": (
                lambda: cu.cuda_memcpy_d2h(dev, dst),
                lambda: check(cudart.cudaMemcpy(dst_ptr, raw, n, d2h_kind), "cudaMemcpy(DeviceToHost)"),
            ),
        }
        reps = self._repeats_for(n)
        out: dict[str, Any] = {"bytes": n, "repeats": reps, "timer": "wallclock", "interleaved": True}
        clock, sync = time.perf_counter, self.sync_device
        for direction, (helper, raw_fn) in pairs.items():
            for _ in range(self._warmup_for(n)):
                helper()
                raw_fn()
                sync()
            th, tr = [], []
            with _gc_paused():
                for _ in range(reps):
                    t0 = clock()
                    helper()
                    sync()
                    th.append(clock() - t0)
                    t0 = clock()
                    raw_fn()
                    sync()
                    tr.append(clock() - t0)
            h = statistics.median(n / t / 1e9 for t in th)
            r = statistics.median(n / t / 1e9 for t in tr)
            out[direction] = {
                "helper_gbps_median": round(h, 4),
                "raw_gbps_median": round(r, 4),
                "ratio": round(h / r, 4),
            }
        return out

    # ---- per-call overhead at 4 KiB -------------------------------------- #
    def measure_overhead(self) -> dict[str, Any]:
        cu, cudart, check, n = self.cu, self.cudart, self.check, OVERHEAD_BYTES
        src, dst = make_pattern(n), page_aligned_zeros(n)
        src_ptr, dst_ptr = src.ctypes.data, dst.ctypes.data
        h2d_kind, d2h_kind = self.H2D, self.D2H
        calls = self.overhead_calls
        result: dict[str, Any] = {
            "bytes": n,
            "calls": calls,
            "timer": (
                "time.perf_counter() around each call alone, cudaDeviceSynchronize() after each call outside the "
                "timed region; helper and raw calls alternate; overhead_us = median(helper) - median(raw)"
            ),
            "raw": "cudart.cudaMemcpy(...) with its (err,) tuple checked (check_cuda)",
            "helper": "cuda_memcpy_h2d / cuda_memcpy_d2h with a numpy array and a CudaBuffer",
        }
        with cu.CudaBuffer(n, np.uint8) as dev:
            raw = check(cudart.cudaMalloc(n), "cudaMalloc")
            try:
                pairs = {
                    "h2d": (
                        lambda: cu.cuda_memcpy_h2d(src, dev),
                        lambda: check(cudart.cudaMemcpy(raw, src_ptr, n, h2d_kind), "cudaMemcpy"),
                    ),
                    "d2h": (
                        lambda: cu.cuda_memcpy_d2h(dev, dst),
                        lambda: check(cudart.cudaMemcpy(dst_ptr, raw, n, d2h_kind), "cudaMemcpy"),
                    ),
                }
                clock, sync = time.perf_counter, self.sync_device
                for direction, (helper, raw_fn) in pairs.items():
                    for _ in range(100):
                        helper()
                        raw_fn()
                        sync()
                    th, tr = [], []
                    with _gc_paused():
                        for _ in range(calls):
                            t0 = clock()
                            helper()
                            t1 = clock()
                            sync()
                            th.append(t1 - t0)
                            t0 = clock()
                            raw_fn()
                            t1 = clock()
                            sync()
                            tr.append(t1 - t0)
                    h, r = statistics.median(th) * 1e6, statistics.median(tr) * 1e6
                    result[direction] = {
                        "helper_us": round(h, 3),
                        "raw_us": round(r, 3),
                        "overhead_us": round(h - r, 3),
                    }
                if not np.array_equal(dst, src):
                    raise RuntimeError("4 KiB round trip returned different bytes")
            finally:
                self._soft(cudart.cudaFree(raw), "cudaFree")
        return result

    # ---- the whole run --------------------------------------------------- #
    def available(self, spec: MethodSpec) -> bool:
        return spec.requires is None or getattr(self, spec.requires) is not None

    def run(self) -> None:
        print(
            f"{PROG}: per-call overhead at {format_bytes(OVERHEAD_BYTES)} ({self.overhead_calls} calls each)",
            flush=True,
        )
        try:
            self.overhead = self.measure_overhead()
        except Exception as exc:
            self._settle()
            self.overhead = {"bytes": OVERHEAD_BYTES, "calls": self.overhead_calls, "skipped": _why(exc)}
        specs = [s for s in METHODS if self.available(s)]
        for n in self.sizes:
            started = time.perf_counter()
            try:
                res = SizeResources(self.cu, n)
            except Exception as exc:  # e.g. MemoryError for the pageable host arrays
                why = f"host arrays: {_why(exc)}"
                for spec in specs:
                    self.results.extend(skipped_row(spec.name, d, n, spec.timer, why) for d in DIRECTIONS)
                continue
            try:
                for spec in specs:
                    rows = self.run_method(spec, res)
                    self.results.extend(rows)
                    print(
                        f"{PROG}: {format_bytes(n):>7} {spec.name:<30} "
                        + "  ".join(
                            f"{r['direction']} " + ("skipped" if r["skipped"] else f"{r['gbps_median']:7.2f} GB/s")
                            for r in rows
                        ),
                        flush=True,
                    )
                if n == self.ratio_bytes:
                    try:
                        self.helper_vs_raw = self.measure_helper_vs_raw(res)
                    except Exception as exc:
                        self._settle()
                        self.helper_vs_raw = {"bytes": n, "interleaved": True, "skipped": _why(exc)}
            finally:
                self.warnings.extend(f"{format_bytes(n)} clean-up: {e}" for e in res.close())
                self._release_frameworks()
            print(f"{PROG}: {format_bytes(n)} done in {time.perf_counter() - started:.1f} s", flush=True)


# --------------------------------------------------------------------------- #
# Environment description                                                      #
# --------------------------------------------------------------------------- #
def _version(dist: str, module: Any = None) -> str | None:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:
        return getattr(module, "__version__", None)


def _driver_release() -> str | None:
    """The driver's own version string (e.g. 580.159.04) from nvidia-smi, when it is there."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    try:
        proc = subprocess.run(
            [exe, "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except Exception:
        return None
    lines = proc.stdout.strip().splitlines()
    return lines[0].strip() if proc.returncode == 0 and lines else None


def describe_environment(cu: Any, bench: Bench) -> dict[str, Any]:
    cudart, check = cu.cudart, cu.check_cuda

    def ask(fn: Callable[[], Any], what: str) -> Any:
        try:
            return fn()
        except Exception as exc:
            bench.warnings.append(f"{what}: {_why(exc)}")
            return None

    props = ask(lambda: check(cudart.cudaGetDeviceProperties(0), "cudaGetDeviceProperties"), "device name")
    name = getattr(props, "name", None) or b"unknown device"
    if isinstance(name, (bytes, bytearray)):
        name = bytes(name).split(b"\0", 1)[0].decode(errors="replace")
    import cuda.bindings

    return {
        "device": str(name).replace("\0", "").strip(),
        "driver": ask(lambda: check(cudart.cudaDriverGetVersion(), "cudaDriverGetVersion"), "driver version"),
        "driver_release": _driver_release(),
        "runtime": ask(lambda: check(cudart.cudaRuntimeGetVersion(), "cudaRuntimeGetVersion"), "runtime version"),
        "cuda_bindings": _version("cuda-bindings", cuda.bindings),
        "numpy": np.__version__,
        "cupy": None if bench.cupy is None else bench.cupy.__version__,
        "torch": None if bench.torch is None else bench.torch.__version__,
        "python": platform.python_version(),
    }


# --------------------------------------------------------------------------- #
# Entry point                                                                 #
# --------------------------------------------------------------------------- #
def _load_common() -> tuple[Any, str | None]:
    """Import cuda_python_common; returns (module, None) or (None, why not)."""
    sys.path.insert(0, str(SAMPLES_DIR))
    try:
        import cuda_python_common as cu
    except ImportError as exc:
        return None, f"cannot import cuda_python_common (cuda-bindings installed?): {exc}"
    return cu, cu.gpu_unavailable_reason()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[1].replace("\n", " "))
    parser.add_argument("--quick", action="store_true", help="sizes up to 64 MiB and 10 repetitions: a short run")
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"results JSON to write (default: {DEFAULT_OUT.relative_to(ROOT)})",
    )
    parser.add_argument("--strict", action="store_true", help="exit with status 1 when a target FAILs")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cu, why = _load_common()
    if why is not None:
        print(f"{PROG}: cannot run: {why}", file=sys.stderr)
        return EXIT_GPU_UNAVAILABLE

    started = time.perf_counter()
    bench = Bench(cu, args)
    try:
        try:
            bench.start()
        except Exception as exc:  # a device that is listed but cannot be used
            print(f"{PROG}: cannot run: CUDA set-up failed: {_why(exc)}", file=sys.stderr)
            return EXIT_GPU_UNAVAILABLE
        env = describe_environment(cu, bench)
        print(
            f"{PROG}: {env['device']}, driver CUDA {format_cuda_version(env['driver'])}, "
            f"{'quick' if args.quick else 'full'} run, sizes "
            f"{', '.join(format_bytes(n) for n in bench.sizes)}",
            flush=True,
        )
        for note in bench.notes.values():
            print(f"{PROG}: {note}", flush=True)
        bench.run()
    finally:
        bench.close()

    now = dt.datetime.now(dt.timezone.utc)
    doc: dict[str, Any] = {
        "synthetic": False,
        **env,
        "date": now.date().isoformat(),
        "timestamp": now.replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "quick": bool(args.quick),
        "repeats": bench.repeats,
        "repeats_small": bench.repeats * SMALL_FACTOR,
        "small_bytes": SMALL_BYTES,
        "sizes": list(bench.sizes),
        "gbps_unit": "1e9 bytes/s",
        "timers": TIMERS,
        "methods": [
            {
                "name": s.name,
                "timer": s.timer,
                "description": s.description,
                "available": bench.available(s),
                "note": None if bench.available(s) else bench.notes.get(s.requires or ""),
            }
            for s in METHODS
        ],
        "results": bench.results,
        "overhead_us": bench.overhead,
        "helper_vs_raw": bench.helper_vs_raw or {"bytes": bench.ratio_bytes, "skipped": "not measured"},
        "warnings": bench.warnings,
        "duration_s": round(time.perf_counter() - started, 1),
    }
    doc["targets"] = compute_targets(doc)

    out = args.out if args.out.is_absolute() else Path.cwd() / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, out)

    print()
    print(format_report(doc))
    for w in bench.warnings:
        print(f"warning: {w}")
    print(f"\n{PROG}: wrote {out} in {doc['duration_s']:.0f} s")
    if args.strict and doc["targets"]["all_pass"] is False:
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; nothing written", file=sys.stderr)
        sys.exit(130)
