"""Shared fixtures: the project root on sys.path, a throw-away run store, app pages, and the live app server
plus a headless Chromium for the browser tests."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `lessons` is a folder of pages, not an installed package

# Runs that tests start are recorded in a throw-away store, never in the classroom's data/ folder.
if "CLASSROOM_DATA_DIR" not in os.environ:
    _STORE = tempfile.mkdtemp(prefix="classroom-test-")
    os.environ["CLASSROOM_DATA_DIR"] = _STORE
    atexit.register(shutil.rmtree, _STORE, ignore_errors=True)  # removed when the test session ends
# Students see an error's type only (.streamlit/config.toml); a failing test should show the whole message.
os.environ.setdefault("STREAMLIT_CLIENT_SHOW_ERROR_DETAILS", "full")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts"


def page_files() -> list[Path]:
    """Every page the app can show: the router, the views and every lesson it discovers."""
    from lessons._nav import lesson_files

    return [ROOT / "app.py", *sorted((ROOT / "views").glob("[!_]*.py")), *lesson_files()]


@pytest.fixture(scope="session", autouse=True)
def no_run_outlives_the_tests():
    """At the end, stop every run still on the process-wide manager and wait for its thread: a training
    thread still inside torch when the interpreter exits aborts the process."""
    yield
    import engine.serve.manager

    mgr = engine.serve.manager._manager
    if mgr is None:
        return
    runs = [r for owner in {r.owner for r in list(mgr._runs.values())} for r in mgr.runs_of(owner)]
    mgr.shutdown()
    for run in runs:
        run.wait(300)


@pytest.fixture
def throwaway_lesson():
    """A teacher's new lesson: lessons/_template.py copied to lessons/hour99_throwaway.py; removed afterwards."""
    path = ROOT / "lessons" / "hour99_throwaway.py"
    shutil.copy(ROOT / "lessons" / "_template.py", path)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


# ---- browser tests ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def app_server(**env_extra: str):
    """`streamlit run app.py` on a free localhost port with these environment variables; killed at the end
    whatever happens. Yields its URL."""
    port = _free_port()
    env = {**os.environ, "CLASSROOM_MAX_RUNS": "2", **env_extra}
    log = tempfile.TemporaryFile()  # noqa: SIM115  (closed in the finally below, once the server is down)
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.headless", "true",
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                log.seek(0)
                pytest.fail(f"the app server did not come up:\n{log.read().decode(errors='replace')[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


@pytest.fixture(scope="module")
def app_url():
    """The app on a free localhost port, for one test module."""
    with app_server() as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright (which cannot download its own browser here)."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing on CI: install Debian's chromium package.")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); browser tests skipped.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser):
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1400, "height": 2600})
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()


@pytest.fixture
def one_torch_thread():
    """Runs in a test share a few cores with other work: one intra-op thread avoids oversubscription."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def postgres():
    """A throwaway PostgreSQL server for one test module, or the reason there is none (its half is then skipped)."""
    import pg

    try:
        server = pg.start()
    except pg.Unavailable as e:
        yield str(e)
        return
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path, postgres):
    """A run store's address, once SQLite and once a fresh database on the module's real PostgreSQL (that half is
    skipped, with the reason, where no server can be had)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'runs.sqlite3'}"
    if isinstance(postgres, str):
        pytest.skip(f"no PostgreSQL here: {postgres}")
    return postgres.new_database()
