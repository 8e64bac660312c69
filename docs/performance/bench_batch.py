# SPDX-License-Identifier: Apache-2.0
"""The benchmark's batch part: Approach 3's overlapped batch against the
bidirectional copy ceiling (``bench.py batch``).

The batch is the sample's loop: 16 pinned 1080x1920x3 uint8 frames, each copied
up (``cuda_memcpy_h2d``) on an upload stream, flipped (``cvcuda.flip_into``) on
a compute stream and copied down (``cuda_memcpy_d2h``) on a download stream,
with events between the streams; frame *i* uses buffer slot *i* mod *slots*.
It runs with 1 (serial: the host waits for every frame), 2, 3 and 4 slots. The
ceiling is the same frames copied by raw ``cudaMemcpyAsync`` alone, up on one
stream and down on another, issued interleaved, no kernel; and each direction
alone. Both are timed from the first call to the last stream synchronize, best
of :data:`BATCH_RUNS` runs after a warm-up; each slot count's output is checked
against numpy's flip on one more run. One more run with the best slot count
records an event before and after each call: the page's timeline.

The ``batch`` block of ``results.json``: ``frames``, ``frame_shape``, ``bytes``,
``runs``, ``timer``, ``ceiling`` (``both``, ``h2d``, ``d2h``: ``bytes``,
``seconds``, ``gbps``, ``runs_s``), ``bound`` (:func:`pipeline_bound`),
``slots`` (per slot count: ``slots``, ``seconds``, ``gbps``,
``ratio_to_ceiling``, ``runs_s``, ``verified``), ``best_slots``, ``timeline``
(``slots`` and ``spans``) and ``skipped``.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from targets import best_slots
from timing import Gpu, say, time_interleaved, why

FRAMES, FRAME_SHAPE = 16, (1080, 1920, 3)
SLOT_COUNTS = (1, 2, 3, 4)
BATCH_RUNS = 15


def batch_point(
    seconds: Sequence[float], nbytes: int, ceiling_gbps: float | None = None
) -> dict[str, Any]:
    """The best (shortest) of several runs of ``nbytes``; with a ceiling, its share."""
    best = min(seconds)
    gbps = nbytes / best / 1e9
    point: dict[str, Any] = {
        "seconds": round(best, 6),
        "gbps": round(gbps, 3),
        "runs_s": [round(s, 6) for s in seconds],
    }
    if ceiling_gbps is not None:
        point["ratio_to_ceiling"] = round(gbps / ceiling_gbps, 4)
    return point


def pipeline_bound(ceiling: dict[str, Any], frames: int) -> dict[str, Any] | None:
    """An estimate of what a pipeline of whole frames reaches, from the ceiling's rates.

    The first frame goes up alone and the last comes down alone (h2d and d2h
    alone rates); in between, each frame's download overlaps the next one's
    upload (the ceiling's average rate of both at once). Not a hard limit: that
    average includes the ceiling's own end, where one direction finishes first
    and the other then runs alone, faster. Returns its GB/s and share of the
    ceiling.
    """
    rates = [(ceiling.get(key) or {}).get("gbps") for key in ("h2d", "d2h", "both")]
    if None in rates or frames < 1:
        return None
    up, down, both = rates
    frame = 1.0  # any unit: the shares do not depend on it
    seconds = frame / up + (frames - 1) * 2 * frame / both + frame / down
    gbps = 2 * frames * frame / seconds
    return {"gbps": round(gbps, 3), "ratio_to_ceiling": round(gbps / both, 4)}


def block(skipped: str | None) -> dict[str, Any]:
    """The batch block's description, without measurements."""
    return {
        "frames": FRAMES,
        "frame_shape": list(FRAME_SHAPE),
        "bytes": 2 * FRAMES * FRAME_SHAPE[0] * FRAME_SHAPE[1] * FRAME_SHAPE[2],
        "runs": BATCH_RUNS,
        "timer": (
            "time.perf_counter() from the first call to the last stream "
            "synchronize; best of the runs after a warm-up; slot counts and "
            "ceiling variants interleaved"
        ),
        "ceiling": {},
        "bound": None,
        "slots": [],
        "best_slots": None,
        "timeline": None,
        "skipped": skipped,
    }


#: ``mark(stream, label, call)``: run ``call``, timed on the GPU on ``stream``.
Marker = Callable[[Any, dict[str, Any], Callable[[], Any]], None]


class Timeline:
    """GPU timestamps of each call of one run: an event recorded on the call's
    stream before and after it, read as milliseconds since an origin event.

    Used as a context manager: the events for ``marks`` calls are created on
    entry, so that creating them does not sit between the calls, and destroyed
    on exit. Read :meth:`spans` inside it, once the run has synchronised.
    """

    def __init__(
        self, cudart: Any, check: Callable, origin_stream: Any, marks: int
    ) -> None:
        self.cudart, self.check = cudart, check
        self.origin_stream, self.capacity = origin_stream, marks
        self.events: list[Any] = []
        self.free: list[Any] = []
        self.marks: list[tuple[dict[str, Any], Any, Any]] = []

    def __enter__(self) -> Timeline:
        for _ in range(2 * self.capacity + 1):
            event = self.check(self.cudart.cudaEventCreate(), "cudaEventCreate")
            self.events.append(event)
        self.free = self.events[::-1]
        self.origin = self._record(self.origin_stream)
        return self

    def __exit__(self, *exc: object) -> None:
        for event in self.events:
            self.cudart.cudaEventDestroy(event)

    def _record(self, stream: Any) -> Any:
        if not self.free:
            raise RuntimeError(f"Timeline: more than {self.capacity} calls marked")
        event = self.free.pop()
        self.check(self.cudart.cudaEventRecord(event, stream), "cudaEventRecord")
        return event

    def mark(self, stream: Any, label: dict[str, Any], call: Callable[[], Any]) -> None:
        start = self._record(stream)
        call()
        self.marks.append((label, start, self._record(stream)))

    def spans(self) -> list[dict[str, Any]]:
        """One dict per call: its label, ``start_ms`` and ``end_ms``."""

        def ms(event: Any) -> float:
            elapsed = self.cudart.cudaEventElapsedTime(self.origin, event)
            return round(self.check(elapsed, "cudaEventElapsedTime"), 4)

        return [
            {**label, "start_ms": ms(start), "end_ms": ms(end)}
            for label, start, end in self.marks
        ]


def stub(skipped: str | None) -> dict[str, Any]:
    return {"batch": block(skipped)}


def measure(gpu: Gpu) -> dict[str, Any]:
    """Approach 3's batch with 1..4 slots, and the bidirectional copy ceiling."""
    say(f"overlapped batch of {FRAMES} frames, {len(SLOT_COUNTS)} slot counts")
    return {"batch": gpu.guarded(block(None), lambda: _measure(gpu))}


def _measure(gpu: Gpu) -> dict[str, Any]:
    import preflight  # from samples/interoperability, which bench.py requires

    cu = gpu.cu
    batch = block(preflight.gpu_unavailable_reason("cvcuda"))
    shape = (FRAMES, *FRAME_SHAPE)
    frames_in = cu.pinned_empty(shape, np.uint8)
    frames_in[...] = np.random.default_rng(7).integers(0, 256, shape, np.uint8)
    frames_out = cu.pinned_empty(shape, np.uint8)
    streams: list[Any] = []
    try:
        for _ in range(max(SLOT_COUNTS)):
            streams.append(gpu.new_stream())
        try:
            batch["ceiling"] = _ceiling(gpu, frames_in, frames_out, *streams[:2])
        except Exception as exc:
            gpu.settle()
            batch["ceiling"] = {"skipped": why(exc)}
        batch["bound"] = pipeline_bound(batch["ceiling"], FRAMES)
        if batch["skipped"] is None:
            ceiling = (batch["ceiling"].get("both") or {}).get("gbps")
            try:
                points, timeline = _batches(
                    gpu, frames_in, frames_out, streams, ceiling
                )
            except Exception as exc:  # the ceiling stays recorded
                gpu.settle()
                batch["skipped"] = why(exc)
            else:
                batch["slots"], batch["best_slots"] = points, best_slots(points)
                batch["timeline"] = timeline
    finally:
        for stream in streams:
            gpu.soft(lambda stream=stream: cu.destroy_stream(stream))
    return batch


def _ceiling(
    gpu: Gpu, frames_in: np.ndarray, frames_out: np.ndarray, up_s: Any, down_s: Any
) -> dict[str, Any]:
    """Raw copies of the frames: up on one stream and down on the other,
    issued interleaved, and each direction alone; no kernel."""
    cu, cudart, check = gpu.cu, gpu.cudart, gpu.check
    copy_async, fb = cudart.cudaMemcpyAsync, frames_in[0].nbytes
    ins = [f.ctypes.data for f in frames_in]
    outs = [f.ctypes.data for f in frames_out]
    with (
        cu.CudaBuffer(frames_in.shape, np.uint8) as up,
        cu.CudaBuffer(frames_in.shape, np.uint8) as down,
    ):
        check(cudart.cudaMemset(down.ptr, 0, frames_in.nbytes), "cudaMemset")

        def issue(h2d: bool, d2h: bool) -> None:
            for i in range(FRAMES):
                if h2d:
                    copy = copy_async(up.ptr + i * fb, ins[i], fb, gpu.H2D, up_s)
                    check(copy, "cudaMemcpyAsync(H2D)")
                if d2h:
                    copy = copy_async(outs[i], down.ptr + i * fb, fb, gpu.D2H, down_s)
                    check(copy, "cudaMemcpyAsync(D2H)")
            gpu.sync_stream(up_s)
            gpu.sync_stream(down_s)

        variants = {
            "both": (True, True),
            "h2d": (True, False),
            "d2h": (False, True),
        }
        calls = [lambda f=f: issue(*f) for f in variants.values()]
        measure = gpu.until_synced(lambda: None)  # issue() synchronizes
        times = time_interleaved(calls, measure, BATCH_RUNS, warmup=1)
    ceiling = {}
    for (key, (h2d, d2h)), seconds in zip(variants.items(), times, strict=True):
        nbytes = (h2d + d2h) * frames_in.nbytes
        ceiling[key] = {"bytes": nbytes, **batch_point(seconds, nbytes)}
    return ceiling


def _batches(
    gpu: Gpu,
    frames_in: np.ndarray,
    frames_out: np.ndarray,
    streams: list[Any],
    ceiling_gbps: float | None,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The batch per slot count, each run's output checked against numpy, and
    the timeline of one more run with the best slot count."""
    import cvcuda
    from cuda.bindings.utils import get_cuda_native_handle

    cu, sync = gpu.cu, gpu.sync_stream
    h2d, d2h = cu.cuda_memcpy_h2d, cu.cuda_memcpy_d2h
    record, wait = cu.record_event, cu.wait_event
    # A stream per copy engine, and one for the kernels, as in the sample.
    upload, compute, download = streams[:3]
    cv_compute = cvcuda.as_stream(get_cuda_native_handle(compute))

    def flip(out: Any, src: Any, stream: Any) -> None:
        # ``stream`` is ``compute``; CV-CUDA takes its wrapper of it.
        cvcuda.flip_into(out, src, flipCode=1, stream=cv_compute)

    n = max(SLOT_COUNTS)
    inputs = [cu.CudaBuffer(FRAME_SHAPE, np.uint8) for _ in range(n)]
    in_tensors = [cvcuda.as_tensor(buf, "HWC") for buf in inputs]
    out_tensors = [cvcuda.Tensor(FRAME_SHAPE, cvcuda.Type.U8, "HWC") for _ in range(n)]
    # Wrapped once, for the stream that reads them: each frame's copy home
    # then reads a checked layout instead of parsing the tensor's interface.
    outputs = [cu.CudaBuffer.from_cuda(t.cuda(), stream=download) for t in out_tensors]
    events: list[Any] = []
    up_done, flip_done, down_done = (
        [cu.new_event() for _ in range(n)] for _ in range(3)
    )
    events += up_done + flip_done + down_done
    expected = frames_in[:, :, ::-1]  # flipCode=1: each row reversed
    blank = cu.CudaBuffer(frames_out.shape, np.uint8)
    gpu.check(gpu.cudart.cudaMemset(blank.ptr, 0, blank.nbytes), "cudaMemset")

    def process(slots: int, mark: Marker | None = None) -> None:
        """The sample's batch; ``mark`` (the timeline run) wraps each step in
        events on its stream."""

        def run(stream: Any, name: str, step: str, fn: Callable, *args: Any) -> None:
            if mark is None:
                fn(*args, stream=stream)
            else:
                label = {"stream": name, "slot": k, "frame": i, "step": step}
                mark(stream, label, lambda: fn(*args, stream=stream))

        for i in range(FRAMES):
            k = i % slots
            if i >= slots:  # the slot is free once its previous frame went home
                wait(upload, down_done[k])
            run(upload, "upload", "h2d", h2d, frames_in[i], inputs[k])
            record(up_done[k], upload)
            wait(compute, up_done[k])
            run(compute, "compute", "flip", flip, out_tensors[k], in_tensors[k])
            record(flip_done[k], compute)
            wait(download, flip_done[k])
            run(download, "download", "d2h", d2h, outputs[k], frames_out[i])
            record(down_done[k], download)
            if slots == 1:
                sync(download)  # serial: the host waits for every frame
        sync(download)  # the last download followed everything before it

    clock = time.perf_counter

    def zero_output() -> None:
        # By a copy from the GPU, as the batch writes it: zeroing from the CPU
        # leaves its caches holding dirty lines of the array, which the
        # downloads must then evict, and the batch would look slower.
        cu.cuda_memcpy_d2h(blank, frames_out)

    def measure(fn: Callable[[], Any]) -> float:
        zero_output()
        t0 = clock()
        fn()
        return clock() - t0

    points, timeline_doc = [], None
    try:
        calls = [lambda k=k: process(k) for k in SLOT_COUNTS]
        times = time_interleaved(calls, measure, BATCH_RUNS, warmup=1)
        for slots, seconds in zip(SLOT_COUNTS, times, strict=True):
            # Checked on one more run each, not between the timed ones: the
            # CPU reading the frames slows the next run's copies (see the
            # Performance page).
            zero_output()
            process(slots)
            ok = bool(np.array_equal(frames_out, expected))
            point = batch_point(seconds, 2 * frames_in.nbytes, ceiling_gbps)
            points.append({"slots": slots, **point, "verified": ok})
        best = best_slots(points)
        if best is not None:  # where the time goes, drawn on the Performance page
            try:
                zero_output()  # before the origin event: not part of the run
                with Timeline(
                    gpu.cudart, gpu.check, upload, marks=3 * FRAMES
                ) as timeline:
                    process(best, timeline.mark)
                    spans = timeline.spans()
                timeline_doc = {"slots": best, "spans": spans}
            except Exception as exc:  # the timed points stay recorded
                gpu.settle()
                timeline_doc = {"slots": best, "spans": [], "skipped": why(exc)}
    finally:
        for stream in streams:
            gpu.soft(lambda stream=stream: sync(stream))
        # CV-CUDA's tensors and stream wrapper go before the streams and buffers.
        in_tensors.clear()
        outputs.clear()
        out_tensors.clear()
        gc.collect()
        for event in events:
            gpu.soft(lambda event=event: gpu.cudart.cudaEventDestroy(event))
        for buf in [*inputs, blank]:
            gpu.soft(buf.close)
    return points, timeline_doc
