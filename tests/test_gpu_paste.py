# SPDX-License-Identifier: Apache-2.0
"""Paste closure on the GPU: each guide page's code, pasted in page order into one
file, runs, beside the modules the pages say it needs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from page_code import pasted
from sample_runs import run_sample

import preflight

pytestmark = pytest.mark.gpu

ROOT = Path(__file__).resolve().parents[1]
SAMPLES_DIR = ROOT / "samples" / "interoperability"
PAGES_DIR = ROOT / "docs" / "samples" / "interoperability"
#: The guide page meant to be pasted whole (the others show a sample's lesson only).
PAGES = ["cuda_python.rst"]


@pytest.mark.parametrize("page", PAGES)
def test_page_code_pasted_in_order_runs(page: str, tmp_path: Path) -> None:
    for module in preflight.SAMPLE_MODULES:
        shutil.copy(SAMPLES_DIR / module, tmp_path / module)
    _, script = pasted(PAGES_DIR / page, "cuda_python_common.py")
    path = tmp_path / f"{Path(page).stem}_page.py"
    path.write_text(script)
    proc = run_sample(path, tmp_path, MPLBACKEND="Agg")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
