# SPDX-License-Identifier: Apache-2.0
"""Local Sphinx extension for the gallery.

* Resolves references to numpy, cuda.bindings, cuda.core and CV-CUDA names
  to their online API pages *without* downloading inventories, so the build
  works offline (CI has no network) and ``-n`` still fails on our own typos.
* On builds that do not execute the gallery, puts back each sample page that the
  last GPU run executed (``recorded_gallery``): every cell's output under the
  cell. A sample changed since shows its whole recorded output after its last
  cell and its recorded picture under the cell that draws it, which is its
  card's thumbnail too. Each says where and when it was recorded.
* Shows the gallery's cards where a page asks for them (``sample-cards``), and a
  sample's recorded picture with the link to its full run (``sample-picture``).
* Saves the samples' figures as JPEG (photos: a tenth of a PNG's size), and
  makes each sample's downloads run: its zip also holds the modules it imports,
  and its notebook has no ``# docs_tag:`` lines and no raw reST roles.
* Draws the performance figure and table from the committed benchmark results.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import shutil
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import recorded_gallery
from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx.application import Sphinx

import preflight  # docs/conf.py puts the samples' folder on sys.path

DOCS = Path(__file__).resolve().parent.parent
RECORDED = DOCS / "recorded_outputs"
RECORDED_GALLERY = recorded_gallery.RECORDED  # recorded_outputs/gallery: executed pages
GALLERY = DOCS / "auto_samples"
SAMPLES_DIR = DOCS.parent / "samples" / "interoperability"
#: What a sample imports from its folder: every sample's zip holds them.
SAMPLE_MODULES = preflight.SAMPLE_MODULES
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


def sample_rank(path: str) -> tuple[int, str]:
    """sphinx-gallery ``minigallery_sort_order``: cards in the gallery's reading order."""
    name = Path(path).name
    return (SAMPLE_ORDER.index(name) if name in SAMPLE_ORDER else len(SAMPLE_ORDER)), name


class SampleOrder:
    """sphinx-gallery ``within_subsection_order``: samples in SAMPLE_ORDER, others after them by name."""

    def __init__(self, src_dir: str) -> None:
        self.src_dir = src_dir

    def __call__(self, filename: str) -> tuple[int, str]:
        rank = SAMPLE_ORDER.index(filename) if filename in SAMPLE_ORDER else len(SAMPLE_ORDER)
        return rank, filename

    def __repr__(self) -> str:  # sphinx-gallery compares configs by repr to decide on rebuilds
        return f"<{type(self).__name__}>"


def collect_sample_objects(gallery_conf: dict, fname: str | None, when: str) -> None:
    """sphinx-gallery ``reset_modules``: after a sample, collect its objects now."""
    if when == "after":
        import gc

        gc.collect()


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


def recorded_where(meta: dict[str, Any]) -> str:
    """'NVIDIA H200, driver 580.159.04, 2026-11-29': the GPU run that recorded it."""
    return f"{meta.get('device', 'a GPU')}, driver {meta.get('driver', '?')}, {meta.get('date', 'date unknown')}"


def _recorded_meta() -> dict[str, Any]:
    meta_path = RECORDED / "meta.json"
    return json.loads(meta_path.read_text()) if meta_path.exists() else {}


def page_of_this_source(stem: str) -> bool:
    """Whether sphinx-gallery holds a page of the sample as it is now, executed
    (by this tree's GPU build, or put back from the recording): it keeps it."""
    return recorded_gallery.written_for(GALLERY / f"{stem}.py.md5", SAMPLES_DIR / f"{stem}.py")


def recorded_cells_note(stem: str) -> str:
    """reST for a page whose every cell shows the output of a GPU run."""
    md5 = RECORDED_GALLERY / f"{stem}.py.md5"
    if md5.is_file() and md5.read_text() == (GALLERY / f"{stem}.py.md5").read_text():
        meta = _recorded_meta()
        where = f"recorded by ``nox -s gpu`` ({recorded_where(meta.get('pictures') or meta)})"
    else:
        where = "kept from an earlier build of this site on a GPU"
    return (
        ".. note::\n\n   This build had no GPU, so the sample was not run here. The output under each "
        f"cell and the pictures are those of its last run on a GPU, from this very source: {where}.\n\n"
    )


def recorded_output_rst(stem: str) -> str:
    """reST for a sample page built without running it and without a page
    recorded from its current source: the whole output of its last GPU run."""
    output = RECORDED / f"{stem}.txt"
    head = ".. rubric:: Output\n\n"
    if not output.exists():
        return head + (
            ".. note::\n\n   This build had no GPU, so the sample was not run here, and no output has been "
            "recorded for it yet. Run ``nox -s gpu`` on a GPU machine to record it.\n\n"
        )
    if (RECORDED_GALLERY / f"{stem}.py.md5").is_file():
        why = "The sample has changed since, so what it prints now may differ."
    else:
        why = "No GPU run has recorded its output cell by cell yet."
    return head + (
        ".. note::\n\n   This build had no GPU, so the sample was not run here. Below is the whole output "
        f"of its last run on a GPU ({recorded_where(_recorded_meta())}), recorded by ``nox -s gpu``. {why} "
        "The next ``nox -s gpu`` records each cell's output under the cell.\n\n"
        f".. literalinclude:: /recorded_outputs/{stem}.txt\n   :language: text\n\n"
    )


def recorded_picture(stem: str) -> Path | None:
    """The figure recorded for a sample (``recorded_outputs/<stem>.jpg``), if any."""
    path = RECORDED / f"{stem}.jpg"
    return path if path.is_file() else None


def recorded_picture_label() -> str:
    """Where and when a sample's recorded picture was made."""
    pictures = _recorded_meta().get("pictures", {})
    if pictures.get("device"):
        return f"recorded when the sample last ran on a GPU ({recorded_where(pictures)}) by ``nox -s gpu``"
    return (
        f"made without a GPU, from the same operations in numpy ({pictures.get('date', 'date unknown')}); "
        "the next ``nox -s gpu`` run replaces it with the sample's own figure"
    )


def recorded_pictures_rst(stem: str) -> str:
    """reST for the recorded figure of a sample built without running it: the
    picture, and where and when it was made."""
    if recorded_picture(stem) is None:
        return ""
    return (
        f"\n.. note::\n\n   This build had no GPU, so the sample was not run here. The picture below was "
        f"{recorded_picture_label()}.\n\n"
        f".. image:: /recorded_outputs/{stem}.jpg\n"
        f"   :alt: {stem}: input and output, as recorded\n"
        "   :class: sphx-glr-single-img interop-recorded-picture\n\n"
    )


def _insert_pictures(rst: str, pictures: str) -> str:
    """``pictures`` after the code block that calls ``show_side_by_side`` (else at the end)."""
    if not pictures:
        return rst
    lines = rst.splitlines(keepends=True)
    block_start = None
    for i, line in enumerate(lines):
        if line.startswith(".. code-block::"):
            block_start = i
        elif block_start is not None and line.strip() and not line[0].isspace():
            block_start = None  # the block ended
        elif block_start is not None and line.lstrip().startswith("show_side_by_side("):
            # the block ends at the first non-blank line that is not indented
            end = next(
                (j for j in range(i + 1, len(lines)) if lines[j].strip() and not lines[j][0].isspace()),
                len(lines),
            )
            return "".join(lines[:end]) + pictures.lstrip("\n") + "\n" + "".join(lines[end:])
    return rst + "\n" + pictures


def _before(rst: str, marker: re.Pattern[str], text: str) -> str:
    """``text`` before the first line ``marker`` matches (else at the end)."""
    found = marker.search(rst)
    return rst[: found.start()] + text + rst[found.start() :] if found else rst + "\n\n" + text


#: sphinx-gallery's marks in a page: before each cell, and before the downloads.
FIRST_CELL = re.compile(r"^\.\. GENERATED FROM PYTHON SOURCE LINES", re.M)
DOWNLOADS = re.compile(r"^\.\. _sphx_glr_download_", re.M)


DOCS_TAG_LINE = re.compile(r"^[ \t]*# docs_tag: (begin|end)_\w+[ \t]*\n", re.M)


def _polish_sample_page(app: Sphinx, docname: str, source: list[str]) -> None:
    """Drop the ``# docs_tag:`` marker lines from gallery pages (they are for literalinclude),
    and on builds that did not run the samples, say where the outputs come from: a page
    executed from this very source shows them under each cell; any other shows the
    recorded picture and the whole recorded output."""
    match = re.fullmatch(r"auto_samples/(?!index$)(\w+)", docname)
    if not match:
        return
    stem = match.group(1)
    source[0] = DOCS_TAG_LINE.sub("", source[0])
    if _gallery_executed(app):
        return
    if page_of_this_source(stem):
        source[0] = _before(source[0], FIRST_CELL, recorded_cells_note(stem))
    else:
        source[0] = _insert_pictures(source[0], recorded_pictures_rst(stem))
        source[0] = _before(source[0], DOWNLOADS, recorded_output_rst(stem))


def _gallery_executed(app: Sphinx) -> bool:
    return app.config.sphinx_gallery_conf.get("plot_gallery") in (True, "True")


def jpeg_scraper(block: Any, block_vars: dict[str, Any], gallery_conf: dict[str, Any]) -> str:
    """sphinx-gallery image scraper (``"interop_docs.jpeg_scraper"``): matplotlib's,
    saving JPEG, since the samples' figures are photos."""
    from sphinx_gallery.scrapers import matplotlib_scraper

    return matplotlib_scraper(block, block_vars, gallery_conf, format="jpg")


def _recorded_gallery(app: Sphinx) -> None:
    """Before sphinx-gallery writes the gallery, on builds that do not run it: put
    back the pages the last GPU run executed from the samples as they are now, which
    sphinx-gallery then keeps (``recorded_gallery``). For any other sample, put its
    recorded picture where its first figure would be, so that sphinx-gallery makes
    the card's thumbnail from it."""
    if _gallery_executed(app):
        return
    stems = [Path(name).stem for name in preflight.SAMPLES]
    recorded_gallery.restore(RECORDED_GALLERY, GALLERY, {stem: SAMPLES_DIR / f"{stem}.py" for stem in stems})
    images = GALLERY / "images"
    for stem in stems:
        picture = recorded_picture(stem)
        if picture is None or page_of_this_source(stem):
            continue
        images.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(picture, images / f"sphx_glr_{stem}_001.jpg")
        # an older .png placeholder would be chosen over the .jpg thumbnail
        (images / "thumb" / f"sphx_glr_{stem}_thumb.png").unlink(missing_ok=True)


#: A reST role in a notebook's text: :class:`~a.B`, :func:`f`, :doc:`title <target>`.
RST_ROLE = re.compile(r":(?:py:)?(?P<role>[a-z]+):`(?P<tilde>~?)(?P<text>[^`<]*)(?:<(?P<target>[^`>]*)>)?`")


def markdown_for_role(match: re.Match[str]) -> str:
    """A role as Markdown code: ``~`` keeps the last name; functions get ``()``;
    an explicit title wins."""
    text, target = match["text"].strip(), match["target"]
    if target is not None and text:
        return f"`{text}`" if match["role"] not in ("doc", "ref") else text
    name = (target or text).strip()
    if match["tilde"]:
        name = name.rsplit(".", 1)[-1]
    if match["role"] in ("func", "meth") and not name.endswith(")"):
        name += "()"
    return f"`{name}`"


def clean_notebook(notebook: dict[str, Any]) -> dict[str, Any]:
    """The notebook without ``# docs_tag:`` lines in code cells and with reST roles in
    text cells turned into Markdown code."""
    for cell in notebook.get("cells", []):
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else source
        if cell.get("cell_type") == "code":
            text = DOCS_TAG_LINE.sub("", text + "\n").strip("\n")
        elif cell.get("cell_type") == "markdown":
            text = RST_ROLE.sub(markdown_for_role, text)
        cell["source"] = text.splitlines(keepends=True) if isinstance(source, list) else text
    return notebook


def _downloads_that_run(app: Sphinx) -> None:
    """After sphinx-gallery wrote the gallery: clean each sample's notebook, and
    rebuild its zip with the sample, the notebook and the modules it imports."""
    for name in preflight.SAMPLES:
        stem = Path(name).stem
        script, notebook_path, zip_path = (GALLERY / f"{stem}{ext}" for ext in (".py", ".ipynb", ".zip"))
        if not (script.exists() and notebook_path.exists()):
            continue
        notebook = clean_notebook(json.loads(notebook_path.read_text(encoding="utf-8")))
        notebook_text = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
        if notebook_path.read_text(encoding="utf-8") != notebook_text:
            notebook_path.write_text(notebook_text, encoding="utf-8")
        members = {f"{stem}.py": script.read_bytes(), f"{stem}.ipynb": notebook_text.encode()}
        members |= {module: (SAMPLES_DIR / module).read_bytes() for module in SAMPLE_MODULES}
        if zip_path.exists():
            with zipfile.ZipFile(zip_path) as old:
                if {n: old.read(n) for n in old.namelist()} == members:
                    continue
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as new:
            for member, data in members.items():
                new.writestr(member, data)
        zip_path.write_bytes(buffer.getvalue())


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


#: Benchmark methods behind the comparison table's GB/s column, as the renderer names them.
_METHODS = load_renderer()
APPROACH_METHODS = {
    "a12_gbps": _METHODS.HELPERS_PAGEABLE,
    "a3_gbps": _METHODS.HELPERS_PINNED,
    "core_gbps": _METHODS.CORE_PINNED,
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
    lines += wrap_cost_substitutions(data)
    where = f"{data.get('device', 'unknown device')}, {data.get('date', 'undated')}"
    if data.get("synthetic"):
        where += ", SYNTHETIC EXAMPLE DATA: not a measurement"
    lines.append(f".. |bench_where| replace:: {where}")
    return "\n" + "\n".join(lines) + "\n"


#: The index's "Wrap cost" cells: substitution name -> library in the benchmark's
#: ``interop.wrap_us`` rows.
WRAP_LIBRARIES = {
    "wrap_cuda_python": "CUDA Python",
    "wrap_core": "cuda.core",
    "wrap_torch": "PyTorch",
    "wrap_cupy": "CuPy",
}


def wrap_cost_substitutions(data: dict[str, Any]) -> list[str]:
    """``|wrap_torch|`` etc.: the fastest measured way into and out of CV-CUDA, in µs."""
    rows = ((data.get("interop") or {}).get("wrap_us")) or []
    lines = []
    for name, library in WRAP_LIBRARIES.items():
        parts = []
        for direction, word in (("into CV-CUDA", "in"), ("from CV-CUDA", "out")):
            times = [
                r["us_median"]
                for r in rows
                if r.get("library") == library and r.get("direction") == direction and r.get("us_median") is not None
            ]
            parts.append(f"{word} {min(times):.1f} µs" if times else f"{word}: not measured")
        lines.append(f".. |{name}| replace:: {', '.join(parts)}")
    return lines


class SampleCards(Directive):
    """``.. sample-cards::``: every sample's card, in reading order: sphinx-gallery's
    ``minigallery`` of the samples, each card its thumbnail, title and link."""

    def run(self) -> list[nodes.Node]:
        folder = Path(os.path.relpath(SAMPLES_DIR, DOCS)).as_posix()
        lines = [".. minigallery::", ""] + [f"   {folder}/{name}" for name in SAMPLE_ORDER]
        self.state_machine.insert_input(lines, "sample-cards")
        return []


class SamplePicture(Directive):
    """``.. sample-picture:: <sample stem>``: the picture the sample drew on its last
    GPU run, captioned with where it was made and the link to the sample's full run
    (its gallery page: every line of code, with its output and downloads)."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        stem = self.arguments[0]
        if f"{stem}.py" not in SAMPLE_ORDER:
            raise self.error(f"sample-picture: {stem!r} is not a sample (preflight.SAMPLES)")
        if recorded_picture(stem) is None:
            raise self.error(f"sample-picture: no recorded picture for {stem} (recorded_outputs/{stem}.jpg)")
        lines = [
            f".. figure:: /recorded_outputs/{stem}.jpg",
            f"   :alt: {stem}: the input and what came back, as the sample drew them",
            "   :class: interop-sample-picture",
            "",
            f"   The sample's picture, {recorded_picture_label()}.",
            f"   **The full run**, every line of code with its output: :doc:`/auto_samples/{stem}`.",
        ]
        self.state_machine.insert_input(lines, "sample-picture")
        return []


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("missing-reference", _resolve_external)
    app.add_directive("sample-cards", SampleCards)
    app.add_directive("sample-picture", SamplePicture)
    app.connect("source-read", _polish_sample_page)
    # sphinx-gallery writes the gallery on builder-inited (priority 500)
    app.connect("builder-inited", _recorded_gallery, priority=400)
    app.connect("builder-inited", _downloads_that_run, priority=900)
    app.connect("builder-inited", _performance_artifacts)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
