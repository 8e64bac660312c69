# SPDX-License-Identifier: Apache-2.0
"""Sessions for authors, CI and GPU runners.

    nox -s tests      # pytest (GPU tests skip with the reason where no GPU is usable)
    nox -s docs       # build the site; the gallery executes when a GPU is usable
    nox -s samples    # run every sample; fails when none can run
    nox -s sanitize   # every sample under compute-sanitizer (memcheck, racecheck, synccheck, initcheck)
    nox -s bench      # host<->device transfer benchmark -> docs/performance/results.json
    nox -s gpu        # the GPU runner: samples, tests with REQUIRE_GPU=1, sanitize, docs executed
    nox -s lint       # ruff
    nox -s docs-live  # rebuild and reload the site while you edit (sphinx-autobuild)
    nox -s linkcheck  # every internal link and #anchor of the built site (LINKCHECK_EXTERNAL=1: external too)

Offline, on preinstalled packages: ``nox --no-venv --no-install -s <session>``.
``CUDA_FLAVOR=cu12`` installs the CUDA 12 wheels instead of CUDA 13.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import nox

nox.needs_version = ">=2024.3.2"
# uv when it is installed, else virtualenv. nox probes for uv whatever the backend, and
# logs "uv binary not found." where there is none: not an error, so that line is dropped.
nox.options.default_venv_backend = "uv|virtualenv" if shutil.which("uv") else "virtualenv"
logging.getLogger("nox").addFilter(lambda record: record.getMessage() != "uv binary not found.")
nox.options.sessions = ["lint", "tests", "docs"]
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).resolve().parent
SAMPLES_DIR = ROOT / "samples" / "interoperability"
DOCS_DIR = ROOT / "docs"
BUILD_DIR = DOCS_DIR / "_build"
SANITIZER_TOOLS = ("memcheck", "racecheck", "synccheck", "initcheck")
FLAVOR = os.environ.get("CUDA_FLAVOR", "cu13")
SPHINX_OPTS = ["-W", "--keep-going", "-n", "-T"]


def _load_preflight() -> ModuleType:
    """The samples' preflight module (standard library only, so nox can load it anywhere)."""
    spec = importlib.util.spec_from_file_location("preflight", SAMPLES_DIR / "preflight.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PREFLIGHT = _load_preflight()
EXIT_GPU_UNAVAILABLE = PREFLIGHT.EXIT_GPU_UNAVAILABLE  # a sample's "cannot run here" status


def sample_paths() -> list[Path]:
    """Every sample, in the gallery's reading order (preflight.SAMPLES)."""
    return [SAMPLES_DIR / name for name in PREFLIGHT.SAMPLES]


def _samples_on_path() -> dict[str, str]:
    """PYTHONPATH with the samples' folder first, so scripts import their modules."""
    rest = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(SAMPLES_DIR), rest]))}


def _python(session: nox.Session) -> str:
    """The interpreter of the session: the venv's, or nox's own under ``--no-venv``."""
    return sys.executable if session.virtualenv.venv_backend == "none" else "python"


def _require_gpu() -> bool:
    return os.environ.get("REQUIRE_GPU", "").strip().lower() in {"1", "true", "yes"}


def _install(session: nox.Session, *extras: str) -> None:
    session.install("-e", f".[{','.join(extras)}]")


def _env(session: nox.Session) -> dict[str, str]:
    """The session's environment as a dict for subprocess (PATH includes the venv's bin)."""
    env = dict(os.environ)
    env.update({k: v for k, v in (session.env or {}).items() if v is not None})
    if session.virtualenv.venv_backend != "none":
        env["PATH"] = os.pathsep.join([session.bin, env.get("PATH", "")])
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


@nox.session
def tests(session: nox.Session) -> None:
    """Run pytest; extra arguments go to pytest (``nox -s tests -- -k memcpy``)."""
    _install(session, "test", "docs", FLAVOR)
    session.run(_python(session), "-m", "pytest", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the site into docs/_build/html (``-- -b linkcheck`` etc. are passed to sphinx-build)."""
    _install(session, "docs", FLAVOR)
    builder = session.posargs or ["-b", "html"]
    out = BUILD_DIR / ("html" if builder == ["-b", "html"] else builder[-1])
    session.run(_python(session), "-m", "sphinx", *SPHINX_OPTS, *builder, str(DOCS_DIR), str(out))


@nox.session(name="docs-live", default=False)
def docs_live(session: nox.Session) -> None:
    """Serve the site on localhost and rebuild it on every save (gallery not executed)."""
    _install(session, "docs", FLAVOR)
    session.install("sphinx-autobuild")
    session.run(
        "sphinx-autobuild",
        "-n",
        "-T",
        "--watch",
        str(SAMPLES_DIR),
        "-D",
        "sphinx_gallery_conf.plot_gallery=0",
        str(DOCS_DIR),
        str(BUILD_DIR / "live"),
        *session.posargs,
    )


@nox.session(default=False)
def linkcheck(session: nox.Session) -> None:
    """Check every internal link and #anchor of the built site; external links too with LINKCHECK_EXTERNAL=1."""
    _install(session, "test", "docs", FLAVOR)
    session.run(_python(session), "-m", "pytest", "-q", str(ROOT / "tests" / "test_links.py"))
    if os.environ.get("LINKCHECK_EXTERNAL") == "1":  # needs the network
        session.run(
            _python(session),
            "-m",
            "sphinx",
            *SPHINX_OPTS,
            "-b",
            "linkcheck",
            str(DOCS_DIR),
            str(BUILD_DIR / "linkcheck"),
            env={"GALLERY_EXECUTE": "0"},
        )


@nox.session
def lint(session: nox.Session) -> None:
    """Lint with ruff check and ruff format --check."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


def _run_samples(session: nox.Session) -> list[tuple[str, str]]:
    """Run each sample in its own process; returns (name, status) pairs and fails the session on a failure.

    A sample that exits with EXIT_GPU_UNAVAILABLE "could not run"; that fails
    the session under REQUIRE_GPU=1, or when no sample could run at all.
    Outputs are written to $SAMPLE_OUTPUT_DIR/<name>.txt when it is set.
    """
    out_dir = os.environ.get("SAMPLE_OUTPUT_DIR")
    results: list[tuple[str, str]] = []
    failed: list[str] = []
    for path in sample_paths():
        cmd = [_python(session), str(path)]
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, env=_env(session), capture_output=True, text=True, timeout=1800)
        seconds = time.perf_counter() - start
        text = proc.stdout + proc.stderr
        if proc.returncode == 0:
            status = "passed"
        elif proc.returncode == EXIT_GPU_UNAVAILABLE:
            status = "could not run"
        else:
            status = f"failed (exit {proc.returncode})"
            failed.append(path.name)
        results.append((path.name, status))
        session.log(f"samples: {path.name}: {status} in {seconds:.1f} s")
        print(text.rstrip(), flush=True)
        if out_dir and status == "passed":
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            (Path(out_dir) / f"{path.stem}.txt").write_text(proc.stdout)
            _write_recording_meta(Path(out_dir))
    passed = sum(s == "passed" for _, s in results)
    unavailable = sum(s == "could not run" for _, s in results)
    session.log(f"samples: {passed} passed, {len(failed)} failed, {unavailable} could not run, of {len(results)}")
    if failed:
        session.error(f"samples failed: {', '.join(failed)}")
    if passed == 0:
        session.error("samples: no sample could run (no usable GPU, driver or CV-CUDA)")
    if unavailable and _require_gpu():
        session.error(f"samples: {unavailable} sample(s) could not run and REQUIRE_GPU is set")
    return results


@nox.session
def samples(session: nox.Session) -> None:
    """Run every sample as a user would: ``python samples/interoperability/<name>.py``."""
    _install(session, FLAVOR)
    _run_samples(session)


#: cuda.core resolves driver entry points with cuGetProcAddress and expects "not found"
#: for optional ones; memcheck would count each as an API error. Memory errors are still
#: reported for this sample; only failed API calls are not (our code checks each one).
SANITIZER_EXTRA = {
    "cuda_core_interop.py": ["--report-api-errors", "no"],
    # torch and CuPy probe the driver the same way (optional entry points, device
    # queries that may fail by design) when they start; their kernels are still checked.
    "pytorch_interop.py": ["--report-api-errors", "no"],
    "cupy_interop.py": ["--report-api-errors", "no"],
    # cuda.core again, and NVRTC (Program.compile) loaded through it.
    "cuda_python_kernel.py": ["--report-api-errors", "no"],
    # cuda.core, and torch and CuPy when installed.
    "dlpack_interop.py": ["--report-api-errors", "no"],
    # nvImageCodec loads its codec libraries and probes what the device offers
    # (hardware JPEG engine, stream-ordered allocation) at start, calls that may
    # fail by design; the decode, CV-CUDA and copy kernels are still checked.
    "nvimagecodec_interop.py": ["--report-api-errors", "no"],
}


#: Errors a tool finds inside another library's own kernels, reading that library's
#: own buffers: (sample, tool) -> (kernel namespace, why). Such a run passes when
#: every error it reports is in that namespace; any other error fails it.
SANITIZER_KNOWN = {
    ("nvimagecodec_interop.py", "initcheck"): (
        "nvjpeg::",
        "nvJPEG's colour conversions (ycbcr_to_format_kernel_roi, rgba2rgb) read "
        "bytes of nvJPEG's own intermediate buffers that no kernel wrote; the "
        "decoded image matches Pillow's and CV-CUDA's kernels read it cleanly",
    ),
}
#: Host backtraces make each of those errors slow to report (the run took over 10
#: minutes with them, seconds without); every error is still printed.
SANITIZER_KNOWN_ARGS = ["--show-backtrace", "no", "--print-limit", "1000000"]


def _foreign_errors(text: str, namespace: str) -> tuple[int, int, list[str]] | None:
    """(errors, dropped, kernels) when every error in a sanitizer report is in a
    kernel of ``namespace``; None when any is elsewhere, or the report does not add
    up. When a launch overflows the tool's error buffer, the tool counts one error
    for the overflow, notes it after that launch's records and drops the rest:
    those count as the kernel's before it."""
    kernels: list[str] = []
    overflows = 0
    for line in text.splitlines():
        found = re.match(r"=+ {5}at (?:void )?(\S+)", line)
        if found:
            kernels.append(re.split(r"[<(+]", found.group(1), maxsplit=1)[0])
        elif "Error buffer overflow" in line:
            if not kernels or not kernels[-1].startswith(namespace):
                return None
            overflows += 1
    summary = re.findall(r"ERROR SUMMARY: (\d+) errors?", text)
    if not summary or int(summary[-1]) != len(kernels) + overflows:
        return None
    if not all(kernel.startswith(namespace) for kernel in kernels):
        return None
    dropped = sum(int(n) for n in re.findall(r"(\d+) errors were skipped", text))
    return int(summary[-1]), dropped, sorted(set(kernels))


def _sanitize_one(
    sanitizer: str, tool: str, path: Path, python: str, env: dict[str, str]
) -> tuple[bool, str, str, str]:
    """One sample under one tool: (passed, its summary line, the output, its name)."""
    extra = SANITIZER_EXTRA.get(path.name, []) if tool == "memcheck" else []
    known = SANITIZER_KNOWN.get((path.name, tool))
    if known:
        extra = [*extra, *SANITIZER_KNOWN_ARGS]
    cmd = [sanitizer, "--tool", tool, *extra, "--error-exitcode", "97", python, str(path)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    text = proc.stdout + proc.stderr
    # racecheck sums up as "RACECHECK SUMMARY: N hazards displayed (E errors, W warnings)".
    summary = re.findall(r"ERROR SUMMARY: \d+ errors?", text) or [
        f"ERROR SUMMARY: {m} error{'s' if m != '1' else ''}"
        for m in re.findall(r"RACECHECK SUMMARY: .*?\((\d+) errors?", text)
    ]
    line = summary[-1] if summary else "no ERROR SUMMARY line"
    ok = line == "ERROR SUMMARY: 0 errors" and proc.returncode == 0
    if known and not ok and proc.returncode in (0, 97):
        foreign = _foreign_errors(text, known[0])
        if foreign is not None:
            errors, dropped, kernels = foreign
            ok = True
            more = f", {dropped} more dropped from the same launches" if dropped else ""
            line = (
                f"ERROR SUMMARY: 0 errors outside {known[0]}; {errors} inside it "
                f"({', '.join(kernels)}{more}): {known[1]}"
            )
    if proc.returncode != 0 and not ok:
        line += f" (exit {proc.returncode})"
    return ok, line, text, f"{path.name}/{tool}"


@nox.session
def sanitize(session: nox.Session) -> None:
    """Run every sample under compute-sanitizer with each tool; every run must report 0 errors.

    Runs are independent processes, so they go in parallel (SANITIZE_JOBS, default 4).
    """
    from concurrent.futures import ThreadPoolExecutor

    sanitizer = _which("compute-sanitizer") or "/usr/local/cuda/bin/compute-sanitizer"
    if not Path(sanitizer).exists():
        message = "compute-sanitizer not found (install the CUDA toolkit or put it on PATH)"
        if _require_gpu():
            session.error(message + " and REQUIRE_GPU is set")
        session.skip(message)
    if session.name == "sanitize":
        _install(session, FLAVOR)
    env, python = _env(session), _python(session)
    jobs = [(tool, path) for path in sample_paths() for tool in SANITIZER_TOOLS]
    with ThreadPoolExecutor(max_workers=int(os.environ.get("SANITIZE_JOBS", "4"))) as pool:
        results = list(pool.map(lambda job: _sanitize_one(sanitizer, job[0], job[1], python, env), jobs))
    bad = []
    for ok, line, text, name in results:
        session.log(f"sanitize: {name}: {line}")
        if not ok:
            bad.append(name)
            print(text[-4000:], flush=True)
    session.log(f"sanitize: {len(results) - len(bad)} of {len(results)} runs report 0 errors")
    if bad:
        session.error(f"sanitize: errors in {', '.join(bad)}")


@nox.session
def bench(session: nox.Session) -> None:
    """Measure host<->device transfer rates; writes docs/performance/results.json (``-- --quick`` for a short run)."""
    _install(session, "bench", FLAVOR)
    script = DOCS_DIR / "performance" / "bench_transfers.py"  # imports the samples' modules
    session.run(_python(session), str(script), *session.posargs, env=_samples_on_path())


@nox.session
def gpu(session: nox.Session) -> None:
    """Run everything a GPU runner checks: samples, tests, sanitizers, benchmark and executed docs.

    The samples' output is re-recorded for GPU-less builds, the tests run with GPU
    skips as failures, then compute-sanitizer, the benchmark, and the docs with the
    gallery executed, whose figures are recorded for GPU-less builds too."""
    _install(session, "test", "docs", "bench", FLAVOR)
    session.env["REQUIRE_GPU"] = "1"
    os.environ["REQUIRE_GPU"] = "1"
    os.environ.setdefault("SAMPLE_OUTPUT_DIR", str(DOCS_DIR / "recorded_outputs"))
    _run_samples(session)
    session.run(_python(session), "-m", "pytest", *(session.posargs or ["-q"]))
    sanitize(session)
    script = DOCS_DIR / "performance" / "bench_transfers.py"
    session.run(_python(session), str(script), env=_samples_on_path())
    session.run(
        _python(session),
        "-m",
        "sphinx",
        *SPHINX_OPTS,
        "-b",
        "html",
        str(DOCS_DIR),
        str(BUILD_DIR / "html"),
        env={"GALLERY_EXECUTE": "1"},
    )
    _record_pictures(session, Path(os.environ["SAMPLE_OUTPUT_DIR"]))


def _record_pictures(session: nox.Session, out_dir: Path) -> None:
    """Copy each sample's figure from the executed gallery to ``<out_dir>/<name>.jpg``
    and say in meta.json where and when it was drawn: GPU-less builds show it."""
    images = DOCS_DIR / "auto_samples" / "images"
    missing = []
    for path in sample_paths():
        figure = images / f"sphx_glr_{path.stem}_001.jpg"
        if not figure.is_file():
            missing.append(figure.name)
            continue
        out_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(figure, out_dir / f"{path.stem}.jpg")
        session.log(f"pictures: recorded {path.stem}.jpg ({figure.stat().st_size // 1024} KB)")
    if missing:
        session.error(f"pictures: the executed gallery drew no {', '.join(missing)}")
    _write_recording_meta(out_dir, pictures=True)


def _write_recording_meta(out_dir: Path, *, pictures: bool = False) -> None:
    """meta.json beside recorded outputs: which GPU and driver produced them, and when.

    The pictures have their own entry (``pictures``), written when they are recorded
    and kept when only the text outputs are."""
    import datetime
    import json

    try:
        query = ["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"]
        name, driver = (
            subprocess.run(query, capture_output=True, text=True, timeout=30).stdout.splitlines()[0].split(", ")
        )
    except (OSError, IndexError, ValueError, subprocess.SubprocessError):
        name, driver = "unknown GPU", "unknown"
    meta = {"device": name.strip(), "driver": driver.strip(), "date": datetime.date.today().isoformat()}
    path = out_dir / "meta.json"
    old = json.loads(path.read_text()) if path.is_file() else {}
    if pictures:
        meta["pictures"] = dict(meta)
    elif "pictures" in old:
        meta["pictures"] = old["pictures"]
    path.write_text(json.dumps(meta, indent=1) + "\n")


def _which(name: str) -> str | None:
    from shutil import which

    return which(name)
