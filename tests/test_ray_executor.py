"""The Ray executor on a one-machine Ray cluster: runs as actors stream back like local workers (skipped without Ray)."""

from __future__ import annotations

import time

import pytest

from engine.core.config import TrainConfig
from engine.serve.manager import RunManager

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install -e '.[cluster]'")
pytestmark = pytest.mark.slow

TINY = TrainConfig(weights="pretrained", n_classes=3, shots=2, batch_size=6, steps=6, eval_every=6, log_every=2)


@pytest.fixture(scope="module")
def cluster():
    m = RunManager(max_running=2, per_owner=3, executor="ray", ray_address="local")
    yield m
    m.shutdown()
    ray.shutdown()


def test_a_run_on_the_cluster_gives_the_same_figures_as_a_local_thread(cluster):
    assert cluster.status()["executor"] == "a Ray cluster" and cluster.status()["problem"] == ""
    local = RunManager(max_running=1).submit(TINY.replace(seed=2), "t")
    remote = cluster.submit(TINY.replace(seed=2), "r")
    assert local.wait(60) and remote.wait(120), remote.status
    assert remote.status == "finished", remote.message
    assert remote.results["test_accuracy"] == local.results["test_accuracy"]
    assert remote.snapshot()["step"] == 6 and remote.snapshot()["groups"] == local.snapshot()["groups"]
    assert remote.log.snapshot()["train_loss"][0] == local.log.snapshot()["train_loss"][0]
    assert remote.trainer.model is not None  # the final weights came back (Hour 10's export)


def test_pause_and_stop_reach_the_actor(cluster):
    run = cluster.submit(TINY.replace(steps=100_000, eval_every=100_000), "p")
    deadline = time.time() + 120
    while run.step == 0 and time.time() < deadline:
        time.sleep(0.1)
    assert cluster.pause(run.id, "p")
    deadline = time.time() + 10
    while run.status != "paused" and time.time() < deadline:
        time.sleep(0.05)
    held = run.step
    time.sleep(1.0)
    assert run.status == "paused" and run.step == held
    assert cluster.stop(run.id, "p") and run.wait(15) and run.status == "stopped"


def test_runs_queued_beyond_the_clusters_cpus_all_start_and_finish(cluster):
    """Five runs on two CPUs: each next run takes the actor the last one left (a new actor would wait forever for a
    CPU the idle actors hold)."""
    runs = [cluster.submit(TINY.replace(seed=i), f"q{i}") for i in range(5)]
    deadline, most = time.time() + 240, 0
    while not all(r.done for r in runs) and time.time() < deadline:
        most = max(most, sum(r.status == "running" for r in runs))
        time.sleep(0.05)
    assert [r.status for r in runs] == ["finished"] * 5, [(r.status, r.message) for r in runs]
    assert most <= 2


def test_an_unreachable_cluster_is_one_sentence_within_seconds_and_the_manager_still_serves():
    t0 = time.time()
    m = RunManager(max_running=1, executor="ray", ray_address="ray://127.0.0.1:9")  # nothing listens on port 9
    assert time.time() - t0 < 10
    problem = m.status()["problem"]
    assert problem.startswith("the training cluster at ray://127.0.0.1:9 does not answer: the teacher can check it")
    run = m.submit(TINY, "s")
    assert run.wait(10) and run.status == "failed" and run.message == problem
