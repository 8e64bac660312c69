# SPDX-License-Identifier: Apache-2.0
"""GPU reliability: no leaks, quiet exit, no dangling wrappers."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.gpu
SAMPLES_DIR = Path(__file__).resolve().parents[1] / "samples" / "interoperability"
MiB = 1 << 20


def free_device_memory() -> int:
    from cuda.bindings import runtime as cudart

    from cuda_python_common import check_cuda

    check_cuda(cudart.cudaDeviceSynchronize())
    free, _total = check_cuda(cudart.cudaMemGetInfo())
    return free


def test_10000_allocate_free_cycles_do_not_leak() -> None:
    from cuda_python_common import CudaBuffer

    CudaBuffer(1 * MiB).close()  # create the context and the allocator's first pool outside the count
    before = free_device_memory()
    for i in range(10_000):
        buffer = CudaBuffer((i % 97 + 1) * 4096, np.uint8)
        if i % 2:
            buffer.close()  # half closed explicitly ...
        else:
            del buffer  # ... half freed by the garbage collector
    gc.collect()
    after = free_device_memory()
    print(f"\nfree device memory before {before / MiB:.1f} MiB, after 10,000 cycles {after / MiB:.1f} MiB")
    assert abs(before - after) <= 1 * MiB


def host_memory_type(ptr: int):
    from cuda.bindings import runtime as cudart

    from cuda_python_common import check_cuda

    return check_cuda(cudart.cudaPointerGetAttributes(ptr)).type


def test_1000_pinned_host_allocations_do_not_leak() -> None:
    """Each block is page-locked while in use and unpinned right after; device memory is untouched."""
    from cuda.bindings import runtime as cudart

    from cuda_python_common import pinned_empty

    pinned, unregistered = cudart.cudaMemoryType.cudaMemoryTypeHost, cudart.cudaMemoryType.cudaMemoryTypeUnregistered
    pinned_empty(4096)  # warm up
    before = free_device_memory()
    for i in range(1000):
        array = pinned_empty((i % 31 + 1, 4096), np.uint8)
        ptr = array.ctypes.data
        assert host_memory_type(ptr) == pinned
        array[0, 0] = 1
        del array  # the last reference: cudaFreeHost runs now
        assert host_memory_type(ptr) == unregistered, f"pinned block {i} was not freed"
    gc.collect()
    after = free_device_memory()
    print(
        f"\n1,000 host allocations pinned and released; free device memory before {before / MiB:.1f} MiB, "
        f"after {after / MiB:.1f} MiB"
    )
    assert abs(before - after) <= 1 * MiB


def test_pinned_memory_is_freed_only_when_the_last_view_dies() -> None:
    from cuda.bindings import runtime as cudart

    from cuda_python_common import check_cuda, pinned_empty

    array = pinned_empty((64, 64), np.float32)
    view = array[10:20]
    ptr = array.ctypes.data
    del array
    gc.collect()
    attrs = check_cuda(cudart.cudaPointerGetAttributes(ptr))
    assert attrs.type == cudart.cudaMemoryType.cudaMemoryTypeHost, "freed while a view was alive"
    view[...] = 1.5
    assert float(view.sum()) == 1.5 * view.size
    del view
    gc.collect()
    assert host_memory_type(ptr) == cudart.cudaMemoryType.cudaMemoryTypeUnregistered, "not freed with its last view"


def test_a_buffer_alive_at_exit_is_freed_quietly(tmp_path: Path) -> None:
    script = tmp_path / "exit_with_buffers.py"
    script.write_text(
        textwrap.dedent("""
        import numpy as np
        import cvcuda
        from cuda_python_common import CudaBuffer, cuda_memcpy_h2d, pinned_empty
        kept = CudaBuffer((1024, 1024), np.float32)
        cuda_memcpy_h2d(np.ones((1024, 1024), np.float32), kept)
        tensor = cvcuda.as_tensor(kept)
        wrapper = CudaBuffer.from_cuda(tensor.cuda())
        pinned = pinned_empty(1 << 20)
        cycle = [kept]
        cycle.append(cycle)  # a reference cycle: freed by the collector at exit, if at all
    """)
    )
    path = os.pathsep.join(filter(None, [str(SAMPLES_DIR), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == "", (proc.stdout, proc.stderr)


def test_wrappers_survive_their_source_being_dropped() -> None:
    import cvcuda

    from cuda_python_common import CudaBuffer, cuda_memcpy_d2h, cuda_memcpy_h2d

    host = np.arange(100 * 100 * 3, dtype=np.uint32).astype(np.uint8).reshape(100, 100, 3)
    wrappers = []
    for seed in range(10):
        tensor = cvcuda.Tensor(host.shape, cvcuda.Type.U8, "HWC")
        cuda_memcpy_h2d(np.roll(host, seed), tensor.cuda())
        wrappers.append(CudaBuffer.from_cuda(tensor.cuda()))
        del tensor
    gc.collect()
    fresh = [cvcuda.Tensor(host.shape, cvcuda.Type.U8, "HWC") for _ in range(100)]
    for tensor in fresh:
        cuda_memcpy_h2d(np.zeros_like(host), tensor.cuda())
    for seed, wrapper in enumerate(wrappers):
        back = np.empty_like(host)
        cuda_memcpy_d2h(wrapper, back)
        np.testing.assert_array_equal(back, np.roll(host, seed))


def test_a_wrapper_of_a_closed_buffer_refuses_use() -> None:
    from cuda_python_common import CudaBuffer, cuda_memcpy_d2h, cuda_memcpy_h2d

    owner = CudaBuffer((32, 32), np.uint16)
    wrapper = CudaBuffer.from_cuda(owner)
    window = owner.crop(0, 0, 8, 8)
    owner.close()
    host = np.zeros((32, 32), np.uint16)
    for dead in (owner, wrapper):
        with pytest.raises(ValueError, match="closed"):
            cuda_memcpy_d2h(dead, host)
        with pytest.raises(ValueError, match="closed"):
            cuda_memcpy_h2d(host, dead)
        with pytest.raises(ValueError, match="closed"):
            dead.__cuda_array_interface__  # noqa: B018
    with pytest.raises(ValueError, match="closed"):
        cuda_memcpy_d2h(window, np.zeros((8, 8), np.uint16))
    owner.close()  # idempotent
