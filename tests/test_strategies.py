"""Freezing, per-group LRs and optimizers over layer groups: exact values."""

import pytest
import torch

from engine.core.config import TrainConfig
from engine.train import strategies
from engine.train.experiment import make_trainer

TINY = dict(steps=6, eval_every=3, log_every=2, shots=2, batch_size=8)


def state_of(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("bn_mode", ["train", "frozen"])
def test_frozen_groups_are_bit_identical_including_bn_buffers(bn_mode):
    t = make_trainer(TrainConfig(strategy="finetune", unfreeze=1, bn_mode=bn_mode, **TINY))
    frozen = [(n, m) for (n, m), on in zip(t.groups, t.flags) if not on]
    assert [n for n, _ in frozen] == ["stem", "block1", "block2"]
    before = {n: state_of(m) for n, m in frozen}
    trained_before = state_of(t.groups[3][1])
    t.fit()
    for n, m in frozen:
        after = state_of(m)
        for k in before[n]:
            assert torch.equal(before[n][k], after[k]), f"{n}.{k} changed while frozen"
    # the unfrozen group did move, and its BN running stats move only in train mode
    after3 = state_of(t.groups[3][1])
    assert not torch.equal(trained_before["0.0.weight"], after3["0.0.weight"])
    bn_moved = not torch.equal(trained_before["0.1.running_mean"], after3["0.1.running_mean"])
    assert bn_moved == (bn_mode == "train")
    assert t.drift()[:3] == [0.0, 0.0, 0.0]


def test_feature_extraction_trains_only_the_head():
    t = make_trainer(TrainConfig(strategy="feature", **TINY))
    assert t.flags == [False, False, False, False, True]
    trainable, total = t.param_counts()
    assert trainable == sum(p.numel() for p in t.groups[-1][1].parameters())
    assert trainable < total


def test_layer_decay_lr_per_group_equals_the_formula():
    cfg = TrainConfig(lr=1e-2, layer_decay=0.5, optimizer="sgd", **TINY)
    t = make_trainer(cfg)
    t.fit()
    # constant schedule: each group's LR read back from the live optimizer
    assert t.current_lrs() == pytest.approx([1e-2 * 0.5**4, 1e-2 * 0.5**3, 1e-2 * 0.5**2, 1e-2 * 0.5, 1e-2])
    assert [pg["name"] for pg in t.optimizer.param_groups] == ["stem", "block1", "block2", "block3", "head"]


def test_frozen_groups_report_lr_zero():
    t = make_trainer(TrainConfig(strategy="finetune", unfreeze=2, lr=1e-3, layer_decay=0.9, **TINY))
    assert t.current_lrs() == pytest.approx([0.0, 0.0, 1e-3 * 0.81, 1e-3 * 0.9, 1e-3])


def test_discriminative_lr_range_is_log_spaced_first_to_head():
    lrs = strategies.base_lrs(TrainConfig(lr_range=(1e-5, 1e-1)), 5)
    assert lrs == pytest.approx([1e-5, 1e-4, 1e-3, 1e-2, 1e-1])


def test_gradual_unfreezing_adds_one_group_every_n_steps_head_first():
    cfg = TrainConfig(gradual_unfreeze=10)
    flags = [strategies.trainable_flags(cfg, 5, s) for s in (0, 9, 10, 25, 39, 40, 100)]
    assert flags == [
        [False, False, False, False, True],
        [False, False, False, False, True],
        [False, False, False, True, True],
        [False, False, True, True, True],
        [False, True, True, True, True],
        [True, True, True, True, True],
        [True, True, True, True, True],
    ]
    capped = TrainConfig(gradual_unfreeze=10, unfreeze=2)
    assert strategies.trainable_flags(capped, 5, 1000) == [False, False, True, True, True]


def test_gradual_unfreezing_in_a_run_records_the_timeline():
    # logged at step s: the flags of the update that produced step s (update index s - 1)
    t = make_trainer(TrainConfig(gradual_unfreeze=2, steps=10, eval_every=5, log_every=1, shots=2, batch_size=8))
    t.fit()
    s = t.log.snapshot()
    steps, stem = s["trainable/stem"]
    assert stem[steps.index(9)] == 1.0 and stem[steps.index(8)] == 0.0
    assert s["trainable/block3"][1][s["trainable/block3"][0].index(2)] == 0.0
    assert s["trainable/block3"][1][s["trainable/block3"][0].index(3)] == 1.0


def test_one_weight_sgd_step_matches_the_hand_computed_value():
    # loss = (w*x - y)^2 with w=2, x=3, y=4: dloss/dw = 2*(6-4)*3 = 12; w' = 2 - 0.1*12 = 0.8
    w = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        w.weight.fill_(2.0)
    opt = strategies.make_optimizer(TrainConfig(optimizer="sgd", lr=0.1), [("head", w)], [0.1])
    loss = (w(torch.tensor([[3.0]])) - 4.0).pow(2).sum()
    loss.backward()
    opt.step()
    assert w.weight.item() == pytest.approx(0.8)


def test_momentum_second_step_matches_hand_computed_value():
    # constant gradient g=1: v1 = 1, w1 = -0.1; v2 = 0.9*1 + 1 = 1.9, w2 = -0.1 - 0.19 = -0.29
    p = torch.nn.Parameter(torch.zeros(1))
    opt = strategies.make_optimizer(TrainConfig(optimizer="momentum"), [("head", torch.nn.ParameterList([p]))], [0.1])
    for _ in range(2):
        opt.zero_grad()
        p.sum().backward()
        opt.step()
    assert p.item() == pytest.approx(-0.29)


def test_reestimated_bn_statistics_equal_the_targets_mean():
    bn = torch.nn.BatchNorm2d(3)
    x = torch.randn(40, 3, 4, 4) * 2 + 5
    strategies.reestimate_bn(torch.nn.Sequential(bn), x, batch=20)  # equal batches: their average is the mean
    assert torch.allclose(bn.running_mean, x.mean(dim=(0, 2, 3)), atol=1e-5)


def test_l2sp_penalty_is_the_squared_distance():
    p = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    anchor = torch.tensor([0.0, 0.0])
    assert strategies.l2sp_penalty([p], [anchor]).item() == pytest.approx(5.0)
