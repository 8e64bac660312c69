# SPDX-License-Identifier: Apache-2.0
"""CPU tests of the performance page's pieces.

* ``docs/performance/plot_results.py`` renders the synthetic example results
  into a PNG and a reST table (no GPU needed: it only reads JSON).
* ``docs/performance/results.example.json`` has the schema the benchmark writes,
  and its targets are what the benchmark's own ``compute_targets`` gives.
* ``tests/benchmarks/bench_transfers.py`` exits with status 3 and one line, no
  traceback, where no GPU is usable.
"""

from __future__ import annotations

import copy
import importlib.util
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLOT = ROOT / "docs" / "performance" / "plot_results.py"
EXAMPLE = ROOT / "docs" / "performance" / "results.example.json"
BENCH = ROOT / "tests" / "benchmarks" / "bench_transfers.py"

TOP_KEYS = {
    "device", "driver", "runtime", "cuda_bindings", "numpy", "cupy", "torch", "python",
    "date", "quick", "repeats", "results", "overhead_us", "targets",
}  # fmt: skip
ROW_KEYS = {"method", "direction", "bytes", "gbps_median", "gbps_min", "gbps_max", "timer"}
DIRECTION_LABELS = {"h2d": "host → device", "d2h": "device → host"}


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def plot() -> ModuleType:
    pytest.importorskip("matplotlib")
    return _load("perf_plot_results", PLOT)


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return _load("perf_bench_transfers", BENCH)


@pytest.fixture(scope="module")
def example() -> dict:
    return json.loads(EXAMPLE.read_text())


def test_example_is_marked_synthetic(example: dict) -> None:
    assert example["synthetic"] is True
    assert "not a measurement" in example["device"].lower()


def test_example_has_the_schema(example: dict, bench: ModuleType) -> None:
    assert set(example) >= TOP_KEYS, f"missing {TOP_KEYS - set(example)}"
    assert isinstance(example["results"], list) and example["results"]
    assert isinstance(example["repeats"], int) and example["repeats"] >= 10
    for row in example["results"]:
        assert set(row) >= ROW_KEYS, f"row {row} misses {ROW_KEYS - set(row)}"
        assert row["direction"] in ("h2d", "d2h")
        assert row["timer"] in ("events", "wallclock")
        if row["gbps_median"] is None:
            assert row["skipped"], "a row without numbers must say why it was skipped"
        else:
            assert row["gbps_min"] <= row["gbps_median"] <= row["gbps_max"]
    methods = {r["method"] for r in example["results"]}
    assert methods == {m.name for m in bench.METHODS}
    assert {r["bytes"] for r in example["results"]} == set(bench.SIZES_FULL)
    for direction in ("h2d", "d2h"):
        assert {"helper_us", "raw_us", "overhead_us"} <= set(example["overhead_us"][direction])
    for key in ("pinned_near_best", "helpers_match_raw", "helper_overhead"):
        assert {"description", "pass", "summary"} <= set(example["targets"][key])


def test_example_targets_match_the_benchmark(example: dict, bench: ModuleType) -> None:
    assert example["targets"] == json.loads(json.dumps(bench.compute_targets(example)))


def test_targets_fail_and_na(example: dict, bench: ModuleType) -> None:
    doc = copy.deepcopy(example)
    for row in doc["results"]:
        if row["method"] == bench.HELPERS_PINNED and row["bytes"] == bench.GiB and row["direction"] == "d2h":
            row["gbps_median"] = 0.5 * row["gbps_median"]
    doc["overhead_us"] = {"bytes": 4096, "skipped": "synthetic"}
    targets = bench.compute_targets(doc)
    assert targets["pinned_near_best"]["pass"] is False
    assert targets["helper_overhead"]["pass"] is None
    assert targets["helpers_match_raw"]["pass"] is True
    assert targets["all_pass"] is False


def test_render_writes_a_png(plot: ModuleType, example: dict, tmp_path: Path) -> None:
    out = tmp_path / "sub" / "performance.png"
    doc = plot.render(EXAMPLE, out)
    assert doc == example
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000


def test_table_names_every_method_and_direction(plot: ModuleType, example: dict) -> None:
    text = plot.table_rst(example)
    assert ".. list-table::" in text
    for method in {r["method"] for r in example["results"]}:
        assert method in text, method
    for direction in {r["direction"] for r in example["results"]}:
        assert DIRECTION_LABELS[direction] in text
    assert "16 MiB" in text and "1 GiB" in text
    assert "synthetic example" in text
    assert text.count("**PASS**") == 3


def _rst_warnings(text: str) -> str:
    core = pytest.importorskip("docutils.core")
    stream = io.StringIO()
    core.publish_doctree(text, settings_overrides={"warning_stream": stream, "report_level": 2})
    return stream.getvalue()


def test_table_is_valid_rst(plot: ModuleType, example: dict) -> None:
    assert _rst_warnings(plot.table_rst(example)) == ""


def test_table_of_a_partial_run(plot: ModuleType, bench: ModuleType, example: dict, tmp_path: Path) -> None:
    """A quick run without CuPy, with a skipped point: the table and figure still come out."""
    doc = copy.deepcopy(example)
    doc["synthetic"] = False
    doc["quick"] = True
    doc["results"] = [r for r in doc["results"] if not r["method"].startswith("CuPy") and r["bytes"] <= 16 * bench.MiB]
    doc["results"][0] = bench.skipped_row(doc["results"][0]["method"], "h2d", 4096, "wallclock", "a_b_ *odd* `text`")
    for m in doc["methods"]:
        if m["name"].startswith("CuPy"):
            m.update(available=False, note="cupy not usable: ModuleNotFoundError: No module named 'cupy'")
    doc["targets"] = bench.compute_targets(doc)
    text = plot.table_rst(doc)
    assert "warning::" not in text
    assert "Not measured: CuPy pinned" in text
    assert "1 GiB" not in text.split(".. list-table::")[1].split("- Per-call")[0]
    assert _rst_warnings(text) == ""
    path = tmp_path / "partial.json"
    path.write_text(json.dumps(doc))
    png = tmp_path / "partial.png"
    plot.render(path, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_without_a_gpu_exits_3_with_one_line(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "samples" / "interoperability"))
    try:
        from cuda_python_common import gpu_unavailable_reason
    except ImportError as exc:  # cuda-bindings missing: the script must say so the same way
        why, keyword = str(exc), "cannot import"
    else:
        why = gpu_unavailable_reason()
        keyword = "driver" if why and "driver" in why.lower() else "device"
    env = dict(os.environ)
    if why is None:  # a usable GPU here: hide it, so the no-GPU path is what runs
        env["CUDA_VISIBLE_DEVICES"] = ""
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    text = proc.stdout + proc.stderr
    lines = [line for line in text.splitlines() if line.strip()]
    assert proc.returncode == 3, text
    assert len(lines) == 1, text
    assert "Traceback" not in text
    assert keyword in lines[0].lower(), lines[0]
    assert lines[0].startswith("bench_transfers.py: cannot run:")
    assert not out.exists()
