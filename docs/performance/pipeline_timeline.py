# SPDX-License-Identifier: Apache-2.0
"""One batch of the sample's JPEG pipeline as a timeline: when the host was in
each step's call, and when the GPU ran the kernels and copies of each step.

``bench_pipeline.py`` calls :func:`measure` after its timed rounds: the sample's
``ToModelBatch`` runs ``runs`` batches, each from an idle GPU to the end of a
``torch.cuda.synchronize()``, under torch's profiler. The profiler (CUPTI)
records every kernel and copy in the process, whichever library launched it;
each goes to the step whose host call launched it. Work of the GPU's hardware
JPEG decoder is not a kernel and shows in no GPU lane: the host's decode call
waits for it. The batch of median length is the one kept.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from render_results import merged_spans
from timing import why

#: The sample's steps, as ``ToModelBatch`` names its methods, in order.
STEPS = ("decode", "resize", "crop_normalise")
BATCH = "batch"  # the profiler range around one whole batch
GPU_WORK = ("kernel", "gpu_memcpy", "gpu_memset")  # trace categories of GPU work
LAUNCHES = ("cuda_runtime", "cuda_driver")  # host calls that start GPU work
MERGE_MS = 0.02  # GPU work of one step this close together is one bar


def measure(defs: Any, stream: Any, files: Iterator[list[bytes]], runs: int) -> dict:
    """The timeline of one batch from ``files`` through the sample's pipeline
    (``defs``: the sample's definitions) on the torch ``stream``; where it
    cannot be drawn, why."""
    import torch

    try:
        return {"runs": runs, **traced(defs.ToModelBatch(stream), defs, files, runs)}
    except Exception as exc:  # no profiler here, or a trace without a batch
        torch.cuda.synchronize()
        return {"runs": runs, "skipped": why(exc)}


def traced(pipeline: Any, defs: Any, files: Iterator[list[bytes]], runs: int) -> dict:
    """``runs`` batches through ``pipeline`` under torch's profiler, each from an
    idle GPU: :func:`from_trace` of the trace."""
    import torch
    from torch.profiler import ProfilerActivity, profile, record_function

    pipeline(next(files))  # a warm-up, outside the trace
    torch.cuda.synchronize()
    activities = [ProfilerActivity.CPU, ProfilerActivity.CUDA]
    with profile(activities=activities) as profiler:
        for _ in range(runs):
            jpegs = next(files)
            torch.cuda.synchronize()
            with record_function(BATCH):
                with record_function("decode"):
                    images = pipeline.decode(jpegs)
                sizes = [defs.resized_size(*image.shape[:2]) for image in images]
                with record_function("resize"):
                    resized = pipeline.resize(images, sizes)
                with record_function("crop_normalise"):
                    pipeline.crop_normalise(resized, sizes)
                torch.cuda.synchronize()
    with tempfile.TemporaryDirectory() as folder:
        trace = Path(folder) / "trace.json"
        profiler.export_chrome_trace(str(trace))
        events = json.loads(trace.read_text())["traceEvents"]
    return {"batch": len(jpegs), **from_trace(events)}


def from_trace(events: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The median batch of a Chrome trace as torch's profiler writes it: host
    spans of each step and merged GPU spans per stream, in ms from the batch's
    start; and each step's GPU time (the union over streams)."""
    timed = [e for e in events if e.get("ph") == "X" and "dur" in e]
    ranges = [e for e in timed if e.get("cat") == "user_annotation"]
    batches = sorted((e for e in ranges if e["name"] == BATCH), key=lambda e: e["dur"])
    if not batches:
        raise ValueError("the trace holds no batch range")
    batch = batches[len(batches) // 2]
    start, end = batch["ts"], batch["ts"] + batch["dur"]

    def ms(us: float) -> float:  # the trace's microseconds, from the batch start
        return round((us - start) / 1e3, 3)

    host = [
        {"step": e["name"], "start_ms": ms(e["ts"]), "end_ms": ms(e["ts"] + e["dur"])}
        for e in sorted(ranges, key=lambda e: e["ts"])
        if e["name"] in STEPS and start <= e["ts"] <= end
    ]
    launched = {
        e["args"]["correlation"]: ms(e["ts"])
        for e in timed
        if e.get("cat") in LAUNCHES and "correlation" in e.get("args", {})
    }
    work: dict[tuple[Any, str], list[tuple[float, float]]] = {}
    for e in (e for e in timed if e.get("cat") in GPU_WORK):
        args = e.get("args", {})
        at = launched.get(args.get("correlation"), ms(e["ts"]))
        if 0 <= at <= ms(end):  # launched during the batch
            step = next(
                (h["step"] for h in host if h["start_ms"] <= at <= h["end_ms"]), "other"
            )
            span = (ms(e["ts"]), ms(e["ts"] + e["dur"]))
            work.setdefault((args.get("stream"), step), []).append(span)
    first: dict[Any, float] = {}  # each stream's first work: lanes in that order
    for (stream, _), spans in work.items():
        first[stream] = min(first.get(stream, math.inf), *(a for a, _ in spans))
    lanes = sorted(first, key=first.__getitem__)
    gpu = [
        {"lane": lanes.index(stream), "step": step, "start_ms": a, "end_ms": b}
        for (stream, step), spans in work.items()
        for a, b in merged_spans(spans, MERGE_MS)
    ]
    gpu.sort(key=lambda g: (g["lane"], g["start_ms"]))
    busy = {}  # a step's GPU time: its spans on every stream, overlaps once
    for step in dict.fromkeys(g["step"] for g in gpu):
        spans = [(g["start_ms"], g["end_ms"]) for g in gpu if g["step"] == step]
        busy[step] = round(sum(b - a for a, b in merged_spans(spans)), 3)
    return {
        "batch_ms": ms(end),
        "batch_ms_range": [round(batches[0]["dur"] / 1e3, 3),
                           round(batches[-1]["dur"] / 1e3, 3)],
        "host": host,
        "gpu": gpu,
        "streams": len(lanes),
        "gpu_busy_ms": busy,
    }  # fmt: skip
