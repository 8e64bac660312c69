# SPDX-License-Identifier: Apache-2.0
"""Running a sample the way users run it: ``python samples/interoperability/<name>.py``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_sample(path: Path, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``path`` from folder ``cwd`` with this interpreter, ``env`` added to ours."""
    return subprocess.run(
        [sys.executable, str(path)], cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, timeout=600
    )
