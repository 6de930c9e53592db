"""Export round trips: state dict and torch.export program reload to the same predictions; the snippet runs."""

import contextlib
import io

import pytest
import torch
from PIL import Image

from engine.core.config import ConfigError
from engine.data.tasks import sample_grid
from engine.models import export
from engine.models.registry import build_model

CLASSES = ["glyph A", "glyph B", "glyph C"]


@pytest.fixture(scope="module")
def model():
    m = build_model("glyphnet", "pretrained", n_classes=3, head="mlp", seed=1).model
    with torch.no_grad():  # a head that is not just its init, so a wrong reload would show
        for p in m.head.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=torch.Generator().manual_seed(2)))
    return m.eval()


@pytest.fixture(scope="module")
def images():
    return sample_grid([0.0], per_class=1, n_classes=4)[0.0]  # (4, 3, 32, 32)


def glyph_png(x: torch.Tensor) -> Image.Image:
    """A (3, H, W) glyph as dark ink on white paper, the way a student would draw it."""
    arr = ((1 - x[0]) * 255).round().to(torch.uint8).numpy()
    return Image.fromarray(arr, mode="L")


def test_state_dict_round_trip_gives_the_same_logits(model, images):
    data = export.state_dict_bytes(model, CLASSES, "glyphnet", "mlp", 32)
    again, facts = export.load_state_dict_bytes(data)
    assert facts == {"classes": CLASSES, "backbone": "glyphnet", "head": "mlp", "image_size": 32}
    assert not again.training
    torch.testing.assert_close(again(images), model(images))
    raw = torch.load(io.BytesIO(data), weights_only=True)  # plain tensors and lists: safe to load
    assert sorted(raw) == ["backbone", "classes", "head", "image_size", "state_dict"]


def test_program_round_trip_gives_the_same_logits_for_any_batch(model, images):
    program = export.load_program_bytes(export.program_bytes(model, 32))
    with torch.no_grad():
        torch.testing.assert_close(program(images), model(images), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(program(images[:1]), model(images[:1]), rtol=1e-4, atol=1e-5)


def test_image_to_input_inverts_paper_and_keeps_range(images):
    x = export.image_to_input(glyph_png(images[0]), 32)
    assert x.shape == (1, 3, 32, 32)
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert float(x.mean()) < 0.5  # light strokes on a dark ground, as in training
    torch.testing.assert_close(x[0, 0], images[0, 0], atol=1 / 255 + 1e-6, rtol=0)  # paper flipped back exactly
    big = glyph_png(images[0]).resize((128, 128))
    assert export.image_to_input(big, 32).shape == (1, 3, 32, 32)


def test_predict_image_matches_the_model_and_sums_to_one(model, images):
    probs = export.predict_image(model, glyph_png(images[1]), CLASSES, 32)
    assert list(probs) == CLASSES
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-5)
    with torch.no_grad():
        expected = model(export.image_to_input(glyph_png(images[1]), 32)).softmax(1)[0]
    assert [probs[c] for c in CLASSES] == pytest.approx(expected.tolist(), abs=1e-6)


def test_probabilities_are_the_eval_softmax_and_restore_the_training_mode(model, images):
    """The one prediction path of Hour 10's "try it" and the Studio's: eval mode, softmax, the mode put back."""
    x = export.image_to_input(glyph_png(images[3]), 32)
    model.train()
    try:
        probs = export.probabilities(model, x, CLASSES)
        assert model.training  # put back as it was
    finally:
        model.eval()
    assert probs == export.predict_image(model, glyph_png(images[3]), CLASSES, 32)
    with torch.no_grad():
        assert [probs[c] for c in CLASSES] == pytest.approx(model(x).softmax(1)[0].tolist(), abs=1e-6)


def test_predict_snippet_runs_and_agrees_with_predict_image(model, images, tmp_path, monkeypatch):
    (tmp_path / "glyph_model.pt2").write_bytes(export.program_bytes(model, 32))
    picture = glyph_png(images[2])
    picture.save(tmp_path / "my_glyph.png")
    code = export.predict_snippet(CLASSES, 32)
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "snippet", "exec"), {})  # the snippet is our own generated text
    name, prob = out.getvalue().strip().rsplit(" ", 1)
    probs = export.predict_image(model, Image.open(tmp_path / "my_glyph.png"), CLASSES, 32)
    best = max(probs, key=probs.get)
    assert name == best
    assert float(prob) == pytest.approx(round(probs[best], 3), abs=1e-3)


def test_a_file_that_is_not_an_image_is_one_sentence():
    with pytest.raises(ConfigError, match=r"^that file is not an image this app can read: upload a PNG or JPEG picture\.$"):
        export.open_image(b"not a picture at all")
    buf = io.BytesIO()
    Image.new("RGB", (10, 10), "white").save(buf, format="PNG")
    assert export.open_image(buf.getvalue()).size == (10, 10)
