# SPDX-License-Identifier: Apache-2.0
"""Project-wide pytest configuration.

* Tests import the samples' modules (``cuda_python_common``, ``preflight``)
  exactly as the samples do: ``pythonpath`` in pyproject.toml puts their
  folder on ``sys.path``, and the workshop's (``docs``, ``docs/performance``,
  ``tests``).
* Registers the ``gpu`` marker. A ``gpu`` test runs only where a CUDA device,
  its driver and CV-CUDA are usable; elsewhere it is skipped with the reason.
  ``REQUIRE_GPU=1`` turns those skips into failures, so that a GPU runner can
  never pass by skipping (tests/switches.py).
"""

from __future__ import annotations

import functools
import os
import subprocess
import time
from pathlib import Path

import pytest
from build_site import sphinx_command
from switches import require_gpu

ROOT = Path(__file__).resolve().parent


@functools.cache
def gpu_unavailable_reason() -> str | None:
    """Why GPU tests cannot run here, or ``None`` when they can."""
    from preflight import gpu_unavailable_reason as reason

    return reason("cvcuda")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "gpu: needs a CUDA device, its driver and CV-CUDA")
    config.addinivalue_line("markers", "browser: drives headless Chromium against the built site")


def pytest_report_header(config: pytest.Config) -> str:
    why = gpu_unavailable_reason()
    state = "usable" if why is None else f"not usable ({why})"
    return f"GPU: {state}; REQUIRE_GPU={'on' if require_gpu() else 'off'}"


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("gpu") is None:
        return
    why = gpu_unavailable_reason()
    if why is None:
        return
    if require_gpu():
        pytest.fail(f"REQUIRE_GPU is set but the GPU is not usable: {why}", pytrace=False)
    pytest.skip(f"no usable GPU: {why}")


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The HTML site, built once per test session as every build is (docs/build_site.py).

    ``DOCS_HTML_DIR`` reuses a site built elsewhere (e.g. by ``nox -s docs``).
    The gallery is not executed here unless ``GALLERY_EXECUTE`` says so; the
    ``gpu`` nox session builds the executed site separately.
    """
    reuse = os.environ.get("DOCS_HTML_DIR")
    if reuse:
        return Path(reuse)
    out = tmp_path_factory.mktemp("site") / "html"
    env = {**os.environ, "GALLERY_EXECUTE": os.environ.get("GALLERY_EXECUTE", "0")}
    cmd = sphinx_command(out, "-q", "-b", "html")
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    seconds = time.perf_counter() - start
    print(f"\nsite built in {seconds:.1f} s (exit {proc.returncode})")
    if proc.returncode != 0:
        pytest.fail(
            f"sphinx-build failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}",
            pytrace=False,
        )
    return out
