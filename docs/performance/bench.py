# SPDX-License-Identifier: Apache-2.0
"""The Performance page's benchmark: runs its parts, writes ``results.json``.

    nox -s bench [-- PART ...] [-- --quick] [-- --strict]
    PYTHONPATH=samples/interoperability \\
        python docs/performance/bench.py [PART ...] [--quick] [--out PATH] [--strict]
    python docs/performance/bench.py --upgrade PATH

The parts, one file each beside this one, all on one device in one run:

* ``transfers`` (``bench_transfers.py``): host <-> device copy rates of every
  method, and the helpers against the raw binding;
* ``batch`` (``bench_batch.py``): Approach 3's overlapped batch against the
  bidirectional copy ceiling;
* ``interop`` (``bench_interop.py``): CV-CUDA on torch tensors while another
  stream is busy, and the wrap cost of each library's objects;
* ``decode`` (``bench_decode.py``): JPEG decode to a CV-CUDA tensor,
  nvImageCodec against Pillow and a copy;
* ``pipeline`` (``bench_pipeline.py``): JPEG files to a normalised NCHW
  float16 batch, the JPEG batch pipeline sample against DALI, torchvision on
  the GPU and Pillow with worker processes (a path whose package is missing is
  skipped with why: ``pip install -e ".[pipeline13]"`` brings DALI and
  torchvision).

With no PART it runs them all. Named parts replace their blocks of the results
file and keep the others (``measured`` records each part's date); a file from
another device is not mixed with this one's. The parts share ``timing.py``;
``render_results.py`` prints the report and draws the page, ``targets.py``
judges the targets. The samples' ``preflight`` and ``cuda_python_common`` are
imported from ``samples/interoperability`` on ``PYTHONPATH`` (nox sets it).

``--upgrade PATH`` rewrites a results file in the current schema, in place and
without a GPU: the measured numbers stay, the ratios and targets are computed
afresh. Exit status: 0 when the results were written (``--strict``: 1 if a
target FAILs), 2 for a file of another device, 3 when no GPU is usable (one
line says why, nothing is written).
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import importlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from render_results import SCHEMA, format_cuda_version, format_text
from targets import compute_targets
from timing import PROG, Gpu, exit_after_results, say, why

try:
    import preflight  # from samples/interoperability, on PYTHONPATH
except ImportError:  # main() says how to fix it, in one line
    preflight = None

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results.json"
#: The parts in run order: name -> module.
PARTS = {
    "transfers": "bench_transfers",
    "batch": "bench_batch",
    "interop": "bench_interop",
    "decode": "bench_decode",
    "pipeline": "bench_pipeline",
}
#: preflight.EXIT_GPU_UNAVAILABLE, for when preflight itself cannot be imported
#: (the tests check that the two agree).
EXIT_NO_PREFLIGHT = 3
EXIT_OTHER_DEVICE = 2


def part(name: str) -> Any:
    """A part's module: ``stub(why)`` and ``measure(gpu)`` give its blocks."""
    return importlib.import_module(PARTS[name])


# ---- the results document --------------------------------------------------- #
def assemble(
    env: dict[str, Any],
    measured: dict[str, dict],
    base: dict[str, Any] | None,
    **run: Any,
) -> dict[str, Any]:
    """The results document: this run's environment and measured parts, the
    other parts' blocks from ``base`` (or each part's stub), the run's
    ``quick``, ``warnings`` and ``duration_s``, and the targets."""
    now = dt.datetime.now(dt.timezone.utc)
    today = now.date().isoformat()
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "synthetic": False,
        **env,
        "date": today,
        "timestamp": now.replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "quick": bool(run.pop("quick", False)),
    }
    days = dict((base or {}).get("measured") or {})
    for name in PARTS:
        if name in measured:
            doc.update(measured[name])
            days[name] = today
            continue
        blocks = part(name).stub(f"not measured yet: run bench.py {name}")
        if base is not None and set(blocks) <= set(base):  # kept as measured then
            blocks = {key: base[key] for key in blocks}
            days.setdefault(name, base.get("date"))
        doc.update(blocks)
    doc["measured"] = {name: days[name] for name in PARTS if days.get(name)}
    doc.update(run)
    doc["targets"] = compute_targets(doc)
    return doc


def upgrade_results(doc: dict[str, Any]) -> dict[str, Any]:
    """A results document in the current schema, its derived numbers recomputed.

    Returns a new dict. The measured numbers stay as they are; the shares of the
    fastest method and the targets are computed afresh (so a changed target
    reaches a recorded run too). Schema 1 measured no batch and no interleaved
    pinned comparison: the batch is recorded as not measured, and the pinned
    target falls back to the rate tables.
    """
    from bench_batch import block as batch_block
    from bench_transfers import add_ratios

    schema = doc.get("schema", 1)
    if schema not in (1, SCHEMA):
        raise ValueError(f"unknown results schema {schema!r}")
    new = {"schema": SCHEMA, **copy.deepcopy(doc)}
    new["schema"] = SCHEMA
    add_ratios(new["results"])
    new.setdefault("frameworks", [])  # a run from before the side-by-side comparison
    if schema == 1:
        old = new.get("helper_vs_raw")
        new["helper_vs_raw"] = [{"memory": "pageable", **old}] if old else []
        if new.get("overhead_us") and not new["overhead_us"].get("skipped"):
            new["overhead_us"]["interleaved"] = True
        new.setdefault("cvcuda", "not recorded")
        stub = batch_block("this run predates the batch benchmark (schema 1)")
        new.setdefault("batch", stub)
        new["schema_note"] = (
            "Recorded with results schema 1 and converted: the measured numbers "
            "are unchanged; the shares of the fastest method and the targets were "
            "recomputed. That run measured neither the batch nor the interleaved "
            "pinned comparisons; the pinned target uses its rate tables."
        )
    new.pop("targets", None)
    new["targets"] = compute_targets(new)
    return new


def read_base(out: Path, device: str) -> dict[str, Any] | None:
    """The results file a partial run adds to, when it is a measurement of the
    same schema; SystemExit when it was measured on another device."""
    try:
        doc = json.loads(out.read_text())
    except (OSError, ValueError):
        return None
    if doc.get("synthetic") or doc.get("schema") != SCHEMA:
        return None
    if doc.get("device") != device:
        print(
            f"{PROG}: cannot add to {out}: measured on {doc.get('device')}, this is "
            f"{device}; run all parts (no PART) to replace it",
            file=sys.stderr,
        )
        raise SystemExit(EXIT_OTHER_DEVICE)
    return doc


def write_json(doc: dict[str, Any], out: Path) -> Path:
    out = out if out.is_absolute() else Path.cwd() / out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    os.replace(tmp, out)
    return out


# ---- the environment ---------------------------------------------------------- #
def _version(dist: str, module: Any = None) -> str | None:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:
        return getattr(module, "__version__", None)


def _driver_release() -> str | None:
    """The driver's own version string (e.g. 580.159.04) from nvidia-smi."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    query = [exe, "--query-gpu=driver_version", "--format=csv,noheader"]
    try:
        proc = subprocess.run(query, capture_output=True, text=True, timeout=20)
    except Exception:
        return None
    lines = proc.stdout.strip().splitlines()
    return lines[0].strip() if proc.returncode == 0 and lines else None


def _cvcuda_version() -> str | None:
    """CV-CUDA's version once something has imported it, else None."""
    cvcuda = sys.modules.get("cvcuda")
    return None if cvcuda is None else getattr(cvcuda, "__version__", None)


def describe_environment(gpu: Gpu) -> dict[str, Any]:
    import cuda.bindings
    import numpy as np

    def ask(call: str, *args: Any) -> Any:
        try:
            return gpu.check(getattr(gpu.cudart, call)(*args), call)
        except Exception as exc:
            gpu.warnings.append(f"{call}: {why(exc)}")
            return None

    name = getattr(ask("cudaGetDeviceProperties", 0), "name", None) or b"unknown"
    if isinstance(name, (bytes, bytearray)):
        name = bytes(name).split(b"\0", 1)[0].decode(errors="replace")
    return {
        "device": str(name).replace("\0", "").strip(),
        "driver": ask("cudaDriverGetVersion"),
        "driver_release": _driver_release(),
        "runtime": ask("cudaRuntimeGetVersion"),
        "cuda_bindings": _version("cuda-bindings", cuda.bindings),
        "cvcuda": _cvcuda_version(),
        "numpy": np.__version__,
        "cupy": None if gpu.cupy is None else gpu.cupy.__version__,
        "torch": None if gpu.torch is None else gpu.torch.__version__,
        "python": platform.python_version(),
    }


# ---- the entry point ---------------------------------------------------------- #
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Measure the Performance page's figures (every part, or the named "
            "ones); write results JSON and print a report with the targets' "
            "PASS/FAIL."
        ),
    )
    parser.add_argument(
        "parts",
        nargs="*",
        metavar="PART",
        help=f"any of {', '.join(PARTS)} (default: all)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a short run: sizes up to 64 MiB, fewer repetitions and rounds",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="results JSON to write (default: docs/performance/results.json)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit with status 1 when a target FAILs"
    )
    parser.add_argument(
        "--upgrade",
        type=Path,
        metavar="PATH",
        help="rewrite the results file PATH in the current schema, its ratios "
        "and targets recomputed (no GPU needed)",
    )
    args = parser.parse_args(argv)
    unknown = [name for name in args.parts if name not in PARTS]
    if unknown:
        parser.error(f"no part {', '.join(unknown)}: the parts are {', '.join(PARTS)}")
    return args


def upgrade_file(path: Path) -> int:
    doc = upgrade_results(json.loads(path.read_text()))
    write_json(doc, path)
    print(format_text(doc))
    print(f"\n{PROG}: rewrote {path} (results schema {SCHEMA})")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.upgrade is not None:
        return upgrade_file(args.upgrade)
    if preflight is None:
        why_not = "cannot import preflight: put samples/interoperability on PYTHONPATH"
        print(f"{PROG}: cannot run: {why_not} (nox -s bench does)", file=sys.stderr)
        return EXIT_NO_PREFLIGHT
    reason = preflight.gpu_unavailable_reason()
    if reason is not None:
        print(f"{PROG}: cannot run: {reason}", file=sys.stderr)
        return preflight.EXIT_GPU_UNAVAILABLE
    from cuda.bindings import runtime as cudart

    import cuda_python_common as cu

    names = [name for name in PARTS if name in args.parts] or list(PARTS)
    started = time.perf_counter()
    gpu = Gpu(cu, cudart, args.quick)
    measured: dict[str, dict] = {}
    try:
        try:
            gpu.start()
        except Exception as exc:  # a device that is listed but cannot be used
            print(
                f"{PROG}: cannot run: CUDA set-up failed: {why(exc)}", file=sys.stderr
            )
            return preflight.EXIT_GPU_UNAVAILABLE
        env = describe_environment(gpu)
        base = None if names == list(PARTS) else read_base(args.out, env["device"])
        say(
            f"{env['device']}, driver CUDA {format_cuda_version(env['driver'])}, "
            f"{'quick' if args.quick else 'full'} run of {', '.join(names)}"
        )
        for note in gpu.notes.values():
            say(note)
        for name in names:
            measured[name] = part(name).measure(gpu)
        env["cvcuda"] = _cvcuda_version() or (base or {}).get("cvcuda")
    finally:
        gpu.close()
    duration_s = round(time.perf_counter() - started, 1)
    doc = assemble(
        env,
        measured,
        base,
        quick=args.quick,
        warnings=gpu.warnings,
        duration_s=duration_s,
    )
    out = write_json(doc, args.out)
    print()
    print(format_text(doc))
    print(f"\n{PROG}: wrote {out} in {doc['duration_s']:.0f} s")
    if args.strict and doc["targets"]["all_pass"] is False:
        return 1
    return 0


if __name__ == "__main__":
    try:
        exit_after_results(main())
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; nothing written", file=sys.stderr)
        sys.exit(130)
