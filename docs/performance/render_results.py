# SPDX-License-Identifier: Apache-2.0
"""Render the transfer benchmark's results (``results.json``): text, reST, plot.

The one place the results are rendered, for the console and for the docs:

* :func:`sections` turns a results document into titled tables and notes;
  :func:`format_text` prints them (the benchmark's report) and :func:`to_rst`
  writes the same tables as reST ``list-table`` directives (the Performance
  page).
* :func:`render` draws the main methods' rates as a share of the fastest
  method at each size, host -> device and device -> host side by side, sized
  for the page width, with the recommended path highlighted.
* :func:`write_docs_assets` writes the figures and the reST for the docs build,
  one include per part of the page (:data:`PAGE_PARTS`).

A block a results file lacks, because it was recorded before the benchmark
measured it, renders as a note saying so.

Everything here only reads JSON, so it runs without a GPU. ``bench.py`` beside
this file writes the JSON (``nox -s bench``); ``results.example.json`` is a
synthetic example of the schema. The transfer methods' names are defined here,
once, for the benchmark, the plot and the docs' comparison table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

#: The results schema this module reads and ``bench.py`` writes.
SCHEMA = 2
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"
EXAMPLE = HERE / "results.example.json"

DIRECTIONS = {"h2d": "host → device", "d2h": "device → host"}

#: The transfer methods, as results.json names them.
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
#: The path the samples recommend for streaming: highlighted in the plot.
RECOMMENDED = HELPERS_PINNED
#: The plot's lines: (method, colour, line style, line width); drawn in this
#: order, so the recommended path comes last and lies on top.
PLOT_LINES = (
    (RAW_PAGEABLE, "#e8a766", (0, (4, 2)), 2.0),
    (HELPERS_PAGEABLE, "#b35900", "-", 2.0),
    (RAW_PINNED, "#8fb3e0", (0, (4, 2)), 2.0),
    (RECOMMENDED, "#0a4c99", "-", 3.4),
)
#: The figure is drawn for a page column about 800 px wide: 8 inches at the
#: browser's 100 px per inch, so a 10 pt label shows at about 14 px.
PLOT_SIZE_IN = (8.0, 4.9)
PLOT_DPI = 200  # sharp on high-density screens
#: The Performance page's includes, in page order: file -> the sections it holds.
#: The findings come first; the full figures, then the targets, at the end.
PAGE_PARTS = {
    "performance_run.rst": ("run",),
    "performance_batch.rst": ("batch",),
    "performance_interop.rst": ("stream_wait",),
    "performance_decode.rst": ("decode",),
    "performance_table.rst": ("comparisons", "h2d", "d2h", "notes"),
    "performance_wrap.rst": ("wrap_cost",),
    "performance_targets.rst": ("targets",),
}


class Section(NamedTuple):
    """A titled table (``header`` and ``rows`` of text cells) and/or notes."""

    key: str
    title: str = ""
    header: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    notes: tuple[str, ...] = ()


# --------------------------------------------------------------------------- #
# Numbers and units                                                           #
# --------------------------------------------------------------------------- #
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


def verdict(flag: bool | None) -> str:
    return {True: "PASS", False: "FAIL"}.get(flag, "N/A")


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def _gbps(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f} GB/s"


def _us(x: float | None, sign: str = "") -> str:
    return "n/a" if x is None else f"{x:{sign}.2f} µs"


# --------------------------------------------------------------------------- #
# Reading                                                                     #
# --------------------------------------------------------------------------- #
def load(results_path: Path) -> dict[str, Any]:
    """Parse a results file and check that it is one this module can render."""
    doc = json.loads(Path(results_path).read_text())
    missing = [k for k in ("device", "driver", "date", "results") if k not in doc]
    if missing:
        raise ValueError(
            f"{results_path}: not a transfer-benchmark results file "
            f"(missing {', '.join(missing)})"
        )
    if doc.get("schema", 1) != SCHEMA:
        raise ValueError(
            f"{results_path}: results schema {doc.get('schema', 1)}, this renderer "
            f"reads schema {SCHEMA}: run bench.py --upgrade {results_path}"
        )
    return doc


def _measured(row: dict[str, Any]) -> bool:
    return row.get("gbps_median") is not None


def ratios_to_best(rows: Sequence[dict[str, Any]]) -> list[float | None]:
    """Each row's median rate as a share of the fastest method's at the same size
    and direction (rows whose data came back wrong are never the fastest)."""
    best: dict[tuple[str, int], float] = {}
    for r in rows:
        if _measured(r) and r.get("verified") is not False:
            key = (r["direction"], r["bytes"])
            best[key] = max(best.get(key, 0.0), r["gbps_median"])
    out: list[float | None] = []
    for r in rows:
        top = best.get((r["direction"], r["bytes"]))
        out.append(round(r["gbps_median"] / top, 4) if _measured(r) and top else None)
    return out


def _rate_cell(row: dict[str, Any] | None) -> str:
    if row is None:
        return "—"
    if not _measured(row):
        return "skipped"
    text = f"{row['gbps_median']:.2f}"
    if row.get("ratio_to_best") is not None:
        text += f" ({row['ratio_to_best']:.0%})"
    if row.get("verified") is False:
        text += " MISMATCH"
    return text


# --------------------------------------------------------------------------- #
# The sections: one source for the console report and the page's tables      #
# --------------------------------------------------------------------------- #
def _run_section(doc: dict[str, Any]) -> Section:
    driver = f"driver CUDA {format_cuda_version(doc.get('driver'))}"
    if doc.get("driver_release"):
        driver += f" ({doc['driver_release']})"
    versions = ", ".join(
        f"{name} {doc.get(key) or 'not installed'}"
        for name, key in (
            ("cuda-bindings", "cuda_bindings"),
            ("CV-CUDA", "cvcuda"),
            ("numpy", "numpy"),
            ("CuPy", "cupy"),
            ("PyTorch", "torch"),
            ("Python", "python"),
        )
    )
    line = (
        f"Measured on {doc.get('device')}, {driver}, runtime "
        f"{format_cuda_version(doc.get('runtime'))}; {versions}; {doc.get('date')}"
    )
    if doc.get("quick"):
        line += ", quick run"
    days = doc.get("measured") or {}  # a part re-run alone has its own date
    if len(set(days.values())) > 1:
        line += " (" + ", ".join(f"{part} {day}" for part, day in days.items()) + ")"
    return Section("run", notes=(line + ".",))


def _targets_section(doc: dict[str, Any]) -> Section:
    rows = tuple(
        (verdict(t.get("pass")), t.get("description", key), t.get("summary", ""))
        for key, t in (doc.get("targets") or {}).items()
        if isinstance(t, dict)
    )
    return Section("targets", "Targets", ("Verdict", "Target", "Measured"), rows)


def _batch_section(doc: dict[str, Any]) -> Section:
    batch = doc.get("batch") or {}
    title = "Overlapped batch: host → device, flip, device → host"
    if batch.get("frames") and batch.get("frame_shape"):
        shape = "×".join(str(d) for d in batch["frame_shape"])
        title += f", {batch['frames']} frames of {shape} uint8"
    rows: list[tuple[str, ...]] = []
    notes: list[str] = []
    ceiling = batch.get("ceiling") or {}
    labels = {
        "both": "ceiling: raw h2d ∥ d2h on two streams, no kernel",
        "h2d": "raw h2d alone",
        "d2h": "raw d2h alone",
    }
    if ceiling.get("skipped"):
        notes.append(f"Ceiling not measured: {ceiling['skipped']}")
    for key, label in labels.items():
        point = ceiling.get(key)
        if point:
            share = "100.0%" if key == "both" else "—"
            ms = f"{point['seconds'] * 1e3:.2f} ms"
            rows.append((label, _gbps(point.get("gbps")), share, ms, "—"))
    bound = batch.get("bound")
    if bound:
        label = "estimate: whole frames, first up and last down alone"
        rows.append(
            (label, _gbps(bound["gbps"]), pct(bound["ratio_to_ceiling"]), "—", "—")
        )
    for run in batch.get("slots") or ():
        n = run["slots"]
        label = f"batch, {n} slot" + (
            " (serial, host sync per frame)" if n == 1 else "s"
        )
        check = {True: "verified", False: "MISMATCH"}.get(run.get("verified"), "—")
        ms = "—" if run.get("seconds") is None else f"{run['seconds'] * 1e3:.2f} ms"
        share = pct(run.get("ratio_to_ceiling"))
        rows.append((label, _gbps(run.get("gbps")), share, ms, check))
    if batch.get("skipped"):
        notes.append(f"Batch not measured: {batch['skipped']}")
    if batch.get("best_slots") is not None:
        n = batch["best_slots"]
        notes.append(f"Best: {n} slot{'s' if n != 1 else ''} (buffer sets in flight).")
    if bound:
        notes.append(
            "The estimate uses the ceiling's three rates: the first frame goes up "
            "alone, the last comes down alone, every other download overlaps an "
            "upload at the ceiling's average rate. It is not a hard limit."
        )
    if rows:
        notes.append(
            "GB/s counts the bytes up plus the bytes down over the time from the "
            "first call to the last stream synchronize; best of "
            f"{batch.get('runs', '?')} runs after a warm-up."
        )
    header = ("Run", "GB/s", "Share of ceiling", "Time", "Output")
    return Section("batch", title, header if rows else (), tuple(rows), tuple(notes))


def _comparisons_section(doc: dict[str, Any]) -> Section:
    rows: list[tuple[str, ...]] = []
    notes: list[str] = []
    ovh = doc.get("overhead_us") or {}
    size = format_bytes(ovh.get("bytes") or 4096)
    if ovh.get("skipped"):
        notes.append(f"Per-call overhead not measured: {ovh['skipped']}")
    elif ovh:
        what = f"time per call, {size} pageable, synchronous"
        for direction, label in DIRECTIONS.items():
            o = ovh.get(direction) or {}
            rows.append(
                (
                    what,
                    label,
                    _us(o.get("helper_us")),
                    _us(o.get("raw_us")),
                    _us(o.get("overhead_us"), "+"),
                )
            )
        notes.append(
            f"Per-call times: median of {ovh.get('calls')} calls each, helper and "
            "raw calls interleaved, the call alone timed."
        )
    for entry in doc.get("helper_vs_raw") or ():
        size = format_bytes(entry.get("bytes") or 0)
        memory = entry.get("memory", "pageable")
        what = f"rate, {size} {memory}" + (" async" if memory == "pinned" else "")
        if entry.get("skipped"):
            notes.append(
                f"Helpers vs raw, {size} {memory}: not measured: {entry['skipped']}"
            )
            continue
        for direction, label in DIRECTIONS.items():
            o = entry.get(direction) or {}
            rows.append(
                (
                    what,
                    label,
                    _gbps(o.get("helper_gbps_median")),
                    _gbps(o.get("raw_gbps_median")),
                    pct(o.get("ratio")),
                )
            )
    if rows:
        notes.append(
            "Rates: medians over interleaved helper and raw copies on the same "
            "memory (pinned: event-timed on one stream; pageable: until synchronized)."
        )
    header = ("Measurement", "Direction", "Helper", "Raw", "Helper vs raw")
    title = "The helpers against the raw binding, measured interleaved"
    return Section(
        "comparisons", title, header if rows else (), tuple(rows), tuple(notes)
    )


def _rates_section(doc: dict[str, Any], direction: str) -> Section:
    rows = doc.get("results", [])
    sizes = sorted({r["bytes"] for r in rows})
    index = {(r["method"], r["direction"], r["bytes"]): r for r in rows}
    table = []
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [
            r for r in rows if r["method"] == method and r["direction"] == direction
        ]
        if not mine:
            continue
        cells = (_rate_cell(index.get((method, direction, n))) for n in sizes)
        table.append((method, mine[0].get("timer", ""), *cells))
    title = (
        f"{DIRECTIONS[direction]}: GB/s, median of {doc.get('repeats', '?')} or more "
        "timed copies (in brackets: share of the fastest method at that size)"
    )
    header = ("Method", "Timer", *(format_bytes(n) for n in sizes))
    return Section(
        direction, title if table else "", header if table else (), tuple(table)
    )


def _notes_section(doc: dict[str, Any]) -> Section:
    notes = []
    if doc.get("schema_note"):
        notes.append(str(doc["schema_note"]))
    for m in doc.get("methods", []):
        if not m.get("available", True):
            notes.append(f"Not measured: {m['name']} ({m.get('note')}).")
    for r in doc.get("results", []):
        where = (
            f"{r['method']}, {DIRECTIONS[r['direction']]}, {format_bytes(r['bytes'])}"
        )
        if r.get("skipped"):
            notes.append(f"Skipped: {where}: {r['skipped']}.")
        if r.get("verified") is False:
            notes.append(f"Data mismatch after {where}.")
    notes.extend(f"Warning: {w}" for w in doc.get("warnings") or ())
    return Section("notes", "Notes" if notes else "", notes=tuple(notes))


def _older_than(what: str) -> str:
    """The note for a block a results file lacks because it predates timing ``what``."""
    return (
        "Not measured in this results file: it was recorded before the benchmark "
        f"timed {what}. The next GPU run (nox -s bench) measures it."
    )


def _interop_times(rows: list[dict[str, Any]], busy: str, way: str) -> float | None:
    for row in rows:
        if row.get("busy") == busy and row.get("way") == way:
            return row.get("us_median")
    return None


def _stream_wait_section(doc: dict[str, Any]) -> Section:
    interop = doc.get("interop")
    title = "CV-CUDA on a torch tensor while another stream is busy"
    if not interop:
        note = _older_than("CV-CUDA on torch's streams")
        return Section("stream_wait", title, notes=(note,))
    shape = "×".join(str(d) for d in interop.get("frame_shape") or ())
    title += f": µs per call, {interop.get('operator', 'flip')} of {shape} uint8"
    notes: list[str] = []
    if interop.get("skipped"):
        notes.append(f"Not measured: {interop['skipped']}")
    if interop.get("stream_wait_skipped"):
        notes.append(f"Not measured: {interop['stream_wait_skipped']}")
    rows_in = interop.get("stream_wait") or []
    busy = interop.get("busy") or {}
    ways = dict.fromkeys((r["way"], r.get("label", r["way"])) for r in rows_in)
    rows: list[tuple[str, ...]] = []
    for way, label in ways:
        mine = [r for r in rows_in if r["way"] == way]
        cells = [_us(_interop_times(rows_in, key, way)) for key in busy]
        checks = {r.get("verified") for r in mine}
        check = (
            "MISMATCH" if False in checks else "verified" if checks == {True} else "—"
        )
        rows.append((label, *cells, check))
    for key, info in busy.items():
        v2 = _interop_times(rows_in, key, "cai_v2")
        v3 = _interop_times(rows_in, key, "cai_v3")
        ratio = "" if not (v2 and v3) else f"; CAI v2 took {v2 / v3:.1f}× as long as v3"
        notes.append(
            f"{info.get('label', key)}: {_us(info.get('busy_us'))} of GPU work "
            f"queued on that stream before each call{ratio}."
        )
    if rows:
        notes.append(
            f"{interop.get('timer', '')} Median of {interop.get('reps', '?')} calls "
            "per cell, the interfaces interleaved."
        )
    header = ("Interface CV-CUDA reads", *(b.get("label", k) for k, b in busy.items()))
    header += ("Output",)
    return Section(
        "stream_wait", title, header if rows else (), tuple(rows), tuple(notes)
    )


def _wrap_cost_section(doc: dict[str, Any]) -> Section:
    interop = doc.get("interop") or {}
    rows_in = interop.get("wrap_us") or []
    notes: list[str] = []
    if interop.get("wrap_skipped"):
        notes.append(f"Wrap cost not measured: {interop['wrap_skipped']}")
    rows = []
    for r in rows_in:
        if r.get("skipped"):
            notes.append(f"Not measured: {r['library']}, {r['call']}: {r['skipped']}")
            continue
        copy = {True: "zero-copy", False: "COPIED"}.get(r.get("zero_copy"), "—")
        rows.append(
            (r["library"], r["direction"], r["call"], _us(r["us_median"]), copy)
        )
    if rows:
        notes.append(
            f"Host time of the call alone (time.perf_counter), median of "
            f"{interop.get('wrap_calls', '?')} calls each, all calls interleaved; "
            "the result is dropped outside the timing."
        )
    header = ("Library", "Direction", "Call", "Median", "Memory")
    title = "Wrap cost: one call that hands a GPU buffer over" if rows or notes else ""
    return Section(
        "wrap_cost", title, header if rows else (), tuple(rows), tuple(notes)
    )


def _decode_section(doc: dict[str, Any]) -> Section:
    """JPEG bytes to a CV-CUDA tensor: nvImageCodec on the GPU against Pillow on
    the host (the optional ``decode`` block of a results file)."""
    decode = doc.get("decode")
    title = "JPEG decode to a CV-CUDA tensor: GPU (nvImageCodec) against host (Pillow)"
    if not decode:
        note = _older_than("JPEG decoding")
        return Section("decode", title, notes=(note,))
    shape = "×".join(str(d) for d in decode.get("shape") or ())
    size = decode.get("jpeg_bytes")
    title += f", {shape} photo" + (f" ({size:,} bytes of JPEG)" if size else "")
    notes: list[str] = []
    if decode.get("skipped"):
        notes.append(f"Not measured: {decode['skipped']}")
    host = {
        p.get("path"): p.get("ms_per_image")
        for p in decode.get("paths") or ()
        if p.get("kind") == "host"
    }
    slowest_host = max((v for v in host.values() if v), default=None)
    rows: list[tuple[str, ...]] = []
    for p in decode.get("paths") or ():
        ms = p.get("ms_per_image")
        if p.get("skipped") or ms is None:
            why = p.get("skipped") or "not measured"
            rows.append((p.get("path", "?"), "skipped", "skipped", "—", "—"))
            notes.append(f"{p.get('path')}: not measured: {why}")
            continue
        check = {True: "verified", False: "MISMATCH"}.get(p.get("verified"), "—")
        if p.get("max_diff") is not None:  # how far from Pillow's pixels
            check += f" (max diff {p['max_diff']}, mean {p['mean_diff']:.3f})"
        speedup = "—" if not slowest_host else f"{slowest_host / ms:.1f}×"
        rows.append((p["path"], f"{ms:.3f}", f"{1e3 / ms:,.0f}", speedup, check))
    init = decode.get("init_ms")
    if init is not None:
        notes.append(
            f"One-time set-up: {init:,.0f} ms for the first Decoder() and its first "
            f"decode (import of nvidia.nvimgcodec: {decode.get('import_ms', 0):,.0f} "
            "ms), in a process whose CUDA context already existed; not in the rows."
        )
    if rows:
        notes.append(
            f"{decode.get('timer', '')} Median of {decode.get('reps', '?')} timed "
            f"calls per path after {decode.get('warmup', '?')} warm-up calls, the "
            f"paths interleaved; a batch call decodes {decode.get('batch', '?')} "
            "images and counts as that many. Speed-up: against the slowest host path."
        )
    if decode.get("nvimgcodec") or decode.get("pillow"):
        notes.append(
            f"nvImageCodec {decode.get('nvimgcodec') or 'not installed'}, "
            f"Pillow {decode.get('pillow') or 'not installed'}."
        )
    header = ("Path", "ms per image", "images/s", "Speed-up", "Output")
    return Section("decode", title, header if rows else (), tuple(rows), tuple(notes))


def sections(doc: dict[str, Any]) -> list[Section]:
    """The report, in order: run, targets, batch, comparisons, h2d, d2h, the
    interop sections (stream_wait, wrap_cost), decode, notes."""
    return [
        _run_section(doc),
        _targets_section(doc),
        _batch_section(doc),
        _comparisons_section(doc),
        _rates_section(doc, "h2d"),
        _rates_section(doc, "d2h"),
        _stream_wait_section(doc),
        _wrap_cost_section(doc),
        _decode_section(doc),
        _notes_section(doc),
    ]


def _pick(doc: dict[str, Any], keys: Iterable[str] | None) -> list[Section]:
    wanted = None if keys is None else set(keys)
    return [s for s in sections(doc) if wanted is None or s.key in wanted]


# --------------------------------------------------------------------------- #
# Text                                                                        #
# --------------------------------------------------------------------------- #
_NUMBER = re.compile(r"^[-+]?\d")


def _text_table(
    header: tuple[str, ...], rows: tuple[tuple[str, ...], ...]
) -> list[str]:
    widths = [max(len(c) for c in col) for col in zip(header, *rows, strict=True)]
    right = [
        i > 0
        and all(_NUMBER.match(r[i]) or r[i] in ("—", "n/a", "skipped") for r in rows)
        for i in range(len(header))
    ]
    lines = []
    for cells in (header, *rows):
        parts = [
            c.rjust(w) if r else c.ljust(w)
            for c, w, r in zip(cells, widths, right, strict=True)
        ]
        lines.append("  ".join(parts).rstrip())
    return lines


def format_text(doc: dict[str, Any], keys: Iterable[str] | None = None) -> str:
    """The console report: the same sections as the page, as plain text."""
    lines: list[str] = []
    if doc.get("synthetic"):
        lines.append("SYNTHETIC EXAMPLE DATA: NOT A MEASUREMENT")
    for s in _pick(doc, keys):
        if s.title:
            lines += ["", s.title]
        if s.header:
            lines += _text_table(s.header, s.rows)
        lines += [f"  {n}" if s.title else n for n in s.notes]
    return "\n".join(lines).strip("\n")


# --------------------------------------------------------------------------- #
# reST                                                                        #
# --------------------------------------------------------------------------- #
def rst_escape(text: str) -> str:
    """Escape what would start inline markup: backslash, ``*``, backquote, ``|``
    and a word-final ``_`` (a reference); ``non_blocking`` stays plain text."""
    for ch in ("\\", "*", "`", "|"):
        text = text.replace(ch, "\\" + ch)
    return re.sub(r"_(?=[\s.,;:!?)\]'\"]|$)", r"\\_", text)


def to_rst(doc: dict[str, Any], keys: Iterable[str] | None = None) -> str:
    """The sections as reST: a ``list-table`` per table, a bullet list of notes."""
    picked = _pick(doc, keys)
    out: list[str] = []
    if doc.get("synthetic") and any(s.key == "run" for s in picked):
        out += [
            ".. warning::",
            "",
            "   These numbers are a **synthetic example** of the results format, "
            "not a measurement.",
            "   Run ``nox -s bench`` on a GPU machine to produce "
            "``docs/performance/results.json``.",
            "",
        ]
    for s in picked:
        if s.header:
            out += [f".. list-table:: {rst_escape(s.title)}", "   :header-rows: 1", ""]
            for cells in (s.header, *s.rows):
                for i, c in enumerate(cells):
                    text = rst_escape(c)
                    if s.key == "targets" and cells is not s.header and i == 0:
                        text = f"**{text}**"
                    out.append(f"   {'*' if i == 0 else ' '} - {text}")
            out.append("")
        elif s.title and s.notes:
            out += [f".. rubric:: {rst_escape(s.title)}", ""]
        if s.key == "run":
            out += [rst_escape(n) for n in s.notes] + [""]
        elif s.notes:
            out += [f"- {rst_escape(n)}" for n in s.notes] + [""]
    return "\n".join(out)


# --------------------------------------------------------------------------- #
# The plot                                                                    #
# --------------------------------------------------------------------------- #
def _tick(n: int) -> str:
    return format_bytes(n).replace(" ", "\n")


def render(doc: dict[str, Any], out_png: Path | None = None) -> Any:
    """Draw the share of the fastest method per size; returns the matplotlib Figure.

    Uses matplotlib's Agg canvas directly (no pyplot, no global backend switch).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, NullLocator, PercentFormatter

    rows = doc["results"]
    sizes = sorted({r["bytes"] for r in rows})
    fig = Figure(figsize=PLOT_SIZE_IN, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2, sharey=True)
    for ax, (direction, label) in zip(axes, DIRECTIONS.items(), strict=True):
        ax.axhline(100, color="0.55", lw=1.0, zorder=1)
        for method, color, style, width in PLOT_LINES:
            pts = sorted(
                (r["bytes"], 100 * r["ratio_to_best"])
                for r in rows
                if r["method"] == method
                and r["direction"] == direction
                and r.get("ratio_to_best") is not None
            )
            if not pts:
                continue
            mine = method == RECOMMENDED
            ax.plot(
                [p[0] for p in pts],
                [p[1] for p in pts],
                color=color,
                ls=style,
                lw=width,
                marker="o",
                ms=6 if mine else 4,
                zorder=4 if mine else 3,
                label=f"{method} (recommended)" if mine else method,
            )
        ax.set_xscale("log", base=2)
        if sizes:
            ax.xaxis.set_major_locator(FixedLocator(sizes))
            ax.set_xticklabels([_tick(n) for n in sizes])
            ax.set_xlim(sizes[0] / 1.6, sizes[-1] * 1.6)
        ax.xaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
        ax.set_ylim(0, 108)
        ax.set_title(label, fontsize=12)
        ax.set_xlabel("transfer size", fontsize=11)
        ax.tick_params(labelsize=10)
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("share of the fastest method's GB/s", fontsize=11)

    title = f"Copy rate as a share of the fastest method, {doc['device']}"
    if doc.get("synthetic"):
        title = "SYNTHETIC EXAMPLE, NOT A MEASUREMENT"
    subtitle = (
        f"median of the timed copies · driver CUDA "
        f"{format_cuda_version(doc.get('driver'))} · {doc.get('date')}"
    )
    fig.suptitle(f"{title}\n{subtitle}", fontsize=12)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(
            handles[::-1],
            labels[::-1],
            loc="outside lower center",
            ncols=2,
            frameon=False,
            fontsize=11,
        )
    if out_png is not None:
        out_png = Path(out_png)
        out_png.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out_png, dpi=PLOT_DPI)
    return fig


#: The timeline's colours: one per step of a frame.
TIMELINE_STEPS = {"h2d": "#1f77b4", "flip": "#ff7f0e", "d2h": "#2ca02c"}
TIMELINE_SIZE_IN = (8.0, 3.4)


def render_timeline(doc: dict[str, Any], out_png: Path | None = None) -> Any:
    """Draw the batch's timeline: one row per stream, one bar per call, from the
    GPU timestamps the benchmark recorded; returns the matplotlib Figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    batch = doc.get("batch") or {}
    timeline = batch.get("timeline") or {}
    spans = timeline.get("spans") or []
    fig = Figure(figsize=TIMELINE_SIZE_IN, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()

    def lane(span: dict[str, Any]) -> str:  # older results name the slot's stream
        return span.get("stream") or f"slot {span['slot'] + 1}"

    lanes = list(dict.fromkeys(lane(s) for s in spans))  # in order of first use
    for span in spans:
        row = lanes.index(lane(span))
        start, end = span["start_ms"], span["end_ms"]
        ax.barh(
            row,
            end - start,
            left=start,
            height=0.6,
            color=TIMELINE_STEPS.get(span["step"], "0.5"),
            edgecolor="white",
            linewidth=0.5,
        )
        if span["step"] != "flip" and end - start > 0.06:
            ax.text(
                (start + end) / 2, row, str(span["frame"] + 1),
                ha="center", va="center", color="white", fontsize=9,
            )  # fmt: skip
    ax.set_yticks(range(len(lanes)), [f"{name} stream" for name in lanes])
    ax.invert_yaxis()
    ax.set_xlabel("ms since the first call (GPU timestamps)", fontsize=11)
    ax.tick_params(labelsize=10)
    ax.grid(True, axis="x", alpha=0.3)
    if spans:
        title = (
            f"One run of the batch, {timeline.get('slots')} frames in flight: "
            f"{batch.get('frames')} frames up, flipped, down"
        )
        ax.set_xlim(left=0)
        fig.legend(
            handles=[Patch(color=c, label=k) for k, c in TIMELINE_STEPS.items()],
            loc="outside lower center",
            ncols=3,
            fontsize=11,
            frameon=False,
        )
    else:
        title = "No timeline recorded in this run"
        why = batch.get("skipped") or "not measured"
        ax.text(0.5, 0.5, why, ha="center", transform=ax.transAxes, fontsize=11)
    if doc.get("synthetic"):
        title = "SYNTHETIC EXAMPLE, NOT A MEASUREMENT"
    ax.set_title(title, fontsize=12)
    if out_png is not None:
        out_png = Path(out_png)
        out_png.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out_png, dpi=PLOT_DPI)
    return fig


# --------------------------------------------------------------------------- #
# The docs build                                                              #
# --------------------------------------------------------------------------- #
def write_docs_assets(out_dir: Path, results: Path | None = None) -> dict[str, Any]:
    """Write ``performance.png``, ``batch_timeline.png`` (one run of the batch)
    and one reST include per entry of :data:`PAGE_PARTS` into ``out_dir``.

    Uses ``results`` if given, else ``results.json`` beside this file, else the
    synthetic ``results.example.json``, whose every include then says so.
    """
    path = results or (RESULTS if RESULTS.exists() else EXAMPLE)
    doc = load(path)
    out_dir = Path(out_dir)
    render(doc, out_dir / "performance.png")
    render_timeline(doc, out_dir / "batch_timeline.png")
    synthetic = ".. warning::\n\n   Synthetic example numbers, not a measurement.\n\n"
    for name, keys in PAGE_PARTS.items():
        text = to_rst(doc, keys)
        if doc.get("synthetic") and "run" not in keys:  # the run says it in full
            text = synthetic + text
        (out_dir / name).write_text(text)
    return doc
