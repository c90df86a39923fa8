"""A real browser: Voilà serves notebook 05, headless Chromium runs it, a slider moves, the picture changes.

Needs the ``voila`` and ``playwright`` packages and Debian's ``chromium`` (no browser download: Playwright
drives the system binary through ``executable_path``). ``.ci/run`` installs all three. Outside CI
the test skips, naming what is missing; in CI (``CI=true``) a missing piece fails it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "05_explore_experts.ipynb"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _missing() -> list[str]:
    missing = [f"the {name} package" for name in ("voila", "playwright") if importlib.util.find_spec(name) is None]
    return missing + ([] if CHROMIUM else ["a chromium binary (apt-get install chromium)"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def voila_url(tmp_path):
    missing = _missing()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser test cannot run in CI: missing {', '.join(missing)}")
        pytest.skip(f"no real-browser test here: missing {', '.join(missing)}")
    port = _free_port()
    log = open(tmp_path / "voila.log", "w")  # noqa: SIM115 - closed below, after the server stops
    server = subprocess.Popen(
        [sys.executable, "-m", "voila", NOTEBOOK.name, f"--port={port}", "--no-browser", "--Voila.ip=127.0.0.1"],
        cwd=NOTEBOOK.parent, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "LATENTSEG_BUDGET_S": "2"},  # a quick model: this test is about the widgets
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"voila did not start: {(tmp_path / 'voila.log').read_text()[-2000:]}") from None
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def test_slider_redraws_the_picture_in_a_real_browser(voila_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.goto(voila_url, timeout=240_000, wait_until="domcontentloaded")
            slider = page.locator(".widget-slider", has_text="test image")
            slider.wait_for(timeout=240_000)
            picture = page.locator("img.widget-image").first
            picture.wait_for(timeout=60_000)
            before = picture.get_attribute("src")
            assert before, "the explorer's picture has no image"

            readout = slider.locator(".widget-readout")
            readout.click()
            page.keyboard.press("Control+A")
            page.keyboard.type("7")
            page.keyboard.press("Enter")
            page.wait_for_function(
                "before => document.querySelector('img.widget-image').getAttribute('src') !== before",
                arg=before, timeout=60_000)
            assert readout.inner_text().strip() == "7"
            assert "image: test set" in page.locator(".widget-html", has_text="IoU now").inner_text()
        finally:
            browser.close()
