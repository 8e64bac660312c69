# SPDX-License-Identifier: Apache-2.0
"""The site: markers, literalinclude targets and a warning-free build."""

from __future__ import annotations

import ast
import json
import re
import shlex
import sys
from pathlib import Path

import pytest
from page_code import page_blocks

import preflight

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
SAMPLE_STEMS = [Path(name).stem for name in preflight.SAMPLES]
#: The guide pages: a sample's lesson, beside its gallery page. The CUDA Python
#: page is not one: it is the literalinclude page of the three approaches.
GUIDE_PAGES = sorted(p for p in (DOCS / "samples" / "interoperability").glob("*.rst") if p.name != "cuda_python.rst")
#: The most of a sample's code lines a guide page shows: the rest is on its gallery page.
GUIDE_SHARE = 0.40


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
        *(f"samples/interoperability/{rst.stem}.html" for rst in GUIDE_PAGES),
        "auto_samples/index.html",
        *(f"auto_samples/{stem}.html" for stem in SAMPLE_STEMS),
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


# --------------------------------------------------------------------------- guide pages


def sample_code_lines(text: str) -> list[str]:
    """A sample's lines of code: not blank, not a comment, not in its docstring,
    its PEP 723 header or a block the gallery hides (the preflight)."""
    tree = ast.parse(text)
    first = tree.body[0] if tree.body else None
    docstring: set[int] = set()
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        docstring = set(range(first.lineno, first.end_lineno + 1))
    lines, hidden = [], False
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if "sphinx_gallery_start_ignore" in stripped or "sphinx_gallery_end_ignore" in stripped:
            hidden = "start" in stripped
        elif not (hidden or number in docstring or not stripped or stripped.startswith("#")):
            lines.append(line)
    return lines


def code_lines_shown(rst: Path) -> dict[str, tuple[int, int]]:
    """Sample file name -> (its code lines the page shows, its code lines)."""
    shown: dict[str, int] = {}
    for block in page_blocks(rst):
        if block.target is not None and block.target.parent == SAMPLES_DIR:
            lines = [line for line in block.text.splitlines() if line.strip() and not line.strip().startswith("#")]
            shown[block.target.name] = shown.get(block.target.name, 0) + len(lines)
    return {name: (n, len(sample_code_lines((SAMPLES_DIR / name).read_text()))) for name, n in shown.items()}


def test_there_are_guide_pages() -> None:
    assert {"kernel.rst", "pytorch.rst", "nvimagecodec.rst"} <= {p.name for p in GUIDE_PAGES}


@pytest.mark.parametrize("rst", GUIDE_PAGES, ids=lambda p: p.stem)
def test_a_guide_page_shows_the_lesson_not_the_whole_sample(rst: Path) -> None:
    """At most 40% of a sample's code lines: the sample is shown whole once, on its gallery page."""
    shares = code_lines_shown(rst)
    assert shares, f"{rst.name} shows no code from a sample"
    for name, (shown, total) in shares.items():
        print(f"{rst.name}: {shown} of {name}'s {total} code lines ({shown / total:.0%})")
        assert shown <= GUIDE_SHARE * total, f"{rst.name} shows {shown} of {name}'s {total} code lines"


def test_the_share_counts_code_and_can_fail(tmp_path: Path) -> None:
    sample = tmp_path / "s.py"
    sample.write_text(
        '"""\nTitle\n=====\n\nText.\n"""\n\n# sphinx_gallery_start_ignore\nhidden = 1\n'
        "# sphinx_gallery_end_ignore\n# docs_tag: begin_a\n# a comment\nx = 1\n\ny = 2\n# docs_tag: end_a\nz = 3\n"
    )
    assert sample_code_lines(sample.read_text()) == ["x = 1", "y = 2", "z = 3"]


@pytest.mark.parametrize("rst", GUIDE_PAGES, ids=lambda p: p.stem)
def test_a_guide_page_pictures_its_sample_and_links_its_full_run_once(rst: Path, built_site: Path) -> None:
    html = (built_site / "samples" / "interoperability" / f"{rst.stem}.html").read_text(encoding="utf-8")
    for name in code_lines_shown(rst):
        stem = Path(name).stem
        links = re.findall(rf'href="[^"#]*auto_samples/{stem}\.html(?:#[^"]*)?"', html)
        assert len(links) == 1, f"{rst.name} links {stem}'s gallery page {len(links)} times"
        pictures = re.findall(rf'<img[^>]+src="[^"]*/{stem}\.jpg"', html)
        assert len(pictures) == 1, f"{rst.name} shows {len(pictures)} pictures of {stem}"


def test_folded_guide_pages_are_gone() -> None:
    """cuda.core's and CuPy's pages only repeated their gallery pages: their lesson is in the samples."""
    for name in ("cuda_core.rst", "cupy.rst"):
        assert not (DOCS / "samples" / "interoperability" / name).exists(), name
    assert "Use it for new code" in (SAMPLES_DIR / "cuda_core_interop.py").read_text()
    assert "Use it when your images are CuPy arrays" in (SAMPLES_DIR / "cupy_interop.py").read_text()


# --------------------------------------------------------------------------- installation


def project_sets() -> dict[str, list[str]]:
    """The requirements each CUDA set installs: the project's own and the extra's."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    return {flavor: [*project["dependencies"], *extras[flavor]] for flavor in ("cu13", "cu12")}


def pip_lines(text: str) -> list[list[str]]:
    """The requirements of each ``pip install`` line that names packages, not a clone."""
    found = []
    for line in text.splitlines():
        if "pip install" in line and ".[" not in line and "nox" not in line:
            words = shlex.split(line.split("pip install", 1)[1].lstrip("#").strip())
            found.append([word for word in words if not word.startswith("-")])
    return found


def test_installation_pip_lines_are_the_cuda_sets_of_pyproject() -> None:
    lines = pip_lines((DOCS / "installation.rst").read_text())
    sets = project_sets()
    by_flavor = {flavor: [line for line in lines if any(f"cvcuda-{flavor}" in r for r in line)] for flavor in sets}
    for flavor, requirements in sets.items():
        assert len(by_flavor[flavor]) == 1, f"installation.rst: {by_flavor[flavor]}"
        assert sorted(by_flavor[flavor][0]) == sorted(requirements), f"the {flavor} line differs from pyproject.toml"


def test_the_notebooks_pip_lines_are_the_cuda_sets_of_pyproject() -> None:
    """The first cell of every notebook download (``first_notebook_cell`` in conf.py)."""
    cells = [
        ast.literal_eval(value)
        for node in ast.walk(ast.parse((DOCS / "conf.py").read_text()))
        if isinstance(node, ast.Dict)
        for key, value in zip(node.keys, node.values, strict=True)
        if isinstance(key, ast.Constant) and key.value == "first_notebook_cell"
    ]
    assert len(cells) == 1, cells
    lines = pip_lines(cells[0])
    assert sorted(map(sorted, lines)) == sorted(map(sorted, project_sets().values()))


def test_the_pip_line_check_can_fail() -> None:
    assert pip_lines('python3 -m pip install "a>=1" b\npip install -e ".[cu13]"') == [["a>=1", "b"]]


# --------------------------------------------------------------------------- README screenshot


def test_the_readme_screenshot_shows_the_site_as_it_is(built_site: Path) -> None:
    """The headings, top navigation and gallery cards recorded with the screenshot are
    the built page's: else take it again (``nox -s screenshot``)."""
    from site_screenshot import PICTURED, SCREENSHOT, pictured

    recorded = json.loads(PICTURED.read_text(encoding="utf-8"))
    assert SCREENSHOT.is_file()
    assert SCREENSHOT.name in (ROOT / "README.md").read_text(), "the README does not show the screenshot"
    now = pictured((built_site / recorded["page"]).read_text(encoding="utf-8"))
    for what in ("headings", "navigation", "cards"):
        assert now[what] == recorded[what], f"the screenshot's {what} are stale: run nox -s screenshot"
