"""Two app servers, one PostgreSQL: a student starts Hour 1 on the first and is sent to the second, which shows the
same runs live and then stored (engine/serve/replicas.py). Each replica trains in its own worker processes, or
both on one local Ray cluster (a head started here with two CPUs; skipped without the [cluster] extra)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import _free_port, app_server
from test_browser import EXCEPTION, progress_texts, shot, steps_done, wait_for, wait_rendered

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def database_url():
    import pg

    try:
        server = pg.start()
    except pg.Unavailable as e:
        pytest.skip(f"no PostgreSQL here: {e}")
    try:
        yield server.new_database()
    finally:
        server.stop()


@contextlib.contextmanager
def ray_head():
    """A Ray head with two CPUs on loopback, on a free port, in the foreground of a process group of its own (so only
    this head is stopped at the end, never another Ray cluster on the machine); its address."""
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install -e '.[cluster]'")
    ray = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray")
    port = _free_port()
    # A loopback cluster for one test: no token. (Ray 2.60 turns token auth on once ~/.ray/auth_token exists, as any
    # local ray.init leaves it, and a driver given the head's address explicitly then fails to connect.)
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    head = subprocess.Popen([ray, "start", "--head", "--block", "--num-cpus", "2", "--port", str(port),
                             "--node-ip-address", "127.0.0.1", "--include-dashboard", "false", "--disable-usage-stats"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 120
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if head.poll() is not None or time.time() > deadline:
                pytest.fail(f"the Ray head did not start on port {port} (exit {head.poll()})")
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGTERM)  # `ray start --block` stops the processes it started
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
        current = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"  # names this head until removed
        with contextlib.suppress(OSError):
            if current.read_text().strip().endswith(f":{port}"):
                current.unlink()


@pytest.fixture(scope="module", params=["processes", "ray"])
def replicas(request, database_url, tmp_path_factory):
    env = {"CLASSROOM_DATABASE_URL": database_url}
    with contextlib.ExitStack() as stack:
        if request.param == "ray":
            address = stack.enter_context(ray_head())
            env.update(CLASSROOM_EXECUTOR="ray", CLASSROOM_RAY_ADDRESS=address, RAY_AUTH_MODE="disabled")
        first = stack.enter_context(app_server(**env, CLASSROOM_DATA_DIR=str(tmp_path_factory.mktemp("a"))))
        second = stack.enter_context(app_server(**env, CLASSROOM_DATA_DIR=str(tmp_path_factory.mktemp("b"))))
        yield first, second


def test_a_run_started_on_one_replica_is_live_and_then_stored_on_the_other(replicas, browser):
    first, second = replicas
    a = browser.new_context(viewport={"width": 1400, "height": 2600}).new_page()
    b = browser.new_context(viewport={"width": 1400, "height": 2600}).new_page()
    try:
        a.goto(f"{first}/hour01_why_transfer?steps=160")  # a short pair (the page reads its settings from the address)
        wait_rendered(a)
        a.wait_for_selector(".st-key-hour01-start button", timeout=120_000)
        a.locator(".st-key-hour01-start button").first.click()
        wait_for(lambda: steps_done(a) > 0, 240, "the first steps on the first replica", a)
        student = re.search(r"student=([0-9a-f]{32})", a.url).group(1)
        a.context.close()  # the load balancer now sends this student to the second replica

        b.goto(f"{second}/hour01_why_transfer?student={student}")
        wait_rendered(b)
        wait_for(lambda: len(progress_texts(b)) == 2, 60, "the student's two runs on the second replica", b)
        seen = steps_done(b)
        wait_for(lambda: steps_done(b) > seen or all("finished" in t for t in progress_texts(b)), 60,
                 "the runs to move on the second replica", b)
        shot(b, "second_replica_live")
        wait_for(lambda: all("finished" in t for t in progress_texts(b)), 240, "the runs to finish", b)
        wait_for(lambda: b.get_by_text("Test accuracy · pretrained").count() == 1, 60, "the final figures", b)
        assert b.locator(EXCEPTION).count() == 0

        b.goto(f"{second}/runs?student={student}")  # and the stored runs are there too
        wait_rendered(b)
        b.get_by_text("Earlier runs kept on the server (2)").wait_for(timeout=30_000)
        assert b.locator(EXCEPTION).count() == 0
        shot(b, "second_replica_runs")
    finally:
        for p in (a, b):
            if not p.is_closed():
                p.context.close()
