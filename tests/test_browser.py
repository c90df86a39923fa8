"""A real browser: Voilà serves notebook 07, headless Chromium runs it; a slider moves and the picture
changes; a click on the picture probes that pixel.

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

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "07_explore_experts.ipynb"
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
        env={**os.environ, "LATENTSEG_STEPS": "20"},  # a quick model: this test is about the widgets
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


def _probe_line(page) -> str:
    return page.locator(".widget-html", has_text="probe: pixel").first.inner_text().split("\n")[0]  # the first explorer


def test_slider_and_clicks_redraw_the_explorer_in_a_real_browser(voila_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(voila_url, timeout=240_000, wait_until="domcontentloaded")
            picture = page.locator("img.widget-image").first
            picture.wait_for(timeout=240_000)
            before = picture.get_attribute("src")
            assert before, "the explorer's picture has no image"

            slider = page.locator(".widget-slider", has_text="test image").first  # notebook 07's first explorer
            readout = slider.locator(".widget-readout")
            readout.click()
            page.keyboard.press("Control+A")
            page.keyboard.type("7")
            page.keyboard.press("Enter")
            page.wait_for_function(
                "before => document.querySelector('img.widget-image').getAttribute('src') !== before",
                arg=before, timeout=60_000)
            assert readout.inner_text().strip() == "7"
            assert "image: test set" in page.locator(".widget-html", has_text="IoU now").first.inner_text()

            first = _probe_line(page)
            box = picture.bounding_box()
            # inside the "prediction" panel, whose place in the figure plots.plot_explorer fixes
            start = time.monotonic()
            picture.click(position={"x": 0.50 * box["width"], "y": 0.30 * box["height"]})  # scrolls it into view
            page.wait_for_function("before => ![...document.querySelectorAll('.widget-html')].some("
                                   "e => e.innerText.startsWith(before))", arg=first, timeout=60_000)
            latency = time.monotonic() - start
            second = _probe_line(page)
            assert second != first and "expert" in second and "wins" in second
            picture.click(position={"x": 0.58 * box["width"], "y": 0.62 * box["height"]})
            page.wait_for_function("before => ![...document.querySelectorAll('.widget-html')].some("
                                   "e => e.innerText.startsWith(before))", arg=second, timeout=60_000)
            third = _probe_line(page)
            assert third not in (first, second), "the probed position follows the click"
            print(f"click to redrawn probe: {latency:.2f} s")
        finally:
            browser.close()


def test_the_static_site_shows_an_executed_notebook_in_a_real_browser(tmp_path):
    """``tools/build_site.py`` on one fast notebook: the index links it, the page holds its figures
    (embedded) and no error, and a browser shows them; a second build replaces the first whole."""
    missing = [m for m in _missing() if "voila" not in m]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser test cannot run in CI: missing {', '.join(missing)}")
        pytest.skip(f"no real-browser test here: missing {', '.join(missing)}")
    tools = Path(__file__).parent.parent / "tools"
    notebook = NOTEBOOK.parent / "01_encoder.ipynb"
    site = tmp_path / "site"
    (site / "stale.html").parent.mkdir()
    (site / "stale.html").write_text("from an older build")
    done = subprocess.run([sys.executable, str(tools / "build_site.py"), str(site), str(notebook)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(p.name for p in site.iterdir()) == ["01_encoder.html", "index.html"], "the old build is gone whole"
    page_html = (site / "01_encoder.html").read_text()
    assert page_html.count("data:image/png;base64") >= 2 and "Traceback" not in page_html

    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto((site / "index.html").as_uri())
            assert "Run time: " not in page.content() and "about 10 s" in page.inner_text("li")
            page.click("text=01 · The encoder")
            figure = page.locator("img[src^='data:image/png']").first
            figure.wait_for(timeout=30_000)
            assert figure.evaluate("img => img.naturalWidth") > 100, "the figure decodes and shows"
            assert "What you will learn" in page.inner_text("body")
        finally:
            browser.close()


def test_build_site_refuses_a_missing_notebook_in_one_line(tmp_path):
    tools = Path(__file__).parent.parent / "tools"
    done = subprocess.run([sys.executable, str(tools / "build_site.py"), str(tmp_path / "site"), "nope.ipynb"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.strip() == "build_site: no such notebook: nope.ipynb"
    assert not (tmp_path / "site").exists()
