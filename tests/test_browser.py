"""End to end in a real browser: JupyterLab serves lesson 01, Chromium runs all its cells.

Uses Debian's chromium and chromium-driver (``.ci/run`` installs them) through
Selenium. The lesson is copied to a scratch folder first, so the committed
notebook is never touched. A screenshot is saved to ``build/browser/``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[1]
LESSON = ROOT / "notebooks" / "01_tensors.ipynb"
SCREENSHOTS = ROOT / "build" / "browser"
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
TOKEN = "course-browser-test"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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
    (notifications / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    port = free_port()
    environment = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}", "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.token={TOKEN}", f"--ServerApp.root_dir={workspace}", "--ServerApp.open_browser=False",
        "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
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
    for program in (CHROMIUM, CHROMEDRIVER):
        assert program.exists(), f"{program} is missing: `apt-get install chromium chromium-driver` (.ci/run does it)"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1400,1000",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def click_menu(driver, menu: str, item: str) -> None:
    wait = WebDriverWait(driver, 30)
    wait.until(expected_conditions.element_to_be_clickable((By.XPATH, f"//div[contains(@class, 'lm-MenuBar-itemLabel') and text()='{menu}']"))).click()
    wait.until(expected_conditions.element_to_be_clickable((By.XPATH, f"//div[contains(@class, 'lm-Menu-itemLabel') and text()='{item}']"))).click()


def prompts(driver) -> list[str]:
    """The input prompts of all code cells, read in one script call (JupyterLab re-renders often)."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputPrompt'), element => element.textContent)"
    )


def test_lesson_01_runs_in_jupyterlab_in_chromium(jupyterlab, browser):
    base_url, workspace = jupyterlab
    code_cells = sum(cell.cell_type == "code" for cell in nbformat.read(LESSON, as_version=4).cells)
    browser.get(f"{base_url}/lab/tree/{LESSON.name}?token={TOKEN}")
    wait = WebDriverWait(browser, 120)
    wait.until(lambda driver: len(prompts(driver)) == code_cells)
    wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".jp-Notebook-ExecutionIndicator[data-status='idle']")))

    click_menu(browser, "Run", "Run All Cells")
    # Every prompt shows its execution count once the kernel has run every cell.
    wait.until(lambda driver: all(text.strip("[]: ").isdigit() for text in prompts(driver)))
    copied_at = (workspace / LESSON.name).stat().st_mtime_ns
    click_menu(browser, "File", "Save Notebook")
    # Read the file only once the browser's save has replaced the copy made before the run.
    wait.until(lambda driver: (workspace / LESSON.name).stat().st_mtime_ns != copied_at)
    wait.until(lambda driver: "Saving completed" in driver.find_element(By.CSS_SELECTOR, ".jp-StatusBar-Widget, #jp-main-statusbar").text)

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / "01_tensors.png"))

    shown_errors = browser.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    assert [element.text for element in shown_errors] == []
    saved = nbformat.read(workspace / LESSON.name, as_version=4)
    executed = [cell for cell in saved.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in executed)
    assert [output for cell in executed for output in cell.outputs if output.output_type == "error"] == []
    assert "broadcast example matches the hand calculation: True" in "".join(
        output.get("text", "") for cell in executed for output in cell.outputs
    )
