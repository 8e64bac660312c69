# SPDX-License-Identifier: Apache-2.0
"""Each sample's downloads, opened from the built site, run as they are.

* The zip holds the sample, its notebook and the modules the sample imports
  (``cuda_python_common.py``, ``preflight.py``, ``sample_images.py``), each equal
  to the file in the repository.
* Unzipped into an empty folder, ``python <sample>.py`` runs there: exit 0 and a
  "verified" line on a GPU; elsewhere the one-line "cannot run" and exit 3 (never
  an ImportError of a module the zip forgot).
* Notebooks (in the zip and the separate download) have no ``# docs_tag:`` lines
  in their code and no raw reST roles in their text.
* Without a GPU, each sample page shows the recorded picture, labelled.
* A sample downloaded alone, without the modules it imports, says in one line
  which files to download with it, and exits 3.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import preflight
from preflight import EXIT_GPU_UNAVAILABLE

ROOT = Path(__file__).resolve().parents[1]
RECORDED = ROOT / "docs" / "recorded_outputs"  # what the last GPU run recorded
SAMPLES_DIR = ROOT / "samples" / "interoperability"
SAMPLES = [Path(name).stem for name in preflight.SAMPLES]
MODULES = preflight.SAMPLE_MODULES  # what every sample imports from its folder
#: A reST role left raw in Markdown: :class:`~x.Y`, :func:`f`, :doc:`...`, :py:meth:`...`.
RAW_ROLE = re.compile(r":(?:py:)?[a-z]+:`")
MARKER = re.compile(r"^[ \t]*# docs_tag:", re.M)


def download(site: Path, stem: str, suffix: str) -> Path:
    """The file a sample page's download link of this suffix points at."""
    html = (site / "auto_samples" / f"{stem}.html").read_text(encoding="utf-8")
    hrefs = sorted(set(re.findall(rf'href="([^"]*/{re.escape(stem)}{re.escape(suffix)})"', html)))
    assert len(hrefs) == 1, f"{stem}.html links {hrefs} for {suffix}"
    path = (site / "auto_samples" / hrefs[0]).resolve()
    assert path.is_file(), path
    return path


def notebook_problems(notebook: dict) -> list[str]:
    """Marker lines in code cells and raw reST roles in text cells, one line each."""
    problems = []
    for index, cell in enumerate(notebook["cells"]):
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        if cell["cell_type"] == "code" and MARKER.search(source):
            problems.append(f"cell {index}: a '# docs_tag:' line")
        if cell["cell_type"] == "markdown" and (role := RAW_ROLE.search(source)):
            problems.append(f"cell {index}: raw role {source[role.start() : role.end() + 30]!r}")
    return problems


def test_the_notebook_check_can_fail() -> None:
    notebook = {
        "cells": [
            {"cell_type": "code", "source": "# docs_tag: begin_imports\nimport numpy"},
            {"cell_type": "markdown", "source": ["See :class:`~cuda_python_common.CudaBuffer`."]},
            {"cell_type": "markdown", "source": "See `CudaBuffer` and ``x``."},
        ]
    }
    assert len(notebook_problems(notebook)) == 2


@pytest.mark.parametrize("stem", SAMPLES)
def test_zip_holds_the_sample_and_its_modules(stem: str, built_site: Path) -> None:
    with zipfile.ZipFile(download(built_site, stem, ".zip")) as archive:
        names = set(archive.namelist())
        assert {f"{stem}.py", f"{stem}.ipynb", *MODULES} <= names, f"{stem}.zip holds {sorted(names)}"
        assert archive.read(f"{stem}.py") == (SAMPLES_DIR / f"{stem}.py").read_bytes()
        for module in MODULES:
            assert archive.read(module) == (SAMPLES_DIR / module).read_bytes(), f"{stem}.zip: {module} differs"
        notebook = json.loads(archive.read(f"{stem}.ipynb"))
    assert notebook_problems(notebook) == [], f"{stem}.ipynb in the zip"


@pytest.mark.parametrize("stem", SAMPLES)
def test_notebook_download_is_clean(stem: str, built_site: Path) -> None:
    notebook = json.loads(download(built_site, stem, ".ipynb").read_text(encoding="utf-8"))
    assert notebook["cells"], f"{stem}.ipynb has no cells"
    assert notebook_problems(notebook) == [], f"{stem}.ipynb"
    code = "\n".join(
        c["source"] if isinstance(c["source"], str) else "".join(c["source"])
        for c in notebook["cells"]
        if c["cell_type"] == "code"
    )
    assert "from sample_images import" in code  # the pictures come from the module in the zip


def env_without_the_samples_folder() -> dict[str, str]:
    """The environment, less any PYTHONPATH entry that is the samples' folder:
    installed packages may come through PYTHONPATH; the samples' modules may not."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MPLBACKEND")}
    kept = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    kept = [p for p in kept if Path(p).resolve() != SAMPLES_DIR.resolve()]
    if kept:
        env["PYTHONPATH"] = os.pathsep.join(kept)
    return env


@pytest.mark.parametrize("stem", SAMPLES)
def test_unzipped_sample_runs_where_it_lies(stem: str, built_site: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(download(built_site, stem, ".zip")) as archive:
        archive.extractall(tmp_path)
    proc = subprocess.run(
        [sys.executable, f"{stem}.py"],
        cwd=tmp_path,
        env=env_without_the_samples_folder(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    if preflight.gpu_unavailable_reason("cvcuda", "matplotlib") is None:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "verified" in proc.stdout or "equals" in proc.stdout, proc.stdout
    else:
        assert proc.returncode == EXIT_GPU_UNAVAILABLE, proc.stdout + proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"{stem}.py: cannot run: "), proc.stderr


@pytest.mark.parametrize("stem", SAMPLES)
def test_sample_page_shows_a_picture(stem: str, built_site: Path) -> None:
    """Executed or not, the page shows the sample's figure; without a GPU it is the
    recorded one, with the label that says where it came from."""
    html = (built_site / "auto_samples" / f"{stem}.html").read_text(encoding="utf-8")
    images = re.findall(r'<img[^>]+src="([^"]+\.(?:jpg|png))"', html)
    pictures = [src for src in images if stem in src]
    if not (RECORDED / f"{stem}.jpg").is_file() and "sphx_glr_" not in html:
        # a sample no GPU run has recorded yet: its page must say so
        assert "no output has been recorded for it yet" in re.sub(r"\s+", " ", html), stem
        return
    assert pictures, f"{stem}.html shows no picture of the sample (images: {images})"
    for src in pictures:
        assert (built_site / "auto_samples" / src).resolve().is_file(), src
    if "sphx_glr_" not in " ".join(pictures):  # not drawn by this build: recorded
        text = re.sub(r"\s+", " ", html)
        assert "made without a GPU" in text or "recorded when the sample last ran on a GPU" in text


def modules_imported_from_the_folder(path: Path) -> set[str]:
    """The files of the samples' folder that a sample imports, and those they import."""
    local = {p.stem for p in SAMPLES_DIR.glob("*.py")}
    found: set[str] = set()
    todo = [path]
    while todo:
        tree = ast.parse(todo.pop().read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [node.module] if isinstance(node, ast.ImportFrom) else []
            names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                if name in local and f"{name}.py" not in found:
                    found.add(f"{name}.py")
                    todo.append(SAMPLES_DIR / f"{name}.py")
    return found


#: Every sample in the folder, listed in the gallery yet or not: those that run the preflight.
EVERY_SAMPLE = sorted(p for p in SAMPLES_DIR.glob("*.py") if "from preflight import require_gpu" in p.read_text())


@pytest.mark.parametrize("sample", EVERY_SAMPLE, ids=lambda p: p.stem)
def test_a_sample_downloaded_alone_names_the_files_to_download_with_it(sample: Path, tmp_path: Path) -> None:
    """ "Download Python source code" alone: one line naming the modules it imports, exit 3."""
    (tmp_path / sample.name).write_bytes(sample.read_bytes())
    proc = subprocess.run(
        [sys.executable, sample.name],
        cwd=tmp_path,
        env=env_without_the_samples_folder(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == EXIT_GPU_UNAVAILABLE, proc.stdout + proc.stderr
    assert proc.stdout == "" and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{sample.name}: cannot run: "), proc.stderr
    named = set(re.findall(r"\b\w+\.py\b", lines[0])) - {sample.name}
    assert named == modules_imported_from_the_folder(sample), lines[0]
