"""The sidebar "Data and model" section, driven through Streamlit's AppTest."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

from engine.models import imagenet as realmodels
from lessons.data_model import Choice

ROOT = Path(__file__).resolve().parent.parent


def page():
    import streamlit as st

    from engine.core.config import TrainConfig
    from lessons import data_model

    cfg = data_model.sidebar("t", TrainConfig(weights="pretrained"))
    st.session_state["out"] = cfg.to_dict()


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    monkeypatch.setenv("CLASSROOM_DATA", str(tmp_path / "data"))
    return tmp_path / "torch"


def run(choice: Choice | None = None) -> AppTest:
    at = AppTest.from_function(page, default_timeout=60)
    if choice is not None:
        at.session_state["data_model"] = choice
    at.run()
    assert not at.exception
    return at


def photos(root: Path) -> Path:
    for k, c in enumerate(("apples", "pears")):
        for i in range(4):
            (root / c).mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (9 + i, 9), (200 * (1 - k), 200 * k, 40)).save(root / c / f"{i}.png")
    return root


def test_default_is_the_glyph_world(torch_home):
    at = run()
    out = at.session_state["out"]
    assert (out["backbone"], out["dataset"], out["image_size"]) == ("glyphnet", "glyphs", 32)
    assert not at.sidebar.warning


def test_missing_weights_fall_back_with_the_sentence(torch_home):
    at = run(Choice(backbone="resnet18"))
    assert at.session_state["out"]["backbone"] == "glyphnet"
    assert [w.value for w in at.sidebar.warning] == [f"{realmodels.offline_message('resnet18')} Using the glyph backbone instead."]


def test_cached_weights_and_a_folder(torch_home, tmp_path):
    path = realmodels.cache_file("resnet18")
    path.parent.mkdir(parents=True)
    torch.save(realmodels.REAL["resnet18"].make().state_dict(), path)
    folder = photos(tmp_path / "fruit")
    at = run(Choice(backbone="resnet18", dataset="folder", folder=str(folder), image_size=48))
    out = at.session_state["out"]
    assert (out["backbone"], out["weights"], out["dataset"], out["image_size"]) == ("resnet18", "pretrained", f"folder:{folder}", 48)
    assert not at.sidebar.warning
    assert any("fruit (2 classes" in c.value for c in at.sidebar.caption)


def test_missing_folder_falls_back_to_glyphs(torch_home, tmp_path):
    missing = tmp_path / "nowhere"
    at = run(Choice(dataset="folder", folder=str(missing)))
    assert at.session_state["out"]["dataset"] == "glyphs"
    assert [w.value for w in at.sidebar.warning] == [
        (f"the image folder {missing} does not exist: give the path of a folder with one subfolder of images per class. "
        "Using the glyph world instead.")
    ]


def test_widgets_change_the_choice(torch_home):
    at = run()
    at.sidebar.selectbox(key="t:dm:dataset").set_value("fashionmnist").run()
    assert not at.exception
    assert at.session_state["out"]["dataset"] == "glyphs"  # not downloaded: falls back
    assert at.sidebar.warning[0].value.startswith("Fashion-MNIST is not in the data folder")
    assert at.session_state["data_model"].dataset == "fashionmnist"  # the choice is kept for the next pages


def test_hour01_page_still_renders(torch_home):
    page = ROOT / "lessons" / "hour01_why_transfer.py"
    if not page.exists():
        pytest.skip("hour 1 page not written yet")
    at = AppTest.from_file(str(page), default_timeout=60).run()
    assert not at.exception


def test_hour01_uses_the_sidebar_choice(torch_home, tmp_path):
    page = ROOT / "lessons" / "hour01_why_transfer.py"
    if not page.exists():
        pytest.skip("hour 1 page not written yet")
    path = realmodels.cache_file("resnet18")
    path.parent.mkdir(parents=True)
    torch.save(realmodels.REAL["resnet18"].make().state_dict(), path)
    folder = photos(tmp_path / "fruit")
    at = AppTest.from_file(str(page), default_timeout=60)
    at.session_state["data_model"] = Choice(backbone="resnet18", dataset="folder", folder=str(folder))
    at.run()
    assert not at.exception
    assert at.sidebar.selectbox(key="hour01:dm:backbone").value == "resnet18"
    assert not at.sidebar.warning
