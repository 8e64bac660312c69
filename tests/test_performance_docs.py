# SPDX-License-Identifier: Apache-2.0
"""CPU tests of the benchmark's pure parts and the Performance page.

* The benchmark's parts (``docs/performance/bench*.py``, ``transfer_methods.py``,
  ``timing.py``, ``targets.py``): the shares of the fastest method, the
  interleaved timing loop, the rows and summaries, every target from synthetic
  results (each can PASS, FAIL and be N/A), a partial run added to a results
  file, the conversion of an old file; exit status 3 and one line where no GPU
  is usable.
* ``render_results.py``: the console report and the page's reST come from the
  same sections, in µs; the reST is valid; the plots are drawn for the page
  width with legible text and the recommended path highlighted.
* The JPEG pipeline's block (``bench_pipeline.py``, made up here): its table's
  rows and ratios to DALI, unverified rows marked, the gap to DALI and where
  the time goes, its figures; "no figures yet" where a results file has none.
* ``results.example.json`` and the committed ``results.json`` have the schema
  the benchmark writes, and their targets are what ``compute_targets`` gives.
* The Performance page: the figure first, the targets at the end.
* On a GPU: the side-by-side comparison checks each library's round trip.
"""

from __future__ import annotations

import copy
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import bench
import bench_batch
import bench_decode
import bench_interop
import bench_pipeline
import bench_transfers
import interop_docs
import pytest
import render_results as render
import side_by_side
import targets
import timing
import transfer_methods
from interfaces import CaiV3, DLPackOnly

import preflight

ROOT = Path(__file__).resolve().parents[1]
PERF = ROOT / "docs" / "performance"
BENCH = PERF / "bench.py"
EXAMPLE = PERF / "results.example.json"
RESULTS = PERF / "results.json"
SAMPLES_DIR = ROOT / "samples" / "interoperability"

TOP_KEYS = {
    "schema", "device", "driver", "runtime", "cuda_bindings", "cvcuda", "numpy",
    "cupy", "torch", "python", "date", "quick", "repeats", "results",
    "overhead_us", "helper_vs_raw", "frameworks", "batch", "targets",
}  # fmt: skip
ROW_KEYS = {
    "method", "direction", "bytes", "gbps_median", "gbps_min", "gbps_max",
    "timer", "verified", "skipped", "ratio_to_best",
}  # fmt: skip
TARGETS = (
    "pinned_vs_frameworks",
    "pinned_helpers_vs_raw",
    "batch_at_estimate",
    "helpers_match_raw",
)
INTEROP = ("stream_wait", "wrap_cost")
KiB, MiB = 1 << 10, 1 << 20


@pytest.fixture
def example() -> dict:
    return json.loads(EXAMPLE.read_text())


def _row(doc: dict, method: str, direction: str, nbytes: int) -> dict:
    return next(r for r in doc["results"] if (r["method"], r["direction"], r["bytes"]) == (method, direction, nbytes))


def _side_by_side(doc: dict, nbytes: int) -> dict:
    return next(e for e in doc["frameworks"] if e["bytes"] == nbytes)


def _pinned_entry(doc: dict, nbytes: int) -> dict:
    return next(e for e in doc["helper_vs_raw"] if e["memory"] == "pinned" and e["bytes"] == nbytes)


# --------------------------------------------------------------------------- #
# The results files                                                           #
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("path", [EXAMPLE, RESULTS], ids=["example", "committed"])
def test_results_file_has_the_schema(path: Path) -> None:
    doc = json.loads(path.read_text())
    assert doc["schema"] == render.SCHEMA
    assert set(doc) >= TOP_KEYS, f"missing {TOP_KEYS - set(doc)}"
    assert isinstance(doc["repeats"], int) and doc["repeats"] >= 10
    for row in doc["results"]:
        assert set(row) >= ROW_KEYS, f"row {row} misses {ROW_KEYS - set(row)}"
        assert row["direction"] in ("h2d", "d2h")
        assert row["timer"] in ("events", "wallclock")
        if row["gbps_median"] is None:
            assert row["skipped"], "a row without numbers must say why"
        else:
            assert row["gbps_min"] <= row["gbps_median"] <= row["gbps_max"]
            assert 0 < row["ratio_to_best"] <= 1
    assert {r["method"] for r in doc["results"]} == {m.name for m in transfer_methods.METHODS}
    assert {r["bytes"] for r in doc["results"]} == set(bench_transfers.SIZES_FULL)
    for direction in ("h2d", "d2h"):
        assert {"helper_us", "raw_us", "overhead_us"} <= set(doc["overhead_us"][direction])
    assert isinstance(doc["helper_vs_raw"], list)
    assert set(TARGETS) | {"all_pass"} == set(doc["targets"])
    for key in TARGETS:
        assert {"description", "pass", "summary"} <= set(doc["targets"][key])
    assert set(doc["batch"]) <= set(bench_batch.block(None))
    assert {"frames", "frame_shape", "ceiling", "slots", "skipped"} <= set(doc["batch"])


def test_example_measures_everything(example: dict) -> None:
    pinned = {e["bytes"] for e in example["helper_vs_raw"] if e["memory"] == "pinned"}
    assert pinned == set(targets.PINNED_COMPARED)
    assert [e["bytes"] for e in example["frameworks"]] == list(bench_transfers.SIZES_FULL)
    for entry in example["frameworks"]:
        assert entry["verified"] == dict.fromkeys(render.SIDE_BY_SIDE, True)
        for direction in ("h2d", "d2h"):
            assert list(entry[direction]) == list(render.SIDE_BY_SIDE)
    batch = example["batch"]
    assert batch["skipped"] is None
    assert set(batch["ceiling"]) == {"both", "h2d", "d2h"}
    assert [p["slots"] for p in batch["slots"]] == list(bench_batch.SLOT_COUNTS)
    for point in batch["slots"]:
        assert {"gbps", "seconds", "ratio_to_ceiling", "verified"} <= set(point)


@pytest.mark.parametrize("path", [EXAMPLE, RESULTS], ids=["example", "committed"])
def test_recorded_targets_are_the_benchmarks(path: Path) -> None:
    doc = json.loads(path.read_text())
    assert doc["targets"] == json.loads(json.dumps(targets.compute_targets(doc)))
    rows = copy.deepcopy(doc["results"])
    assert bench_transfers.add_ratios(rows) == doc["results"]


# --------------------------------------------------------------------------- #
# Pure functions                                                              #
# --------------------------------------------------------------------------- #
def test_ratios_to_best() -> None:
    summarize = bench_transfers.summarize
    rows = [
        summarize("a", "h2d", MiB, [MiB / 10e9], "events"),  # 10 GB/s
        summarize("b", "h2d", MiB, [MiB / 20e9], "events", verified=True),
        summarize("c", "h2d", MiB, [MiB / 40e9], "events", verified=False),
        summarize("a", "d2h", MiB, [MiB / 5e9], "events"),
        bench_transfers.skipped_row("b", "d2h", MiB, "events", "no memory"),
    ]
    # "c" returned wrong bytes: never the fastest, but still shown against it.
    assert render.ratios_to_best(rows) == [0.5, 1.0, 2.0, 1.0, None]
    assert [r["ratio_to_best"] for r in bench_transfers.add_ratios(rows)] == [0.5, 1.0, 2.0, 1.0, None]
    assert rows[-1]["skipped"] == "no memory" and rows[-1]["gbps_median"] is None
    assert rows[-1]["repeats"] == 0 and set(rows[-1]) == set(rows[0])


def test_time_interleaved_takes_turns() -> None:
    calls: list[str] = []
    fns = [lambda: calls.append("a"), lambda: calls.append("b")]
    ticks = iter(range(1, 1000))

    def measure(fn) -> float:
        fn()
        return float(next(ticks))

    times = timing.time_interleaved(fns, measure, reps=4, warmup=1)
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b", "b", "a"]
    assert times == [[3.0, 6.0, 7.0, 10.0], [4.0, 5.0, 8.0, 9.0]]
    assert timing.time_interleaved(fns[:1], measure, reps=3) == [[11.0, 12.0, 13.0]]


def test_summaries() -> None:
    us = 1e-6
    assert bench_transfers.overhead([2 * us, 3 * us, 9 * us], [1 * us, 1.5 * us, 1 * us]) == {
        "helper_us": 3.0,
        "raw_us": 1.0,
        "overhead_us": 2.0,
    }
    got = bench_transfers.comparison([MiB / 8e9] * 3, [MiB / 10e9] * 3, MiB)
    assert got == {"helper_gbps_median": 8.0, "raw_gbps_median": 10.0, "ratio": 0.8}
    point = bench_batch.batch_point([0.004, 0.002, 0.003], 100_000_000, ceiling_gbps=100.0)
    assert point["seconds"] == 0.002 and point["gbps"] == 50.0
    assert point["ratio_to_ceiling"] == 0.5
    points = [
        {"slots": 1, "gbps": 30.0, "verified": True},
        {"slots": 2, "gbps": 90.0, "verified": False},
        {"slots": 3, "gbps": 80.0, "verified": True},
    ]
    assert targets.best_slots(points) == 3
    assert targets.best_slots(points[1:2]) is None


def test_host_arrays_are_page_aligned_patterns() -> None:
    pattern = transfer_methods.make_pattern(3 * 4096 + 5)
    assert pattern.ctypes.data % transfer_methods.PAGE == 0
    assert len(set(pattern[:4096].tolist())) > 200  # every byte varies
    assert (pattern == transfer_methods.make_pattern(pattern.size)).all()  # reproducible
    assert not transfer_methods.page_aligned_zeros(100).any()


def test_registered_refuses_what_it_cannot_lock() -> None:
    import numpy as np

    with pytest.raises(TypeError, match=r"needs a numpy\.ndarray, got list"):
        transfer_methods.registered([1, 2, 3])
    with pytest.raises(ValueError, match="C-contiguous array, got strides"):
        transfer_methods.registered(np.zeros((4, 4), np.uint8)[:, ::2])


# --------------------------------------------------------------------------- #
# Targets from synthetic results                                              #
# --------------------------------------------------------------------------- #
def _verdicts(doc: dict) -> dict[str, bool | None]:
    return {k: v if k == "all_pass" else v["pass"] for k, v in targets.compute_targets(doc).items()}


@pytest.mark.parametrize(("share", "expected"), [(1.0, True), (0.995, True), (0.994, False)])
def test_frameworks_target(example: dict, share: float, expected: bool) -> None:
    """The helpers at or above CuPy's and PyTorch's calls side by side, at every
    point, where "at" allows 0.5% below."""
    helpers, cupy, torch = render.SIDE_BY_SIDE
    for entry in example["frameworks"]:
        for direction in ("h2d", "d2h"):
            rates = entry[direction]
            rates[cupy] = rates[torch] = rates[helpers]
    rates = _side_by_side(example, 1 * MiB)["h2d"]
    rates[cupy] = rates[helpers] / share
    target = targets.compute_targets(example)["pinned_vs_frameworks"]
    assert target["pass"] is expected and _verdicts(example)["all_pass"] is expected
    assert target["tolerance"] == 0.005 and "within 0.5%" in target["description"]
    points = 2 * 2 * len(example["frameworks"])  # two libraries, two ways
    if expected:
        lowest = "100.0%" if share == 1.0 else "99.5%"
        assert target["summary"] == f"at or above at all {points} points (lowest {lowest})"
    else:
        assert target["summary"].startswith(f"{points - 1} of {points} points; below: CuPy set / get, h2d 1 MiB: ")
        assert target["summary"].endswith("(99.4%)")
    example["frameworks"][0] = {"bytes": 4 * KiB, "skipped": "RuntimeError: no memory"}
    summary = targets.compute_targets(example)["pinned_vs_frameworks"]["summary"]
    assert "4 KiB not measured: RuntimeError: no memory" in summary
    example["frameworks"] = []
    assert targets.compute_targets(example)["pinned_vs_frameworks"]["pass"] is None


def test_frameworks_section(example: dict) -> None:
    """A row per size and direction with each call's GB/s and the helpers' share;
    where the helpers are below, a note says where and why."""
    helpers, cupy, torch = render.SIDE_BY_SIDE
    section = next(s for s in render.sections(example) if s.key == "frameworks")
    assert not any("below at" in note for note in section.notes)  # the example: at or above
    entry = _side_by_side(example, 64 * KiB)
    entry["d2h"].update({helpers: 9.0, cupy: 10.0, torch: 8.0})
    entry["verified"][torch] = False
    section = next(s for s in render.sections(example) if s.key == "frameworks")
    shares = (f"{helpers} vs {cupy}", f"{helpers} vs {torch}")
    assert section.header == ("Size", "Direction", *render.SIDE_BY_SIDE, *shares)
    assert len(section.rows) == 2 * len(example["frameworks"])
    assert ("64 KiB", "device → host", "9.00 GB/s", "10.00 GB/s", "8.00 GB/s", "90.0%", "112.5%") in section.rows
    assert "Round trips checked: MISMATCH for PyTorch copy_." in section.notes
    assert any(
        n.startswith("The helpers are more than 0.5% below at CuPy set / get: d2h 64 KiB. ") for n in section.notes
    )
    entry["h2d"][torch] = entry["h2d"][helpers] / 0.99
    section = next(s for s in render.sections(example) if s.key == "frameworks")
    assert any(
        n.startswith("The helpers are more than 0.5% below at CuPy set / get: d2h 64 KiB; PyTorch copy_: h2d 64 KiB. ")
        for n in section.notes
    )
    example["frameworks"][1] = {"bytes": 64 * KiB, "skipped": "ValueError: odd"}
    section = next(s for s in render.sections(example) if s.key == "frameworks")
    assert "64 KiB not measured: ValueError: odd" in section.notes


def test_a_benchmark_script_exits_with_its_status_and_its_output_flushed() -> None:
    code = "import timing; print('written', end=''); timing.exit_after_results(7)"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "docs" / "performance")}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout) == (7, "written")


def test_side_by_side_repeats_and_rates() -> None:
    assert [side_by_side.repeats(n, False) for n in (4 * KiB, 16 * MiB, 64 * MiB, 1 << 30)] == [1000, 160, 40, 10]
    assert side_by_side.repeats(4 * KiB, True) == 200 and side_by_side.repeats(1 << 30, True) == 10
    calls = dict.fromkeys(("a", "b"))
    assert side_by_side.rates(calls, [[MiB / 1e9] * 3, [MiB / 2e9, MiB / 4e9, MiB / 2e9]], MiB) == {"a": 1.0, "b": 2.0}


@pytest.mark.gpu
def test_side_by_side_on_the_gpu() -> None:
    """Each library's calls copy the same memory and come back checked; a call
    that copies nothing fails its check; torch gets its own stream back."""
    from cuda.bindings import runtime as cudart

    import cuda_python_common as cu

    gpu = timing.Gpu(cu, cudart, quick=True)
    gpu.start()
    res = transfer_methods.SizeResources(gpu, 64 * KiB)
    try:
        libraries = zip(render.SIDE_BY_SIDE[1:], (gpu.cupy, gpu.torch), strict=True)
        names = [render.SIDE_BY_SIDE[0], *(name for name, lib in libraries if lib is not None)]
        before = gpu.torch.cuda.current_stream() if gpu.torch is not None else None
        entry = side_by_side.measure(gpu, res)
        assert entry["verified"] == dict.fromkeys(names, True)
        for direction in ("h2d", "d2h"):
            assert list(entry[direction]) == names
            assert all(gbps > 0 for gbps in entry[direction].values())
        if before is not None:
            assert gpu.torch.cuda.current_stream() == before
        d2h = lambda: cu.cuda_memcpy_d2h(res.dev, res.pinned_dst, stream=gpu.stream)  # noqa: E731
        assert side_by_side.round_trip(gpu, res, lambda: None, d2h) is False
    finally:
        res.close()
        gpu.close()


@pytest.mark.gpu
def test_a_warm_measure_runs_the_call_once_untimed_then_times_it() -> None:
    """The untimed call finishes before the timed one starts: a 64 MiB memset
    (about 20 us or more) timed warm takes far less than the two together."""
    from cuda.bindings import runtime as cudart

    import cuda_python_common as cu

    gpu = timing.Gpu(cu, cudart, quick=True)
    gpu.start()
    calls: list[None] = []  # what each memset's check returned
    try:
        with cu.CudaBuffer(64 * MiB) as buffer:
            memset = lambda: calls.append(gpu.check(cudart.cudaMemsetAsync(buffer.ptr, 1, buffer.nbytes, gpu.stream)))  # noqa: E731
            both = gpu.on_stream(gpu.stream)(lambda: (memset(), memset()))
            warm = gpu.on_stream_warm(gpu.stream)(memset)
            gpu.sync_stream(gpu.stream)
        assert len(calls) == 4
        assert 0 < warm < 0.75 * both, (warm, both)
    finally:
        gpu.close()


@pytest.mark.parametrize(
    ("nbytes", "ratio", "expected"),
    [
        (64 * KiB, 0.5, True),  # compared and shown, not a target
        (1 * MiB, 0.90, True),
        (1 * MiB, 0.899, False),
    ],
)
def test_pinned_helpers_vs_raw_target(example: dict, nbytes: int, ratio: float, expected: bool) -> None:
    _pinned_entry(example, nbytes)["d2h"]["ratio"] = ratio
    target = targets.compute_targets(example)["pinned_helpers_vs_raw"]
    assert target["pass"] is expected
    assert "(interleaved)" in target["summary"]


def test_pinned_target_falls_back_to_the_rate_tables(example: dict) -> None:
    example["helper_vs_raw"] = [e for e in example["helper_vs_raw"] if e["memory"] != "pinned"]
    target = targets.compute_targets(example)["pinned_helpers_vs_raw"]
    assert "(rate tables)" in target["summary"]
    helper = _row(example, render.HELPERS_PINNED, "h2d", 1 * MiB)["gbps_median"]
    raw = _row(example, render.RAW_PINNED, "h2d", 1 * MiB)["gbps_median"]
    got = next(c for c in target["checks"] if c["bytes"] == 1 * MiB and c["direction"] == "h2d")
    assert got["ratio"] == round(helper / raw, 4)
    for method in (render.HELPERS_PINNED, render.RAW_PINNED):
        example["results"] = [r for r in example["results"] if r["method"] != method]
    assert targets.compute_targets(example)["pinned_helpers_vs_raw"]["pass"] is None


@pytest.mark.parametrize(
    ("share", "verified", "expected"),
    [(0.97, True, True), (0.969, True, False), (0.99, False, False)],
    ids=["at-target", "below", "wrong-output"],
)
def test_batch_target(example: dict, share: float, verified: bool, expected: bool) -> None:
    batch = example["batch"]
    batch["ceiling"]["both"]["gbps"] = 100.0
    batch["bound"] = {"gbps": 90.0, "ratio_to_ceiling": 0.9}  # the whole-frame estimate
    for point in batch["slots"]:  # 4 slots are the fastest
        point["gbps"] = 90.0 * share * point["slots"] / 4
        point["verified"] = verified
    target = targets.compute_targets(example)["batch_at_estimate"]
    assert target["pass"] is expected
    assert target["best_slots"] == (4 if verified else None)
    if verified:
        assert f"= {share:.1%} of the estimate's 90.00 GB/s" in target["summary"]


def test_pipeline_bound_is_whole_frames_with_fill_and_drain() -> None:
    ceiling = {"h2d": {"gbps": 50.0}, "d2h": {"gbps": 50.0}, "both": {"gbps": 100.0}}
    # 16 frames of 1 unit: 1/50 up alone + 15 * 2/100 overlapped + 1/50 down alone
    assert bench_batch.pipeline_bound(ceiling, 16) == {"gbps": 94.118, "ratio_to_ceiling": 0.9412}
    assert bench_batch.pipeline_bound(ceiling, 1)["gbps"] == 50.0  # nothing overlaps
    assert bench_batch.pipeline_bound({"both": {"gbps": 100.0}}, 16) is None


def test_timeline_times_each_call_between_two_events_on_its_stream() -> None:
    recorded: list[tuple[int, str]] = []
    destroyed: list[int] = []
    made = iter(range(1, 100))

    class Runtime:
        def cudaEventCreate(self) -> tuple:
            return ("ok", next(made))

        def cudaEventRecord(self, event: int, stream: str) -> tuple:
            recorded.append((event, stream))
            return ("ok",)

        def cudaEventElapsedTime(self, start: int, end: int) -> tuple:
            return ("ok", float(end - start) / 4)

        def cudaEventDestroy(self, event: int) -> tuple:
            destroyed.append(event)
            return ("ok",)

    def check(result: tuple, call: str) -> object:
        assert result[0] == "ok", call
        return result[1] if len(result) > 1 else None

    seen_at_call: list[tuple[int, int]] = []
    with bench_batch.Timeline(Runtime(), check, "origin", marks=2) as timeline:
        created = next(made) - 1  # every event exists before the first call
        timeline.mark("s1", {"step": "h2d"}, lambda: seen_at_call.append((len(recorded), next(made))))
        timeline.mark("s2", {"step": "d2h"}, lambda: None)
        spans = timeline.spans()
        with pytest.raises(RuntimeError, match="more than 2 calls marked"):
            timeline.mark("s3", {"step": "d2h"}, lambda: None)
    assert created == 5  # two per call and the origin
    assert seen_at_call == [(2, 7)]  # origin and start recorded before the call, none created since
    assert recorded[:5] == [(1, "origin"), (2, "s1"), (3, "s1"), (4, "s2"), (5, "s2")]
    assert spans == [
        {"step": "h2d", "start_ms": 0.25, "end_ms": 0.5},
        {"step": "d2h", "start_ms": 0.75, "end_ms": 1.0},
    ]
    assert destroyed == [1, 2, 3, 4, 5]


def test_timeline_plot_has_a_row_per_stream(example: dict, tmp_path: Path) -> None:
    spans = [
        {"stream": stream, "slot": i % 3, "frame": i, "step": step}
        | {"start_ms": 0.1 * i + j * 0.03, "end_ms": 0.1 * i + j * 0.03 + 0.03}
        for i in range(6)
        for j, (stream, step) in enumerate((("upload", "h2d"), ("compute", "flip"), ("download", "d2h")))
    ]
    example["batch"]["timeline"] = {"slots": 3, "spans": spans}
    fig = render.render_timeline(example, tmp_path / "t.png")
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["upload stream", "compute stream", "download stream"]
    example.pop("synthetic", None)
    assert "3 frames in flight" in render.render_timeline(example).axes[0].get_title()
    assert len(ax.patches) == len(spans)
    example["batch"]["timeline"] = None
    empty = render.render_timeline(example)
    assert not empty.axes[0].patches


def test_batch_target_without_cvcuda(example: dict) -> None:
    example["batch"] = bench_batch.block("cvcuda is not installed")
    verdicts = _verdicts(example)
    assert verdicts["batch_at_estimate"] is None
    assert verdicts["all_pass"] is None  # not a PASS: one target was not evaluated
    summary = targets.compute_targets(example)["batch_at_estimate"]["summary"]
    assert "cvcuda is not installed" in summary


def test_large_size_targets(example: dict) -> None:
    _side_by_side(example, 1 << 30)["d2h"][render.SIDE_BY_SIDE[0]] /= 2
    next(e for e in example["helper_vs_raw"] if e["memory"] == "pageable")["h2d"]["ratio"] = 0.96
    verdicts = _verdicts(example)
    assert verdicts["pinned_vs_frameworks"] is False
    assert verdicts["helpers_match_raw"] is False
    assert verdicts["all_pass"] is False


# --------------------------------------------------------------------------- #
# The results document: a partial run, an old file                            #
# --------------------------------------------------------------------------- #
def _env(doc: dict) -> dict:
    keys = ("device", "driver", "driver_release", "runtime", "cuda_bindings", "cvcuda")
    return {k: doc.get(k) for k in (*keys, "numpy", "cupy", "torch", "python")}


def test_a_partial_run_replaces_its_part_and_keeps_the_others(example: dict) -> None:
    base = {**example, "synthetic": False, "date": "2026-01-02"}
    decode = bench_decode.stub("nvImageCodec not usable: synthetic")
    doc = bench.assemble(_env(base), {"decode": decode}, base, quick=True, warnings=[], duration_s=1.0)
    assert doc["decode"] == decode["decode"]
    for key in ("results", "overhead_us", "helper_vs_raw", "batch", "interop", "sizes", "methods"):
        assert doc[key] == base[key], key
    assert doc["measured"]["decode"] == doc["date"] != "2026-01-02"
    assert doc["measured"]["transfers"] == "2026-01-02"
    assert doc["targets"] == targets.compute_targets(doc)
    assert list(doc)[-4:] == ["measured", "warnings", "duration_s", "targets"]
    assert "(transfers 2026-01-02" in render.format_text(doc, keys=("run",))
    older = {k: v for k, v in base.items() if k != "interop"}  # a file from before that part
    doc = bench.assemble(_env(base), {"decode": decode}, older, warnings=[], duration_s=1.0)
    assert doc["interop"]["skipped"] == "not measured yet: run bench.py interop"
    assert "interop" not in doc["measured"]


def test_a_partial_run_without_a_file_says_what_was_not_measured(example: dict) -> None:
    batch = bench_batch.stub("cvcuda not usable: synthetic")
    doc = bench.assemble(_env(example), {"batch": batch}, None, warnings=[], duration_s=1.0)
    assert doc["results"] == [] and doc["batch"] == batch["batch"]
    assert doc["interop"]["skipped"] == "not measured yet: run bench.py interop"
    assert doc["decode"]["skipped"] == "not measured yet: run bench.py decode"
    assert doc["measured"] == {"batch": doc["date"]}
    rst = render.to_rst(doc)
    assert "not measured yet: run bench.py decode" in rst and "host → device: GB/s" not in rst
    assert _rst_warnings(rst) == ""


def test_a_partial_run_is_not_mixed_with_another_devices_file(example: dict, tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps({**example, "synthetic": False, "device": "GPU A"}))
    assert bench.read_base(path, "GPU A")["device"] == "GPU A"
    with pytest.raises(SystemExit) as exit_:
        bench.read_base(path, "GPU B")
    assert exit_.value.code == bench.EXIT_OTHER_DEVICE
    path.write_text(json.dumps(example))  # synthetic: nothing to add to
    assert bench.read_base(path, example["device"]) is None


def _schema_1(doc: dict) -> dict:
    old = copy.deepcopy(doc)
    for key in ("schema", "batch", "cvcuda", "targets"):
        old.pop(key)
    for row in old["results"]:
        row.pop("ratio_to_best")
    old["helper_vs_raw"] = next(e for e in old["helper_vs_raw"] if e["memory"] == "pageable")
    old["helper_vs_raw"].pop("memory")
    return old


def test_upgrade_keeps_the_measurements(example: dict) -> None:
    old = _schema_1(example)
    new = bench.upgrade_results(old)
    assert new["schema"] == render.SCHEMA
    assert [r["gbps_median"] for r in new["results"]] == [r["gbps_median"] for r in old["results"]]
    assert [r["ratio_to_best"] for r in new["results"]] == [r["ratio_to_best"] for r in example["results"]]
    assert new["helper_vs_raw"] == [{"memory": "pageable", **old["helper_vs_raw"]}]
    assert new["batch"]["skipped"] and "schema 1" in new["schema_note"]
    assert new["targets"]["batch_at_estimate"]["pass"] is None
    assert "(rate tables)" in new["targets"]["pinned_helpers_vs_raw"]["summary"]
    assert bench.upgrade_results(new) == new
    with pytest.raises(ValueError, match="schema"):
        bench.upgrade_results({**new, "schema": 99})


def test_upgrade_command_rewrites_the_file(example: dict, tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(_schema_1(example)))
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--upgrade", str(path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(path.read_text())["schema"] == 2
    assert "PASS" in proc.stdout and "results schema 2" in proc.stdout


# --------------------------------------------------------------------------- #
# Rendering                                                                   #
# --------------------------------------------------------------------------- #
def _rst_warnings(text: str) -> str:
    core = pytest.importorskip("docutils.core")
    stream = io.StringIO()
    settings = {"warning_stream": stream, "report_level": 2}
    core.publish_doctree(text, settings_overrides=settings)
    return stream.getvalue()


def test_text_and_rst_come_from_the_same_sections(example: dict) -> None:
    text, rst = render.format_text(example), render.to_rst(example)
    tables = [s for s in render.sections(example) if s.header]
    keys = ["targets", "batch", "comparisons", "frameworks", "h2d", "d2h", "stream_wait", "wrap_cost"]
    assert [s.key for s in tables] == keys
    assert rst.count(".. list-table::") == len(tables)
    for section in tables:
        assert render.rst_escape(section.title) in rst and section.title in text
        for row in section.rows:
            assert row[0] in text
    for method in {r["method"] for r in example["results"]}:
        assert method in text and render.rst_escape(method) in rst
    assert text.count("PASS ") == len(TARGETS) and rst.count("**PASS**") == len(TARGETS)
    assert "SYNTHETIC" in text and "synthetic example" in rst
    assert "Best: 3 slots" in text and "96.6%" in text


def test_times_are_in_microseconds_everywhere(example: dict) -> None:
    """µs, as the index writes it, in the report, the page and the targets."""
    for text in (render.format_text(example), render.to_rst(example)):
        assert " µs" in text and not re.findall(r"\d us\b", text)


def test_text_shows_each_method_against_the_fastest(example: dict) -> None:
    text = render.format_text(example, keys=("h2d",))
    row = _row(example, "helpers pinned async", "h2d", 1 << 30)
    line = next(ln for ln in text.splitlines() if ln.startswith("helpers pinned async"))
    assert f"{row['gbps_median']:.2f} ({row['ratio_to_best']:.0%})" in line


def test_rst_is_valid(example: dict) -> None:
    assert _rst_warnings(render.to_rst(example)) == ""
    for keys in render.PAGE_PARTS.values():
        assert _rst_warnings(render.to_rst(example, keys)) == ""


def test_rst_of_a_partial_run(example: dict) -> None:
    """A quick run without CuPy or CV-CUDA, with a skipped point and odd text."""
    doc = copy.deepcopy(example)
    doc.update(synthetic=False, quick=True, batch=bench_batch.block("no *cvcuda*_ here"))
    doc["results"] = [r for r in doc["results"] if not r["method"].startswith("CuPy") and r["bytes"] <= 16 * MiB]
    odd = "a_b_ *odd* `text` |x|"
    doc["results"][0] = bench_transfers.skipped_row(doc["results"][0]["method"], "h2d", 4096, "wallclock", odd)
    for m in doc["methods"]:
        if m["name"].startswith("CuPy"):
            m.update(available=False, note="cupy not usable: No module named 'cupy'")
    bench_transfers.add_ratios(doc["results"])
    doc["targets"] = targets.compute_targets(doc)
    rst = render.to_rst(doc)
    assert "warning::" not in rst
    assert "Not measured: CuPy pinned" in rst
    assert "1 GiB" not in rst.split("host → device: GB/s")[1]
    assert "Batch not measured" in rst and "**N/A**" in rst
    assert _rst_warnings(rst) == ""
    render.render(doc)  # the figure copes too


def test_load_refuses_an_old_or_foreign_file(example: dict, tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    path.write_text(json.dumps({**example, "schema": 1}))
    with pytest.raises(ValueError, match=r"bench\.py --upgrade"):
        render.load(path)
    path.write_text(json.dumps({"results": []}))
    with pytest.raises(ValueError, match="not a transfer-benchmark results file"):
        render.load(path)


def test_plot_fits_the_page(example: dict, tmp_path: Path) -> None:
    from matplotlib.text import Text

    out = tmp_path / "sub" / "performance.png"
    fig = render.render(example, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    width_in = fig.get_size_inches()[0]
    assert width_in == 8.0  # shown about 800 px wide
    px_per_pt = 800 / (width_in * 72)
    texts = [t for t in fig.findobj(Text) if t.get_text().strip() and t.get_visible()]
    assert texts
    smallest = min(t.get_fontsize() for t in texts) * px_per_pt
    assert smallest >= 11, f"text {smallest:.1f} px high at 800 px"
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[0] == "helpers pinned async (recommended)"
    assert len(labels) == len(render.PLOT_LINES)
    for ax in fig.axes:
        widths = {ln.get_label(): ln.get_linewidth() for ln in ax.get_lines()}
        top = widths.pop("helpers pinned async (recommended)")
        assert all(top > w for w in widths.values()), widths


def test_the_plot_and_the_index_name_measured_methods() -> None:
    names = {m.name for m in transfer_methods.METHODS}
    assert {m for m, *_ in render.PLOT_LINES} <= names
    assert render.RECOMMENDED in names
    assert set(interop_docs.APPROACH_METHODS.values()) <= names


def test_write_docs_assets(tmp_path: Path) -> None:
    doc = render.write_docs_assets(tmp_path, EXAMPLE)
    assert doc["synthetic"] is True
    parts = {name: (tmp_path / name).read_text() for name in render.PAGE_PARTS}
    assert "synthetic example" in parts["performance_run.rst"] and "Measured on" in parts["performance_run.rst"]
    for name, text in parts.items():
        assert "warning::" in text, name  # every part says the numbers are not real
        assert _rst_warnings(text) == "", name
    assert ":: Targets" in parts["performance_targets.rst"]
    assert "Overlapped batch" in parts["performance_batch.rst"]
    assert "another stream is busy" in parts["performance_interop.rst"]
    table = parts["performance_table.rst"]
    assert "host → device: GB/s" in table and "Wrap cost" in parts["performance_wrap.rst"]
    assert "Overlapped batch" not in table and "Targets" not in table and "Wrap cost" not in table
    assert (tmp_path / "performance.png").stat().st_size > 10_000
    assert (tmp_path / "batch_timeline.png").stat().st_size > 10_000


# --------------------------------------------------------------------------- #
# PyTorch and CuPy with CV-CUDA: the interop block                            #
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("path", [EXAMPLE, RESULTS], ids=["example", "committed"])
def test_interop_block_has_the_schema(path: Path) -> None:
    interop = json.loads(path.read_text())["interop"]
    assert set(interop) == set(bench_interop.block(None))
    ways = {way for way, _ in bench_interop.INTEROP_WAYS}
    for row in interop["stream_wait"]:
        assert row["busy"] in interop["busy"] and row["way"] in ways
        assert row["us_min"] <= row["us_median"] <= row["us_max"]
    for row in interop["wrap_us"]:
        assert row["skipped"] or row["us_median"] > 0
        assert row["direction"] in ("into CV-CUDA", "from CV-CUDA", "both")


def test_example_measures_the_interop_block(example: dict) -> None:
    interop = example["interop"]
    assert interop["skipped"] is None
    assert set(interop["busy"]) == {"legacy", "nonblocking"}
    assert len(interop["stream_wait"]) == len(interop["busy"]) * len(bench_interop.INTEROP_WAYS)
    libraries = {r["library"] for r in interop["wrap_us"]}
    assert libraries == {"CUDA Python", "cuda.core", "PyTorch", "CuPy"}


def test_interop_rows() -> None:
    row = bench_interop.stream_wait_row("legacy", "cai_v2", "v2", [3e-6, 1e-6, 2e-6], True)
    assert (row["us_min"], row["us_median"], row["us_max"]) == (1.0, 2.0, 3.0)
    assert row["calls"] == 3 and row["verified"] is True
    wrap = bench_interop.wrap_row("PyTorch", "into CV-CUDA", "x", [4e-6, 5e-6, 9e-6], True)
    assert wrap["us_median"] == 5.0 and wrap["zero_copy"] is True
    gone = bench_interop.wrap_row("cuda.core", "both", "y", None, skipped="TypeError: no")
    assert gone["us_median"] is None and gone["skipped"] == "TypeError: no"


class _FakeTensor:
    """A torch tensor's two interfaces, as far as the wrappers read them."""

    def __init__(self) -> None:
        self.__cuda_array_interface__ = {
            "shape": (2, 3), "typestr": "|u1", "data": (4096, False), "strides": None, "version": 2,
        }  # fmt: skip
        self.asked: list[dict] = []

    def __dlpack__(self, **kwargs: object) -> str:
        self.asked.append(kwargs)
        return "capsule"

    def __dlpack_device__(self) -> tuple[int, int]:
        return (2, 0)


def test_cai_v3_wrapper_names_the_stream() -> None:
    tensor = _FakeTensor()
    v2 = dict(tensor.__cuda_array_interface__)
    v3 = CaiV3(tensor, 0x1234)
    assert v3.__cuda_array_interface__ == {**v2, "version": 3, "stream": 0x1234}
    assert v3.inner is tensor  # keeps the tensor alive
    assert CaiV3(_FakeTensor(), 0).__cuda_array_interface__["stream"] == 1  # 0 is ambiguous in v3
    assert CaiV3(_FakeTensor(), None).__cuda_array_interface__["stream"] is None  # "no wait"
    assert tensor.__cuda_array_interface__ == v2  # not modified


def test_dlpack_only_offers_dlpack_and_nothing_else() -> None:
    tensor = _FakeTensor()
    only = DLPackOnly(tensor)
    assert not hasattr(only, "__cuda_array_interface__")
    assert only.__dlpack__(stream=1, max_version=(1, 0)) == "capsule"
    assert tensor.asked == [{"stream": 1, "max_version": (1, 0)}]  # passed on as asked
    assert only.__dlpack_device__() == (2, 0)


def test_interop_sections_render(example: dict) -> None:
    text = render.format_text(example, keys=INTEROP)
    rst = render.to_rst(example, INTEROP)
    legacy = example["interop"]["stream_wait"]
    v2, v3 = (
        next(r["us_median"] for r in legacy if r["busy"] == "legacy" and r["way"] == w) for w in ("cai_v2", "cai_v3")
    )
    assert f"CAI v2 took {v2 / v3:.1f}× as long as v3" in text
    line = next(ln for ln in text.splitlines() if ln.startswith("CAI v3 naming"))
    assert f"{v3:.2f} µs" in line and line.endswith("verified")
    for row in example["interop"]["wrap_us"]:
        assert row["call"] in text
    assert rst.count(".. list-table::") == 2
    assert _rst_warnings(rst) == ""


def test_interop_sections_say_what_was_not_measured(example: dict) -> None:
    old = {k: v for k, v in example.items() if k != "interop"}
    rst = render.to_rst(old, INTEROP)
    assert "list-table" not in rst and "Not measured in this results file" in rst
    assert _rst_warnings(rst) == ""
    skipped = {**example, "interop": bench_interop.block("torch not usable: No module named 'torch'")}
    rst = render.to_rst(skipped, INTEROP)
    assert "list-table" not in rst and "Not measured: torch not usable" in rst
    assert _rst_warnings(rst) == ""
    wrong = copy.deepcopy(example)
    wrong["interop"]["stream_wait"][0]["verified"] = False
    wrong["interop"]["wrap_us"][0]["zero_copy"] = False
    text = render.format_text(wrong, keys=INTEROP)
    assert "MISMATCH" in text and "COPIED" in text


# --------------------------------------------------------------------------- #
# The script                                                                  #
# --------------------------------------------------------------------------- #
def _run_bench(env: dict, tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH), *args, "--quick", "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    text = proc.stdout + proc.stderr
    assert "Traceback" not in text
    assert not out.exists()
    return proc, [line for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("parts", [(), ("decode",), ("pipeline",)], ids=["all", "one-part", "pipeline"])
def test_bench_without_a_gpu_exits_3_with_one_line(tmp_path: Path, parts: tuple[str, ...]) -> None:
    why = preflight.gpu_unavailable_reason()
    env = {**os.environ, "PYTHONPATH": str(SAMPLES_DIR)}
    if why is None:  # a usable GPU here: hide it, so the no-GPU path is what runs
        env["CUDA_VISIBLE_DEVICES"] = ""
    proc, lines = _run_bench(env, tmp_path, *parts)
    assert proc.returncode == preflight.EXIT_GPU_UNAVAILABLE == bench.EXIT_NO_PREFLIGHT, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith("bench.py: cannot run:")
    if why is not None:
        assert lines[0].endswith(why)


def test_bench_without_pythonpath_says_so(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc, lines = _run_bench(env, tmp_path)
    assert proc.returncode == preflight.EXIT_GPU_UNAVAILABLE, lines
    assert len(lines) == 1 and "PYTHONPATH" in lines[0], lines


def test_bench_names_its_parts_when_one_is_unknown(tmp_path: Path) -> None:
    proc, lines = _run_bench({**os.environ, "PYTHONPATH": str(SAMPLES_DIR)}, tmp_path, "transfer")
    assert proc.returncode == 2
    assert lines[-1].endswith("no part transfer: the parts are transfers, batch, interop, decode, pipeline")


# --------------------------------------------------------------------------- #
# JPEG decode to a CV-CUDA tensor: the decode block                           #
# --------------------------------------------------------------------------- #
def _decode_path(kind: str, path: str, ms: float, count: int = 1, verified: bool | None = True) -> dict:
    return {
        "kind": kind,
        "path": path,
        "images_per_call": count,
        "ms_per_image": ms,
        "ms_min": ms * 0.9,
        "ms_max": ms * 1.3,
        "images_per_s": round(1e3 / ms, 1),
        "verified": verified,
        "skipped": None,
    }


@pytest.fixture
def decoded(example: dict) -> dict:
    """The example with a synthetic decode block: two GPU and two host paths."""
    block = bench_decode.block(None)
    block.update(
        shape=[600, 512, 3], jpeg_bytes=61306, reps=50, import_ms=180.0, init_ms=1012.4,
        nvimgcodec="0.9.0", pillow="11.3.0",
        paths=[
            _decode_path("gpu", "nvImageCodec decode → CV-CUDA tensor", 0.32),
            _decode_path("gpu", "nvImageCodec batch decode of 8 → CV-CUDA tensors", 0.16, 8),
            _decode_path("host", "Pillow decode + pinned copy → CV-CUDA tensor", 2.40),
            _decode_path("host", "Pillow decode + pageable copy → CV-CUDA tensor", 2.56),
        ],
    )  # fmt: skip
    return {**copy.deepcopy(example), "synthetic": False, "decode": block}


def test_decode_block_is_the_documented_schema() -> None:
    for key in bench_decode.block(None):
        assert f"``{key}``" in bench_decode.__doc__, f"decode block key {key} is not documented"
    assert bench_decode.DECODE_REPS_QUICK >= 10 and bench_decode.DECODE_BATCH > 1


def test_decode_section_in_text_and_rst(decoded: dict) -> None:
    text = render.format_text(decoded, keys=("decode",))
    rst = render.to_rst(decoded, ("decode",))
    (section,) = [s for s in render.sections(decoded) if s.key == "decode"]
    assert section.header == ("Path", "ms per image", "images/s", "Speed-up", "Output")
    rows = {row[0]: row for row in section.rows}
    single = rows["nvImageCodec decode → CV-CUDA tensor"]
    assert single[1:] == ("0.320", "3,125", "8.0×", "verified")  # 2.56 / 0.32
    assert rows["nvImageCodec batch decode of 8 → CV-CUDA tensors"][3] == "16.0×"
    assert rows["Pillow decode + pageable copy → CV-CUDA tensor"][3] == "1.0×"
    assert "One-time set-up: 1,012 ms" in text and "600×512×3 photo" in text
    assert "nvImageCodec 0.9.0, Pillow 11.3.0." in text
    assert rst.count(".. list-table::") == 1 and render.rst_escape(section.title) in rst
    assert _rst_warnings(rst) == ""


def test_decode_section_of_an_old_a_skipped_and_a_wrong_run(decoded: dict, example: dict) -> None:
    old = {k: v for k, v in example.items() if k != "decode"}
    rst = render.to_rst(old, ("decode",))
    assert "Not measured in this results file" in rst and "list-table" not in rst
    assert _rst_warnings(rst) == ""
    skipped = {**example, "decode": bench_decode.block("nvImageCodec not usable: No module named 'nvidia'")}
    rst = render.to_rst(skipped, ("decode",))
    assert "Not measured: nvImageCodec not usable" in rst and _rst_warnings(rst) == ""
    partial = copy.deepcopy(decoded)
    partial["decode"]["paths"][0]["verified"] = False
    for p in partial["decode"]["paths"][2:]:
        p.update(ms_per_image=None, skipped="Pillow not usable: *odd*_ text")
    text = render.format_text(partial, keys=("decode",))
    assert "MISMATCH" in text and "Pillow not usable" in text
    assert "Speed-up" in text and "—" in text  # no host path to compare with
    assert _rst_warnings(render.to_rst(partial, ("decode",))) == ""


def test_write_docs_assets_writes_the_decode_part(decoded: dict, tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    results.write_text(json.dumps(decoded))
    render.write_docs_assets(tmp_path, results)
    part = (tmp_path / "performance_decode.rst").read_text()
    assert "JPEG decode to a CV-CUDA tensor" in part and "8.0×" in part
    assert "warning::" not in part  # measured
    for name in set(render.PAGE_PARTS) - {"performance_decode.rst"}:
        assert "JPEG decode" not in (tmp_path / name).read_text(), name


def test_index_wrap_costs_come_from_the_results(example: dict) -> None:
    example["interop"]["wrap_us"] = [
        {"library": "PyTorch", "direction": "into CV-CUDA", "us_median": 7.72},
        {"library": "PyTorch", "direction": "into CV-CUDA", "us_median": 6.18},
        {"library": "PyTorch", "direction": "from CV-CUDA", "us_median": 13.5},
        {"library": "CuPy", "direction": "from CV-CUDA", "us_median": None},
    ]
    lines = interop_docs.wrap_cost_substitutions(example)
    assert ".. |wrap_torch| replace:: in 6.2 µs, out 13.5 µs" in lines
    assert ".. |wrap_cupy| replace:: in: not measured, out: not measured" in lines
    index = (ROOT / "docs" / "index.rst").read_text()
    for name in interop_docs.WRAP_LIBRARIES:
        assert f"|{name}|" in index


# --------------------------------------------------------------------------- #
# JPEG files to a model batch: the pipeline block                             #
# --------------------------------------------------------------------------- #
def _pipeline_doc(doc: dict, block: dict | None) -> dict:
    """``doc`` with ``block`` as its pipeline block, or without one (None)."""
    new = {k: v for k, v in doc.items() if k != "pipeline"}
    return new if block is None else {**new, "pipeline": block}


#: Made-up images/s at batch 1, 32 and 128 per path: this pipeline is ahead of
#: DALI at batch 1 and behind it at 128.
PIPELINE_RATES = {"cvcuda": (610, 3900, 4200), "dali": (540, 4100, 5000), "torchvision": (380, 2100, 2300)}
PIPELINE_PART = render.PAGE_PARTS["performance_pipeline.rst"]


def _pipeline_block(rates: dict[str, tuple[float, ...]] = PIPELINE_RATES) -> dict:
    """A pipeline block as bench_pipeline writes it; Pillow skipped, with why."""
    paths = []
    for name, (label, includes) in bench_pipeline.PATHS.items():
        rows = [
            {"batch": batch, "max_difference": 0.05, "mean_difference": 0.004, "verified": True}
            | bench_pipeline.rates([batch * 10 / rate for rate in (rate * 0.9, rate, rate * 1.1)], batch * 10)
            for batch, rate in zip(bench_pipeline.BATCHES, rates.get(name, ()), strict=False)
        ]
        skipped = None if rows else "ModuleNotFoundError: No module named 'PIL'"
        paths.append({"path": name, "label": label, "includes": includes, "skipped": skipped, "rows": rows})
    bench_pipeline.add_ratios(paths)
    stages = [("decode", 24.1), ("resize", 4.2), ("crop_normalise", 1.3)]
    return bench_pipeline.stub(None)["pipeline"] | {
        "paths": paths,
        "stages": [{"batch": 128, "stage": stage, "ms": ms} for stage, ms in stages],
        "batches": list(bench_pipeline.BATCHES), "rounds": 5, "stage_runs": 10,
        "batches_per_round": {"1": 100, "32": 12, "128": 6},
        "tolerance": {"max": 0.15, "mean": 0.02}, "workers": 16, "dali_threads": 8,
        "images": {"count": 256, "sides": [224, 640], "bytes": [12_000, 61_000]},
        "versions": {"device": "GPU A", "torch": "2.11.0", "nvidia-dali-cuda130": "2.4.0"},
        "date": "2026-12-06",
    }  # fmt: skip


@pytest.fixture
def piped(example: dict) -> dict:
    """The example, measured, with a made-up pipeline block."""
    return {**copy.deepcopy(example), "synthetic": False, "pipeline": _pipeline_block()}


def _section(doc: dict, key: str) -> render.Section:
    return next(s for s in render.sections(doc) if s.key == key)


def _path_row(doc: dict, label: str) -> tuple[str, ...]:
    return next(row for row in _section(doc, "pipeline").rows if row[0] == label)


def test_pipeline_table_has_a_row_per_path_and_the_ratio_to_dali(piped: dict) -> None:
    table = _section(piped, "pipeline")
    assert table.header == ("Path", "batch 1", "batch 32", "batch 128", "Against the CPU reference")
    assert [row[0] for row in table.rows] == [label for label, _ in bench_pipeline.PATHS.values()]
    ours = _path_row(piped, "nvImageCodec + CV-CUDA (this sample)")
    # medians of the rounds; in brackets the slowest and fastest; 610 / 540, 3900 / 4100, 4200 / 5000
    assert ours[1:4] == ("610 (549–671) 1.13×", "3,900 (3,510–4,290) 0.95×", "4,200 (3,780–4,620) 0.84×")
    assert _path_row(piped, "DALI")[3] == "5,000 (4,500–5,500) 1.00×"
    assert ours[4] == "max 0.050, mean 0.0040: verified"
    pillow = _path_row(piped, "Pillow, worker processes + pinned upload")
    assert pillow[1:] == ("skipped", "skipped", "skipped", "—")
    text = render.format_text(piped, PIPELINE_PART)
    assert "not measured at all: ModuleNotFoundError: No module named 'PIL'" in text
    assert "includes decoding, preprocessing and synchronisation" in text
    assert "at most 0.15 and the mean at most 0.02" in text
    for label, includes in bench_pipeline.PATHS.values():
        assert f"{label} includes: {includes}." in text
    rst = render.to_rst(piped, PIPELINE_PART)
    assert rst.count(".. list-table::") == 2 and rst.count(".. image:: /_generated/") == 2
    assert _rst_warnings(rst) == ""


def test_pipeline_rows_outside_the_tolerance_are_marked(piped: dict) -> None:
    torchvision = next(p for p in piped["pipeline"]["paths"] if p["path"] == "torchvision")
    torchvision["rows"][1].update(verified=False, max_difference=0.41)
    row = _path_row(piped, "torchvision on the GPU")
    assert row[2].endswith("0.51× NOT VERIFIED") and "NOT VERIFIED" not in row[1] + row[3]
    assert row[4] == "max 0.410, mean 0.0040: NOT VERIFIED at batch 32"
    finding = " ".join(_section(piped, "pipeline_finding").notes)
    assert "Outside the CPU reference's tolerance: torchvision on the GPU" in finding
    fig = render.render_pipeline(piped)
    hatched = [bar for ax in fig.axes for bar in ax.patches if bar.get_hatch()]
    assert len(hatched) == 1 and "not verified" in " ".join(t.get_text() for t in fig.axes[1].texts)


def test_pipeline_below_dali_says_by_how_much_and_where_the_time_goes(piped: dict) -> None:
    behind, where = _section(piped, "pipeline_finding").notes[:2]
    # 128 images: 30.48 ms at 4,200/s against 25.60 ms at 5,000/s
    assert behind == (
        "At batch 128, this pipeline makes 4,200 images/s, 16% below DALI's 5,000: "
        "4.9 ms more per batch (30.5 ms against 25.6 ms)."
    )
    assert "decode 24.1 ms, resize 4.2 ms, crop and normalise 1.3 ms; decode is 81% of the 29.6 ms" in where
    stages = _section(piped, "pipeline_stages")
    assert stages.figure == "pipeline_stages.png"
    assert [row[1] for row in stages.rows] == ["24.10", "4.20", "1.30", "29.60", "30.48", "25.60"]
    assert stages.rows[-1][0] == "DALI, timed (128 / its images/s)" and stages.rows[-1][2] == "86.5%"
    ahead = _pipeline_doc(piped, _pipeline_block({**PIPELINE_RATES, "cvcuda": (610, 3900, 6000)}))
    assert (
        _section(ahead, "pipeline_finding")
        .notes[0]
        .startswith("At batch 128, this pipeline makes 6,000 images/s, 1.20× DALI's 5,000: 21.3 ms per batch")
    )
    no_dali = _pipeline_doc(piped, _pipeline_block({"cvcuda": PIPELINE_RATES["cvcuda"]}))
    assert "DALI was not measured: ModuleNotFoundError" in _section(no_dali, "pipeline_finding").notes[0]
    assert _path_row(no_dali, "nvImageCodec + CV-CUDA (this sample)")[3] == "4,200 (3,780–4,620)"


def test_pipeline_says_no_figures_yet_when_a_results_file_has_none(example: dict) -> None:
    for doc, why in (
        (_pipeline_doc(example, None), "this results file predates the benchmark's pipeline part"),
        (_pipeline_doc(example, bench_pipeline.stub("cannot import torch")["pipeline"]), "(cannot import torch)"),
    ):
        rst = render.to_rst(doc, PIPELINE_PART)
        assert rst.startswith("No figures recorded yet: ") and why in rst
        assert "list-table" not in rst and "image::" not in rst
        assert _rst_warnings(rst) == ""
        assert not any(s.figure for s in render.sections(doc))


def test_pipeline_figures_fit_the_page(piped: dict, tmp_path: Path) -> None:
    from matplotlib.text import Text

    fig = render.render_pipeline(piped, tmp_path / "pipeline.png")
    assert (tmp_path / "pipeline.png").read_bytes()[:4] == b"\x89PNG"
    assert [ax.get_title() for ax in fig.axes] == ["batch 1", "batch 32", "batch 128"]
    for ax, batch in zip(fig.axes, bench_pipeline.BATCHES, strict=True):
        heights = [round(bar.get_height()) for bar in ax.patches]
        assert heights == [PIPELINE_RATES[name][bench_pipeline.BATCHES.index(batch)] for name in PIPELINE_RATES]
        (dali_line,) = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
        assert dali_line.get_ydata()[0] == PIPELINE_RATES["dali"][bench_pipeline.BATCHES.index(batch)]
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == [*(bench_pipeline.PATHS[name][0] for name in PIPELINE_RATES), "DALI's images/s"]
    stages = render.render_pipeline_stages(piped, tmp_path / "stages.png")
    (ax,) = stages.axes
    assert [t.get_text() for t in ax.get_yticklabels()][-1] == "DALI, timed"
    assert len(ax.patches) == 3 + 2  # the steps stacked, then the two timed bars
    for figure in (fig, stages):
        assert figure.get_size_inches()[0] == 8.0  # shown about 800 px wide
        texts = [t for t in figure.findobj(Text) if t.get_text().strip() and t.get_visible()]
        assert min(t.get_fontsize() for t in texts) * 800 / (8.0 * 72) >= 11


def test_write_docs_assets_writes_the_pipeline_part(piped: dict, tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    results.write_text(json.dumps(piped))
    render.write_docs_assets(tmp_path, results)
    part = (tmp_path / "performance_pipeline.rst").read_text()
    assert part.startswith("At batch 128, this pipeline makes 4,200 images/s")
    assert part.index(".. image:: /_generated/pipeline.png") < part.index(".. list-table::")
    assert (tmp_path / "pipeline.png").stat().st_size > 10_000
    assert (tmp_path / "pipeline_stages.png").stat().st_size > 10_000
    for name in set(render.PAGE_PARTS) - {"performance_pipeline.rst"}:
        assert "DALI" not in (tmp_path / name).read_text(), name


def test_a_pipeline_run_is_added_to_the_others(example: dict) -> None:
    base = {**example, "synthetic": False, "date": "2026-01-02"}
    block = _pipeline_block()
    doc = bench.assemble(_env(base), {"pipeline": {"pipeline": block}}, base, warnings=[], duration_s=1.0)
    assert doc["pipeline"] == block and doc["measured"]["pipeline"] == doc["date"]
    assert doc["results"] == base["results"] and doc["batch"] == base["batch"]
    fresh = bench.assemble(_env(base), {"decode": bench_decode.stub("synthetic")}, base, warnings=[], duration_s=1)
    assert fresh["pipeline"]["skipped"] == "not measured yet: run bench.py pipeline"
    assert "No figures recorded yet: the pipeline was not measured" in render.format_text(fresh, PIPELINE_PART)


def test_a_recorded_pipeline_block_is_what_the_benchmark_writes() -> None:
    block = json.loads(RESULTS.read_text()).get("pipeline")
    if block is None:
        pytest.skip("results.json has no pipeline block yet (the page says so)")
    assert set(block) >= set(bench_pipeline.stub(None)["pipeline"])
    assert [p["path"] for p in block["paths"]] == list(bench_pipeline.PATHS) or block["skipped"]
    recomputed = copy.deepcopy(block["paths"])
    bench_pipeline.add_ratios(recomputed)
    assert recomputed == block["paths"]
    for path in block["paths"]:
        assert path["rows"] or path["skipped"], path["path"]
        for row in path["rows"]:
            assert row["images_per_s_min"] <= row["images_per_s"] <= row["images_per_s_max"]
            assert row["verified"] == (
                row["max_difference"] <= block["tolerance"]["max"]
                and row["mean_difference"] <= block["tolerance"]["mean"]
            )


def test_the_pipeline_part_without_a_gpu_records_why() -> None:
    why = bench_pipeline.unavailable()
    if why is None:
        pytest.skip("the pipeline can run here (tests/test_gpu_jpeg_batch_pipeline.py runs it)")

    class NoGpu:
        quick = True

        def guarded(self, what: dict, fn: object) -> dict:
            raise AssertionError("measured without a usable GPU")

    assert bench_pipeline.measure(NoGpu()) == {"pipeline": {"skipped": why, "paths": [], "stages": None}}


# --------------------------------------------------------------------------- #
# The page                                                                    #
# --------------------------------------------------------------------------- #
def test_performance_page_puts_the_answer_first_and_the_targets_last(built_site: Path) -> None:
    html = (built_site / "performance.html").read_text()
    assert '<img alt="Four methods' in html
    order = ["performance.png", 'id="what-is-measured-and-why"', "batch_timeline.png", 'id="performance-interop"']
    order += ['id="performance-decode"', 'id="performance-figures"', 'id="performance-pipeline"']
    order += ['id="performance-benchmark"']
    order += ['<span class="caption-text">Targets']  # the table
    at = [html.find(marker) for marker in order]
    assert -1 not in at and at == sorted(at), dict(zip(order, at, strict=True))
    for verdict in ("PASS", "FAIL", "N/A"):
        html = html.replace(f"<strong>{verdict}</strong>", "<strong>verdict</strong>")
    assert html.count("<strong>verdict</strong>") == len(TARGETS)
    assert "docs/performance/bench.py" in html
    assert " µs" in html and not re.findall(r"\d us\b", html)
    pipeline = json.loads(RESULTS.read_text()).get("pipeline") or {}
    measured = any(path.get("rows") for path in pipeline.get("paths") or ())
    assert ("_images/pipeline.png" in html) is measured
    assert ("No figures recorded yet" in html) is not measured


def _trace_event(cat: str, name: str, ts: float, dur: float, **args: object) -> dict:
    return {"ph": "X", "cat": cat, "name": name, "ts": ts, "dur": dur, "args": args}


def _traced_batch(start: float, length: float) -> list[dict]:
    """One batch as torch's profiler writes it (µs): the host ranges of the three
    steps; a decode kernel on stream 13 launched from another thread's runtime call,
    two of resize's kernels 10 µs apart and one of crop_normalise's, on stream 7."""
    ranges = [("batch", 0, length), ("decode", 0, 6000), ("resize", 6100, 500), ("crop_normalise", 6700, 300)]
    events = [_trace_event("user_annotation", n, start + t, d) for n, t, d in ranges]
    for corr, (launch, ts, dur, stream) in enumerate(
        [(5000, 5010, 900, 13), (6200, 6300, 700, 7), (6250, 7010, 790, 7), (6800, 7810, 400, 7)], start=int(start)
    ):
        events.append(_trace_event("cuda_runtime", "cudaLaunchKernel", start + launch, 5, correlation=corr))
        events.append(_trace_event("kernel", f"k{corr}", start + ts, dur, correlation=corr, stream=stream))
    return events


def test_pipeline_timeline_from_a_trace() -> None:
    import pipeline_timeline

    # three batches: 10, 9 and 12 ms; the median (10 ms) is kept
    events = _traced_batch(1000, 10_000) + _traced_batch(20_000, 9_000) + _traced_batch(40_000, 12_000)
    events.append(_trace_event("kernel", "earlier", 500, 100, correlation=-1, stream=7))  # before every batch
    timeline = pipeline_timeline.from_trace(events)
    assert timeline["batch_ms"] == 10.0 and timeline["batch_ms_range"] == [9.0, 12.0]
    assert [(h["step"], h["start_ms"], h["end_ms"]) for h in timeline["host"]] == [
        ("decode", 0.0, 6.0),
        ("resize", 6.1, 6.6),
        ("crop_normalise", 6.7, 7.0),
    ]
    # lanes in order of first work; resize's two kernels 10 µs apart are one bar
    assert [(g["lane"], g["step"], g["start_ms"], g["end_ms"]) for g in timeline["gpu"]] == [
        (0, "decode", 5.01, 5.91),
        (1, "resize", 6.3, 7.8),
        (1, "crop_normalise", 7.81, 8.21),
    ]
    assert timeline["streams"] == 2
    assert timeline["gpu_busy_ms"] == {"decode": 0.9, "resize": 1.5, "crop_normalise": 0.4}
    with pytest.raises(ValueError, match="no batch range"):
        pipeline_timeline.from_trace([e for e in events if e["name"] != "batch"])


def test_pipeline_timeline_is_drawn_tabled_and_found(piped: dict, tmp_path: Path) -> None:
    import pipeline_timeline

    traced = pipeline_timeline.from_trace(_traced_batch(1000, 10_000))
    doc = {**piped, "pipeline": {**piped["pipeline"], "timeline": {"batch": 128, "runs": 5, **traced}}}
    section = _section(doc, "pipeline_timeline")
    assert section.figure == "pipeline_timeline.png" and section.title == "One batch of 128 as a timeline"
    assert [row[1:] for row in section.rows] == [
        ("6.00", "0.90"),
        ("0.50", "1.50"),
        ("0.30", "0.40"),
        ("10.00", "2.80"),
    ]
    finding = " ".join(_section(doc, "pipeline_finding").notes)
    assert "one batch of 128 takes 10.0 ms. The host spends 6.0 ms of it inside the decode call" in finding
    assert "kernels and copies for 2.8 ms in all, 0.9 ms of them for the decode" in finding
    assert _rst_warnings(render.to_rst(doc, PIPELINE_PART)) == ""
    fig = render.render_pipeline_timeline(doc, tmp_path / "timeline.png")
    (ax,) = fig.axes
    lanes = [t.get_text() for t in ax.get_yticklabels()]
    assert lanes == ["host: the\nsample's calls", "GPU: kernels,\ncopies (2 streams)"]
    # a set of bars per step in each lane, the GPU's from both streams: one lane
    assert [len(bars.get_paths()) for bars in ax.collections] == [1, 1, 1, 1, 1, 1]
    dali_ms = 1e3 * 128 / PIPELINE_RATES["dali"][-1]
    assert sorted(line.get_xdata()[0] for line in ax.get_lines()) == [10.0, dali_ms]
    assert (tmp_path / "timeline.png").stat().st_size > 10_000
    skipped = {**piped, "pipeline": {**piped["pipeline"], "timeline": {"runs": 5, "skipped": "RuntimeError: no CUPTI"}}}
    assert _section(skipped, "pipeline_timeline").notes == ("Not drawn: RuntimeError: no CUPTI.",)
    assert not _section(piped, "pipeline_timeline").notes  # results older than the timeline
