# SPDX-License-Identifier: Apache-2.0
"""The benchmark's transfers part: host <-> device copy rates, and the helpers
against the raw binding (``bench.py transfers``).

* Host->device ("h2d") and device->host ("d2h") rates in GB/s (1e9 bytes/s)
  per transfer size for the copy paths the samples use, the raw
  ``cuda.bindings`` calls, ``cuda.core``, CuPy and PyTorch (where importable),
  each also as a share of the fastest method at that size and direction.
* The helpers against the raw binding, interleaved (helper, raw, raw,
  helper, ...) so that drift affects both alike: the time of one 4 KiB
  pageable synchronous call (median of 5,000 calls each: the per-call
  overhead), the pinned async rate at 64 KiB and 1 MiB (each copy timed warm,
  after an untimed one of the same call), and the pageable rate at 256 MiB.
* The helpers against CuPy and PyTorch side by side at every size, on the same
  memory and stream (``side_by_side.py``): what the frameworks target judges.

Synchronous methods are timed "wallclock", stream-ordered ones with "events"
(:data:`TIMERS`); the per-call overhead times the call alone. Every point
starts with warm-up copies, then at least 10 timed repetitions, of which the
median, minimum and maximum rate are reported. Every d2h row and every
comparison is checked against the bytes that went up ("verified"). A point
that cannot be measured (a 1 GiB pinned allocation that fails) is recorded
with ``"skipped": "<why>"`` and the run goes on.

Blocks of ``results.json``: ``results`` (one row per method, direction and
size), ``overhead_us``, ``helper_vs_raw``, ``frameworks``, ``methods`` and the run's
``sizes``, ``repeats``, ``repeats_small``, ``small_bytes``, ``timers``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

import side_by_side
from render_results import format_bytes, pct, ratios_to_best
from targets import DIRECTIONS, OVERHEAD_BYTES, PINNED_COMPARED, RATIO_BYTES
from timing import GiB, Gpu, KiB, MiB, say, time_interleaved, why
from transfer_methods import (
    METHODS,
    MethodSpec,
    SizeResources,
    helper_copies,
    raw_copies,
)

SIZES_FULL = (4 * KiB, 64 * KiB, 1 * MiB, 16 * MiB, 256 * MiB, 1 * GiB)
SIZES_QUICK = (4 * KiB, 64 * KiB, 1 * MiB, 16 * MiB, 64 * MiB)
REPEATS_FULL, REPEATS_QUICK = 20, 10  # timed repetitions per point; >= 10
SMALL_BYTES, SMALL_FACTOR = 1 * MiB, 5  # at or below: 5 times the repetitions
OVERHEAD_CALLS_FULL, OVERHEAD_CALLS_QUICK = 5000, 1000
PINNED_CALLS_FULL, PINNED_CALLS_QUICK = 2000, 500  # interleaved pinned pairs
TIMERS = {
    "events": (
        "cudaEventRecord(start, stream); copy; cudaEventRecord(end, stream); "
        "cudaEventSynchronize(end); cudaEventElapsedTime(start, end) -- one copy "
        "per sample, on the method's non-blocking stream"
    ),
    "wallclock": (
        "time.perf_counter() before the call and after the call plus "
        "cudaDeviceSynchronize() -- one copy per sample"
    ),
}


# ---- rows of results.json (pure) ---------------------------------------- #
def summarize(
    method: str,
    direction: str,
    nbytes: int,
    seconds: Sequence[float],
    timer: str,
    verified: bool | None = None,
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
        "ratio_to_best": None,  # filled in by add_ratios once the run is complete
    }


def skipped_row(
    method: str, direction: str, nbytes: int, timer: str, reason: str
) -> dict[str, Any]:
    return {
        **summarize(method, direction, nbytes, [1.0], timer),
        **dict.fromkeys(("gbps_median", "gbps_min", "gbps_max", "time_us_median")),
        "repeats": 0,
        "skipped": reason,
    }


def add_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Record each row's share of the fastest method at its size and direction."""
    for row, ratio in zip(rows, ratios_to_best(rows), strict=True):
        row["ratio_to_best"] = ratio
    return rows


def comparison(
    helper_s: Sequence[float], raw_s: Sequence[float], nbytes: int
) -> dict[str, float]:
    """Helper against raw from interleaved per-copy times of one direction."""
    h = statistics.median(nbytes / max(t, 1e-9) / 1e9 for t in helper_s)
    r = statistics.median(nbytes / max(t, 1e-9) / 1e9 for t in raw_s)
    return {
        "helper_gbps_median": round(h, 4),
        "raw_gbps_median": round(r, 4),
        "ratio": round(h / r, 4),
    }


def overhead(helper_s: Sequence[float], raw_s: Sequence[float]) -> dict[str, float]:
    """Per-call times (median, µs) and the helper's overhead over the raw call."""
    h, r = statistics.median(helper_s) * 1e6, statistics.median(raw_s) * 1e6
    return {
        "helper_us": round(h, 3),
        "raw_us": round(r, 3),
        "overhead_us": round(h - r, 3),
    }


# ---- measuring ------------------------------------------------------------ #
def available(gpu: Gpu, spec: MethodSpec) -> bool:
    return spec.requires is None or getattr(gpu, spec.requires) is not None


def _repeats(gpu: Gpu, nbytes: int) -> tuple[int, int]:
    """(timed repetitions, warm-up copies) for a point of ``nbytes``."""
    reps = REPEATS_QUICK if gpu.quick else REPEATS_FULL
    if nbytes <= SMALL_BYTES:
        reps *= SMALL_FACTOR
    return reps, 5 if nbytes <= 16 * MiB else 2


def run_method(gpu: Gpu, spec: MethodSpec, res: SizeResources) -> list[dict[str, Any]]:
    """Both directions of one method at one size; d2h verified against the source."""
    n, timer = res.nbytes, spec.timer
    try:
        plan = spec.build(gpu, res)
    except Exception as exc:
        return [
            skipped_row(spec.name, d, n, timer, f"setup failed: {why(exc)}")
            for d in DIRECTIONS
        ]
    if plan.stream is not None:
        measure = gpu.on_stream(plan.stream)
    else:
        measure = gpu.until_synced(plan.sync or gpu.sync_device)

    def finish() -> None:
        if plan.stream is not None:
            gpu.sync_stream(plan.stream)
        (plan.sync or gpu.sync_device)()

    rows: list[dict[str, Any]] = []
    try:
        try:
            times = time_interleaved([plan.h2d], measure, *_repeats(gpu, n))[0]
            rows.append(summarize(spec.name, "h2d", n, times, timer))
        except Exception as exc:
            rows.append(skipped_row(spec.name, "h2d", n, timer, why(exc)))
            gpu.settle()
        try:
            plan.h2d()  # the device holds the pattern, whatever the timings did
            finish()
            plan.reset_output()
            finish()
            times = time_interleaved([plan.d2h], measure, *_repeats(gpu, n))[0]
            finish()
            out = plan.output()
            verified = out is not None and bool(np.array_equal(out, res.src))
            rows.append(summarize(spec.name, "d2h", n, times, timer, verified))
            if rows[0]["skipped"] is None:
                rows[0]["verified"] = verified  # the round trip checks h2d too
        except Exception as exc:
            rows.append(skipped_row(spec.name, "d2h", n, timer, why(exc)))
            gpu.settle()
    finally:
        gpu.soft(plan.cleanup)
    return rows


def _pairs(gpu: Gpu, res: SizeResources, src: Any, dst: Any, stream: Any) -> tuple:
    """(helper, raw) for h2d and for d2h, between the same arrays and sizes."""
    helper = helper_copies(gpu, res, src, dst, stream)
    raw = raw_copies(gpu, res, src, dst, stream)
    return (helper.h2d, raw.h2d), (helper.d2h, raw.d2h)


def compare(gpu: Gpu, memory: str, res: SizeResources) -> dict[str, Any]:
    """Helper and raw copies of ``res.nbytes``, interleaved, both directions.

    ``memory="pinned"``: the helpers with ``stream=`` against
    ``cudaMemcpyAsync`` on pinned arrays, event-timed, each copy warm
    (:meth:`timing.Gpu.on_stream_warm`). ``"pageable"``: the
    synchronous helpers against ``cudaMemcpy``, timed until synchronized.
    """
    n = res.nbytes
    if memory == "pinned":
        src, dst, stream = res.pinned_src, res.pinned_dst, gpu.stream
        measure, timer = gpu.on_stream_warm(stream), "events"
        reps = PINNED_CALLS_QUICK if gpu.quick else PINNED_CALLS_FULL
        warmup = 50
    else:
        src, dst, stream = res.src, res.dst, None
        measure, timer = gpu.until_synced(gpu.sync_device), "wallclock"
        reps, warmup = _repeats(gpu, n)
    entry: dict[str, Any] = {
        "memory": memory,
        "bytes": n,
        "repeats": reps,
        "timer": timer,
        "interleaved": True,
    }
    pairs = _pairs(gpu, res, src, dst, stream)
    for direction, pair in zip(DIRECTIONS, pairs, strict=True):
        if direction == "d2h":
            dst.fill(0)
        entry[direction] = comparison(*time_interleaved(pair, measure, reps, warmup), n)
    if stream is not None:
        gpu.sync_stream(stream)
    gpu.sync_device()
    entry["verified"] = bool(np.array_equal(dst, src))
    return entry


def measure_overhead(gpu: Gpu, calls: int) -> dict[str, Any]:
    """The time of one small pageable synchronous call, helper against raw."""
    result: dict[str, Any] = {
        "bytes": OVERHEAD_BYTES,
        "calls": calls,
        "interleaved": True,
        "timer": (
            "time.perf_counter() around each call alone, cudaDeviceSynchronize() "
            "after each call outside the timed region; helper and raw calls "
            "interleaved; overhead_us = median(helper) - median(raw)"
        ),
        "raw": "cudart.cudaMemcpy(...) with its (err,) tuple checked (check_cuda)",
        "helper": "cuda_memcpy_h2d / cuda_memcpy_d2h, a numpy array, a CudaBuffer",
    }
    res = SizeResources(gpu, OVERHEAD_BYTES)
    try:
        pairs = _pairs(gpu, res, res.src, res.dst, None)
        for direction, pair in zip(DIRECTIONS, pairs, strict=True):
            th, tr = time_interleaved(pair, gpu.call_only(gpu.sync_device), calls, 100)
            result[direction] = overhead(th, tr)
        if not np.array_equal(res.dst, res.src):
            raise RuntimeError("the 4 KiB round trip returned different bytes")
    finally:
        gpu.warnings.extend(f"overhead clean-up: {e}" for e in res.close())
    return result


def stub(skipped: str | None) -> dict[str, Any]:
    """The part's blocks without measurements (a file whose transfers never ran)."""
    note = {"skipped": skipped}
    return {
        "sizes": [],
        "repeats": REPEATS_FULL,
        "repeats_small": REPEATS_FULL * SMALL_FACTOR,
        "small_bytes": SMALL_BYTES,
        "gbps_unit": "1e9 bytes/s",
        "timers": TIMERS,
        "methods": [],
        "results": [],
        "overhead_us": note,
        "helper_vs_raw": [],
        "frameworks": [],
    }


def measure(gpu: Gpu) -> dict[str, Any]:
    """Every method at every size, the per-call overhead and the comparisons."""
    sizes = SIZES_QUICK if gpu.quick else SIZES_FULL
    ratio_bytes = RATIO_BYTES if RATIO_BYTES in sizes else max(sizes)
    calls = OVERHEAD_CALLS_QUICK if gpu.quick else OVERHEAD_CALLS_FULL
    say(f"per-call overhead at {format_bytes(OVERHEAD_BYTES)} ({calls} calls each)")
    what = {"bytes": OVERHEAD_BYTES, "calls": calls}
    overhead_us = gpu.guarded(what, lambda: measure_overhead(gpu, calls))
    specs = [s for s in METHODS if available(gpu, s)]
    results: list[dict[str, Any]] = []
    helper_vs_raw: list[dict[str, Any]] = []
    frameworks: list[dict[str, Any]] = []
    for n in sizes:
        started = time.perf_counter()
        try:
            res = SizeResources(gpu, n)
        except Exception as exc:  # e.g. MemoryError for the pageable arrays
            reason = f"host arrays: {why(exc)}"
            results += [
                skipped_row(s.name, d, n, s.timer, reason)
                for s in specs
                for d in DIRECTIONS
            ]
            continue
        try:
            for spec in specs:
                rows = run_method(gpu, spec, res)
                results.extend(rows)
                say(f"{format_bytes(n):>7} {spec.name:<36} {_rates(rows)}")
            memories = ["pinned"] if n in PINNED_COMPARED else []
            memories += ["pageable"] if n == ratio_bytes else []
            for memory in memories:
                entry = gpu.guarded(
                    {"memory": memory, "bytes": n},
                    lambda m=memory, r=res: compare(gpu, m, r),
                )
                helper_vs_raw.append(entry)
                say(f"{format_bytes(n):>7} helpers vs raw, {memory}: {_ratios(entry)}")
            side = gpu.guarded({"bytes": n}, lambda r=res: side_by_side.measure(gpu, r))
            frameworks.append(side)
            say(f"{format_bytes(n):>7} side by side: {_side(side)}")
        finally:
            gpu.warnings.extend(f"{format_bytes(n)} clean-up: {e}" for e in res.close())
            gpu.release_frameworks()
        say(f"{format_bytes(n)} done in {time.perf_counter() - started:.1f} s")
    repeats = REPEATS_QUICK if gpu.quick else REPEATS_FULL
    methods = [
        {
            "name": s.name,
            "timer": s.timer,
            "description": s.description,
            "available": available(gpu, s),
            "note": None if available(gpu, s) else gpu.notes.get(s.requires or ""),
        }
        for s in METHODS
    ]
    return {
        **stub(None),
        "sizes": list(sizes),
        "repeats": repeats,
        "repeats_small": repeats * SMALL_FACTOR,
        "methods": methods,
        "results": add_ratios(results),
        "overhead_us": overhead_us,
        "helper_vs_raw": helper_vs_raw,
        "frameworks": frameworks,
    }


def _rates(rows: list[dict[str, Any]]) -> str:
    return "  ".join(
        f"{r['direction']} "
        + ("skipped" if r["skipped"] else f"{r['gbps_median']:7.2f} GB/s")
        for r in rows
    )


def _ratios(entry: dict[str, Any]) -> str:
    if entry.get("skipped"):
        return f"skipped ({entry['skipped']})"
    return ", ".join(f"{d} {pct(entry[d]['ratio'])}" for d in DIRECTIONS)


def _side(entry: dict[str, Any]) -> str:
    if entry.get("skipped"):
        return f"skipped ({entry['skipped']})"
    return "; ".join(
        f"{d} " + ", ".join(f"{name} {gbps:.2f}" for name, gbps in entry[d].items())
        for d in DIRECTIONS
    )
