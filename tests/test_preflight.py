# SPDX-License-Identifier: Apache-2.0
"""The samples' preflight (``preflight.py``): one line and exit status 3 when a
sample cannot run here, whatever is missing, and nothing when it can."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from cuda.bindings import runtime as cudart
from cuda_fakes import FakeCuda
from sample_runs import run_sample

from preflight import EXIT_GPU_UNAVAILABLE, SAMPLES, gpu_unavailable_reason, require_gpu

Err = cudart.cudaError_t
SUCCESS = Err.cudaSuccess
REAL_DEVICE_COUNT = cudart.cudaGetDeviceCount()
REAL_ERROR_NAME = cudart.cudaGetErrorName  # before any test fakes it
NO_DRIVER_HERE = REAL_DEVICE_COUNT[0] == Err.cudaErrorInsufficientDriver
ROOT = Path(__file__).resolve().parents[1]
SAMPLES_DIR = ROOT / "samples" / "interoperability"


@pytest.fixture
def cuda(monkeypatch: pytest.MonkeyPatch) -> FakeCuda:
    return FakeCuda(monkeypatch)


# --------------------------------------------------------------------------- #
# gpu_unavailable_reason / require_gpu                                       #
# --------------------------------------------------------------------------- #
@pytest.mark.skipif(not NO_DRIVER_HERE, reason="this machine has an NVIDIA driver")
def test_gpu_unavailable_reason_on_this_machine_names_the_driver() -> None:
    why = gpu_unavailable_reason()
    assert isinstance(why, str)
    assert "driver" in why and "cudaErrorInsufficientDriver" in why
    assert "\n" not in why
    assert gpu_unavailable_reason("cvcuda") == why  # the driver is reported before any module


@pytest.mark.parametrize(
    ("count", "modules", "expected"),
    [
        pytest.param((Err.cudaErrorInsufficientDriver, 0), (), "no NVIDIA driver found", id="no-driver"),
        pytest.param((Err.cudaErrorNoDevice, 0), (), "no usable CUDA device", id="no-device-error"),
        pytest.param((SUCCESS, 0), (), "no CUDA device visible (cudaGetDeviceCount returned 0)", id="zero-devices"),
        pytest.param(
            (SUCCESS, 1), ("no_such_module_for_tests",), "cannot import no_such_module_for_tests", id="module"
        ),
        pytest.param((SUCCESS, 2), ("math", "json"), None, id="usable"),
    ],
)
def test_gpu_unavailable_reason_branches(cuda: FakeCuda, count: tuple, modules: tuple, expected: str | None) -> None:
    cuda.allow("cudaGetDeviceCount", lambda: count)
    cuda.allow("cudaDriverGetVersion", lambda: (SUCCESS, 0))  # no driver at all
    cuda.allow("cudaGetErrorName", REAL_ERROR_NAME)  # the line names the error
    why = gpu_unavailable_reason(*modules)
    if expected is None:
        assert why is None
    else:
        assert expected in why and "\n" not in why
    if count[0] == Err.cudaErrorNoDevice:
        assert "cudaErrorNoDevice" in why


@pytest.mark.skipif(not NO_DRIVER_HERE, reason="this machine has an NVIDIA driver")
def test_require_gpu_on_this_machine_exits_with_one_line(capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", ["/somewhere/samples/cuda_python_interop_1.py", "--flag"])
    with pytest.raises(SystemExit) as info:
        require_gpu("cvcuda")
    assert info.value.code == EXIT_GPU_UNAVAILABLE == 3
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.endswith("\n")
    assert err == f"cuda_python_interop_1.py: cannot run: {gpu_unavailable_reason()}\n"


@pytest.mark.parametrize("argv0", ["", "/abs/path/sample.py", "sample.py"], ids=["empty-argv0", "path", "bare"])
def test_require_gpu_exits_with_one_line_without_driver(cuda: FakeCuda, capsys, monkeypatch, argv0: str) -> None:
    cuda.allow("cudaGetDeviceCount", lambda: (Err.cudaErrorInsufficientDriver, 0))
    cuda.allow("cudaDriverGetVersion", lambda: (SUCCESS, 0))
    monkeypatch.setattr(sys, "argv", [argv0])
    with pytest.raises(SystemExit) as info:
        require_gpu()
    assert info.value.code == EXIT_GPU_UNAVAILABLE
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n")
    name = argv0.rsplit("/", 1)[-1] or "sample"
    assert lines[0] == f"{name}: cannot run: no NVIDIA driver found (cudaGetDeviceCount: cudaErrorInsufficientDriver)"


def test_an_old_driver_is_told_apart_from_a_missing_one(cuda: FakeCuda) -> None:
    """cu13 wheels on a CUDA 12 driver: the same error code, but the message says what to install."""
    cuda.allow("cudaGetDeviceCount", lambda: (Err.cudaErrorInsufficientDriver, 0))
    cuda.allow("cudaDriverGetVersion", lambda: (SUCCESS, 12080))
    cuda.allow("cudaRuntimeGetVersion", lambda: (SUCCESS, 13000))
    why = gpu_unavailable_reason("cvcuda")
    assert why.startswith("the NVIDIA driver supports CUDA 12.8 but cuda-python here is built for CUDA 13.0")
    assert "install the cu12 wheels" in why


def test_require_gpu_passes_silently_when_usable(cuda: FakeCuda, capsys) -> None:
    cuda.allow("cudaGetDeviceCount", lambda: (SUCCESS, 1))
    assert require_gpu("math") is None
    assert capsys.readouterr() == ("", "")


def test_require_gpu_names_a_missing_module(cuda: FakeCuda, capsys) -> None:
    cuda.allow("cudaGetDeviceCount", lambda: (SUCCESS, 1))
    with pytest.raises(SystemExit) as info:
        require_gpu("no_such_module_for_tests")
    assert info.value.code == EXIT_GPU_UNAVAILABLE
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "cannot import no_such_module_for_tests" in err


# --------------------------------------------------------------------------- #
# A sample run where a package is missing                                     #
# --------------------------------------------------------------------------- #
#: Stand-ins that make a package look uninstalled: each raises what Python
#: raises for a missing module, so the preflight must run before that import.
MISSING = {
    "numpy": {"numpy.py": "raise ModuleNotFoundError(\"No module named 'numpy'\", name='numpy')\n"},
    "cuda.bindings": {"cuda/__init__.py": ""},  # a plain package without bindings
}


@pytest.mark.parametrize("module", sorted(MISSING))
@pytest.mark.parametrize("sample", SAMPLES[:2] + SAMPLES[-1:])
def test_a_sample_without_a_package_names_what_to_install(module: str, sample: str, tmp_path: Path) -> None:
    for relative, text in MISSING[module].items():
        path = tmp_path / "shadow" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    proc = run_sample(SAMPLES_DIR / sample, cwd=tmp_path, PYTHONPATH=str(tmp_path / "shadow"))
    assert proc.returncode == EXIT_GPU_UNAVAILABLE, proc.stdout + proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"{sample}: cannot run: cannot import {module}: not installed")
    assert 'pip install -e ".[cu13]"' in line and '".[cu12]"' in line


def test_a_missing_module_is_told_apart_from_a_broken_one(
    cuda: FakeCuda, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "broken_module_for_tests.py"
    broken.write_text("raise ImportError('libcuda.so.1: cannot open shared object file')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    cuda.allow("cudaGetDeviceCount", lambda: (SUCCESS, 1))
    why = gpu_unavailable_reason("broken_module_for_tests")
    assert why == ("cannot import broken_module_for_tests: ImportError: libcuda.so.1: cannot open shared object file")
    assert "not installed" in gpu_unavailable_reason("no_such_module_for_tests")
