# SPDX-License-Identifier: Apache-2.0
"""Host <-> device transfer benchmark for the gallery's copy helpers.

    nox -s bench [-- --quick] [-- --strict]
    PYTHONPATH=samples/interoperability \\
        python docs/performance/bench_transfers.py [--quick] [--out PATH] [--strict]
    python docs/performance/bench_transfers.py --upgrade PATH

The benchmark imports the samples' ``preflight`` and ``cuda_python_common``
modules, so ``samples/interoperability`` must be on ``PYTHONPATH`` (the nox
sessions set it). It renders its report with ``render_results.py``, which lies
beside it: the folder of a script is on ``sys.path`` when it runs.

What it measures, all in one run on one device, written to
``docs/performance/results.json`` (the docs render that file with
``render_results.py``):

* Host->device ("h2d") and device->host ("d2h") rates in GB/s (1e9 bytes/s)
  per transfer size for the copy paths the samples use, the raw
  ``cuda.bindings`` calls, ``cuda.core``, CuPy and PyTorch (where importable),
  each also as a share of the fastest method at that size and direction.
* The helpers against the raw binding, interleaved (helper, raw, raw,
  helper, ...) so that drift affects both alike: the time of one 4 KiB
  pageable synchronous call (median of 5,000 calls each: the per-call
  overhead), the pinned async rate at 64 KiB and 1 MiB, and the pageable rate
  at 256 MiB.
* The overlapped batch of Approach 3 (16 pinned 1080x1920x3 uint8 frames: copy
  up, ``cvcuda.flip_into``, copy down) with 1, 2, 3 and 4 streams and buffer
  sets, against the bidirectional ceiling: raw ``cudaMemcpyAsync`` of the same
  frames up on one stream and down on another, issued interleaved, no kernel.
* PyTorch and CuPy with CV-CUDA (the ``interop`` block; skipped with the
  reason where torch or CV-CUDA is missing): the time per call of
  ``cvcuda.flip_into`` of a 1080x1920x3 uint8 torch tensor on a non-default
  torch stream while another stream has about 2 ms of work queued (torch's
  legacy default stream, then a non-blocking torch stream), with the tensor
  handed over three ways: torch's interface as exported (CAI v2, no stream),
  a CAI v3 wrapper naming torch's stream, and DLPack. And the host time of
  one wrap call (``cvcuda.as_tensor`` of each library's object, and each
  library's way back), with the pointers compared.

The ``interop`` block of ``results.json`` (optional: older files lack it):
``frame_shape``, ``operator``, ``timer``, ``reps``, ``busy`` (per scenario:
``label``, ``stream`` and the measured ``busy_us``), ``stream_wait`` (rows of
``busy``, ``way``, ``label``, ``us_median``, ``us_min``, ``us_max``,
``verified``), ``wrap_calls``, ``wrap_us`` (rows of ``library``,
``direction``, ``call``, ``us_median``, ``zero_copy``, ``skipped``), and
``skipped`` / ``stream_wait_skipped`` / ``wrap_skipped`` (why a part was not
measured, else None).

* JPEG decode to a CV-CUDA tensor (the ``decode`` block; skipped with the
  reason where nvImageCodec or CV-CUDA is missing): matplotlib's sample photo
  (``grace_hopper.jpg``, 600x512) decoded by nvImageCodec on the GPU and
  wrapped by ``cvcuda.as_tensor``, one image per call and a batch of 8 per
  call, against the host path of the other samples: Pillow's decode, then a
  copy up (into pinned memory and ``cuda_memcpy_h2d`` with ``stream=``, or the
  pageable array and a blocking copy) and ``cvcuda.as_tensor``. Per path: ms
  per image and images/s (median, interleaved, until the stream is
  synchronized); each path's output checked against Pillow's pixels. And the
  one-time cost of the first ``Decoder()`` and decode.

The ``decode`` block of ``results.json`` (optional: older files lack it):
``image``, ``shape``, ``jpeg_bytes``, ``batch`` (images per batch call),
``timer``, ``reps``, ``warmup``, ``import_ms`` (``import nvidia.nvimgcodec``),
``init_ms`` (first ``Decoder()`` and its first decode, stream synchronized),
``nvimgcodec`` and ``pillow`` (versions), ``paths`` (rows of ``kind`` "gpu" or
"host", ``path``, ``images_per_call``, ``ms_per_image``, ``ms_min``,
``ms_max``, ``images_per_s``, ``verified``, ``skipped``) and ``skipped``.

How it is timed
---------------
* Synchronous methods ("wallclock"): ``time.perf_counter()`` before the call
  and after the call *and* a following ``cudaDeviceSynchronize`` (PyTorch
  pinned: ``torch.cuda.synchronize()``), one copy per sample.
* Stream-ordered methods ("events"): ``cudaEventRecord`` on the copy's stream
  before and after the copy, ``cudaEventSynchronize`` on the end event and
  ``cudaEventElapsedTime``, one copy per sample.
* The per-call overhead: ``time.perf_counter()`` around the call alone, the
  device synchronized after it, outside the timed region.
* The batch and the ceiling: ``time.perf_counter()`` from the first call to
  the last stream synchronize; the best of 3 runs after a warm-up.

Every point starts with warm-up copies, then at least 10 timed repetitions, of
which the median, minimum and maximum rate are reported. Every d2h row, every
comparison and every batch run is checked against the bytes that went up
("verified"). A point that cannot be measured (a 1 GiB pinned allocation that
fails, CV-CUDA not installed) is recorded with ``"skipped": "<why>"`` and the
run goes on. The targets are checked on the same run and printed PASS/FAIL.

``--upgrade PATH`` rewrites a results file in the current schema, in place and
without a GPU: the measured numbers stay, the ratios and the targets are
computed afresh.

Exit status: 0 when the results were written (``--strict``: 1 if a target
FAILs), 3 when no GPU is usable (one line says why, nothing is written).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from render_results import (
    SCHEMA,
    format_bytes,
    format_cuda_version,
    format_text,
    pct,
    ratios_to_best,
)

try:
    import preflight  # from samples/interoperability, on PYTHONPATH
except ImportError:  # main() says how to fix it, in one line
    preflight = None
try:
    import numpy as np
except ImportError:  # preflight says what to install
    np = None

PROG = "bench_transfers.py"
HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results.json"
#: preflight.EXIT_GPU_UNAVAILABLE, for when preflight itself cannot be imported
#: (the tests check that the two agree).
EXIT_NO_PREFLIGHT = 3

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
PAGE = 4 * KiB
SIZES_FULL = (4 * KiB, 64 * KiB, 1 * MiB, 16 * MiB, 256 * MiB, 1 * GiB)
SIZES_QUICK = (4 * KiB, 64 * KiB, 1 * MiB, 16 * MiB, 64 * MiB)
REPEATS_FULL, REPEATS_QUICK = 20, 10  # timed repetitions per point; >= 10
SMALL_BYTES = 1 * MiB  # at or below: SMALL_FACTOR times the repetitions
SMALL_FACTOR = 5
OVERHEAD_BYTES = 4 * KiB
OVERHEAD_CALLS_FULL, OVERHEAD_CALLS_QUICK = 5000, 1000
PINNED_CALLS_FULL, PINNED_CALLS_QUICK = 2000, 500  # interleaved pinned pairs
RATIO_BYTES = 256 * MiB  # pageable helper vs raw; --quick: its largest size

FRAMES, FRAME_SHAPE = 16, (1080, 1920, 3)
SLOT_COUNTS = (1, 2, 3, 4)
BATCH_RUNS = 15

# PyTorch and CuPy with CV-CUDA (the "interop" block).
INTEROP_REPS_FULL, INTEROP_REPS_QUICK = 30, 10  # calls per cell; >= 10
WRAP_CALLS_FULL, WRAP_CALLS_QUICK = 2000, 500
DECODE_IMAGE = "grace_hopper.jpg"  # matplotlib's sample photo, 600x512 RGB
DECODE_BATCH = 8  # images per batch decode call
DECODE_REPS_FULL, DECODE_REPS_QUICK = 50, 20  # timed calls per path; >= 10
DECODE_WARMUP = 5
#: JPEG decoders round the inverse DCT and the chroma upsampling differently, and
#: nvImageCodec picks its decoder per call: on the H200 one image came within 1
#: of Pillow's pixels, a batch of 8 within 3 (mean 0.02).
GPU_DECODE_MAX_DIFF = 4
BUSY_MS = 2.0  # work queued on the busy stream before each call
#: How the torch tensor reaches CV-CUDA: (key, label).
INTEROP_WAYS = (
    ("cai_v2", "torch's interface as exported (CAI v2, no stream)"),
    ("cai_v3", "CAI v3 naming torch's stream"),
    ("dlpack", "DLPack (an object with only __dlpack__)"),
)

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
OVERHEAD_MAX_US = 1.5
PINNED_RAW_MIN = {64 * KiB: 0.70, 1 * MiB: 0.90}  # helpers pinned / raw async
BATCH_MIN_RATIO = 0.95  # overlapped batch / bidirectional ceiling
PINNED_TARGET_RATIO = 0.95  # helpers pinned / fastest method ...
PINNED_TARGET_MIN_BYTES = 16 * MiB  # ... at every size from here up
HELPER_RAW_MIN_RATIO = 0.97  # helpers pageable / raw cudaMemcpy at RATIO_BYTES

TIMERS = {
    "events": (
        "cudaEventRecord(start, stream); copy; cudaEventRecord(end, stream); "
        "cudaEventSynchronize(end); cudaEventElapsedTime(start, end) -- one copy "
        "per sample, on the method's non-blocking stream"
    ),
    "wallclock": (
        "time.perf_counter() before the call and after the call plus "
        "cudaDeviceSynchronize() (PyTorch pinned: torch.cuda.synchronize()) -- "
        "one copy per sample"
    ),
}


# --------------------------------------------------------------------------- #
# Pure functions (no CUDA): importable anywhere, tested with synthetic data   #
# --------------------------------------------------------------------------- #
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
    method: str, direction: str, nbytes: int, timer: str, why: str
) -> dict[str, Any]:
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
        "ratio_to_best": None,
    }


def add_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Record each row's share of the fastest method at its size and direction."""
    for row, ratio in zip(rows, ratios_to_best(rows), strict=True):
        row["ratio_to_best"] = ratio
    return rows


def median_gbps(nbytes: int, seconds: Sequence[float]) -> float:
    return statistics.median(nbytes / max(t, 1e-9) / 1e9 for t in seconds)


def comparison(
    helper_s: Sequence[float], raw_s: Sequence[float], nbytes: int
) -> dict[str, float]:
    """Helper against raw from interleaved per-copy times of one direction."""
    h, r = median_gbps(nbytes, helper_s), median_gbps(nbytes, raw_s)
    return {
        "helper_gbps_median": round(h, 4),
        "raw_gbps_median": round(r, 4),
        "ratio": round(h / r, 4),
    }


def overhead(helper_s: Sequence[float], raw_s: Sequence[float]) -> dict[str, float]:
    """Per-call times (median, us) and the helper's overhead over the raw call."""
    h, r = statistics.median(helper_s) * 1e6, statistics.median(raw_s) * 1e6
    return {
        "helper_us": round(h, 3),
        "raw_us": round(r, 3),
        "overhead_us": round(h - r, 3),
    }


def batch_point(
    seconds: Sequence[float], nbytes: int, ceiling_gbps: float | None = None
) -> dict[str, Any]:
    """The best (shortest) of several runs of ``nbytes``; with a ceiling, its share."""
    best = min(seconds)
    gbps = nbytes / best / 1e9
    point: dict[str, Any] = {
        "seconds": round(best, 6),
        "gbps": round(gbps, 3),
        "runs_s": [round(s, 6) for s in seconds],
    }
    if ceiling_gbps is not None:
        point["ratio_to_ceiling"] = round(gbps / ceiling_gbps, 4)
    return point


def pipeline_bound(ceiling: dict[str, Any], frames: int) -> dict[str, Any] | None:
    """An estimate of what a pipeline of whole frames reaches, from the ceiling's rates.

    The first frame goes up alone and the last comes down alone (h2d and d2h
    alone rates); in between, each frame's download overlaps the next one's
    upload (the ceiling's average rate of both at once). Not a hard limit: that
    average includes the ceiling's own end, where one direction finishes first
    and the other then runs alone, faster. Returns its GB/s and share of the
    ceiling.
    """
    rates = [(ceiling.get(key) or {}).get("gbps") for key in ("h2d", "d2h", "both")]
    if None in rates or frames < 1:
        return None
    up, down, both = rates
    frame = 1.0  # any unit: the shares do not depend on it
    seconds = frame / up + (frames - 1) * 2 * frame / both + frame / down
    gbps = 2 * frames * frame / seconds
    return {"gbps": round(gbps, 3), "ratio_to_ceiling": round(gbps / both, 4)}


def best_slots(points: Sequence[dict[str, Any]]) -> int | None:
    """The slot count of the fastest batch whose output verified."""
    ok = [p for p in points if p.get("gbps") is not None and p.get("verified")]
    return max(ok, key=lambda p: p["gbps"])["slots"] if ok else None


def _all_pass(flags: Sequence[bool | None]) -> bool | None:
    """False if any check failed, True if all passed, else None (not evaluated)."""
    if any(f is False for f in flags):
        return False
    if flags and all(f is True for f in flags):
        return True
    return None


def _rows_by(doc: dict[str, Any]) -> dict[tuple[str, str, int], float]:
    return {
        (r["method"], r["direction"], r["bytes"]): r["gbps_median"]
        for r in doc.get("results", [])
        if r.get("gbps_median") is not None
    }


def _comparison_entry(
    doc: dict[str, Any], memory: str, nbytes: int | None
) -> dict[str, Any] | None:
    for entry in doc.get("helper_vs_raw") or ():
        if entry.get("skipped") or entry.get("memory") != memory:
            continue
        if nbytes is None or entry.get("bytes") == nbytes:
            return entry
    return None


def _helper_raw_ratios(
    doc: dict[str, Any], memory: str, nbytes: int, helper: str, raw: str
) -> tuple[dict[str, float | None], str]:
    """Per direction helper/raw at ``nbytes``: from the interleaved comparison,
    else from the rate tables; and where the ratios came from."""
    entry = _comparison_entry(doc, memory, nbytes)
    if entry is not None:
        ratios = {d: (entry.get(d) or {}).get("ratio") for d in DIRECTIONS}
        return ratios, "interleaved"
    by = _rows_by(doc)
    ratios = {}
    for d in DIRECTIONS:
        h, r = by.get((helper, d, nbytes)), by.get((raw, d, nbytes))
        ratios[d] = None if h is None or not r else round(h / r, 4)
    return ratios, "rate tables"


def _overhead_target(doc: dict[str, Any]) -> dict[str, Any]:
    ovh = doc.get("overhead_us") or {}
    extra = {d: (ovh.get(d) or {}).get("overhead_us") for d in DIRECTIONS}
    flags = [None if v is None else v <= OVERHEAD_MAX_US for v in extra.values()]
    summary = ", ".join(
        f"{d} {'n/a' if v is None else f'{v:+.2f} us'}" for d, v in extra.items()
    )
    if ovh.get("calls") and not ovh.get("skipped"):
        summary += f" (median of {ovh['calls']} interleaved calls)"
    return {
        "description": (
            f"helper overhead per call <= {OVERHEAD_MAX_US:g} us "
            f"({format_bytes(OVERHEAD_BYTES)}, pageable, synchronous)"
        ),
        "threshold_us": OVERHEAD_MAX_US,
        "overhead_us": extra,
        "pass": _all_pass(flags),
        "summary": summary,
    }


def _pinned_raw_target(doc: dict[str, Any]) -> dict[str, Any]:
    checks, parts, sources = [], [], set()
    for nbytes, threshold in sorted(PINNED_RAW_MIN.items()):
        ratios, source = _helper_raw_ratios(
            doc, "pinned", nbytes, HELPERS_PINNED, RAW_PINNED
        )
        sources.add(source)
        for d, ratio in ratios.items():
            ok = None if ratio is None else ratio >= threshold
            checks.append(
                {
                    "bytes": nbytes,
                    "direction": d,
                    "threshold": threshold,
                    "ratio": ratio,
                    "pass": ok,
                }
            )
        text = ", ".join(f"{d} {pct(r)}" for d, r in ratios.items())
        parts.append(f"{format_bytes(nbytes)}: {text}")
    wants = " and ".join(
        f">= {t:.0%} at {format_bytes(n)}" for n, t in sorted(PINNED_RAW_MIN.items())
    )
    return {
        "description": f"{HELPERS_PINNED} vs {RAW_PINNED}: {wants}",
        "checks": checks,
        "pass": _all_pass([c["pass"] for c in checks]),
        "summary": "; ".join(parts) + f" ({', '.join(sorted(sources))})",
    }


def _batch_target(doc: dict[str, Any]) -> dict[str, Any]:
    batch = doc.get("batch") or {}
    ceiling = ((batch.get("ceiling") or {}).get("both") or {}).get("gbps")
    points = [p for p in batch.get("slots") or () if p.get("gbps") is not None]
    best = best_slots(points)
    ratio, flag = None, None
    if batch.get("skipped") or ceiling is None or not points:
        why = batch.get("skipped") or (batch.get("ceiling") or {}).get("skipped")
        summary = f"not measured: {why}" if why else "not measured"
    elif best is None:
        flag, summary = False, "no batch run returned the right output"
    else:
        point = next(p for p in points if p["slots"] == best)
        ratio = point["gbps"] / ceiling
        flag = ratio >= BATCH_MIN_RATIO
        summary = (
            f"best {best} slot{'s' if best != 1 else ''}: {point['gbps']:.2f} GB/s = "
            f"{ratio:.1%} of {ceiling:.2f} GB/s"
        )
        bound = batch.get("bound")
        if bound:
            summary += (
                f"; the whole-frame estimate (first upload and last download "
                f"alone) is {bound['ratio_to_ceiling']:.1%}: "
                f"{point['gbps'] / bound['gbps']:.1%} of that"
            )
    return {
        "description": (
            f"overlapped batch >= {BATCH_MIN_RATIO:.0%} of the bidirectional "
            "copy ceiling, output verified"
        ),
        "threshold": BATCH_MIN_RATIO,
        "best_slots": best,
        "ratio": None if ratio is None else round(ratio, 4),
        "pass": flag,
        "summary": summary,
    }


def _near_best_target(doc: dict[str, Any]) -> dict[str, Any]:
    rows = [r for r in doc.get("results", []) if r.get("gbps_median") is not None]
    checks = []
    sizes = sorted(
        {
            r["bytes"]
            for r in doc.get("results", [])
            if r["bytes"] >= PINNED_TARGET_MIN_BYTES
        }
    )
    for direction in DIRECTIONS:
        for n in sizes:
            here = [r for r in rows if r["direction"] == direction and r["bytes"] == n]
            if not here:
                continue
            best = max(here, key=lambda r: r["gbps_median"])
            mine = next((r for r in here if r["method"] == HELPERS_PINNED), None)
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
            f"lowest {worst['ratio']:.1%} ({worst['direction']}, "
            f"{format_bytes(worst['bytes'])}: {worst['gbps']:.2f} vs "
            f"{worst['best_gbps']:.2f} GB/s of {worst['best_method']})"
        )
        if len(checks) > len(rated):
            summary += f"; {len(checks) - len(rated)} point(s) not measured"
    else:
        summary = "not measured"
    return {
        "description": (
            f"{HELPERS_PINNED} >= {PINNED_TARGET_RATIO:.0%} of the fastest method "
            f"at every size >= {format_bytes(PINNED_TARGET_MIN_BYTES)}"
        ),
        "threshold": PINNED_TARGET_RATIO,
        "min_bytes": PINNED_TARGET_MIN_BYTES,
        "checks": checks,
        "pass": _all_pass([c["pass"] for c in checks]),
        "summary": summary,
    }


def _pageable_raw_target(doc: dict[str, Any]) -> dict[str, Any]:
    entry = _comparison_entry(doc, "pageable", None)
    sizes = [r["bytes"] for r in doc.get("results", [])]
    nbytes = (entry or {}).get("bytes") or (
        RATIO_BYTES if RATIO_BYTES in sizes else max(sizes, default=RATIO_BYTES)
    )
    ratios, source = _helper_raw_ratios(
        doc, "pageable", nbytes, HELPERS_PAGEABLE, RAW_PAGEABLE
    )
    flags = [None if r is None else r >= HELPER_RAW_MIN_RATIO for r in ratios.values()]
    text = ", ".join(f"{d} {pct(r)}" for d, r in ratios.items())
    return {
        "description": (
            f"{HELPERS_PAGEABLE} >= {HELPER_RAW_MIN_RATIO:.0%} of {RAW_PAGEABLE} "
            f"at {format_bytes(nbytes)}"
        ),
        "bytes": nbytes,
        "threshold": HELPER_RAW_MIN_RATIO,
        "ratios": ratios,
        "pass": _all_pass(flags),
        "summary": f"{text} ({source})",
    }


def compute_targets(doc: dict[str, Any]) -> dict[str, Any]:
    """The target checks, computed from a results document.

    Each target has ``description``, ``pass`` (True/False, or None when it could
    not be evaluated) and ``summary`` (the numbers behind the verdict);
    ``all_pass`` combines them the same way.
    """
    targets = {
        "helper_overhead": _overhead_target(doc),
        "pinned_helpers_vs_raw": _pinned_raw_target(doc),
        "batch_at_ceiling": _batch_target(doc),
        "pinned_near_best": _near_best_target(doc),
        "helpers_match_raw": _pageable_raw_target(doc),
    }
    targets["all_pass"] = _all_pass([t["pass"] for t in targets.values()])
    return targets


def upgrade_results(doc: dict[str, Any]) -> dict[str, Any]:
    """A results document in the current schema, its derived numbers recomputed.

    Returns a new dict. The measured numbers stay as they are; the shares of the
    fastest method and the targets are computed afresh (so a changed target
    reaches a recorded run too). Schema 1 measured no batch and no interleaved
    pinned comparison: the batch is recorded as not measured, and the pinned
    target falls back to the rate tables.
    """
    schema = doc.get("schema", 1)
    if schema not in (1, SCHEMA):
        raise ValueError(f"unknown results schema {schema!r}")
    new = {"schema": SCHEMA, **copy.deepcopy(doc)}
    new["schema"] = SCHEMA
    add_ratios(new["results"])
    if schema == 1:
        old = new.get("helper_vs_raw")
        new["helper_vs_raw"] = [{"memory": "pageable", **old}] if old else []
        if new.get("overhead_us") and not new["overhead_us"].get("skipped"):
            new["overhead_us"]["interleaved"] = True
        new.setdefault("cvcuda", "not recorded")
        stub = _batch_stub("this run predates the batch benchmark (schema 1)")
        new.setdefault("batch", stub)
        new["schema_note"] = (
            "Recorded with results schema 1 and converted: the measured numbers "
            "are unchanged; the shares of the fastest method and the targets were "
            "recomputed. That run measured neither the batch nor the interleaved "
            "pinned comparisons; the pinned target uses its rate tables."
        )
    new.pop("targets", None)
    new["targets"] = compute_targets(new)
    return new


def _decode_stub(skipped: str | None) -> dict[str, Any]:
    """The decode block's description, without measurements."""
    return {
        "image": DECODE_IMAGE,
        "shape": None,
        "jpeg_bytes": None,
        "batch": DECODE_BATCH,
        "timer": (
            "time.perf_counter() from the call to the end of a stream "
            "synchronize (wallclock)."
        ),
        "reps": None,
        "warmup": DECODE_WARMUP,
        "import_ms": None,
        "init_ms": None,
        "nvimgcodec": None,
        "pillow": None,
        "paths": [],
        "skipped": skipped,
    }


def _interop_stub(skipped: str | None) -> dict[str, Any]:
    """The interop block's description, without measurements."""
    return {
        "frame_shape": list(FRAME_SHAPE),
        "operator": "cvcuda.flip_into",
        "timer": (
            "cudaEventRecord on the operator's torch stream before the wrap call "
            "and after the operator; the busy work is queued on the other stream "
            "just before, and the device synchronized after, outside the time."
        ),
        "reps": None,
        "busy": {},
        "stream_wait": [],
        "wrap_calls": None,
        "wrap_us": [],
        "skipped": skipped,
        "stream_wait_skipped": None,
        "wrap_skipped": None,
    }


def stream_wait_row(
    busy: str, way: str, label: str, seconds: Sequence[float], verified: bool | None
) -> dict[str, Any]:
    """One cell of the stream-wait table from per-call times in seconds."""
    us = sorted(t * 1e6 for t in seconds)
    return {
        "busy": busy,
        "way": way,
        "label": label,
        "us_median": round(statistics.median(us), 3),
        "us_min": round(us[0], 3),
        "us_max": round(us[-1], 3),
        "calls": len(us),
        "verified": verified,
    }


def wrap_row(
    library: str,
    direction: str,
    call: str,
    seconds: Sequence[float] | None,
    zero_copy: bool | None = None,
    skipped: str | None = None,
) -> dict[str, Any]:
    """One wrap-cost row: the median host time of one call, in microseconds."""
    median = None if not seconds else round(statistics.median(seconds) * 1e6, 3)
    return {
        "library": library,
        "direction": direction,
        "call": call,
        "us_median": median,
        "zero_copy": zero_copy,
        "skipped": skipped,
    }


class _CaiV3:
    """A torch tensor's CUDA Array Interface as version 3, naming ``stream``."""

    def __init__(self, tensor: Any, stream: int) -> None:
        self.tensor = tensor
        self.__cuda_array_interface__ = {
            **tensor.__cuda_array_interface__,
            "version": 3,
            "stream": stream or 1,  # 0 is ambiguous in CAI v3
        }


class _DLPackOnly:
    """An object that speaks DLPack and nothing else (CV-CUDA reads CAI first)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __dlpack__(self, **kwargs: Any) -> Any:
        return self.inner.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> Any:
        return self.inner.__dlpack_device__()


def _data_ptr(obj: Any) -> int:
    """The device pointer of a CV-CUDA tensor, torch tensor, CuPy array or view."""
    if hasattr(obj, "data_ptr"):
        return int(obj.data_ptr())  # torch
    if hasattr(obj, "cuda") and callable(obj.cuda):
        return int(obj.cuda().__cuda_array_interface__["data"][0])  # CV-CUDA
    data = getattr(obj, "data", None)
    if hasattr(data, "ptr"):
        return int(data.ptr)  # CuPy
    return int(obj.ptr)  # CudaBuffer, StridedMemoryView


def _batch_stub(skipped: str | None) -> dict[str, Any]:
    """The batch section's description, without measurements."""
    return {
        "frames": FRAMES,
        "frame_shape": list(FRAME_SHAPE),
        "bytes": 2 * FRAMES * FRAME_SHAPE[0] * FRAME_SHAPE[1] * FRAME_SHAPE[2],
        "runs": BATCH_RUNS,
        "timer": (
            "time.perf_counter() from the first call to the last stream "
            "synchronize; best of the runs after a warm-up; slot counts and "
            "ceiling variants interleaved"
        ),
        "ceiling": {},
        "bound": None,
        "slots": [],
        "best_slots": None,
        "timeline": None,
        "skipped": skipped,
    }


#: ``mark(stream, label, call)``: run ``call``, timed on the GPU on ``stream``.
Marker = Callable[[Any, dict[str, Any], Callable[[], Any]], None]


class Timeline:
    """GPU timestamps of each call of one run: an event recorded on the call's
    stream before and after it, read as milliseconds since an origin event.

    Used as a context manager: the events for ``marks`` calls are created on
    entry, so that creating them does not sit between the calls, and destroyed
    on exit. Read :meth:`spans` inside it, once the run has synchronised.
    """

    def __init__(
        self, cudart: Any, check: Callable, origin_stream: Any, marks: int
    ) -> None:
        self.cudart, self.check = cudart, check
        self.origin_stream, self.capacity = origin_stream, marks
        self.events: list[Any] = []
        self.free: list[Any] = []
        self.marks: list[tuple[dict[str, Any], Any, Any]] = []

    def __enter__(self) -> Timeline:
        for _ in range(2 * self.capacity + 1):
            event = self.check(self.cudart.cudaEventCreate(), "cudaEventCreate")
            self.events.append(event)
        self.free = self.events[::-1]
        self.origin = self._record(self.origin_stream)
        return self

    def __exit__(self, *exc: object) -> None:
        for event in self.events:
            self.cudart.cudaEventDestroy(event)

    def _record(self, stream: Any) -> Any:
        if not self.free:
            raise RuntimeError(f"Timeline: more than {self.capacity} calls marked")
        event = self.free.pop()
        self.check(self.cudart.cudaEventRecord(event, stream), "cudaEventRecord")
        return event

    def mark(self, stream: Any, label: dict[str, Any], call: Callable[[], Any]) -> None:
        start = self._record(stream)
        call()
        self.marks.append((label, start, self._record(stream)))

    def spans(self) -> list[dict[str, Any]]:
        """One dict per call: its label, ``start_ms`` and ``end_ms``."""

        def ms(event: Any) -> float:
            elapsed = self.cudart.cudaEventElapsedTime(self.origin, event)
            return round(self.check(elapsed, "cudaEventElapsedTime"), 4)

        return [
            {**label, "start_ms": ms(start), "end_ms": ms(end)}
            for label, start, end in self.marks
        ]


def time_interleaved(
    calls: Sequence[Callable[[], Any]],
    measure: Callable[[Callable[[], Any]], float],
    reps: int,
    warmup: int = 0,
) -> list[list[float]]:
    """Time each of ``calls`` ``reps`` times; one list of seconds per call.

    ``measure(fn)`` runs ``fn`` once and returns its time. The calls take turns,
    in order and then in reverse (A B, B A, ...), so that drift and position
    affect all of them alike; with one call this is a plain timing loop. The
    garbage collector is paused while the times are taken.
    """
    for _ in range(warmup):
        for fn in calls:
            measure(fn)
    times: list[list[float]] = [[] for _ in calls]
    order = list(range(len(calls)))
    with _gc_paused():
        for rep in range(reps):
            for i in order if rep % 2 == 0 else order[::-1]:
                times[i].append(measure(calls[i]))
    return times


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


# --------------------------------------------------------------------------- #
# Host memory                                                                 #
# --------------------------------------------------------------------------- #
def page_aligned_empty(nbytes: int) -> np.ndarray:
    """A pageable uint8 array that starts on a page and shares no page with any other.

    Two small arrays from malloc can share a page, and ``cudaHostRegister`` of
    the second would then overlap the first; whole pages avoid that.
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
    """A pageable uint8 array holding a non-trivial, reproducible pattern."""
    a = page_aligned_empty(nbytes)
    words = a[: nbytes - nbytes % 8].view(np.uint64)
    words[:] = np.arange(words.size, dtype=np.uint64)
    words *= np.uint64(0x9E3779B97F4A7C15)  # wraps modulo 2**64: every byte varies
    a[words.nbytes :] = 0xA5
    return a


# --------------------------------------------------------------------------- #
# The methods                                                                 #
# --------------------------------------------------------------------------- #
@dataclass
class Plan:
    """One method at one size: how to copy each way, where d2h lands, clean-up."""

    h2d: Callable[[], None]
    d2h: Callable[[], None]
    output: Callable[[], Any]  # the host array the last d2h wrote
    reset_output: Callable[[], None]
    stream: Any = None  # set: timed with events on this stream
    sync: Callable[[], None] | None = None  # wallclock: how to wait (default: device)
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
        "cudart.cudaMemcpy between a numpy array's .ctypes.data and a cudaMalloc "
        "pointer",
        "_raw_pageable",
    ),
    MethodSpec(
        HELPERS_PAGEABLE,
        "wallclock",
        "cuda_memcpy_h2d / cuda_memcpy_d2h with a numpy array and a CudaBuffer "
        "(Approach 1/2 path)",
        "_helpers_pageable",
    ),
    MethodSpec(
        HELPERS_PINNED,
        "events",
        "pinned_empty host arrays, cuda_memcpy_h2d / cuda_memcpy_d2h with stream= "
        "a cudaStreamNonBlocking stream",
        "_helpers_pinned",
    ),
    MethodSpec(
        RAW_PINNED,
        "events",
        "cudart.cudaMemcpyAsync on the same pinned host memory and stream",
        "_raw_pinned",
    ),
    MethodSpec(
        REGISTERED,
        "events",
        "numpy arrays page-locked with `with registered(arr):`, then the helpers "
        "with stream=",
        "_registered",
    ),
    MethodSpec(
        CUPY_PAGEABLE,
        "wallclock",
        "cupy.asarray(numpy_array) and cupy.asnumpy(device_array) (a new array "
        "each call)",
        "_cupy_pageable",
        "cupy",
    ),
    MethodSpec(
        CUPY_PINNED,
        "events",
        "cupyx.empty_pinned host arrays, cupy.ndarray.set(..., stream=) / "
        ".get(stream=, out=) on a non-blocking cupy stream",
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
        "pinned = torch.from_numpy(x).pin_memory() once; pinned.to('cuda', "
        "non_blocking=True) and pinned_out.copy_(d, non_blocking=True), each "
        "followed by torch.cuda.synchronize()",
        "_torch_pinned",
        "torch",
    ),
    MethodSpec(
        CORE_PINNED,
        "events",
        "cuda.core Buffer.from_handle views of the pinned host arrays and the "
        "device buffer, Buffer.copy_from(..., stream=) on the same stream (the "
        "cuda.core sample's path)",
        "_core_pinned",
        "core",
    ),
)


class SizeResources:
    """Buffers of one size, allocated on first use and freed by :meth:`close`."""

    def __init__(self, cu: Any, cudart: Any, nbytes: int) -> None:
        self.cu = cu
        self.cudart = cudart
        self.nbytes = nbytes
        self.src = make_pattern(nbytes)
        self.dst = page_aligned_zeros(nbytes)
        self._dev = None
        self._raw = 0
        self._pinned_src: np.ndarray | None = None
        self._pinned_dst: np.ndarray | None = None

    @property
    def dev(self) -> Any:
        """A CudaBuffer: the helpers' device memory."""
        if self._dev is None:
            self._dev = self.cu.CudaBuffer(self.nbytes, np.uint8)
        return self._dev

    @property
    def raw_dev(self) -> int:
        """A cudaMalloc pointer: the raw calls' device memory."""
        if not self._raw:
            malloc = self.cudart.cudaMalloc(self.nbytes)
            self._raw = self.cu.check_cuda(malloc, "cudaMalloc")
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
        cudart, check = self.cudart, self.cu.check_cuda
        try:
            check(cudart.cudaDeviceSynchronize(), "cudaDeviceSynchronize")
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
                check(cudart.cudaFree(ptr), "cudaFree")
            except Exception as exc:
                errors.append(_why(exc))
        self._pinned_src = self._pinned_dst = None  # freed when collected
        self.src = self.dst = None  # type: ignore[assignment]
        gc.collect()
        return errors


class Bench:
    def __init__(self, cu: Any, cudart: Any, args: argparse.Namespace) -> None:
        self.cu = cu
        self.cudart = cudart
        self.check = cu.check_cuda
        self.quick = args.quick
        self.sizes = SIZES_QUICK if args.quick else SIZES_FULL
        self.repeats = REPEATS_QUICK if args.quick else REPEATS_FULL
        self.overhead_calls = (
            OVERHEAD_CALLS_QUICK if args.quick else OVERHEAD_CALLS_FULL
        )
        self.pinned_calls = PINNED_CALLS_QUICK if args.quick else PINNED_CALLS_FULL
        self.ratio_bytes = RATIO_BYTES if RATIO_BYTES in self.sizes else max(self.sizes)
        self.H2D = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        self.D2H = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self.stream: Any = None
        self.events: tuple[Any, Any] | None = None
        self.cupy: Any = None
        self.torch: Any = None
        self.core: Any = None
        self.core_stream: Any = None
        self.notes: dict[str, str] = {}
        self.results: list[dict[str, Any]] = []
        self.overhead: dict[str, Any] = {}
        self.helper_vs_raw: list[dict[str, Any]] = []
        self.batch: dict[str, Any] = {}
        self.interop: dict[str, Any] = {}
        self.decode: dict[str, Any] = {}
        self.decode_reps = DECODE_REPS_QUICK if args.quick else DECODE_REPS_FULL
        self.interop_reps = INTEROP_REPS_QUICK if args.quick else INTEROP_REPS_FULL
        self.wrap_calls = WRAP_CALLS_QUICK if args.quick else WRAP_CALLS_FULL
        self.warnings: list[str] = []

    # ---- setup / teardown ------------------------------------------------ #
    def new_stream(self) -> Any:
        cudart = self.cudart
        created = cudart.cudaStreamCreateWithFlags(cudart.cudaStreamNonBlocking)
        return self.check(created, "cudaStreamCreateWithFlags")

    def start(self) -> None:
        cudart, check = self.cudart, self.check
        check(cudart.cudaSetDevice(0), "cudaSetDevice")
        check(cudart.cudaFree(0), "cudaFree(0) (context creation)")
        self.stream = self.new_stream()
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
        except Exception as exc:  # not installed, or cannot reach the device
            self.notes["cupy"] = f"cupy not usable: {_why(exc)}"
        try:
            import torch

            if not torch.cuda.is_available():
                raise RuntimeError("torch.cuda.is_available() is False")
            torch.zeros(1, device="cuda")  # torch's CUDA set-up, outside the timings
            torch.cuda.synchronize()
            self.torch = torch
        except Exception as exc:
            self.notes["torch"] = f"torch not usable: {_why(exc)}"
        try:
            import cuda.core as core
            from cuda.bindings.utils import get_cuda_native_handle

            core.Device(0).set_current()
            handle = int(get_cuda_native_handle(self.stream))
            from_handle = getattr(core.Stream, "from_handle", None)  # newer cuda.core
            self.core_stream = (
                from_handle(handle)
                if from_handle
                else core.Device(0).create_stream(self.stream)
            )
            self.core = core
        except Exception as exc:
            self.notes["core"] = f"cuda.core not usable: {_why(exc)}"

    def close(self) -> None:
        cudart = self.cudart
        with contextlib.suppress(Exception):
            cudart.cudaDeviceSynchronize()
        if self.events:
            for ev in self.events:
                self._soft(
                    lambda ev=ev: self.check(
                        cudart.cudaEventDestroy(ev), "cudaEventDestroy"
                    )
                )
            self.events = None
        self.core_stream = None  # cuda.core's view of the stream goes first
        if self.stream is not None:
            stream, self.stream = self.stream, None
            self._soft(lambda: self.cu.destroy_stream(stream))

    def _soft(self, fn: Callable[[], Any]) -> None:
        """Run a clean-up step; record a failure instead of raising."""
        try:
            fn()
        except Exception as exc:
            self.warnings.append(f"clean-up: {_why(exc)}")

    def sync_device(self) -> None:
        self.check(self.cudart.cudaDeviceSynchronize(), "cudaDeviceSynchronize")

    def sync_stream(self, stream: Any) -> None:
        self.check(self.cudart.cudaStreamSynchronize(stream), "cudaStreamSynchronize")

    def _settle(self) -> None:
        """After a failure: let pending work finish before buffers are freed."""
        with contextlib.suppress(Exception):
            self.cudart.cudaDeviceSynchronize()

    # ---- measures: run one call, return its seconds ---------------------- #
    def call_only(self, sync: Callable[[], None]) -> Callable[[Callable], float]:
        """The call alone is timed; ``sync`` runs after it, outside the time."""
        clock = time.perf_counter

        def measure(fn: Callable[[], Any]) -> float:
            t0 = clock()
            fn()
            t1 = clock()
            sync()
            return t1 - t0

        return measure

    def until_synced(self, sync: Callable[[], None]) -> Callable[[Callable], float]:
        """From before the call to after ``sync`` returns ("wallclock")."""
        clock = time.perf_counter

        def measure(fn: Callable[[], Any]) -> float:
            t0 = clock()
            fn()
            sync()
            return clock() - t0

        return measure

    def on_stream(self, stream: Any) -> Callable[[Callable], float]:
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

    def _repeats_for(self, nbytes: int) -> int:
        return self.repeats * SMALL_FACTOR if nbytes <= SMALL_BYTES else self.repeats

    @staticmethod
    def _warmup_for(nbytes: int) -> int:
        return 5 if nbytes <= 16 * MiB else 2

    def _time(self, plan: Plan, fn: Callable[[], None], nbytes: int) -> list[float]:
        if plan.stream is not None:
            measure = self.on_stream(plan.stream)
        else:
            measure = self.until_synced(plan.sync or self.sync_device)
        reps, warmup = self._repeats_for(nbytes), self._warmup_for(nbytes)
        return time_interleaved([fn], measure, reps, warmup)[0]

    def _finish(self, plan: Plan) -> None:
        if plan.stream is not None:
            self.sync_stream(plan.stream)
        (plan.sync or self.sync_device)()

    # ---- the methods' plans ---------------------------------------------- #
    def _raw_pageable(self, res: SizeResources) -> Plan:
        cudart, check, n = self.cudart, self.check, res.nbytes
        dev, src, dst = res.raw_dev, res.src, res.dst
        src_ptr, dst_ptr = src.ctypes.data, dst.ctypes.data
        h2d_kind, d2h_kind = self.H2D, self.D2H

        def h2d() -> None:
            check(cudart.cudaMemcpy(dev, src_ptr, n, h2d_kind), "cudaMemcpy(H2D)")

        def d2h() -> None:
            check(cudart.cudaMemcpy(dst_ptr, dev, n, d2h_kind), "cudaMemcpy(D2H)")

        return Plan(h2d, d2h, output=lambda: dst, reset_output=lambda: dst.fill(0))

    def _helpers_pageable(self, res: SizeResources) -> Plan:
        cu, dev, src, dst = self.cu, res.dev, res.src, res.dst
        return Plan(
            lambda: cu.cuda_memcpy_h2d(src, dev),
            lambda: cu.cuda_memcpy_d2h(dev, dst),
            output=lambda: dst,
            reset_output=lambda: dst.fill(0),
        )

    def _helpers_pinned(self, res: SizeResources) -> Plan:
        cu, dev, stream = self.cu, res.dev, self.stream
        src, dst = res.pinned_src, res.pinned_dst
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
        copy_async = cudart.cudaMemcpyAsync

        def h2d() -> None:
            check(copy_async(dev, src_ptr, n, h2d_kind, stream), "cudaMemcpyAsync")

        def d2h() -> None:
            check(copy_async(dst_ptr, dev, n, d2h_kind, stream), "cudaMemcpyAsync")

        return Plan(
            h2d,
            d2h,
            output=lambda: dst,
            reset_output=lambda: dst.fill(0),
            stream=stream,
        )

    def _registered(self, res: SizeResources) -> Plan:
        cu, dev, stream, src, dst = self.cu, res.dev, self.stream, res.src, res.dst
        stack = contextlib.ExitStack()
        try:
            stack.enter_context(cu.registered(src))  # for as long as the Plan lives
            stack.enter_context(cu.registered(dst))
        except BaseException:
            stack.close()
            raise
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
            h2d,
            d2h,
            output=lambda: held.get("out"),
            reset_output=lambda: held.pop("out", None),
            cleanup=cleanup,
        )

    def _cupy_pinned(self, res: SizeResources) -> Plan:
        import cupyx

        cp, n = self.cupy, res.nbytes
        held: dict[str, Any] = {}  # the closures look buffers up here
        try:
            held["stream"] = stream = cp.cuda.Stream(non_blocking=True)
            held["src"] = cupyx.empty_pinned((n,), dtype=np.uint8)
            held["src"][...] = res.src
            held["dst"] = cupyx.empty_pinned((n,), dtype=np.uint8)
            held["dev"] = cp.empty((n,), dtype=cp.uint8)
            get_kw: dict[str, Any] = {"blocking": False}  # the end event waits
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
        host_empty = getattr(torch._C, "_host_emptyCache", None)  # pin_memory() cache
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
        # Non-owning views: the arrays and the cudaMalloc pointer own the memory.
        device = core.Buffer.from_handle(res.raw_dev, n)
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
                times = self._time(plan, plan.h2d, n)
                rows.append(summarize(spec.name, "h2d", n, times, spec.timer))
            except Exception as exc:
                rows.append(skipped_row(spec.name, "h2d", n, spec.timer, _why(exc)))
                self._settle()
            try:
                plan.h2d()  # the device holds the pattern, whatever the timings did
                self._finish(plan)
                plan.reset_output()
                self._finish(plan)
                times = self._time(plan, plan.d2h, n)
                self._finish(plan)
                out = plan.output()
                verified = out is not None and bool(np.array_equal(out, res.src))
                rows.append(summarize(spec.name, "d2h", n, times, spec.timer, verified))
                if rows[0]["skipped"] is None:
                    rows[0]["verified"] = verified  # the round trip checks h2d too
            except Exception as exc:
                rows.append(skipped_row(spec.name, "d2h", n, spec.timer, _why(exc)))
                self._settle()
        finally:
            self._soft(plan.cleanup)
        return rows

    def _release_frameworks(self) -> None:
        """Hand the frameworks' cached device and pinned blocks back."""
        for name, free in (("cupy", self._cupy_free), ("torch", self._torch_free)):
            if getattr(self, name) is not None:
                self._soft(free)

    # ---- the helpers against the raw binding, interleaved ---------------- #
    def compare(self, memory: str, res: SizeResources) -> dict[str, Any]:
        """Helper and raw copies of ``res.nbytes``, interleaved, both directions.

        ``memory="pinned"``: the helpers with ``stream=`` against
        ``cudaMemcpyAsync`` on pinned arrays, event-timed. ``"pageable"``: the
        synchronous helpers against ``cudaMemcpy``, timed until synchronized.
        """
        cu, cudart, check, n = self.cu, self.cudart, self.check, res.nbytes
        dev, raw = res.dev, res.raw_dev
        if memory == "pinned":
            src, dst, stream = res.pinned_src, res.pinned_dst, self.stream
            copy_async = cudart.cudaMemcpyAsync
            s, d, h2d_kind, d2h_kind = (
                src.ctypes.data,
                dst.ctypes.data,
                self.H2D,
                self.D2H,
            )
            pairs = (
                (
                    lambda: cu.cuda_memcpy_h2d(src, dev, stream=stream),
                    lambda: check(copy_async(raw, s, n, h2d_kind, stream), "H2D"),
                ),
                (
                    lambda: cu.cuda_memcpy_d2h(dev, dst, stream=stream),
                    lambda: check(copy_async(d, raw, n, d2h_kind, stream), "D2H"),
                ),
            )
            measure, timer = self.on_stream(stream), "events"
            reps, warmup = self.pinned_calls, 50
        else:
            src, dst, stream = res.src, res.dst, None
            pairs = self._pageable_pairs(res.src, res.dst, dev, raw, n)
            measure, timer = self.until_synced(self.sync_device), "wallclock"
            reps, warmup = self._repeats_for(n), self._warmup_for(n)
        entry: dict[str, Any] = {
            "memory": memory,
            "bytes": n,
            "repeats": reps,
            "timer": timer,
            "interleaved": True,
        }
        for direction, (helper, raw_fn) in zip(DIRECTIONS, pairs, strict=True):
            if direction == "d2h":
                dst.fill(0)
            th, tr = time_interleaved([helper, raw_fn], measure, reps, warmup)
            entry[direction] = comparison(th, tr, n)
        if stream is not None:
            self.sync_stream(stream)
        self.sync_device()
        entry["verified"] = bool(np.array_equal(dst, src))
        return entry

    def _pageable_pairs(
        self, src: np.ndarray, dst: np.ndarray, dev: Any, raw: int, n: int
    ) -> tuple[tuple[Callable[[], None], Callable[[], None]], ...]:
        """(helper, raw) for h2d and d2h: synchronous copies of pageable arrays."""
        cu, cudart, check = self.cu, self.cudart, self.check
        s, d, h2d_kind, d2h_kind = src.ctypes.data, dst.ctypes.data, self.H2D, self.D2H
        return (
            (
                lambda: cu.cuda_memcpy_h2d(src, dev),
                lambda: check(cudart.cudaMemcpy(raw, s, n, h2d_kind), "cudaMemcpy"),
            ),
            (
                lambda: cu.cuda_memcpy_d2h(dev, dst),
                lambda: check(cudart.cudaMemcpy(d, raw, n, d2h_kind), "cudaMemcpy"),
            ),
        )

    def measure_overhead(self) -> dict[str, Any]:
        """The time of one small pageable synchronous call, helper against raw."""
        cu, cudart, check, n = self.cu, self.cudart, self.check, OVERHEAD_BYTES
        src, dst = make_pattern(n), page_aligned_zeros(n)
        calls = self.overhead_calls
        result: dict[str, Any] = {
            "bytes": n,
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
        with cu.CudaBuffer(n, np.uint8) as dev:
            raw = check(cudart.cudaMalloc(n), "cudaMalloc")
            try:
                pairs = self._pageable_pairs(src, dst, dev, raw, n)
                measure = self.call_only(self.sync_device)
                for direction, pair in zip(DIRECTIONS, pairs, strict=True):
                    th, tr = time_interleaved(pair, measure, calls, warmup=100)
                    result[direction] = overhead(th, tr)
                if not np.array_equal(dst, src):
                    raise RuntimeError("the 4 KiB round trip returned different bytes")
            finally:
                self._soft(lambda: check(cudart.cudaFree(raw), "cudaFree"))
        return result

    # ---- the overlapped batch and its ceiling ---------------------------- #
    def measure_batch(self) -> dict[str, Any]:
        """Approach 3's batch with 1..4 slots, and the bidirectional copy ceiling."""
        cu = self.cu
        batch = _batch_stub(preflight.gpu_unavailable_reason("cvcuda"))
        shape = (FRAMES, *FRAME_SHAPE)
        frames_in = cu.pinned_empty(shape, np.uint8)
        frames_in[...] = np.random.default_rng(7).integers(0, 256, shape, np.uint8)
        frames_out = cu.pinned_empty(shape, np.uint8)
        streams: list[Any] = []
        try:
            for _ in range(max(SLOT_COUNTS)):
                streams.append(self.new_stream())
            try:
                batch["ceiling"] = self._ceiling(frames_in, frames_out, *streams[:2])
            except Exception as exc:
                self._settle()
                batch["ceiling"] = {"skipped": _why(exc)}
            batch["bound"] = pipeline_bound(batch["ceiling"], FRAMES)
            if batch["skipped"] is None:
                ceiling = (batch["ceiling"].get("both") or {}).get("gbps")
                try:
                    points, timeline = self._batches(
                        frames_in, frames_out, streams, ceiling
                    )
                except Exception as exc:  # the ceiling stays recorded
                    self._settle()
                    batch["skipped"] = _why(exc)
                else:
                    batch["slots"], batch["best_slots"] = points, best_slots(points)
                    batch["timeline"] = timeline
        finally:
            for stream in streams:
                self._soft(lambda stream=stream: cu.destroy_stream(stream))
        return batch

    def _ceiling(
        self, frames_in: np.ndarray, frames_out: np.ndarray, up_s: Any, down_s: Any
    ) -> dict[str, Any]:
        """Raw copies of the frames: up on one stream and down on the other,
        issued interleaved, and each direction alone; no kernel."""
        cu, cudart, check = self.cu, self.cudart, self.check
        copy_async, fb = cudart.cudaMemcpyAsync, frames_in[0].nbytes
        ins = [f.ctypes.data for f in frames_in]
        outs = [f.ctypes.data for f in frames_out]
        with (
            cu.CudaBuffer(frames_in.shape, np.uint8) as up,
            cu.CudaBuffer(frames_in.shape, np.uint8) as down,
        ):
            check(cudart.cudaMemset(down.ptr, 0, frames_in.nbytes), "cudaMemset")

            def issue(h2d: bool, d2h: bool) -> None:
                for i in range(FRAMES):
                    if h2d:
                        copy = copy_async(up.ptr + i * fb, ins[i], fb, self.H2D, up_s)
                        check(copy, "cudaMemcpyAsync(H2D)")
                    if d2h:
                        copy = copy_async(
                            outs[i], down.ptr + i * fb, fb, self.D2H, down_s
                        )
                        check(copy, "cudaMemcpyAsync(D2H)")
                self.sync_stream(up_s)
                self.sync_stream(down_s)

            variants = {
                "both": (True, True),
                "h2d": (True, False),
                "d2h": (False, True),
            }
            calls = [lambda f=f: issue(*f) for f in variants.values()]
            measure = self.until_synced(lambda: None)  # issue() synchronizes
            times = time_interleaved(calls, measure, BATCH_RUNS, warmup=1)
        ceiling = {}
        for (key, (h2d, d2h)), seconds in zip(variants.items(), times, strict=True):
            nbytes = (h2d + d2h) * frames_in.nbytes
            ceiling[key] = {"bytes": nbytes, **batch_point(seconds, nbytes)}
        return ceiling

    def _batches(
        self,
        frames_in: np.ndarray,
        frames_out: np.ndarray,
        streams: list[Any],
        ceiling_gbps: float | None,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """The batch per slot count, each run's output checked against numpy, and
        the timeline of one more run with the best slot count."""
        import cvcuda
        from cuda.bindings.utils import get_cuda_native_handle

        cu, sync = self.cu, self.sync_stream
        h2d, d2h = cu.cuda_memcpy_h2d, cu.cuda_memcpy_d2h
        record, wait = cu.record_event, cu.wait_event
        # A stream per copy engine, and one for the kernels, as in the sample.
        upload, compute, download = streams[:3]
        cv_compute = cvcuda.as_stream(get_cuda_native_handle(compute))

        def flip(out: Any, src: Any, stream: Any) -> None:
            # ``stream`` is ``compute``; CV-CUDA takes its wrapper of it.
            cvcuda.flip_into(out, src, flipCode=1, stream=cv_compute)

        n = max(SLOT_COUNTS)
        inputs = [cu.CudaBuffer(FRAME_SHAPE, np.uint8) for _ in range(n)]
        in_tensors = [cvcuda.as_tensor(buf, "HWC") for buf in inputs]
        out_tensors = [
            cvcuda.Tensor(FRAME_SHAPE, cvcuda.Type.U8, "HWC") for _ in range(n)
        ]
        # Wrapped once, for the stream that reads them: each frame's copy home
        # then reads a checked layout instead of parsing the tensor's interface.
        outputs = [
            cu.CudaBuffer.from_cuda(t.cuda(), stream=download) for t in out_tensors
        ]
        events: list[Any] = []
        up_done, flip_done, down_done = (
            [cu.new_event() for _ in range(n)] for _ in range(3)
        )
        events += up_done + flip_done + down_done
        expected = frames_in[:, :, ::-1]  # flipCode=1: each row reversed
        blank = cu.CudaBuffer(frames_out.shape, np.uint8)
        self.check(self.cudart.cudaMemset(blank.ptr, 0, blank.nbytes), "cudaMemset")

        def process(slots: int, mark: Marker | None = None) -> None:
            """The sample's batch; ``mark`` (the timeline run) wraps each step in
            events on its stream."""

            def run(
                stream: Any, name: str, step: str, fn: Callable, *args: Any
            ) -> None:
                if mark is None:
                    fn(*args, stream=stream)
                else:
                    label = {"stream": name, "slot": k, "frame": i, "step": step}
                    mark(stream, label, lambda: fn(*args, stream=stream))

            for i in range(FRAMES):
                k = i % slots
                if i >= slots:  # the slot is free once its previous frame went home
                    wait(upload, down_done[k])
                run(upload, "upload", "h2d", h2d, frames_in[i], inputs[k])
                record(up_done[k], upload)
                wait(compute, up_done[k])
                run(compute, "compute", "flip", flip, out_tensors[k], in_tensors[k])
                record(flip_done[k], compute)
                wait(download, flip_done[k])
                run(download, "download", "d2h", d2h, outputs[k], frames_out[i])
                record(down_done[k], download)
                if slots == 1:
                    sync(download)  # serial: the host waits for every frame
            sync(download)  # the last download followed everything before it

        clock = time.perf_counter

        def zero_output() -> None:
            # By a copy from the GPU, as the batch writes it: zeroing from the CPU
            # leaves its caches holding dirty lines of the array, which the
            # downloads must then evict, and the batch would look slower.
            cu.cuda_memcpy_d2h(blank, frames_out)

        def measure(fn: Callable[[], Any]) -> float:
            zero_output()
            t0 = clock()
            fn()
            return clock() - t0

        points, timeline_doc = [], None
        try:
            calls = [lambda k=k: process(k) for k in SLOT_COUNTS]
            times = time_interleaved(calls, measure, BATCH_RUNS, warmup=1)
            for slots, seconds in zip(SLOT_COUNTS, times, strict=True):
                # Checked on one more run each, not between the timed ones: the
                # CPU reading the frames slows the next run's copies (see the
                # Performance page).
                zero_output()
                process(slots)
                ok = bool(np.array_equal(frames_out, expected))
                point = batch_point(seconds, 2 * frames_in.nbytes, ceiling_gbps)
                points.append({"slots": slots, **point, "verified": ok})
            best = best_slots(points)
            if best is not None:  # where the time goes, drawn on the Performance page
                try:
                    zero_output()  # before the origin event: not part of the run
                    with Timeline(
                        self.cudart, self.check, upload, marks=3 * FRAMES
                    ) as timeline:
                        process(best, timeline.mark)
                        spans = timeline.spans()
                    timeline_doc = {"slots": best, "spans": spans}
                except Exception as exc:  # the timed points stay recorded
                    self._settle()
                    timeline_doc = {"slots": best, "spans": [], "skipped": _why(exc)}
        finally:
            for stream in streams:
                self._soft(lambda stream=stream: sync(stream))
            # CV-CUDA's tensors and stream wrapper go before the streams and buffers.
            in_tensors.clear()
            outputs.clear()
            out_tensors.clear()
            gc.collect()
            for event in events:
                self._soft(lambda event=event: self.cudart.cudaEventDestroy(event))
            for buf in [*inputs, blank]:
                self._soft(buf.close)
        return points, timeline_doc

    # ---- PyTorch and CuPy with CV-CUDA ----------------------------------- #
    def measure_interop(self) -> dict[str, Any]:
        """The stream-wait table and the wrap costs: the ``interop`` block."""
        if self.torch is None:
            return _interop_stub(self.notes.get("torch", "torch not usable"))
        try:
            import cvcuda
        except Exception as exc:  # not installed, or no driver for it
            return _interop_stub(f"cvcuda not usable: {_why(exc)}")
        doc = _interop_stub(None)
        doc["reps"], doc["wrap_calls"] = self.interop_reps, self.wrap_calls
        try:
            try:
                doc["busy"], doc["stream_wait"] = self._stream_wait(cvcuda)
            except Exception as exc:
                self._settle()
                doc["stream_wait_skipped"] = _why(exc)
            try:
                doc["wrap_us"] = self._wrap_costs(cvcuda)
            except Exception as exc:
                self._settle()
                doc["wrap_skipped"] = _why(exc)
        finally:
            self._settle()
            self._soft(cvcuda.clear_cache)  # it remembers each tensor's last stream
            self._release_frameworks()
        return doc

    def _spinner(self, ms: float) -> tuple[Callable[[], None], float]:
        """A function that queues about ``ms`` of GPU work on torch's current
        stream, and how long that work took on an idle stream (us)."""
        torch = self.torch
        probe = torch.cuda.Stream()

        def elapsed_ms(fn: Callable[[], Any]) -> float:
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            with torch.cuda.stream(probe):
                start.record()
                fn()
                end.record()
            end.synchronize()
            return start.elapsed_time(end)

        sleep = getattr(torch.cuda, "_sleep", None)  # a spin kernel, in clock cycles
        if sleep is not None:
            probe_cycles = 1 << 20
            elapsed_ms(lambda: sleep(probe_cycles))  # warm-up
            per_ms = probe_cycles / max(elapsed_ms(lambda: sleep(probe_cycles)), 1e-3)
            cycles = max(1, int(per_ms * ms))

            def busy() -> None:
                sleep(cycles)

        else:  # as many matrix products as take about `ms`
            a = torch.ones((2048, 2048), device="cuda")
            elapsed_ms(lambda: torch.mm(a, a))
            count = max(1, round(ms / max(elapsed_ms(lambda: torch.mm(a, a)), 1e-3)))

            def busy() -> None:
                for _ in range(count):
                    torch.mm(a, a)

        return busy, round(elapsed_ms(busy) * 1e3, 1)

    def _stream_wait(self, cvcuda: Any) -> tuple[dict[str, Any], list[dict]]:
        """Per call: wrap a torch tensor written on stream ``work`` and flip it on
        ``work``, while another stream has work queued; three ways to wrap."""
        torch = self.torch
        sync = torch.cuda.synchronize
        busy_work, busy_us = self._spinner(BUSY_MS)
        work = torch.cuda.Stream()  # writes the tensor; CV-CUDA runs on it too
        handle = int(work.cuda_stream)
        cv_work = cvcuda.as_stream(work)
        scenarios = {
            "legacy": (
                "torch's default (legacy) stream busy",
                torch.cuda.default_stream(),
            ),
            "nonblocking": ("another torch stream busy", torch.cuda.Stream()),
        }
        source = torch.randint(0, 256, FRAME_SHAPE, dtype=torch.uint8, device="cuda")
        expected = source.flip(1)  # flipCode=1: each row reversed
        with torch.cuda.stream(work):
            frame = source.clone()  # its producer stream is `work`
        out = cvcuda.Tensor(FRAME_SHAPE, cvcuda.Type.U8, "HWC")
        sync()
        makers = {
            "cai_v2": lambda: frame,
            "cai_v3": lambda: _CaiV3(frame, handle),
            "dlpack": lambda: _DLPackOnly(frame),
        }

        def call_for(way: str) -> Callable[[], None]:
            make = makers[way]

            def call() -> None:
                wrapped = cvcuda.as_tensor(make(), "HWC")
                cvcuda.flip_into(out, wrapped, flipCode=1, stream=cv_work)

            return call

        calls = [call_for(way) for way, _ in INTEROP_WAYS]
        verified = {}
        for (way, _), call in zip(INTEROP_WAYS, calls, strict=True):
            with torch.cuda.stream(work):
                torch.from_dlpack(out.cuda()).zero_()
                call()
                verified[way] = bool(
                    torch.equal(torch.from_dlpack(out.cuda()), expected)
                )
        sync()
        on_work = self.on_stream(handle)
        busy: dict[str, Any] = {}
        rows: list[dict[str, Any]] = []
        for key, (label, stream) in scenarios.items():

            def measure(fn: Callable[[], Any], stream: Any = stream) -> float:
                with torch.cuda.stream(stream):
                    busy_work()  # queued just before the call
                with torch.cuda.stream(work):
                    seconds = on_work(fn)
                sync()  # the busy work drains outside the time
                return seconds

            times = time_interleaved(calls, measure, self.interop_reps, warmup=2)
            busy[key] = {
                "label": label,
                "stream": int(stream.cuda_stream),
                "busy_us": busy_us,
            }
            for (way, way_label), seconds in zip(INTEROP_WAYS, times, strict=True):
                rows.append(
                    stream_wait_row(key, way, way_label, seconds, verified[way])
                )
            say(
                f"{label}: "
                + ", ".join(f"{r['way']} {r['us_median']:.1f} us" for r in rows[-3:])
            )
        sync()
        return busy, rows

    def _wrap_costs(self, cvcuda: Any) -> list[dict[str, Any]]:
        """The host time of one hand-over call per library and direction."""
        torch, cu = self.torch, self.cu
        out = cvcuda.Tensor(FRAME_SHAPE, cvcuda.Type.U8, "HWC")  # never read
        out_ptr = _data_ptr(out)
        entries: list[tuple[str, str, str, Callable[[], Any], int]] = []
        rows: list[dict[str, Any]] = []

        def add(library: str, way: str, call: str, fn: Callable, ptr: int) -> None:
            entries.append((library, way, call, fn, ptr))

        buf = cu.CudaBuffer(FRAME_SHAPE, np.uint8)
        add(
            "CUDA Python", "into CV-CUDA", "cvcuda.as_tensor(CudaBuffer)",
            lambda: cvcuda.as_tensor(buf, "HWC"), buf.ptr,
        )  # fmt: skip
        add(
            "CUDA Python", "from CV-CUDA", "CudaBuffer.from_cuda(t.cuda())",
            lambda: cu.CudaBuffer.from_cuda(out.cuda()), out_ptr,
        )  # fmt: skip
        core_buf = view = None
        if self.core is not None:
            try:
                from cuda.core.utils import StridedMemoryView

                device = self.core.Device(0)
                core_buf = device.allocate(buf.nbytes, stream=device.default_stream)
                view = StridedMemoryView.from_buffer(
                    core_buf, FRAME_SHAPE, dtype=np.dtype(np.uint8)
                )
                consumer = cu.stream_handle(self.stream)
                add(
                    "cuda.core", "into CV-CUDA", "cvcuda.as_tensor(StridedMemoryView)",
                    lambda: cvcuda.as_tensor(view, "HWC"), int(core_buf.handle),
                )  # fmt: skip
                add(
                    "cuda.core", "from CV-CUDA",
                    "StridedMemoryView.from_any_interface(t.cuda(), stream)",
                    lambda: StridedMemoryView.from_any_interface(out.cuda(), consumer),
                    out_ptr,
                )  # fmt: skip
            except Exception as exc:
                rows.append(
                    wrap_row("cuda.core", "both", "StridedMemoryView", None,
                             skipped=_why(exc))
                )  # fmt: skip
        frame = torch.zeros(FRAME_SHAPE, dtype=torch.uint8, device="cuda")
        current = int(torch.cuda.current_stream().cuda_stream)
        for call, fn in (
            ("cvcuda.as_tensor(tensor): CAI v2", lambda: frame),
            ("cvcuda.as_tensor(CAI v3 wrapper)", lambda: _CaiV3(frame, current)),
            ("cvcuda.as_tensor(DLPack only)", lambda: _DLPackOnly(frame)),
        ):
            add(
                "PyTorch", "into CV-CUDA", call,
                lambda fn=fn: cvcuda.as_tensor(fn(), "HWC"), frame.data_ptr(),
            )  # fmt: skip
        add(
            "PyTorch", "from CV-CUDA", "torch.from_dlpack(t.cuda())",
            lambda: torch.from_dlpack(out.cuda()), out_ptr,
        )  # fmt: skip
        add(
            "PyTorch", "from CV-CUDA", 'torch.as_tensor(t.cuda(), device="cuda")',
            lambda: torch.as_tensor(out.cuda(), device="cuda"), out_ptr,
        )  # fmt: skip
        if self.cupy is not None:
            cp = self.cupy
            array = cp.zeros(FRAME_SHAPE, dtype=cp.uint8)
            add(
                "CuPy", "into CV-CUDA", "cvcuda.as_tensor(array): CAI v3",
                lambda: cvcuda.as_tensor(array, "HWC"), int(array.data.ptr),
            )  # fmt: skip
            add(
                "CuPy", "from CV-CUDA", "cupy.from_dlpack(t.cuda())",
                lambda: cp.from_dlpack(out.cuda()), out_ptr,
            )  # fmt: skip
            add(
                "CuPy", "from CV-CUDA", "cupy.asarray(t.cuda())",
                lambda: cp.asarray(out.cuda()), out_ptr,
            )  # fmt: skip
        self.sync_device()
        zero_copy = [_data_ptr(fn()) == ptr for *_, fn, ptr in entries]
        clock = time.perf_counter
        held: list[Any] = []

        def measure(fn: Callable[[], Any]) -> float:
            t0 = clock()
            result = fn()
            seconds = clock() - t0
            held.append(result)  # dropped in bunches, outside the time
            if len(held) >= 64:
                held.clear()
            return seconds

        try:
            calls = [entry[3] for entry in entries]
            times = time_interleaved(calls, measure, self.wrap_calls, warmup=20)
        finally:
            held.clear()
            self.sync_device()
        measured = [
            wrap_row(library, way, call, seconds, zero_copy=same)
            for (library, way, call, _, _), seconds, same in zip(
                entries, times, zero_copy, strict=True
            )
        ]
        for row in measured:
            say(f"wrap {row['library']}, {row['call']}: {row['us_median']:.2f} us")
        entries.clear()
        view = None  # the view goes before the buffer it describes
        if core_buf is not None:
            self._soft(lambda: core_buf.close(self.core.Device(0).default_stream))
        buf.close()
        return measured + rows

    # ---- JPEG decode to a CV-CUDA tensor --------------------------------- #
    def measure_decode(self) -> dict[str, Any]:
        """nvImageCodec decode (single and batch) to a CV-CUDA tensor against
        Pillow's decode and a copy up (pinned and pageable), on the same photo.

        Skipped with the reason when nvImageCodec or CV-CUDA is missing; a host
        path without Pillow is skipped alone.
        """
        decode = _decode_stub(None)
        decode["reps"] = self.decode_reps
        try:
            import cvcuda
        except Exception as exc:
            decode["skipped"] = f"CV-CUDA not usable: {_why(exc)}"
            return decode
        clock = time.perf_counter
        started = clock()
        try:
            from nvidia import nvimgcodec
        except Exception as exc:
            decode["skipped"] = f"nvImageCodec not usable: {_why(exc)}"
            return decode
        decode["import_ms"] = round((clock() - started) * 1e3, 1)
        decode["nvimgcodec"] = getattr(nvimgcodec, "__version__", None)
        from cuda.bindings.utils import get_cuda_native_handle
        from matplotlib.cbook import get_sample_data

        with get_sample_data(DECODE_IMAGE, asfileobj=True) as file:
            data = file.read()
        decode["jpeg_bytes"] = len(data)
        cu, stream = self.cu, self.stream
        handle = int(get_cuda_native_handle(stream))
        sync = lambda: self.sync_stream(stream)  # noqa: E731

        started = clock()  # the one-time cost: first decoder, first decode
        decoder = nvimgcodec.Decoder()
        first = decoder.decode(nvimgcodec.CodeStream(data), cuda_stream=handle)
        sync()
        decode["init_ms"] = round((clock() - started) * 1e3, 1)
        shape = tuple(first.shape)
        decode["shape"] = list(shape)
        no_pillow = None
        try:
            from PIL import Image as PILImage

            decode["pillow"] = getattr(sys.modules.get("PIL"), "__version__", None)
        except Exception as exc:  # the host paths are skipped, the GPU ones run
            PILImage, no_pillow = None, f"Pillow not usable: {_why(exc)}"
        reference = None if PILImage is None else self._pillow(PILImage, data)
        device = cu.CudaBuffer(shape, np.uint8)  # the host paths' destination
        pinned = cu.pinned_empty(shape, np.uint8)
        latest: dict[str, Any] = {}  # each path's last output, for the check

        def gpu_single() -> None:
            image = decoder.decode(nvimgcodec.CodeStream(data), cuda_stream=handle)
            latest["gpu single"] = [(cvcuda.as_tensor(image, "HWC"), image)]

        def gpu_batch() -> None:
            streams = [nvimgcodec.CodeStream(data) for _ in range(DECODE_BATCH)]
            images = decoder.decode(streams, cuda_stream=handle)
            latest["gpu batch"] = [(cvcuda.as_tensor(i, "HWC"), i) for i in images]

        def host_pinned() -> None:
            pinned[...] = self._pillow(PILImage, data)  # decode, then into pinned
            cu.cuda_memcpy_h2d(pinned, device, stream=stream)
            latest["host pinned"] = [(cvcuda.as_tensor(device, "HWC"), device)]

        def host_pageable() -> None:
            cu.cuda_memcpy_h2d(self._pillow(PILImage, data), device)
            latest["host pageable"] = [(cvcuda.as_tensor(device, "HWC"), device)]

        paths = [
            ("gpu", "nvImageCodec decode → CV-CUDA tensor", gpu_single, 1),
            (
                "gpu",
                f"nvImageCodec batch decode of {DECODE_BATCH} → CV-CUDA tensors",
                gpu_batch,
                DECODE_BATCH,
            ),
            ("host", "Pillow decode + pinned copy → CV-CUDA tensor", host_pinned, 1),
            (
                "host",
                "Pillow decode + pageable copy → CV-CUDA tensor",
                host_pageable,
                1,
            ),
        ]
        try:
            runnable = [p for p in paths if p[0] == "gpu" or PILImage is not None]
            measure = self.until_synced(sync)
            times = time_interleaved(
                [p[2] for p in runnable], measure, self.decode_reps, DECODE_WARMUP
            )
            by_path = {p[1]: t for p, t in zip(runnable, times, strict=True)}
            for kind, name, fn, count in paths:
                if name not in by_path:
                    decode["paths"].append(
                        {"kind": kind, "path": name, "skipped": no_pillow}
                    )
                    continue
                ms = sorted(t * 1e3 / count for t in by_path[name])
                key = {
                    gpu_single: "gpu single",
                    gpu_batch: "gpu batch",
                    host_pinned: "host pinned",
                    host_pageable: "host pageable",
                }[fn]
                row = {
                    "kind": kind,
                    "path": name,
                    "images_per_call": count,
                    "ms_per_image": round(statistics.median(ms), 4),
                    "ms_min": round(ms[0], 4),
                    "ms_max": round(ms[-1], 4),
                    "images_per_s": round(1e3 / statistics.median(ms), 1),
                    **self._decode_verified(
                        latest[key], reference, exact=kind == "host"
                    ),
                    "skipped": None,
                }
                decode["paths"].append(row)
                say(
                    f"decode {name}: {row['ms_per_image']:.3f} ms per image, "
                    f"{row['images_per_s']:,.0f} images/s"
                )
        finally:
            sync()
            latest.clear()
            del first
            gc.collect()
            self._soft(device.close)
        return decode

    @staticmethod
    def _pillow(pil_image: Any, data: bytes) -> np.ndarray:
        """Pillow's decode of JPEG bytes, as a C-contiguous uint8 RGB array."""
        import io

        with pil_image.open(io.BytesIO(data)) as img:
            return np.ascontiguousarray(np.asarray(img.convert("RGB")))

    def _decode_verified(
        self, outputs: list[tuple[Any, Any]], reference: Any, exact: bool
    ) -> dict[str, Any]:
        """Each tensor's pixels against Pillow's: equal for the host paths (they
        copy Pillow's pixels), within ``GPU_DECODE_MAX_DIFF`` per channel and 0.5
        on average for the GPU decode; and each tensor on its source's memory
        (zero-copy). Returns
        ``verified`` and what it was decided on: the largest and the mean
        difference over the outputs, and whether every one was zero-copy."""
        if reference is None:
            return {"verified": None}
        zero_copy, worst, means = True, 0, []
        for tensor, source in outputs:
            cai = tensor.cuda().__cuda_array_interface__
            zero_copy &= cai["data"][0] == source.__cuda_array_interface__["data"][0]
            host = np.empty(reference.shape, np.uint8)
            self.cu.cuda_memcpy_d2h(tensor.cuda(), host)
            diff = np.abs(host.astype(np.int16) - reference)
            worst, mean = max(worst, int(diff.max())), float(diff.mean())
            means.append(mean)
        mean = max(means) if means else 0.0
        close = worst == 0 if exact else worst <= GPU_DECODE_MAX_DIFF and mean < 0.5
        return {
            "verified": bool(zero_copy and close),
            "zero_copy": bool(zero_copy),
            "max_diff": worst,
            "mean_diff": round(mean, 4),
        }

    # ---- the whole run --------------------------------------------------- #
    def available(self, spec: MethodSpec) -> bool:
        return spec.requires is None or getattr(self, spec.requires) is not None

    def _guarded(self, what: dict[str, Any], fn: Callable[[], dict]) -> dict[str, Any]:
        """``fn()``, or ``what`` with ``skipped`` set to why it failed."""
        try:
            return fn()
        except Exception as exc:
            self._settle()
            return {**what, "skipped": _why(exc)}

    def run(self) -> None:
        calls = self.overhead_calls
        say(f"per-call overhead at {format_bytes(OVERHEAD_BYTES)} ({calls} calls each)")
        self.overhead = self._guarded(
            {"bytes": OVERHEAD_BYTES, "calls": calls}, self.measure_overhead
        )
        specs = [s for s in METHODS if self.available(s)]
        for n in self.sizes:
            started = time.perf_counter()
            try:
                res = SizeResources(self.cu, self.cudart, n)
            except Exception as exc:  # e.g. MemoryError for the pageable arrays
                why = f"host arrays: {_why(exc)}"
                for spec in specs:
                    self.results.extend(
                        skipped_row(spec.name, d, n, spec.timer, why)
                        for d in DIRECTIONS
                    )
                continue
            try:
                for spec in specs:
                    rows = self.run_method(spec, res)
                    self.results.extend(rows)
                    say(f"{format_bytes(n):>7} {spec.name:<36} {_rates(rows)}")
                kinds = ["pinned"] if n in PINNED_RAW_MIN else []
                kinds += ["pageable"] if n == self.ratio_bytes else []
                for memory in kinds:
                    what = {"memory": memory, "bytes": n}
                    entry = self._guarded(
                        what, lambda m=memory, r=res: self.compare(m, r)
                    )
                    self.helper_vs_raw.append(entry)
                    size = format_bytes(n)
                    say(f"{size:>7} helpers vs raw, {memory}: {_ratios(entry)}")
            finally:
                self.warnings.extend(
                    f"{format_bytes(n)} clean-up: {e}" for e in res.close()
                )
                self._release_frameworks()
            say(f"{format_bytes(n)} done in {time.perf_counter() - started:.1f} s")
        say(f"overlapped batch of {FRAMES} frames, {len(SLOT_COUNTS)} slot counts")
        self.batch = self._guarded(_batch_stub(None), self.measure_batch)
        say("CV-CUDA on torch tensors while another stream is busy; wrap costs")
        self.interop = self._guarded(_interop_stub(None), self.measure_interop)
        say("JPEG decode to a CV-CUDA tensor: nvImageCodec against Pillow + copy")
        self.decode = self._guarded(_decode_stub(None), self.measure_decode)


def say(text: str) -> None:
    print(f"{PROG}: {text}", flush=True)


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


# --------------------------------------------------------------------------- #
# Environment                                                                 #
# --------------------------------------------------------------------------- #
def _version(dist: str, module: Any = None) -> str | None:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:
        return getattr(module, "__version__", None)


def _driver_release() -> str | None:
    """The driver's own version string (e.g. 580.159.04) from nvidia-smi."""
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


def _cvcuda_version() -> str | None:
    """CV-CUDA's version once something has imported it, else None."""
    cvcuda = sys.modules.get("cvcuda")
    return None if cvcuda is None else getattr(cvcuda, "__version__", None)


def describe_environment(bench: Bench) -> dict[str, Any]:
    cudart, check = bench.cudart, bench.check

    def ask(fn: Callable[[], Any], what: str) -> Any:
        try:
            return fn()
        except Exception as exc:
            bench.warnings.append(f"{what}: {_why(exc)}")
            return None

    props = ask(
        lambda: check(cudart.cudaGetDeviceProperties(0), "cudaGetDeviceProperties"),
        "device name",
    )
    name = getattr(props, "name", None) or b"unknown device"
    if isinstance(name, (bytes, bytearray)):
        name = bytes(name).split(b"\0", 1)[0].decode(errors="replace")
    import cuda.bindings

    return {
        "device": str(name).replace("\0", "").strip(),
        "driver": ask(
            lambda: check(cudart.cudaDriverGetVersion(), "cudaDriverGetVersion"),
            "driver version",
        ),
        "driver_release": _driver_release(),
        "runtime": ask(
            lambda: check(cudart.cudaRuntimeGetVersion(), "cudaRuntimeGetVersion"),
            "runtime version",
        ),
        "cuda_bindings": _version("cuda-bindings", cuda.bindings),
        "cvcuda": _cvcuda_version(),
        "numpy": np.__version__,
        "cupy": None if bench.cupy is None else bench.cupy.__version__,
        "torch": None if bench.torch is None else bench.torch.__version__,
        "python": platform.python_version(),
    }


# --------------------------------------------------------------------------- #
# Entry point                                                                 #
# --------------------------------------------------------------------------- #
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Measure host<->device copy rates, the copy helpers against the raw "
            "binding, and the overlapped batch; write results JSON and print a "
            "report with the targets' PASS/FAIL."
        ),
    )
    parser.add_argument(
        "--quick", action="store_true", help="sizes up to 64 MiB, fewer repetitions"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="results JSON to write (default: docs/performance/results.json)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit with status 1 when a target FAILs"
    )
    parser.add_argument(
        "--upgrade",
        type=Path,
        metavar="PATH",
        help="rewrite the results file PATH in the current schema, its ratios "
        "and targets recomputed (no GPU needed)",
    )
    return parser.parse_args(argv)


def write_json(doc: dict[str, Any], out: Path) -> Path:
    out = out if out.is_absolute() else Path.cwd() / out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    os.replace(tmp, out)
    return out


def upgrade_file(path: Path) -> int:
    doc = upgrade_results(json.loads(path.read_text()))
    write_json(doc, path)
    print(format_text(doc))
    print(f"\n{PROG}: rewrote {path} (results schema {SCHEMA})")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.upgrade is not None:
        return upgrade_file(args.upgrade)
    if preflight is None:
        why = (
            "cannot import preflight: put samples/interoperability on PYTHONPATH "
            "(nox -s bench does)"
        )
        print(f"{PROG}: cannot run: {why}", file=sys.stderr)
        return EXIT_NO_PREFLIGHT
    why = preflight.gpu_unavailable_reason()
    if why is not None:
        print(f"{PROG}: cannot run: {why}", file=sys.stderr)
        return preflight.EXIT_GPU_UNAVAILABLE
    from cuda.bindings import runtime as cudart

    import cuda_python_common as cu

    started = time.perf_counter()
    bench = Bench(cu, cudart, args)
    try:
        try:
            bench.start()
        except Exception as exc:  # a device that is listed but cannot be used
            print(
                f"{PROG}: cannot run: CUDA set-up failed: {_why(exc)}", file=sys.stderr
            )
            return preflight.EXIT_GPU_UNAVAILABLE
        env = describe_environment(bench)
        sizes = ", ".join(format_bytes(n) for n in bench.sizes)
        say(
            f"{env['device']}, driver CUDA {format_cuda_version(env['driver'])}, "
            f"{'quick' if args.quick else 'full'} run, sizes {sizes}"
        )
        for note in bench.notes.values():
            say(note)
        bench.run()
        env["cvcuda"] = _cvcuda_version()  # the batch imported it
    finally:
        bench.close()

    now = dt.datetime.now(dt.timezone.utc)
    doc: dict[str, Any] = {
        "schema": SCHEMA,
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
                "note": None
                if bench.available(s)
                else bench.notes.get(s.requires or ""),
            }
            for s in METHODS
        ],
        "results": add_ratios(bench.results),
        "overhead_us": bench.overhead,
        "helper_vs_raw": bench.helper_vs_raw,
        "batch": bench.batch,
        "interop": bench.interop,
        "decode": bench.decode,
        "warnings": bench.warnings,
        "duration_s": round(time.perf_counter() - started, 1),
    }
    doc["targets"] = compute_targets(doc)
    out = write_json(doc, args.out)

    print()
    print(format_text(doc))
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
