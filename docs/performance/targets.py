# SPDX-License-Identifier: Apache-2.0
"""The benchmark's targets, judged from a results document (no GPU needed).

The benchmark's own acceptance criteria, shown at the end of the Performance
page: each target has a ``description``, ``pass`` (True or False, None when it
could not be evaluated) and a ``summary`` of the numbers behind the verdict.
``bench.py`` records them with every run, and ``bench.py --upgrade`` computes
them afresh for a recorded one. The sizes the targets judge are defined here;
``bench_transfers.py`` measures its comparisons at exactly these.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from render_results import (
    HELPERS_PAGEABLE,
    HELPERS_PINNED,
    RAW_PAGEABLE,
    RAW_PINNED,
    format_bytes,
    pct,
)
from timing import KiB, MiB

DIRECTIONS = ("h2d", "d2h")
OVERHEAD_BYTES = 4 * KiB  # the helpers' overhead per call, at this size ...
OVERHEAD_MAX_US = 1.5  # ... at most this much over the raw call
PINNED_RAW_MIN = {64 * KiB: 0.70, 1 * MiB: 0.90}  # helpers pinned / raw async
BATCH_MIN_RATIO = 0.95  # overlapped batch / bidirectional ceiling
PINNED_TARGET_RATIO = 0.95  # helpers pinned / fastest method ...
PINNED_TARGET_MIN_BYTES = 16 * MiB  # ... at every size from here up
RATIO_BYTES = 256 * MiB  # pageable helpers vs raw here (a quick run: its largest size)
HELPER_RAW_MIN_RATIO = 0.97  # ... at least this share


def compute_targets(doc: dict[str, Any]) -> dict[str, Any]:
    """The target checks of a results document; ``all_pass`` combines them."""
    targets = {
        "helper_overhead": _overhead_target(doc),
        "pinned_helpers_vs_raw": _pinned_raw_target(doc),
        "batch_at_ceiling": _batch_target(doc),
        "pinned_near_best": _near_best_target(doc),
        "helpers_match_raw": _pageable_raw_target(doc),
    }
    targets["all_pass"] = _all_pass([t["pass"] for t in targets.values()])
    return targets


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
        f"{d} {'n/a' if v is None else f'{v:+.2f} µs'}" for d, v in extra.items()
    )
    if ovh.get("calls") and not ovh.get("skipped"):
        summary += f" (median of {ovh['calls']} interleaved calls)"
    return {
        "description": (
            f"helper overhead per call <= {OVERHEAD_MAX_US:g} µs "
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
