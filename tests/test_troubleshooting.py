# SPDX-License-Identifier: Apache-2.0
"""The Troubleshooting page's code fixes, run."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs" / "snippets"))

import troubleshooting_fixes as fixes  # noqa: E402


def test_import_cudart_works_on_cuda_python_13() -> None:
    cudart = fixes.import_cudart()
    assert hasattr(cudart, "cudaMemcpy")


def test_the_transposed_view_is_refused_and_the_fix_validates() -> None:
    import cuda_python_common as common

    image = np.zeros((4, 6, 3), np.uint8)
    fake = {"shape": (6, 4, 3), "typestr": "|u1", "data": (0x7F0000000000, False), "version": 3}
    with pytest.raises(ValueError, match="C-contiguous"):
        common.cuda_memcpy_h2d(image.transpose(1, 0, 2), fake)
    packed = np.ascontiguousarray(image.transpose(1, 0, 2))
    assert packed.flags.c_contiguous and packed.shape == (6, 4, 3)


def test_driver_check_names_the_problem_or_passes(capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import gpu_unavailable_reason

    why = fixes.check_before_importing_cvcuda()
    assert why == gpu_unavailable_reason()
    if why is not None:
        assert "GPU path disabled" in capsys.readouterr().out


def test_versions_are_reported(capsys: pytest.CaptureFixture[str]) -> None:
    driver, runtime = fixes.driver_and_runtime_versions()
    out = capsys.readouterr().out
    assert f"CUDA {runtime // 1000}." in out
    assert runtime >= 12000
    if driver < runtime:
        assert "install the cu" in out


@pytest.mark.gpu
def test_make_contiguous_fix_uploads_the_right_bytes() -> None:
    from cuda_python_common import cuda_memcpy_d2h

    image = np.random.default_rng(0).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    device = fixes.upload_a_transposed_view(image)
    back = np.empty((30, 40, 3), np.uint8)
    cuda_memcpy_d2h(device, back)
    np.testing.assert_array_equal(back, image.transpose(1, 0, 2))


@pytest.mark.gpu
def test_cvcuda_refuses_host_memory_and_the_fix_works() -> None:
    import cvcuda

    from cuda_python_common import cuda_memcpy_d2h

    image = np.random.default_rng(1).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    with pytest.raises(Exception, match="CUDA-accessible"):
        cvcuda.as_tensor(image, "HWC")
    tensor, _device = fixes.wrap_host_data_for_cvcuda(image)
    back = np.empty_like(image)
    cuda_memcpy_d2h(tensor.cuda(), back)
    np.testing.assert_array_equal(back, image)


@pytest.mark.gpu
def test_cvcuda_refuses_unpacked_strides_as_the_page_says() -> None:
    import cvcuda

    from cuda_python_common import CudaBuffer

    with CudaBuffer((8, 8, 3), np.uint8) as buffer:
        cai = {**buffer.__cuda_array_interface__, "strides": (3, 24, 1)}  # a transposed view
        view = CudaBuffer.from_cuda(cai)
        with pytest.raises(Exception, match="packed"):
            cvcuda.as_tensor(view, "HWC")
