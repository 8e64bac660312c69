# SPDX-License-Identifier: Apache-2.0
"""The benchmark's interop part: PyTorch and CuPy with CV-CUDA, the stream
wait and the wrap cost (``bench.py interop``; skipped with the reason where
torch or CV-CUDA is missing).

* Stream wait: the time per call of ``cvcuda.flip_into`` of a 1080x1920x3 uint8
  torch tensor on a non-default torch stream while another stream has about
  2 ms of work queued (torch's legacy default stream, then a non-blocking torch
  stream), with the tensor handed over three ways (:data:`INTEROP_WAYS`):
  torch's interface as exported (CAI v2, no stream), a CAI v3 wrapper naming
  torch's stream, and DLPack. Timed with events on the operator's stream from
  before the wrap call to after the operator; each way's output is checked.
* Wrap cost: the host time of one call that hands a buffer over
  (``cvcuda.as_tensor`` of each library's object, and each library's way
  back), the calls interleaved, with the pointers compared (zero-copy).

The ``interop`` block of ``results.json``: ``frame_shape``, ``operator``,
``timer``, ``reps``, ``busy`` (per scenario: ``label``, ``stream`` and the
measured ``busy_us``), ``stream_wait`` (rows of ``busy``, ``way``, ``label``,
``us_median``, ``us_min``, ``us_max``, ``calls``, ``verified``),
``wrap_calls``, ``wrap_us`` (rows of ``library``, ``direction``, ``call``,
``us_median``, ``zero_copy``, ``skipped``), and ``skipped`` /
``stream_wait_skipped`` / ``wrap_skipped`` (why a part was not measured, else
None).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from bench_batch import FRAME_SHAPE
from interfaces import CaiV3, DLPackOnly
from timing import Gpu, TorchSpinner, say, time_interleaved, why

INTEROP_REPS_FULL, INTEROP_REPS_QUICK = 30, 10  # calls per cell; >= 10
WRAP_CALLS_FULL, WRAP_CALLS_QUICK = 2000, 500
BUSY_MS = 2.0  # work queued on the busy stream before each call
#: How the torch tensor reaches CV-CUDA: (key, label).
INTEROP_WAYS = (
    ("cai_v2", "torch's interface as exported (CAI v2, no stream)"),
    ("cai_v3", "CAI v3 naming torch's stream"),
    ("dlpack", "DLPack (an object with only __dlpack__)"),
)


def block(skipped: str | None) -> dict[str, Any]:
    """The interop block's description, without measurements."""
    return {
        "frame_shape": list(FRAME_SHAPE),
        "operator": "cvcuda.flip_into",
        "timer": (
            "cudaEventRecord on the operator's torch stream before the wrap call "
            "and after the operator; the busy work is queued on the other stream "
            "just before, and the device synchronized after, outside the time."
        ),
        "reps": None,
        "busy": {},
        "stream_wait": [],
        "wrap_calls": None,
        "wrap_us": [],
        "skipped": skipped,
        "stream_wait_skipped": None,
        "wrap_skipped": None,
    }


def stream_wait_row(
    busy: str, way: str, label: str, seconds: Sequence[float], verified: bool | None
) -> dict[str, Any]:
    """One cell of the stream-wait table from per-call times in seconds."""
    us = sorted(t * 1e6 for t in seconds)
    return {
        "busy": busy,
        "way": way,
        "label": label,
        "us_median": round(statistics.median(us), 3),
        "us_min": round(us[0], 3),
        "us_max": round(us[-1], 3),
        "calls": len(us),
        "verified": verified,
    }


def wrap_row(
    library: str,
    direction: str,
    call: str,
    seconds: Sequence[float] | None,
    zero_copy: bool | None = None,
    skipped: str | None = None,
) -> dict[str, Any]:
    """One wrap-cost row: the median host time of one call, in microseconds."""
    median = None if not seconds else round(statistics.median(seconds) * 1e6, 3)
    return {
        "library": library,
        "direction": direction,
        "call": call,
        "us_median": median,
        "zero_copy": zero_copy,
        "skipped": skipped,
    }


def _data_ptr(obj: Any) -> int:
    """The device pointer of a CV-CUDA tensor, torch tensor, CuPy array or view."""
    if hasattr(obj, "data_ptr"):
        return int(obj.data_ptr())  # torch
    if hasattr(obj, "cuda") and callable(obj.cuda):
        return int(obj.cuda().__cuda_array_interface__["data"][0])  # CV-CUDA
    data = getattr(obj, "data", None)
    if hasattr(data, "ptr"):
        return int(data.ptr)  # CuPy
    return int(obj.ptr)  # CudaBuffer, StridedMemoryView


def stub(skipped: str | None) -> dict[str, Any]:
    return {"interop": block(skipped)}


def measure(gpu: Gpu) -> dict[str, Any]:
    """The stream-wait table and the wrap costs: the ``interop`` block."""
    say("CV-CUDA on torch tensors while another stream is busy; wrap costs")
    return {"interop": gpu.guarded(block(None), lambda: _measure(gpu))}


def _measure(gpu: Gpu) -> dict[str, Any]:
    if gpu.torch is None:
        return block(gpu.notes.get("torch", "torch not usable"))
    try:
        import cvcuda
    except Exception as exc:  # not installed, or no driver for it
        return block(f"cvcuda not usable: {why(exc)}")
    doc = block(None)
    doc["reps"] = INTEROP_REPS_QUICK if gpu.quick else INTEROP_REPS_FULL
    doc["wrap_calls"] = WRAP_CALLS_QUICK if gpu.quick else WRAP_CALLS_FULL
    try:
        try:
            doc["busy"], doc["stream_wait"] = _stream_wait(gpu, cvcuda, doc["reps"])
        except Exception as exc:
            gpu.settle()
            doc["stream_wait_skipped"] = why(exc)
        try:
            doc["wrap_us"] = _wrap_costs(gpu, cvcuda, doc["wrap_calls"])
        except Exception as exc:
            gpu.settle()
            doc["wrap_skipped"] = why(exc)
    finally:
        gpu.settle()
        gpu.soft(cvcuda.clear_cache)  # it remembers each tensor's last stream
        gpu.release_frameworks()
    return doc


def _stream_wait(gpu: Gpu, cvcuda: Any, reps: int) -> tuple[dict[str, Any], list[dict]]:
    """Per call: wrap a torch tensor written on stream ``work`` and flip it on
    ``work``, while another stream has work queued; three ways to wrap."""
    torch = gpu.torch
    sync = torch.cuda.synchronize
    spin = TorchSpinner(torch)
    busy_us = round(spin.elapsed_ms(lambda: spin(BUSY_MS)) * 1e3, 1)
    work = torch.cuda.Stream()  # writes the tensor; CV-CUDA runs on it too
    handle = int(work.cuda_stream)
    cv_work = cvcuda.as_stream(work)
    scenarios = {
        "legacy": (
            "torch's default (legacy) stream busy",
            torch.cuda.default_stream(),
        ),
        "nonblocking": ("another torch stream busy", torch.cuda.Stream()),
    }
    source = torch.randint(0, 256, FRAME_SHAPE, dtype=torch.uint8, device="cuda")
    expected = source.flip(1)  # flipCode=1: each row reversed
    with torch.cuda.stream(work):
        frame = source.clone()  # its producer stream is `work`
    out = cvcuda.Tensor(FRAME_SHAPE, cvcuda.Type.U8, "HWC")
    sync()
    makers = {
        "cai_v2": lambda: frame,
        "cai_v3": lambda: CaiV3(frame, handle),
        "dlpack": lambda: DLPackOnly(frame),
    }

    def call_for(way: str) -> Callable[[], None]:
        make = makers[way]

        def call() -> None:
            wrapped = cvcuda.as_tensor(make(), "HWC")
            cvcuda.flip_into(out, wrapped, flipCode=1, stream=cv_work)

        return call

    calls = [call_for(way) for way, _ in INTEROP_WAYS]
    verified = {}
    for (way, _), call in zip(INTEROP_WAYS, calls, strict=True):
        with torch.cuda.stream(work):
            torch.from_dlpack(out.cuda()).zero_()
            call()
            verified[way] = bool(torch.equal(torch.from_dlpack(out.cuda()), expected))
    sync()
    on_work = gpu.on_stream(handle)
    busy: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    for key, (label, stream) in scenarios.items():

        def measure(fn: Callable[[], Any], stream: Any = stream) -> float:
            spin(BUSY_MS, stream)  # queued just before the call
            with torch.cuda.stream(work):
                seconds = on_work(fn)
            sync()  # the busy work drains outside the time
            return seconds

        times = time_interleaved(calls, measure, reps, warmup=2)
        busy[key] = {
            "label": label,
            "stream": int(stream.cuda_stream),
            "busy_us": busy_us,
        }
        for (way, way_label), seconds in zip(INTEROP_WAYS, times, strict=True):
            rows.append(stream_wait_row(key, way, way_label, seconds, verified[way]))
        say(
            f"{label}: "
            + ", ".join(f"{r['way']} {r['us_median']:.1f} µs" for r in rows[-3:])
        )
    sync()
    return busy, rows


def _wrap_costs(gpu: Gpu, cvcuda: Any, calls: int) -> list[dict[str, Any]]:
    """The host time of one hand-over call per library and direction."""
    torch, cu = gpu.torch, gpu.cu
    out = cvcuda.Tensor(FRAME_SHAPE, cvcuda.Type.U8, "HWC")  # never read
    out_ptr = _data_ptr(out)
    entries: list[tuple[str, str, str, Callable[[], Any], int]] = []
    rows: list[dict[str, Any]] = []

    def add(library: str, way: str, call: str, fn: Callable, ptr: int) -> None:
        entries.append((library, way, call, fn, ptr))

    buf = cu.CudaBuffer(FRAME_SHAPE, np.uint8)
    add(
        "CUDA Python", "into CV-CUDA", "cvcuda.as_tensor(CudaBuffer)",
        lambda: cvcuda.as_tensor(buf, "HWC"), buf.ptr,
    )  # fmt: skip
    add(
        "CUDA Python", "from CV-CUDA", "CudaBuffer.from_cuda(t.cuda())",
        lambda: cu.CudaBuffer.from_cuda(out.cuda()), out_ptr,
    )  # fmt: skip
    core_buf = view = None
    if gpu.core is not None:
        try:
            from cuda.core.utils import StridedMemoryView

            device = gpu.core.Device(0)
            core_buf = device.allocate(buf.nbytes, stream=device.default_stream)
            view = StridedMemoryView.from_buffer(
                core_buf, FRAME_SHAPE, dtype=np.dtype(np.uint8)
            )
            consumer = cu.stream_handle(gpu.stream)
            add(
                "cuda.core", "into CV-CUDA", "cvcuda.as_tensor(StridedMemoryView)",
                lambda: cvcuda.as_tensor(view, "HWC"), int(core_buf.handle),
            )  # fmt: skip
            add(
                "cuda.core", "from CV-CUDA",
                "StridedMemoryView.from_any_interface(t.cuda(), stream)",
                lambda: StridedMemoryView.from_any_interface(out.cuda(), consumer),
                out_ptr,
            )  # fmt: skip
        except Exception as exc:
            rows.append(
                wrap_row("cuda.core", "both", "StridedMemoryView", None,
                         skipped=why(exc))
            )  # fmt: skip
    frame = torch.zeros(FRAME_SHAPE, dtype=torch.uint8, device="cuda")
    current = int(torch.cuda.current_stream().cuda_stream)
    for call, fn in (
        ("cvcuda.as_tensor(tensor): CAI v2", lambda: frame),
        ("cvcuda.as_tensor(CAI v3 wrapper)", lambda: CaiV3(frame, current)),
        ("cvcuda.as_tensor(DLPack only)", lambda: DLPackOnly(frame)),
    ):
        add(
            "PyTorch", "into CV-CUDA", call,
            lambda fn=fn: cvcuda.as_tensor(fn(), "HWC"), frame.data_ptr(),
        )  # fmt: skip
    add(
        "PyTorch", "from CV-CUDA", "torch.from_dlpack(t.cuda())",
        lambda: torch.from_dlpack(out.cuda()), out_ptr,
    )  # fmt: skip
    add(
        "PyTorch", "from CV-CUDA", 'torch.as_tensor(t.cuda(), device="cuda")',
        lambda: torch.as_tensor(out.cuda(), device="cuda"), out_ptr,
    )  # fmt: skip
    if gpu.cupy is not None:
        cp = gpu.cupy
        array = cp.zeros(FRAME_SHAPE, dtype=cp.uint8)
        add(
            "CuPy", "into CV-CUDA", "cvcuda.as_tensor(array): CAI v3",
            lambda: cvcuda.as_tensor(array, "HWC"), int(array.data.ptr),
        )  # fmt: skip
        add(
            "CuPy", "from CV-CUDA", "cupy.from_dlpack(t.cuda())",
            lambda: cp.from_dlpack(out.cuda()), out_ptr,
        )  # fmt: skip
        add(
            "CuPy", "from CV-CUDA", "cupy.asarray(t.cuda())",
            lambda: cp.asarray(out.cuda()), out_ptr,
        )  # fmt: skip
    gpu.sync_device()
    zero_copy = [_data_ptr(fn()) == ptr for *_, fn, ptr in entries]
    clock = time.perf_counter
    held: list[Any] = []

    def measure(fn: Callable[[], Any]) -> float:
        t0 = clock()
        result = fn()
        seconds = clock() - t0
        held.append(result)  # dropped in bunches, outside the time
        if len(held) >= 64:
            held.clear()
        return seconds

    try:
        fns = [entry[3] for entry in entries]
        times = time_interleaved(fns, measure, calls, warmup=20)
    finally:
        held.clear()
        gpu.sync_device()
    measured = [
        wrap_row(library, way, call, seconds, zero_copy=same)
        for (library, way, call, _, _), seconds, same in zip(
            entries, times, zero_copy, strict=True
        )
    ]
    for row in measured:
        say(f"wrap {row['library']}, {row['call']}: {row['us_median']:.2f} µs")
    entries.clear()
    view = None  # the view goes before the buffer it describes
    if core_buf is not None:
        gpu.soft(lambda: core_buf.close(gpu.core.Device(0).default_stream))
    buf.close()
    return measured + rows
