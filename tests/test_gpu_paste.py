# SPDX-License-Identifier: Apache-2.0
"""Paste closure on the GPU: the code the pages show, pasted in page order, runs.

The common module is rebuilt from the CUDA Python page's blocks alone, every
sample runs against that copy instead of ``cuda_python_common.py``, and each
page's sample code, pasted into one script, runs too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from page_code import pasted

import preflight

pytestmark = pytest.mark.gpu

ROOT = Path(__file__).resolve().parents[1]
SAMPLES_DIR = ROOT / "samples" / "interoperability"
PAGES_DIR = ROOT / "docs" / "samples" / "interoperability"
COMMON = "cuda_python_common.py"


@pytest.fixture(scope="module")
def pasted_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the samples, the preflight and the module pasted from the page."""
    folder = tmp_path_factory.mktemp("pasted")
    module, _ = pasted(PAGES_DIR / "cuda_python.rst", COMMON)
    (folder / COMMON).write_text(module)
    for name in (*preflight.SAMPLES, "preflight.py", "sample_images.py"):
        shutil.copy(SAMPLES_DIR / name, folder / name)
    return folder


def run(script: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join(filter(None, [str(cwd), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize("sample", preflight.SAMPLES)
def test_sample_runs_against_the_module_pasted_from_the_page(sample: str, pasted_folder: Path) -> None:
    proc = run(pasted_folder / sample, pasted_folder)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("page", ["cuda_python.rst", "cuda_core.rst"])
def test_page_code_pasted_in_order_runs(page: str, pasted_folder: Path) -> None:
    _, script = pasted(PAGES_DIR / page, COMMON)
    path = pasted_folder / f"{Path(page).stem}_page.py"
    path.write_text(script)
    proc = run(path, pasted_folder)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
