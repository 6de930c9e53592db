"""Hour 10's drawing pad: a glyph drawn in the browser is named by the exported model (its top three classes).

Unit tests of the conversion (lessons/drawing_pad.py: drawing_picture, name_drawing) on glyphs drawn with PIL
the way a student draws them; the page's pad path under AppTest (the canvas's value set through session state, as the
browser sends it); and one browser test that runs the grid, draws on the pad with the mouse and reads the
prediction."""

from __future__ import annotations

import base64
import io
import time

import numpy as np
import pytest
import torch
from conftest import ARTIFACTS, ROOT
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from engine.data.glyphs import class_prototype
from engine.data.tasks import target_class_ids
from engine.serve.manager import get_manager
from engine.train.experiment import make_trainer
from lessons import drawing_pad as dp
from lessons.recipes import hour10

PAGE = ROOT / "lessons" / "hour10_strategy_deploy.py"
N_CLASSES = 10  # the grid's target classes: glyph A to glyph J
CELL = "feature extraction | 20 labels"


def stroke_points(class_id: int, pad: int = dp.PAD_SIZE) -> list[list[tuple[float, float]]]:
    """The class's prototype strokes as pad pixels: each quadratic stroke as a polyline, the way a hand traces it."""
    t = np.linspace(0, 1, 12)[:, None]
    strokes = []
    for p0, p1, p2 in class_prototype(class_id).numpy():
        curve = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2  # in [-1, 1], the frame's coordinates
        strokes.append([((x + 1) / 2 * pad, (y + 1) / 2 * pad) for x, y in curve])
    return strokes


def drawn(class_id: int, background=(0, 0, 0, 0), ink=(0, 0, 0, 255)) -> np.ndarray:
    """An (H, W, 4) RGBA pad with the glyph drawn in round-capped strokes of the pad's pen width."""
    img = Image.new("RGBA", (dp.PAD_SIZE, dp.PAD_SIZE), background)
    d = ImageDraw.Draw(img)
    r = dp.PAD_STROKE / 2
    for line in stroke_points(class_id):
        d.line(line, fill=ink, width=dp.PAD_STROKE, joint="curve")
        for x, y in (line[0], line[-1]):
            d.ellipse([x - r, y - r, x + r, y + r], fill=ink)
    return np.asarray(img)


def data_url(rgba: np.ndarray) -> str:
    """A picture as the canvas sends it to the server: a PNG data URL."""
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


@pytest.fixture(scope="module")
def model():
    """The grid's feature-extraction model at 20 labels per class, trained as the page trains it (a few seconds)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trainer = make_trainer(hour10.default_configs()[CELL].replace(eval_every=hour10.BASE.steps))
        trainer.fit()
    finally:
        torch.set_num_threads(before)
    assert trainer.task.classes == [f"glyph {c}" for c in "ABCDEFGHIJ"]
    return trainer.model.cpu().eval(), list(trainer.task.classes)


# ---- the conversion --------------------------------------------------------------------------------


def test_a_drawing_on_a_transparent_pad_becomes_dark_ink_on_white_paper():
    rgba = drawn(target_class_ids(N_CLASSES)[0])
    assert rgba[0, 0, 3] == 0 and rgba[..., :3].max() == 0  # every pixel black, the paper transparent
    picture = dp.drawing_picture(rgba)
    assert picture.mode == "L" and picture.size == (dp.PAD_SIZE, dp.PAD_SIZE)
    grey = np.asarray(picture)
    ink = rgba[..., 3] == 255
    assert grey[ink].max() == 0 and grey[rgba[..., 3] == 0].min() == 255  # strokes black, paper white
    assert 0.03 < ink.mean() < 0.5  # a glyph, not a blot
    opaque = dp.drawing_picture(drawn(target_class_ids(N_CLASSES)[0], background=(255, 255, 255, 255))[..., :3])
    assert np.array_equal(np.asarray(opaque), grey)  # an RGB pad on white paper gives the same picture


@pytest.mark.parametrize("pad", [
    None,
    np.zeros((dp.PAD_SIZE, dp.PAD_SIZE, 4), np.uint8),  # transparent: nothing drawn
    np.full((dp.PAD_SIZE, dp.PAD_SIZE, 4), 255, np.uint8),  # white paper
    np.full((64, 64), 250, np.uint8),  # a grey picture of paper
], ids=["no value yet", "transparent", "white", "grey paper"])
def test_an_empty_pad_is_no_picture_and_the_page_says_one_sentence(pad, model):
    assert dp.drawing_picture(pad) is None
    assert dp.name_drawing(model[0], pad, model[1], 32) is None
    assert dp.EMPTY_PAD.count(". ") == 0 and dp.EMPTY_PAD.endswith(".") and dp.EMPTY_PAD[0].isupper()


def test_a_speck_is_not_a_drawing_but_a_short_stroke_is():
    pad = np.full((dp.PAD_SIZE, dp.PAD_SIZE, 4), 255, np.uint8)
    pad[100:103, 100:103, :3] = 0  # a click: 9 ink pixels
    assert dp.drawing_picture(pad) is None
    pad[100:106, 100:140, :3] = 0  # a short dash
    assert dp.drawing_picture(pad) is not None


def test_an_array_that_is_not_a_picture_is_one_sentence():
    with pytest.raises(ValueError, match=r"^a drawing is an \(height, width, channels\) picture"):
        dp.drawing_picture(np.zeros((2, 3, 4, 5), np.uint8))


# ---- naming the drawing ------------------------------------------------------------------------------


def test_the_model_names_each_drawn_glyph_among_its_top_three(model):
    net, classes = model
    top1 = 0
    for k, class_id in enumerate(target_class_ids(N_CLASSES)):
        picture, top = dp.name_drawing(net, drawn(class_id), classes, 32)
        names, probs = [c for c, _ in top], [p for _, p in top]
        assert len(top) == 3 and len(set(names)) == 3 and set(names) <= set(classes)
        assert classes[k] in names, f"drew {classes[k]}, the model's top three: {top}"
        assert probs == sorted(probs, reverse=True) and all(0 <= p <= 1 for p in probs)
        assert sum(probs) <= 1 + 1e-6
        assert np.asarray(picture).mean() > 128  # what the model was given: dark ink on white paper
        top1 += names[0] == classes[k]
    assert top1 >= N_CLASSES // 2  # most drawings are named outright, not just in the top three


def test_the_pad_and_an_uploaded_file_of_the_same_drawing_get_the_same_answer(model):
    """The drawing goes through export.predict_image, the upload's path: a PNG of the pad predicts the same."""
    from engine.models import export

    net, classes = model
    rgba = drawn(target_class_ids(N_CLASSES)[3], background=(255, 255, 255, 255))
    _, top = dp.name_drawing(net, rgba, classes, 32, k=len(classes))
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, format="PNG")
    upload = export.predict_image(net, export.open_image(buf.getvalue()), classes, 32)
    assert dict(top) == pytest.approx(upload, abs=1e-6)


# ---- the page, under AppTest ------------------------------------------------------------------------


def test_the_page_names_a_drawing_on_its_pad_and_clear_empties_it():
    """The grid trains (few steps), then the pad's value arrives as the browser sends it (a PNG data URL in the
    component's state): the page shows the top three; Clear gives a fresh pad and the empty-pad sentence."""
    # Through the router, as a student gets there: the page itself as AppTest's main script would be re-run by
    # the spawned training processes (multiprocessing's spawn start method re-runs the main script).
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.switch_page(str(PAGE.relative_to(ROOT))).run()
    owner = None
    try:
        at.slider(key="hour10:steps").set_value(40)
        at.select_slider(key="hour10:grid_shots").set_value((20, 20)).run()  # one column: two runs, not four
        at.button(key="hour10:start").click().run()
        owner = at.session_state["_owner_id"]
        deadline = time.time() + 180
        while time.time() < deadline:
            at.run()
            choices = [s for s in at.selectbox if s.key == "hour10:export_choice"]
            if choices and len(choices[0].options) == 2:
                break
            time.sleep(1.0)
        else:
            raise AssertionError(f"the grid did not finish: {[m.value for m in at.markdown][-3:]}")
        at.selectbox(key="hour10:export_choice").select(CELL).run()
        assert not at.exception, [e.message for e in at.exception]
        assert dp.EMPTY_PAD in [i.value for i in at.info]  # nothing drawn yet: one sentence, no prediction

        drawn_class = 2  # glyph C
        # what the canvas sends after a stroke: its fabric.js objects and the picture as a PNG data URL
        picture = data_url(drawn(target_class_ids(N_CLASSES)[drawn_class], (255, 255, 255, 255)))
        at.session_state["hour10:pad:0"] = {"drawing": {"raw": {"objects": [{"type": "path"}], "background": "#ffffff"},
                                                        "data": picture}, "backgroundFit": None}
        at.run()
        assert not at.exception, [e.message for e in at.exception]
        assert dp.EMPTY_PAD not in [i.value for i in at.info]
        said = [m.value for m in at.markdown if m.value.startswith("The model says")]
        assert len(said) == 1 and "The top three" in said[0], said
        lines = [ln for ln in said[0].splitlines() if ln[:2] in ("1.", "2.", "3.")]
        assert len(lines) == 3 and any(f"glyph {'ABCDEFGHIJ'[drawn_class]}:" in ln for ln in lines), said[0]
        shares = [float(ln.rsplit(" ", 1)[1].rstrip("%")) for ln in lines]
        assert shares == sorted(shares, reverse=True) and sum(shares) <= 100.2  # rounded to 0.1 each

        at.button(key="hour10:pad_clear").click().run()
        assert dp.EMPTY_PAD in [i.value for i in at.info]
        assert not [m for m in at.markdown if m.value.startswith("The model says")]
    finally:
        if owner:
            runs = get_manager().runs_of(owner)
            get_manager().end_session(owner)
            for run in runs:
                assert run.wait(300), f"{run} did not stop"


# ---- the page, in a browser -------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.slow
def test_a_student_draws_on_the_pad_and_sees_the_top_three(app_url, page):
    from test_browser import EXCEPTION, progress_texts, shot, wait_for, wait_rendered

    page.goto(f"{app_url}/hour10_strategy_deploy")
    wait_rendered(page)
    page.wait_for_selector(".st-key-hour10-start button", timeout=120_000)
    page.locator(".st-key-hour10-start button").first.click()
    wait_for(lambda: len(progress_texts(page)) == 4 and all("finished" in t for t in progress_texts(page)), 180,
             "the grid's four runs to finish", page)
    page.get_by_text("Or draw a glyph", exact=True).wait_for(timeout=60_000)  # the deployment section
    wait_for(lambda: page.get_by_text(dp.EMPTY_PAD).count() == 1, 30, "the empty pad's sentence", page)
    pad = page.locator(".st-key-hour10-pad-0 canvas.upper-canvas")  # fabric.js takes the pointer on its upper canvas
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    assert box and abs(box["width"] - dp.PAD_SIZE) < 2, box
    for line in stroke_points(target_class_ids(N_CLASSES)[1]):  # glyph B, traced stroke by stroke
        page.mouse.move(box["x"] + line[0][0], box["y"] + line[0][1])
        page.mouse.down()
        for x, y in line[1:]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=3)
        page.mouse.up()
        page.wait_for_timeout(300)
    said = page.get_by_text("The model says")
    wait_for(lambda: said.count() == 1, 60, "the model's answer to the drawing", page)
    wait_for(lambda: page.get_by_text("The top three").count() == 1, 10, "the top three", page)
    answer = said.first.locator("xpath=ancestor::*[@data-testid='stMarkdownContainer'][1]").inner_text()
    assert len([ln for ln in answer.splitlines() if ln.strip().startswith("glyph ")]) == 3, answer
    assert page.locator(EXCEPTION).count() == 0
    page.get_by_text("Or draw a glyph", exact=True).scroll_into_view_if_needed()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "hour10_drawing_pad.png"))  # the pad and its answer, on screen
    shot(page, "hour10_drawing_pad_full")

    page.get_by_role("button", name="Clear the pad").click()
    wait_for(lambda: page.get_by_text(dp.EMPTY_PAD).count() == 1 and said.count() == 0, 30, "a cleared pad", page)
