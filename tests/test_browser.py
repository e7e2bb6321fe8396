"""End to end in a real browser: JupyterLab serves lesson 01, Chromium runs all its cells.

Uses Chromium and its ChromeDriver (Debian's ``chromium`` and ``chromium-driver``,
which ``.ci/run`` installs) through Selenium, found on the ``PATH`` or at the paths
in ``CHROMIUM`` and ``CHROMEDRIVER``. Without them the test skips with the reason,
except under ``CI=true``, where a missing browser is a failure. The lesson is copied
to a scratch folder first, so the committed notebook is never touched. A screenshot
is saved to ``build/browser/``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from conftest import NOTEBOOKS, ROOT
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from course_utils.distributed import free_port

LESSON = NOTEBOOKS / "01_tensors.ipynb"
SCREENSHOTS = ROOT / "build" / "browser"
TOKEN = "course-browser-test"
INSTALL_HINT = (
    "Chromium and ChromeDriver are needed: `apt-get install chromium chromium-driver` "
    "(or set CHROMIUM and CHROMEDRIVER to their paths)"
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def find_program(variable: str, names: tuple[str, ...]) -> Path | None:
    """The program named by the environment variable, else the first of ``names`` on PATH."""
    configured = os.environ.get(variable)
    if configured:
        return Path(configured) if Path(configured).is_file() else None
    found = next((shutil.which(name) for name in names if shutil.which(name)), None)
    return Path(found) if found else None


def browser_programs() -> tuple[Path, Path]:
    """Chromium and ChromeDriver; outside CI a missing one skips the test, in CI it fails it."""
    chromium = find_program("CHROMIUM", ("chromium", "chromium-browser", "google-chrome"))
    chromedriver = find_program("CHROMEDRIVER", ("chromedriver",))
    if chromium and chromedriver:
        return chromium, chromedriver
    missing = ", ".join(
        name for name, path in (("Chromium", chromium), ("ChromeDriver", chromedriver)) if not path
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{missing} not found, and CI must run the browser test. {INSTALL_HINT}")
    pytest.skip(f"{missing} not found. {INSTALL_HINT}")


def wait_for_server(url: str, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with code {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"JupyterLab did not answer at {url} within {timeout} s")


@pytest.fixture
def jupyterlab(tmp_path):
    """A JupyterLab server on a free local port, serving a scratch copy of lesson 01."""
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    shutil.copy(LESSON, workspace / LESSON.name)
    settings = tmp_path / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    # Render every cell, not only the visible ones, so the page can be checked whole.
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    notifications = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    notifications.mkdir(parents=True)
    (notifications / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false"})
    )
    port = free_port()
    environment = {
        **os.environ,
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
    }
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        f"--port={port}",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.token={TOKEN}",
        f"--ServerApp.root_dir={workspace}",
        "--ServerApp.open_browser=False",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    log = open(tmp_path / "jupyterlab.log", "w")
    server = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_server(f"http://127.0.0.1:{port}/api/status?token={TOKEN}", server)
        yield f"http://127.0.0.1:{port}", workspace
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture
def browser(tmp_path):
    chromium, chromedriver = browser_programs()
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1000",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(chromedriver)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def click_menu(driver, menu: str, item: str) -> None:
    wait = WebDriverWait(driver, 30)
    wait.until(
        expected_conditions.element_to_be_clickable(
            (By.XPATH, f"//div[contains(@class, 'lm-MenuBar-itemLabel') and text()='{menu}']")
        )
    ).click()
    wait.until(
        expected_conditions.element_to_be_clickable(
            (By.XPATH, f"//div[contains(@class, 'lm-Menu-itemLabel') and text()='{item}']")
        )
    ).click()


def prompts(driver) -> list[str]:
    """The input prompts of all code cells, in one script call (JupyterLab re-renders often)."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputPrompt'),"
        " element => element.textContent)"
    )


def test_a_missing_browser_skips_outside_ci_and_fails_in_ci(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing to find
    monkeypatch.delenv("CHROMIUM", raising=False)
    monkeypatch.delenv("CHROMEDRIVER", raising=False)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium chromium-driver"):
        browser_programs()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the browser test"):
        browser_programs()


def test_lesson_01_runs_in_jupyterlab_in_chromium(browser, jupyterlab):
    base_url, workspace = jupyterlab
    code_cells = sum(cell.cell_type == "code" for cell in nbformat.read(LESSON, as_version=4).cells)
    browser.get(f"{base_url}/lab/tree/{LESSON.name}?token={TOKEN}")
    wait = WebDriverWait(browser, 120)
    wait.until(lambda driver: len(prompts(driver)) == code_cells)
    wait.until(
        expected_conditions.presence_of_element_located(
            (By.CSS_SELECTOR, ".jp-Notebook-ExecutionIndicator[data-status='idle']")
        )
    )

    click_menu(browser, "Run", "Run All Cells")
    # Every prompt shows its execution count once the kernel has run every cell.
    wait.until(lambda driver: all(text.strip("[]: ").isdigit() for text in prompts(driver)))
    copied_at = (workspace / LESSON.name).stat().st_mtime_ns
    click_menu(browser, "File", "Save Notebook")
    # Read the file only once the browser's save has replaced the copy made before the run.
    wait.until(lambda driver: (workspace / LESSON.name).stat().st_mtime_ns != copied_at)
    wait.until(
        lambda driver: (
            "Saving completed"
            in driver.find_element(By.CSS_SELECTOR, ".jp-StatusBar-Widget, #jp-main-statusbar").text
        )
    )

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / "01_tensors.png"))

    shown_errors = browser.find_elements(
        By.CSS_SELECTOR, ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
    )
    assert [element.text for element in shown_errors] == []
    saved = nbformat.read(workspace / LESSON.name, as_version=4)
    executed = [cell for cell in saved.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in executed)
    assert [
        output for cell in executed for output in cell.outputs if output.output_type == "error"
    ] == []
    assert "broadcast example matches the hand calculation: True" in "".join(
        output.get("text", "") for cell in executed for output in cell.outputs
    )
