# SPDX-License-Identifier: Apache-2.0
"""Local Sphinx extension for the gallery.

* Resolves references to numpy, cuda.bindings, cuda.core and CV-CUDA names
  to their online API pages *without* downloading inventories, so the build
  works offline (CI has no network) and ``-n`` still fails on our own typos.
* On builds that do not execute the gallery, appends to each sample page the
  output recorded on the last GPU run, saying where and when it came from.
* Draws the performance figure and table from the committed benchmark results.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx

import preflight  # docs/conf.py puts the samples' folder on sys.path

DOCS = Path(__file__).resolve().parent.parent
RECORDED = DOCS / "recorded_outputs"
GENERATED = DOCS / "_generated"
PERFORMANCE = DOCS / "performance"

#: External API pages by name prefix; ``{name}`` is the full dotted name.
EXTERNAL_APIS: list[tuple[str, str, str]] = [
    ("collections.abc.", "https://docs.python.org/3/library/collections.abc.html#{name}", "Python"),
    ("numpy.random.", "https://numpy.org/doc/stable/reference/random/generated/{name}.html", "NumPy"),
    ("numpy.", "https://numpy.org/doc/stable/reference/generated/{name}.html", "NumPy"),
    (
        "cuda.bindings.runtime.",
        "https://nvidia.github.io/cuda-python/cuda-bindings/latest/module/runtime.html#{name}",
        "cuda.bindings",
    ),
    ("cuda.core.utils.", "https://nvidia.github.io/cuda-python/cuda-core/latest/generated/{name}.html", "cuda.core"),
    ("cuda.core.", "https://nvidia.github.io/cuda-python/cuda-core/latest/generated/{name}.html", "cuda.core"),
]

#: CV-CUDA's API pages are not one-page-per-name: only names listed here resolve,
#: so a misspelt one fails the ``-n`` build instead of becoming a dead link.
CVCUDA_PAGES = {
    "cvcuda.Tensor": "https://cvcuda.github.io/CV-CUDA/modules/python/data_types.html#cvcuda.Tensor",
    "cvcuda.Image": "https://cvcuda.github.io/CV-CUDA/modules/python/data_types.html#cvcuda.Image",
}


#: The gallery's reading order, defined once with the samples (preflight.SAMPLES).
SAMPLE_ORDER = list(preflight.SAMPLES)


class SampleOrder:
    """sphinx-gallery ``within_subsection_order``: samples in SAMPLE_ORDER, others after them by name."""

    def __init__(self, src_dir: str) -> None:
        self.src_dir = src_dir

    def __call__(self, filename: str) -> tuple[int, str]:
        rank = SAMPLE_ORDER.index(filename) if filename in SAMPLE_ORDER else len(SAMPLE_ORDER)
        return rank, filename

    def __repr__(self) -> str:  # sphinx-gallery compares configs by repr to decide on rebuilds
        return f"<{type(self).__name__}>"


def external_url(name: str) -> str | None:
    """The API page of an external dotted name, or None when it is not ours to resolve."""
    if name.startswith("np."):
        name = "numpy." + name[3:]
    if name.startswith("cvcuda."):
        return CVCUDA_PAGES.get(name)
    for prefix, template, _ in EXTERNAL_APIS:
        if name.startswith(prefix):
            return template.format(name=name)
    return None


def _resolve_external(app: Sphinx, env: Any, node: Any, contnode: nodes.Node) -> nodes.Node | None:
    if node.get("refdomain") != "py":
        return None
    url = external_url(node.get("reftarget", ""))
    if url is None:
        return None
    ref = nodes.reference("", "", internal=False, refuri=url, reftitle=node["reftarget"])
    ref += contnode
    return ref


def recorded_output_rst(stem: str) -> str:
    """reST appended to a sample page built without running it."""
    meta_path = RECORDED / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    output = RECORDED / f"{stem}.txt"
    head = "\n\n.. rubric:: Output\n\n"
    if not output.exists():
        return head + (
            ".. note::\n\n   This build had no GPU, so the sample was not run, and no output has been "
            "recorded for it yet. Run ``nox -s gpu`` on a GPU machine to record it.\n"
        )
    where = f"{meta.get('device', 'a GPU')}, driver {meta.get('driver', '?')}, {meta.get('date', 'date unknown')}"
    return head + (
        ".. note::\n\n   This build had no GPU, so the sample was not run here. The output below was "
        f"recorded when it last ran on a GPU ({where}) by ``nox -s gpu``; GPU builds of the site "
        "show the live output instead.\n\n"
        f".. literalinclude:: /recorded_outputs/{stem}.txt\n   :language: text\n"
    )


DOCS_TAG_LINE = re.compile(r"^[ \t]*# docs_tag: (begin|end)_\w+[ \t]*\n", re.M)


def _polish_sample_page(app: Sphinx, docname: str, source: list[str]) -> None:
    """Drop the ``# docs_tag:`` marker lines from gallery pages (they are for literalinclude),
    and on builds that did not run the samples, append the recorded output."""
    match = re.fullmatch(r"auto_samples/(?!index$)(\w+)", docname)
    if not match:
        return
    source[0] = DOCS_TAG_LINE.sub("", source[0])
    if app.config.sphinx_gallery_conf.get("plot_gallery") not in (True, "True"):
        source[0] += recorded_output_rst(match.group(1))


def load_renderer() -> ModuleType:
    """``docs/performance/render_results.py``, the one renderer of the benchmark's results,
    loaded afresh from its file on each build (sys.path stays as it is)."""
    spec = importlib.util.spec_from_file_location("render_results", PERFORMANCE / "render_results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _performance_artifacts(app: Sphinx) -> None:
    """Write the Performance page's figure and tables into _generated/ from the results
    JSON (performance.png, performance_summary.rst, performance_table.rst), and the
    comparison table's GB/s substitutions."""
    data = load_renderer().write_docs_assets(GENERATED)
    app.config.rst_epilog = (app.config.rst_epilog or "") + comparison_substitutions(data)


#: Benchmark methods behind the comparison table's GB/s column.
APPROACH_METHODS = {
    "a12_gbps": "helpers (pageable)",
    "a3_gbps": "helpers pinned async",
    "core_gbps": "cuda.core Buffer.copy_from (pinned)",
}


def comparison_substitutions(data: dict[str, Any]) -> str:
    """``|a12_gbps|``, ``|a3_gbps|``, ``|core_gbps|`` and ``|bench_where|`` from the benchmark results."""
    lines = []
    for name, method in APPROACH_METHODS.items():
        figures = []
        for direction in ("h2d", "d2h"):
            rows = [
                r
                for r in data.get("results", [])
                if r.get("method") == method and r.get("direction") == direction and r.get("gbps_median")
            ]
            best = max(rows, key=lambda r: r["bytes"]) if rows else None
            figures.append(f"{best['gbps_median']:.1f}" if best else "n/a")
        lines.append(f".. |{name}| replace:: {figures[0]} / {figures[1]}")
    where = f"{data.get('device', 'unknown device')}, {data.get('date', 'undated')}"
    if data.get("synthetic"):
        where += ", SYNTHETIC EXAMPLE DATA: not a measurement"
    lines.append(f".. |bench_where| replace:: {where}")
    return "\n" + "\n".join(lines) + "\n"


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("missing-reference", _resolve_external)
    app.connect("source-read", _polish_sample_page)
    app.connect("builder-inited", _performance_artifacts)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
