# SPDX-License-Identifier: Apache-2.0
"""When a sample passes compute-sanitizer: the command each run gets, and how its
report is read.

``nox -s sanitize`` (and ``gpu``) runs every sample under every tool in
:data:`TOOLS` with :func:`command` and judges each run with :func:`verdict`:
it passes when the tool reports 0 errors and the sample exits 0. The one
exception is a finding in :data:`KNOWN`: errors the tool reports inside another
library's own kernels, reading that library's own buffers; such a run passes
when every error it reports is in that library (:func:`foreign_errors`).
tests/test_hosting.py checks these rules on made-up reports. Standard library
only: nox loads this file by path.
"""

from __future__ import annotations

import re
from pathlib import Path

TOOLS = ("memcheck", "racecheck", "synccheck", "initcheck")
#: compute-sanitizer's exit status when it found errors (``--error-exitcode``).
ERROR_EXIT = 97

#: The samples that decode with nvImageCodec, on nvJPEG: the nvImageCodec sample, and
#: the JPEG batch pipeline, which decodes the same way and hands the images to CV-CUDA
#: and PyTorch. The same two rules apply to each, written once below.
NVIMGCODEC_SAMPLES = ("nvimagecodec_interop.py", "jpeg_batch_pipeline.py")

#: memcheck's flags, for every sample. Every sample imports cuda.core (the common
#: module reads other libraries' memory with its StridedMemoryView), which resolves
#: driver entry points with cuGetProcAddress and expects "not found" for optional
#: ones; torch, CuPy and nvImageCodec probe the driver the same way when they start
#: (optional entry points, device queries that may fail by design). memcheck would
#: count each as an API error. Memory errors are still reported; only failed API
#: calls are not (our code checks every call it makes).
MEMCHECK_FLAGS = ["--report-api-errors", "no"]

#: Errors a tool finds inside another library's own kernels, reading that library's
#: own buffers: (sample, tool) -> (kernel namespace, why). Such a run passes when
#: every error it reports is in that namespace; any other error fails it.
KNOWN = dict.fromkeys(
    ((sample, "initcheck") for sample in NVIMGCODEC_SAMPLES),
    (
        "nvjpeg::",
        "nvJPEG's colour conversions (ycbcr_to_format_kernel_roi, rgba2rgb) read "
        "bytes of nvJPEG's own intermediate buffers that no kernel wrote; the "
        "decoded images match Pillow's pixels within the sample's tolerance, and "
        "CV-CUDA's kernels read them cleanly",
    ),
)
#: For the runs of :data:`KNOWN`: host backtraces make each of those errors slow
#: to report (the run took over 10 minutes with them, seconds without); every
#: error is still printed.
KNOWN_FLAGS = ["--show-backtrace", "no", "--print-limit", "1000000"]


def command(sanitizer: str, tool: str, sample: Path, python: str) -> list[str]:
    """The compute-sanitizer command line for one sample under one tool."""
    flags = list(MEMCHECK_FLAGS) if tool == "memcheck" else []
    if (sample.name, tool) in KNOWN:
        flags = [*flags, *KNOWN_FLAGS]
    return [sanitizer, "--tool", tool, *flags, "--error-exitcode", str(ERROR_EXIT), python, str(sample)]


def verdict(sample: str, tool: str, report: str, returncode: int) -> tuple[bool, str]:
    """Whether the run passed, and its summary line for the log."""
    # racecheck sums up as "RACECHECK SUMMARY: N hazards displayed (E errors, W warnings)".
    summary = re.findall(r"ERROR SUMMARY: \d+ errors?", report) or [
        f"ERROR SUMMARY: {m} error{'s' if m != '1' else ''}"
        for m in re.findall(r"RACECHECK SUMMARY: .*?\((\d+) errors?", report)
    ]
    line = summary[-1] if summary else "no ERROR SUMMARY line"
    ok = line == "ERROR SUMMARY: 0 errors" and returncode == 0
    known = KNOWN.get((sample, tool))
    if known and not ok and returncode in (0, ERROR_EXIT):
        foreign = foreign_errors(report, known[0])
        if foreign is not None:
            errors, dropped, kernels = foreign
            ok = True
            more = f", {dropped} more dropped from the same launches" if dropped else ""
            line = (
                f"ERROR SUMMARY: 0 errors outside {known[0]}; {errors} inside it "
                f"({', '.join(kernels)}{more}): {known[1]}"
            )
    if returncode != 0 and not ok:
        line += f" (exit {returncode})"
    return ok, line


def foreign_errors(report: str, namespace: str) -> tuple[int, int, list[str]] | None:
    """(errors, dropped, kernels) when every error in a sanitizer report is in a
    kernel of ``namespace``; None when any is elsewhere, or the report does not add
    up. When a launch overflows the tool's error buffer, the tool counts one error
    for the overflow, notes it after that launch's records and drops the rest:
    those count as the kernel's before it."""
    kernels: list[str] = []
    overflows = 0
    for line in report.splitlines():
        found = re.match(r"=+ {5}at (?:void )?(\S+)", line)
        if found:
            kernels.append(re.split(r"[<(+]", found.group(1), maxsplit=1)[0])
        elif "Error buffer overflow" in line:
            if not kernels or not kernels[-1].startswith(namespace):
                return None
            overflows += 1
    summary = re.findall(r"ERROR SUMMARY: (\d+) errors?", report)
    if not summary or int(summary[-1]) != len(kernels) + overflows:
        return None
    if not all(kernel.startswith(namespace) for kernel in kernels):
        return None
    dropped = sum(int(n) for n in re.findall(r"(\d+) errors were skipped", report))
    return int(summary[-1]), dropped, sorted(set(kernels))
