"""The dashboard in a real browser (Debian's chromium, driven by playwright's client): a new
user launches an analysis on a local Ray head from the Analyse page, follows it to the end,
finds the new session by search, and plays one of its bouts on the Sessions page.

Screenshots of each step go to ``$MOUSEGPT_SCREENSHOTS`` when it is set (the walkthrough in
the closing notes), else to the test's temporary folder.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# As the probe of this machine kind found: without the background-networking flags Chromium
# keeps trying to reach Google's hosts, which a closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def _browser_or_skip():
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "playwright's Python client is not installed (make install installs it)"
    if reason is None and not Path(CHROMIUM).exists():
        reason = f"no chromium at {CHROMIUM} (make install installs Debian's chromium)"
    if reason is not None:
        if os.environ.get("MOUSEGPT_REQUIRE_REAL_DATA") == "1":  # CI: the browser test must run
            pytest.fail(reason + " and MOUSEGPT_REQUIRE_REAL_DATA=1")
        pytest.skip(reason)
    return sync_playwright


@pytest.fixture
def dashboard(tmp_path, job_server):
    """``mousegpt dashboard`` on a fresh workspace, with a data root of one synthetic video."""
    from mousegpt.synth import synth_dataset

    data = tmp_path / "lab-data"
    synth_dataset(data / "week1", sessions=1, seconds=16, seed=21, conditions=("control",))
    port = free_port()
    env = os.environ | {"MOUSEGPT_JOBS_ADDRESS": job_server}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mousegpt.cli",
            "dashboard",
            "--workspace",
            str(tmp_path / "ws"),
            "--data-root",
            str(data),
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:  # until Streamlit answers its health check (bounded)
            try:
                if requests.get(f"{url}/_stcore/health", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            assert server.poll() is None, "the dashboard exited while starting"
            assert time.monotonic() < deadline, "the dashboard did not answer in 60 s"
            time.sleep(0.3)
        yield url, tmp_path / "ws"
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


def _settled(page) -> None:
    """Wait until the app has finished its run (its running indicator is gone)."""
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=60_000)


def test_launch_follow_and_find_an_analysis_in_the_browser(dashboard, tmp_path):
    sync_playwright = _browser_or_skip()
    url, ws = dashboard
    shots = Path(os.environ.get("MOUSEGPT_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(url)

        # 1. A new workspace: the page offers the Analyse form straight away.
        page.get_by_text("Analyse videos", exact=True).wait_for()
        page.get_by_text("No analysed data in workspace ws yet").wait_for()
        assert str(tmp_path) not in page.content()  # no machine paths in what the browser gets
        page.get_by_role(
            "combobox", name="Videos, folders or pose files under the data root (lab-data/)"
        ).click()
        page.keyboard.type("control_m01.mp4")
        page.keyboard.press("Enter")
        page.keyboard.press("Escape")
        page.get_by_role("textbox", name="Condition").fill("treated")
        page.get_by_role("textbox", name="Animal").fill("e2e-mouse")
        page.screenshot(path=str(shots / "1-analyse-form.png"), full_page=True)
        page.get_by_role("button", name="Analyse").click()

        # 2. Submitted as a Ray Job, followed live until it succeeds.
        page.get_by_text("Submitted mousegpt-analyze-").wait_for()
        page.get_by_text("SUCCEEDED").wait_for(timeout=300_000)
        page.get_by_text("1/1 inputs").wait_for()
        page.get_by_text("SUCCEEDED").scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "2-job-succeeded.png"), full_page=True)

        # 3. Its session is found by search.
        page.reload()
        page.get_by_role("textbox", name="Describe a behaviour").fill("a mouse walking along the wall")
        page.keyboard.press("Enter")
        page.get_by_text("e2e-mouse · treated").first.wait_for()
        _settled(page)
        page.screenshot(path=str(shots / "3-search-hits.png"), full_page=True)

        # 4. Its ethogram, quality report and a bout's clip on the Sessions page.
        page.get_by_role("tab", name="Sessions").click()
        page.get_by_text("Click a bout to play it").wait_for()
        page.get_by_text("swaps fixed").wait_for()
        clip = page.locator("video:visible").first
        clip.wait_for()
        # The browser read the clip's header: a real, playable mp4 of the bout (not an empty frame).
        page.wait_for_function("v => v.readyState >= 1 && v.duration > 0.5", arg=clip.element_handle())
        _settled(page)
        page.screenshot(path=str(shots / "4-session-ethogram.png"), full_page=True)
        browser.close()
    from mousegpt.store import Workspace

    history = Workspace(ws).jobs()
    assert len(history) == 1 and history["sessions_added"].iloc[0] == 1
