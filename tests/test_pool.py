"""The process executor: runs train in worker processes under the same promises the thread manager keeps."""

from __future__ import annotations

import os
import signal
import time

import pytest

from engine.core.config import TrainConfig
from engine.serve.manager import RunManager
from engine.serve.pool import DIED
from engine.tools.loadtest import rss_mb

pytestmark = pytest.mark.slow

TINY = TrainConfig(weights="pretrained", n_classes=3, shots=2, batch_size=6, steps=6, eval_every=6, log_every=2)
LONG = TINY.replace(steps=100_000, eval_every=100_000)  # trains until stopped


@pytest.fixture(scope="module")
def room():
    """One pool of two workers for the whole file (spawning a worker imports torch: seconds)."""
    m = RunManager(max_running=2, per_owner=3, executor="processes")
    warm = [m.submit(TINY, f"warm{i}") for i in range(2)]
    assert all(r.wait(120) for r in warm)
    yield m
    m.shutdown()


def wait_until(cond, timeout: float = 60.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return False


def test_a_run_in_a_worker_gives_the_same_figures_as_on_a_thread(room):
    threads = RunManager(max_running=1)
    a = threads.submit(TINY.replace(seed=4), "t")
    b = room.submit(TINY.replace(seed=4), "p")
    assert a.wait(60) and b.wait(60)
    assert (a.status, b.status) == ("finished", "finished")
    assert a.results["test_accuracy"] == b.results["test_accuracy"]
    # the same losses, up to float rounding (this process and a worker may use different thread counts)
    (sa_steps, sa_loss), (sb_steps, sb_loss) = a.log.snapshot()["train_loss"], b.log.snapshot()["train_loss"]
    assert sa_steps == sb_steps and sb_loss == pytest.approx(sa_loss, rel=1e-4)
    assert b.snapshot()["step"] == 6 and b.snapshot()["groups"] == a.snapshot()["groups"]
    # the final model came back as a state dict: the same weights, and the task it trained on
    sa, sb = a.trainer.model.state_dict(), b.trainer.model.state_dict()
    assert all((sa[k].float() - sb[k].float()).abs().max() < 1e-3 for k in sa)
    assert b.trainer.task.classes == a.trainer.task.classes


def test_cap_fifo_queue_owner_checks_pause_and_stop_within_a_step(room):
    runs = [room.submit(LONG.replace(seed=i), f"s{i}") for i in range(4)]
    assert wait_until(lambda: runs[0].step > 0 and runs[1].step > 0)
    assert [room.queue_position(r) for r in runs] == [None, None, 1, 2]
    assert room.running_count() == 2 and [r.status for r in runs[2:]] == ["queued", "queued"]
    # owner checks: another student can neither see nor stop nor pause it
    assert room.get(runs[0].id, "s1") is None and not room.stop(runs[0].id, "s1") and not room.pause(runs[0].id, "s1")
    # pause: the step count stops moving; resume: it moves again
    assert room.pause(runs[0].id, "s0")
    assert wait_until(lambda: runs[0].status == "paused", 10)
    held = runs[0].step
    time.sleep(0.5)
    assert runs[0].step == held and runs[0].status == "paused"
    assert room.resume(runs[0].id, "s0") and wait_until(lambda: runs[0].step > held, 10)
    # stop within a step; the first in the queue takes the free worker, not the second
    seen_max = [0]

    def running_now() -> int:
        n = sum(r.status in ("running", "paused") for r in runs)
        seen_max[0] = max(seen_max[0], n)
        return n

    assert room.stop(runs[0].id, "s0") and runs[0].wait(5) and runs[0].status == "stopped"
    assert wait_until(lambda: running_now() <= 2 and runs[2].step > 0, 30)
    assert runs[3].status == "queued" and room.queue_position(runs[3]) == 1
    for r in runs[1:]:
        room.stop(r.id, r.owner)
        running_now()
    assert all(r.wait(10) for r in runs) and seen_max[0] <= 2


def test_a_killed_worker_fails_its_one_run_and_the_pool_goes_on(room):
    victim = room.submit(LONG, "k")
    bystander = room.submit(TINY.replace(steps=200, eval_every=200), "b")
    assert wait_until(lambda: victim.step > 0)
    worker = next(w for w in room.executor.workers if w.run is victim)
    os.kill(worker.proc.pid, signal.SIGKILL)
    assert victim.wait(15) and victim.status == "failed" and victim.message == DIED
    assert bystander.wait(120) and bystander.status == "finished"
    after = room.submit(TINY, "k")  # the replaced worker takes new runs
    assert after.wait(120) and after.status == "finished", after.message


def test_the_reaper_stops_a_gone_sessions_runs_in_their_workers(room):
    run = room.submit(LONG, "gone")
    assert wait_until(lambda: run.step > 0)
    room.is_alive = lambda owner: owner != "gone"
    try:
        assert room.reap_once() == ["gone"]
    finally:
        room.is_alive = None
    assert run.done and run.status == "stopped" and room.runs_of("gone") == []


def test_the_server_process_holds_no_training_memory_after_a_round(room):
    before = rss_mb()
    runs = [room.submit(TINY.replace(steps=40, seed=i), f"m{i % 3}") for i in range(6)]
    assert all(r.wait(120) for r in runs) and {r.status for r in runs} == {"finished"}
    for owner in ("m0", "m1", "m2"):
        room.end_session(owner)
    assert rss_mb() - before < 40, (before, rss_mb())  # the training memory was the workers'


def test_a_bad_config_in_a_worker_fails_in_one_sentence(room):
    run = room.submit(TINY.replace(dataset="folder:/nonexistent/photos"), "bad")
    assert run.wait(60) and run.status == "failed"
    assert run.message.endswith(".") and "Traceback" not in run.message and "/nonexistent/photos" in run.message
