# SPDX-License-Identifier: Apache-2.0
"""Paste closure: a page's code, pasted in page order, names nothing it does not
define or import, and the common module's blocks on the CUDA Python page make
the whole module.

The CPU side runs pyflakes over the pasted code of every page that includes
code from the samples; ``test_gpu_paste.py`` runs the pasted code on a GPU.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from page_code import page_blocks, pasted
from pyflakes.checker import Checker

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
COMMON = ROOT / "samples" / "interoperability" / "cuda_python_common.py"
CUDA_PYTHON_PAGE = DOCS / "samples" / "interoperability" / "cuda_python.rst"
#: Every page with a literalinclude, the generated gallery pages aside.
PAGES = sorted(
    rst
    for rst in DOCS.rglob("*.rst")
    if "_build" not in rst.parts
    and "auto_samples" not in rst.parts
    and ".. literalinclude::" in rst.read_text(encoding="utf-8")
)
REGION = re.compile(r"# docs_tag: begin_(\w+)\n(.*?)[ \t]*# docs_tag: end_\1\b", re.S)


def pyflakes_messages(code: str, filename: str) -> list[str]:
    checker = Checker(ast.parse(code, filename), filename)
    return sorted(f"{filename}:{m.lineno}: {m.message % m.message_args}" for m in checker.messages)


def lines_of(text: str) -> int:
    return len(text.strip("\n").splitlines())


def test_pages_with_code_are_found() -> None:
    names = {rst.name for rst in PAGES}
    assert {"cuda_python.rst", "cuda_core.rst", "troubleshooting.rst"} <= names


@pytest.mark.parametrize("rst", PAGES, ids=lambda p: p.stem)
def test_page_code_pasted_in_order_defines_every_name(rst: Path) -> None:
    module, script = pasted(rst, COMMON.name)
    messages = []
    for filename, code in ((COMMON.name, module), (f"{rst.stem}_page.py", script)):
        if code:
            messages += pyflakes_messages(code, filename)
    print(f"{rst.name}: {len(page_blocks(rst))} blocks, {len(messages)} pyflakes messages")
    assert messages == [], "\n".join(messages)


def test_a_pasted_page_that_misses_a_name_is_caught() -> None:
    """The check itself can fail: drop the imports block and names go undefined."""
    _, script = pasted(CUDA_PYTHON_PAGE, COMMON.name)
    without_imports = script.replace("import cvcuda\n", "", 1)
    messages = pyflakes_messages(without_imports, "page.py")
    assert any("undefined name 'cvcuda'" in m for m in messages), messages


def test_the_cuda_python_page_shows_the_whole_common_module() -> None:
    """Its common-module blocks, in page order, are every region of the module."""
    module, _ = pasted(CUDA_PYTHON_PAGE, COMMON.name)
    regions = "".join(m.group(2) for m in REGION.finditer(COMMON.read_text()))
    assert module.strip() == regions.strip()
    outside = REGION.sub("", COMMON.read_text())
    tree = ast.parse(outside)
    # Outside the regions: only the module docstring and __all__.
    kinds = [type(node).__name__ for node in tree.body]
    assert kinds == ["Expr", "Assign"], kinds


def test_the_teaching_core_is_short() -> None:
    sizes = {m.group(1): lines_of(m.group(2)) for m in REGION.finditer(COMMON.read_text())}
    print(f"region sizes: {sizes}")
    assert sizes["cuda_buffer"] <= 90
    assert sizes["cuda_memcpy_h2d"] <= 30
    assert sizes["cuda_memcpy_d2h"] <= 30


def test_dropdown_titles_state_the_size_of_what_they_fold() -> None:
    text = CUDA_PYTHON_PAGE.read_text(encoding="utf-8")
    titles = re.findall(r"^\.\. dropdown:: .*\((\d+) lines\)$", text, re.M)
    folded = [b for b in page_blocks(CUDA_PYTHON_PAGE) if b.indent]
    assert len(titles) == len(folded) >= 6
    for title, block in zip(titles, folded, strict=True):
        assert int(title) == lines_of(block.text or ""), block.label
