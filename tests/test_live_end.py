"""When a live view waits for the end instead of redrawing a refresh later (lessons.experiments.ends_within)."""

from lessons.experiments import ends_within


def snap(status="running", step=190, steps=200, rate=20.0):
    series = {"steps_per_second": ([10, 20], [rate / 2, rate])} if rate is not None else {}
    return {"status": status, "step": step, "steps": steps, "series": series}


def test_ends_within_reads_the_latest_speed():
    assert ends_within({"a": snap(step=190, rate=20.0)}, 1.0)  # 10 steps left at 20/s: 0.5 s
    assert not ends_within({"a": snap(step=170, rate=20.0)}, 1.0)  # 30 steps: 1.5 s
    assert ends_within({"a": snap(step=170, rate=20.0)}, 2.0)


def test_every_live_run_must_be_near_its_end():
    near, far = snap(step=199), snap(step=100)
    assert not ends_within({"a": near, "b": far}, 1.0)
    assert ends_within({"a": near, "b": snap(status="finished", step=200)}, 1.0)  # ended runs do not count


def test_no_wait_while_queued_paused_unmeasured_or_ended():
    assert not ends_within({"a": snap(), "b": snap(status="queued", step=0)}, 1.0)
    assert not ends_within({"a": snap(status="paused")}, 1.0)
    assert not ends_within({"a": snap(rate=None)}, 1.0)
    assert not ends_within({"a": snap(rate=0.0)}, 1.0)
    assert not ends_within({"a": snap(status="finished", step=200)}, 1.0)
    assert not ends_within({}, 1.0)
