# SPDX-License-Identifier: Apache-2.0
"""PyTorch with CV-CUDA on the GPU: zero-copy both ways, lifetimes, the stream
a torch tensor's interface names (and the race when no wait covers the
producer), the permuted-NCHW refusal and its fixes, padded outputs in torch.

PyTorch is installed where the GPU tests run: a missing one fails.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from interfaces import CaiV3, DLPackOnly
from sample_runs import run_sample
from timing import TorchSpinner

pytestmark = pytest.mark.gpu
SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "interoperability" / "pytorch_interop.py"
SHAPE = (1080, 1920, 3)
SLOW_MS = 50.0  # the producer's delay in the race tests: far longer than a wrap call


def cai_ptr(cv_tensor: Any) -> int:
    return cv_tensor.cuda().__cuda_array_interface__["data"][0]


@pytest.fixture(scope="module")
def torch() -> Any:
    import torch

    assert torch.cuda.is_available(), "torch cannot see the GPU"
    return torch


@pytest.fixture(scope="module")
def cvcuda() -> Any:
    import cvcuda

    yield cvcuda
    cvcuda.clear_cache()


@pytest.fixture(scope="module")
def spin(torch: Any) -> TorchSpinner:
    """spin(ms, stream): queue about ``ms`` of GPU work on ``stream``."""
    return TorchSpinner(torch)


def random_frame(torch: Any, seed: int = 0) -> Any:
    gen = torch.Generator(device="cuda").manual_seed(seed)
    return torch.randint(0, 256, SHAPE, dtype=torch.uint8, device="cuda", generator=gen)


# --------------------------------------------------------------------------- the facts the page relies on
def test_torch_exports_cai_v2_without_a_stream(torch: Any) -> None:
    """The premise of the page: torch's interface names no stream (torch 2.11)."""
    iface = torch.zeros(4, device="cuda").__cuda_array_interface__
    assert iface["version"] == 2 and "stream" not in iface, iface


def test_as_stream_takes_torch_streams(torch: Any, cvcuda: Any) -> None:
    stream = torch.cuda.Stream()
    assert cvcuda.as_stream(stream).handle == stream.cuda_stream


# --------------------------------------------------------------------------- zero-copy
@pytest.mark.parametrize("how", ["cai_v2", "cai_v3", "dlpack"])
def test_torch_to_cvcuda_is_zero_copy(torch: Any, cvcuda: Any, how: str) -> None:
    frame = random_frame(torch)
    wrap = {"cai_v2": lambda t: t, "cai_v3": lambda t: CaiV3(t, 1), "dlpack": DLPackOnly}[how]
    tensor = cvcuda.as_tensor(wrap(frame), "HWC")
    assert cai_ptr(tensor) == frame.data_ptr()
    flipped = cvcuda.flip(tensor, flipCode=1)
    result = torch.from_dlpack(flipped.cuda())
    assert torch.equal(result, frame.flip(1))


def test_cvcuda_to_torch_is_zero_copy_both_ways(torch: Any, cvcuda: Any) -> None:
    out = cvcuda.flip(cvcuda.as_tensor(random_frame(torch, 1), "HWC"), flipCode=0)
    for back in (torch.from_dlpack(out.cuda()), torch.as_tensor(out.cuda(), device="cuda")):
        assert back.data_ptr() == cai_ptr(out)
        assert back.stride() == out.cuda().__cuda_array_interface__["strides"] or back.is_contiguous()


# --------------------------------------------------------------------------- lifetimes
@pytest.mark.parametrize("how", ["cai_v2", "cai_v3", "dlpack"])
def test_cvcuda_keeps_the_torch_tensor_alive(torch: Any, cvcuda: Any, how: str) -> None:
    frame = random_frame(torch, 2)
    expected = frame.flip(1).cpu().numpy()
    wrap = {"cai_v2": lambda t: t, "cai_v3": lambda t: CaiV3(t, 1), "dlpack": DLPackOnly}[how]
    tensor = cvcuda.as_tensor(wrap(frame), "HWC")
    del frame
    gc.collect()
    torch.cuda.synchronize()
    churn = [torch.full(SHAPE, 7, dtype=torch.uint8, device="cuda") for _ in range(20)]
    flipped = cvcuda.flip(tensor, flipCode=1)
    np.testing.assert_array_equal(torch.from_dlpack(flipped.cuda()).cpu().numpy(), expected)
    del churn


def test_torch_keeps_the_cvcuda_output_alive(torch: Any, cvcuda: Any) -> None:
    frame = random_frame(torch, 3)
    flipped = cvcuda.flip(cvcuda.as_tensor(frame, "HWC"), flipCode=1)
    result = torch.from_dlpack(flipped.cuda())
    ptr = result.data_ptr()
    del flipped
    gc.collect()
    churn = [cvcuda.flip(cvcuda.as_tensor(torch.zeros_like(frame), "HWC"), flipCode=0) for _ in range(20)]
    torch.cuda.synchronize()
    assert ptr not in {cai_ptr(c) for c in churn}, "CV-CUDA reused memory torch still holds"
    assert torch.equal(result, frame.flip(1))


# --------------------------------------------------------------------------- streams and races
def _race(torch: Any, cvcuda: Any, spin: Any, make: Any, runs: int = 3) -> tuple[list[bool], list[bool]]:
    """Producer: stream B writes the frame after SLOW_MS; consumer: CV-CUDA flips it on
    stream A at once. Returns (result right?, B still busy when the flip was queued?)."""
    producer, consumer = torch.cuda.Stream(), torch.cuda.Stream()
    cv_consumer = cvcuda.as_stream(consumer)
    source = random_frame(torch, 4)
    expected = source.flip(1)
    frame = torch.zeros_like(source)
    out = cvcuda.Tensor(SHAPE, cvcuda.Type.U8, "HWC")
    right, busy = [], []
    for _ in range(runs):
        frame.zero_()
        torch.from_dlpack(out.cuda()).zero_()
        torch.cuda.synchronize()
        spin(SLOW_MS, producer)
        with torch.cuda.stream(producer):
            frame.copy_(source)  # the write CV-CUDA must wait for
            wrapped = cvcuda.as_tensor(make(frame, producer), "HWC")  # wrapped where written
        cvcuda.flip_into(out, wrapped, flipCode=1, stream=cv_consumer)
        busy.append(not producer.query())
        torch.cuda.synchronize()
        right.append(bool(torch.equal(torch.from_dlpack(out.cuda()), expected)))
        del wrapped
    cvcuda.clear_cache()
    return right, busy


def test_naming_the_producer_stream_orders_the_operator(torch: Any, cvcuda: Any, spin: Any) -> None:
    right, busy = _race(torch, cvcuda, spin, lambda t, s: CaiV3(t, s.cuda_stream))
    assert all(busy), "the producer finished before the operator was queued: no race window"
    assert all(right), right


def test_without_the_wait_the_operator_reads_too_early(torch: Any, cvcuda: Any, spin: Any) -> None:
    """The same code with the wait removed (CAI stream None: "nothing pending") is wrong."""
    right, busy = _race(torch, cvcuda, spin, lambda t, s: CaiV3(t, None))
    assert all(busy), "the producer finished before the operator was queued: no race window"
    assert not all(right), "no run read the frame early: the race did not show"


@pytest.mark.parametrize("how", ["cai_v2", "dlpack"])
def test_the_conservative_ways_on_a_non_blocking_producer(
    torch: Any, cvcuda: Any, spin: Any, how: str, record_property: Any
) -> None:
    """torch's own interface and DLPack name no stream: CV-CUDA then waits for the
    producer on the host (seen on the H200: the producer was always done by the time
    the operator was queued), so the result is right but the host blocked."""
    make = (lambda t, s: t) if how == "cai_v2" else (lambda t, s: DLPackOnly(t))
    right, busy = _race(torch, cvcuda, spin, make)
    record_property(f"{how}_right", right)
    print(f"{how}: results right {right}, producer busy when queued {busy}")
    assert all(right), right
    assert not any(busy), "CV-CUDA no longer waits on the host for a stream-less interface"


def test_the_named_stream_does_not_wait_for_a_busy_default_stream(torch: Any, cvcuda: Any, spin: Any) -> None:
    """The fast path: with torch's stream named, the operator does not wait for work queued
    on the legacy default stream. torch's v2 interface is recorded for comparison."""
    work = torch.cuda.Stream()
    cv_work = cvcuda.as_stream(work)
    frame = random_frame(torch, 5)
    out = cvcuda.Tensor(SHAPE, cvcuda.Type.U8, "HWC")
    torch.cuda.synchronize()
    waited = {}
    for how, make in (("cai_v3", lambda: CaiV3(frame, work.cuda_stream)), ("cai_v2", lambda: frame)):
        spin(SLOW_MS, torch.cuda.default_stream())
        done = torch.cuda.Event()
        with torch.cuda.stream(work):
            cvcuda.flip_into(out, cvcuda.as_tensor(make(), "HWC"), flipCode=1, stream=cv_work)
            done.record()
        done.synchronize()
        waited[how] = torch.cuda.default_stream().query()  # True: it waited for the busy stream
        torch.cuda.synchronize()
        assert torch.equal(torch.from_dlpack(out.cuda()), frame.flip(1))
    print(f"operator finished after the busy default stream: {waited}")
    assert waited["cai_v3"] is False, "the operator waited for an unrelated busy stream"


# --------------------------------------------------------------------------- layouts
def test_a_permuted_nchw_tensor_is_refused_and_both_fixes_work(torch: Any, cvcuda: Any) -> None:
    nhwc = torch.stack([random_frame(torch, 6)[:240, :320]] * 2).contiguous()
    nchw = nhwc.permute(0, 3, 1, 2).contiguous()
    with pytest.raises(Exception, match=r"(?i)pitch|packed|stride"):
        cvcuda.flip(cvcuda.as_tensor(nchw.permute(0, 2, 3, 1), "NHWC"), flipCode=1)
    packed = nchw.permute(0, 2, 3, 1).contiguous()
    channels_last = nchw.contiguous(memory_format=torch.channels_last)
    view = channels_last.permute(0, 2, 3, 1)
    assert view.is_contiguous()
    wrapped = cvcuda.as_tensor(view, "NHWC")
    assert cai_ptr(wrapped) == channels_last.data_ptr()  # no copy
    for tensor in (cvcuda.as_tensor(packed, "NHWC"), wrapped):
        out = torch.from_dlpack(cvcuda.flip(tensor, flipCode=1).cuda())
        assert torch.equal(out, nhwc.flip(2))


def test_padded_output_keeps_its_strides_in_torch(torch: Any, cvcuda: Any) -> None:
    frame = random_frame(torch, 7)
    crop = frame[:, :500]
    padded = cvcuda.Tensor((SHAPE[0], 500, 3), cvcuda.Type.U8, "HWC", rowalign=256)
    cvcuda.flip_into(padded, cvcuda.as_tensor(crop, "HWC"), flipCode=1)
    cai = padded.cuda().__cuda_array_interface__
    assert cai["strides"][0] > 500 * 3
    for view in (torch.from_dlpack(padded.cuda()), torch.as_tensor(padded.cuda(), device="cuda")):
        assert view.data_ptr() == cai["data"][0]
        assert view.stride() == cai["strides"] and not view.is_contiguous()
        assert torch.equal(view, crop.flip(1))


# --------------------------------------------------------------------------- the sample
def test_sample_prints_what_it_verified(tmp_path: Path) -> None:
    proc = run_sample(SAMPLE, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "CUDA Array Interface version 2" in out
    assert "wrapped, no copy" in out and "equals numpy" in out
    assert "refused" in out
    assert out.count("us per call, verified") == 2
    assert "kept in torch: verified" in out
    assert all(len(line) <= 88 for line in out.splitlines()), "a printed line is wider than the page"
