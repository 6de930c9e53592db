"""The real app in a real browser: every page opens without an error; on Hour 1 a run trains live,
survives a trip to another page and stops. Screenshots of each page go to test-artifacts/."""

from __future__ import annotations

import re
import time

import pytest
from conftest import ARTIFACTS, page_files

from lessons.live import LAYER_REFRESH_SECONDS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

EXCEPTION = '[data-testid="stException"]'
PROGRESS = '[data-testid="stProgress"]'


def url_path(path) -> str:
    """The path st.navigation gives each page (app.py: home at /; lessons by file name; views by file name)."""
    if path.name == "home.py":
        return ""
    return path.stem


def wait_rendered(page, timeout: float = 60) -> None:
    """The page's title is on screen and the script has stopped running."""
    page.wait_for_selector("h1", timeout=timeout * 1000)
    deadline = time.time() + timeout
    while time.time() < deadline and page.locator('[data-testid="stStatusWidget"]').count():
        page.wait_for_timeout(250)
    page.wait_for_timeout(1000)


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


PAGES = [p for p in page_files() if p.name != "app.py"]


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.stem)
def test_every_page_opens_without_an_error(app_url, page, path):
    page.goto(f"{app_url}/{url_path(path)}")
    wait_rendered(page)
    assert page.locator(EXCEPTION).count() == 0, page.locator(EXCEPTION).first.inner_text()
    shot(page, path.stem)


def progress_texts(page) -> list[str]:
    return [t.strip() for t in page.locator(PROGRESS).all_inner_texts()]


def steps_done(page) -> int:
    return sum(int(m) for t in progress_texts(page) for m in re.findall(r"step (\d+)/", t))


def wait_for(cond, timeout: float, what: str, page) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        page.wait_for_timeout(500)
    shot(page, "failure")
    raise AssertionError(f"timed out waiting for {what}; progress: {progress_texts(page)}")


def test_hour1_trains_live_survives_navigation_and_stops(app_url, page):
    # 600 steps (the page's settings from its address): the pair is still training when the test presses Stop
    page.goto(f"{app_url}/hour01_why_transfer?steps=600")
    wait_rendered(page)
    page.wait_for_selector(".st-key-hour01-start button", timeout=120_000)
    page.locator(".st-key-hour01-start button").first.click()
    wait_for(lambda: steps_done(page) > 0, 240, "the first steps", page)
    first = steps_done(page)
    wait_for(lambda: steps_done(page) > first, 120, "the step counter to move", page)
    # the bars jump to their new value: Streamlit's 0.5 s easing, at a redraw a second, kept the browser repainting
    fills = page.locator('[data-testid="stProgressBarTrack"] div').evaluate_all(
        "els => els.map(e => getComputedStyle(e).transitionDuration)")
    assert fills and set(fills) == {"0s"}, fills
    # loss, accuracy, drift bars, LR bars: the layer panel redraws every LAYER_REFRESH_SECONDS (6 s), so it can
    # appear a few seconds after the step counter first moves
    wait_for(lambda: page.locator(".js-plotly-plot").count() >= 4, 3 * LAYER_REFRESH_SECONDS + 10, "the layer panel's charts", page)
    shot(page, "hour01_training")

    page.get_by_role("link", name="Your runs").click()
    page.wait_for_selector("h1:has-text('Your runs')")
    page.wait_for_timeout(1500)
    assert page.get_by_text("hour01 · pretrained").count() >= 1
    assert page.locator(EXCEPTION).count() == 0
    shot(page, "runs_during_training")

    page.get_by_role("link", name="Hour 1 · Why transfer?").click()
    page.wait_for_selector("h1:has-text('Why transfer?')")
    wait_for(lambda: len(progress_texts(page)) == 2, 30, "the same two runs after coming back", page)
    assert any("from scratch" in t for t in progress_texts(page))
    back = steps_done(page)
    assert back >= first  # the same runs, still counting: not new ones from zero

    page.locator(".st-key-hour01-stop button").first.click()
    wait_for(lambda: all(re.search(r"stopped|finished", t) for t in progress_texts(page)), 60, "the runs to stop", page)
    page.wait_for_selector(".st-key-hour01-start button:not([disabled])", timeout=30_000)  # the page knows they ended
    assert page.locator(EXCEPTION).count() == 0
    shot(page, "hour01_stopped")

    # A new tab with the same address (a reload, a bookmark, the next lesson): the stopped runs come back
    # from the server's store and can be overlaid.
    student = re.search(r"student=([0-9a-f]{32})", page.url).group(1)
    again = page.context.browser.new_context(viewport={"width": 1400, "height": 2600}).new_page()
    try:
        again.goto(f"{app_url}/runs?student={student}")
        wait_rendered(again)
        again.get_by_text("(earlier)").first.wait_for(timeout=30_000)  # the overlay's pickers
        wait_for(lambda: again.locator(".js-plotly-plot").count() == 2, 30, "the overlay's two charts", again)
        shot(again, "runs_after_reload")
        assert again.get_by_text("Earlier runs kept on the server (2)").count() == 1
        assert again.get_by_text("hour01 · from scratch").count() >= 1  # the pair is overlaid by default
        assert again.get_by_text("hour01 · pretrained").count() >= 1
        assert again.locator(EXCEPTION).count() == 0
    finally:
        again.context.close()


def test_a_page_keeps_updating_while_another_students_tab_trains(app_url, page):
    """Two students on one server (runs in worker processes): each tab's step counter keeps moving."""
    other = page.context.browser.new_context(viewport={"width": 1400, "height": 2600}).new_page()
    try:
        for p in (page, other):
            p.goto(f"{app_url}/hour01_why_transfer")
            wait_rendered(p)
            p.wait_for_selector(".st-key-hour01-start button", timeout=120_000)
        page.locator(".st-key-hour01-start button").first.click()
        wait_for(lambda: steps_done(page) > 0, 240, "the first tab's first steps", page)
        other.locator(".st-key-hour01-start button").first.click()
        wait_for(lambda: steps_done(other) > 0, 240, "the second tab's first steps", other)
        for _ in range(3):  # the first tab still redraws while the second trains
            before = steps_done(page)
            if before >= 400:  # both of its runs are done
                break
            wait_for(lambda b=before: steps_done(page) > b, 60, "the first tab to keep counting", page)
        assert page.get_by_text("worker processes").count() >= 1  # the sidebar names the executor
        assert page.locator(EXCEPTION).count() == 0 and other.locator(EXCEPTION).count() == 0
        shot(other, "hour01_second_student")
        for p in (page, other):  # stop whatever still trains (a pair that has finished has no Stop to press)
            stop = p.locator(".st-key-hour01-stop button:not([disabled])")
            if stop.count():
                stop.first.click()
        for p in (page, other):
            wait_for(lambda p=p: all(re.search(r"stopped|finished", t) for t in progress_texts(p)), 60, "the runs to end", p)
    finally:
        other.context.close()
