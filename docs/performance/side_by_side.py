# SPDX-License-Identifier: Apache-2.0
"""The helpers against CuPy and PyTorch, side by side: the ``frameworks`` block.

The rate tables time each method in its own pass, on its own memory: a fair
picture of each library as its users write it, but two passes of the same call
can differ by more than the libraries do (host -> device at 1 GiB moved by 10%
between passes). Here the one call of each library that copies pinned host
memory into existing device memory, and back, asynchronously:

* helpers: ``cuda_memcpy_h2d(host, buffer, stream=s)`` and ``cuda_memcpy_d2h``;
* CuPy: ``array.set(host, stream=s)`` and ``array.get(stream=s, out=host)``;
* PyTorch: ``tensor.copy_(host_tensor, non_blocking=True)`` both ways, with
  torch's current stream set to ``s``;

copy the same pinned arrays to and from the same device memory on the same
stream ``s``, timed with events, in turns (:func:`timing.time_interleaved`).
Each timed copy follows an untimed copy by the same call, finished before the
start event: every call is timed warm, as in a loop of copies. What is left
between them is how soon each call gets its copy onto the stream.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import numpy as np

from render_results import SIDE_BY_SIDE
from targets import DIRECTIONS
from timing import Gpu, MiB, time_interleaved
from transfer_methods import SizeResources

TIMER = (
    "per call: the same call once untimed, cudaStreamSynchronize, then "
    "cudaEventRecord(start, s); the call; cudaEventRecord(end, s); "
    "cudaEventSynchronize(end); calls taken in turns"
)
Copies = dict[str, tuple[Callable[[], Any], Callable[[], Any]]]


def repeats(nbytes: int, quick: bool) -> int:
    """Timed copies per call and direction: 1,000 up to 16 MiB, 10 from 256 MiB."""
    reps = max(10, min(1000, 10 * (256 * MiB // max(nbytes, 1))))
    return max(10, reps // 5) if quick else reps


def copies(gpu: Gpu, res: SizeResources, held: dict[str, Any]) -> Copies:
    """name -> (h2d, d2h) of each usable library, between ``res.pinned_src`` /
    ``res.pinned_dst`` and ``res.dev`` on ``gpu.stream``. Their views of the
    memory go into ``held``; :func:`release` drops them."""
    src, dst, dev, stream = res.pinned_src, res.pinned_dst, res.dev, gpu.stream
    cu = gpu.cu
    calls: Copies = {
        SIDE_BY_SIDE[0]: (
            lambda: cu.cuda_memcpy_h2d(src, dev, stream=stream),
            lambda: cu.cuda_memcpy_d2h(dev, dst, stream=stream),
        )
    }
    handle = int(stream)
    if gpu.cupy is not None:
        cp = gpu.cupy
        held["cupy"] = array = cp.asarray(dev)
        held["cupy_stream"] = on = cp.cuda.ExternalStream(handle)
        calls[SIDE_BY_SIDE[1]] = (
            lambda: array.set(src, stream=on),
            lambda: array.get(stream=on, out=dst, blocking=False),
        )
    if gpu.torch is not None:
        torch = gpu.torch
        held["torch_previous"] = torch.cuda.current_stream()
        torch.cuda.set_stream(torch.cuda.ExternalStream(handle))
        held["torch"] = tensor = torch.as_tensor(dev, device="cuda")
        host_in, host_out = torch.from_numpy(src), torch.from_numpy(dst)
        calls[SIDE_BY_SIDE[2]] = (
            lambda: tensor.copy_(host_in, non_blocking=True),
            lambda: host_out.copy_(tensor, non_blocking=True),
        )
    return calls


def release(gpu: Gpu, held: dict[str, Any]) -> None:
    """Drop the libraries' views and give torch its own current stream back."""
    gpu.sync_stream(gpu.stream)
    if "torch_previous" in held:
        gpu.torch.cuda.set_stream(held["torch_previous"])
    held.clear()


def round_trip(gpu: Gpu, res: SizeResources, h2d: Callable, d2h: Callable) -> bool:
    """Zero the device memory, copy up and back with one library's calls: True
    when the bytes came back."""
    cudart, stream, n = gpu.cudart, gpu.stream, res.nbytes
    memset = cudart.cudaMemsetAsync(res.dev.ptr, 0, n, stream)
    gpu.check(memset, "cudaMemsetAsync")
    h2d()
    gpu.sync_stream(stream)
    res.pinned_dst.fill(0)
    d2h()
    gpu.sync_stream(stream)
    return bool(np.array_equal(res.pinned_dst, res.pinned_src))


def rates(calls: Copies, times: list[list[float]], nbytes: int) -> dict[str, float]:
    """Median GB/s of each call from its copy times in seconds."""
    return {
        name: round(statistics.median(nbytes / max(t, 1e-9) / 1e9 for t in seconds), 4)
        for name, seconds in zip(calls, times, strict=True)
    }


def measure(gpu: Gpu, res: SizeResources) -> dict[str, Any]:
    """One size: each library's round trip checked, then both directions timed."""
    n, held = res.nbytes, {}
    reps = repeats(n, gpu.quick)
    try:
        calls = copies(gpu, res, held)
        checked = {name: round_trip(gpu, res, *pair) for name, pair in calls.items()}
        entry: dict[str, Any] = {
            "bytes": n,
            "repeats": reps,
            "timer": TIMER,
            "interleaved": True,
            "verified": checked,
        }
        for i, direction in enumerate(DIRECTIONS):
            one_way = [pair[i] for pair in calls.values()]
            times = time_interleaved(one_way, gpu.on_stream_warm(gpu.stream), reps)
            entry[direction] = rates(calls, times, n)
        return entry
    finally:
        release(gpu, held)
