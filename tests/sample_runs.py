# SPDX-License-Identifier: Apache-2.0
"""Running a sample: the one way the tests do it.

:func:`run_sample` runs ``python samples/interoperability/<name>.py`` as users
run it: a new process, from the folder the test chooses. With
``in_process=True`` it runs the sample's code in this process instead, as
sphinx-gallery does, and keeps the names the sample defined, so that a test can
call the sample's own functions once the sample has checked itself.
"""

from __future__ import annotations

import contextlib
import io
import os
import runpy
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class SampleRun:
    """What a sample run left: its exit status and output, and (in process) its names."""

    returncode: int
    stdout: str
    stderr: str
    names: dict[str, Any] = field(default_factory=dict)


def run_sample(path: Path, cwd: Path | None = None, *, in_process: bool = False, **env: str) -> SampleRun:
    """Run the sample ``path`` from folder ``cwd`` with this interpreter, the
    variables ``env`` added to ours."""
    if not in_process:
        proc = subprocess.run(
            [sys.executable, str(path)],
            cwd=cwd,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=600,
        )
        return SampleRun(proc.returncode, proc.stdout, proc.stderr)
    out, err = io.StringIO(), io.StringIO()
    with _as_a_script(path, cwd, env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            names = runpy.run_path(str(path), run_name="__main__")
        except SystemExit as exc:  # what the sample would exit with
            code = exc.code if isinstance(exc.code, int) else 1
            return SampleRun(code, out.getvalue(), err.getvalue())
    return SampleRun(0, out.getvalue(), err.getvalue(), names)


@contextlib.contextmanager
def _as_a_script(path: Path, cwd: Path | None, env: dict[str, str]) -> Iterator[None]:
    """For the block: ``sys.argv`` as ``python <path>`` sets it, the folder ``cwd``
    and the variables ``env``; each put back after."""
    saved_argv, saved_cwd = sys.argv, os.getcwd()
    saved_env = {name: os.environ.get(name) for name in env}
    sys.argv = [str(path)]
    os.environ.update(env)
    try:
        if cwd is not None:
            os.chdir(cwd)
        yield
    finally:
        sys.argv = saved_argv
        os.chdir(saved_cwd)
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
