"""Hour 1's default experiment: the same network on the same few-shot target, from scratch and pretrained."""

from __future__ import annotations

from engine.core.config import TrainConfig
from lessons.recipes import _claims

# Both runs fine-tune every layer with the same optimizer, LR, data and seed: only the start differs.
BASE = TrainConfig(backbone="glyphnet", strategy="finetune", shots=5, steps=200, seed=0)
KNOBS = ["shots", "steps"]


def configs(base: TrainConfig = BASE) -> dict[str, TrainConfig]:
    """{label: config}: the two runs the page starts together."""
    return {
        "from scratch": base.replace(weights="scratch"),
        "pretrained": base.replace(weights="pretrained"),
    }


# "What to notice" on the page; CLAIMS below checks each claim over seeds 0-4 at 200 steps (tests/test_claims.py,
# `python scripts/claims.py hour01`). Measured on a 2-core CPU, seeds 0-4: the pretrained run ends 11 to 23 points
# above from scratch at 5 labels; at step 50 from scratch's validation loss is 1.26-1.75 and the pretrained one's
# at least 0.08 under both 0.5 and half of that; at 20 labels the gap is positive and at least 2 points smaller.
NOTICE = [
    f"The pretrained run's loss falls much sooner: at the first check (step {BASE.eval_every}) its validation loss "
    "is already below 0.5, under half of the from-scratch run's, which is still above 1.",
    "The pretrained run ends with the clearly higher test accuracy: more than 8 points above from scratch.",
    "The gap is widest with the fewest labels: set labels per class to 20 and both runs improve, "
    "the pretrained one still leads, but by less than at 5.",
]


def _gap(o) -> float:
    return o["pretrained"].results["test_accuracy"] - o["from scratch"].results["test_accuracy"]


def _claim_runs(seed: int) -> dict[str, TrainConfig]:
    """The page's pair at the default 5 labels and at 20 (Try this), for one student's draw."""
    five = configs(BASE.replace(seed=seed))
    twenty = configs(BASE.replace(seed=seed, shots=20))
    return {**five, **{f"{k} @20": c for k, c in twenty.items()}}


CLAIMS = _claims.PageClaims(
    page="hour01",
    runs=_claim_runs,
    claims=(
        _claims.Claim("step-50 val loss: pretrained < 0.5 and < half of scratch",
                      lambda o: min(0.5 - o["pretrained"].at("val_loss", BASE.eval_every),
                                    0.5 * o["from scratch"].at("val_loss", BASE.eval_every) - o["pretrained"].at("val_loss", BASE.eval_every)),
                      "loss"),
        _claims.Claim("step-50 val loss: scratch still above 1",
                      lambda o: o["from scratch"].at("val_loss", BASE.eval_every) - 1.0, "loss"),
        _claims.Claim("pretrained ends > 8 points above scratch", lambda o: _gap(o) - 0.08),
        _claims.Claim("at 20 labels the gap is smaller but still > 0",
                      lambda o: min(_gap(o) - (o["pretrained @20"].results["test_accuracy"] - o["from scratch @20"].results["test_accuracy"]),
                                    o["pretrained @20"].results["test_accuracy"] - o["from scratch @20"].results["test_accuracy"])),
    ),
)
