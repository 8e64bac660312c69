# SPDX-License-Identifier: Apache-2.0
"""Sessions for authors, CI and GPU runners.

    nox -s tests      # pytest (GPU tests skip with the reason where no GPU is usable)
    nox -s docs       # build the site; the gallery executes when a GPU is usable
    nox -s samples    # run every sample; fails when none can run
    nox -s sanitize   # every sample under compute-sanitizer (memcheck, racecheck, synccheck, initcheck)
    nox -s bench      # the Performance page's benchmark -> docs/performance/results.json
                      # (-- transfers, batch, interop, decode or pipeline: that part alone)
    nox -s gpu        # the GPU runner: samples, tests with REQUIRE_GPU=1, sanitize, bench, docs executed
    nox -s lint       # ruff
    nox -s docs-live  # rebuild and reload the site while you edit (sphinx-autobuild)
    nox -s linkcheck  # every internal link and #anchor of the built site, in the tests session's
                      # environment (LINKCHECK_EXTERNAL=1: external links too, in the docs session's)

Offline, on preinstalled packages: ``nox --no-venv --no-install -s <session>``.
``CUDA_FLAVOR=cu12`` installs the CUDA 12 wheels instead of CUDA 13.
"""

from __future__ import annotations

import datetime
import functools
import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
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
FLAVOR = os.environ.get("CUDA_FLAVOR", "cu13")
#: What the benchmark measures with, for the flavour's CUDA (pyproject.toml's extras): nvImageCodec,
#: PyTorch, and DALI and torchvision, which the pipeline part compares the JPEG pipeline sample with.
BENCH_EXTRAS = ("bench", FLAVOR, f"codec{FLAVOR[2:]}", "torch", f"pipeline{FLAVOR[2:]}")


def _load(path: Path) -> ModuleType:
    """A standard-library-only module of the project, loaded from its file, so
    that nox can use it before anything is installed."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PREFLIGHT = _load(SAMPLES_DIR / "preflight.py")  # the sample list, the "cannot run" status
BUILD_SITE = _load(DOCS_DIR / "build_site.py")  # the sphinx-build command and its flags
SWITCHES = _load(ROOT / "tests" / "switches.py")  # REQUIRE_GPU
SANITIZER = _load(ROOT / "tests" / "sanitizer_rules.py")  # when a sanitizer run passes
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
    run_tests(session, *session.posargs)


def run_tests(session: nox.Session, *args: str) -> None:
    session.run(_python(session), "-m", "pytest", *args)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the site into docs/_build/html (``-- -b linkcheck`` etc. are passed to sphinx-build)."""
    _install(session, "docs", FLAVOR)
    build_docs(session, *session.posargs)


def build_docs(session: nox.Session, *options: str, env: dict[str, str] | None = None) -> None:
    """sphinx-build with the site's flags (build_site.py) into docs/_build/<builder>."""
    builder = options[options.index("-b") + 1] if "-b" in options[:-1] else "html"
    command = BUILD_SITE.sphinx_command(BUILD_DIR / builder, *options, python=_python(session))
    session.run(*command, env=env)


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


@nox.session(default=False, venv_backend="none")
def linkcheck(session: nox.Session) -> None:
    """Check every internal link and #anchor of the built site (LINKCHECK_EXTERNAL=1: external too).

    It makes no environment of its own: the crawl runs as ``nox -s tests -- tests/test_links.py``
    (in the tests session's environment), Sphinx's external check as ``nox -s docs -- -b linkcheck``."""
    session.notify("tests", ["-q", str(ROOT / "tests" / "test_links.py")])
    if SWITCHES.switched_on("LINKCHECK_EXTERNAL"):  # needs the network
        session.notify("docs", ["-b", "linkcheck", "-D", "sphinx_gallery_conf.plot_gallery=0"])


@nox.session
def lint(session: nox.Session) -> None:
    """Lint with ruff check and ruff format --check."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


def run_samples(session: nox.Session, record_to: Path | None = None) -> None:
    """Run each sample in its own process; fail the session when one fails.

    A sample that exits with EXIT_GPU_UNAVAILABLE "could not run"; that fails
    the session under REQUIRE_GPU=1, or when no sample could run at all. With
    ``record_to``, each passing sample's output goes to ``<record_to>/<name>.txt``.
    """
    counts = {"passed": 0, "failed": 0, "could not run": 0}
    failed = []
    for path in sample_paths():
        start = time.perf_counter()
        proc = subprocess.run(
            [_python(session), str(path)], cwd=ROOT, env=_env(session), capture_output=True, text=True, timeout=1800
        )
        if proc.returncode == 0:
            status = "passed"
        elif proc.returncode == EXIT_GPU_UNAVAILABLE:
            status = "could not run"
        else:
            status, failed = "failed", [*failed, path.name]
        counts[status] += 1
        session.log(f"samples: {path.name}: {status} (exit {proc.returncode}) in {time.perf_counter() - start:.1f} s")
        print((proc.stdout + proc.stderr).rstrip(), flush=True)
        if record_to and status == "passed":
            record_to.mkdir(parents=True, exist_ok=True)
            (record_to / f"{path.stem}.txt").write_text(proc.stdout)
    summary = ", ".join(f"{n} {status}" for status, n in counts.items())
    session.log(f"samples: {summary}, of {sum(counts.values())}")
    if record_to and counts["passed"]:
        _write_recording_meta(record_to)
    if failed:
        session.error(f"samples failed: {', '.join(failed)}")
    if counts["passed"] == 0:
        session.error("samples: no sample could run (no usable GPU, driver or CV-CUDA)")
    if counts["could not run"] and SWITCHES.require_gpu():
        session.error(f"samples: {counts['could not run']} sample(s) could not run and REQUIRE_GPU is set")


@nox.session
def samples(session: nox.Session) -> None:
    """Run every sample as a user would: ``python samples/interoperability/<name>.py``."""
    _install(session, FLAVOR)
    run_samples(session, record_to=_recording_dir())


def _recording_dir() -> Path | None:
    """Where sample outputs are recorded: $SAMPLE_OUTPUT_DIR, when it is set."""
    return Path(os.environ["SAMPLE_OUTPUT_DIR"]) if os.environ.get("SAMPLE_OUTPUT_DIR") else None


@nox.session
def sanitize(session: nox.Session) -> None:
    """Run every sample under compute-sanitizer, each tool; every run must pass.

    tests/sanitizer_rules.py says when a run passes. Runs go in parallel (SANITIZE_JOBS, default 4)."""
    _install(session, FLAVOR)
    run_sanitize(session)


def run_sanitize(session: nox.Session) -> None:
    sanitizer = shutil.which("compute-sanitizer") or "/usr/local/cuda/bin/compute-sanitizer"
    if not Path(sanitizer).exists():
        message = "compute-sanitizer not found (install the CUDA toolkit or put it on PATH)"
        if SWITCHES.require_gpu():
            session.error(message + " and REQUIRE_GPU is set")
        session.skip(message)
    env, python = _env(session), _python(session)

    def one(job: tuple[str, Path]) -> tuple[bool, str, str, str]:
        tool, path = job
        command = SANITIZER.command(sanitizer, tool, path, python)
        proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
        report = proc.stdout + proc.stderr
        return (*SANITIZER.verdict(path.name, tool, report, proc.returncode), report, f"{path.name}/{tool}")

    jobs = [(tool, path) for path in sample_paths() for tool in SANITIZER.TOOLS]
    with ThreadPoolExecutor(max_workers=int(os.environ.get("SANITIZE_JOBS", "4"))) as pool:
        results = list(pool.map(one, jobs))
    bad = []
    for ok, line, report, name in results:
        session.log(f"sanitize: {name}: {line}")
        if not ok:
            bad.append(name)
            print(report[-4000:], flush=True)
    session.log(f"sanitize: {len(results) - len(bad)} of {len(results)} runs pass")
    if bad:
        session.error(f"sanitize: errors in {', '.join(bad)}")


@nox.session
def bench(session: nox.Session) -> None:
    """Run the Performance page's benchmark; it writes docs/performance/results.json.

    ``-- PART ...`` runs those parts alone (transfers, batch, interop, decode, pipeline) and
    keeps the others' results; ``-- --quick`` makes a short run. It installs BENCH_EXTRAS, so
    the pipeline part measures DALI and torchvision too (``--no-install``: what is there)."""
    _install(session, *BENCH_EXTRAS)
    run_bench(session, *session.posargs)


def run_bench(session: nox.Session, *args: str) -> None:
    script = DOCS_DIR / "performance" / "bench.py"  # imports the samples' modules
    session.run(_python(session), str(script), *args, env=_samples_on_path())


@nox.session
def gpu(session: nox.Session) -> None:
    """Run what a GPU runner checks: samples, tests, sanitizers, benchmark (every part), executed docs.

    The other sessions' steps, in one environment; extra arguments go to pytest.
    It sets REQUIRE_GPU=1: every "cannot run here" fails. It re-records what
    GPU-less builds show: the samples' output (docs/recorded_outputs/, or
    SAMPLE_OUTPUT_DIR), the benchmark's results and the samples' pictures."""
    _install(session, "test", "docs", *BENCH_EXTRAS)
    os.environ["REQUIRE_GPU"] = "1"
    record_to = _recording_dir() or DOCS_DIR / "recorded_outputs"
    run_samples(session, record_to=record_to)
    run_tests(session, *(session.posargs or ["-q"]))
    run_sanitize(session)
    run_bench(session)
    build_docs(session, env={"GALLERY_EXECUTE": "1"})
    _record_pictures(session, record_to)
    # each executed page with its output under each cell, for GPU-less builds
    recorder = DOCS_DIR / "_ext" / "recorded_gallery.py"
    session.run(_python(session), str(recorder), str(record_to / "gallery"))


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
    name, driver = _gpu_and_driver()
    meta = {"device": name, "driver": driver, "date": datetime.date.today().isoformat()}
    path = out_dir / "meta.json"
    old = json.loads(path.read_text()) if path.is_file() else {}
    if pictures:
        meta["pictures"] = dict(meta)
    elif "pictures" in old:
        meta["pictures"] = old["pictures"]
    path.write_text(json.dumps(meta, indent=1) + "\n")


@functools.cache
def _gpu_and_driver() -> tuple[str, str]:
    """This machine's GPU name and driver version, asked of nvidia-smi once."""
    query = ["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"]
    try:
        line = subprocess.run(query, capture_output=True, text=True, timeout=30).stdout.splitlines()[0]
        name, driver = line.split(", ")
    except (OSError, IndexError, ValueError, subprocess.SubprocessError):
        return "unknown GPU", "unknown"
    return name.strip(), driver.strip()


@nox.session(default=False)
def screenshot(session: nox.Session) -> None:
    """Build the site and take the README's screenshot of it in Chromium (docs/_static/screenshot.png)."""
    _install(session, "test", "docs", FLAVOR)
    session.run(_python(session), str(ROOT / "tests" / "site_screenshot.py"), *session.posargs)
