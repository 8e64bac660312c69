# SPDX-License-Identifier: Apache-2.0
"""Pictures for the samples: a real photo to work on, and a figure to show results.

:func:`photo` reads the photo that ships inside matplotlib (``grace_hopper.jpg``,
in matplotlib's sample data), so every sample works on the same real image
with no network and no extra file. :func:`show_side_by_side` draws the input
and the output in one matplotlib figure; sphinx-gallery captures it as the
page's picture and the gallery card's thumbnail. Run as a script, the figure
is drawn on matplotlib's non-interactive Agg backend: no window opens and
nothing waits for one.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import matplotlib
import numpy as np

# A script run draws off screen (no window, nothing blocks). sphinx-gallery and
# Jupyter (which sets MPLBACKEND) pick their own backend.
_OWN_BACKEND = {"sphinx_gallery", "ipykernel"}
if not os.environ.get("MPLBACKEND") and not _OWN_BACKEND & set(sys.modules):
    matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.cbook import get_sample_data
from matplotlib.image import imread

__all__ = ["PHOTO_SHAPE", "photo", "show_side_by_side"]

#: Shape of :func:`photo`'s array: height, width, RGB channels.
PHOTO_SHAPE = (600, 512, 3)
_DPI = 80  # modest: the site saves figures as JPEG, about 40 KB for two pictures
_PANEL_INCHES = 3.2  # width of the widest picture on the page
_TITLE_INCHES = 0.3  # room above the pictures for their titles


def photo() -> np.ndarray:
    """The sample photo as a writable, C-contiguous ``(600, 512, 3)`` uint8 RGB array.

    A portrait of Grace Hopper, shipped in matplotlib's sample data, so it is on
    every machine that has matplotlib. Each call returns a new array.
    """
    with get_sample_data("grace_hopper.jpg", asfileobj=True) as file:
        image = imread(file, format="jpg")
    image = np.array(image, dtype=np.uint8, order="C")  # a copy: imread's is read-only
    if image.shape != PHOTO_SHAPE:
        raise RuntimeError(
            f"grace_hopper.jpg read as {image.shape}, expected {PHOTO_SHAPE}"
        )
    return image


def show_side_by_side(*images: np.ndarray, titles: Sequence[str]) -> None:
    """Draw ``images`` in one row of one figure, each under its title.

    Pictures keep their relative sizes (a crop shows smaller than the photo it
    came from). HWC RGB arrays show in colour; 2-D arrays in grey. The figure
    stays open for sphinx-gallery to capture; a script run shows no window.
    """
    if not images:
        raise ValueError("show_side_by_side needs at least one image")
    if len(titles) != len(images):
        raise ValueError(f"{len(images)} images but {len(titles)} titles")
    widths = [image.shape[1] for image in images]
    inches_per_pixel = _PANEL_INCHES / max(widths)
    width = inches_per_pixel * sum(widths) * 1.05 + 0.1  # 5 % between pictures
    height = inches_per_pixel * max(image.shape[0] for image in images) + 0.1
    _, axes = plt.subplots(
        1,
        len(images),
        figsize=(width, height + _TITLE_INCHES),
        dpi=_DPI,
        squeeze=False,
        gridspec_kw={"width_ratios": widths, "wspace": 0.05},
    )
    plt.subplots_adjust(
        left=0.05 / width,
        right=1 - 0.05 / width,
        bottom=0.05 / (height + _TITLE_INCHES),
        top=height / (height + _TITLE_INCHES),
    )
    for ax, image, title in zip(axes[0], images, titles, strict=True):
        if image.ndim == 2:
            ax.imshow(image, cmap="gray", vmin=0, vmax=255)
        else:
            ax.imshow(image)
        ax.set_title(title, fontsize=10)
        ax.set_axis_off()
