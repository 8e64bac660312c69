# SPDX-License-Identifier: Apache-2.0
"""Paste closure: a page's code, pasted in page order, names nothing it does not
define or import; the CUDA Python page pasted whole is one script; the module's
page shows the module whole, and the module is short enough to read.

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
MODULE_PAGE = DOCS / "api.rst"
#: Every page with a literalinclude, the generated gallery pages aside.
#: Every page whose code is meant to be pasted whole: the CUDA Python page, the
#: module's page and Troubleshooting. The other guide pages show a sample's lesson
#: only (at most 40% of it) and link to the whole sample on its gallery page.
PAGES = sorted(
    rst
    for rst in DOCS.rglob("*.rst")
    if "_build" not in rst.parts
    and "auto_samples" not in rst.parts
    and (rst.parent.name != "interoperability" or rst == CUDA_PYTHON_PAGE)
    and ".. literalinclude::" in rst.read_text(encoding="utf-8")
)


def pyflakes_messages(code: str, filename: str) -> list[str]:
    checker = Checker(ast.parse(code, filename), filename)
    return sorted(f"{filename}:{m.lineno}: {m.message % m.message_args}" for m in checker.messages)


def test_pages_with_code_are_found() -> None:
    names = {rst.name for rst in PAGES}
    assert {"cuda_python.rst", "api.rst", "troubleshooting.rst"} <= names


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


def test_the_cuda_python_page_pasted_in_order_is_one_script_needing_the_modules_it_names() -> None:
    """The page says which files the pasted script needs beside it; exactly those."""
    module, script = pasted(CUDA_PYTHON_PAGE, COMMON.name)
    assert module == "", "the page shows sample code only; the module has a page of its own"
    compile(script, "cuda_python_page.py", "exec")  # one valid script, in page order
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(ast.parse(script))
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    beside = {name for name in imported if (COMMON.parent / f"{name}.py").is_file()}
    named = re.search(r"given\s+``(\w+)\.py``\s+and\s+``(\w+)\.py``", CUDA_PYTHON_PAGE.read_text())
    assert named is not None, "the page no longer says what the pasted script needs"
    assert beside == set(named.groups())


def test_the_module_page_shows_the_whole_module() -> None:
    module, script = pasted(MODULE_PAGE, COMMON.name)
    assert module == COMMON.read_text(encoding="utf-8") and script == ""


def sizes_of(tree: ast.Module) -> dict[str, int]:
    return {node.name: node.end_lineno - node.lineno + 1 for node in tree.body if hasattr(node, "name")}


def test_the_module_is_short_enough_to_read_whole() -> None:
    text = COMMON.read_text(encoding="utf-8")
    tree = ast.parse(text)
    sizes = sizes_of(tree)
    print(
        f"{len(text.splitlines())} lines; CudaBuffer {sizes['CudaBuffer']}, "
        f"cuda_memcpy_h2d {sizes['cuda_memcpy_h2d']}, cuda_memcpy_d2h {sizes['cuda_memcpy_d2h']}"
    )
    assert len(text.splitlines()) <= 400
    assert max(map(len, text.splitlines())) <= 88
    assert sizes["CudaBuffer"] <= 120
    assert sizes["cuda_memcpy_h2d"] <= 40 and sizes["cuda_memcpy_d2h"] <= 40


@pytest.mark.parametrize("helper", ["cuda_memcpy_h2d", "cuda_memcpy_d2h"])
def test_each_copy_helper_shows_the_cuda_calls_it_makes(helper: str) -> None:
    function = next(n for n in ast.parse(COMMON.read_text()).body if getattr(n, "name", "") == helper)
    calls = {n.func.attr for n in ast.walk(function) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
    assert {"cudaMemcpy", "cudaMemcpyAsync", "cudaMemcpy2D", "cudaMemcpy2DAsync"} <= calls
