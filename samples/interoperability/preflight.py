# SPDX-License-Identifier: Apache-2.0
"""Can a sample run here? The samples' preflight, and the list of the samples.

Standard library only: a sample calls :func:`require_gpu` before it imports
numpy, cuda-python or CV-CUDA, so a missing package, driver or GPU gets one
line that says what to install, and exit status :data:`EXIT_GPU_UNAVAILABLE`,
never a traceback. nox, the tests, the docs and the benchmark read the sample
list and the exit status from here.
"""

from __future__ import annotations

import importlib
import os
import sys

__all__ = [
    "EXIT_GPU_UNAVAILABLE",
    "SAMPLES",
    "SAMPLE_MODULES",
    "gpu_unavailable_reason",
    "require_gpu",
]

#: Exit status of a sample that could not run because no GPU, driver or
#: package it needs is usable (distinct from 1, which means the sample failed).
EXIT_GPU_UNAVAILABLE = 3

#: The samples, in the gallery's reading order: the three approaches first.
SAMPLES = (
    "cuda_python_interop_1.py",
    "cuda_python_interop_2.py",
    "cuda_python_interop_3.py",
    "cuda_python_strides.py",
    "cuda_core_interop.py",
    "cuda_python_kernel.py",
    "dlpack_interop.py",
    "pytorch_interop.py",
    "cupy_interop.py",
    "nvimagecodec_interop.py",
    "jpeg_batch_pipeline.py",
)

#: The modules the samples import from their folder: a sample downloaded alone
#: needs them beside it, and each sample's zip download holds them.
SAMPLE_MODULES = ("cuda_python_common.py", "preflight.py", "sample_images.py")

_INSTALL = 'pip install -e ".[cu13]" (CUDA 13 driver) or ".[cu12]" (CUDA 12 driver)'
#: What each importable name ships in, for the "install ..." line.
_PACKAGES = {
    "numpy": "numpy",
    "cuda.bindings": "cuda-python",
    "cuda.core": "cuda-core",
    "cvcuda": "cvcuda-cu13 or cvcuda-cu12",
    "matplotlib": "matplotlib",
    "torch": "torch, a CUDA build from pytorch.org",
    "cupy": "cupy-cuda13x or cupy-cuda12x",
    "nvidia.nvimgcodec": "nvidia-nvimgcodec-cu13 or -cu12",
}


def _cuda_version(version: int) -> str:
    return f"{version // 1000}.{version % 1000 // 10}"


def _missing(module: str) -> str | None:
    """One line when ``module`` does not import, else None."""
    try:
        importlib.import_module(module)
    except Exception as exc:  # not installed, libcuda.so.1 missing, or a failing init
        package = _PACKAGES.get(module, module)
        if isinstance(exc, ModuleNotFoundError) and module.startswith(exc.name or "?"):
            return (
                f"cannot import {module}: not installed (package {package}); {_INSTALL}"
            )
        return f"cannot import {module}: {type(exc).__name__}: {exc}"
    return None


def gpu_unavailable_reason(*modules: str) -> str | None:
    """None when numpy, cuda-python, a CUDA device and each named module are
    usable; else one line that says what is missing and how to get it."""
    for module in ("numpy", "cuda.bindings"):
        why = _missing(module)
        if why is not None:
            return why
    from cuda.bindings import runtime as cudart

    err, count = cudart.cudaGetDeviceCount()
    if err == cudart.cudaError_t.cudaErrorInsufficientDriver:
        _, driver = cudart.cudaDriverGetVersion()  # 0 when no driver is installed
        if not driver:
            return (
                "no NVIDIA driver found "
                "(cudaGetDeviceCount: cudaErrorInsufficientDriver)"
            )
        _, runtime = cudart.cudaRuntimeGetVersion()
        return (
            f"the NVIDIA driver supports CUDA {_cuda_version(driver)} but cuda-python "
            f"here is built for CUDA {_cuda_version(runtime)}: install the "
            f"cu{driver // 1000} wheels or a newer driver (cudaErrorInsufficientDriver)"
        )
    if err != cudart.cudaError_t.cudaSuccess:
        status, name = cudart.cudaGetErrorName(err)
        name = name.decode() if status == cudart.cudaError_t.cudaSuccess else str(err)
        return f"no usable CUDA device (cudaGetDeviceCount failed: {name})"
    if not count:
        return "no CUDA device visible (cudaGetDeviceCount returned 0)"
    for module in modules:
        why = _missing(module)
        if why is not None:
            return why
    return None


def require_gpu(*modules: str) -> None:
    """Exit with one line on stderr, and :data:`EXIT_GPU_UNAVAILABLE`, when the
    sample cannot run here: ``<sample>: cannot run: <why>``."""
    why = gpu_unavailable_reason(*modules)
    if why is not None:
        sample = os.path.basename(sys.argv[0]) or "sample"
        print(f"{sample}: cannot run: {why}", file=sys.stderr)
        raise SystemExit(EXIT_GPU_UNAVAILABLE)
