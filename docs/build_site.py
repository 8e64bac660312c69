# SPDX-License-Identifier: Apache-2.0
"""The site's sphinx-build command, written once.

    python docs/build_site.py OUT [SPHINX OPTIONS ...]    # default options: -b html

nox's ``docs``, ``gpu`` and ``linkcheck`` sessions, the tests' built site and
Read the Docs all build with :data:`SPHINX_FLAGS`: a warning fails the build
(``-W``) after every one is reported (``--keep-going``), every reference must
resolve (``-n``), and an error shows its whole traceback (``-T``). Standard
library only: nox loads this file by path, Read the Docs runs it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
SPHINX_FLAGS = ("-W", "--keep-going", "-n", "-T")


def sphinx_command(out: str | Path, *options: str, python: str = sys.executable) -> list[str]:
    """``python -m sphinx`` with the flags, ``options`` (default ``-b html``),
    this folder as the source and ``out`` as the output folder."""
    return [python, "-m", "sphinx", *SPHINX_FLAGS, *(options or ("-b", "html")), str(DOCS), str(out)]


def main(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        print("usage: python docs/build_site.py OUT [SPHINX OPTIONS ...]", file=sys.stderr)
        return 2
    return subprocess.call(sphinx_command(argv[0], *argv[1:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
