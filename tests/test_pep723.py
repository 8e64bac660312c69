# SPDX-License-Identifier: Apache-2.0
"""Each sample's PEP 723 ``# /// script`` block parses and agrees with pyproject.toml."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

import preflight

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli", reason="Python 3.10 needs tomli to read TOML")

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = [ROOT / "samples" / "interoperability" / name for name in preflight.SAMPLES]
BLOCK = re.compile(r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def script_metadata(path: Path) -> dict:
    """The reference parser from PEP 723, applied to one file."""
    blocks = [m for m in BLOCK.finditer(path.read_text()) if m.group("type") == "script"]
    assert len(blocks) == 1, f"{path.name}: expected one '# /// script' block, found {len(blocks)}"
    content = "".join(
        line[2:] if line.startswith("# ") else line[1:] for line in blocks[0].group("content").splitlines(True)
    )
    return tomllib.loads(content)


def name_of(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower()


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_script_block_agrees_with_pyproject(sample: Path) -> None:
    meta = script_metadata(sample)
    assert meta["requires-python"] == PYPROJECT["requires-python"]
    deps = meta["dependencies"]
    extras = PYPROJECT["optional-dependencies"]
    allowed = {r for r in PYPROJECT["dependencies"] + extras["cu13"] + extras["codec13"]}
    by_name = {name_of(r): r for r in allowed}
    for dep in deps:
        assert dep in allowed, f"{sample.name}: {dep!r} differs from pyproject.toml's {by_name.get(name_of(dep))!r}"
    for required in ("numpy", "cuda-python", "cvcuda-cu13"):
        assert required in {name_of(d) for d in deps}, f"{sample.name}: no {required} in its script block"
    if "cuda.core" in sample.read_text():
        assert "cuda-core" in {name_of(d) for d in deps}
    if "nvimgcodec" in sample.read_text():  # the optional codec13 extra, spelled the same
        assert set(extras["codec13"]) <= set(deps), f"{sample.name}: not {extras['codec13']}"


def test_parser_rejects_a_missing_block(tmp_path: Path) -> None:
    plain = tmp_path / "plain.py"
    plain.write_text("print('no metadata')\n")
    with pytest.raises(AssertionError, match="found 0"):
        script_metadata(plain)
