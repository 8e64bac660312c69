# SPDX-License-Identifier: Apache-2.0
"""Render the transfer benchmark's results (``results.json``) for the docs.

* :func:`render` draws GB/s against transfer size, host->device and
  device->host side by side, one line per method, into a PNG.
* :func:`table_rst` returns a reST ``list-table`` of the rates at 16 MiB and at
  the largest size measured, followed by the overhead, the helper-vs-raw
  ratio and the target verdicts the benchmark computed.

Both only read JSON: they run on a machine without a GPU. The JSON is written
by ``tests/benchmarks/bench_transfers.py`` (``nox -s bench``);
``results.example.json`` beside this file is a synthetic example of the schema.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

DIRECTIONS = (("h2d", "host → device"), ("d2h", "device → host"))
TABLE_BYTES = 16 << 20  # the mid-size column of the table
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"
EXAMPLE = HERE / "results.example.json"


def format_bytes(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} B"


def format_cuda_version(v: int | None) -> str:
    """13000 -> '13.0'; ``None`` or 0 -> 'unknown'."""
    if not v:
        return "unknown"
    return f"{v // 1000}.{(v % 1000) // 10}"


def load(results_path: Path) -> dict[str, Any]:
    """Parse a results file and check the keys the renderers need."""
    doc = json.loads(Path(results_path).read_text())
    missing = [k for k in ("device", "driver", "date", "results") if k not in doc]
    if missing:
        raise ValueError(f"{results_path}: not a transfer-benchmark results file (missing {', '.join(missing)})")
    return doc


def _methods(doc: dict[str, Any]) -> list[str]:
    """Methods in the order the benchmark ran them."""
    return list(dict.fromkeys(r["method"] for r in doc["results"]))


def _row(doc: dict[str, Any], method: str, direction: str, nbytes: int) -> dict[str, Any] | None:
    for r in doc["results"]:
        if r["method"] == method and r["direction"] == direction and r["bytes"] == nbytes:
            return r
    return None


def _is_pinned(method: str) -> bool:
    name = method.lower()
    return "pinned" in name or "register" in name


def _subtitle(doc: dict[str, Any]) -> str:
    driver = f"driver CUDA {format_cuda_version(doc.get('driver'))}"
    if doc.get("driver_release"):
        driver += f" ({doc['driver_release']})"
    parts = [driver, f"runtime {format_cuda_version(doc.get('runtime'))}", str(doc.get("date"))]
    if doc.get("quick"):
        parts.append("quick run")
    return " · ".join(parts)


def render(results_path: Path, out_png: Path) -> dict[str, Any]:
    """Draw the results in ``results_path`` into ``out_png``; returns the parsed results.

    Uses matplotlib's Agg canvas directly (no pyplot, no global backend switch).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FixedLocator, NullLocator

    doc = load(results_path)
    methods = _methods(doc)
    sizes = sorted({r["bytes"] for r in doc["results"]})
    colors = [f"C{i % 10}" for i in range(len(methods))]

    fig = Figure(figsize=(13, 6.2), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2, sharey=True)
    for ax, (direction, label) in zip(axes, DIRECTIONS, strict=True):
        for method, color in zip(methods, colors, strict=True):
            pts = [
                r
                for r in sorted(doc["results"], key=lambda r: r["bytes"])
                if r["method"] == method and r["direction"] == direction and r.get("gbps_median") is not None
            ]
            if not pts:
                continue
            x = [r["bytes"] for r in pts]
            style = "-" if _is_pinned(method) else "--"
            ax.plot(x, [r["gbps_median"] for r in pts], style, marker="o", ms=4, lw=1.6, color=color)
            lo = [r.get("gbps_min", r["gbps_median"]) for r in pts]
            hi = [r.get("gbps_max", r["gbps_median"]) for r in pts]
            ax.fill_between(x, lo, hi, color=color, alpha=0.12, lw=0)
        ax.set_xscale("log", base=2)
        if sizes:
            ax.xaxis.set_major_locator(FixedLocator(sizes))
            ax.set_xticklabels([format_bytes(n) for n in sizes])
            ax.set_xlim(sizes[0] / 1.5, sizes[-1] * 1.5)
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_title(label)
        ax.set_xlabel("transfer size")
        ax.grid(True, which="major", alpha=0.3)
        ax.set_ylim(bottom=0)
    axes[0].set_ylabel("GB/s (10⁹ bytes/s), median; band: min–max")

    title = f"Host ↔ device transfer rate on {doc['device']}"
    if doc.get("synthetic"):
        title += " — SYNTHETIC EXAMPLE, NOT A MEASUREMENT"
    fig.suptitle(f"{title}\n{_subtitle(doc)}", fontsize=12)
    handles = [
        Line2D([], [], color=c, ls="-" if _is_pinned(m) else "--", marker="o", ms=4, label=m)
        for m, c in zip(methods, colors, strict=True)
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(3, max(1, len(handles))), frameon=False)

    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=150)
    return doc


# --------------------------------------------------------------------------- #
# reST                                                                        #
# --------------------------------------------------------------------------- #
def _cell(text: str) -> str:
    """Escape what would start inline markup: backslash, ``*``, backquote, ``|`` and a
    word-final ``_`` (a reference); an underscore inside a word (``non_blocking``) is plain text."""
    for ch in ("\\", "*", "`", "|"):
        text = text.replace(ch, "\\" + ch)
    return re.sub(r"_(?=[\s.,;:!?)\]'\"]|$)", r"\\_", text)


def _gbps(row: dict[str, Any] | None) -> str:
    if row is None:
        return "—"
    if row.get("gbps_median") is None:
        return "skipped"
    text = f"{row['gbps_median']:.2f}"
    if row.get("verified") is False:
        text += " (data mismatch!)"
    return text


def _verdict(flag: bool | None) -> str:
    return {True: "PASS", False: "FAIL"}.get(flag, "N/A")


def _pct(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.1%}"


def table_rst(results: dict[str, Any]) -> str:
    """A reST fragment: a ``list-table`` of GB/s per method and direction at 16 MiB and
    at the largest size measured, then overhead, helper-vs-raw and target lines."""
    doc = results
    rows = doc.get("results", [])
    sizes = sorted({r["bytes"] for r in rows})
    columns = sorted({n for n in (TABLE_BYTES, sizes[-1] if sizes else None) if n is not None and n in sizes})
    out: list[str] = []

    if doc.get("synthetic"):
        out += [
            ".. warning::",
            "",
            "   These numbers are a **synthetic example** of the results format, not a measurement.",
            "   Run ``nox -s bench`` on a GPU machine to produce ``docs/performance/results.json``.",
            "",
        ]
    out += [
        f"Measured on **{_cell(str(doc.get('device')))}**, {_cell(_subtitle(doc))}; "
        f"cuda-bindings {_cell(str(doc.get('cuda_bindings')))}, numpy {_cell(str(doc.get('numpy')))}, "
        f"CuPy {_cell(str(doc.get('cupy') or 'not installed'))}, "
        f"PyTorch {_cell(str(doc.get('torch') or 'not installed'))}, Python {_cell(str(doc.get('python')))}.",
        "",
    ]

    repeats = doc.get("repeats")
    caption = "Transfer rate in GB/s (10\\ :sup:`9` bytes/s), median of"
    caption += f" {repeats} or more timed copies" if repeats else " the timed copies"
    out += [
        f".. list-table:: {caption}",
        "   :header-rows: 1",
        "",
        "   * - Method",
        "     - Direction",
        "     - Timer",
        *(f"     - {format_bytes(n)}" for n in columns),
    ]
    for method in dict.fromkeys(r["method"] for r in rows):
        for direction, label in DIRECTIONS:
            here = [r for r in rows if r["method"] == method and r["direction"] == direction]
            if not here:
                continue
            out += [
                f"   * - {_cell(method)}",
                f"     - {label}",
                f"     - {_cell(here[0].get('timer', ''))}",
                *(f"     - {_gbps(_row(doc, method, direction, n))}" for n in columns),
            ]
    out.append("")

    notes: list[str] = []
    ovh = doc.get("overhead_us") or {}
    if ovh.get("skipped"):
        notes.append(f"Per-call overhead: not measured ({_cell(ovh['skipped'])}).")
    elif ovh:
        parts = []
        for direction, label in DIRECTIONS:
            o = ovh.get(direction) or {}
            if "overhead_us" in o:
                parts.append(
                    f"{label} {o['overhead_us']:+.2f} µs (helper {o['helper_us']:.2f} µs, raw {o['raw_us']:.2f} µs)"
                )
        notes.append(
            f"Per-call overhead of the helpers over the raw binding at {format_bytes(ovh.get('bytes', 4096))} "
            f"(pageable, synchronous; median of {ovh.get('calls')} calls each): {'; '.join(parts)}."
        )
    hvr = doc.get("helper_vs_raw") or {}
    if hvr.get("skipped"):
        notes.append(f"Helpers vs raw ``cudaMemcpy`` (pageable): not measured ({_cell(hvr['skipped'])}).")
    elif hvr:
        parts = []
        for direction, label in DIRECTIONS:
            o = hvr.get(direction) or {}
            if "ratio" in o:
                parts.append(
                    f"{label} {_pct(o['ratio'])} ({o['helper_gbps_median']:.2f} vs {o['raw_gbps_median']:.2f} GB/s)"
                )
        how = ", interleaved runs" if hvr.get("interleaved") else ""
        notes.append(
            f"Helpers vs raw ``cudaMemcpy`` at {format_bytes(hvr.get('bytes', 0))} (pageable{how}): {'; '.join(parts)}."
        )
    for m in doc.get("methods", []):
        if not m.get("available", True):
            notes.append(f"Not measured: {_cell(m['name'])} ({_cell(str(m.get('note')))}).")
    skipped = [r for r in rows if r.get("skipped")]
    for r in skipped:
        notes.append(
            f"Skipped: {_cell(r['method'])}, {dict(DIRECTIONS)[r['direction']]}, {format_bytes(r['bytes'])}: "
            f"{_cell(str(r['skipped']))}."
        )
    for key, target in (doc.get("targets") or {}).items():
        if key == "all_pass" or not isinstance(target, dict):
            continue
        notes.append(
            f"**{_verdict(target.get('pass'))}** — target: {_cell(target.get('description', key))}: "
            f"{_cell(target.get('summary', ''))}."
        )
    for note in notes:
        out.append(f"- {note}")
    out.append("")
    return "\n".join(out)


def write_docs_assets(out_dir: Path, results: Path | None = None) -> dict[str, Any]:
    """For the docs build: render ``performance.png`` and ``performance_table.rst`` into ``out_dir``.

    Uses ``results`` if given, else ``results.json`` beside this file, else the
    synthetic ``results.example.json`` (whose table then carries a warning).
    """
    path = results or (RESULTS if RESULTS.exists() else EXAMPLE)
    out_dir = Path(out_dir)
    doc = render(path, out_dir / "performance.png")
    (out_dir / "performance_table.rst").write_text(table_rst(doc))
    return doc
