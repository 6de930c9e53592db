"""`python -m engine ...`: one JSON object on success; exit 2 and one line on bad input."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def engine(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_train_json_prints_one_object_with_the_final_figures():
    p = engine("train", "--strategy", "feature", "--steps", "4", "--shots", "2", "--seed", "1", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["status"] == "finished" and out["steps"] == 4
    assert out["groups"] == ["stem", "block1", "block2", "block3", "head"]
    assert out["trainable"] == {"stem": False, "block1": False, "block2": False, "block3": False, "head": True}
    assert out["lr"]["stem"] == 0 and out["drift"]["stem"] == 0
    assert out["config"]["shots"] == 2 and out["config"]["strategy"] == "feature"
    for key in ("seconds", "steps_per_second", "train_loss", "val_loss", "test_accuracy", "source_accuracy"):
        assert isinstance(out[key], float), key


@pytest.mark.parametrize(
    "args, line",
    [
        (["train", "--optimizer", "lion"], "error: argument --optimizer: invalid choice: 'lion'"),
        (["train", "--lr", "fast"], "error: argument --lr: 'fast' is not a number"),
        (["train", "--shots", "0"], "error: labels per class must be at least 1 (got 0): every class needs one example to learn from."),
        (["train", "--backbone", "vgg99"], "error: unknown backbone 'vgg99'; known backbones: "),
        (["train", "--domain-shift", "3"], "error: domain shift must be between 0 and 1 (got 3.0)."),
        (["fly"], "error: argument command: invalid choice: 'fly'"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_traceback(args, line):
    p = engine(*args)
    assert p.returncode == 2
    assert p.stdout == ""
    assert p.stderr.count("\n") == 1, p.stderr
    assert p.stderr.startswith(line), p.stderr
    assert "Traceback" not in p.stderr
