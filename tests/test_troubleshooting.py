# SPDX-License-Identifier: Apache-2.0
"""The Troubleshooting page's code fixes, run; and its code, read as one file."""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest
import troubleshooting_fixes as fixes  # docs/snippets, on pytest's pythonpath
from pyflakes.checker import Checker

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "troubleshooting.rst"
SNIPPETS = Path(fixes.__file__)
INCLUDE = re.compile(r"^\.\. literalinclude::[ \t]*(\S+)[ \t]*\n((?:[ \t]+:[\w-]+:.*\n?)*)", re.M)


def page_regions() -> list[tuple[str, str]]:
    """(start marker, code) of each snippet the page shows, in page order, as rendered."""
    regions = []
    for match in INCLUDE.finditer(PAGE.read_text(encoding="utf-8")):
        options = dict(re.findall(r":([\w-]+):[ \t]*(.*)", match.group(2)))
        lines = (PAGE.parent / match.group(1)).read_text(encoding="utf-8").splitlines()
        # Like Sphinx: the lines after the start-after line, before the end-before line.
        start = next(i for i, line in enumerate(lines) if options["start-after"] in line)
        end = next(i for i, line in enumerate(lines) if options["end-before"] in line)
        dedent = int(options.get("dedent", "0"))
        code = "\n".join(line[dedent:] for line in lines[start + 1 : end]) + "\n"
        regions.append((options["start-after"], code))
    return regions


def pyflakes_messages(code: str, name: str) -> list[str]:
    checker = Checker(ast.parse(code, name), name)
    messages = sorted(checker.messages, key=lambda m: (m.lineno, str(m)))
    return [f"line {m.lineno}: {m.message % m.message_args}" for m in messages]


REGIONS = page_regions()


def test_the_page_shows_every_fix_in_the_snippet_file_order() -> None:
    markers = [marker.removeprefix("docs_tag: begin_") for marker, _ in REGIONS]
    assert len(markers) >= 5 and len(set(markers)) == len(markers)
    in_file = re.findall(r"docs_tag: begin_(\w+)", SNIPPETS.read_text(encoding="utf-8"))
    assert markers == in_file, "the page and troubleshooting_fixes.py list the fixes in different orders"
    for _, code in REGIONS:
        assert code == textwrap.dedent(code), "a region is indented more than its :dedent: removes"


@pytest.mark.parametrize("marker,code", REGIONS, ids=[marker for marker, _ in REGIONS])
def test_each_snippet_carries_its_own_imports(marker: str, code: str) -> None:
    assert pyflakes_messages(code, marker) == []


def test_the_page_code_pasted_into_one_file_is_pyflakes_clean() -> None:
    page_code = "\n\n".join(code for _, code in REGIONS)
    assert pyflakes_messages(page_code, "troubleshooting.py") == []


def test_the_checker_catches_a_missing_import() -> None:
    assert pyflakes_messages("view = np.ascontiguousarray(image)\n", "bad.py") == [
        "line 1: undefined name 'image'",
        "line 1: undefined name 'np'",
    ]
    assert pyflakes_messages("import os\n", "bad.py") == ["line 1: 'os' imported but unused"]


def test_import_cudart_works_on_cuda_python_13() -> None:
    cudart, err, count = fixes.import_cudart()
    assert cudart.__name__ == "cuda.bindings.runtime" and hasattr(cudart, "cudaMemcpy")
    expected = cudart.cudaGetDeviceCount()  # what the runtime says here, GPU or not
    assert (err, count) == (expected[0], expected[1])
    assert count > 0 if err == cudart.cudaError_t.cudaSuccess else count is None


def test_the_transposed_view_is_refused_and_the_fix_uploads_its_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """On host memory standing in for the GPU's: the page's error, then its fix."""
    from cuda_fakes import FakeCuda

    from cuda_python_common import CudaBuffer, cuda_memcpy_d2h, cuda_memcpy_h2d

    FakeCuda(monkeypatch).allow_host_memory()
    image = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    with CudaBuffer((6, 4, 3)) as device, pytest.raises(ValueError, match="not C-contiguous"):
        cuda_memcpy_h2d(image.transpose(1, 0, 2), device)
    rotated, device = fixes.upload_a_transposed_view()
    back = np.empty((rotated.shape[1], rotated.shape[0], 3), np.uint8)
    cuda_memcpy_d2h(device, back)
    np.testing.assert_array_equal(back, rotated.transpose(1, 0, 2))
    device.close()


def test_driver_check_names_the_problem_or_passes(capsys: pytest.CaptureFixture[str]) -> None:
    from preflight import gpu_unavailable_reason

    why = fixes.check_before_importing_cvcuda()
    assert why == gpu_unavailable_reason("cvcuda")
    out = capsys.readouterr().out
    assert out == ("" if why is None else f"GPU path disabled: {why}\n")


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

    image, device = fixes.upload_a_transposed_view()
    height, width, channels = image.shape
    back = np.empty((width, height, channels), np.uint8)
    cuda_memcpy_d2h(device, back)
    np.testing.assert_array_equal(back, image.transpose(1, 0, 2))


@pytest.mark.gpu
def test_cvcuda_refuses_host_memory_and_the_fix_works() -> None:
    import cvcuda

    from cuda_python_common import cuda_memcpy_d2h

    with pytest.raises(Exception, match="CUDA-accessible"):
        cvcuda.as_tensor(np.zeros((40, 30, 3), np.uint8), "HWC")
    image, _device, tensor = fixes.wrap_host_data_for_cvcuda()
    back = np.empty_like(image)
    cuda_memcpy_d2h(tensor.cuda(), back)
    np.testing.assert_array_equal(back, image)


@pytest.mark.gpu
def test_cvcuda_refuses_unpacked_strides_as_the_page_says() -> None:
    import cvcuda
    from cuda_fakes import cai_object

    from cuda_python_common import CudaBuffer

    with CudaBuffer((8, 8, 3), np.uint8) as buffer:
        transposed = cai_object(**{**buffer.__cuda_array_interface__, "strides": (3, 24, 1)})
        view = CudaBuffer.from_cuda(transposed)
        with pytest.raises(Exception, match="packed"):
            cvcuda.as_tensor(view, "HWC")
