"""Hour 8's default configs and helpers. The "What to notice" and "Try this" claims are checked over five seeds by
tests/test_claims.py (lessons/recipes/hour08.py, CLAIMS)."""

from engine.models.registry import get_spec
from lessons.recipes import hour08

SCRATCH, RELATED, UNRELATED = hour08.LABELS


def test_the_three_runs_are_the_same_learner_and_differ_only_in_their_start():
    cfgs = hour08.default_configs()
    assert list(cfgs) == list(hour08.LABELS)
    assert [(c.backbone, c.weights, c.strategy, c.unfreeze, c.bn_mode) for c in cfgs.values()] == [
        ("glyphnet", "scratch", "finetune", None, "train"),
        ("glyphnet", "pretrained", "finetune", None, "train"),
        ("glyphnet_unrelated", "pretrained", "finetune", None, "train"),
    ]
    same = {(c.optimizer, c.lr, c.domain_shift, c.shots, c.steps, c.seed, c.dataset) for c in cfgs.values()}
    assert same == {("adam", 1e-3, 0.0, 5, 120, 0, "glyphs")}


def test_the_knobs_move_the_pretrained_runs_only():
    cfgs = hour08.default_configs(domain_shift=0.5, strategy="feature", bn_mode="reestimate")
    assert [(c.strategy, c.bn_mode, c.domain_shift) for c in cfgs.values()] == [
        ("finetune", "train", 0.5), ("feature", "reestimate", 0.5), ("feature", "reestimate", 0.5)]
    assert hour08.default_configs(domain_shift=1.0, bn_mode="reestimate")[SCRATCH] == hour08.default_configs(domain_shift=1.0)[SCRATCH]


def test_the_claims_read_the_page_runs_at_dial_0_and_1():
    runs = hour08.CLAIMS.runs(2)
    page = hour08.default_configs(seed=2)
    for label in hour08.LABELS:
        assert runs[f"0 | {label}"].replace(eval_every=hour08.BASE.eval_every) == page[label]
    far = hour08.default_configs(seed=2, domain_shift=hour08.FAR)
    assert runs[f"1 | {RELATED}"].replace(eval_every=hour08.BASE.eval_every) == far[RELATED]
    frozen = runs[f"1 | frozen {RELATED}, BN reestimated"]
    assert (frozen.strategy, frozen.bn_mode, frozen.domain_shift) == ("feature", "reestimate", 1.0)
    assert {c.eval_every for c in runs.values()} == {hour08.BASE.steps}  # only final test accuracies are read


def test_the_unrelated_source_is_a_real_pretrained_backbone():
    spec = get_spec("glyphnet_unrelated")
    assert spec.weights == ("pretrained",) and spec.source_classes == 100
    assert "colour fields" in spec.description


def test_advantage_is_pretrained_minus_scratch():
    fake = {SCRATCH: {"test_accuracy": 0.5}, RELATED: {"test_accuracy": 0.75}, UNRELATED: {"test_accuracy": 0.25}}
    assert hour08.advantage(fake) == {RELATED: 0.25, UNRELATED: -0.25}
    assert hour08.advantage({SCRATCH: {}}) == {}


def test_sample_pictures():
    images, captions = hour08.unrelated_samples(4)
    assert images.shape == (4, 3, 32, 32) and len(captions) == 4
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
