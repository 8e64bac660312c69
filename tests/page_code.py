# SPDX-License-Identifier: Apache-2.0
"""The code a docs page shows, read from its reStructuredText source.

Pages pull their code out of the samples with ``literalinclude``; this module
computes, from the ``.rst`` file and the files it includes, exactly the text
each block shows, in page order. The browser tests compare it with the
rendered page, and the paste-closure tests paste it into files and run them.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

#: A code-producing directive and its option lines, at any indentation.
DIRECTIVE = re.compile(
    r"^(?P<indent>[ \t]*)\.\. (?P<name>literalinclude|code-block|code|sourcecode)::"
    r"[ \t]*(?P<arg>.*)\n"
    r"(?P<options>(?:(?P=indent)[ \t]+:[\w-]+:.*\n?)*)",
    re.M,
)
#: Options that change the included text in ways ``literalinclude_text`` does not model.
UNMODELLED = {"lines", "pyobject", "prepend", "append", "diff", "tab-width", "encoding"}


@dataclass(frozen=True)
class Block:
    """One code block of a page: its label, the file it includes (None for a
    ``code-block``) and the text it shows (None for a ``code-block``)."""

    label: str
    target: Path | None
    text: str | None
    indent: str  # the directive's indentation: nested in a dropdown when not empty


def literalinclude_text(rst: Path, target: str, options: dict[str, str]) -> str:
    """The text Sphinx's ``literalinclude`` shows, computed from the source file.

    Sphinx semantics: ``start-after`` keeps the lines after the first line that
    contains it, ``end-before`` the lines before the first (later) line that
    contains it; ``start-at``/``end-at`` keep the marker line. Then ``dedent``
    (no value: ``textwrap.dedent``; N: N characters off each line). Nothing is
    stripped: blank lines at either end stay (the Python lexer has stripnl off).
    """
    unmodelled = UNMODELLED & options.keys()
    assert not unmodelled, f"{rst.name}: literalinclude of {target} uses {unmodelled}"
    path = (rst.parent / target).resolve()
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    for key, keep_marker in (("start-after", False), ("start-at", True)):
        if key in options:
            at = next((i for i, line in enumerate(lines) if options[key] in line), None)
            assert at is not None, f"{rst.name}: {key} {options[key]!r} not in {target}"
            lines = lines[at if keep_marker else at + 1 :]
    for key, keep_marker in (("end-before", False), ("end-at", True)):
        if key in options:
            at = next((i for i, line in enumerate(lines) if options[key] in line), None)
            assert at is not None, f"{rst.name}: {key} {options[key]!r} not in {target}"
            lines = lines[: at + 1 if keep_marker else at]
    if "dedent" in options:
        if options["dedent"] == "":
            lines = textwrap.dedent("".join(lines)).splitlines(keepends=True)
        else:
            width = int(options["dedent"])
            lines = [line[width:] or ("\n" if line.endswith("\n") else "") for line in lines]
    return "".join(lines)


def page_blocks(rst: Path) -> list[Block]:
    """Every code block of a page's source, in page order."""
    source = rst.read_text(encoding="utf-8")
    bare = re.sub(r"^[ \t]*\.\. [\w-]+::.*$", "", source, flags=re.M)
    assert "::\n\n" not in bare, f"{rst.name} has a '::' literal block: not modelled"
    blocks: list[Block] = []
    for match in DIRECTIVE.finditer(source):
        options = {k: v.strip() for k, v in re.findall(r":([\w-]+):[ \t]*(.*)", match["options"])}
        if match["name"] == "literalinclude":
            start = options.get("start-after", options.get("start-at", "start"))
            target = match["arg"].strip()
            blocks.append(
                Block(
                    f"{Path(target).name} after {start!r}",
                    (rst.parent / target).resolve(),
                    literalinclude_text(rst, target, options),
                    match["indent"],
                )
            )
        else:
            blocks.append(Block(f"{match['name']} {match['arg']}", None, None, match["indent"]))
    return blocks


def pasted(rst: Path, module_name: str) -> tuple[str, str]:
    """The page's code pasted in page order: (the module ``module_name`` as the
    page shows it, everything else as one script)."""
    module, script = [], []
    for block in page_blocks(rst):
        if block.text is None:
            continue
        assert block.target is not None
        (module if block.target.name == module_name else script).append(block.text)
    return "".join(module), "\n".join(script)
