"""Hour 8's "What to notice" and "Try this", checked on the page's default configs (fixed seed)."""


from engine.experiment import run_experiment
from engine.models import get_spec
from lessons.recipes import hour08

SCRATCH, RELATED, UNRELATED = hour08.LABELS
_cache: dict = {}


def acc(label: str, **overrides) -> float:
    """Test accuracy of one of the page's runs with the page's knobs set to `overrides` (each run trained once)."""
    key = (label, tuple(sorted(overrides.items())))
    if key not in _cache:
        _cache[key] = run_experiment(hour08.default_configs(**overrides)[label])["test_accuracy"]
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


def test_a_far_domain_reverses_the_related_advantage():
    near = acc(RELATED) - acc(SCRATCH)
    far = acc(RELATED, domain_shift=hour08.FAR) - acc(SCRATCH, domain_shift=hour08.FAR)
    assert hour08.FAR == 0.5 and hour08.NEAR == 0.0
    assert far < 0 < near


def test_try_fine_tuning_at_the_far_dial():
    assert acc(RELATED, domain_shift=0.5, strategy="finetune") > acc(SCRATCH, domain_shift=0.5)


def test_try_reestimating_batch_norm_at_the_far_dial():
    # the scratch run ignores the BN knob (always "train"), so its number is the same as in the notice test
    assert hour08.default_configs(domain_shift=0.5, bn_mode="reestimate")[SCRATCH] == hour08.default_configs(domain_shift=0.5)[SCRATCH]
    assert acc(RELATED, domain_shift=0.5, bn_mode="reestimate") > acc(SCRATCH, domain_shift=0.5)
    assert acc(RELATED, domain_shift=0.5, bn_mode="reestimate") > acc(RELATED, domain_shift=0.5)


def test_try_fine_tuning_the_unrelated_source():
    assert acc(UNRELATED, strategy="finetune") > acc(SCRATCH)


def test_advantage_is_pretrained_minus_scratch():
    fake = {SCRATCH: {"test_accuracy": 0.5}, RELATED: {"test_accuracy": 0.75}, UNRELATED: {"test_accuracy": 0.25}}
    assert hour08.advantage(fake) == {RELATED: 0.25, UNRELATED: -0.25}
    assert hour08.advantage({SCRATCH: {}}) == {}


def test_sample_pictures():
    images, captions = hour08.unrelated_samples(4)
    assert images.shape == (4, 3, 32, 32) and len(captions) == 4
    assert 0.0 <= float(images.min()) and float(images.max()) <= 1.0
