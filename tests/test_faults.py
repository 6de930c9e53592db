"""Bad input and faults: each ends its own run with one sentence; the server and other students' runs go on."""

from __future__ import annotations

import re
import shutil
import sqlite3
from pathlib import Path

import pytest

from engine.core.config import ConfigError, TrainConfig
from engine.models import glyphnet as models
from engine.serve.manager import START_FAILED, RunManager
from engine.serve.run import Run
from engine.serve.store import SAVE_FAILED, RunStore
from engine.train.trainer import Callback

ROOT = Path(__file__).resolve().parents[1]
TINY = TrainConfig(weights="scratch", n_classes=3, shots=2, batch_size=6, steps=3, eval_every=3, log_every=1)
BYSTANDER = TINY.replace(seed=11)


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # from conftest


@pytest.fixture
def room(tmp_path):
    """A manager with two slots and a store, as on a classroom server."""
    store = RunStore(f"sqlite:///{tmp_path / 'runs.sqlite3'}")
    m = RunManager(max_running=2, per_owner=3, store=store)
    yield m
    m.shutdown()
    store.close()


def alongside(room, config, callbacks=None):
    """Submit the faulty run and a healthy run of another student; wait for both."""
    bad = room.submit(config, "faulty", extra_callbacks=callbacks)
    good = room.submit(BYSTANDER, "bystander")
    assert bad.wait(60) and good.wait(60)
    assert good.status == "finished" and good.message == "" and good.results["steps"] == 3
    assert good.results["test_accuracy"] is not None and good.snapshot()["warnings"] == []
    assert room.running_count() == 0  # every slot is free again
    return bad


def one_sentence(text: str) -> bool:
    return text.count("\n") == 0 and "Traceback" not in text and text.endswith(".")


class At(Callback):
    """Does `action(trainer)` on `event` at one step."""

    order = 0

    def __init__(self, event, step, action):
        self.event, self.step, self.action = event, step, action

    def __getattr__(self, name):
        if name == self.__dict__.get("event"):
            return lambda t: self.action(t) if t.step == self.step else None
        return super().__getattr__(name)


def test_a_non_finite_loss_ends_the_run_as_diverged(room):
    def poison(t):
        t.loss = t.loss * float("nan")

    bad = alongside(room, TINY, [At("after_loss", 1, poison)])
    assert bad.status == "diverged"
    assert bad.message == "the loss became not a number (NaN) at step 2 with LR 0.001: try a smaller learning rate."
    [cell] = room.store.board()  # the bystander finished, the faulty run counts as diverged
    assert (cell["arm"], cell["shots"], cell["n"], cell["diverged"]) == ("from scratch", 2, 1, 1)


def test_a_learning_rate_of_a_million_is_caught(room):
    bad = alongside(room, TINY.replace(lr=1e6))
    assert bad.status == "diverged"
    pattern = r"the loss exploded to \d\.\d\de\+\d\d at step 2 with LR 1e\+06: try a smaller learning rate\."
    assert re.fullmatch(pattern, bad.message)
    assert one_sentence(bad.message)


def test_a_batch_larger_than_the_data_uses_all_of_it_and_says_so(room):
    run = alongside(room, TINY.replace(batch_size=64))
    assert run.status == "finished"
    assert run.snapshot()["warnings"] == ["batch size 64 is larger than the 6 training images: each step uses all 6."]


def test_zero_labels_per_class_is_refused_before_anything_starts(room):
    msg = "labels per class must be at least 1 (got 0): every class needs one example to learn from."
    with pytest.raises(ConfigError, match=f"^{re.escape(msg)}$"):
        room.submit(TINY.replace(shots=0), "faulty")
    assert room.runs_of("faulty") == [] and room.queued_count() == 0
    direct = Run(TINY.replace(shots=0), owner="faulty").start()  # a page that skipped the manager
    assert direct.wait(30) and direct.status == "failed" and direct.message == msg


def test_a_corrupt_shipped_checkpoint_names_the_file_and_the_rebuild_command(room, tmp_path, monkeypatch):
    copy = tmp_path / "glyphnet.pt"
    shutil.copy(models.GLYPHNET_FILE, copy)
    shutil.copy(models.GLYPHNET_SHA256_FILE, tmp_path / "glyphnet.sha256")
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte
    copy.write_bytes(bytes(data))
    monkeypatch.setattr(models, "GLYPHNET_FILE", copy)
    monkeypatch.setattr(models, "GLYPHNET_SHA256_FILE", tmp_path / "glyphnet.sha256")
    bad = alongside(room, TINY.replace(weights="pretrained"))
    assert bad.status == "failed"
    assert bad.message == (
        "assets/glyphnet.pt does not match its checksum (the file is corrupt or changed): "
        "rebuild it with `python -m engine pretrain`."
    )
    assert room.store.count() == 1  # only the bystander: a failed run is not recorded


def test_a_full_disk_when_saving_is_one_warning_and_the_server_goes_on(room, monkeypatch):
    real_tx = RunStore._tx

    def full(self):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(RunStore, "_tx", full)
    run = room.submit(TINY, "faulty")
    assert run.wait(60) and run.status == "finished"
    assert run.snapshot()["warnings"] == [SAVE_FAILED]
    assert run.results["test_accuracy"] is not None  # the student still sees the results
    assert room.store.count() == 0

    monkeypatch.setattr(RunStore, "_tx", real_tx)  # space again: the next run is kept
    later = room.submit(TINY.replace(seed=1), "faulty")
    assert later.wait(60) and later.snapshot()["warnings"] == []
    assert [r["id"] for r in room.store.runs_of_owner("faulty")] == [later.id]


def test_a_run_thread_that_raises_fails_alone(room):
    def boom(t):
        raise RuntimeError("boom")

    bad = alongside(room, TINY, [At("after_step", 2, boom)])
    assert bad.status == "failed" and bad.message == "training failed (RuntimeError: boom)."
    after = room.submit(TINY, "faulty")  # the server keeps serving the same student
    assert after.wait(60) and after.status == "finished"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_thread_that_dies_outright_frees_its_slot(room):
    def die(t):
        raise SystemExit  # escapes the run's own error handling

    bad = room.submit(TINY, "faulty", extra_callbacks=[At("after_step", 1, die)])
    bad._thread.join(60)
    assert not bad.done and room.running_count() == 1
    room.reap_once()
    assert bad.done and bad.status == "failed"
    assert bad.message == "the training thread ended unexpectedly: start the run again."
    assert room.running_count() == 0


def test_no_thread_to_start_is_one_sentence(room, monkeypatch):
    def no_thread(self):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(Run, "start", no_thread)
    run = room.submit(TINY, "faulty")
    assert run.done and run.status == "failed" and run.message == START_FAILED
    assert room.running_count() == 0 and room.queued_count() == 0


def test_checkpoints_are_only_loaded_as_weights():
    """torch.load without weights_only=True could run code hidden in a pickled file."""
    calls = []
    for path in [*ROOT.glob("engine/**/*.py"), *ROOT.glob("lessons/**/*.py"), *ROOT.glob("views/*.py"), *ROOT.glob("*.py")]:
        for line in path.read_text().splitlines():
            if "torch.load(" in line and not line.lstrip().startswith(("#", '"""')) and '"""' not in line:
                calls.append((path.name, line.strip()))
    assert calls, "expected at least the glyph checkpoint loader"
    assert [c for c in calls if "weights_only=True" not in c[1]] == []
