# SPDX-License-Identifier: Apache-2.0
"""Sphinx configuration for the GPU memory interoperability gallery.

The gallery executes the samples only where a GPU is usable (or when
``GALLERY_EXECUTE=1`` forces it, as ``nox -s gpu`` does); elsewhere each
sample page shows the output recorded on the last GPU run instead.
The build never needs the network.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
SAMPLES = ROOT / "samples" / "interoperability"
sys.path.insert(0, str(SAMPLES))  # the samples import cuda_python_common; autodoc documents it
sys.path.insert(0, str(DOCS / "_ext"))

# standard library only, from the samples' folder put on sys.path above
from preflight import SAMPLE_MODULES, gpu_unavailable_reason  # noqa: E402


def _gallery_should_execute() -> bool:
    mode = os.environ.get("GALLERY_EXECUTE", "auto").strip().lower()
    if mode in {"1", "true", "yes"}:
        return True
    if mode in {"0", "false", "no"}:
        return False
    return gpu_unavailable_reason("cvcuda") is None


project = "GPU Memory Interop Gallery"
author = "gpu-interop-gallery contributors"
copyright = "2026, gpu-interop-gallery contributors"
release = "0.1"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx_gallery.gen_gallery",
    "sphinx_copybutton",
    "sphinx_design",
    "interop_docs",
]

EXECUTE_GALLERY = _gallery_should_execute()
#: GALLERY_EXECUTE=1 (``nox -s gpu``): run every sample, even one whose page
#: sphinx-gallery already holds for the same source (from an earlier run, or put
#: back from the recording), so that what gets recorded is this run's.
EXECUTE_EVERY_SAMPLE = os.environ.get("GALLERY_EXECUTE", "").strip().lower() in {"1", "true", "yes"}

sphinx_gallery_conf = {
    "examples_dirs": [str(SAMPLES)],
    "gallery_dirs": ["auto_samples"],
    "filename_pattern": r".*\.py$",  # every sample is executed when the gallery runs
    # the modules the samples import: documented on the API page, not samples
    "ignore_pattern": "(" + "|".join(re.escape(module) for module in SAMPLE_MODULES) + ")$",
    "plot_gallery": "True" if EXECUTE_GALLERY else "False",
    "run_stale_examples": EXECUTE_EVERY_SAMPLE,
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "capture_repr": (),
    "remove_config_comments": True,
    "download_all_examples": False,  # each sample's own zip runs (interop_docs adds the modules)
    "within_subsection_order": "interop_docs.SampleOrder",
    # The index shows the cards with sphinx-gallery's minigallery, in the same order;
    # minigallery reads sphinx-gallery's backreferences file, written to a build folder.
    "minigallery_sort_order": "interop_docs.sample_rank",
    "backreferences_dir": "_generated/backreferences",
    "first_notebook_cell": (
        "# Needs an NVIDIA GPU. With a CUDA 13 driver:\n"
        "# pip install 'numpy>=1.24' 'cuda-python>=13,<14' 'cvcuda-cu13>=0.19' 'cuda-core>=1.2' 'matplotlib>=3.7'\n"
        "# With a CUDA 12 driver:\n"
        "# pip install 'numpy>=1.24' 'cuda-python>=12.9.1,<13' 'cvcuda-cu12>=0.19' 'cuda-core>=1.2' 'matplotlib>=3.7'\n"
        "# The sample's zip download holds this notebook and the modules it imports\n"
        "# (cuda_python_common.py, preflight.py, sample_images.py): keep them together."
    ),
    # The samples' figures are photos: JPEG, a tenth of a PNG's size.
    "image_scrapers": ("interop_docs.jpeg_scraper",),
    # After each sample: collect what it left behind, so that its GPU objects
    # go while the libraries and streams they belong to are alive (all samples
    # share one process here), not at a random later point.
    "reset_modules": ("matplotlib", "interop_docs.collect_sample_objects"),
    "reset_modules_order": "both",
    "show_memory": False,
    "min_reported_time": 0,
    # No sg_execution_times pages: unlinked, and all zeros where the gallery is not run.
    "write_computation_times": False,
}

autodoc_member_order = "bysource"
autodoc_typehints = "description"
# Types only beside documented parameters (no "Return type: None" on classes),
# and the module's type aliases by name rather than as ``Any``.
autodoc_typehints_description_target = "documented_params"
autodoc_type_aliases = {"StreamLike": "StreamLike"}
# Older Sphinx (Python 3.10's) links the aliases as classes; they are documented on
# the API page as module data.
nitpick_ignore = [("py:class", "StreamLike")]
autodoc_default_options = {"members": True, "show-inheritance": False}
add_module_names = False

templates_path = []
exclude_patterns = [
    "_build",
    "_generated",
    "**/GALLERY_HEADER.rst",
    "performance",
    "recorded_outputs",
    "snippets",
    "**sg_execution_times.rst",  # left in the source tree by older builds
]
html_theme = "pydata_sphinx_theme"
html_title = "GPU Memory Interop Gallery"
html_static_path = ["_static"]
html_css_files = ["interop.css"]  # output blocks wrap their long lines
html_favicon = "_static/favicon.svg"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    # Gallery pages show 88-column code: they give the on-page TOC's width to it.
    # Gallery pages (auto_samples/, matched by no pattern here) give the on-page
    # TOC's width to their 88-column code.
    "secondary_sidebar_items": {
        page: ["page-toc", "sourcelink"]
        for page in ("index", "installation", "performance", "troubleshooting", "api", "samples/**")
    },
    "footer_start": ["copyright"],
    # The top navigation at 1400 px: Installation, Sample gallery, CUDA Python,
    # Performance, Troubleshooting (index.rst's toctree order); the guides under "More".
    "header_links_before_dropdown": 5,
}
html_show_sourcelink = True
# Pages without sub-pages get no (empty) left sidebar; the gallery keeps its list of samples.
html_sidebars = {page: [] for page in ("index", "installation", "performance", "troubleshooting", "api", "samples/**")}
# An explicit default theme mode: left empty, the theme logs "Got invalid theme mode" on a first visit.
html_context = {"default_mode": "auto"}
html_last_updated_fmt = None

# Copy exactly the code: no prompts (none are used) and never the line numbers.
copybutton_exclude = ".linenos, .gp, .go"
copybutton_prompt_text = ""

nitpicky = True

# ``nox -s linkcheck`` crawls the built site's internal links and anchors
# (tests/test_links.py); Sphinx's linkcheck builder, which contacts external
# sites, runs only with LINKCHECK_EXTERNAL=1 (builds here run offline).
linkcheck_anchors = True
