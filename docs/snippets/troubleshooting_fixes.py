# SPDX-License-Identifier: Apache-2.0
"""The Troubleshooting page's code fixes; tests/test_troubleshooting.py runs them.

The page shows each region between ``docs_tag`` markers on its own, so every
region carries its own imports and uses each name it imports; pasted in page
order, the regions make one file that pyflakes accepts (the test checks both).
Where a fix needs the reader's data, the region makes a stand-in ``image``.
"""

from __future__ import annotations

from typing import Any


def upload_a_transposed_view() -> tuple[Any, Any]:
    # docs_tag: begin_make_contiguous
    import numpy as np

    from cuda_python_common import CudaBuffer, cuda_memcpy_h2d

    rng = np.random.default_rng()
    image = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)  # your HWC image
    view = image.transpose(1, 0, 2)  # a view: strides (3, 3 * width, 1) are not packed
    packed = np.ascontiguousarray(view)  # one host copy into row-major order
    device = CudaBuffer(packed.shape, packed.dtype)
    cuda_memcpy_h2d(packed, device)
    # docs_tag: end_make_contiguous
    return image, device


def wrap_host_data_for_cvcuda() -> tuple[Any, Any, Any]:
    # docs_tag: begin_upload_first
    import cvcuda
    import numpy as np

    from cuda_python_common import CudaBuffer, cuda_memcpy_h2d

    rng = np.random.default_rng()
    image = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)  # your HWC image
    device = CudaBuffer(image.shape, image.dtype)  # device memory CV-CUDA can wrap
    cuda_memcpy_h2d(image, device)
    tensor = cvcuda.as_tensor(device, "HWC")  # not cvcuda.as_tensor(image)
    # docs_tag: end_upload_first
    return image, device, tensor


def check_before_importing_cvcuda() -> str | None:
    # docs_tag: begin_check_driver
    from preflight import gpu_unavailable_reason  # next to the samples; stdlib only

    why = gpu_unavailable_reason("cvcuda")  # None: GPU, driver and CV-CUDA usable
    if why is not None:
        print(f"GPU path disabled: {why}")
    # docs_tag: end_check_driver
    return why


def import_cudart() -> tuple[Any, Any, int]:
    # docs_tag: begin_import_cudart
    try:
        from cuda.bindings import runtime as cudart  # cuda-python 12.6.1+ and 13.x
    except ImportError:  # cuda-python older than 12.6.1
        from cuda import cudart

    err, count = cudart.cudaGetDeviceCount()  # calls as with the old cuda.cudart
    # docs_tag: end_import_cudart
    return cudart, err, count


def driver_and_runtime_versions() -> tuple[int, int]:
    # docs_tag: begin_versions
    from cuda.bindings import runtime as cudart

    _, driver = cudart.cudaDriverGetVersion()  # 0 when no driver is installed
    _, runtime = cudart.cudaRuntimeGetVersion()  # the CUDA cuda-python is built for
    print(
        f"driver supports CUDA {driver // 1000}.{driver % 1000 // 10}, "
        f"cuda-python runtime is CUDA {runtime // 1000}.{runtime % 1000 // 10}"
    )
    if driver < runtime:
        print(f"install the cu{driver // 1000} wheels, or a newer driver")
    # docs_tag: end_versions
    return driver, runtime
