"""The course website in a real browser: every page readable, offline.

Builds the site with ``make site`` into a scratch folder (seconds once ``build/site-venv``
exists; the first time it installs ``site/requirements.txt``), serves it on a free
loopback port and opens the home page, the setup and instructors pages and every lesson
page in headless Chromium (the same browser, and the same skip-outside-CI rule, as
``test_browser.py``). A page fails when an image does not load, when a link or anchor
inside the site is broken or a file the page loads is missing, when a lesson lacks its
Colab and Binder launch buttons, its notebook download or its student version, when math
is left as TeX, when it shows a progress bar's text, when a code cell of at most 100
columns (the lessons' limit) scrolls sideways in the 1400-pixel-wide window, or when it
asks for anything outside the site (it must work without a network). Screenshots of each
page go to ``build/site-screenshots/``: ``NAME.png``, what a reader sees first, and
``NAME-full.png``, the whole page. A second test searches the site.
"""

from __future__ import annotations

import functools
import re
import subprocess
import threading
import tomllib
import urllib.parse
import urllib.request
import warnings
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import test_browser
from conftest import LESSON_NOTEBOOKS, PAGES_WITHOUT_EXERCISES, ROOT
from selenium.webdriver.support.ui import WebDriverWait

SCREENSHOTS = ROOT / "build" / "site-screenshots"
with open(ROOT / "site" / "course.toml", "rb") as course_file:
    COURSE = tomllib.load(course_file)
PAGES = ["index.html", "setup.html", "instructors.html"] + [
    f"notebooks/{path.stem}.html" for path in LESSON_NOTEBOOKS
]
# tqdm's text fallback: "  40%|████      | 4/10 [00:01<00:02, ...]".
PROGRESS_BAR = re.compile(r"\d+%\|")
# TeX that MathJax should have turned into math: $...$, $$, \( or \[.
RAW_TEX = re.compile(r"\$\$|\$[^$\n]+\$|\\\(|\\\[")
# The tallest full-page screenshot kept (Chromium's limit for one capture is 16,384).
FULL_PAGE_LIMIT = 16_000

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# The headless Chromium of test_browser.py: it skips outside CI when no browser is found.
browser = test_browser.browser

# Runs in the page once it has loaded: waits for MathJax, the images and the fonts, then
# reports what the checks need.
INSPECT_PAGE = """
const done = arguments[arguments.length - 1];
(async () => {
  // MathJax's script loads after the page: on a page with math, wait (up to 20 s) until it
  // has started, then for its typesetting; a page read before that would look unrendered.
  const started = () => window.MathJax && MathJax.startup && MathJax.startup.promise;
  for (let waited = 0; document.querySelector('.math') && !started() && waited < 20000;
       waited += 50) {
    await new Promise(resolve => setTimeout(resolve, 50));
  }
  if (started()) {
    await MathJax.startup.promise;
  }
  const images = Array.from(document.images);
  images.forEach(image => { image.loading = 'eager'; });
  await Promise.all(images.map(image => image.complete ? null : new Promise(resolve => {
    image.addEventListener('load', resolve);
    image.addEventListener('error', resolve);
  })));
  await document.fonts.ready;
  const article = document.querySelector('article.bd-article') || document.body;
  const prose = article.cloneNode(true);
  prose.querySelectorAll('pre, code, mjx-container, script, style, .cell_output')
    .forEach(element => element.remove());
  const math = Array.from(article.querySelectorAll('.math'));
  return {
    images: images.map(image => [image.currentSrc || image.src, image.naturalWidth]),
    links: Array.from(document.querySelectorAll('a[href]'), link => link.href),
    launch: Array.from(
      document.querySelectorAll('.dropdown-launch-buttons a[href]'), link => link.href),
    download: Array.from(
      document.querySelectorAll('.dropdown-download-buttons a[href]'), link => link.href),
    student: Array.from(
      document.querySelectorAll('.student-version a.download[href]'), link => link.href),
    math: math.length,
    mathUnrendered: math.filter(element => !element.querySelector('mjx-container')).length,
    // Where MathJax got to, and how its script's request went: for the failure message.
    mathjax: !window.MathJax ? 'no MathJax object'
      : started() ? 'started' : 'configured, script not run',
    mathjaxRequests: performance.getEntriesByType('resource')
      .filter(entry => entry.name.includes('mathjax'))
      .map(entry => `${entry.name.split('/').pop()} ${entry.responseStatus}`),
    mathRendered: article.querySelectorAll('mjx-container').length,
    // Errors any script threw while the page loaded (recorded by RECORD_ERRORS).
    scriptErrors: window.courseScriptErrors || [],
    prose: prose.textContent,
    text: document.body.innerText,
    fontErrors: Array.from(document.fonts)
      .filter(font => font.status === 'error').map(font => font.family),
    requests: performance.getEntriesByType('resource')
      .map(entry => [entry.name, entry.responseStatus]),
    // Code cells whose lines all fit the lessons' 100 columns but that scroll sideways.
    codeScrolls: Array.from(document.querySelectorAll('div.cell_input pre'))
      .filter(pre => pre.textContent.split('\\n').every(line => line.length <= 100))
      .filter(pre => pre.scrollWidth > pre.clientWidth + 1)
      .map(pre => pre.textContent.split('\\n')[0]),
    height: Math.ceil(document.documentElement.scrollHeight),
  };
})().then(done, error => done({error: String(error)}));
"""

# Runs before any script of each page (through DevTools): keeps the errors scripts throw,
# the scripts and styles that fail to load and the promises rejected with no handler, so a
# MathJax that never started says why.
RECORD_ERRORS = """
window.courseScriptErrors = [];
window.addEventListener('error', event => window.courseScriptErrors.push(
  event.target !== window
    ? `failed to load: ${event.target.src || event.target.href}`  // a script or style
    : `${(event.filename || '').split('/').pop()}:${event.lineno} ${event.message}`), true);
window.addEventListener('unhandledrejection', event => window.courseScriptErrors.push(
  `unhandled rejection: ${event.reason}`));
"""


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


class SiteServer(ThreadingHTTPServer):
    # socketserver's default backlog of 5 can refuse a browser's burst of requests on a
    # busy machine, and a refused script leaves its page half-loaded.
    request_queue_size = 128


@pytest.fixture(scope="module")
def site_dir(tmp_path_factory) -> Path:
    """The site as `make site` builds it from the current sources, in a folder of its own
    (so a build running beside the test cannot change the pages under it)."""
    test_browser.browser_programs()  # skip (or fail, in CI) before building, not after
    scratch = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "site",
            f"SITE_SRC={scratch / 'src'}",
            f"SITE_OUT={scratch / 'site'}",
            f"SITE_CACHE={scratch / 'doctrees'}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if result.returncode != 0:
        pytest.fail(f"make site failed:\n{(result.stdout + result.stderr)[-6000:]}")
    return scratch / "site"


@pytest.fixture(scope="module")
def site_url(site_dir):
    """build/site served on a free loopback port."""
    handler = functools.partial(QuietHandler, directory=str(site_dir))
    server = SiteServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def fetch(url: str) -> tuple[int, str]:
    """Status and body (text pages only) of a URL on the local server."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            kind = response.headers.get_content_type()
            body = response.read()
            text = body.decode("utf-8", "replace") if kind == "text/html" else ""
            return response.status, text
    except urllib.error.HTTPError as error:
        return error.code, ""


def save_screenshots(driver, name: str, height: int) -> None:
    """NAME.png, the first screen a reader sees, and NAME-full.png, the whole page."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
    size = driver.get_window_size()
    # A window as tall as the page lays it out whole; the browser's height is the page's
    # plus its own frame.
    frame = size["height"] - driver.execute_script("return window.innerHeight")
    driver.set_window_size(size["width"], min(height, FULL_PAGE_LIMIT) + frame)
    try:
        driver.save_screenshot(str(SCREENSHOTS / f"{name}-full.png"))
    finally:
        driver.set_window_size(size["width"], size["height"])


def unrendered(report: dict) -> bool:
    return bool(report["mathUnrendered"]) or report["mathRendered"] < report["math"]


def inspect(browser, url: str) -> dict:
    """INSPECT_PAGE's report on the page at url. A page whose MathJax never started, while
    no MathJax file answered an error, is loaded once more, from the server and not the
    cache, before it counts: a busy machine can drop a request, and the project's CI has
    seen MathJax's script fetched (200) yet not run on one page in about twenty runs. A
    MathJax that started and left math unrendered, or whose files answer an error status,
    counts at once; so does one that fails to start twice."""
    browser.get(url)
    report = browser.execute_async_script(INSPECT_PAGE)
    assert "error" not in report, f"{url}: {report.get('error')}"
    statuses = [entry.rpartition(" ")[2] for entry in report["mathjaxRequests"]]
    file_error = any(s.isdigit() and int(s) >= 400 for s in statuses)
    if unrendered(report) and report["mathjax"] != "started" and not file_error:
        warnings.warn(
            f"{url}: MathJax did not start ({report['mathjax']}; its requests: "
            f"{report['mathjaxRequests']}; script errors: {report['scriptErrors']}); "
            "loading the page once more",
            stacklevel=2,
        )
        browser.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
        try:
            browser.get(url)
            report = browser.execute_async_script(INSPECT_PAGE)
        finally:
            browser.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": False})
        assert "error" not in report, f"{url}: {report.get('error')}"
        report["retried"] = True
    return report


def test_every_page_of_the_site_reads_well_offline(browser, site_url):
    problems: list[str] = []
    internal_links: dict[str, set[str]] = {}  # URL without fragment -> fragments linked
    image_count = 0
    math_pages = []
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_ERRORS})
    for page in PAGES:
        report = inspect(browser, site_url + page)

        for source, width in report["images"]:
            image_count += 1
            if width == 0:
                problems.append(f"{page}: image does not load: {source}")
        for request, status in report["requests"]:
            if not request.startswith(site_url):
                problems.append(f"{page}: asks for something outside the site: {request}")
            elif status >= 400:
                problems.append(
                    f"{page}: {request} (a script, style, font or image) answers {status}"
                )
        for link in report["links"]:
            if link.startswith(site_url):
                address, fragment = urllib.parse.urldefrag(link)
                internal_links.setdefault(address, set()).add(fragment)

        if report["math"]:
            math_pages.append(page)
            if unrendered(report):
                problems.append(
                    f"{page}: {report['mathUnrendered']} of {report['math']} math elements "
                    f"not rendered by MathJax ({report['mathjax']}; its requests: "
                    f"{report['mathjaxRequests']}; script errors: {report['scriptErrors']}; "
                    f"loaded twice: {'retried' in report})"
                )
        raw = RAW_TEX.search(report["prose"])
        if raw:
            problems.append(f"{page}: TeX shown as text: ...{raw.group(0)[:60]}...")
        if report["fontErrors"]:
            problems.append(f"{page}: fonts failed to load: {sorted(set(report['fontErrors']))}")
        for first_line in report["codeScrolls"]:
            problems.append(f"{page}: a code cell scrolls sideways: {first_line[:60]}")
        progress = PROGRESS_BAR.search(report["text"])
        if progress:
            problems.append(f"{page}: shows progress-bar text: {progress.group(0)!r}")

        if page.startswith("notebooks/"):
            lesson = page.removeprefix("notebooks/").removesuffix(".html")
            notebook = f"notebooks/{lesson}.ipynb"
            repository, branch = COURSE["repository"], COURSE["branch"]
            expected = {
                "Colab": f"https://colab.research.google.com/github/{repository}/blob/{branch}/"
                f"{notebook}",
                "Binder": f"https://mybinder.org/v2/gh/{repository}/{branch}"
                f"?urlpath=lab/tree/{notebook}",
            }
            for name, url in expected.items():
                if url not in report["launch"]:
                    problems.append(f"{page}: no {name} launch button for {url}")
            # The runner's stamp (instructor.runner.stamp_text), under the page's title.
            if not re.search(r"Last verified \d{4}-\d\d-\d\d: PyTorch \S+ on ", report["text"]):
                problems.append(f"{page}: no 'Last verified' stamp under the title")
            if not any(link.endswith(f"/{lesson}.ipynb") for link in report["download"]):
                problems.append(f"{page}: no download button for {notebook}")
            if lesson in PAGES_WITHOUT_EXERCISES:
                if report["student"]:
                    problems.append(f"{page}: links a student version, but has no exercises")
            elif not any(link.endswith(f"/{lesson}.ipynb") for link in report["student"]):
                problems.append(f"{page}: no download link to student/{lesson}.ipynb")

        save_screenshots(browser, page.removesuffix(".html").replace("/", "_"), report["height"])

    anchors = 0
    for address, fragments in sorted(internal_links.items()):
        status, body = fetch(address)
        if status != 200:
            problems.append(f"broken link: {address} answers {status}")
            continue
        for fragment in sorted(fragments - {""}):
            anchors += 1
            anchor = re.escape(urllib.parse.unquote(fragment))
            if not re.search(rf'\b(id|name)="{anchor}"', body):
                problems.append(f"broken anchor: {address}#{fragment}")

    print(
        f"site: {len(PAGES)} pages, {image_count} images, {len(internal_links)} internal "
        f"addresses and {anchors} anchors checked, math on {math_pages}"
    )
    assert math_pages, "no page has math, so the offline MathJax went unchecked"
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)


def test_search_finds_a_lesson(browser, site_url):
    browser.get(site_url + "search.html?q=autograd")
    results = WebDriverWait(browser, 30).until(
        lambda driver: driver.execute_script(
            "const links = document.querySelectorAll('#search-results ul.search li a');"
            "return links.length ? Array.from(links, link => link.href) : null;"
        )
    )
    assert site_url + "notebooks/02_autograd.html" in [link.split("?")[0] for link in results]


def test_search_finds_the_troubleshooting_page_by_an_error_message(browser, site_url):
    # Its section titles carry the messages' words (tests/test_troubleshooting.py).
    browser.get(site_url + "search.html?q=multiplied")
    results = WebDriverWait(browser, 30).until(
        lambda driver: driver.execute_script(
            "const links = document.querySelectorAll('#search-results ul.search li a');"
            "return links.length ? Array.from(links, link => link.href) : null;"
        )
    )
    page = site_url + "notebooks/07_troubleshooting.html"
    assert page in [link.split("?")[0].split("#")[0] for link in results]
