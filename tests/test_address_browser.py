"""In Chromium against the real app: a page opened by a shared address shows its settings, and a teacher's pin set in
one browser is where another browser's fresh page starts. Screenshots go to test-artifacts/."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from conftest import ARTIFACTS

from engine.serve.store import RunStore

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TOKEN = "pin-test-token"
EXCEPTION = '[data-testid="stException"]'
VIEWPORT = {"width": 1400, "height": 2600}


@pytest.fixture(scope="module")
def teacher_token():
    """conftest's app_url server reads its settings from the environment and has no teacher token: give it one. Nothing
    here trains, so the server trains on threads and starts no worker processes (less to start on a busy machine)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CLASSROOM_TEACHER_TOKEN", TOKEN)
        mp.setenv("CLASSROOM_EXECUTOR", "threads")
        yield TOKEN


@pytest.fixture(scope="module")
def app(teacher_token, app_url):
    """The app server, started with the teacher token above (requested first, so it is set before the server starts)."""
    return app_url


def server_store() -> RunStore:
    """The server's own run store: conftest points CLASSROOM_DATA_DIR at a throw-away folder for the whole session."""
    return RunStore(f"sqlite:///{Path(os.environ['CLASSROOM_DATA_DIR']) / 'runs.sqlite3'}", teacher_token=TOKEN)


def wait_until(what: str, cond, page, timeout: float = 90) -> None:
    """Poll `cond` until it holds (the app is a live page: there is no "finished loading" to wait for)."""
    deadline = time.time() + timeout
    while True:
        try:
            if cond():
                return
        except Exception:  # the element is not there yet
            pass
        if time.time() > deadline:
            page.screenshot(path=str(ARTIFACTS / "address_failure.png"), full_page=True)
            raise AssertionError(f"timed out waiting for {what}")
        page.wait_for_timeout(250)


def thumb(page, key: str) -> str:
    """What a slider shows above its thumb (the widget with key `key`, e.g. "hour05:batch_size")."""
    return page.locator(f".st-key-{key.replace(':', '-')} [data-testid='stSliderThumbValue']").first.inner_text(
        timeout=1000).strip()


def choice(page, key: str) -> str:
    """The option a selectbox shows (it sits in the box's search field)."""
    return page.locator(f".st-key-{key.replace(':', '-')} input").first.input_value(timeout=1000)


def shot_of(page, name: str, top_key: str, bottom) -> None:
    """A screenshot of the settings block: from the widget `top_key` down to the locator `bottom`."""
    top = page.locator(f".st-key-{top_key.replace(':', '-')}").first.bounding_box()
    low = bottom.bounding_box()
    y0 = max(0, top["y"] - 90)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True,
                    clip={"x": 0, "y": y0, "width": VIEWPORT["width"], "height": low["y"] + low["height"] + 30 - y0})


def test_a_shared_address_opens_the_page_with_its_settings(app, page):
    page.goto(f"{app}/hour05_optimizers?batch=8&sched=cosine")
    wait_until("the batch-size slider", lambda: thumb(page, "hour05:batch_size") == "8", page)
    # the schedule picker sits below the slider: on a loaded machine it can still be drawing when the slider is there
    wait_until("the schedule picker to say cosine", lambda: choice(page, "hour05:schedule") == "cosine", page)
    assert page.locator(EXCEPTION).count() == 0
    assert "batch=8" in page.url and "sched=cosine" in page.url and "student=" in page.url  # the address keeps them

    share = page.locator('[data-testid="stExpander"]', has_text="Share these settings")
    code = share.locator('[data-testid="stCode"]')

    def opened() -> bool:
        # click only while it is shut: a rerun still drawing the page can redraw the expander shut after a click
        # (seen on a cold first start), and a second click on an open one would close it again
        if share.locator("details").get_attribute("open") is None:
            share.locator("summary").click(force=True)
            page.wait_for_timeout(1000)
        return code.is_visible()

    wait_until("the share link to open", opened, page, timeout=30)
    assert code.inner_text().strip() == f"{app}/hour05_optimizers?batch=8&sched=cosine"  # without the student id
    shot_of(page, "share_link", "hour05:batch_size", share)


def test_a_pin_set_in_one_browser_is_where_another_starts(app, page, browser):
    store = server_store()
    try:
        page.goto(f"{app}/hour05_optimizers?batch=4")  # the teacher sets the batch size (here by the address)
        wait_until("the batch-size slider", lambda: thumb(page, "hour05:batch_size") == "4", page)
        teacher = page.locator('[data-testid="stExpander"]', has_text="Teacher")
        teacher.locator("summary").click()
        field = page.locator('input[aria-label="Teacher token"]')
        field.fill(TOKEN)
        field.press("Enter")  # the field sends its value on Enter (or when it loses focus)
        page.wait_for_timeout(1000)
        page.get_by_role("button", name="Pin these settings for the class").click()
        page.get_by_text("Pinned for the class: batch size 4.").wait_for(timeout=30_000)
        assert store.get_preset("hour05") == {"batch": "4"}

        other = browser.new_context(viewport=VIEWPORT).new_page()  # another student: no cookies, a plain address
        try:
            other.goto(f"{app}/hour05_optimizers")
            wait_until("the pinned batch size", lambda: thumb(other, "hour05:batch_size") == "4", other)
            assert other.locator(EXCEPTION).count() == 0
            note = other.get_by_text("Your teacher pinned these starting settings for this page: batch size 4.")
            note.wait_for(timeout=10_000)
            assert "batch=4" in other.url
            shot_of(other, "pinned_settings", "hour05:batch_size", other.locator(".st-key-hour05-reset"))
        finally:
            other.context.close()
    finally:
        store.clear_preset("hour05", TOKEN)  # the session's store is shared with the other tests
        store.close()
