"""Hour 8's "What to notice" and "Try this", checked on the page's default configs (fixed seed)."""

from engine.models.registry import get_spec
from engine.train.experiment import run_experiment
from lessons.recipes import hour08

SCRATCH, RELATED, UNRELATED = hour08.LABELS
_cache: dict = {}


def acc(label: str, **overrides) -> float:
    """Test accuracy of one of the page's runs with the page's knobs set to `overrides` (each run trained once)."""
    overrides = {k: v for k, v in overrides.items() if not (k == "domain_shift" and v == 0.0)}  # 0.0 is the default
    key = (label, tuple(sorted(overrides.items())))
    if key not in _cache:
        cfg = hour08.default_configs(**overrides)[label]
        # Validation is read-only (eval mode, no random draws), so evaluating only at the end trains the same weights.
        _cache[key] = run_experiment(cfg.replace(eval_every=cfg.steps))["test_accuracy"]
    return _cache[key]


def test_the_three_runs_differ_only_in_their_start():
    cfgs = hour08.default_configs(domain_shift=0.5, bn_mode="reestimate")
    assert list(cfgs) == list(hour08.LABELS)
    assert [(c.backbone, c.weights, c.strategy, c.bn_mode) for c in cfgs.values()] == [
        ("glyphnet", "scratch", "finetune", "train"),
        ("glyphnet", "pretrained", "feature", "reestimate"),
        ("glyphnet_unrelated", "pretrained", "feature", "reestimate"),
    ]
    assert {(c.domain_shift, c.shots, c.steps, c.seed, c.dataset) for c in cfgs.values()} == {(0.5, 5, 120, 0, "glyphs")}


def test_the_unrelated_source_is_a_real_pretrained_backbone():
    spec = get_spec("glyphnet_unrelated")
    assert spec.weights == ("pretrained",) and spec.source_classes == 100
    assert "colour fields" in spec.description


def test_related_source_beats_scratch_near_the_source():
    assert acc(RELATED) - acc(SCRATCH) >= 0.05  # "by several points"


def test_unrelated_source_is_negative_transfer():
    assert acc(UNRELATED) < acc(SCRATCH) - 0.10  # "far below scratch"


def test_the_advantage_shrinks_then_reverses_as_the_dial_turns():
    assert (hour08.NEAR, hour08.MID, hour08.FAR) == (0.0, 0.5, 1.0)
    near, mid, far = (acc(RELATED, domain_shift=d) - acc(SCRATCH, domain_shift=d) for d in (0.0, 0.5, 1.0))
    assert near > mid > 0 > far
    assert mid < 0.10  # "shrunk to a few points"


def test_try_fine_tuning_at_the_far_dial():
    assert acc(RELATED, domain_shift=1.0, strategy="finetune") > acc(SCRATCH, domain_shift=1.0)


def test_try_reestimating_batch_norm_at_the_far_dial():
    # the scratch run ignores the BN knob (always "train"), so it is the same run as in the notice test
    assert hour08.default_configs(domain_shift=1.0, bn_mode="reestimate")[SCRATCH] == hour08.default_configs(domain_shift=1.0)[SCRATCH]
    reestimated = acc(RELATED, domain_shift=1.0, bn_mode="reestimate")
    assert acc(RELATED, domain_shift=1.0) < reestimated < acc(SCRATCH, domain_shift=1.0)  # part of the way back


def test_try_fine_tuning_the_unrelated_source():
    assert acc(UNRELATED, strategy="finetune") > acc(SCRATCH)


def test_advantage_is_pretrained_minus_scratch():
    fake = {SCRATCH: {"test_accuracy": 0.5}, RELATED: {"test_accuracy": 0.75}, UNRELATED: {"test_accuracy": 0.25}}
    assert hour08.advantage(fake) == {RELATED: 0.25, UNRELATED: -0.25}
    assert hour08.advantage({SCRATCH: {}}) == {}


def test_sample_pictures():
    images, captions = hour08.unrelated_samples(4)
    assert images.shape == (4, 3, 32, 32) and len(captions) == 4
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
