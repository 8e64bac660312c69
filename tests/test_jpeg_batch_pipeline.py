# SPDX-License-Identifier: Apache-2.0
"""The JPEG batch pipeline's parts that run without a GPU.

* The sample (``jpeg_batch_pipeline.py``), loaded without running it the way
  the benchmark loads it (``bench_pipeline.load_sample``): the JPEG files it
  makes, the header check that refuses bad input before the GPU sees it, the
  sizes and crop shared with the CPU reference, and the reference itself.
* The sample without a GPU or a package: one line, exit status 3.
* The benchmark's pure parts (``bench_pipeline.py``): the batches, the rates
  and ratios, the results block written beside the others, the Pillow workers,
  and its one line and exit status 3 without a GPU.
"""

from __future__ import annotations

import io
import json
import math
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import bench_pipeline
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, JpegImagePlugin
from sample_runs import run_sample

from preflight import EXIT_GPU_UNAVAILABLE

ROOT = Path(__file__).resolve().parents[1]
SAMPLES_DIR = ROOT / "samples" / "interoperability"
SAMPLE = SAMPLES_DIR / "jpeg_batch_pipeline.py"
BENCH = ROOT / "docs" / "performance" / "bench_pipeline.py"


@pytest.fixture(scope="module")
def defs() -> Any:
    """The sample's constants, functions and classes; its GPU libraries not imported."""
    return bench_pipeline.load_sample(gpu=False)


@pytest.fixture(scope="module")
def jpegs(defs: Any) -> list[bytes]:
    return defs.make_jpegs(32)


def jpeg(pixels: np.ndarray | Image.Image, **options: Any) -> bytes:
    picture = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels)
    file = io.BytesIO()
    picture.save(file, "JPEG", **options)
    return file.getvalue()


def decoded(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as opened:
        opened.load()
        return opened


# --------------------------------------------------------------------------- #
# The JPEG files the sample makes                                              #
# --------------------------------------------------------------------------- #
def test_the_loader_defines_without_running_the_sample(defs: Any) -> None:
    for name in ("make_jpegs", "jpeg_shape", "reference_batch", "ToModelBatch", "CROP"):
        assert hasattr(defs, name), name
    assert not hasattr(defs, "jpegs") and not hasattr(defs, "batch")  # top-level code
    assert not hasattr(defs, "torch") and not hasattr(defs, "cvcuda")  # GPU libraries


def test_made_jpegs_are_the_same_for_a_seed_and_differ_between_seeds(defs: Any) -> None:
    assert defs.make_jpegs(4, seed=3) == defs.make_jpegs(4, seed=3)
    assert defs.make_jpegs(4, seed=3) != defs.make_jpegs(4, seed=4)


def test_made_jpegs_look_like_imagenet(jpegs: list[bytes]) -> None:
    pictures = [decoded(data) for data in jpegs]
    sizes = [picture.size for picture in pictures]
    assert all(picture.mode == "RGB" for picture in pictures)
    assert all(224 <= side <= 640 for size in sizes for side in size), sizes
    assert len(set(sizes)) > len(sizes) // 2  # sizes vary
    assert any(w > h for w, h in sizes) and any(w < h for w, h in sizes)  # both ways
    sampling = [JpegImagePlugin.get_sampling(picture) for picture in pictures]
    assert sampling.count(0) == len(jpegs) // 4 and sampling.count(2) == len(jpegs) * 3 // 4
    assert len(set(jpegs)) == len(jpegs)


# --------------------------------------------------------------------------- #
# The header check                                                             #
# --------------------------------------------------------------------------- #
def test_jpeg_shape_reads_what_pillow_reads(defs: Any, jpegs: list[bytes]) -> None:
    for index, data in enumerate(jpegs):
        width, height = decoded(data).size
        assert defs.jpeg_shape(data, index) == (height, width, 3)
    photo = defs.photo()
    assert defs.jpeg_shape(jpeg(photo, progressive=True), 0) == (*photo.shape[:2], 3)
    grey = jpeg(photo[..., 0])
    assert defs.jpeg_shape(grey, 0) == (*photo.shape[:2], 1)
    assert defs.jpeg_shape(grey + bytes(16), 0)[2] == 1  # bytes after the end marker


def with_app1(data: bytes, payload: bytes) -> bytes:
    """``data`` with an APP1 segment of ``payload`` right after its start marker."""
    segment = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    return data[:2] + segment + data[2:]


def bad_files(defs: Any, good: bytes) -> dict[str, tuple[bytes, str]]:
    """Bad files, each with a word its error must contain."""
    photo = Image.fromarray(defs.photo())
    wrong_length = bytearray(good)
    wrong_length[4:6] = (len(good)).to_bytes(2, "big")  # the first segment runs off the end
    thumbnail_end = with_app1(good, b"Exif\x00\x00" + b"\xff\xd9" * 4)  # an end marker early
    return {
        "cut in half": (good[: len(good) // 2], "truncated"),
        "cut in the header": (good[:120], "truncated"),
        "cut after an early end marker": (thumbnail_end[: len(thumbnail_end) // 2], "truncated"),
        "a GIF": (b"GIF89a" + bytes(200), "not a JPEG"),
        "empty": (b"", "not a JPEG"),
        "a wrong segment length": (bytes(wrong_length), "truncated"),
        "garbage after the start marker": (b"\xff\xd8\xff\xe0\x00\x10" + bytes(50), "corrupt"),
        "CMYK": (jpeg(photo.convert("CMYK")), "CMYK"),
        "no frame header": (good[:2] + b"\xff\xda\x00\x08" + bytes(20), "corrupt"),
    }


def test_bad_files_get_an_error_that_names_the_image_and_the_problem(defs: Any, jpegs: list[bytes]) -> None:
    for what, (data, word) in bad_files(defs, jpegs[0]).items():
        with pytest.raises(ValueError, match=rf"^image 7: .*{word}") as info:
            defs.jpeg_shape(data, 7)
        assert "\n" not in str(info.value), what


@pytest.mark.parametrize("data", ["photo.jpg", bytearray(b"\xff\xd8"), None], ids=["str", "bytearray", "None"])
def test_anything_but_bytes_is_a_type_error(defs: Any, data: Any) -> None:
    with pytest.raises(TypeError, match=r"^image 2: expected bytes, got "):
        defs.jpeg_shape(data, 2)


# --------------------------------------------------------------------------- #
# Sizes and crop                                                               #
# --------------------------------------------------------------------------- #
@given(st.integers(1, 10_000), st.integers(1, 10_000))
def test_resized_size_is_torchvisions_resize_256(defs: Any, height: int, width: int) -> None:
    new_height, new_width = defs.resized_size(height, width)
    short, long = sorted((height, width))
    expected_long = int(defs.SHORTER_SIDE * long / short)  # torchvision's formula
    if height <= width:
        assert (new_height, new_width) == (defs.SHORTER_SIDE, expected_long)
    else:
        assert (new_height, new_width) == (expected_long, defs.SHORTER_SIDE)


@given(st.integers(224, 10_000))
def test_crop_origin_rounds_half_up_like_dali(defs: Any, length: int) -> None:
    origin = defs.crop_origin(length)
    spare = length - defs.CROP
    assert origin == math.floor(0.5 * spare + 0.5)  # DALI: roundf(0.5 * spare)
    assert origin >= 0 and origin + defs.CROP <= length
    assert abs(2 * origin - spare) <= 1  # centred


# --------------------------------------------------------------------------- #
# The CPU reference                                                            #
# --------------------------------------------------------------------------- #
def test_reference_of_a_plain_colour_is_its_normalised_value(defs: Any) -> None:
    colour = np.array([200, 100, 50], np.uint8)
    data = jpeg(np.broadcast_to(colour, (300, 400, 3)).copy(), quality=100, subsampling=0)
    batch = defs.reference_batch([data, data])
    assert batch.shape == (2, 3, defs.CROP, defs.CROP) and batch.dtype == np.float16
    expected = (colour - 255 * np.array(defs.MEAN)) / (255 * np.array(defs.STD))
    level = 1 / (255 * np.array(defs.STD))  # one grey level, per channel
    assert np.all(np.abs(batch - expected[:, None, None]) <= 1.5 * level[:, None, None])


@pytest.mark.parametrize(("height", "width"), [(256, 301), (301, 256)])
def test_reference_cuts_out_the_centre(defs: Any, height: int, width: int) -> None:
    """A bright line 10 pixels into where the crop should start (the shorter side
    is 256: no resize) is 10 pixels into the crop, in the right channel layout."""
    start = 39  # (301 - 224) / 2 = 38.5: rounded up, as DALI rounds it
    pixels = np.full((height, width, 3), 100, np.uint8)
    if width > height:
        pixels[:, start + 10] = 250
    else:
        pixels[start + 10, :] = 250
    levels = defs.grey_levels(defs.reference_batch([jpeg(pixels, quality=100, subsampling=0)]))[0]
    assert levels.shape == (defs.CROP, defs.CROP, 3)
    line = levels[5, :, 0] if width > height else levels[:, 5, 0]
    assert int(np.argmax(line)) == 10 and line[10] > 200 > line[9], line[8:13]


def test_grey_levels_undo_normalise(defs: Any) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (2, defs.CROP, defs.CROP, 3), dtype=np.uint8)
    back = defs.grey_levels(defs.normalise(pixels))
    assert back.shape == pixels.shape
    assert np.abs(back - pixels).max() < 0.6  # a float16 step is up to 0.14 levels here


def test_a_greyscale_file_gives_equal_channels(defs: Any) -> None:
    levels = defs.grey_levels(defs.reference_batch([jpeg(defs.photo()[..., 1])]))
    assert np.abs(levels - levels[..., :1]).max() < 0.6


def test_the_reference_refuses_what_the_pipeline_refuses(defs: Any, jpegs: list[bytes]) -> None:
    with pytest.raises(ValueError, match=r"^empty batch"):
        defs.reference_batch([])
    with pytest.raises(ValueError, match=r"^image 1: truncated"):
        defs.reference_batch([jpegs[0], jpegs[1][:-100]])


def test_the_tolerance_is_what_the_sample_says(defs: Any) -> None:
    """0.15 is about 8 grey levels, 0.02 about 1, at ImageNet's smallest std."""
    level = 1 / (255 * min(defs.STD))
    assert 8 <= defs.TOLERANCE_MAX / level <= 9 and 1 <= defs.TOLERANCE_MEAN / level <= 1.3


# --------------------------------------------------------------------------- #
# The sample where it cannot run                                               #
# --------------------------------------------------------------------------- #
#: Started before the sample (Python imports ``sitecustomize`` from the path):
#: a device that the runtime reports, so that the preflight goes on to the
#: packages. None is needed: nothing reaches the GPU before the preflight decides.
WITH_A_DEVICE = """
from cuda.bindings import runtime
runtime.cudaGetDeviceCount = lambda: (runtime.cudaError_t.cudaSuccess, 1)
"""


@pytest.mark.parametrize("missing", ["torch", "nvidia.nvimgcodec"])
def test_a_missing_package_is_named_in_one_line(missing: str, tmp_path: Path) -> None:
    shadow = tmp_path / "shadow"
    (shadow / "nvidia").mkdir(parents=True)
    (shadow / "sitecustomize.py").write_text(WITH_A_DEVICE)
    (shadow / "cvcuda.py").write_text("")  # imports: the check goes on to the next
    (shadow / "nvidia" / "__init__.py").write_text("")  # hides any installed nvidia.*
    if missing == "torch":
        (shadow / "nvidia" / "nvimgcodec.py").write_text("")
        (shadow / "torch.py").write_text("raise ModuleNotFoundError(\"No module named 'torch'\", name='torch')\n")
    rest = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]  # staged wheels
    proc = run_sample(SAMPLE, cwd=tmp_path, PYTHONPATH=os.pathsep.join([str(shadow), *rest]))
    assert proc.returncode == EXIT_GPU_UNAVAILABLE, proc.stdout + proc.stderr
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"jpeg_batch_pipeline.py: cannot run: cannot import {missing}: not installed"), line


# --------------------------------------------------------------------------- #
# The benchmark's pure parts                                                   #
# --------------------------------------------------------------------------- #
def test_batches_take_the_next_files_and_go_round() -> None:
    files = [bytes([i]) for i in range(8)]
    assert bench_pipeline.batch_of(files, 0, 3) == files[:3]
    assert bench_pipeline.batch_of(files, 1, 3) == files[3:6]
    assert bench_pipeline.batch_of(files, 2, 3) == [files[6], files[7], files[0]]
    assert bench_pipeline.batch_of(files, 5, 4) == files[4:]


def test_rates_and_ratios_to_dali() -> None:
    assert bench_pipeline.rates([2.0, 1.0, 4.0], 100) == {
        "images_per_s": 50.0,
        "images_per_s_min": 25.0,
        "images_per_s_max": 100.0,
    }
    paths = [
        {"path": "cvcuda", "rows": [{"batch": 1, "images_per_s": 300.0}, {"batch": 32, "images_per_s": 900.0}]},
        {"path": "dali", "rows": [{"batch": 1, "images_per_s": 200.0}]},
        {"path": "pillow", "rows": []},
    ]
    bench_pipeline.add_ratios(paths)
    assert [r["ratio_to_dali"] for r in paths[0]["rows"]] == [1.5, None]  # no DALI at 32
    assert paths[1]["rows"][0]["ratio_to_dali"] == 1.0


def test_the_block_is_written_beside_the_others(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    out.write_text(json.dumps({"schema": 2, "decode": {"paths": [1]}, "pipeline": {"old": True}}))
    bench_pipeline.write_block({"paths": [], "skipped": None}, out)
    doc = json.loads(out.read_text())
    assert doc == {"schema": 2, "decode": {"paths": [1]}, "pipeline": {"paths": [], "skipped": None}}
    fresh = bench_pipeline.write_block(bench_pipeline.stub("why")["pipeline"], tmp_path / "new.json")
    assert json.loads(fresh.read_text()) == {"pipeline": {"skipped": "why", "paths": [], "stages": None}}


def test_the_console_table_marks_what_was_not_verified() -> None:
    value = {
        "paths": [
            {"label": "A", "skipped": None, "rows": [{"batch": 1, "images_per_s": 1234.5, "verified": True}]},
            {"label": "B", "skipped": None, "rows": [{"batch": 1, "images_per_s": 10.0, "verified": False}]},
            {"label": "C", "skipped": "ModuleNotFoundError: no DALI", "rows": []},
        ]
    }
    lines = bench_pipeline.format_block(value).splitlines()
    assert "1,234/s" in lines[0] and "!" not in lines[0]
    assert lines[1].endswith("!") and "no DALI" in lines[2]


def test_pillow_workers_run_the_samples_reference_steps(defs: Any, jpegs: list[bytes]) -> None:
    with multiprocessing.get_context("spawn").Pool(2, bench_pipeline._start_worker) as pool:
        crops = pool.map(bench_pipeline._reference_pixels, jpegs[:3])
    for crop, data in zip(crops, jpegs[:3], strict=True):
        np.testing.assert_array_equal(crop, defs.reference_pixels(data))


@pytest.mark.parametrize("samples_on_path", [True, False], ids=["no-gpu", "no-preflight"])
def test_the_benchmark_without_a_gpu_says_why_in_one_line(samples_on_path: bool, tmp_path: Path) -> None:
    from preflight import gpu_unavailable_reason

    if samples_on_path and gpu_unavailable_reason("cvcuda", "nvidia.nvimgcodec", "torch") is None:
        pytest.skip("the benchmark can run here (tests/test_gpu_jpeg_batch_pipeline.py runs it)")
    kept = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]  # staged wheels
    kept = [p for p in kept if Path(p).resolve() != SAMPLES_DIR.resolve()]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(kept + [str(SAMPLES_DIR)] * samples_on_path)}
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--out", str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == EXIT_GPU_UNAVAILABLE, proc.stdout + proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith("bench_pipeline.py: cannot run: ")
    assert ("preflight" in line) != samples_on_path, line
    assert not out.exists()
