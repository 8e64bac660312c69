# SPDX-License-Identifier: Apache-2.0
"""The README's screenshot, taken from the built site in headless Chromium.

    python tests/site_screenshot.py              # build the site, then take it
    python tests/site_screenshot.py --site DIR   # take it from a site built in DIR

``nox -s screenshot`` runs it. It opens the index at 1400x900, the size the
site is checked at, and saves the first screen as ``docs/_static/screenshot.png``
and what that page shows -- its headings, the top navigation, the gallery
cards' titles -- as ``docs/_static/screenshot.json``. ``tests/test_docs.py``
fails when the built site no longer shows what the json records: take the
screenshot again.
"""

from __future__ import annotations

import argparse
import functools
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SITE = DOCS / "_build" / "html"
SCREENSHOT = DOCS / "_static" / "screenshot.png"
PICTURED = DOCS / "_static" / "screenshot.json"
PAGE = "index.html"
VIEWPORT = {"width": 1400, "height": 900}
CHROMIUM = Path("/usr/bin/chromium")


class _Pictured(HTMLParser):
    """Collects a built page's headings (h1-h3 of the article), the labels of the
    top navigation's first level, and the gallery cards' titles."""

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, list[str]] = {"headings": [], "navigation": [], "cards": []}
        self._open: list[tuple[str, str | None]] = []  # (tag, what its text is collected for)
        self._in_article = 0
        self._navbar_depth = 0  # <ul> depth inside the first top navigation; -1 once it closed
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "img", "meta", "link", "input", "hr"):
            return
        classes = (dict(attrs).get("class") or "").split()
        kind = None
        if tag == "article":
            self._in_article += 1
        if tag == "ul" and self._navbar_depth >= 0 and (self._navbar_depth or "bd-navbar-elements" in classes):
            self._navbar_depth += 1
        elif tag == "a" and self._navbar_depth == 1:
            kind = "navigation"
        elif tag == "button" and self._navbar_depth == 1:
            kind = "navigation"  # "More", which opens the rest
        elif tag in ("h1", "h2", "h3") and self._in_article:
            kind = "headings"
        elif tag == "div" and "sphx-glr-thumbnail-title" in classes:
            kind = "cards"
        elif tag == "a" and "headerlink" in classes:
            kind = "skip"  # the heading's "#" permalink
        self._open.append((tag, kind))
        if kind and kind != "skip":
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if all(open_tag != tag for open_tag, _ in self._open):
            return  # a stray end tag closes nothing
        while self._open:
            open_tag, kind = self._open.pop()
            if kind and kind != "skip":
                self.found[kind].append(" ".join("".join(self._text).split()))
                self._text = []
            if open_tag == "article":
                self._in_article -= 1
            if open_tag == "ul" and self._navbar_depth > 0:
                self._navbar_depth -= 1
                if self._navbar_depth == 0:
                    self._navbar_depth = -1  # only the first navigation: the header's
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if any(kind == "skip" for _, kind in self._open):
            return
        self._text.append(data)


def pictured(html: str) -> dict[str, list[str]]:
    """What a built page shows: {"headings": [...], "navigation": [...], "cards": [...]}."""
    parser = _Pictured()
    parser.feed(html)
    parser.close()
    return parser.found


@contextmanager
def served(site: Path) -> Iterator[str]:
    """The built site over HTTP on 127.0.0.1 (a free port)."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def build(site: Path) -> None:
    """The site as every build makes it (``docs/build_site.py``); the gallery runs
    only where a GPU is usable."""
    sys.path.insert(0, str(DOCS))
    from build_site import sphinx_command

    subprocess.run(sphinx_command(site), cwd=ROOT, check=True)


def take(site: Path, png: Path = SCREENSHOT, record: Path = PICTURED) -> dict[str, list[str]]:
    """Screenshot the first screen of the site's index; record what it pictures."""
    from playwright.sync_api import sync_playwright

    shown = pictured((site / PAGE).read_text(encoding="utf-8"))
    with served(site) as url, sync_playwright() as playwright:
        executable = {"executable_path": str(CHROMIUM)} if CHROMIUM.is_file() else {}
        browser = playwright.chromium.launch(headless=True, args=["--no-sandbox", "--disable-gpu"], **executable)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(url + PAGE, wait_until="networkidle")
            page.screenshot(path=str(png))
        finally:
            browser.close()
    record.write_text(json.dumps({"page": PAGE, "viewport": VIEWPORT, **shown}, indent=1, ensure_ascii=False) + "\n")
    return shown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, help="a built site to take it from (default: build docs/_build/html)")
    args = parser.parse_args(argv)
    site = args.site or SITE
    if args.site is None:
        build(site)
    shown = take(site)
    print(
        f"{SCREENSHOT.relative_to(ROOT)}: {PAGE} at {VIEWPORT['width']}x{VIEWPORT['height']}, "
        f"{SCREENSHOT.stat().st_size // 1024} KB; {len(shown['headings'])} headings, "
        f"{len(shown['cards'])} cards recorded in {PICTURED.relative_to(ROOT)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
