# SPDX-License-Identifier: Apache-2.0
"""The gallery as a GPU run executed it, kept for the builds that have no GPU.

sphinx-gallery does not run a sample again when the ``.md5`` beside the
sample's copy in the gallery folder matches the sample: it keeps the page it
wrote, each cell's output under that cell, with its figures and notebook.
:func:`record` keeps those files of an executed build; :func:`restore` puts
them back, before sphinx-gallery starts, for each sample whose source has not
changed since. A build without a GPU then shows every cell's recorded output
right under the cell, exactly as the GPU build did. A sample edited since its
recording is not restored: sphinx-gallery writes its page afresh, without
output, and the next GPU run records it again.

After a build that executed the gallery (``nox -s gpu`` runs one)::

    python docs/_ext/recorded_gallery.py [FOLDER]

records every sample into FOLDER (default ``docs/recorded_outputs/gallery/``,
where builds look for it) and exits 1 when one was not executed.
"""

from __future__ import annotations

import re
import shutil
import sys
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from sphinx_gallery.utils import get_md5sum

DOCS = Path(__file__).resolve().parent.parent
GALLERY = DOCS / "auto_samples"
RECORDED = DOCS / "recorded_outputs" / "gallery"
SAMPLES_DIR = DOCS.parent / "samples" / "interoperability"


def md5_of(path: Path) -> str:
    """The checksum sphinx-gallery writes to ``<sample>.py.md5`` and compares."""
    return get_md5sum(path, mode="t")


def written_for(md5: Path, source: Path) -> bool:
    """Whether ``md5`` (a ``<sample>.py.md5``) was written for ``source`` as it is now."""
    return md5.is_file() and md5.read_text() == md5_of(source)


def page_files(folder: Path, stem: str) -> list[Path]:
    """A sample's files in a gallery folder, relative to it: the page, the
    notebook, the checksum of the source they were made from, and the figures
    and thumbnail sphinx-gallery saved for it."""
    names = [Path(f"{stem}{suffix}") for suffix in (".rst", ".ipynb", ".py.md5")]
    figure = re.compile(rf"sphx_glr_{re.escape(stem)}_(\d{{3}}|thumb)\.(jpg|png)")
    for sub in (Path("images"), Path("images") / "thumb"):
        if (folder / sub).is_dir():
            names += sorted(sub / p.name for p in (folder / sub).iterdir() if figure.fullmatch(p.name))
    return [name for name in names if (folder / name).is_file()]


def executed(gallery: Path, stem: str) -> bool:
    """Whether the gallery holds the page of an execution of the sample as it
    is there now: sphinx-gallery writes the ``.md5`` only after a run passed."""
    md5, copy = gallery / f"{stem}.py.md5", gallery / f"{stem}.py"
    return copy.is_file() and written_for(md5, copy) and (gallery / f"{stem}.rst").is_file()


def record(gallery: Path, recorded: Path, stems: Iterable[str]) -> tuple[list[str], list[str]]:
    """Copy each executed sample's files from ``gallery`` to ``recorded``,
    replacing its older recording; returns (recorded, not executed) stems."""
    done, missing = [], []
    for stem in stems:
        if not executed(gallery, stem):
            missing.append(stem)
            continue
        for old in page_files(recorded, stem):
            (recorded / old).unlink()
        for name in page_files(gallery, stem):
            (recorded / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(gallery / name, recorded / name)
        done.append(stem)
    return done, missing


def restore(recorded: Path, gallery: Path, sources: Mapping[str, Path]) -> list[str]:
    """Put back, for sphinx-gallery to keep, each recording whose sample is
    unchanged since (its ``.md5`` matches ``sources[stem]``); a gallery page
    already executed from that source stays as it is. Returns the stems
    restored."""
    restored = []
    for stem, source in sources.items():
        md5 = recorded / f"{stem}.py.md5"
        if not written_for(md5, source):
            continue  # never recorded, or the sample changed since
        gallery_md5 = gallery / f"{stem}.py.md5"
        if gallery_md5.is_file() and gallery_md5.read_text() == md5.read_text():
            continue  # sphinx-gallery already holds a page of this very source
        for name in page_files(recorded, stem):
            (gallery / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(recorded / name, gallery / name)
        # the page offers a zip of the sample and its notebook, which
        # sphinx-gallery writes only when it writes the page
        with zipfile.ZipFile(gallery / f"{stem}.zip", "w", zipfile.ZIP_DEFLATED) as archive:
            archive.write(source, f"{stem}.py")
            archive.write(gallery / f"{stem}.ipynb", f"{stem}.ipynb")
        restored.append(stem)
    return restored


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(SAMPLES_DIR))
    from preflight import SAMPLES

    folder = Path(argv[0]) if argv else RECORDED
    done, missing = record(GALLERY, folder, [Path(name).stem for name in SAMPLES])
    print(f"recorded the executed gallery pages of {len(done)} samples in {folder}")
    if missing:
        print(f"not executed (no current .md5 in {GALLERY.name}): {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
