# SPDX-License-Identifier: Apache-2.0
"""Every internal link and anchor of the built site resolves (``nox -s linkcheck`` runs this).

Sphinx's own linkcheck builder contacts external sites, which builds here must
not need; this crawl checks what Sphinx's ``-n`` does not: the hrefs and
#fragments as rendered, themes and sphinx-gallery included.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for key in ("id", "name"):
            if values.get(key):
                self.ids.add(values[key])
        for key in ("href", "src"):
            if values.get(key) and tag in ("a", "link", "img", "script"):
                self.links.append(values[key])


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(errors="replace"))
    return page


def broken_links(site: Path) -> list[str]:
    """'page -> link: why' for every internal link of the site that does not resolve."""
    # _static holds the theme's template fragments (not pages); _sources the reST sources.
    pages = {p: parse(p) for p in site.rglob("*.html") if not {"_static", "_sources"} & set(p.relative_to(site).parts)}
    broken = []
    for path, page in pages.items():
        for link in page.links:
            url = urlparse(link)
            if url.scheme or link.startswith(("//", "mailto:", "javascript:")):
                continue  # external: not this check's business (and builds run offline)
            target_part, fragment = url.path, url.fragment  # ?v=... cache busters are not part of the file
            target = (path.parent / unquote(target_part)).resolve() if target_part else path
            if target.is_dir():
                target = target / "index.html"
            where = f"{path.relative_to(site)} -> {link}"
            if not target.is_file():
                broken.append(f"{where}: no such file")
            elif fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else parse(target).ids
                if unquote(fragment) not in ids:
                    broken.append(f"{where}: no anchor #{fragment}")
    return broken


def test_every_internal_link_and_anchor_resolves(built_site: Path) -> None:
    pages = list(built_site.rglob("*.html"))
    assert len(pages) >= 10
    broken = broken_links(built_site)
    assert not broken, "\n".join(broken[:40])


def test_the_crawl_finds_a_broken_link_and_anchor(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text('<a href="b.html#there">b</a><a href="missing.html">x</a><p id="here"></p>')
    (tmp_path / "b.html").write_text('<a href="a.html#here">a</a><a href="a.html#nowhere">a</a>')
    assert sorted(broken_links(tmp_path)) == [
        "a.html -> b.html#there: no anchor #there",
        "a.html -> missing.html: no such file",
        "b.html -> a.html#nowhere: no anchor #nowhere",
    ]


@pytest.mark.parametrize("link", ["https://numpy.org/doc/", "mailto:x@example.org", "//cdn.example.org/x.js"])
def test_external_links_are_left_alone(tmp_path: Path, link: str) -> None:
    (tmp_path / "a.html").write_text(f'<a href="{link}">x</a>')
    assert broken_links(tmp_path) == []
