# SPDX-License-Identifier: Apache-2.0
"""Recorded gallery pages (``docs/_ext/recorded_gallery.py``): a page that a GPU
run executed, kept and put back, shows each cell's output under that cell on a
build that runs nothing; a sample changed since is not put back.

A two-cell sample in a small Sphinx project stands for the gallery: it runs
without a GPU, so the whole cycle (execute, record, build without running,
edit) runs here with sphinx-gallery itself.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import recorded_gallery

import preflight

EXT_DIR = Path(recorded_gallery.__file__).resolve().parent

SAMPLE = '''\
"""
Two cells
=========

Each cell prints its own line.
"""

# %%
# The first cell
print("the first cell says 11")

# %%
# The second cell
print("the second cell says 22")
'''

CONF = f"""\
import os, sys
sys.path[:0] = [{str(EXT_DIR)!r}, os.path.dirname(os.path.abspath(__file__))]
extensions = ["sphinx_gallery.gen_gallery", "restore_hook"]
exclude_patterns = ["recorded"]  # the recording is not a page of the site
sphinx_gallery_conf = {{
    "examples_dirs": ["../samples"],
    "gallery_dirs": ["gallery"],
    "plot_gallery": os.environ["RUN_GALLERY"],
    "filename_pattern": r".*\\.py$",
    "image_scrapers": (),
    "write_computation_times": False,
}}
"""

HOOK = """\
from pathlib import Path

import recorded_gallery


def restore_recorded(app):
    if app.config.sphinx_gallery_conf["plot_gallery"] in (True, "True"):
        return
    docs = Path(app.srcdir)
    sources = {"two_cells": docs.parent / "samples" / "two_cells.py"}
    recorded_gallery.restore(docs / "recorded", docs / "gallery", sources)


def setup(app):
    app.connect("builder-inited", restore_recorded, priority=400)
    return {"parallel_read_safe": True}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """docs/ (conf, index, the restore hook) and samples/ with one sample."""
    docs, samples = tmp_path / "docs", tmp_path / "samples"
    docs.mkdir()
    samples.mkdir()
    (docs / "conf.py").write_text(CONF)
    (docs / "restore_hook.py").write_text(HOOK)
    (docs / "index.rst").write_text("Home\n====\n\n.. toctree::\n\n   gallery/index\n")
    (samples / "GALLERY_HEADER.rst").write_text("Samples\n=======\n")
    (samples / "two_cells.py").write_text(SAMPLE)
    return tmp_path


def build(project: Path, *, run: bool) -> str:
    """Build the site into a fresh folder; the sample page's HTML."""
    out = project / ("html_run" if run else "html")
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "RUN_GALLERY": "True" if run else "False"}
    cmd = [sys.executable, "-m", "sphinx", "-q", "-W", "-b", "html", str(project / "docs"), str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return (out / "gallery" / "two_cells.html").read_text(encoding="utf-8")


def outputs_after_code(page: str) -> list[tuple[str, str]]:
    """(the cell's code, the output shown after it and before the next cell)."""
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    cells = re.split(r"(?=print\(\"the \w+ cell says)", text)[1:]
    shown = []
    for cell in cells:
        code = cell.split("\n", 1)[0]
        said = re.findall(r"^the \w+ cell says \d+$", cell, re.M)
        shown.append((code, said[0] if said else ""))
    return shown


def test_a_recorded_page_shows_each_output_under_its_cell_without_running(project: Path) -> None:
    docs = project / "docs"
    executed = build(project, run=True)
    assert outputs_after_code(executed) == [
        ('print("the first cell says 11")', "the first cell says 11"),
        ('print("the second cell says 22")', "the second cell says 22"),
    ]
    done, missing = recorded_gallery.record(docs / "gallery", docs / "recorded", ["two_cells"])
    assert (done, missing) == (["two_cells"], [])
    assert (docs / "recorded" / "two_cells.rst").is_file()

    shutil.rmtree(docs / "gallery")  # a fresh checkout: only the recording is there
    assert outputs_after_code(build(project, run=False)) == outputs_after_code(executed)


def test_a_sample_changed_since_its_recording_is_not_put_back(project: Path) -> None:
    docs = project / "docs"
    build(project, run=True)
    recorded_gallery.record(docs / "gallery", docs / "recorded", ["two_cells"])
    sample = project / "samples" / "two_cells.py"
    sample.write_text(SAMPLE.replace("says 22", "says 23"))
    shutil.rmtree(docs / "gallery")

    page = build(project, run=False)
    assert outputs_after_code(page) == [
        ('print("the first cell says 11")', ""),
        ('print("the second cell says 23")', ""),  # the code as it is now, and no output
    ]
    sources = {"two_cells": sample}
    assert recorded_gallery.restore(docs / "recorded", docs / "gallery", sources) == []


def test_record_names_the_samples_that_did_not_run(project: Path) -> None:
    docs = project / "docs"
    build(project, run=False)  # written, not executed: sphinx-gallery writes no .md5
    assert recorded_gallery.record(docs / "gallery", docs / "recorded", ["two_cells"]) == ([], ["two_cells"])
    assert not (docs / "recorded").exists()


def test_page_files_are_the_samples_own(tmp_path: Path) -> None:
    """A sample's figures, not those of a sample whose name starts the same."""
    for name in (
        "a.rst",
        "a.ipynb",
        "a.py.md5",
        "images/sphx_glr_a_001.jpg",
        "images/sphx_glr_a_b_001.jpg",
        "images/thumb/sphx_glr_a_thumb.jpg",
        "images/thumb/sphx_glr_a_b_thumb.jpg",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    names = [p.as_posix() for p in recorded_gallery.page_files(tmp_path, "a")]
    assert names == ["a.rst", "a.ipynb", "a.py.md5", "images/sphx_glr_a_001.jpg", "images/thumb/sphx_glr_a_thumb.jpg"]


# --------------------------------------------------------------------------- the site's gallery

SAMPLES_DIR = EXT_DIR.parent.parent / "samples" / "interoperability"
STEMS = [Path(name).stem for name in preflight.SAMPLES]


def recorded_from_this_source(stem: str) -> bool:
    return recorded_gallery.written_for(recorded_gallery.RECORDED / f"{stem}.py.md5", SAMPLES_DIR / f"{stem}.py")


@pytest.mark.parametrize("stem", STEMS)
def test_a_gallery_page_built_without_a_gpu_shows_its_recorded_output(stem: str, built_site: Path) -> None:
    """Under each cell when the recording is of the sample as it is; else the whole
    recorded output after the last cell, before the downloads, saying why."""
    if os.environ.get("GALLERY_EXECUTE", "0").strip().lower() in {"1", "true", "yes"}:
        pytest.skip("the site was built with the gallery executed: its output is live")
    page = (built_site / "auto_samples" / f"{stem}.html").read_text(encoding="utf-8")
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())
    downloads = page.index("sphx-glr-footer")
    if recorded_from_this_source(stem):
        assert "The output under each cell and the pictures are those of its last run on a GPU" in text
        outputs = [m.start() for m in re.finditer(r'class="sphx-glr-script-out\b', page)]
        assert outputs and max(outputs) < downloads, f"{stem}: no output under its cells"
        assert ">Output<" not in page, f"{stem}: the whole output again, after the cells"
    else:
        assert not re.search(r'class="sphx-glr-script-out\b', page)
        rubric = page.index(">Output<")
        assert rubric < downloads, f"{stem}: the recorded output comes after the downloads"
        output = recorded_gallery.DOCS / "recorded_outputs" / f"{stem}.txt"
        if not output.is_file():
            assert "no output has been recorded for it yet" in text
            return
        first_line = output.read_text().splitlines()[0]
        assert page.index(html.escape(first_line, quote=False)[:40], rubric) < downloads
        why = "has changed since" if (recorded_gallery.RECORDED / f"{stem}.py.md5").is_file() else "cell by cell yet"
        assert why in text


@pytest.mark.parametrize("stem", STEMS)
def test_each_sample_has_a_recording_of_its_cells(stem: str) -> None:
    """A sample edited since the last ``nox -s gpu`` shows its output whole, not per cell."""
    if not recorded_from_this_source(stem):
        pytest.skip(f"{stem}: no per-cell recording of the sample as it is now; nox -s gpu records it")
    for name in (f"{stem}.rst", f"{stem}.ipynb", f"images/sphx_glr_{stem}_001.jpg"):
        assert (recorded_gallery.RECORDED / name).is_file(), name
