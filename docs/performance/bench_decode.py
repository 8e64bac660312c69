# SPDX-License-Identifier: Apache-2.0
"""The benchmark's decode part: JPEG bytes to a CV-CUDA tensor, on the GPU
against the host path (``bench.py decode``; skipped with the reason where
nvImageCodec or CV-CUDA is missing).

matplotlib's sample photo (``grace_hopper.jpg``, 600x512) decoded by
nvImageCodec on the GPU and wrapped by ``cvcuda.as_tensor``, one image per call
and a batch of 8 per call, against the host path of the other samples:
Pillow's decode, then a copy up (into pinned memory and ``cuda_memcpy_h2d``
with ``stream=``, or the pageable array and a blocking copy) and
``cvcuda.as_tensor``. Per path: ms per image and images/s (median, interleaved,
until the stream is synchronized); each path's output checked against Pillow's
pixels. And the one-time cost of the first ``Decoder()`` and decode. A host
path without Pillow is skipped alone.

The ``decode`` block of ``results.json``: ``image``, ``shape``, ``jpeg_bytes``,
``batch`` (images per batch call), ``timer``, ``reps``, ``warmup``,
``import_ms`` (``import nvidia.nvimgcodec``), ``init_ms`` (first ``Decoder()``
and its first decode, stream synchronized), ``nvimgcodec`` and ``pillow``
(versions), ``paths`` (rows of ``kind`` "gpu" or "host", ``path``,
``images_per_call``, ``ms_per_image``, ``ms_min``, ``ms_max``,
``images_per_s``, ``verified``, ``skipped``) and ``skipped``.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from typing import Any

import numpy as np

from timing import Gpu, say, time_interleaved, why

DECODE_IMAGE = "grace_hopper.jpg"  # matplotlib's sample photo, 600x512 RGB
DECODE_BATCH = 8  # images per batch decode call
DECODE_REPS_FULL, DECODE_REPS_QUICK = 50, 20  # timed calls per path; >= 10
DECODE_WARMUP = 5
#: JPEG decoders round the inverse DCT and the chroma upsampling differently, and
#: nvImageCodec picks its decoder per call: on the H200 one image came within 1
#: of Pillow's pixels, a batch of 8 within 3 (mean 0.02).
GPU_DECODE_MAX_DIFF = 4


def block(skipped: str | None) -> dict[str, Any]:
    """The decode block's description, without measurements."""
    return {
        "image": DECODE_IMAGE,
        "shape": None,
        "jpeg_bytes": None,
        "batch": DECODE_BATCH,
        "timer": (
            "time.perf_counter() from the call to the end of a stream "
            "synchronize (wallclock)."
        ),
        "reps": None,
        "warmup": DECODE_WARMUP,
        "import_ms": None,
        "init_ms": None,
        "nvimgcodec": None,
        "pillow": None,
        "paths": [],
        "skipped": skipped,
    }


def stub(skipped: str | None) -> dict[str, Any]:
    return {"decode": block(skipped)}


def measure(gpu: Gpu) -> dict[str, Any]:
    """nvImageCodec decode (single and batch) to a CV-CUDA tensor against
    Pillow's decode and a copy up (pinned and pageable), on the same photo:
    the ``decode`` block."""
    say("JPEG decode to a CV-CUDA tensor: nvImageCodec against Pillow + copy")
    return {"decode": gpu.guarded(block(None), lambda: _measure(gpu))}


def _measure(gpu: Gpu) -> dict[str, Any]:
    decode = block(None)
    decode["reps"] = DECODE_REPS_QUICK if gpu.quick else DECODE_REPS_FULL
    try:
        import cvcuda
    except Exception as exc:
        decode["skipped"] = f"CV-CUDA not usable: {why(exc)}"
        return decode
    clock = time.perf_counter
    started = clock()
    try:
        from nvidia import nvimgcodec
    except Exception as exc:
        decode["skipped"] = f"nvImageCodec not usable: {why(exc)}"
        return decode
    decode["import_ms"] = round((clock() - started) * 1e3, 1)
    decode["nvimgcodec"] = getattr(nvimgcodec, "__version__", None)
    from cuda.bindings.utils import get_cuda_native_handle
    from matplotlib.cbook import get_sample_data

    with get_sample_data(DECODE_IMAGE, asfileobj=True) as file:
        data = file.read()
    decode["jpeg_bytes"] = len(data)
    cu, stream = gpu.cu, gpu.stream
    handle = int(get_cuda_native_handle(stream))
    sync = lambda: gpu.sync_stream(stream)  # noqa: E731

    started = clock()  # the one-time cost: first decoder, first decode
    decoder = nvimgcodec.Decoder()
    first = decoder.decode(nvimgcodec.CodeStream(data), cuda_stream=handle)
    sync()
    decode["init_ms"] = round((clock() - started) * 1e3, 1)
    shape = tuple(first.shape)
    decode["shape"] = list(shape)
    no_pillow = None
    try:
        from PIL import Image as PILImage

        decode["pillow"] = getattr(sys.modules.get("PIL"), "__version__", None)
    except Exception as exc:  # the host paths are skipped, the GPU ones run
        PILImage, no_pillow = None, f"Pillow not usable: {why(exc)}"
    reference = None if PILImage is None else _pillow(PILImage, data)
    device = cu.CudaBuffer(shape, np.uint8)  # the host paths' destination
    pinned = cu.pinned_empty(shape, np.uint8)
    latest: dict[str, Any] = {}  # each path's last output, for the check

    def gpu_single() -> None:
        image = decoder.decode(nvimgcodec.CodeStream(data), cuda_stream=handle)
        latest["gpu single"] = [(cvcuda.as_tensor(image, "HWC"), image)]

    def gpu_batch() -> None:
        streams = [nvimgcodec.CodeStream(data) for _ in range(DECODE_BATCH)]
        images = decoder.decode(streams, cuda_stream=handle)
        latest["gpu batch"] = [(cvcuda.as_tensor(i, "HWC"), i) for i in images]

    def host_pinned() -> None:
        pinned[...] = _pillow(PILImage, data)  # decode, then into pinned
        cu.cuda_memcpy_h2d(pinned, device, stream=stream)
        latest["host pinned"] = [(cvcuda.as_tensor(device, "HWC"), device)]

    def host_pageable() -> None:
        cu.cuda_memcpy_h2d(_pillow(PILImage, data), device)
        latest["host pageable"] = [(cvcuda.as_tensor(device, "HWC"), device)]

    paths = [
        ("gpu", "nvImageCodec decode → CV-CUDA tensor", gpu_single, 1),
        (
            "gpu",
            f"nvImageCodec batch decode of {DECODE_BATCH} → CV-CUDA tensors",
            gpu_batch,
            DECODE_BATCH,
        ),
        ("host", "Pillow decode + pinned copy → CV-CUDA tensor", host_pinned, 1),
        (
            "host",
            "Pillow decode + pageable copy → CV-CUDA tensor",
            host_pageable,
            1,
        ),
    ]
    try:
        runnable = [p for p in paths if p[0] == "gpu" or PILImage is not None]
        measure = gpu.until_synced(sync)
        times = time_interleaved(
            [p[2] for p in runnable], measure, decode["reps"], DECODE_WARMUP
        )
        by_path = {p[1]: t for p, t in zip(runnable, times, strict=True)}
        for kind, name, fn, count in paths:
            if name not in by_path:
                decode["paths"].append(
                    {"kind": kind, "path": name, "skipped": no_pillow}
                )
                continue
            ms = sorted(t * 1e3 / count for t in by_path[name])
            key = {
                gpu_single: "gpu single",
                gpu_batch: "gpu batch",
                host_pinned: "host pinned",
                host_pageable: "host pageable",
            }[fn]
            row = {
                "kind": kind,
                "path": name,
                "images_per_call": count,
                "ms_per_image": round(statistics.median(ms), 4),
                "ms_min": round(ms[0], 4),
                "ms_max": round(ms[-1], 4),
                "images_per_s": round(1e3 / statistics.median(ms), 1),
                **_decode_verified(gpu, latest[key], reference, exact=kind == "host"),
                "skipped": None,
            }
            decode["paths"].append(row)
            say(
                f"decode {name}: {row['ms_per_image']:.3f} ms per image, "
                f"{row['images_per_s']:,.0f} images/s"
            )
    finally:
        sync()
        latest.clear()
        del first
        gc.collect()
        gpu.soft(device.close)
    return decode


def _pillow(pil_image: Any, data: bytes) -> np.ndarray:
    """Pillow's decode of JPEG bytes, as a C-contiguous uint8 RGB array."""
    import io

    with pil_image.open(io.BytesIO(data)) as img:
        return np.ascontiguousarray(np.asarray(img.convert("RGB")))


def _decode_verified(
    gpu: Gpu, outputs: list[tuple[Any, Any]], reference: Any, exact: bool
) -> dict[str, Any]:
    """Each tensor's pixels against Pillow's: equal for the host paths (they
    copy Pillow's pixels), within ``GPU_DECODE_MAX_DIFF`` per channel and 0.5
    on average for the GPU decode; and each tensor on its source's memory
    (zero-copy). Returns
    ``verified`` and what it was decided on: the largest and the mean
    difference over the outputs, and whether every one was zero-copy."""
    if reference is None:
        return {"verified": None}
    zero_copy, worst, means = True, 0, []
    for tensor, source in outputs:
        cai = tensor.cuda().__cuda_array_interface__
        zero_copy &= cai["data"][0] == source.__cuda_array_interface__["data"][0]
        host = np.empty(reference.shape, np.uint8)
        gpu.cu.cuda_memcpy_d2h(tensor.cuda(), host)
        diff = np.abs(host.astype(np.int16) - reference)
        worst, mean = max(worst, int(diff.max())), float(diff.mean())
        means.append(mean)
    mean = max(means) if means else 0.0
    close = worst == 0 if exact else worst <= GPU_DECODE_MAX_DIFF and mean < 0.5
    return {
        "verified": bool(zero_copy and close),
        "zero_copy": bool(zero_copy),
        "max_diff": worst,
        "mean_diff": round(mean, 4),
    }
