# SPDX-License-Identifier: Apache-2.0
"""The site: markers, literalinclude targets and a warning-free build."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES_DIR = ROOT / "samples" / "interoperability"

DOCS = ROOT / "docs"
RST_FILES = sorted(p for p in DOCS.rglob("*.rst") if "_build" not in p.parts and "auto_samples" not in p.parts)
LITERALINCLUDE = re.compile(r"^\.\. literalinclude::[ \t]*(\S+)[ \t]*\n((?:[ \t]+:[\w-]+:.*\n?)*)", re.M)
MARKER = re.compile(r"#\s*docs_tag:\s*(begin|end)_(\w+)")


def literalincludes() -> list[tuple[Path, str, dict[str, str]]]:
    found = []
    for rst in RST_FILES:
        for match in LITERALINCLUDE.finditer(rst.read_text()):
            options = dict(re.findall(r":([\w-]+):[ \t]*(.*)", match.group(2)))
            found.append((rst, match.group(1), {k: v.strip() for k, v in options.items()}))
    return found


INCLUDES = literalincludes()


def test_the_cuda_python_page_includes_every_seed_region() -> None:
    page = [(Path(t).name, o.get("start-after")) for r, t, o in INCLUDES if r.name == "cuda_python.rst"]
    for name in ("cuda_python_interop_1.py", "cuda_python_interop_2.py"):
        for region in ("imports", "cuda_python_to_cvcuda", "cvcuda_to_cuda_python", "ensure_tensors_unchanged"):
            assert (name, f"docs_tag: begin_{region}") in page
    modules = [Path(t).name for r, t, o in INCLUDES if r.name == "api.rst" and "start-after" not in o]
    assert modules == ["cuda_python_common.py"], "the module's page shows it whole, once"
    assert len(INCLUDES) >= 20


@pytest.mark.parametrize(
    "rst,target,options", INCLUDES, ids=[f"{r.name}:{o.get('start-after', t)}" for r, t, o in INCLUDES]
)
def test_literalinclude_target_and_markers_exist_once(rst: Path, target: str, options: dict[str, str]) -> None:
    path = (rst.parent / target).resolve()
    assert path.is_file(), f"{rst.name}: literalinclude names a missing file {target}"
    text = path.read_text()
    for key in ("start-after", "end-before"):
        if key in options:
            # Sphinx matches by substring and takes the first hit: the marker must be unique.
            count = text.count(options[key])
            assert count == 1, f"{rst.name}: {key} {options[key]!r} occurs {count} times in {target}"
    if "start-after" in options and "end-before" in options:
        start = text.index(options["start-after"])
        end = text.index(options["end-before"])
        assert start < end, f"{rst.name}: markers in the wrong order in {target}"
        assert text[start:end].count("\n") > 1, f"{rst.name}: empty region {options['start-after']}"


@pytest.mark.parametrize("path", sorted(SAMPLES_DIR.glob("*.py")), ids=lambda p: p.name)
def test_every_begin_marker_has_its_end(path: Path) -> None:
    open_regions: dict[str, int] = {}
    seen: set[str] = set()
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        match = MARKER.search(line)
        if not match:
            assert "docs_tag" not in line, f"{path.name}:{lineno}: malformed marker {line.strip()!r}"
            continue
        kind, name = match.groups()
        if kind == "begin":
            assert name not in seen, f"{path.name}:{lineno}: region {name} opened twice"
            open_regions[name] = lineno
            seen.add(name)
        else:
            assert name in open_regions, f"{path.name}:{lineno}: end_{name} without begin_{name}"
            del open_regions[name]
    assert not open_regions, f"{path.name}: begin_ without end_: {sorted(open_regions)}"


def test_marker_checker_catches_a_misspelt_marker(tmp_path: Path) -> None:
    """The check above must be able to fail: the seed's 'being_cuda_memcpy_h2d' is refused."""
    bad = tmp_path / "bad.py"
    bad.write_text("# docs_tag: being_cuda_memcpy_h2d\nx = 1\n# docs_tag: end_cuda_memcpy_h2d\n")
    with pytest.raises(AssertionError):
        test_every_begin_marker_has_its_end(bad)


def test_literalinclude_checker_catches_missing_files_and_markers(tmp_path: Path) -> None:
    src = tmp_path / "s.py"
    src.write_text("# docs_tag: begin_a\nx = 1\n# docs_tag: end_a\n# docs_tag: begin_a\n")
    with pytest.raises(AssertionError, match="missing file"):
        test_literalinclude_target_and_markers_exist_once(tmp_path / "p.rst", "nope.py", {})
    with pytest.raises(AssertionError, match="occurs 2 times"):
        test_literalinclude_target_and_markers_exist_once(tmp_path / "p.rst", "s.py", {"start-after": "begin_a"})


def test_site_builds_without_warnings(built_site: Path) -> None:
    """sphinx-build -W --keep-going -n succeeded (the fixture fails otherwise) and made every page."""
    for page in (
        "index.html",
        "installation.html",
        "samples/interoperability/cuda_python.html",
        "samples/interoperability/cuda_core.html",
        "auto_samples/index.html",
        "performance.html",
        "troubleshooting.html",
        "api.html",
    ):
        assert (built_site / page).is_file(), page


def test_gallery_pages_offer_downloads_and_hide_markers(built_site: Path) -> None:
    for sample in sorted(SAMPLES_DIR.glob("cuda_*.py")):
        if sample.name == "cuda_python_common.py":
            continue
        html = (built_site / "auto_samples" / f"{sample.stem}.html").read_text()
        assert f"{sample.stem}.py" in html and f"{sample.stem}.ipynb" in html
        assert "docs_tag" not in html, f"{sample.stem}: marker comments leak into the gallery page"
        assert "sphinx_gallery_start_ignore" not in html
        assert "/// script" not in html, f"{sample.stem}: the PEP 723 block leaks into the page"
