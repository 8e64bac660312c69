# SPDX-License-Identifier: Apache-2.0
"""Code fixes quoted by the Troubleshooting page; tests/test_troubleshooting.py runs each one."""

from __future__ import annotations

import numpy as np


def import_cudart():
    # docs_tag: begin_import_cudart
    try:
        from cuda.bindings import runtime as cudart  # cuda-python 12.6.1+ and 13.x
    except ImportError:  # cuda-python older than 12.6.1
        from cuda import cudart
    # docs_tag: end_import_cudart
    return cudart


def check_before_importing_cvcuda() -> str | None:
    # docs_tag: begin_check_driver
    from cuda_python_common import gpu_unavailable_reason

    why = gpu_unavailable_reason("cvcuda")  # None when a GPU, its driver and CV-CUDA are usable
    if why is not None:
        print(f"GPU path disabled: {why}")
    # docs_tag: end_check_driver
    return why


def driver_and_runtime_versions() -> tuple[int, int]:
    # docs_tag: begin_versions
    from cuda.bindings import runtime as cudart

    _, driver = cudart.cudaDriverGetVersion()  # 0 when no driver is installed
    _, runtime = cudart.cudaRuntimeGetVersion()  # the CUDA version cuda-python was built for
    print(
        f"driver supports CUDA {driver // 1000}.{driver % 1000 // 10}, "
        f"cuda-python runtime is CUDA {runtime // 1000}.{runtime % 1000 // 10}"
    )
    if driver < runtime:
        print(f"install the cu{driver // 1000} wheels, or a newer driver")
    # docs_tag: end_versions
    return driver, runtime


def upload_a_transposed_view(image: np.ndarray):
    from cuda_python_common import CudaBuffer, cuda_memcpy_h2d

    # docs_tag: begin_make_contiguous
    view = image.transpose(1, 0, 2)  # a view: strides (3, 3 * width, 1) are not packed
    packed = np.ascontiguousarray(view)  # one host copy into row-major order
    device = CudaBuffer(packed.shape, packed.dtype)
    cuda_memcpy_h2d(packed, device)
    # docs_tag: end_make_contiguous
    return device


def wrap_host_data_for_cvcuda(image: np.ndarray):
    import cvcuda

    from cuda_python_common import CudaBuffer, cuda_memcpy_h2d

    # docs_tag: begin_upload_first
    device = CudaBuffer(image.shape, image.dtype)  # device memory CV-CUDA can wrap
    cuda_memcpy_h2d(image, device)
    tensor = cvcuda.as_tensor(device, "HWC")  # not cvcuda.as_tensor(image)
    # docs_tag: end_upload_first
    return tensor, device
