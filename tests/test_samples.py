# SPDX-License-Identifier: Apache-2.0
"""Every sample, run the way users run it: ``python samples/interoperability/<name>.py``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sample_runs import run_sample

import preflight
from preflight import EXIT_GPU_UNAVAILABLE

ROOT = Path(__file__).resolve().parents[1]
SAMPLES_DIR = ROOT / "samples" / "interoperability"
SAMPLES = [SAMPLES_DIR / name for name in preflight.SAMPLES]


def test_the_sample_list_is_every_sample_in_the_folder() -> None:
    assert all((SAMPLES_DIR / module).is_file() for module in preflight.SAMPLE_MODULES)
    on_disk = {p.name for p in SAMPLES_DIR.glob("*.py")} - set(preflight.SAMPLE_MODULES)
    assert set(preflight.SAMPLES) == on_disk
    assert len(preflight.SAMPLES) == len(on_disk)  # no sample listed twice
    assert preflight.SAMPLES[:3] == tuple(f"cuda_python_interop_{i}.py" for i in (1, 2, 3))


@pytest.mark.gpu
@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_sample_runs_and_verifies(sample: Path, tmp_path: Path) -> None:
    """On a GPU each sample exits 0 from any folder and says what it verified."""
    proc = run_sample(sample, cwd=tmp_path)  # not the repo: samples must not depend on the cwd
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "verified" in proc.stdout or "equals" in proc.stdout, proc.stdout
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_sample_without_gpu_says_why_in_one_line(sample: Path, tmp_path: Path) -> None:
    """Without a usable GPU a sample prints one line naming what is missing and exits 3, no traceback.

    On a GPU machine the device is hidden with CUDA_VISIBLE_DEVICES so this path is tested there too.
    """
    proc = run_sample(sample, cwd=tmp_path, CUDA_VISIBLE_DEVICES="")
    assert proc.returncode == EXIT_GPU_UNAVAILABLE, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"{sample.name}: cannot run: ")
    assert any(word in lines[0] for word in ("driver", "device", "import")), lines[0]
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_samples_read_like_a_story() -> None:
    """Each sample has a docstring title, a PEP 723 block and the preflight before its imports."""
    for path in SAMPLES:
        text = path.read_text()
        assert text.startswith("# /// script\n"), path.name
        assert '"""\n' in text and "\n===" in text, f"{path.name}: no gallery title"
        assert text.index("require_gpu(") < text.index("# docs_tag: begin_imports"), path.name
        assert "from preflight import require_gpu" in text, path.name
        assert "sys.exit" not in text, f"{path.name}: samples must not call sys.exit (the gallery execs them)"


def test_a_sample_run_in_this_process_is_run_as_a_script(tmp_path: Path) -> None:
    """In process, as in its own: ``python <path>`` from ``cwd``, its exit status,
    output and (when it finishes) the names it defined; nothing of it left behind."""
    script = tmp_path / "script.py"
    script.write_text(
        "import os, sys\n"
        "print(os.path.basename(sys.argv[0]), __name__, os.getcwd(), os.environ['SAMPLE_RUNS_TEST'])\n"
        "print('to stderr', file=sys.stderr)\n"
        "answer = 42\n"
        "if os.environ['SAMPLE_RUNS_TEST'] == 'exit': raise SystemExit(3)\n"
    )
    run = run_sample(script, cwd=tmp_path.parent, in_process=True, SAMPLE_RUNS_TEST="names")
    assert (run.returncode, run.stderr) == (0, "to stderr\n")
    assert run.stdout == f"script.py __main__ {tmp_path.parent} names\n"
    assert run.names["answer"] == 42
    exited = run_sample(script, in_process=True, SAMPLE_RUNS_TEST="exit")
    assert (exited.returncode, exited.names) == (3, {})
    assert "SAMPLE_RUNS_TEST" not in os.environ and Path.cwd() != tmp_path.parent
    in_its_own = run_sample(script, cwd=tmp_path.parent, SAMPLE_RUNS_TEST="names")
    assert (in_its_own.returncode, in_its_own.stdout, in_its_own.stderr) == (0, run.stdout, run.stderr)
