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
    AT_TOLERANCE,
    HELPERS_PAGEABLE,
    HELPERS_PINNED,
    RAW_PAGEABLE,
    RAW_PINNED,
    SIDE_BY_SIDE,
    format_bytes,
    pct,
)
from timing import KiB, MiB

DIRECTIONS = ("h2d", "d2h")
OVERHEAD_BYTES = 4 * KiB  # the helpers' overhead per call, reported at this size
PINNED_COMPARED = (64 * KiB, 1 * MiB)  # helpers pinned against raw, interleaved ...
PINNED_RAW_MIN = {1 * MiB: 0.90}  # ... and the share of raw they must reach
BATCH_MIN_RATIO = 0.97  # overlapped batch / the whole-frame estimate
#: Side by side (side_by_side.py), the helpers at or above these calls, where
#: "at" allows AT_TOLERANCE below.
FRAMEWORKS = SIDE_BY_SIDE[1:]
RATIO_BYTES = 256 * MiB  # pageable helpers vs raw here (a quick run: its largest size)
HELPER_RAW_MIN_RATIO = 0.97  # ... at least this share


def compute_targets(doc: dict[str, Any]) -> dict[str, Any]:
    """The target checks of a results document; ``all_pass`` combines them."""
    targets = {
        "pinned_vs_frameworks": _frameworks_target(doc),
        "pinned_helpers_vs_raw": _pinned_raw_target(doc),
        "batch_at_estimate": _batch_target(doc),
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
    bound = batch.get("bound") or {}
    points = [p for p in batch.get("slots") or () if p.get("gbps") is not None]
    best = best_slots(points)
    ratio, flag = None, None
    if batch.get("skipped") or ceiling is None or not points or not bound:
        why = batch.get("skipped") or (batch.get("ceiling") or {}).get("skipped")
        summary = f"not measured: {why}" if why else "not measured"
    elif best is None:
        flag, summary = False, "no batch run returned the right output"
    else:
        point = next(p for p in points if p["slots"] == best)
        ratio = point["gbps"] / bound["gbps"]
        flag = ratio >= BATCH_MIN_RATIO
        summary = (
            f"best {best} slot{'s' if best != 1 else ''}: {point['gbps']:.2f} GB/s = "
            f"{ratio:.1%} of the estimate's {bound['gbps']:.2f} GB/s (the estimate: "
            f"{bound['ratio_to_ceiling']:.1%} of the {ceiling:.2f} GB/s ceiling, "
            "as the first upload and the last download run alone)"
        )
    return {
        "description": (
            f"overlapped batch >= {BATCH_MIN_RATIO:.0%} of the whole-frame "
            "estimate, output verified"
        ),
        "threshold": BATCH_MIN_RATIO,
        "best_slots": best,
        "ratio": None if ratio is None else round(ratio, 4),
        "pass": flag,
        "summary": summary,
    }


def _frameworks_target(doc: dict[str, Any]) -> dict[str, Any]:
    """The helpers at or above CuPy's and PyTorch's calls, side by side, at every
    size and in both directions."""
    helpers, checks, notes = SIDE_BY_SIDE[0], [], []
    for entry in doc.get("frameworks") or ():
        n = entry.get("bytes")
        if entry.get("skipped"):
            notes.append(f"{format_bytes(n or 0)} not measured: {entry['skipped']}")
            continue
        for direction in DIRECTIONS:
            rates = entry.get(direction) or {}
            mine = rates.get(helpers)
            for other in FRAMEWORKS:
                theirs = rates.get(other)
                if mine is None or not theirs:
                    continue
                ratio = round(mine / theirs, 4)
                checks.append(
                    {"direction": direction, "bytes": n, "method": other, "gbps": mine,
                     "other_gbps": theirs, "ratio": ratio,
                     "pass": ratio >= 1 - AT_TOLERANCE}
                )  # fmt: skip
    below = [c for c in checks if not c["pass"]]
    if not checks:
        summary = "not measured"
    elif not below:
        lowest = min(checks, key=lambda c: c["ratio"])
        lowest_text = f"lowest {pct(lowest['ratio'])}"
        summary = f"at or above at all {len(checks)} points ({lowest_text})"
    else:
        summary = f"{len(checks) - len(below)} of {len(checks)} points; below: " + (
            "; ".join(
                f"{c['method']}, {c['direction']} {format_bytes(c['bytes'])}: "
                f"{c['gbps']:.2f} vs {c['other_gbps']:.2f} GB/s ({c['ratio']:.1%})"
                for c in below
            )
        )
    if notes:
        summary += " (" + "; ".join(notes) + ")"
    others = " and ".join(FRAMEWORKS)
    return {
        "description": (
            f"{helpers} pinned async >= {others} at every size, both ways, side by "
            f"side (within {AT_TOLERANCE:.1%})"
        ),
        "tolerance": AT_TOLERANCE,
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
