# SPDX-License-Identifier: Apache-2.0
"""The switches a runner sets in the environment, read one way everywhere.

``REQUIRE_GPU=1`` (also ``true`` or ``yes``, any case) says that this runner
has a GPU and must not pass by skipping: conftest.py fails a GPU test that
would skip, and ``nox -s samples``, ``sanitize`` and ``gpu`` fail where a
sample could not run. Standard library only: nox loads this file by path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

ON = frozenset({"1", "true", "yes"})


def switched_on(name: str, env: Mapping[str, str] | None = None) -> bool:
    """Whether the variable ``name`` of ``env`` (default: this process's) is on."""
    return (os.environ if env is None else env).get(name, "").strip().lower() in ON


def require_gpu(env: Mapping[str, str] | None = None) -> bool:
    """Whether ``REQUIRE_GPU`` asks for every GPU test and sample to run."""
    return switched_on("REQUIRE_GPU", env)
