# SPDX-License-Identifier: Apache-2.0
"""The built site in headless Chromium: code, copy buttons, downloads, links, console.

* Every ``literalinclude`` on the two sample pages shows exactly the marked
  region of its source file, and its copy button puts exactly that code on the
  clipboard.
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
import shutil
import threading
import zipfile
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin

import pytest
import sphinx_gallery
from page_code import page_blocks

import preflight

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
SAMPLES_DIR = ROOT / "samples" / "interoperability"
RST_DIR = ROOT / "docs" / "samples" / "interoperability"
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
README_SCREENSHOT = ROOT / "docs" / "_static" / "screenshot-cuda-python.png"

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

#: Page path -> screenshot name.
PAGES: dict[str, str] = {
    "index.html": "index",
    "installation.html": "installation",
    "samples/interoperability/cuda_python.html": "cuda_python",
    "samples/interoperability/cuda_core.html": "cuda_core",
    "samples/interoperability/kernel.html": "kernel",
    "samples/interoperability/pytorch.html": "pytorch",
    "samples/interoperability/cupy.html": "cupy",
    "samples/interoperability/nvimagecodec.html": "nvimagecodec",
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


def require_browser_switch() -> bool:
    return os.environ.get("REQUIRE_BROWSER", "").strip().lower() in {"1", "true", "yes"}


def _unavailable(reason: str) -> None:
    if require_browser_switch():
        pytest.fail(f"REQUIRE_BROWSER is set but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def site_url(built_site: Path) -> Iterator[str]:
    """The built site served over HTTP on 127.0.0.1 (a free port), for the session."""

    class QuietHandler(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    handler = functools.partial(QuietHandler, directory=str(built_site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="site-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


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
    """A page, with the console errors, uncaught exceptions and off-site requests seen while it loaded."""

    def __init__(self, context: Any, url: str) -> None:
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
        self.page.wait_for_load_state("networkidle")

    def _console(self, msg: Any) -> None:
        # Chromium asks every site for /favicon.ico on its own; the site has no favicon, and
        # that 404 is the browser's request, not the page's.
        if msg.type == "error" and not msg.location.get("url", "").endswith("/favicon.ico"):
            self.errors.append(f"console: {msg.text} ({msg.location.get('url')})")


@pytest.fixture
def open_page(context: Any, site_url: str) -> Any:
    def _open(path: str) -> LoadedPage:
        return LoadedPage(context, urljoin(site_url, path))

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
    loaded = open_page(path)
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


@pytest.mark.parametrize("rst_name", ["cuda_python.rst", "cuda_core.rst"])
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


@pytest.mark.parametrize("rst_name", ["cuda_python.rst", "cuda_core.rst"])
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
        for module in ("cuda_python_common.py", "preflight.py", "sample_images.py"):
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
    page = open_page(f"auto_samples/{stem}.html").page
    sizes = page.eval_on_selector_all(
        "article.bd-article img",
        "els => els.filter(e => e.complete).map(e => [e.src, e.naturalWidth, e.naturalHeight])",
    )
    pictures = [(src, w, h) for src, w, h in sizes if stem in src and w >= 200 and h >= 100]
    assert pictures, f"{stem}: no picture of the sample on its page ({sizes})"


def test_installation_tabs_switch_to_cuda_12(open_page: Any) -> None:
    loaded = open_page("installation.html")
    page = loaded.page
    first_set = page.locator("article .sd-tab-set").first
    cu12 = first_set.locator("div.sd-tab-content").filter(has_text="cvcuda-cu12")
    cu13 = first_set.locator("div.sd-tab-content").filter(has_text="cvcuda-cu13")
    assert cu13.is_visible() and not cu12.is_visible(), "CUDA 13 should be the tab shown first"

    first_set.locator("label.sd-tab-label", has_text="CUDA 12").click()
    assert cu12.is_visible() and not cu13.is_visible()
    assert 'python3 -m pip install "cuda-python>=12.9.1,<13" cvcuda-cu12 "cuda-core>=1.2" numpy' in cu12.inner_text()
    # The tab sets are synced: the extras switch to cu12 too.
    extras = page.locator("article .sd-tab-set").nth(1)
    assert extras.locator("div.sd-tab-content", has_text='".[cu12]"').is_visible()
    assert not extras.locator("div.sd-tab-content", has_text='".[cu13]"').is_visible()

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "installation_cuda12_tab.png"), full_page=True)
    assert loaded.errors == []


def test_readme_screenshot(open_page: Any) -> None:
    """The 1280x800 view of the CUDA Python page shown in the README.

    Scrolled to "Approach 1" with the pointer on a code block, so that it shows
    code and a copy button rather than only the page's introduction. Always
    written to test-artifacts/; copied to docs/_static/ (which is committed)
    only when missing or when ``UPDATE_README_SCREENSHOT=1``, so a test run
    does not churn a committed binary.
    """
    page = open_page("samples/interoperability/cuda_python.html").page
    page.set_viewport_size({"width": 1280, "height": 800})
    heading = page.locator("section#approach-1-custom-cudabuffer > h2").first
    assert "Approach 1" in heading.inner_text()
    heading.evaluate("el => { el.scrollIntoView({block: 'start'}); window.scrollBy(0, -120); }")
    block = heading.locator("xpath=following::div[@class='highlight'][1]")
    block.hover()
    button = block.locator("button.copybtn")
    page.wait_for_function("b => getComputedStyle(b).opacity === '1'", arg=button.element_handle())
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / "readme_cuda_python.png"
    page.screenshot(path=str(shot), full_page=False)
    assert shot.stat().st_size < 300_000, f"{shot} is {shot.stat().st_size} bytes"
    if not README_SCREENSHOT.exists() or os.environ.get("UPDATE_README_SCREENSHOT", "") == "1":
        README_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, README_SCREENSHOT)


def test_approach_1_starts_within_the_first_screens(browser: Any, site_url: str) -> None:
    """At 1400x900 the reader reaches Approach 1 within 2,500 px: the helpers'
    code comes after it, and their guard rails are folded."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = LoadedPage(context, urljoin(site_url, "samples/interoperability/cuda_python.html")).page
        top = page.evaluate(
            "() => document.querySelector('section#approach-1-custom-cudabuffer > h2')"
            ".getBoundingClientRect().top + window.scrollY"
        )
        folded = page.locator("article details").count()
    finally:
        context.close()
    print(f"Approach 1 heading at {top:.0f} px; {folded} folded blocks")
    assert top <= 2500
    assert folded >= 6


OVERFLOW_PAGES = [
    "samples/interoperability/cuda_python.html",
    "samples/interoperability/cuda_core.html",
    "samples/interoperability/kernel.html",
    "samples/interoperability/pytorch.html",
    "samples/interoperability/cupy.html",
    "samples/interoperability/nvimagecodec.html",
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
