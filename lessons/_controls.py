"""The knob table: every TrainConfig setting a lesson may expose, as one declarative row each.

A page lists knob names; `draw` turns them into widgets (keys prefixed by the page) and returns the
changed fields. Pages never build widgets for training settings themselves.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import streamlit as st

from engine.core.config import BN_MODES, HEADS, OPTIMIZERS, SCHEDULES, ConfigError, TrainConfig

LR_OPTIONS = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0]


@dataclass(frozen=True)
class Knob:
    """One setting: its widget kind, what the student reads, and its choices or range."""

    kind: str  # slider | select_slider | selectbox | toggle | number | lr_range | unfreeze
    label: str
    help: str
    options: tuple = ()  # select_slider / selectbox choices
    lo: float = 0  # slider range
    hi: float = 1
    step: float = 1
    fmt: object = None  # format_func for choices
    extra: dict = field(default_factory=dict)


def _lr_fmt(v: float) -> str:
    return f"{v:g}"


KNOBS: dict[str, Knob] = {
    "unfreeze": Knob(
        "unfreeze", "Trainable body groups (from the top)",
        "How many of the backbone's layer groups learn, counted down from the head. "
        "0 = feature extraction (only the new head learns); all = full fine-tuning.",
    ),
    "freeze": Knob(
        "freeze", "Frozen body groups (from the input)",
        "How many of the backbone's layer groups stay exactly as pretrained, counted up from the input. "
        "0 = everything learns (full fine-tuning).",
    ),
    "strategy": Knob(
        "selectbox", "Strategy", "Feature extraction trains only the new head on top of a fixed backbone; "
        "fine-tuning also lets the backbone's top groups change.",
        options=("feature", "finetune"), fmt={"feature": "feature extraction (head only)", "finetune": "fine-tuning"}.get,
    ),
    "lr": Knob(
        "select_slider", "Learning rate", "How big each step is. Fine-tuning a pretrained network wants small ones "
        "(1e-4 to 1e-3); too large and the loss jumps or blows up.", options=tuple(LR_OPTIONS), fmt=_lr_fmt,
    ),
    "layer_decay": Knob(
        "slider", "Layer-wise LR decay", "Each group below the head learns at the LR of the group above times this factor. "
        "1 = one flat LR everywhere; 0.8 = early layers learn much more slowly.", lo=0.5, hi=1.0, step=0.05,
    ),
    "lr_range": Knob(
        "lr_range", "Discriminative LRs (first group to head)",
        "Give the first group the low LR and the head the high one, spaced evenly on a log scale in between. "
        "When on, this replaces the learning rate and the layer decay.", options=tuple(LR_OPTIONS), fmt=_lr_fmt,
    ),
    "gradual_unfreeze": Knob(
        "slider", "Gradual unfreezing: one more group every N steps",
        "Start with only the head training, then let one more group join every N steps, top down (ULMFiT). 0 = off.",
        lo=0, hi=100, step=5,
    ),
    "optimizer": Knob(
        "selectbox", "Optimizer", "The rule that turns gradients into weight updates: plain SGD, SGD with momentum "
        "or Nesterov, or an adaptive method (Adagrad, RMSprop, Adam, AdamW).", options=OPTIMIZERS,
    ),
    "schedule": Knob(
        "selectbox", "LR schedule", "How the learning rate changes over the run: constant, step (divide by 10 twice), "
        "cosine (smoothly down to 0), warm-up (start tiny, ramp up), one-cycle (up, then down).", options=SCHEDULES,
    ),
    "batch_size": Knob(
        "select_slider", "Batch size", "Images per step. Small batches give noisy gradients; large ones smooth but cost "
        "more per step.", options=(1, 2, 4, 8, 16, 32, 64, 128, 256),
    ),
    "shots": Knob(
        "select_slider", "Labels per class", "How many labelled training images each new class has. "
        "Transfer learning matters most when this is small.", options=(1, 2, 3, 5, 10, 20, 50, 100),
    ),
    "domain_shift": Knob(
        "slider", "Domain shift", "How far the target images look from the source ones: 0 = the same look, "
        "1 = inverted, blurred, tinted, textured and rotated.", lo=0.0, hi=1.0, step=0.05,
    ),
    "bn_mode": Knob(
        "selectbox", "Batch-norm statistics", "train = running mean/variance keep updating on target batches; "
        "frozen = kept from pretraining; reestimate = measured once on the target, then fixed.", options=BN_MODES,
    ),
    "l2sp": Knob(
        "select_slider", "L2-SP strength", "A penalty alpha/2 * ||W - W0||^2 that pulls the backbone back towards its "
        "pretrained weights. 0 = off.", options=(0.0, 0.001, 0.01, 0.1, 1.0, 10.0), fmt=_lr_fmt,
    ),
    "augment": Knob(
        "toggle", "Data augmentation", "Show each training image slightly rotated, shifted, scaled and noisy, "
        "so the network cannot just memorise the few examples.",
    ),
    "dropout": Knob(
        "slider", "Dropout before the head", "Randomly zero this fraction of the features during training, "
        "a regulariser against overfitting.", lo=0.0, hi=0.8, step=0.1,
    ),
    "weight_decay": Knob(
        "select_slider", "Weight decay", "Shrink every weight a little each step (decoupled for AdamW, an L2 penalty "
        "for the others). 0 = off.", options=(0.0, 1e-5, 1e-4, 1e-3, 1e-2, 0.1), fmt=_lr_fmt,
    ),
    "early_stopping": Knob(
        "slider", "Early stopping patience", "Stop when the validation loss has not improved for this many evaluations, "
        "and go back to the best weights. 0 = off.", lo=0, hi=10, step=1,
    ),
    "head": Knob(
        "selectbox", "Head", "The new classifier on top of the backbone: one linear layer, or a small MLP with a "
        "hidden layer of 128.", options=HEADS,
    ),
    "steps": Knob(
        "slider", "Training steps", "How many optimizer steps the run takes. More steps, longer run.",
        lo=10, hi=1000, step=10,
    ),
    "seed": Knob(
        "number", "Random seed", "Same seed, same training images and the same start: the run repeats exactly. "
        "Change it to see how much is luck.", lo=0, hi=10_000, step=1,
    ),
}


@functools.lru_cache(maxsize=16)
def body_groups(backbone: str) -> tuple[str, ...]:
    """The backbone's layer groups under the head, input to output (built once per backbone)."""
    from engine.models.registry import get_spec

    groups, _ = get_spec(backbone).build()
    return tuple(name for name, _ in groups)


def _with(options: tuple, value) -> list:
    """The options, with `value` added in order when it is not one of them."""
    opts = list(options)
    if value not in opts:
        opts = sorted([*opts, value])
    return opts


def draw(page_key: str, base: TrainConfig, names, overrides: dict | None = None, columns: int = 3) -> dict:
    """Draw the knobs `names` (in order) and return {field: value} for TrainConfig.replace."""
    unknown = [n for n in names if n not in KNOBS]
    if unknown:
        raise ConfigError(f"unknown knob {unknown[0]!r}; known knobs: {', '.join(KNOBS)}.")
    overrides = overrides or {}
    cols = st.columns(columns)
    changes: dict = {}
    for i, name in enumerate(names):
        knob = KNOBS[name]
        extra = overrides.get(name, {})
        with cols[i % columns]:
            changes.update(_widget(page_key, name, knob, base, extra, set(names)))
    return changes


def _widget(page_key: str, name: str, knob: Knob, base: TrainConfig, extra: dict, names: set) -> dict:
    key = f"{page_key}:{name}"
    label = extra.get("label", knob.label)
    help_ = extra.get("help", knob.help)
    options = tuple(extra.get("options", knob.options))
    fmt = knob.fmt or str
    if knob.kind in ("unfreeze", "freeze"):
        groups = body_groups(base.backbone)
        n = len(groups)
        k = n if base.unfreeze is None else min(base.unfreeze, n)
        if base.strategy == "feature":
            k = 0
        if knob.kind == "unfreeze":
            k = st.slider(label, 0, n, k, 1, key=key, help=f"{help_} Groups, input to output: {', '.join(groups)}.")
        else:
            k = n - st.slider(label, 0, n, n - k, 1, key=key, help=f"{help_} Groups, input to output: {', '.join(groups)}.")
        out: dict = {"unfreeze": k}
        if "strategy" not in names:
            out["strategy"] = "feature" if k == 0 else "finetune"
        return out
    value = getattr(base, name)
    if knob.kind == "slider":
        lo, hi, step = extra.get("lo", knob.lo), extra.get("hi", knob.hi), extra.get("step", knob.step)
        if isinstance(knob.step, int) and isinstance(value, int):
            v = st.slider(label, int(lo), int(hi), int(min(max(value, lo), hi)), int(step), key=key, help=help_)
        else:
            v = st.slider(label, float(lo), float(hi), float(min(max(value, lo), hi)), float(step), key=key, help=help_)
        return {name: v}
    if knob.kind == "select_slider":
        opts = _with(options, value)
        return {name: st.select_slider(label, opts, value=value, format_func=fmt, key=key, help=help_)}
    if knob.kind == "selectbox":
        opts = list(options)
        return {name: st.selectbox(label, opts, index=opts.index(value), format_func=fmt, key=key, help=help_)}
    if knob.kind == "toggle":
        return {name: st.toggle(label, value=bool(value), key=key, help=help_)}
    if knob.kind == "number":
        return {name: int(st.number_input(label, int(knob.lo), int(knob.hi), int(value), int(knob.step), key=key, help=help_))}
    if knob.kind == "lr_range":
        lo, hi = value if value is not None else (base.lr / 100, base.lr)
        opts = _with(_with(options, lo), hi)
        on = st.toggle(label, value=value is not None, key=f"{key}:on", help=help_)
        pair = st.select_slider("LR range: first group, head", opts, value=(lo, hi), format_func=fmt, key=key,
                                disabled=not on, label_visibility="collapsed")
        return {name: tuple(pair) if on else None}
    raise ConfigError(f"knob {name!r} has an unknown widget kind {knob.kind!r}.")


def describe(name: str, value) -> str:
    """'labels per class 5' for a legend: the knob's label (lower case) and the value."""
    knob = KNOBS.get(name)
    label = knob.label.lower() if knob else name.replace("_", " ")
    if isinstance(value, float):
        value = f"{value:g}"
    elif isinstance(value, (list, tuple)):
        value = "-".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    elif value is None:
        value = "off" if name == "lr_range" else "all"
    return f"{label} {value}"
