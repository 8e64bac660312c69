# SPDX-License-Identifier: Apache-2.0
"""The built site in headless Chromium: pictures, code, copy buttons, downloads, links, console.

* At 1400x900 the index shows at least six gallery cards in its first screen,
  the gallery index shows its cards there too, every guide page shows its
  sample's picture, and the top navigation shows the gallery and Performance
  without opening "More".
* Every ``literalinclude`` on the CUDA Python page and the guide pages shows
  exactly the marked region of its source file, and its copy button puts
  exactly that code on the clipboard.
* Every sample page's downloads answer, and the ``.py`` is the sample itself.
* Every internal link on the checked pages answers 200.
* No page logs a console error or throws.
* Each page is screenshotted under ``test-artifacts/screenshots/``.

Needs playwright (the Python package) and Chromium at ``/usr/bin/chromium``;
without them the tests are skipped, unless ``REQUIRE_BROWSER=1`` turns the skips
into failures (so a CI job cannot pass by skipping).
"""

from __future__ import annotations

import functools
import json
import os
import re
import zipfile
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin

import pytest
import sphinx_gallery
from page_code import page_blocks
from site_screenshot import served
from switches import switched_on

import preflight

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
SAMPLES_DIR = ROOT / "samples" / "interoperability"
RST_DIR = ROOT / "docs" / "samples" / "interoperability"
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: Gallery samples, in reading order.
SAMPLES = [Path(name).stem for name in preflight.SAMPLES]
#: The guide pages (a sample's lesson), and the pages whose code the tests compare.
GUIDES = sorted(p.stem for p in RST_DIR.glob("*.rst") if p.name != "cuda_python.rst")
CODE_PAGES = ["cuda_python.rst", *(f"{stem}.rst" for stem in GUIDES)]
#: The size the site is read at.
SCREEN = {"width": 1400, "height": 900}

#: Page path -> screenshot name.
PAGES: dict[str, str] = {
    "index.html": "index",
    "installation.html": "installation",
    "samples/interoperability/cuda_python.html": "cuda_python",
    **{f"samples/interoperability/{stem}.html": stem for stem in GUIDES},
    "auto_samples/index.html": "gallery_index",
    **{f"auto_samples/{stem}.html": f"gallery_{stem}" for stem in SAMPLES},
}


# --------------------------------------------------------------------------- expected code


@functools.cache
def code_directives(rst_name: str) -> list[tuple[str, str | None]]:
    """(label, expected text or None) for each code block of a page's source, in order.

    ``None`` marks a block not from ``literalinclude`` (a ``code-block``), which
    is counted to keep the order aligned but not compared.
    """
    return [(block.label, block.text) for block in page_blocks(RST_DIR / rst_name)]


def chomp(text: str) -> str:
    """Drop one trailing newline: the only normalisation between source and page."""
    return text[:-1] if text.endswith("\n") else text


# --------------------------------------------------------------------------- fixtures


def _unavailable(reason: str) -> None:
    if switched_on("REQUIRE_BROWSER"):
        pytest.fail(f"REQUIRE_BROWSER is set but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def site_url(built_site: Path) -> Iterator[str]:
    """The built site served over HTTP on 127.0.0.1 (a free port), for the session."""
    with served(built_site) as url:
        yield url


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by playwright."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _unavailable(f"playwright is not installed: {exc}")
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"no Chromium at {CHROMIUM}")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def context(browser: Any, site_url: str) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=site_url.rstrip("/"))
    try:
        yield ctx
    finally:
        ctx.close()


class LoadedPage:
    """A page, with the console errors, uncaught exceptions and off-site requests seen while it loaded.

    ``settle``: also wait until the network has been idle for 500 ms (late requests, lazy
    images), for the tests that judge those; the others read the DOM once it has loaded.
    """

    def __init__(self, context: Any, url: str, *, settle: bool = False) -> None:
        self.errors: list[str] = []
        self.offsite: list[str] = []
        self.page = context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        self.page.on(
            "response",
            lambda resp: resp.status >= 400 and self.errors.append(f"HTTP {resp.status}: {resp.url}"),
        )
        origin = url.split("/", 3)[:3]
        self.page.on(
            "request",
            lambda req: (
                req.url.split("/", 3)[:3] != origin and not req.url.startswith("data:") and self.offsite.append(req.url)
            ),
        )
        response = self.page.goto(url, wait_until="load")
        assert response is not None and response.status == 200, f"{url}: {response and response.status}"
        if settle:
            self.page.wait_for_load_state("networkidle")

    def _console(self, msg: Any) -> None:
        # Chromium asks every site for /favicon.ico on its own; the site has no favicon, and
        # that 404 is the browser's request, not the page's.
        if msg.type == "error" and not msg.location.get("url", "").endswith("/favicon.ico"):
            self.errors.append(f"console: {msg.text} ({msg.location.get('url')})")


@pytest.fixture
def open_page(context: Any, site_url: str) -> Any:
    def _open(path: str, *, settle: bool = False) -> LoadedPage:
        return LoadedPage(context, urljoin(site_url, path), settle=settle)

    return _open


@pytest.fixture(scope="session")
def link_status() -> dict[str, int]:
    """URL -> HTTP status, shared by the tests so each link is fetched once."""
    return {}


def code_blocks(page: Any) -> list[str]:
    """innerText of each code block in the article, in document order."""
    return page.eval_on_selector_all("article.bd-article div.highlight pre", "els => els.map(e => e.innerText)")


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("path", list(PAGES))
def test_page_loads_cleanly_and_its_links_answer(
    path: str, open_page: Any, site_url: str, link_status: dict[str, int]
) -> None:
    loaded = open_page(path, settle=True)
    page = loaded.page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{PAGES[path]}.png"), full_page=True)

    assert loaded.errors == [], f"{path} logged errors:\n" + "\n".join(loaded.errors)
    assert loaded.offsite == [], f"{path} fetched off-site resources (the site must work offline): {loaded.offsite}"

    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    internal = sorted({urldefrag(h).url for h in hrefs if h.startswith(site_url)})
    assert internal, f"{path} has no internal links"
    broken = []
    for url in internal:
        if url not in link_status:
            link_status[url] = page.request.get(url).status
        if link_status[url] != 200:
            broken.append(f"{url} -> {link_status[url]}")
    assert broken == [], f"{path} links to pages that do not answer 200:\n" + "\n".join(broken)


@pytest.mark.parametrize("rst_name", CODE_PAGES)
def test_literalincludes_show_exactly_the_marked_region(rst_name: str, open_page: Any) -> None:
    expected = code_directives(rst_name)
    assert any(text is not None for _, text in expected), f"{rst_name} has no literalinclude"
    page = open_page(f"samples/interoperability/{Path(rst_name).stem}.html").page
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    shown = code_blocks(page)
    assert len(shown) == len(expected), (
        f"{rst_name} has {len(expected)} code directives but the page shows {len(shown)} code blocks"
    )
    for (label, text), block in zip(expected, shown, strict=True):
        if text is not None:
            assert text.strip(), f"{label}: the marked region is empty"
            assert chomp(block) == chomp(text), f"{label}: the page does not show the marked region"


@pytest.mark.parametrize("rst_name", CODE_PAGES)
def test_copy_button_copies_exactly_the_code(rst_name: str, open_page: Any) -> None:
    page = open_page(f"samples/interoperability/{Path(rst_name).stem}.html").page
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    blocks = page.locator("article.bd-article div.highlight")
    expected = code_directives(rst_name)
    assert blocks.count() == len(expected)
    for index, (label, text) in enumerate(expected):
        if text is None:
            continue
        block = blocks.nth(index)
        page.evaluate("navigator.clipboard.writeText('')")
        block.scroll_into_view_if_needed()
        block.hover()
        button = block.locator("button.copybtn")
        assert button.count() == 1, f"{label}: no copy button"
        button.click()
        copied = page.wait_for_function(
            "() => navigator.clipboard.readText().then(t => t || null)", polling=50, timeout=5000
        ).json_value()
        assert copied == chomp(text), f"{label}: the copy button copied something else"


@pytest.mark.parametrize("stem", SAMPLES)
def test_sample_downloads(stem: str, open_page: Any) -> None:
    page = open_page(f"auto_samples/{stem}.html").page
    links = {
        kind: page.eval_on_selector_all(f"div.sphx-glr-download-{kind} a.download[href]", "els => els.map(e => e.href)")
        for kind in ("python", "jupyter", "zip")
    }
    assert len(links["python"]) == 1, f"{stem}: Python download links {links['python']}"
    assert len(links["jupyter"]) == 1, f"{stem}: notebook download links {links['jupyter']}"
    assert len(links["zip"]) <= 1

    response = page.request.get(links["python"][0])
    assert response.status == 200
    assert response.body() == (SAMPLES_DIR / f"{stem}.py").read_bytes(), f"{stem}.py download is not the sample"

    response = page.request.get(links["jupyter"][0])
    assert response.status == 200
    notebook = json.loads(response.body())
    assert isinstance(notebook.get("cells"), list) and notebook["cells"], f"{stem}.ipynb has no cells"
    assert notebook.get("nbformat") == 4

    for url in links["zip"]:
        response = page.request.get(url)
        assert response.status == 200
        names = zipfile.ZipFile(BytesIO(response.body())).namelist()
        assert f"{stem}.py" in names and f"{stem}.ipynb" in names, f"{stem}.zip holds {names}"
        for module in preflight.SAMPLE_MODULES:
            assert module in names, f"{stem}.zip lacks {module}, which the sample imports"


def test_gallery_index_links_every_sample(open_page: Any, site_url: str) -> None:
    page = open_page("auto_samples/index.html").page
    hrefs = {urldefrag(h).url for h in page.eval_on_selector_all("article a[href]", "els => els.map(e => e.href)")}
    missing = [stem for stem in SAMPLES if urljoin(site_url, f"auto_samples/{stem}.html") not in hrefs]
    assert missing == [], f"the gallery index does not link {missing}"


def test_each_gallery_card_has_its_own_thumbnail(open_page: Any, site_url: str) -> None:
    """Every card shows a picture of its own sample, not sphinx-gallery's placeholder."""
    page = open_page("auto_samples/index.html").page
    page.screenshot(path=str(SCREENSHOTS / "gallery_index_cards.png"), full_page=True)
    cards = page.eval_on_selector_all(
        "div.sphx-glr-thumbcontainer",
        "els => els.map(e => [e.querySelector('a')?.href || '', e.querySelector('img')?.src || ''])",
    )
    thumbs = {}
    for href, src in cards:
        for stem in SAMPLES:
            if urldefrag(href).url == urljoin(site_url, f"auto_samples/{stem}.html"):
                thumbs[stem] = src
    assert set(thumbs) == set(SAMPLES), f"cards found for {sorted(thumbs)}"
    for stem, src in thumbs.items():
        assert f"sphx_glr_{stem}_thumb" in src, f"{stem}: card thumbnail {src}"
        response = page.request.get(src)
        assert response.status == 200, f"{stem}: {src} -> {response.status}"
        thumbs[stem] = response.body()
    placeholder = (Path(sphinx_gallery.__file__).parent / "_static" / "no_image.png").read_bytes()
    shared = sorted(stem for stem, body in thumbs.items() if list(thumbs.values()).count(body) > 1)
    # sphinx-gallery rescales its "no image" placeholder, so equal thumbnails are how it shows
    assert shared == [], f"these cards share one thumbnail (the placeholder: no picture recorded?): {shared}"
    assert placeholder not in thumbs.values(), "a card shows sphinx-gallery's placeholder"


@pytest.mark.parametrize("stem", SAMPLES)
def test_sample_page_shows_a_picture(stem: str, open_page: Any) -> None:
    page = open_page(f"auto_samples/{stem}.html", settle=True).page
    sizes = page.eval_on_selector_all(
        "article.bd-article img",
        "els => els.filter(e => e.complete).map(e => [e.src, e.naturalWidth, e.naturalHeight])",
    )
    pictures = [(src, w, h) for src, w, h in sizes if stem in src and w >= 200 and h >= 100]
    drawn_here = any("sphx_glr_" in src for src, *_ in sizes)
    if not (ROOT / "docs" / "recorded_outputs" / f"{stem}.jpg").is_file() and not drawn_here:
        # a sample no GPU run has recorded yet: its page must say so, not show a stale picture
        assert "no output has been recorded for it yet" in page.inner_text("article"), stem
        return
    assert pictures, f"{stem}: no picture of the sample on its page ({sizes})"


def test_installation_tabs_switch_to_cuda_12(open_page: Any) -> None:
    loaded = open_page("installation.html", settle=True)
    page = loaded.page
    first_set = page.locator("article .sd-tab-set").first
    cu12 = first_set.locator("div.sd-tab-content").filter(has_text="cvcuda-cu12")
    cu13 = first_set.locator("div.sd-tab-content").filter(has_text="cvcuda-cu13")
    assert cu13.is_visible() and not cu12.is_visible(), "CUDA 13 should be the tab shown first"

    first_set.locator("label.sd-tab-label", has_text="CUDA 12").click()
    assert cu12.is_visible() and not cu13.is_visible()
    shown = cu12.inner_text()
    for requirement in ('"cuda-python>=12.9.1,<13"', '"cvcuda-cu12>=0.19"', '"matplotlib>=3.7"', '"numpy>=1.24"'):
        assert requirement in shown, shown
    # The tab sets are synced: the extras switch to cu12 too.
    extras = page.locator("article .sd-tab-set").nth(1)
    assert extras.locator("div.sd-tab-content", has_text='".[cu12]"').is_visible()
    assert not extras.locator("div.sd-tab-content", has_text='".[cu13]"').is_visible()

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "installation_cuda12_tab.png"), full_page=True)
    assert loaded.errors == []


@pytest.fixture
def screen(browser: Any, site_url: str) -> Iterator[Any]:
    """A page opener at the size the site is read at, 1400x900."""
    context = browser.new_context(viewport=SCREEN)
    try:
        yield lambda path: LoadedPage(context, urljoin(site_url, path), settle=True).page
    finally:
        context.close()


def cards_in_first_screen(page: Any) -> list[str]:
    """The gallery cards whose thumbnail is loaded and wholly inside the first screen."""
    return page.eval_on_selector_all(
        "div.sphx-glr-thumbcontainer",
        """(cards, height) => cards.filter(card => {
            const img = card.querySelector('img');
            if (!img || !img.complete || img.naturalWidth === 0) return false;
            const box = img.getBoundingClientRect();
            return box.top >= 0 && box.bottom <= height && box.width > 0;
        }).map(card => card.querySelector('a')?.href || '')""",
        SCREEN["height"],
    )


def test_the_index_shows_six_cards_in_its_first_screen(screen: Any) -> None:
    page = screen("index.html")
    page.screenshot(path=str(SCREENSHOTS / "index_first_screen.png"))
    cards = cards_in_first_screen(page)
    print(f"{len(cards)} cards in the index's first screen")
    assert len(cards) >= 6, f"the index's first screen shows {len(cards)} cards"
    assert len(set(cards)) == len(cards)


def test_the_gallery_index_shows_cards_in_its_first_screen(screen: Any) -> None:
    page = screen("auto_samples/index.html")
    cards = cards_in_first_screen(page)
    print(f"{len(cards)} cards in the gallery index's first screen")
    assert len(cards) >= 5, f"the gallery index's first screen shows {len(cards)} cards"


@pytest.mark.parametrize("stem", GUIDES)
def test_a_guide_page_shows_its_samples_picture(stem: str, screen: Any) -> None:
    """The picture its sample drew, loaded, within the page's first two screens."""
    samples = re.findall(r"^\.\. sample-picture:: (\w+)$", (RST_DIR / f"{stem}.rst").read_text(), re.M)
    assert samples, f"{stem}.rst pictures no sample"
    page = screen(f"samples/interoperability/{stem}.html")
    pictures = page.eval_on_selector_all(
        "article figure img",
        """els => els.filter(e => e.complete && e.naturalWidth >= 200)
            .map(e => [e.src.split('/').pop(), e.getBoundingClientRect().top + window.scrollY])""",
    )
    for sample in samples:
        tops = [top for name, top in pictures if name == f"{sample}.jpg"]
        assert tops, f"{stem}: no loaded picture of {sample} ({pictures})"
        assert tops[0] < 2 * SCREEN["height"], f"{stem}: {sample}'s picture starts at {tops[0]:.0f} px"


def test_the_top_navigation_shows_the_gallery_and_performance(screen: Any) -> None:
    """At 1400 px, without opening "More"."""
    page = screen("index.html")
    shown = page.eval_on_selector_all(
        "header .bd-navbar-elements > li.nav-item > a",
        "els => els.filter(e => e.offsetParent !== null && e.getBoundingClientRect().width > 0)"
        ".map(e => e.innerText.trim())",
    )
    print(f"top navigation: {shown}")
    assert "Sample gallery" in shown and "Performance" in shown, shown


def test_the_cuda_python_page_reads_in_seven_screens(screen: Any) -> None:
    """At 1400x900 the page (the common module is listed on its own page) is at
    most 7 screens, and Approach 1 starts within 2,500 px."""
    page = screen("samples/interoperability/cuda_python.html")
    height = page.evaluate("document.documentElement.scrollHeight")
    top = page.evaluate("() => document.getElementById('approach-1').getBoundingClientRect().top + window.scrollY")
    print(f"CUDA Python page: {height} px ({height / SCREEN['height']:.1f} screens); Approach 1 at {top:.0f} px")
    assert height <= 7 * SCREEN["height"]
    assert top <= 2500


def test_the_performance_page_reaches_its_full_figures_within_six_screens(screen: Any) -> None:
    """At 1400x900: the answer, the figure and what is measured first; the full
    figures start within 6 screens."""
    page = screen("performance.html")
    top = page.evaluate("() => document.getElementById('full-figures').getBoundingClientRect().top + window.scrollY")
    print(f"Performance page: full figures at {top:.0f} px ({top / SCREEN['height']:.1f} screens)")
    assert top <= 6 * SCREEN["height"]


OVERFLOW_PAGES = [
    "samples/interoperability/cuda_python.html",
    *(f"samples/interoperability/{stem}.html" for stem in GUIDES),
    *(f"auto_samples/{stem}.html" for stem in SAMPLES),
]


@pytest.mark.parametrize("path", OVERFLOW_PAGES)
def test_no_code_or_output_block_scrolls_sideways(path: str, open_page: Any) -> None:
    """At 1280 px no code or output block is wider than its box (folded ones opened)."""
    page = open_page(path).page
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    widths = page.eval_on_selector_all(
        "article pre",
        "els => els.map(e => [e.scrollWidth, e.clientWidth, e.innerText.slice(0, 60)])",
    )
    assert widths, f"{path} shows no code"
    wide = [f"{s} > {c} px: {text!r}" for s, c, text in widths if s > c + 1]
    assert wide == [], f"{path}: blocks scroll sideways:\n" + "\n".join(wide)
