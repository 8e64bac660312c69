# SPDX-License-Identifier: Apache-2.0
"""JPEG files to a model-ready batch: the sample's pipeline against DALI,
torchvision on the GPU and Pillow with worker processes; ``bench.py``'s part
``pipeline`` (``stub``, ``measure(gpu)``: ``nox -s bench -- pipeline``), or

    PYTHONPATH=samples/interoperability \\
        python docs/performance/bench_pipeline.py [--quick] [--out PATH]

Either writes the ``pipeline`` block of ``results.json`` and keeps the others.
Each path (``PATHS``) turns the same bytes, 256 JPEG files from the sample's
``make_jpegs``, into the same (N, 3, 224, 224) float16 GPU batch. Images/s at
batch 1, 32 and 128: wall clock from a round's first batch to the end of
``torch.cuda.synchronize()`` after its last (which also waits for the batches
DALI started ahead, paying back those it finished before the round); paths in
turns; median, min and max of the rounds. Each path's first batch is checked
against the sample's CPU reference; a path that cannot run (DALI or torchvision
not installed) is recorded with why. At batch 128, ``stages``: each step alone,
until synchronized; ``timeline``: one batch, host and GPU (pipeline_timeline).
"""

from __future__ import annotations
import __future__

import argparse
import ast
import contextlib
import datetime as dt
import itertools
import json
import multiprocessing
import os
import statistics
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import pipeline_timeline as timeline
from timing import Gpu, exit_after_results, say, time_interleaved, why

HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parents[1] / "samples" / "interoperability" / "jpeg_batch_pipeline.py"
RESULTS, KEY = HERE / "results.json", "pipeline"
IMAGES, SEED = 256, 0  # JPEG files made once; batch k of B takes files kB..kB+B-1
BATCHES, TRACED = (1, 32, 128), 5  # batch sizes; batches traced for the timeline
ROUNDS = {False: 5, True: 2}  # per path and batch size; key: --quick
PER_ROUND = {False: {1: 100, 32: 12, 128: 6}, True: {1: 20, 32: 3, 128: 2}}
WORKERS, THREADS = min(16, os.cpu_count() or 4), 8  # Pillow's pool, DALI's
GPU_MODULES = {"cvcuda", "torch", "nvidia", "cuda"}
DISTRIBUTIONS = ("torch", "torchvision", "pillow", "numpy", "cvcuda-cu12",
    "cvcuda-cu13", "nvidia-nvimgcodec-cu12", "nvidia-nvimgcodec-cu13",
    "nvidia-dali-cuda120", "nvidia-dali-cuda130")  # fmt: skip
#: path -> (label, what its images/s include)
PATHS = {
    "cvcuda": ("nvImageCodec + CV-CUDA (this sample)", "host header checks, one "
        "decode call, hq_resize, crop_flip_normalize_reformat_into; one stream"),
    "dali": ("DALI", "external_source (bytes; sizes from header checks), decoders."
        "image(mixed), resize, crop_mirror_normalize; default prefetch; no copy"),
    "torchvision": ("torchvision on the GPU", "decode_jpeg(list, device='cuda'), "
        "per image v2 resize (antialias) and crop; to_dtype, normalize"),
    "pillow": ("Pillow, worker processes + pinned upload", "decode, resize, crop "
        "in a process pool; pinned memory, one upload, normalised by torch"),
}  # fmt: skip


def load_sample(*, gpu: bool = True, path: Path = SAMPLE) -> types.SimpleNamespace:
    """The sample's definitions without running it: its imports (not
    ``preflight``; not the GPU libraries when ``gpu`` is False), UPPER_CASE
    constants, functions and classes, run in a fresh namespace. Annotations
    are not evaluated, so the CPU parts load anywhere."""
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))  # the sample imports sample_images
    keep: list[ast.stmt] = []
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            module = getattr(node, "module", None) or ""
            roots = {n.split(".")[0] for n in [*names, module]}
            if "preflight" not in roots and (gpu or not roots & GPU_MODULES):
                keep.append(node)
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            keep.append(node)
        elif isinstance(node, ast.Assign):
            ids = [n.id for t in node.targets for n in ast.walk(t) if hasattr(n, "id")]
            if all(name.isupper() for name in ids):
                keep.append(node)
    flags = __future__.annotations.compiler_flag
    code = compile(ast.Module(keep, []), str(path), "exec", flags, dont_inherit=True)
    namespace: dict[str, Any] = {"__name__": path.stem}
    exec(code, namespace)
    return types.SimpleNamespace(**namespace)


def batch_of(jpegs: list[bytes], k: int, size: int) -> list[bytes]:
    """Batch ``k`` of ``size`` files, going round the files."""
    start = k * size % len(jpegs)
    return [jpegs[(start + i) % len(jpegs)] for i in range(size)]


def rates(seconds: list[float], images: int) -> dict[str, float]:
    per_s = sorted(images / s for s in seconds)
    median = statistics.median(per_s)
    keys = ("images_per_s", "images_per_s_min", "images_per_s_max")
    values = (round(v, 1) for v in (median, per_s[0], per_s[-1]))
    return dict(zip(keys, values, strict=True))


def add_ratios(paths: list[dict[str, Any]]) -> None:
    """Each row's images/s as a share of DALI's at the same batch size."""
    dali = [p for p in paths if p["path"] == "dali"]
    base = {r["batch"]: r.get("images_per_s") for p in dali for r in p["rows"]}
    for row in (row for p in paths for row in p["rows"]):
        rate, of = row.get("images_per_s"), base.get(row["batch"])
        row["ratio_to_dali"] = round(rate / of, 3) if rate and of else None


def stub(skipped: str | None) -> dict[str, Any]:
    return {KEY: {"skipped": skipped, "paths": [], "stages": None}}


def write_block(value: dict[str, Any], out: Path) -> Path:
    """``value`` as the ``pipeline`` block of ``out``; the other keys stay."""
    doc = json.loads(out.read_text()) if out.is_file() else {}
    doc[KEY] = value
    out.write_text(json.dumps(doc, indent=2) + "\n")
    return out


def cvcuda_path(run: types.SimpleNamespace, size: int) -> Callable[[], Any]:
    pipeline, files = run.defs.ToModelBatch(run.stream), run.files(size)
    return lambda: pipeline(next(files))


def dali_path(run: types.SimpleNamespace, size: int) -> Callable[[], Any]:
    import torch
    from nvidia.dali import fn, pipeline_def
    from nvidia.dali import types as dali

    defs, files = run.defs, run.files(size)

    def feed() -> tuple[list[np.ndarray], list[np.ndarray]]:
        batch = next(files)
        shapes = [defs.jpeg_shape(data, i) for i, data in enumerate(batch)]
        sizes = [np.float32(defs.resized_size(h, w)) for h, w, _ in shapes]
        return [np.frombuffer(data, np.uint8) for data in batch], sizes

    @pipeline_def(batch_size=size, num_threads=run.dali_threads, device_id=0)
    def pipe() -> Any:
        data, sizes = fn.external_source(source=feed, num_outputs=2, batch=True)
        images = fn.decoders.image(data, device="mixed", output_type=dali.RGB)
        images = fn.resize(images, size=sizes, antialias=True)
        return fn.crop_mirror_normalize(
            images,
            crop=(defs.CROP, defs.CROP),
            mean=[255 * m for m in defs.MEAN],
            std=[255 * s for s in defs.STD],
            dtype=dali.FLOAT16,
            output_layout="CHW",
        )

    pipeline = pipe()
    pipeline.build()

    def next_batch() -> Any:
        (out,) = pipeline.run()
        return torch.as_tensor(out.as_tensor(), device="cuda")  # valid until next run

    return next_batch


def torchvision_path(run: types.SimpleNamespace, size: int) -> Callable[[], Any]:
    import torch
    from torchvision.io import ImageReadMode, decode_jpeg
    from torchvision.transforms.v2 import functional as f

    defs, files, crop = run.defs, run.files(size), run.defs.CROP

    def next_batch() -> Any:
        data = [torch.frombuffer(bytearray(b), dtype=torch.uint8) for b in next(files)]
        crops = []
        for image in decode_jpeg(data, mode=ImageReadMode.RGB, device="cuda"):
            height, width = defs.resized_size(*image.shape[-2:])
            image = f.resize(image, [height, width], antialias=True)
            top, left = defs.crop_origin(height), defs.crop_origin(width)
            crops.append(f.crop(image, top, left, crop, crop))
        batch = f.to_dtype(torch.stack(crops), torch.float32, scale=True)
        return f.normalize(batch, list(defs.MEAN), list(defs.STD)).half()

    return next_batch


_WORKER: Any = None  # the sample's CPU parts, in each Pillow worker process


def _start_worker() -> None:
    global _WORKER
    try:
        _WORKER = load_sample(gpu=False)
    except Exception as exc:  # raised by each task: a pool restarts failed workers
        _WORKER = exc


def _reference_pixels(data: bytes) -> np.ndarray:
    if isinstance(_WORKER, Exception):
        raise _WORKER
    return _WORKER.reference_pixels(data)


def pillow_path(run: types.SimpleNamespace, size: int) -> Callable[[], Any]:
    import torch

    files, crop, channels = run.files(size), run.defs.CROP, (1, 3, 1, 1)
    pinned = torch.empty((size, crop, crop, 3), dtype=torch.uint8).pin_memory()
    uploaded = torch.cuda.Event()  # after it, ``pinned`` may be written again
    mean = 255 * torch.tensor(run.defs.MEAN, device="cuda").view(channels)
    std = 255 * torch.tensor(run.defs.STD, device="cuda").view(channels)
    chunk = max(1, size // (4 * run.workers))

    def next_batch() -> Any:
        crops = run.pool.map(_reference_pixels, next(files), chunksize=chunk)
        uploaded.synchronize()
        np.stack(crops, out=pinned.numpy())
        batch = pinned.to("cuda", non_blocking=True)
        uploaded.record()
        return ((batch.permute(0, 3, 1, 2).float() - mean) / std).half()

    return next_batch


MAKERS = {"cvcuda": cvcuda_path, "dali": dali_path}
MAKERS |= {"torchvision": torchvision_path, "pillow": pillow_path}


def compare(output: Any, expected: np.ndarray, defs: Any) -> dict[str, Any]:
    import torch

    torch.cuda.synchronize()  # DALI's output is on DALI's stream
    difference = np.abs(output.float().cpu().numpy() - expected)
    largest, mean = float(difference.max()), float(difference.mean())
    verified = largest <= defs.TOLERANCE_MAX and mean <= defs.TOLERANCE_MEAN
    return {"max_difference": largest, "mean_difference": mean, "verified": verified}


def stages(run: types.SimpleNamespace, size: int, rounds: int) -> list[dict]:
    """Milliseconds of each step of the sample's pipeline, run one at a time:
    from the call to the end of a synchronize after it."""
    import torch

    pipeline, files = run.defs.ToModelBatch(run.stream), run.files(size)
    times: dict[str, list[float]] = {"decode": [], "resize": [], "crop_normalise": []}

    def step(name: str, *args: Any) -> Any:
        started = time.perf_counter()
        out = getattr(pipeline, name)(*args)
        torch.cuda.synchronize()
        times[name].append(time.perf_counter() - started)
        return out

    for _ in range(rounds + 1):  # the first is a warm-up
        images = step("decode", next(files))
        sizes = [run.defs.resized_size(*image.shape[:2]) for image in images]
        step("crop_normalise", step("resize", images, sizes), sizes)
    return [
        {"batch": size, "stage": name, "ms": round(1e3 * statistics.median(t[1:]), 3)}
        for name, t in times.items()
    ]


def measure_all(quick: bool, workers: int = WORKERS, threads: int = THREADS) -> dict:
    """Every path at every batch size: the ``pipeline`` block."""
    import torch

    started = time.perf_counter()
    defs = load_sample()
    jpegs = defs.make_jpegs(IMAGES, SEED)
    reference = defs.reference_batch(jpegs[: max(BATCHES)])
    sides = [side for data in jpegs for side in defs.jpeg_shape(data, 0)[:2]]
    lengths = [len(data) for data in jpegs]
    result = stub(None)[KEY] | {
        "quick": quick, "batches": list(BATCHES), "versions": versions(),
        "images": {"count": IMAGES, "sides": [min(sides), max(sides)],
                   "bytes": [min(lengths), max(lengths)]},
        "rounds": ROUNDS[quick], "batches_per_round": PER_ROUND[quick],
        "timer": "wallclock: a round's first batch to torch.cuda.synchronize()",
        "tolerance": {"max": defs.TOLERANCE_MAX, "mean": defs.TOLERANCE_MEAN},
        "workers": workers, "dali_threads": threads, "stage_runs": 2 * ROUNDS[quick],
    }  # fmt: skip
    paths = {
        name: dict(path=name, label=label, includes=what, skipped=None, rows=[])
        for name, (label, what) in PATHS.items()
    }
    measure = Gpu.until_synced(torch.cuda.synchronize)  # a round, until synchronized
    previous, stream = torch.cuda.current_stream(), torch.cuda.Stream()
    torch.cuda.set_stream(stream)
    pool = multiprocessing.get_context("spawn").Pool(workers, _start_worker)
    run = types.SimpleNamespace(
        defs=defs, stream=stream, pool=pool, workers=workers, dali_threads=threads,
        files=lambda b: (batch_of(jpegs, k, b) for k in itertools.count()),
    )  # fmt: skip
    try:
        for size in BATCHES:
            runs: dict[str, Callable[[], Any]] = {}
            for name, make in MAKERS.items():
                if paths[name]["skipped"]:
                    continue
                try:
                    runs[name] = make(run, size)
                    check = compare(runs[name](), reference[:size], defs)
                except Exception as exc:  # not installed, or failing here
                    torch.cuda.synchronize()
                    runs.pop(name, None)
                    paths[name]["skipped"] = why(exc)
                    continue
                paths[name]["rows"].append({"batch": size, **check})
            count = PER_ROUND[quick][size]
            say(f"pipeline: batch {size}: {', '.join(runs)}")
            calls = [
                lambda r=r, n=count: [r() for _ in range(n)] for r in runs.values()
            ]
            times = time_interleaved(calls, measure, ROUNDS[quick], warmup=1)
            for name, seconds in zip(runs, times, strict=True):
                paths[name]["rows"][-1].update(rates(seconds, count * size))
        if not paths["cvcuda"]["skipped"]:
            result["stages"] = stages(run, max(BATCHES), result["stage_runs"])
            batches = run.files(max(BATCHES))
            result["timeline"] = timeline.measure(defs, stream, batches, TRACED)
    finally:
        pool.terminate()
        torch.cuda.synchronize()
        torch.cuda.set_stream(previous)
    result["paths"] = list(paths.values())
    add_ratios(result["paths"])
    result["duration_s"] = round(time.perf_counter() - started, 1)
    result["date"] = dt.date.today().isoformat()
    return result


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    import torch

    found = {"python": sys.version.split()[0], "device": torch.cuda.get_device_name()}
    for name in DISTRIBUTIONS:
        with contextlib.suppress(PackageNotFoundError):
            found[name] = version(name)
    return found


def unavailable() -> str | None:
    """One line on why the sample's pipeline cannot run here, or None."""
    try:
        from preflight import gpu_unavailable_reason
    except ImportError:
        return "cannot import preflight: put samples/interoperability on PYTHONPATH"
    return gpu_unavailable_reason("cvcuda", "nvidia.nvimgcodec", "torch")


def measure(gpu: Any) -> dict[str, Any]:
    """``bench.py``'s part: the ``pipeline`` block, or why it cannot run."""
    say("JPEG files to a model batch: this pipeline, DALI, torchvision, Pillow")
    if reason := unavailable():
        return stub(reason)
    return {KEY: gpu.guarded(stub(None)[KEY], lambda: measure_all(gpu.quick))}


def format_block(value: dict[str, Any]) -> str:
    """Images/s per path and batch size, and x DALI's (! outside the tolerance)."""
    lines = [f"pipeline: {value['skipped']}"] if value.get("skipped") else []
    for path in value["paths"]:
        cells = [f"{path['label']}: {path['skipped'] or ''}"]
        for r in path["rows"]:
            ratio, mark = r.get("ratio_to_dali") or 0, "" if r["verified"] else " !"
            cells.append(f"{r['batch']}: {r['images_per_s']:,.0f}/s {ratio:.2f}x{mark}")
        lines.append("  ".join(cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results file")
    parser.add_argument("--workers", type=int, default=WORKERS, help="Pillow pool")
    parser.add_argument("--dali-threads", type=int, default=THREADS)
    args = parser.parse_args(argv)
    if reason := unavailable():  # one line, exit 3, as a sample does
        print(f"bench_pipeline.py: cannot run: {reason}", file=sys.stderr)
        return 3  # preflight.EXIT_GPU_UNAVAILABLE
    value = measure_all(args.quick, args.workers, args.dali_threads)
    print(format_block(value))
    print(f"pipeline: wrote the {KEY!r} block of {write_block(value, args.out)}")
    return 0


if __name__ == "__main__":
    exit_after_results(main())
