# SPDX-License-Identifier: Apache-2.0
"""CPU tests of the transfer benchmark's pure parts and the Performance page.

* ``docs/performance/bench_transfers.py``: the shares of the fastest method,
  the interleaved timing routine, the summaries and every target, computed from
  synthetic results (each target can PASS, FAIL and be N/A); the conversion of
  an old results file; exit status 3 and one line where no GPU is usable.
* ``docs/performance/render_results.py``: the console report and the page's
  reST come from the same sections; the reST is valid; the plot is drawn for
  the page width with legible text and the recommended path highlighted.
* ``results.example.json`` and the committed ``results.json`` have the schema
  the benchmark writes, and their targets are what ``compute_targets`` gives.
* The Performance page builds with the figure, the verdicts and the tables.
"""

from __future__ import annotations

import copy
import importlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
PERF = ROOT / "docs" / "performance"
BENCH = PERF / "bench_transfers.py"
EXAMPLE = PERF / "results.example.json"
RESULTS = PERF / "results.json"
SAMPLES_DIR = ROOT / "samples" / "interoperability"

TOP_KEYS = {
    "schema", "device", "driver", "runtime", "cuda_bindings", "cvcuda", "numpy",
    "cupy", "torch", "python", "date", "quick", "repeats", "results",
    "overhead_us", "helper_vs_raw", "batch", "targets",
}  # fmt: skip
ROW_KEYS = {
    "method", "direction", "bytes", "gbps_median", "gbps_min", "gbps_max",
    "timer", "verified", "skipped", "ratio_to_best",
}  # fmt: skip
TARGETS = (
    "helper_overhead",
    "pinned_helpers_vs_raw",
    "batch_at_ceiling",
    "pinned_near_best",
    "helpers_match_raw",
)
KiB, MiB = 1 << 10, 1 << 20


def _import(name: str) -> ModuleType:
    """A module from docs/performance, docs/_ext or the samples' folder (pytest's
    ``pythonpath``), as the benchmark script and the docs build import them."""
    return importlib.import_module(name)


@pytest.fixture(scope="module")
def perf() -> tuple[ModuleType, ModuleType]:
    """(render_results, bench_transfers)."""
    return _import("render_results"), _import("bench_transfers")


@pytest.fixture(scope="module")
def preflight() -> ModuleType:
    return _import("preflight")


@pytest.fixture(scope="module")
def render(perf: tuple[ModuleType, ModuleType]) -> ModuleType:
    return perf[0]


@pytest.fixture(scope="module")
def bench(perf: tuple[ModuleType, ModuleType]) -> ModuleType:
    return perf[1]


@pytest.fixture
def example() -> dict:
    return json.loads(EXAMPLE.read_text())


def _row(doc: dict, method: str, direction: str, nbytes: int) -> dict:
    return next(r for r in doc["results"] if (r["method"], r["direction"], r["bytes"]) == (method, direction, nbytes))


def _pinned_entry(doc: dict, nbytes: int) -> dict:
    return next(e for e in doc["helper_vs_raw"] if e["memory"] == "pinned" and e["bytes"] == nbytes)


# --------------------------------------------------------------------------- #
# The results files                                                           #
# --------------------------------------------------------------------------- #
def test_example_is_marked_synthetic(example: dict) -> None:
    assert example["synthetic"] is True
    assert "not a measurement" in example["device"].lower()


@pytest.mark.parametrize("path", [EXAMPLE, RESULTS], ids=["example", "committed"])
def test_results_file_has_the_schema(path: Path, bench: ModuleType) -> None:
    doc = json.loads(path.read_text())
    assert doc["schema"] == bench.SCHEMA
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
    assert {r["method"] for r in doc["results"]} == {m.name for m in bench.METHODS}
    assert {r["bytes"] for r in doc["results"]} == set(bench.SIZES_FULL)
    for direction in ("h2d", "d2h"):
        assert {"helper_us", "raw_us", "overhead_us"} <= set(doc["overhead_us"][direction])
    assert isinstance(doc["helper_vs_raw"], list)
    assert set(TARGETS) | {"all_pass"} == set(doc["targets"])
    for key in TARGETS:
        assert {"description", "pass", "summary"} <= set(doc["targets"][key])
    assert {"frames", "frame_shape", "ceiling", "slots", "skipped"} <= set(doc["batch"])


def test_example_measures_everything(example: dict, bench: ModuleType) -> None:
    pinned = {e["bytes"] for e in example["helper_vs_raw"] if e["memory"] == "pinned"}
    assert pinned == set(bench.PINNED_RAW_MIN)
    batch = example["batch"]
    assert batch["skipped"] is None
    assert set(batch["ceiling"]) == {"both", "h2d", "d2h"}
    assert [p["slots"] for p in batch["slots"]] == list(bench.SLOT_COUNTS)
    for point in batch["slots"]:
        assert {"gbps", "seconds", "ratio_to_ceiling", "verified"} <= set(point)


@pytest.mark.parametrize("path", [EXAMPLE, RESULTS], ids=["example", "committed"])
def test_recorded_targets_are_the_benchmarks(path: Path, bench: ModuleType) -> None:
    doc = json.loads(path.read_text())
    assert doc["targets"] == json.loads(json.dumps(bench.compute_targets(doc)))
    rows = copy.deepcopy(doc["results"])
    assert bench.add_ratios(rows) == doc["results"]


# --------------------------------------------------------------------------- #
# Pure functions                                                              #
# --------------------------------------------------------------------------- #
def test_ratios_to_best(render: ModuleType, bench: ModuleType) -> None:
    rows = [
        bench.summarize("a", "h2d", MiB, [MiB / 10e9], "events"),  # 10 GB/s
        bench.summarize("b", "h2d", MiB, [MiB / 20e9], "events", verified=True),
        bench.summarize("c", "h2d", MiB, [MiB / 40e9], "events", verified=False),
        bench.summarize("a", "d2h", MiB, [MiB / 5e9], "events"),
        bench.skipped_row("b", "d2h", MiB, "events", "no memory"),
    ]
    # "c" returned wrong bytes: never the fastest, but still shown against it.
    assert render.ratios_to_best(rows) == [0.5, 1.0, 2.0, 1.0, None]
    assert [r["ratio_to_best"] for r in bench.add_ratios(rows)] == [
        0.5,
        1.0,
        2.0,
        1.0,
        None,
    ]


def test_time_interleaved_takes_turns(bench: ModuleType) -> None:
    calls: list[str] = []
    fns = [lambda: calls.append("a"), lambda: calls.append("b")]
    ticks = iter(range(1, 1000))

    def measure(fn) -> float:
        fn()
        return float(next(ticks))

    times = bench.time_interleaved(fns, measure, reps=4, warmup=1)
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b", "b", "a"]
    assert times == [[3.0, 6.0, 7.0, 10.0], [4.0, 5.0, 8.0, 9.0]]
    assert bench.time_interleaved(fns[:1], measure, reps=3) == [[11.0, 12.0, 13.0]]


def test_summaries(bench: ModuleType) -> None:
    us = 1e-6
    assert bench.overhead([2 * us, 3 * us, 9 * us], [1 * us, 1.5 * us, 1 * us]) == {
        "helper_us": 3.0,
        "raw_us": 1.0,
        "overhead_us": 2.0,
    }
    got = bench.comparison([MiB / 8e9] * 3, [MiB / 10e9] * 3, MiB)
    assert got == {"helper_gbps_median": 8.0, "raw_gbps_median": 10.0, "ratio": 0.8}
    point = bench.batch_point([0.004, 0.002, 0.003], 100_000_000, ceiling_gbps=100.0)
    assert point["seconds"] == 0.002 and point["gbps"] == 50.0
    assert point["ratio_to_ceiling"] == 0.5
    points = [
        {"slots": 1, "gbps": 30.0, "verified": True},
        {"slots": 2, "gbps": 90.0, "verified": False},
        {"slots": 3, "gbps": 80.0, "verified": True},
    ]
    assert bench.best_slots(points) == 3
    assert bench.best_slots(points[1:2]) is None


# --------------------------------------------------------------------------- #
# Targets from synthetic results                                              #
# --------------------------------------------------------------------------- #
def _verdicts(bench: ModuleType, doc: dict) -> dict[str, bool | None]:
    return {k: v if k == "all_pass" else v["pass"] for k, v in bench.compute_targets(doc).items()}


def test_example_passes_every_target(bench: ModuleType, example: dict) -> None:
    assert set(_verdicts(bench, example).values()) == {True}


@pytest.mark.parametrize(("h2d_us", "expected"), [(1.5, True), (1.51, False), (None, None)])
def test_overhead_target(bench: ModuleType, example: dict, h2d_us, expected) -> None:
    if h2d_us is None:
        example["overhead_us"] = {"bytes": 4096, "calls": 5000, "skipped": "synthetic"}
    else:
        example["overhead_us"]["h2d"]["overhead_us"] = h2d_us
    verdicts = _verdicts(bench, example)
    assert verdicts["helper_overhead"] is expected
    assert verdicts["all_pass"] is expected


@pytest.mark.parametrize(
    ("nbytes", "ratio", "expected"),
    [
        (64 * KiB, 0.70, True),
        (64 * KiB, 0.69, False),
        (1 * MiB, 0.90, True),
        (1 * MiB, 0.899, False),
    ],
)
def test_pinned_helpers_vs_raw_target(
    bench: ModuleType, example: dict, nbytes: int, ratio: float, expected: bool
) -> None:
    _pinned_entry(example, nbytes)["d2h"]["ratio"] = ratio
    target = bench.compute_targets(example)["pinned_helpers_vs_raw"]
    assert target["pass"] is expected
    assert "(interleaved)" in target["summary"]


def test_pinned_target_falls_back_to_the_rate_tables(bench: ModuleType, example: dict) -> None:
    example["helper_vs_raw"] = [e for e in example["helper_vs_raw"] if e["memory"] != "pinned"]
    target = bench.compute_targets(example)["pinned_helpers_vs_raw"]
    assert "(rate tables)" in target["summary"]
    helper = _row(example, bench.HELPERS_PINNED, "h2d", 64 * KiB)["gbps_median"]
    raw = _row(example, bench.RAW_PINNED, "h2d", 64 * KiB)["gbps_median"]
    want = helper / raw
    got = next(c for c in target["checks"] if c["bytes"] == 64 * KiB and c["direction"] == "h2d")
    assert got["ratio"] == round(want, 4)
    for method in (bench.HELPERS_PINNED, bench.RAW_PINNED):
        example["results"] = [r for r in example["results"] if r["method"] != method]
    assert bench.compute_targets(example)["pinned_helpers_vs_raw"]["pass"] is None


@pytest.mark.parametrize(
    ("share", "verified", "expected"),
    [(0.95, True, True), (0.949, True, False), (0.99, False, False)],
    ids=["at-target", "below", "wrong-output"],
)
def test_batch_target(bench: ModuleType, example: dict, share: float, verified: bool, expected: bool) -> None:
    batch = example["batch"]
    batch["ceiling"]["both"]["gbps"] = 100.0
    for point in batch["slots"]:  # 4 slots are the fastest
        point["gbps"] = 100.0 * share * point["slots"] / 4
        point["verified"] = verified
    target = bench.compute_targets(example)["batch_at_ceiling"]
    assert target["pass"] is expected
    assert target["best_slots"] == (4 if verified else None)


def test_pipeline_bound_is_whole_frames_with_fill_and_drain(bench: ModuleType) -> None:
    ceiling = {"h2d": {"gbps": 50.0}, "d2h": {"gbps": 50.0}, "both": {"gbps": 100.0}}
    # 16 frames of 1 unit: 1/50 up alone + 15 * 2/100 overlapped + 1/50 down alone
    assert bench.pipeline_bound(ceiling, 16) == {"gbps": 94.118, "ratio_to_ceiling": 0.9412}
    assert bench.pipeline_bound(ceiling, 1)["gbps"] == 50.0  # nothing overlaps
    assert bench.pipeline_bound({"both": {"gbps": 100.0}}, 16) is None


def test_timeline_times_each_call_between_two_events_on_its_stream(bench: ModuleType) -> None:
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
    with bench.Timeline(Runtime(), check, "origin", marks=2) as timeline:
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


def test_timeline_plot_has_a_row_per_stream(render: ModuleType, example: dict, tmp_path: Path) -> None:
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


def test_batch_target_without_cvcuda(bench: ModuleType, example: dict) -> None:
    example["batch"] = bench._batch_stub("cvcuda is not installed")
    verdicts = _verdicts(bench, example)
    assert verdicts["batch_at_ceiling"] is None
    assert verdicts["all_pass"] is None  # not a PASS: one target was not evaluated
    summary = bench.compute_targets(example)["batch_at_ceiling"]["summary"]
    assert "cvcuda is not installed" in summary


def test_large_size_targets(bench: ModuleType, example: dict) -> None:
    _row(example, bench.HELPERS_PINNED, "d2h", 1 << 30)["gbps_median"] /= 2
    next(e for e in example["helper_vs_raw"] if e["memory"] == "pageable")["h2d"]["ratio"] = 0.96
    verdicts = _verdicts(bench, example)
    assert verdicts["pinned_near_best"] is False
    assert verdicts["helpers_match_raw"] is False
    assert verdicts["all_pass"] is False


# --------------------------------------------------------------------------- #
# Converting a schema-1 file                                                  #
# --------------------------------------------------------------------------- #
def _schema_1(doc: dict) -> dict:
    old = copy.deepcopy(doc)
    for key in ("schema", "batch", "cvcuda", "targets"):
        old.pop(key)
    for row in old["results"]:
        row.pop("ratio_to_best")
    old["helper_vs_raw"] = next(e for e in old["helper_vs_raw"] if e["memory"] == "pageable")
    old["helper_vs_raw"].pop("memory")
    return old


def test_upgrade_keeps_the_measurements(bench: ModuleType, example: dict) -> None:
    old = _schema_1(example)
    new = bench.upgrade_results(old)
    assert new["schema"] == bench.SCHEMA
    assert [r["gbps_median"] for r in new["results"]] == [r["gbps_median"] for r in old["results"]]
    assert [r["ratio_to_best"] for r in new["results"]] == [r["ratio_to_best"] for r in example["results"]]
    assert new["helper_vs_raw"] == [{"memory": "pageable", **old["helper_vs_raw"]}]
    assert new["batch"]["skipped"] and "schema 1" in new["schema_note"]
    assert new["targets"]["batch_at_ceiling"]["pass"] is None
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


def test_text_and_rst_come_from_the_same_sections(render: ModuleType, example: dict) -> None:
    text, rst = render.format_text(example), render.to_rst(example)
    tables = [s for s in render.sections(example) if s.header]
    keys = ["targets", "batch", "comparisons", "h2d", "d2h", "stream_wait", "wrap_cost"]
    assert [s.key for s in tables] == keys
    assert rst.count(".. list-table::") == len(tables)
    for section in tables:
        assert render._cell(section.title) in rst
        assert section.title.translate(render._ASCII) in text
        for row in section.rows:
            assert row[0].translate(render._ASCII) in text
    assert text.isascii()
    for method in {r["method"] for r in example["results"]}:
        assert method in text and render._cell(method) in rst
    assert text.count("PASS ") == len(TARGETS) and rst.count("**PASS**") == len(TARGETS)
    assert "SYNTHETIC" in text and "synthetic example" in rst
    assert "Best: 3 slots" in text and "96.6%" in text


def test_text_shows_each_method_against_the_fastest(render: ModuleType, example: dict) -> None:
    text = render.format_text(example, keys=("h2d",))
    row = _row(example, "helpers pinned async", "h2d", 1 << 30)
    line = next(ln for ln in text.splitlines() if ln.startswith("helpers pinned async"))
    assert f"{row['gbps_median']:.2f} ({row['ratio_to_best']:.0%})" in line


def test_rst_is_valid(render: ModuleType, example: dict) -> None:
    assert _rst_warnings(render.to_rst(example)) == ""
    for keys in (render.SUMMARY_KEYS, render.DETAIL_KEYS):
        assert _rst_warnings(render.to_rst(example, keys)) == ""


def test_rst_of_a_partial_run(render: ModuleType, bench: ModuleType, example: dict) -> None:
    """A quick run without CuPy or CV-CUDA, with a skipped point and odd text."""
    doc = copy.deepcopy(example)
    doc.update(synthetic=False, quick=True, batch=bench._batch_stub("no *cvcuda*_ here"))
    doc["results"] = [r for r in doc["results"] if not r["method"].startswith("CuPy") and r["bytes"] <= 16 * MiB]
    odd = "a_b_ *odd* `text` |x|"
    doc["results"][0] = bench.skipped_row(doc["results"][0]["method"], "h2d", 4096, "wallclock", odd)
    for m in doc["methods"]:
        if m["name"].startswith("CuPy"):
            m.update(available=False, note="cupy not usable: No module named 'cupy'")
    bench.add_ratios(doc["results"])
    doc["targets"] = bench.compute_targets(doc)
    rst = render.to_rst(doc)
    assert "warning::" not in rst
    assert "Not measured: CuPy pinned" in rst
    assert "1 GiB" not in rst.split("host → device: GB/s")[1]
    assert "Batch not measured" in rst and "**N/A**" in rst
    assert _rst_warnings(rst) == ""
    render.render(doc)  # the figure copes too


def test_load_refuses_an_old_or_foreign_file(render: ModuleType, example: dict, tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    path.write_text(json.dumps({**example, "schema": 1}))
    with pytest.raises(ValueError, match="--upgrade"):
        render.load(path)
    path.write_text(json.dumps({"results": []}))
    with pytest.raises(ValueError, match="not a transfer-benchmark results file"):
        render.load(path)


def test_plot_fits_the_page(render: ModuleType, example: dict, tmp_path: Path) -> None:
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


def test_plot_names_real_methods(render: ModuleType, bench: ModuleType) -> None:
    names = {m.name for m in bench.METHODS}
    assert {m for m, *_ in render.PLOT_LINES} <= names
    assert render.RECOMMENDED == bench.HELPERS_PINNED
    interop_docs = _import("interop_docs")
    assert set(interop_docs.APPROACH_METHODS.values()) <= names


def test_write_docs_assets(render: ModuleType, tmp_path: Path) -> None:
    doc = render.write_docs_assets(tmp_path, EXAMPLE)
    assert doc["synthetic"] is True
    summary = (tmp_path / "performance_summary.rst").read_text()
    table = (tmp_path / "performance_table.rst").read_text()
    assert "warning::" in summary and ":: Targets" in summary and "Overlapped batch" in summary
    assert "host → device: GB/s" in table and "Overlapped batch" not in table
    assert (tmp_path / "performance.png").stat().st_size > 10_000


# --------------------------------------------------------------------------- #
# PyTorch and CuPy with CV-CUDA: the interop block                            #
# --------------------------------------------------------------------------- #
INTEROP_KEYS = {
    "frame_shape", "operator", "timer", "reps", "busy", "stream_wait", "wrap_calls",
    "wrap_us", "skipped", "stream_wait_skipped", "wrap_skipped",
}  # fmt: skip


@pytest.mark.parametrize("path", [EXAMPLE, RESULTS], ids=["example", "committed"])
def test_interop_block_has_the_schema(path: Path, bench: ModuleType) -> None:
    doc = json.loads(path.read_text())
    if "interop" not in doc:  # recorded before the benchmark measured it
        assert path == RESULTS
        return
    interop = doc["interop"]
    assert set(interop) >= INTEROP_KEYS, f"missing {INTEROP_KEYS - set(interop)}"
    assert set(bench._interop_stub(None)) == INTEROP_KEYS
    ways = {way for way, _ in bench.INTEROP_WAYS}
    for row in interop["stream_wait"]:
        assert row["busy"] in interop["busy"] and row["way"] in ways
        assert row["us_min"] <= row["us_median"] <= row["us_max"]
    for row in interop["wrap_us"]:
        assert row["skipped"] or row["us_median"] > 0
        assert row["direction"] in ("into CV-CUDA", "from CV-CUDA", "both")


def test_example_measures_the_interop_block(example: dict, bench: ModuleType) -> None:
    interop = example["interop"]
    assert interop["skipped"] is None
    assert set(interop["busy"]) == {"legacy", "nonblocking"}
    assert len(interop["stream_wait"]) == len(interop["busy"]) * len(bench.INTEROP_WAYS)
    libraries = {r["library"] for r in interop["wrap_us"]}
    assert libraries == {"CUDA Python", "cuda.core", "PyTorch", "CuPy"}


def test_interop_rows(bench: ModuleType) -> None:
    row = bench.stream_wait_row("legacy", "cai_v2", "v2", [3e-6, 1e-6, 2e-6], True)
    assert (row["us_min"], row["us_median"], row["us_max"]) == (1.0, 2.0, 3.0)
    assert row["calls"] == 3 and row["verified"] is True
    wrap = bench.wrap_row("PyTorch", "into CV-CUDA", "x", [4e-6, 5e-6, 9e-6], True)
    assert wrap["us_median"] == 5.0 and wrap["zero_copy"] is True
    gone = bench.wrap_row("cuda.core", "both", "y", None, skipped="TypeError: no")
    assert gone["us_median"] is None and gone["skipped"] == "TypeError: no"


def test_cai_v3_wrapper_names_the_stream(bench: ModuleType) -> None:
    v2 = {"shape": (2, 3), "typestr": "|u1", "data": (4096, False), "strides": None, "version": 2}

    class FakeTensor:
        def __init__(self) -> None:
            self.__cuda_array_interface__ = dict(v2)

    tensor = FakeTensor()
    v3 = bench._CaiV3(tensor, 0x1234)
    assert v3.__cuda_array_interface__ == {**v2, "version": 3, "stream": 0x1234}
    assert v3.tensor is tensor  # keeps the tensor alive
    assert bench._CaiV3(FakeTensor(), 0).__cuda_array_interface__["stream"] == 1
    assert tensor.__cuda_array_interface__ == v2  # not modified


def test_interop_sections_render(render: ModuleType, example: dict) -> None:
    text = render.format_text(example, keys=render.INTEROP_KEYS)
    rst = render.to_rst(example, render.INTEROP_KEYS)
    assert text.isascii()
    legacy = example["interop"]["stream_wait"]
    v2, v3 = (
        next(r["us_median"] for r in legacy if r["busy"] == "legacy" and r["way"] == w) for w in ("cai_v2", "cai_v3")
    )
    assert f"CAI v2 took {v2 / v3:.1f}x as long as v3" in text
    line = next(ln for ln in text.splitlines() if ln.startswith("CAI v3 naming"))
    assert f"{v3:.2f} us" in line and line.endswith("verified")
    for row in example["interop"]["wrap_us"]:
        assert row["call"] in text
    assert rst.count(".. list-table::") == 2
    assert _rst_warnings(rst) == ""


def test_interop_sections_say_what_was_not_measured(render: ModuleType, bench: ModuleType, example: dict) -> None:
    old = {k: v for k, v in example.items() if k != "interop"}
    rst = render.to_rst(old, render.INTEROP_KEYS)
    assert "list-table" not in rst and "Not measured in this results file" in rst
    assert _rst_warnings(rst) == ""
    skipped = {**example, "interop": bench._interop_stub("torch not usable: No module named 'torch'")}
    rst = render.to_rst(skipped, render.INTEROP_KEYS)
    assert "list-table" not in rst and "Not measured: torch not usable" in rst
    assert _rst_warnings(rst) == ""
    wrong = copy.deepcopy(example)
    wrong["interop"]["stream_wait"][0]["verified"] = False
    wrong["interop"]["wrap_us"][0]["zero_copy"] = False
    text = render.format_text(wrong, keys=render.INTEROP_KEYS)
    assert "MISMATCH" in text and "COPIED" in text


def test_write_docs_assets_writes_the_interop_part(render: ModuleType, tmp_path: Path) -> None:
    render.write_docs_assets(tmp_path, EXAMPLE)
    interop = (tmp_path / "performance_interop.rst").read_text()
    assert "warning::" in interop and "Synthetic" in interop
    assert "another stream is busy" in interop and "Wrap cost" in interop
    assert "another stream is busy" not in (tmp_path / "performance_table.rst").read_text()
    assert _rst_warnings(interop) == ""


# --------------------------------------------------------------------------- #
# The script                                                                  #
# --------------------------------------------------------------------------- #
def test_bench_is_a_script_beside_its_renderer() -> None:
    source = BENCH.read_text()
    assert "sys.path" not in source.split('"""', 2)[2]  # no edits, only imports
    assert "from render_results import" in source
    assert not (ROOT / "tests" / "benchmarks" / "bench_transfers.py").exists()  # not a test
    noxfile = (ROOT / "noxfile.py").read_text()
    assert '"performance" / "bench_transfers.py"' in noxfile
    assert noxfile.count("env=_samples_on_path()") >= 2  # bench and gpu sessions


def _run_bench(env: dict, tmp_path: Path) -> tuple[subprocess.CompletedProcess, list[str]]:
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    text = proc.stdout + proc.stderr
    assert "Traceback" not in text
    assert not out.exists()
    return proc, [line for line in text.splitlines() if line.strip()]


def test_bench_without_a_gpu_exits_3_with_one_line(preflight: ModuleType, tmp_path: Path) -> None:
    why = preflight.gpu_unavailable_reason()
    env = {**os.environ, "PYTHONPATH": str(SAMPLES_DIR)}
    if why is None:  # a usable GPU here: hide it, so the no-GPU path is what runs
        env["CUDA_VISIBLE_DEVICES"] = ""
    proc, lines = _run_bench(env, tmp_path)
    assert proc.returncode == preflight.EXIT_GPU_UNAVAILABLE == 3, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith("bench_transfers.py: cannot run:")
    if why is not None:
        assert lines[0].endswith(why)


def test_bench_without_pythonpath_says_so(preflight: ModuleType, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc, lines = _run_bench(env, tmp_path)
    assert proc.returncode == preflight.EXIT_GPU_UNAVAILABLE, lines
    assert len(lines) == 1 and "PYTHONPATH" in lines[0], lines


# --------------------------------------------------------------------------- #
# The page                                                                    #
# --------------------------------------------------------------------------- #
def test_performance_page_builds(built_site: Path) -> None:
    html = (built_site / "performance.html").read_text()
    assert '<img alt="Four methods' in html and "performance.png" in html
    assert html.index("performance.png") < html.index("Targets")
    assert "Overlapped batch" in html and "Full figures" in html
    for verdict in ("PASS", "FAIL", "N/A"):
        html = html.replace(f"<strong>{verdict}</strong>", "<strong>verdict</strong>")
    assert html.count("<strong>verdict</strong>") == len(TARGETS)
    assert "docs/performance/bench_transfers.py" in html
    assert 'id="performance-interop"' in html or "pytorch-cupy-and-cv-cuda" in html
    assert "another stream is busy" in html or "Not measured in this results file" in html


# --------------------------------------------------------------------------- #
# JPEG decode to a CV-CUDA tensor: the decode block                           #
# --------------------------------------------------------------------------- #
DECODE_KEYS = {
    "image", "shape", "jpeg_bytes", "batch", "timer", "reps", "warmup", "import_ms",
    "init_ms", "nvimgcodec", "pillow", "paths", "skipped",
}  # fmt: skip


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
def decoded(bench: ModuleType, example: dict) -> dict:
    """The example with a synthetic decode block: two GPU and two host paths."""
    block = bench._decode_stub(None)
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


def test_decode_stub_is_the_documented_schema(bench: ModuleType) -> None:
    assert set(bench._decode_stub(None)) == DECODE_KEYS
    for key in DECODE_KEYS:
        assert f"``{key}``" in bench.__doc__, f"decode block key {key} is not documented"
    assert bench.DECODE_REPS_QUICK >= 10 and bench.DECODE_BATCH > 1


def test_decode_section_in_text_and_rst(render: ModuleType, decoded: dict) -> None:
    text = render.format_text(decoded, keys=render.DECODE_KEYS)
    rst = render.to_rst(decoded, render.DECODE_KEYS)
    (section,) = [s for s in render.sections(decoded) if s.key == "decode"]
    assert section.header == ("Path", "ms per image", "images/s", "Speed-up", "Output")
    rows = {row[0]: row for row in section.rows}
    single = rows["nvImageCodec decode → CV-CUDA tensor"]
    assert single[1:] == ("0.320", "3,125", "8.0×", "verified")  # 2.56 / 0.32
    assert rows["nvImageCodec batch decode of 8 → CV-CUDA tensors"][3] == "16.0×"
    assert rows["Pillow decode + pageable copy → CV-CUDA tensor"][3] == "1.0×"
    assert "One-time set-up: 1,012 ms" in text and "600x512x3 photo" in text
    assert "nvImageCodec 0.9.0, Pillow 11.3.0." in text and text.isascii()
    assert rst.count(".. list-table::") == 1 and render._cell(section.title) in rst
    assert _rst_warnings(rst) == ""


def test_decode_section_of_an_old_a_skipped_and_a_wrong_run(
    render: ModuleType, bench: ModuleType, decoded: dict, example: dict
) -> None:
    old = {k: v for k, v in example.items() if k != "decode"}
    rst = render.to_rst(old, render.DECODE_KEYS)
    assert "Not measured in this results file" in rst and "list-table" not in rst
    assert _rst_warnings(rst) == ""
    skipped = {**example, "decode": bench._decode_stub("nvImageCodec not usable: No module named 'nvidia'")}
    rst = render.to_rst(skipped, render.DECODE_KEYS)
    assert "Not measured: nvImageCodec not usable" in rst and _rst_warnings(rst) == ""
    partial = copy.deepcopy(decoded)
    partial["decode"]["paths"][0]["verified"] = False
    for p in partial["decode"]["paths"][2:]:
        p.update(ms_per_image=None, skipped="Pillow not usable: *odd*_ text")
    text = render.format_text(partial, keys=render.DECODE_KEYS)
    assert "MISMATCH" in text and "Pillow not usable" in text
    assert "Speed-up" in text and "—" not in text  # no host path: dashes, in ASCII
    assert _rst_warnings(render.to_rst(partial, render.DECODE_KEYS)) == ""


def test_write_docs_assets_writes_the_decode_part(render: ModuleType, decoded: dict, tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    results.write_text(json.dumps(decoded))
    render.write_docs_assets(tmp_path, results)
    part = (tmp_path / "performance_decode.rst").read_text()
    assert "JPEG decode to a CV-CUDA tensor" in part and "8.0×" in part
    assert "JPEG decode" not in (tmp_path / "performance_summary.rst").read_text()


def test_index_wrap_costs_come_from_the_results(example: dict) -> None:
    interop_docs = _import("interop_docs")
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
