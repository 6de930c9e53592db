"""The Studio: a student's own pictures (saved, listed, refused, split, forgotten), a run on them from the page,
kept off the class board, and the page in a real browser from upload to a finished run."""

from __future__ import annotations

import io
import os
import time
import uuid

import pytest
import torch
from conftest import ARTIFACTS, ROOT
from PIL import Image

from engine.core.config import ConfigError
from engine.data import studio
from engine.data.tasks import load_task
from engine.models import export
from engine.train.experiment import prepare_task
from lessons.recipes import studio as recipe

TIMEOUT = 60


def png(colour, size=(40, 30), mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, colour).save(buf, format="PNG")
    return buf.getvalue()


def bright(i: int) -> bytes:
    return png((200 + 5 * i, 210, 220))


def dark(i: int) -> bytes:
    return png((10 + 5 * i, 20, 30))


@pytest.fixture
def pics(tmp_path):
    return studio.Pictures(uuid.uuid4().hex, tmp_path)


def filled(pics, per_class=(5, 5)) -> studio.Pictures:
    for cls, n, make in zip(("bright", "dark"), per_class, (bright, dark)):
        pics.add_class(cls)
        added, problems = pics.add_pictures(cls, [(f"{cls}{i}.png", make(i)) for i in range(n)])
        assert (added, problems) == (n, [])
    return pics


# ---- the picture store ----------------------------------------------------------------------------------------


def test_pictures_are_saved_numbered_in_the_students_own_folder(pics, tmp_path):
    assert pics.folder == tmp_path / "studio" / pics.student
    assert pics.classes() == [] and pics.counts() == {}
    assert pics.add_class("  thumbs   up ") == "thumbs up"  # spaces tidied
    pics.add_class("fist")
    big = png((0, 128, 255, 100), size=(1000, 500), mode="RGBA")
    paths = [pics.add_picture("fist", data, name) for name, data in (("a.png", big), ("", png((1, 2, 3))))]
    assert paths == [pics.folder / "fist" / "1.png", pics.folder / "fist" / "2.png"]
    with Image.open(paths[0]) as im:
        assert (im.mode, im.size) == ("RGB", (256, 128))  # kept at most 256 px, transparency over white
        r, g, b = im.getpixel((10, 10))
        assert r > 100 and g > 150 and b == 255
    assert pics.classes() == ["fist", "thumbs up"]  # sorted, as the image-folder dataset numbers them
    assert pics.counts() == {"fist": 2, "thumbs up": 0}
    assert {p.name for p in pics.files()["fist"]} == {"1.png", "2.png"}
    pics.remove_class("thumbs up")
    assert pics.classes() == ["fist"]


def test_a_student_id_must_be_one_not_a_path(tmp_path):
    with pytest.raises(ConfigError) as e:
        studio.Pictures("../../etc", tmp_path)
    assert str(e.value) == "this page needs a student id (32 hex digits) to keep your pictures apart: reload the page."


def test_class_names_are_checked_in_one_sentence_each(pics):
    cases = {
        "": "Give the class a name first, for example thumbs up.",
        "x" * 30: f"The class name {'x' * 24}... is too long: use at most 24 characters.",
        "../up": "The class name '../up' may use only letters, digits, spaces, - and _.",
        ".hidden": "The class name '.hidden' may use only letters, digits, spaces, - and _.",
    }
    for name, message in cases.items():
        with pytest.raises(ConfigError) as e:
            pics.add_class(name)
        assert str(e.value) == message
    for name in ("a", "b", "c", "d", "e"):
        pics.add_class(name)
    with pytest.raises(ConfigError) as e:
        pics.add_class("A")
    assert str(e.value) == "There is already a class called A: give the new one another name."
    with pytest.raises(ConfigError) as e:
        pics.add_class("f")
    assert str(e.value) == "You have 5 classes, the most the Studio takes: remove one to add another."
    assert pics.classes() == ["a", "b", "c", "d", "e"]


def test_what_keeps_the_classes_from_training(pics):
    assert pics.problems() == ["Name at least 2 classes below: a classifier needs two or more to tell apart."]
    pics.add_class("cat")
    pics.add_pictures("cat", [(f"{i}.png", bright(i)) for i in range(3)])
    assert pics.problems() == ["There is only one class (cat): add a second one, a classifier needs at least 2 to tell apart."]
    pics.add_class("dog")
    assert pics.problems() == ["The class dog has no pictures yet: add at least 3 (one each for training, validation and test)."]
    pics.add_picture("dog", dark(0), "d.png")
    assert pics.problems() == [
        "The class dog has 1 picture: add 2 more (each class needs 3: one each for training, validation and test)."]
    pics.add_pictures("dog", [("d1.png", dark(1)), ("d2.png", dark(2))])
    assert pics.problems() == []


def test_bad_pictures_are_refused_with_the_reason(pics, monkeypatch):
    pics.add_class("cat")
    huge = os.urandom(20 * 1024 * 1024)
    named = [("holiday.jpg", huge), ("notes.txt", b"shopping: milk, eggs"), ("", b""), ("ok.png", bright(0)),
             ("broken.png", bright(1)[:60])]
    added, problems = pics.add_pictures("cat", named)
    assert added == 1
    assert problems == [
        "The file holiday.jpg is 20.0 MB, over the 10.0 MB limit for one picture: use a smaller photo or a screenshot of it.",
        "The file notes.txt is not a picture this app can read: add PNG, JPEG, GIF, BMP or WebP pictures.",
        "The camera picture is empty: take the picture again or choose another file.",
        "The file broken.png is not a picture this app can read: add PNG, JPEG, GIF, BMP or WebP pictures.",
    ]
    assert pics.counts() == {"cat": 1}
    with pytest.raises(ConfigError) as e:
        pics.add_picture("dog", bright(0))
    assert str(e.value) == "There is no class called dog: add the class first."
    with pytest.raises(ConfigError) as e:
        pics.add_picture(None, bright(0))
    assert str(e.value) == "Name a class first: every picture goes into a class."
    monkeypatch.setattr(studio, "MAX_PICTURES", 3)
    added, problems = pics.add_pictures("cat", [(f"{i}.png", bright(i)) for i in range(5)])
    assert added == 2
    assert problems == ["The class cat has 3 pictures, the most one class takes: 3 more were not added."]
    assert pics.counts() == {"cat": 3}


def test_thumbnails_follow_the_folder_and_forget_deletes_everything(pics):
    filled(pics, (3, 4))
    cache: dict = {}
    thumbs = pics.thumbnails(cache)
    assert {c: len(t) for c, t in thumbs.items()} == {"bright": 3, "dark": 4}
    assert Image.open(io.BytesIO(thumbs["bright"][0])).size == (96, 96)  # the centre square the model sees
    pics.add_picture("dark", dark(9), "late.png")  # e.g. from another tab: the session's copies catch up
    assert len(pics.thumbnails(cache)["dark"]) == 5
    frozen = pics.freeze()
    assert pics.forget() is True
    assert not pics.folder.exists() and not frozen.exists()
    assert pics.classes() == [] and pics.thumbnails(cache) == {} and cache["thumbs"] == {}
    assert pics.forget() is False


def test_split_sizes_match_the_image_folder_dataset(pics):
    assert [studio.split_sizes(n) for n in (3, 4, 5, 7, 8, 10, 30)] == [
        (1, 1, 1), (2, 1, 1), (3, 1, 1), (5, 1, 1), (4, 2, 2), (6, 2, 2), (18, 6, 6)]
    filled(pics, (3, 8))
    cfg = recipe.configure(recipe.BASE, pics)
    assert (cfg.n_classes, cfg.shots, cfg.batch_size, cfg.extras) == (2, 4, 5, {"board": False})
    assert cfg.dataset == f"folder:{pics.training_folder}"
    assert recipe.split_line(pics.counts()) == "bright: 1 train, 1 validation, 1 test; dark: 4 train, 2 validation, 2 test"
    pics.freeze()
    task = load_task(cfg)
    assert task.classes == ["bright", "dark"]
    for split, k in ((task.train, 0), (task.val, 1), (task.test, 2)):
        assert torch.bincount(split.y, minlength=2).tolist() == [studio.split_sizes(3)[k], studio.split_sizes(8)[k]]
    assert task.warnings == [  # all of every class trains; the smaller class is named
        "asked for 4 labels per class, but fewer training images are left after the validation and test shares in: "
        "bright (1); those classes train on all they have."]
    assert task.source is None  # the data layer renders no glyphs: the forgetting meter depends on the backbone
    assert len(prepare_task(cfg).source) == 200  # the glyph backbone's forgetting meter, added where it trains


def test_an_imagenet_backbone_on_pictures_never_renders_the_glyph_forgetting_meter(pics, monkeypatch):
    from engine.train import experiment

    filled(pics)
    pics.freeze()
    cfg = recipe.configure(recipe.BASE, pics)
    rendered = []
    monkeypatch.setattr(experiment, "forgetting_split", lambda size: rendered.append(size))
    task = prepare_task(cfg.replace(backbone="resnet18", weights="scratch", image_size=64))
    assert task.source is None and rendered == []
    prepare_task(cfg)
    assert rendered == [cfg.image_size]  # glyphnet: rendered, at the run's image size


def test_the_training_set_is_frozen_at_start(pics):
    pics.add_class("bright")
    pics.add_class("dark")
    with pytest.raises(ConfigError) as e:
        pics.freeze()
    assert str(e.value) == "The class bright has no pictures yet: add at least 3 (one each for training, validation and test)."
    filled_before = {"bright": 3, "dark": 3}
    for cls, make in (("bright", bright), ("dark", dark)):
        pics.add_pictures(cls, [(f"{i}.png", make(i)) for i in range(3)])
    train = pics.freeze()
    pics.add_picture("dark", dark(7), "more.png")
    pics.add_class("third")
    assert {c.name: len(list(c.iterdir())) for c in train.iterdir()} == filled_before
    assert pics.classes() == ["bright", "dark", "third"]  # the hidden training set is never taken for a class
    pics.remove_class("third")
    assert {c.name: len(list(c.iterdir())) for c in pics.freeze().iterdir()} == {"bright": 3, "dark": 4}


def test_the_snippet_prepares_a_photo_as_the_page_does(tmp_path, monkeypatch, capsys):
    """The download's ten lines and the page's "try it" give the same answer on the same photo. The program file
    itself is Hour 10's export (tests/test_export.py); here torch.export.load hands the snippet the same model."""
    from engine.models.registry import build_model

    model = build_model("glyphnet", "scratch", 2, seed=3).model.eval()
    loaded = []

    class Program:
        def module(self):
            return model

    monkeypatch.setattr(torch.export, "load", lambda path: loaded.append(path) or Program())
    monkeypatch.chdir(tmp_path)
    photo = png((180, 40, 90), size=(50, 40))
    (tmp_path / "my_picture.jpg").write_bytes(photo)
    norm = ((0.5, 0.4, 0.3), (0.2, 0.25, 0.3))
    for input_norm in (None, norm):
        x = studio.to_input(photo, 32, input_norm, "my_picture.jpg")
        probs = export.probabilities(model, x, ["left", "right"])
        names: dict = {}
        exec(studio.snippet(["left", "right"], 32, input_norm, recipe.EXPORT_FILE), names)
        assert names["x"].shape == (1, 3, 32, 32) and torch.allclose(names["x"], x, atol=1e-6)
        best = max(probs, key=probs.get)
        assert capsys.readouterr().out.strip() == f"{best} {round(probs[best], 3)}"
        assert abs(sum(probs.values()) - 1) < 1e-5
    assert loaded == [recipe.EXPORT_FILE] * 2
    assert "torch.tensor([0.5, 0.4, 0.3])" in studio.snippet(["a", "b"], 32, norm)


def test_studio_runs_stay_off_the_class_board(tmp_path):
    from engine.serve.store import RunStore, arm_of

    s = RunStore(f"sqlite:///{tmp_path / 'runs.sqlite3'}")
    for run_id, extras in (("lesson", {"page": "hour03"}), ("mine", {"page": "studio", "board": False})):
        config = {"weights": "pretrained", "strategy": "finetune", "shots": 3, "extras": extras}
        s.save({"id": run_id, "status": "finished", "message": "", "step": 10, "config": config, "warnings": [],
                "results": {"test_accuracy": 1.0}, "series": {}, "elapsed": 1.0}, "owner1")
    assert arm_of({"extras": {"board": False}}) is None
    assert s.board() == [{"arm": "fine-tune", "shots": 3, "mean": 1.0, "n": 1, "diverged": 0}]
    assert s.board(page="studio") == [] and s.pages() == ["hour03"]
    assert {r["id"] for r in s.runs_of_owner("owner1")} == {"lesson", "mine"}  # the student still has both


# ---- the page ----------------------------------------------------------------------------------------------------


def studio_page(student: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "lessons" / "studio.py"), default_timeout=TIMEOUT)
    at.query_params["student"] = student
    return at.run()


def end_runs(at) -> None:
    """Stop what this test's session started and wait for it."""
    from engine.serve.manager import get_manager

    owner = at.session_state["_owner_id"]
    runs = get_manager().runs_of(owner)
    get_manager().end_session(owner)
    for run in runs:
        assert run.wait(300), f"{run} did not stop"


def test_the_page_says_what_is_missing_before_it_can_start():
    student = uuid.uuid4().hex
    try:
        the_page_says_what_is_missing(student)
    finally:
        studio.Pictures(student).forget()


def the_page_says_what_is_missing(student: str) -> None:
    at = studio_page(student)
    assert not at.exception, [e.message for e in at.exception]
    assert at.title[0].value == "Studio · your own classes"
    assert [w.value for w in at.warning] == ["Name at least 2 classes below: a classifier needs two or more to tell apart."]
    assert at.button(key="studio:start_waiting").disabled
    at.text_input(key="studio:new_class").input("only one")
    at.button[0].click().run()  # the form's Add class
    assert studio.Pictures(student).classes() == ["only one"]
    assert [w.value for w in at.warning] == [
        "There is only one class (only one): add a second one, a classifier needs at least 2 to tell apart.",
        "The class only one has no pictures yet: add at least 3 (one each for training, validation and test)."]
    at.text_input(key="studio:new_class").input("only one")
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["There is already a class called only one: give the new one another name."]


def test_pictures_from_the_camera_train_a_run_with_a_test_accuracy_off_the_board():
    from engine.serve.manager import get_manager

    student = uuid.uuid4().hex
    pics = studio.Pictures(student)
    for cls, make in (("bright", bright), ("dark", dark)):
        pics.add_class(cls)
        # what the page's camera callback does with each shot: ("" = the camera, its bytes)
        assert pics.add_pictures(cls, [("", make(i)) for i in range(5)]) == (5, [])
    at = studio_page(student)
    try:
        assert not at.exception, [e.message for e in at.exception]
        assert at.session_state["studio:thumbs"]["signature"].keys() == {"bright", "dark"}
        split = [m.value for m in at.markdown if m.value.startswith("**How your pictures are split:**")]
        assert split and split[0].endswith("Now: bright: 3 train, 1 validation, 1 test; dark: 3 train, 1 validation, 1 test.")
        assert any(m.value.startswith("**What to expect:** glyphnet's features know strokes, not photos") for m in at.markdown)
        assert not at.warning
        assert "No webcam, or the browser blocks it? Upload pictures instead: they work the same." in [c.value for c in at.caption]
        at.slider(key="studio:steps").set_value(10)
        at.button(key="studio:start").click().run()
        assert not at.exception, [e.message for e in at.exception]
        assert (pics.training_folder / "dark" / "5.png").exists()  # frozen at Start, before the worker reads it
        run_id = at.session_state["panel:studio:experiment"]["runs"]["my classes"]
        assert get_manager().get(run_id, student).wait(120), "the run did not end"  # then the page draws it once
        at.run()
        assert not at.exception, [e.message for e in at.exception]
        assert [m.label for m in at.metric] == ["Test accuracy · my classes"]
        snap = at.session_state["panel:runs"][run_id]["final"]
        assert snap["status"] == "finished" and snap["step"] == 10
        acc = snap["results"]["test_accuracy"]
        assert acc in (0.0, 0.5, 1.0)  # two test pictures
        assert at.metric[0].value == f"{acc:.1%}"
        assert (snap["config"]["dataset"], snap["config"]["shots"]) == (f"folder:{pics.training_folder}", 3)
        assert "source_accuracy" in snap["series"]  # glyphnet has a source head: the forgetting meter is on
        assert [b.label for b in at.get("download_button")] == ["Download the state dict (.pt)",
                                                                "Download the program (.pt2, torch.export)"]
        store, deadline = get_manager().store, time.time() + 30
        while store.get(run_id, student) is None and time.time() < deadline:  # written just after the run ends
            time.sleep(0.2)
        record = store.get(run_id, student)
        assert record["status"] == "finished"  # the student's own record keeps it
        assert record["arm"] is None and "studio" not in store.pages()  # the class board never sees it
        # A class removed after the run: Start waits for a second class; the run, its confusion matrix and its model
        # still read the pictures it trained on (frozen at Start)
        at.button(key="studio:remove:dark").click().run()
        assert not at.exception, [e.message for e in at.exception]
        assert pics.classes() == ["bright"]
        assert [w.value for w in at.warning] == [
            "There is only one class (bright): add a second one, a classifier needs at least 2 to tell apart."]
        assert at.button(key="studio:start_waiting").disabled
        assert "Your last run, as it ended:" in [c.value for c in at.caption]
        assert [m.label for m in at.metric] == ["Test accuracy · my classes"]
        assert len(at.get("download_button")) == 2
        # Forget my pictures: the folder, the session's copies and the runs made from them
        at.button(key="studio:forget").click().run()
        assert not at.exception, [e.message for e in at.exception]
        assert not pics.folder.exists()
        assert "studio:thumbs" not in at.session_state
        assert "panel:studio:experiment" not in at.session_state and "studio:exports" not in at.session_state
        assert [s.value for s in at.success] == [
            "Your pictures are deleted: from the server's folder, from this session, and the models made from them."]
    finally:
        end_runs(at)
        pics.forget()


def test_forget_while_a_run_trains_stops_it_and_drops_its_model_before_the_page_comes_back():
    from engine.serve.manager import get_manager

    student = uuid.uuid4().hex
    pics = filled(studio.Pictures(student))
    at = studio_page(student)
    try:
        at.slider(key="studio:steps").set_value(300)
        at.button(key="studio:start").click().run()
        assert not at.exception, [e.message for e in at.exception]
        run = get_manager().get(at.session_state["panel:studio:experiment"]["runs"]["my classes"], student)
        deadline = time.time() + 120
        while run.snapshot()["step"] < 1 and not run.done and time.time() < deadline:
            time.sleep(0.1)
        assert run.snapshot()["status"] == "running", run.snapshot()["status"]
        at.button(key="studio:forget").click().run()
        assert not at.exception, [e.message for e in at.exception]
        assert run.done and run.snapshot()["status"] == "stopped"  # ended before the page came back
        assert getattr(run.trainer, "model", None) is None and getattr(run.trainer, "task", None) is None
        assert get_manager().live_runs_of(student, recipe.PAGE) == []
        assert not pics.folder.exists()
        assert [s.value for s in at.success] == [
            "Your pictures are deleted: from the server's folder, from this session, and the models made from them."]
        at.run()  # the next rerun does not take the run (or its model) up again
        assert not at.exception, [e.message for e in at.exception]
        assert "panel:studio:experiment" not in at.session_state
        assert not at.metric and not at.get("download_button")
    finally:
        end_runs(at)
        pics.forget()


# ---- in a browser --------------------------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.slow
def test_studio_in_the_browser_from_upload_to_a_finished_run(app_url, page, tmp_path):
    try:
        studio_in_the_browser(app_url, page, tmp_path)
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "studio_failure.png"), full_page=True)
        raise


def studio_in_the_browser(app_url, page, tmp_path):
    """One class is already there (as after a reload); the student adds a second, uploads its pictures and trains."""
    student = uuid.uuid4().hex
    pics = studio.Pictures(student)  # the app server shares this run store folder (conftest)
    pics.add_class("light")
    assert pics.add_pictures("light", [("", bright(i)) for i in range(3)]) == (3, [])
    for i in range(3):
        (tmp_path / f"dark{i}.png").write_bytes(dark(i))
    (tmp_path / "notes.txt").write_text("not a picture")
    page.goto(f"{app_url}/studio?student={student}")
    page.wait_for_selector("text=light · 3 pictures", timeout=60_000)
    page.get_by_label("New class name").fill("dark")
    page.get_by_role("button", name="Add class").click()
    page.wait_for_selector("text=dark · 0 pictures", timeout=30_000)
    settle(page)  # the new class is the one the pictures go to
    files = [str(tmp_path / f"dark{i}.png") for i in range(3)] + [str(tmp_path / "notes.txt")]
    page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(files)
    page.wait_for_selector("text=dark · 3 pictures", timeout=30_000)
    page.wait_for_selector("text=Added 3 pictures to dark.", timeout=10_000)
    page.wait_for_selector("text=The file notes.txt is not a picture this app can read", timeout=10_000)
    assert pics.counts() == {"dark": 3, "light": 3}
    settle(page)
    page.locator(".st-key-studio-start button").first.click()
    page.wait_for_selector("text=Test accuracy · my classes", timeout=120_000)
    assert "my classes · finished at step 60/60" in " ".join(page.locator('[data-testid="stProgress"]').all_inner_texts())
    assert page.locator('[data-testid="stException"]').count() == 0
    settle(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "studio_trained.png"), full_page=True)
    page.get_by_text("Take your model home").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "studio_model.png"))
    page.get_by_role("button", name="Forget my pictures").click()
    page.wait_for_selector("text=Your pictures are deleted", timeout=30_000)
    assert page.locator("text=light · 3 pictures").count() == 0
    assert not pics.folder.exists()


def settle(page, timeout: float = 30) -> None:
    """Wait until the script has stopped running and the faded elements of the last run are gone."""
    deadline = time.time() + timeout
    page.wait_for_timeout(500)
    while time.time() < deadline and page.locator('[data-testid="stStatusWidget"]').count():
        page.wait_for_timeout(250)
    page.wait_for_timeout(500)
