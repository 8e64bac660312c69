# SPDX-License-Identifier: Apache-2.0
"""DLPack both ways on the GPU: ``CudaBuffer.__dlpack__`` / ``from_dlpack`` with
PyTorch, CuPy, CV-CUDA and cuda.core; zero-copy, lifetimes, streams and exit.

PyTorch and CuPy are installed where the GPU tests run: a missing one fails.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from interfaces import DLPackOnly  # docs/performance: the one DLPack-only wrapper

from cuda_python_common import (
    CudaBuffer,
    check_cuda,
    cuda_memcpy_d2h,
    cuda_memcpy_h2d,
    destroy_stream,
    pinned_empty,
)

pytestmark = pytest.mark.gpu
SAMPLES_DIR = Path(__file__).resolve().parents[1] / "samples" / "interoperability"


def image(shape: tuple[int, ...] = (64, 48, 3), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def filled(host: np.ndarray) -> CudaBuffer:
    buf = CudaBuffer(host.shape, host.dtype)
    cuda_memcpy_h2d(host, buf)
    return buf


def test_dlpack_device_is_cuda() -> None:
    buf = CudaBuffer((4, 4), np.float32)
    assert buf.__dlpack_device__() == (2, 0)


def test_torch_and_cupy_take_a_cudabuffer_without_a_copy() -> None:
    import cupy
    import torch

    host = image()
    buf = filled(host)
    t = torch.from_dlpack(buf)
    c = cupy.from_dlpack(buf)
    assert t.data_ptr() == buf.ptr == c.data.ptr
    assert (t.cpu().numpy() == host).all()
    assert (cupy.asnumpy(c) == host).all()


def test_cvcuda_and_cuda_core_take_a_dlpack_only_cudabuffer() -> None:
    import cvcuda
    from cuda.core.utils import StridedMemoryView

    host = image()
    buf = filled(host)
    tensor = cvcuda.as_tensor(DLPackOnly(buf), "HWC")
    assert tensor.cuda().__cuda_array_interface__["data"][0] == buf.ptr
    flipped = cvcuda.flip(tensor, flipCode=1)
    out = np.empty_like(host)
    cuda_memcpy_d2h(flipped.cuda(), out)
    np.testing.assert_array_equal(out, host[:, ::-1])
    view = StridedMemoryView.from_dlpack(buf, stream_ptr=-1)
    assert (view.ptr, tuple(view.shape)) == (buf.ptr, host.shape)


def test_from_dlpack_wraps_torch_and_keeps_it_alive() -> None:
    import torch

    host = image((32, 40, 3), seed=1)
    source = torch.from_numpy(host).cuda()
    ptr = source.data_ptr()
    buf = CudaBuffer.from_dlpack(source)
    assert buf.ptr == ptr
    del source
    gc.collect()
    torch.cuda.empty_cache()  # would give the block back if nothing held it
    churn = [torch.empty(host.shape, dtype=torch.uint8, device="cuda") for _ in range(50)]
    for t in churn:
        t.fill_(7)
    out = np.empty_like(host)
    cuda_memcpy_d2h(buf, out)
    np.testing.assert_array_equal(out, host)


def test_from_dlpack_of_padded_cvcuda_memory_keeps_the_pitch() -> None:
    import cvcuda

    host = image((100, 75, 3), seed=2)
    tensor = cvcuda.Tensor(host.shape, cvcuda.Type.U8, "HWC", rowalign=256)
    cuda_memcpy_h2d(host, tensor.cuda())
    buf = CudaBuffer.from_dlpack(tensor.cuda())
    assert buf.strides == (256, 3, 1)
    out = np.empty_like(host)
    cuda_memcpy_d2h(buf, out)
    np.testing.assert_array_equal(out, host)


def test_a_cudabuffer_outlives_its_owner_in_torch() -> None:
    """The capsule keeps the buffer alive: torch's tensor survives ``del buf``."""
    import torch

    host = image((64, 64, 3), seed=3)
    buf = filled(host)
    t = torch.from_dlpack(buf)
    del buf
    gc.collect()
    churn = [filled(np.full((64, 64, 3), 9, np.uint8)) for _ in range(50)]
    assert (t.cpu().numpy() == host).all()
    del churn


def test_a_capsule_is_consumed_once() -> None:
    import torch

    buf = filled(image())
    capsule = buf.__dlpack__(stream=-1)

    class Twice:
        def __dlpack__(self, **kwargs: object) -> object:
            return capsule

        def __dlpack_device__(self) -> tuple[int, int]:
            return (2, 0)

    torch.from_dlpack(Twice())
    with pytest.raises(Exception, match=r"(?i)consumed|used|capsule|dltensor"):
        torch.from_dlpack(Twice())


def test_export_orders_pending_work_before_the_consumer_stream() -> None:
    """An async upload still in flight on our stream: torch's stream waits for it."""
    import torch
    from cuda.bindings import runtime as cudart

    host = pinned_empty((4096, 4096, 4), np.uint8)  # 64 MiB: the copy takes a while
    host[...] = image((4096, 4096, 4), seed=4)
    ours = check_cuda(cudart.cudaStreamCreateWithFlags(cudart.cudaStreamNonBlocking), "create")
    buf = CudaBuffer(host.shape, host.dtype)
    try:
        cuda_memcpy_h2d(host, buf, stream=ours)  # pending on `ours`
        side = torch.cuda.Stream()
        with torch.cuda.stream(side):
            t = torch.from_dlpack(buf)  # torch passes `side` as the consumer stream
            total = int(t.to(torch.int64).sum().item())
        assert total == int(host.sum(dtype=np.int64))
    finally:
        check_cuda(cudart.cudaStreamSynchronize(ours), "sync")
        del t
        buf.close()
        destroy_stream(ours)


def test_a_process_exits_cleanly_with_exports_alive(tmp_path: Path) -> None:
    script = tmp_path / "exports_alive.py"
    script.write_text(
        textwrap.dedent(
            """
            import cupy, numpy as np, torch
            from cuda_python_common import CudaBuffer, cuda_memcpy_h2d
            buf = CudaBuffer((16, 16), np.float32)
            cuda_memcpy_h2d(np.ones((16, 16), np.float32), buf)
            t = torch.from_dlpack(buf)
            c = cupy.from_dlpack(buf)
            back = CudaBuffer.from_dlpack(t)
            capsule = buf.__dlpack__()  # never consumed
            print("exports alive at exit")
            """
        )
    )
    path = os.pathsep.join(filter(None, [str(SAMPLES_DIR), os.environ.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, str(script)],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "exports alive at exit\n"
    assert proc.stderr == ""
