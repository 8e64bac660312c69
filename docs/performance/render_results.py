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
* :func:`render_pipeline` and :func:`render_pipeline_stages` draw the JPEG
  pipeline's images/s per batch size against DALI's, and where its time goes.
* :func:`write_docs_assets` writes the figures and the reST for the docs build,
  one include per part of the page (:data:`PAGE_PARTS`); a section that has a
  figure (:attr:`Section.figure`) shows it above its table.

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
#: The calls of the side-by-side comparison (side_by_side.py), the helpers first.
SIDE_BY_SIDE = ("helpers", "CuPy set / get", "PyTorch copy_")
#: Side by side, the helpers count as at another call's rate down to this share
#: below it: from 16 MiB the three calls make the same copy, and their medians
#: differ by noise of about this size.
AT_TOLERANCE = 0.005
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
    "performance_pipeline.rst": (
        "pipeline_finding",
        "pipeline",
        "pipeline_stages",
        "pipeline_timeline",
    ),
    "performance_table.rst": ("comparisons", "frameworks", "h2d", "d2h", "notes"),
    "performance_wrap.rst": ("wrap_cost",),
    "performance_targets.rst": ("targets",),
}


#: Sections whose notes are paragraphs on the page, not a bullet list.
PARAGRAPHS = ("run", "pipeline_finding")
#: Where the docs build puts the figures of write_docs_assets, from the docs'
#: source folder (docs/_ext/interop_docs.py writes them to docs/_generated).
FIGURES_URL = "/_generated"


class Section(NamedTuple):
    """A titled table (``header`` and ``rows`` of text cells) and/or notes, and
    on the page a ``figure`` (a file of write_docs_assets) with its ``alt`` text."""

    key: str
    title: str = ""
    header: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    notes: tuple[str, ...] = ()
    figure: str = ""
    alt: str = ""


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
            "memory (pinned: event-timed on one stream, each copy after an untimed "
            "one of the same call; pageable: until synchronized)."
        )
    header = ("Measurement", "Direction", "Helper", "Raw", "Helper vs raw")
    title = "The helpers against the raw binding, measured interleaved"
    return Section(
        "comparisons", title, header if rows else (), tuple(rows), tuple(notes)
    )


def _frameworks_section(doc: dict[str, Any]) -> Section:
    helpers, others = SIDE_BY_SIDE[0], SIDE_BY_SIDE[1:]
    rows: list[tuple[str, ...]] = []
    notes: list[str] = []
    failed: set[str] = set()
    behind: dict[str, list[str]] = {other: [] for other in others}
    entries = doc.get("frameworks") or ()
    for entry in entries:
        size = format_bytes(entry.get("bytes") or 0)
        if entry.get("skipped"):
            notes.append(f"{size} not measured: {entry['skipped']}")
            continue
        failed |= {k for k, ok in (entry.get("verified") or {}).items() if not ok}
        for direction, label in DIRECTIONS.items():
            rates = entry.get(direction) or {}
            mine = rates.get(helpers)
            shares = [
                pct(mine / rates[o]) if mine and rates.get(o) else "—" for o in others
            ]
            cells = [_gbps(rates.get(name)) for name in SIDE_BY_SIDE]
            rows.append((size, label, *cells, *shares))
            for other in others:
                if mine and rates.get(other, 0) * (1 - AT_TOLERANCE) > mine:
                    behind[other].append(f"{direction} {size}")
    if not entries:
        notes.append("Not measured in this run.")
    if rows:
        reps = ", ".join(str(e["repeats"]) for e in entries if e.get("repeats"))
        notes.append(
            "Rates: medians. The three calls copy the same pinned arrays "
            "to and from the same device memory on the same stream, event-timed "
            "and in turns; each timed copy follows an untimed one by the same call "
            f"(copies timed per call and size: {reps})."
        )
        notes.append(
            "Round trips checked: "
            + (f"MISMATCH for {', '.join(sorted(failed))}." if failed else "all.")
        )
    if any(behind.values()):
        where = "; ".join(f"{o}: {', '.join(p)}" for o, p in behind.items() if p)
        notes.append(
            f"The helpers are more than {AT_TOLERANCE:.1%} below at {where}. There, "
            "the other call gets its copy onto the stream sooner: its checks before "
            "the copy are compiled code, while the helpers' are Python, the code "
            "these pages teach."
        )
    header = (
        "Size",
        "Direction",
        *SIDE_BY_SIDE,
        *(f"{helpers} vs {o}" for o in others),
    )
    title = "The helpers against CuPy and PyTorch, side by side (pinned, async)"
    return Section(
        "frameworks", title, header if rows else (), tuple(rows), tuple(notes)
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


# --------------------------------------------------------------------------- #
# JPEG files to a model batch: the pipeline block                             #
# --------------------------------------------------------------------------- #
#: The pipeline part's paths as results.json names them: the sample's, and DALI's,
#: the reference each path's images/s is divided by.
PIPELINE_OURS, PIPELINE_REFERENCE = "cvcuda", "dali"
#: Each path's colour in the figures: the sample's is the recommended path's blue.
PIPELINE_COLOURS = {
    "cvcuda": "#0a4c99",
    "dali": "#8c8c8c",
    "torchvision": "#e8a766",
    "pillow": "#b35900",
}
#: The sample's steps, as the block's ``stages`` names them: (words in a
#: sentence, label in the table and figure, colour).
PIPELINE_STEPS = {
    "decode": ("decode", "decode: header checks, nvImageCodec", "#1f77b4"),
    "resize": ("resize", "resize: hq_resize", "#ff7f0e"),
    "crop_normalise": ("crop and normalise", "crop, normalise, NCHW", "#2ca02c"),
}
PIPELINE_SIZE_IN = (8.0, 4.3)
STAGES_SIZE_IN = (8.0, 3.1)


def _pipeline_batches(block: dict[str, Any]) -> list[int]:
    found = {r["batch"] for p in block.get("paths") or () for r in p.get("rows") or ()}
    return list(block.get("batches") or sorted(found))


def _pipeline_row(path: dict[str, Any] | None, batch: int) -> dict[str, Any] | None:
    """The path's row at ``batch`` when it has images/s, else None."""
    rows = (path or {}).get("rows") or ()
    return next(
        (r for r in rows if r["batch"] == batch and r.get("images_per_s")), None
    )


def _ms_per_batch(row: dict[str, Any], batch: int) -> float:
    return 1e3 * batch / row["images_per_s"]


def _pipeline_cell(path: dict[str, Any], batch: int) -> str:
    """Images/s (slowest and fastest round) and the share of DALI's."""
    row = _pipeline_row(path, batch)
    if row is None:
        return "skipped" if path.get("skipped") else "—"
    low, high = row.get("images_per_s_min"), row.get("images_per_s_max")
    text = f"{row['images_per_s']:,.0f}"
    if low is not None and high is not None:
        text += f" ({low:,.0f}–{high:,.0f})"
    if row.get("ratio_to_dali") is not None:
        text += f" {row['ratio_to_dali']:.2f}×"
    return text if row.get("verified") else text + " NOT VERIFIED"


def _pipeline_check(path: dict[str, Any]) -> str:
    """The largest difference from the CPU reference and the largest mean, over
    the batch sizes, and whether every batch was within the tolerance."""
    rows = [r for r in path.get("rows") or () if r.get("max_difference") is not None]
    if not rows:
        return "—"
    largest = max(r["max_difference"] for r in rows)
    mean = max(r["mean_difference"] for r in rows)
    wrong = [str(r["batch"]) for r in rows if not r.get("verified")]
    verdict = "NOT VERIFIED at batch " + ", ".join(wrong) if wrong else "verified"
    return f"max {largest:.3f}, mean {mean:.4f}: {verdict}"


def _pipeline_finding_section(doc: dict[str, Any]) -> Section:
    """The pipeline against DALI at the largest batch, where its time goes, and
    which paths missed the tolerance; or that no figures were recorded, and why."""
    block = doc.get("pipeline") or {}
    paths = {p["path"]: p for p in block.get("paths") or ()}
    if not any(p.get("rows") for p in paths.values()):
        why = (
            f"the pipeline was not measured ({block['skipped']})"
            if block.get("skipped")
            else "this results file predates the benchmark's pipeline part"
        )
        note = (
            f"No figures recorded yet: {why}. A run of nox -s bench (every part) or "
            "bench.py pipeline on a GPU machine records them."
        )
        return Section("pipeline_finding", notes=(note,))
    batch = max(_pipeline_batches(block))
    ours, dali = paths.get(PIPELINE_OURS), paths.get(PIPELINE_REFERENCE)
    mine, theirs = _pipeline_row(ours, batch), _pipeline_row(dali, batch)
    notes = []
    if mine is None:
        why = (ours or {}).get("skipped") or "no figures"
        notes.append(f"At batch {batch}, this pipeline was not measured: {why}.")
    elif theirs is None:
        why = (dali or {}).get("skipped") or "no figures"
        notes.append(
            f"At batch {batch}, this pipeline makes {mine['images_per_s']:,.0f} "
            f"images/s; DALI was not measured: {why}."
        )
    else:
        ratio = mine["images_per_s"] / theirs["images_per_s"]
        ms, dali_ms = _ms_per_batch(mine, batch), _ms_per_batch(theirs, batch)
        ahead = (
            f"{ratio:.2f}× DALI's {theirs['images_per_s']:,.0f}: {ms:.1f} ms per "
            f"batch against DALI's {dali_ms:.1f} ms"
            if ratio >= 1
            else f"{1 - ratio:.0%} below DALI's {theirs['images_per_s']:,.0f}: "
            f"{ms - dali_ms:.1f} ms more per batch ({ms:.1f} ms against "
            f"{dali_ms:.1f} ms)"
        )
        notes.append(
            f"At batch {batch}, this pipeline makes {mine['images_per_s']:,.0f} "
            f"images/s, {ahead}."
        )
    stages = [s for s in block.get("stages") or () if s.get("ms") is not None]
    if stages:
        total = sum(s["ms"] for s in stages)
        top = max(stages, key=lambda s: s["ms"])
        words = {
            s["stage"]: PIPELINE_STEPS.get(s["stage"], (s["stage"],))[0] for s in stages
        }
        each = ", ".join(f"{words[s['stage']]} {s['ms']:.1f} ms" for s in stages)
        notes.append(
            f"Where the time goes: run one at a time on a batch of "
            f"{stages[0]['batch']}, its steps take {each}; {words[top['stage']]} is "
            f"{top['ms'] / total:.0%} of the {total:.1f} ms (the second figure below)."
        )
    timeline = block.get("timeline") or {}
    if timeline.get("host"):
        host, busy = _step_times(timeline)
        notes.append(
            f"Traced alone from an idle GPU, one batch of {timeline['batch']} takes "
            f"{timeline['batch_ms']:.1f} ms. The host spends "
            f"{host.get('decode', 0):.1f} ms of it inside the decode call, and the "
            f"GPU runs kernels and copies for {sum(busy.values()):.1f} ms in all, "
            f"{busy.get('decode', 0):.1f} ms of them for the decode (the timeline "
            "below)."
        )
    wrong = [
        p.get("label", name)
        for name, p in paths.items()
        if any(r.get("verified") is False for r in p.get("rows") or ())
    ]
    if wrong:
        notes.append(
            f"Outside the CPU reference's tolerance: {', '.join(wrong)} "
            "(NOT VERIFIED in the table)."
        )
    return Section("pipeline_finding", notes=tuple(notes))


def _pipeline_section(doc: dict[str, Any]) -> Section:
    """Images/s of every path at every batch size, the ratio to DALI's, and
    each path's difference from the CPU reference."""
    block = doc.get("pipeline") or {}
    paths = list(block.get("paths") or ())
    if not any(p.get("rows") for p in paths):
        return Section("pipeline")  # the finding says there are no figures
    batches = _pipeline_batches(block)
    title = (
        "JPEG files to a (N, 3, 224, 224) float16 batch on the GPU: images/s "
        "(range of the rounds) and × DALI's"
    )
    if block.get("quick"):
        title += ", quick run"
    rows = tuple(
        (
            p.get("label", p["path"]),
            *(_pipeline_cell(p, b) for b in batches),
            _pipeline_check(p),
        )
        for p in paths
    )
    per_round = block.get("batches_per_round") or {}
    counts = [per_round.get(str(b), per_round.get(b)) for b in batches]
    each = ", ".join(f"{n} of {b}" for n, b in zip(counts, batches, strict=True) if n)
    notes = [
        f"Each cell: images/s, the median of {block.get('rounds', '?')} rounds "
        f"(batches per round: {each or '?'}), in brackets the slowest and the "
        "fastest round, then the share of DALI's images/s at that batch size. "
        "Every figure includes decoding, preprocessing and synchronisation: the "
        "time runs from a round's first batch to the end of "
        "torch.cuda.synchronize() after its last (wallclock); the paths take turns."
    ]
    notes += [
        f"{p.get('label', p['path'])} includes: {p['includes']}."
        for p in paths
        if p.get("includes")
    ]
    tolerance = block.get("tolerance") or {}
    notes.append(
        "Against the CPU reference (the sample's Pillow and numpy steps): each "
        "path's first batch at each size, in normalised units; verified when the "
        f"largest difference is at most {tolerance.get('max', '?')} and the mean "
        f"at most {tolerance.get('mean', '?')}, the sample's tolerance. The column "
        "gives the largest difference and the largest mean over the batch sizes."
    )
    for p in paths:
        if p.get("skipped"):
            done = [r["batch"] for r in p.get("rows") or ()]
            when = f"beyond batch {done[-1]}" if done else "at all"
            notes.append(
                f"{p.get('label', p['path'])}: not measured {when}: {p['skipped']}"
            )
    images = block.get("images") or {}
    if images:
        (short, long), (small, large) = images["sides"], images["bytes"]
        notes.append(
            f"The files: {images['count']} JPEGs made by the sample's make_jpegs, "
            f"{short} to {long} pixels a side, {small:,} to {large:,} bytes; each "
            "batch takes the next files. Pillow's pool: "
            f"{block.get('workers', '?')} worker processes; DALI: "
            f"{block.get('dali_threads', '?')} CPU threads."
        )
    versions = dict(block.get("versions") or {})
    device = versions.pop("device", None)
    if versions:
        listed = ", ".join(f"{name} {version}" for name, version in versions.items())
        notes.append(f"{device or 'GPU'}, {block.get('date', 'undated')}: {listed}.")
    labels = [p.get("label", p["path"]) for p in paths if p.get("rows")]
    alt = (
        f"Bars of images/s, a panel per batch size ({', '.join(map(str, batches))}), "
        f"a bar per path ({', '.join(labels)}), each labelled with its ratio to "
        "DALI's images/s, which a dashed line marks across the panel"
    )
    header = ("Path", *(f"batch {b}" for b in batches), "Against the CPU reference")
    return Section("pipeline", title, header, rows, tuple(notes), "pipeline.png", alt)


def _pipeline_stages_section(doc: dict[str, Any]) -> Section:
    """This pipeline's steps, each alone, against its timed time per batch and
    DALI's: where the time goes."""
    block = doc.get("pipeline") or {}
    stages = [s for s in block.get("stages") or () if s.get("ms") is not None]
    if not stages:
        return Section("pipeline_stages")
    batch, total = stages[0]["batch"], sum(s["ms"] for s in stages)
    label = {name: step[1] for name, step in PIPELINE_STEPS.items()}
    rows = [
        (label.get(s["stage"], s["stage"]), f"{s['ms']:.2f}", pct(s["ms"] / total))
        for s in stages
    ]
    rows.append(("the steps, one at a time: sum", f"{total:.2f}", pct(1.0)))
    paths = {p["path"]: p for p in block.get("paths") or ()}
    for name, what in ((PIPELINE_OURS, "this pipeline"), (PIPELINE_REFERENCE, "DALI")):
        row = _pipeline_row(paths.get(name), batch)
        if row is not None:
            ms = _ms_per_batch(row, batch)
            timed = f"{what}, timed ({batch} / its images/s)"
            rows.append((timed, f"{ms:.2f}", pct(ms / total)))
    title = f"Where the time goes at batch {batch}: each step of this pipeline alone"
    note = (
        "Each step alone: from the call to the end of a torch.cuda.synchronize() "
        f"after it, median of {block.get('stage_runs', '?')} runs after a warm-up. "
        "In the timed runs a batch's host work (header checks, launches) can "
        "overlap the GPU's work on the batch before; one at a time the steps "
        "cannot, so their sum can exceed the timed time per batch."
    )
    alt = (
        f"Horizontal bars in ms per batch of {batch}: this pipeline's steps run one "
        "at a time, stacked (decode, resize, crop and normalise), above its timed "
        "time per batch and DALI's"
    )
    header = ("Step", "ms per batch", "Share of the steps' sum")
    return Section(
        "pipeline_stages",
        title,
        header,
        tuple(rows),
        (note,),
        "pipeline_stages.png",
        alt,
    )


def _step_times(timeline: dict[str, Any]) -> tuple[dict[str, float], dict[str, float]]:
    """Each step's ms inside its host call, and its GPU busy ms, of a traced batch."""
    host = {h["step"]: h["end_ms"] - h["start_ms"] for h in timeline["host"]}
    return host, timeline.get("gpu_busy_ms") or {}


def _pipeline_timeline_section(doc: dict[str, Any]) -> Section:
    """One batch of this pipeline as torch's profiler traced it: each step's time
    in its host call and in the GPU work that call launched."""
    timeline = (doc.get("pipeline") or {}).get("timeline") or {}
    if not timeline:  # no pipeline, or results older than the timeline
        return Section("pipeline_timeline")
    title = f"One batch of {timeline.get('batch', '?')} as a timeline"
    if not timeline.get("host"):
        why = timeline.get("skipped") or "no batch traced"
        return Section("pipeline_timeline", title, notes=(f"Not drawn: {why}.",))
    host, busy = _step_times(timeline)
    label = {name: step[1] for name, step in PIPELINE_STEPS.items()}
    rows = [
        (label.get(step, step), f"{host.get(step, 0):.2f}", f"{busy.get(step, 0):.2f}")
        for step in dict.fromkeys([*host, *busy])
    ]
    whole = "the whole batch, to the end of torch.cuda.synchronize()"
    rows.append((whole, f"{timeline['batch_ms']:.2f}", f"{sum(busy.values()):.2f}"))
    low, high = timeline.get("batch_ms_range") or ("?", "?")
    note = (
        f"torch's profiler traced {timeline.get('runs', '?')} batches, each started "
        f"on an idle GPU ({low} to {high} ms); this is the median one. Host: the "
        "time inside the sample's call for the step. GPU: the kernels and copies "
        "that call launched, from any library and on any stream (the profiler sees "
        f"them all: {timeline.get('streams', '?')} streams here), overlaps counted "
        "once. The GPU's hardware JPEG decoder runs no kernels: its work shows only "
        "as time in the host's decode call. Tracing adds a little to every launch."
    )
    alt = (
        "A timeline of one batch in ms: a lane for the host's calls (decode, "
        "resize, crop and normalise) and a lane for the GPU's kernels and copies "
        "of each step on any stream (a kernel of a few µs: a hairline), a dashed line "
        "where the batch ends and a dotted one at DALI's time per batch"
    )
    header = ("Step", "Host, in the call: ms", "GPU, kernels and copies: ms")
    figure = "pipeline_timeline.png"
    return Section(
        "pipeline_timeline", title, header, tuple(rows), (note,), figure, alt
    )


def sections(doc: dict[str, Any]) -> list[Section]:
    """The report, in order: run, targets, batch, comparisons, frameworks, h2d,
    d2h, the interop sections (stream_wait, wrap_cost), decode, the pipeline's
    (pipeline_finding, pipeline, pipeline_stages, pipeline_timeline), notes."""
    return [
        _run_section(doc),
        _targets_section(doc),
        _batch_section(doc),
        _comparisons_section(doc),
        _frameworks_section(doc),
        _rates_section(doc, "h2d"),
        _rates_section(doc, "d2h"),
        _stream_wait_section(doc),
        _wrap_cost_section(doc),
        _decode_section(doc),
        _pipeline_finding_section(doc),
        _pipeline_section(doc),
        _pipeline_stages_section(doc),
        _pipeline_timeline_section(doc),
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
        if s.key in PARAGRAPHS:
            out += [rst_escape(n) for n in s.notes] + [""]
        if s.figure:
            url = f"{FIGURES_URL}/{s.figure}"
            out += [f".. image:: {url}", f"   :alt: {s.alt}", "   :width: 100%", ""]
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
        if s.notes and s.key not in PARAGRAPHS:
            out += [f"- {rst_escape(n)}" for n in s.notes] + [""]
    return "\n".join(out)


# --------------------------------------------------------------------------- #
# The plot                                                                    #
# --------------------------------------------------------------------------- #
def _figure(size_in: tuple[float, float]) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size_in, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, out_png: Path | None) -> Any:
    if out_png is not None:
        out_png = Path(out_png)
        out_png.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out_png, dpi=PLOT_DPI)
    return fig


def _tick(n: int) -> str:
    return format_bytes(n).replace(" ", "\n")


def render(doc: dict[str, Any], out_png: Path | None = None) -> Any:
    """Draw the share of the fastest method per size; returns the matplotlib Figure.

    Uses matplotlib's Agg canvas directly (no pyplot, no global backend switch).
    """
    from matplotlib.ticker import FixedLocator, NullLocator, PercentFormatter

    rows = doc["results"]
    sizes = sorted({r["bytes"] for r in rows})
    fig = _figure(PLOT_SIZE_IN)
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
    return _save(fig, out_png)


#: The timeline's colours: one per step of a frame.
TIMELINE_STEPS = {"h2d": "#1f77b4", "flip": "#ff7f0e", "d2h": "#2ca02c"}
TIMELINE_SIZE_IN = (8.0, 3.4)


def render_timeline(doc: dict[str, Any], out_png: Path | None = None) -> Any:
    """Draw the batch's timeline: one row per stream, one bar per call, from the
    GPU timestamps the benchmark recorded; returns the matplotlib Figure."""
    from matplotlib.patches import Patch

    batch = doc.get("batch") or {}
    timeline = batch.get("timeline") or {}
    spans = timeline.get("spans") or []
    fig = _figure(TIMELINE_SIZE_IN)
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
    return _save(fig, out_png)


def _pipeline_title(doc: dict[str, Any], title: str) -> str:
    if doc.get("synthetic"):
        return "SYNTHETIC EXAMPLE, NOT A MEASUREMENT"
    block = doc.get("pipeline") or {}
    device = (block.get("versions") or {}).get("device") or doc.get("device")
    return f"{title}, {device}" if device else title


def render_pipeline(doc: dict[str, Any], out_png: Path | None = None) -> Any:
    """Draw each path's images/s as a bar, a panel per batch size, with the
    spread of the rounds, its ratio to DALI's above it and DALI's images/s
    dashed across the panel; a bar outside the tolerance is hatched."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter, NullLocator

    block = doc.get("pipeline") or {}
    batches = _pipeline_batches(block)
    paths = [p for p in block.get("paths") or () if p.get("rows")]
    fig = _figure(PIPELINE_SIZE_IN)
    axes = fig.subplots(1, max(1, len(batches)), squeeze=False)[0]
    reference = next((p for p in paths if p["path"] == PIPELINE_REFERENCE), None)
    for ax, batch in zip(axes, batches, strict=False):
        dali = _pipeline_row(reference, batch)
        if dali is not None:
            colour = PIPELINE_COLOURS[PIPELINE_REFERENCE]
            ax.axhline(dali["images_per_s"], color=colour, ls=(0, (4, 2)), lw=1.2)
        top = 0.0
        for i, path in enumerate(paths):
            row = _pipeline_row(path, batch)
            if row is None:
                continue
            rate = row["images_per_s"]
            low = row.get("images_per_s_min", rate)
            high = row.get("images_per_s_max", rate)
            unverified = row.get("verified") is False
            ax.bar(
                i, rate, width=0.8,
                color=PIPELINE_COLOURS.get(path["path"], "0.5"),
                hatch="//" if unverified else None, edgecolor="white",
                yerr=[[rate - low], [high - rate]], capsize=3, ecolor="0.25",
            )  # fmt: skip
            ratio = row.get("ratio_to_dali")
            text = "" if ratio is None else f"{ratio:.2f}×"
            text += "\nnot verified" if unverified else ""
            ax.annotate(
                text, (i, high), xytext=(0, 3), textcoords="offset points",
                ha="center", va="bottom", fontsize=9,
            )  # fmt: skip
            top = max(top, high)
        ax.set_title(f"batch {batch}", fontsize=11)
        ax.set_xticks([])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_ylim(0, 1.25 * top or 1)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.tick_params(labelsize=9)
        ax.grid(True, axis="y", alpha=0.3)
    axes[0].set_ylabel("images/s (median; line: the rounds' range)", fontsize=10)
    handles = [
        Patch(
            color=PIPELINE_COLOURS.get(p["path"], "0.5"),
            label=p.get("label", p["path"]),
        )
        for p in paths
    ]
    if reference is not None:
        colour = PIPELINE_COLOURS[PIPELINE_REFERENCE]
        line = Line2D([], [], color=colour, ls=(0, (4, 2)), label="DALI's images/s")
        handles.append(line)
    if handles:
        fig.legend(
            handles=handles, loc="outside lower center", ncols=2, frameon=False,
            fontsize=10,
        )  # fmt: skip
    else:
        axes[0].text(
            0.5, 0.5, "no figures recorded", ha="center", transform=axes[0].transAxes
        )
    title = _pipeline_title(doc, "JPEG files to a model batch: images/s")
    fig.suptitle(f"{title}\nabove each bar: its share of DALI's images/s", fontsize=11)
    return _save(fig, out_png)


def render_pipeline_stages(doc: dict[str, Any], out_png: Path | None = None) -> Any:
    """Draw this pipeline's steps, each run alone, stacked in one bar, above
    its timed time per batch and DALI's (ms per batch of the stages' size)."""
    from matplotlib.patches import Patch

    block = doc.get("pipeline") or {}
    stages = [s for s in block.get("stages") or () if s.get("ms") is not None]
    fig = _figure(STAGES_SIZE_IN)
    ax = fig.subplots()
    if not stages:
        ax.text(0.5, 0.5, "no figures recorded", ha="center", transform=ax.transAxes)
        return _save(fig, out_png)
    batch = stages[0]["batch"]
    steps = [PIPELINE_STEPS.get(s["stage"], ("", s["stage"], "0.5")) for s in stages]
    left = 0.0
    for stage, (_, _, colour) in zip(stages, steps, strict=True):
        ax.barh(0, stage["ms"], left=left, height=0.6, color=colour, edgecolor="white")
        left += stage["ms"]
    lanes, ends = ["this pipeline,\nsteps one at a time"], [left]
    paths = {p["path"]: p for p in block.get("paths") or ()}
    for name, what in (
        (PIPELINE_OURS, "this pipeline,\ntimed"),
        (PIPELINE_REFERENCE, "DALI, timed"),
    ):
        row = _pipeline_row(paths.get(name), batch)
        if row is not None:
            ms = _ms_per_batch(row, batch)
            ax.barh(len(lanes), ms, height=0.6, color=PIPELINE_COLOURS[name])
            lanes.append(what)
            ends.append(ms)
    for lane, end in enumerate(ends):
        ax.annotate(
            f"{end:.1f} ms", (end, lane), xytext=(4, 0), textcoords="offset points",
            va="center", fontsize=10,
        )  # fmt: skip
    ax.set_yticks(range(len(lanes)), lanes)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.18 * max(ends))
    ax.set_xlabel(f"ms per batch of {batch}", fontsize=11)
    ax.tick_params(labelsize=10)
    ax.grid(True, axis="x", alpha=0.3)
    fig.legend(
        handles=[Patch(color=colour, label=label) for _, label, colour in steps],
        loc="outside lower center", ncols=3, frameon=False, fontsize=10,
    )  # fmt: skip
    ax.set_title(_pipeline_title(doc, "Where the time goes"), fontsize=11)
    return _save(fig, out_png)


def merged_spans(
    spans: Sequence[tuple[float, float]], gap: float = 0.0
) -> list[tuple[float, float]]:
    """``spans`` (start, end) sorted, those that overlap or lie at most ``gap``
    apart joined into one: what a timeline lane draws."""
    out: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if out and start - out[-1][1] <= gap:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def render_pipeline_timeline(doc: dict[str, Any], out_png: Path | None = None) -> Any:
    """Draw one traced batch: the host's calls in one lane, the GPU work of each
    step, on whichever stream, in another; where the batch ends, and DALI's
    time per batch."""
    from matplotlib.patches import Patch

    block = doc.get("pipeline") or {}
    timeline = block.get("timeline") or {}
    fig = _figure(TIMELINE_SIZE_IN)
    ax = fig.subplots()
    if not timeline.get("host"):
        why = timeline.get("skipped") or "no timeline recorded"
        ax.text(0.5, 0.5, why, ha="center", transform=ax.transAxes, fontsize=10)
        return _save(fig, out_png)
    streams = timeline.get("streams") or 0
    lanes = ["host: the\nsample's calls", f"GPU: kernels,\ncopies ({streams} streams)"]
    for lane, spans in enumerate((timeline["host"], timeline.get("gpu") or ())):
        for step in dict.fromkeys(span["step"] for span in spans):
            colour = PIPELINE_STEPS.get(step, ("", "", "0.6"))[2]
            own = [(s["start_ms"], s["end_ms"]) for s in spans if s["step"] == step]
            bars = [(a, b - a) for a, b in merged_spans(own)]  # an edge: a hairline
            ax.broken_barh(bars, (lane - 0.3, 0.6), color=colour, ec=colour, lw=0.4)
    end = timeline["batch_ms"]
    marks = [(end, "0.25", "--", f"synchronized: {end:.1f} ms")]
    dali = {p["path"]: p for p in block.get("paths") or ()}.get(PIPELINE_REFERENCE)
    row = _pipeline_row(dali, timeline["batch"])
    if row is not None:
        ms = _ms_per_batch(row, timeline["batch"])
        marks.append(
            (ms, PIPELINE_COLOURS["dali"], ":", f"DALI, timed: {ms:.1f} ms a batch")
        )
    for at, colour, style, text in marks:
        ax.axvline(at, color=colour, ls=style, lw=1.5)
        ax.annotate(
            text, (at, len(lanes) - 0.5), xytext=(3, 2), textcoords="offset points",
            fontsize=9, color=colour, va="bottom",
        )  # fmt: skip
    ax.set_yticks(range(len(lanes)), lanes)
    ax.set_ylim(len(lanes) - 0.2, -0.6)
    ax.set_xlim(0, 1.12 * max(at for at, *_ in marks))
    ax.set_xlabel(f"ms from the start of a batch of {timeline['batch']}", fontsize=11)
    ax.tick_params(labelsize=10)
    ax.grid(True, axis="x", alpha=0.3)
    steps = [Patch(color=c, label=label) for _, label, c in PIPELINE_STEPS.values()]
    fig.legend(
        handles=steps, loc="outside lower center", ncols=3, frameon=False, fontsize=10
    )
    ax.set_title(_pipeline_title(doc, "One batch, traced"), fontsize=11)
    return _save(fig, out_png)


#: The figures a section may show, by file name: file -> the function drawing it.
FIGURES = {
    "pipeline.png": render_pipeline,
    "pipeline_stages.png": render_pipeline_stages,
    "pipeline_timeline.png": render_pipeline_timeline,
}


# --------------------------------------------------------------------------- #
# The docs build                                                              #
# --------------------------------------------------------------------------- #
def write_docs_assets(out_dir: Path, results: Path | None = None) -> dict[str, Any]:
    """Write ``performance.png``, ``batch_timeline.png`` (one run of the batch),
    the figure of each section that shows one (:data:`FIGURES`) and one reST
    include per entry of :data:`PAGE_PARTS` into ``out_dir``.

    Uses ``results`` if given, else ``results.json`` beside this file, else the
    synthetic ``results.example.json``, whose every include then says so.
    """
    path = results or (RESULTS if RESULTS.exists() else EXAMPLE)
    doc = load(path)
    out_dir = Path(out_dir)
    render(doc, out_dir / "performance.png")
    render_timeline(doc, out_dir / "batch_timeline.png")
    for section in sections(doc):
        if section.figure:
            FIGURES[section.figure](doc, out_dir / section.figure)
    synthetic = ".. warning::\n\n   Synthetic example numbers, not a measurement.\n\n"
    for name, keys in PAGE_PARTS.items():
        text = to_rst(doc, keys)
        if doc.get("synthetic") and "run" not in keys:  # the run says it in full
            text = synthetic + text
        (out_dir / name).write_text(text)
    return doc
