"""The knob table: every TrainConfig setting a lesson may expose, as one declarative row each.

A page lists knob names; `draw` turns them into widgets (keys prefixed by the page) and returns the
changed fields. Pages never build widgets for training settings themselves.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import streamlit as st

from engine.core.config import BN_MODES, HEADS, OPTIMIZERS, SCHEDULES, ConfigError, TrainConfig
from lessons import address
from lessons.address import BadValue

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
    param: str = ""  # its short name in the page's address (?lr=0.001); empty = the knob's own name


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
        "1 = one flat LR everywhere; 0.8 = early layers learn much more slowly.", lo=0.5, hi=1.0, step=0.05, param="decay",
    ),
    "lr_range": Knob(
        "lr_range", "Discriminative LRs (first group to head)",
        "Give the first group the low LR and the head the high one, spaced evenly on a log scale in between. "
        "When on, this replaces the learning rate and the layer decay.", options=tuple(LR_OPTIONS), fmt=_lr_fmt,
        param="lrs",
    ),
    "gradual_unfreeze": Knob(
        "slider", "Gradual unfreezing: one more group every N steps",
        "Start with only the head training, then let one more group join every N steps, top down (ULMFiT). 0 = off.",
        lo=0, hi=100, step=5, param="gradual",
    ),
    "optimizer": Knob(
        "selectbox", "Optimizer", "The rule that turns gradients into weight updates: plain SGD, SGD with momentum "
        "or Nesterov, or an adaptive method (Adagrad, RMSprop, Adam, AdamW).", options=OPTIMIZERS, param="opt",
    ),
    "schedule": Knob(
        "selectbox", "LR schedule", "How the learning rate changes over the run: constant, step (divide by 10 twice), "
        "cosine (smoothly down to 0), warm-up (start tiny, ramp up), one-cycle (up, then down).", options=SCHEDULES,
        param="sched",
    ),
    "batch_size": Knob(
        "select_slider", "Batch size", "Images per step. Small batches give noisy gradients; large ones smooth but cost "
        "more per step.", options=(1, 2, 4, 8, 16, 32, 64, 128, 256), param="batch",
    ),
    "shots": Knob(
        "select_slider", "Labels per class", "How many labelled training images each new class has. "
        "Transfer learning matters most when this is small.", options=(1, 2, 3, 5, 10, 20, 50, 100),
    ),
    "domain_shift": Knob(
        "slider", "Domain shift", "How far the target images look from the source ones: 0 = the same look, "
        "1 = inverted, blurred, tinted, textured and rotated.", lo=0.0, hi=1.0, step=0.05, param="shift",
    ),
    "bn_mode": Knob(
        "selectbox", "Batch-norm statistics", "train = running mean/variance keep updating on target batches; "
        "frozen = kept from pretraining; reestimate = measured once on the target, then fixed.", options=BN_MODES,
        param="bn",
    ),
    "l2sp": Knob(
        "select_slider", "L2-SP strength", "A penalty alpha/2 * ||W - W0||^2 that pulls the backbone back towards its "
        "pretrained weights. 0 = off.", options=(0.0, 0.001, 0.01, 0.1, 1.0, 10.0), fmt=_lr_fmt,
    ),
    "augment": Knob(
        "toggle", "Data augmentation", "Show each training image slightly rotated, shifted, scaled and noisy, "
        "so the network cannot just memorise the few examples.", param="aug",
    ),
    "dropout": Knob(
        "slider", "Dropout before the head", "Randomly zero this fraction of the features during training, "
        "a regulariser against overfitting.", lo=0.0, hi=0.8, step=0.1,
    ),
    "weight_decay": Knob(
        "select_slider", "Weight decay", "Shrink every weight a little each step (decoupled for AdamW, an L2 penalty "
        "for the others). 0 = off.", options=(0.0, 1e-5, 1e-4, 1e-3, 1e-2, 0.1), fmt=_lr_fmt, param="wd",
    ),
    "early_stopping": Knob(
        "slider", "Early stopping patience", "Stop when the validation loss has not improved for this many evaluations, "
        "and go back to the best weights. 0 = off.", lo=0, hi=10, step=1, param="patience",
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


PARAMS = {knob.param or name for name, knob in KNOBS.items()}  # every knob's name in a page's address


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


def draw(page_key: str, base: TrainConfig, names, overrides: dict | None = None, columns: int = 3,
         join: bool = False) -> dict:
    """Draw the knobs `names` (in order) and return {field: value} for TrainConfig.replace.

    Their values live in the page's address as well (lessons.address): a page opened with ?lr=0.01 starts with
    that learning rate, changing a knob changes the address, and under the first block of knobs of a page sit
    "Share these settings", "Reset to the lesson's defaults" and the teacher's pin. `join` = these knobs belong
    to the same page as the block drawn before them in this run (a page with a second experiment)."""
    unknown = [n for n in names if n not in KNOBS]
    if unknown:
        raise ConfigError(f"unknown knob {unknown[0]!r}; known knobs: {', '.join(KNOBS)}.")
    overrides = overrides or {}
    settings = [setting(page_key, name, base, overrides.get(name, {}), set(names)) for name in names]
    bar = address.prepare(page_key, settings, PARAMS, join=join)
    cols = st.columns(columns)
    changes: dict = {}
    for i, s in enumerate(settings):
        with cols[i % columns]:
            changes.update(s.widget())
    address.finish(bar, settings)
    return changes


@dataclass(eq=False)
class Setting:
    """One knob as a page draws it: the session-state keys of its widgets, the lesson's default state of each, and
    how its value is written in the page's address. lessons.address keeps the address and these states in step."""

    name: str  # its row in KNOBS
    param: str  # its name in the address (lessons.address prefixes it when a page has the same knob twice)
    keys: tuple[str, ...]  # session-state keys of its widgets, in drawing order
    default: tuple  # the lesson's default state of each widget
    label: str
    parse: object  # address text -> widget states; raises BadValue when this knob cannot take it here
    text: object  # widget states -> address text
    show: object  # widget states -> what the student reads: "0.001", "fine-tuning", "on"
    valid: object  # widget states -> whether this page still offers them
    draw: object  # (states) -> {TrainConfig field: value}: draws the widgets from their session state
    valued: tuple[str, ...] = ()  # keys whose widget takes its state as an argument, not from session state alone
    start: dict = field(default_factory=dict)  # for those keys: the state to open with, until the widget has one

    def states(self) -> tuple:
        return tuple(st.session_state.get(k, self.start.get(k, d)) for k, d in zip(self.keys, self.default, strict=True))

    def widget(self) -> dict:
        return self.draw(self.states())

    def say(self, states: tuple) -> str:
        """'labels per class 3': for notes about pinned settings."""
        return f"{_lower(self.label)} {self.show(states)}"


def _lower(label: str) -> str:
    """The label inside a sentence: 'learning rate', but 'LR schedule'."""
    return label if label[1:2].isupper() else label[:1].lower() + label[1:]


def _text(v) -> str:
    """A value as the address writes it: 0.001, 1e-05, 5, on, finetune."""
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


_MISSING = object()


def _pick(options: list, raw: str):
    """The option `raw` names (numbers compared as numbers: 1e-3 is 0.001), or _MISSING."""
    if all(isinstance(o, (int, float)) and not isinstance(o, bool) for o in options):
        try:
            x = float(raw)
        except ValueError:
            return _MISSING
        if not math.isfinite(x):
            return _MISSING
        return next((o for o in options if math.isclose(o, x, rel_tol=1e-9, abs_tol=1e-12)), _MISSING)
    return next((o for o in options if str(o).lower() == raw.strip().lower()), _MISSING)


def _on_grid(raw: str, lo, hi, step, integer: bool):
    """The slider value `raw` names when it lies in [lo, hi] on the slider's steps, else None."""
    try:
        x = float(raw)
    except ValueError:
        return None
    if not math.isfinite(x) or x < lo - 1e-9 or x > hi + 1e-9:
        return None
    k = (x - lo) / step
    if abs(k - round(k)) > 1e-6:
        return None
    v = lo + round(k) * step
    return round(v) if integer else round(v, 10)


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _grid(name, param, key, label, default, lo, hi, step, integer, draw_) -> Setting:
    """A knob on a numeric scale (slider, number field, layer-group count)."""
    said = _lower(label)
    if integer and step == 1:
        offered = f"{said} can be a whole number from {lo} to {hi} here"
    else:
        offered = f"{said} can be {_text(lo)} to {_text(hi)} in steps of {_text(step)} here"

    def parse(raw: str) -> tuple:
        v = _on_grid(raw, lo, hi, step, integer)
        if v is None:
            raise BadValue(offered)
        return (v,)

    return Setting(name, param, (key,), (default,), label, parse, lambda s: _text(s[0]), lambda s: _text(s[0]),
                   lambda s: _number(s[0]) and lo - 1e-9 <= s[0] <= hi + 1e-9, draw_)


def setting(page_key: str, name: str, base: TrainConfig, extra: dict | None = None, names=()) -> Setting:
    """The knob `name` of page `page_key`, its default taken from `base` and its row changed by `extra`."""
    knob = KNOBS[name]
    extra = extra or {}
    key = f"{page_key}:{name}"
    label = extra.get("label", knob.label)
    help_ = extra.get("help", knob.help)
    options = tuple(extra.get("options", knob.options))
    fmt = knob.fmt or str
    param = knob.param or name
    said = _lower(label)
    if knob.kind in ("unfreeze", "freeze"):
        groups = body_groups(base.backbone)
        n = len(groups)
        k = n if base.unfreeze is None else min(base.unfreeze, n)
        if base.strategy == "feature":
            k = 0
        full_help = f"{help_} Groups, input to output: {', '.join(groups)}."

        def draw_groups(states) -> dict:
            v = st.slider(label, 0, n, value=states[0], step=1, key=key, help=full_help)
            trained = v if knob.kind == "unfreeze" else n - v
            out: dict = {"unfreeze": trained}
            if "strategy" not in names:
                out["strategy"] = "feature" if trained == 0 else "finetune"
            return out

        return _grid(name, param, key, label, k if knob.kind == "unfreeze" else n - k, 0, n, 1, True, draw_groups)
    value = getattr(base, name)
    if knob.kind in ("slider", "number"):
        src = extra if knob.kind == "slider" else {}
        lo, hi, step = src.get("lo", knob.lo), src.get("hi", knob.hi), src.get("step", knob.step)
        integer = knob.kind == "number" or (isinstance(knob.step, int) and isinstance(value, int))
        cast = int if integer else float
        lo, hi, step = cast(lo), cast(hi), cast(step)
        default = cast(min(max(value, lo), hi))

        def draw_scale(states) -> dict:
            if knob.kind == "number":
                return {name: int(st.number_input(label, min_value=lo, max_value=hi, value=states[0], step=step, key=key,
                                                  help=help_))}
            return {name: st.slider(label, lo, hi, value=states[0], step=step, key=key, help=help_)}

        return _grid(name, param, key, label, default, lo, hi, step, integer, draw_scale)
    if knob.kind in ("select_slider", "selectbox"):
        opts = _with(options, value) if knob.kind == "select_slider" else list(options)
        if value not in opts:
            raise ConfigError(f"knob {name!r}: the default {value!r} is not one of its choices ({_listing([_text(o) for o in opts])}).")
        offered = f"{said} can be {_listing([_text(o) for o in opts])} here"

        def parse_choice(raw: str) -> tuple:
            o = _pick(opts, raw)
            if o is _MISSING:
                raise BadValue(offered)
            return (o,)

        def draw_choice(states) -> dict:
            if knob.kind == "select_slider":
                return {name: st.select_slider(label, opts, value=states[0], format_func=fmt, key=key, help=help_)}
            return {name: st.selectbox(label, opts, index=opts.index(states[0]), format_func=fmt, key=key, help=help_)}

        return Setting(name, param, (key,), (value,), label, parse_choice, lambda s: _text(s[0]), lambda s: str(fmt(s[0])),
                       lambda s: s[0] in opts, draw_choice)
    if knob.kind == "toggle":
        words = {"on": True, "true": True, "yes": True, "1": True, "off": False, "false": False, "no": False, "0": False}

        def parse_switch(raw: str) -> tuple:
            if raw.strip().lower() not in words:
                raise BadValue(f"{said} can be on or off here")
            return (words[raw.strip().lower()],)

        return Setting(name, param, (key,), (bool(value),), label, parse_switch, lambda s: _text(bool(s[0])),
                       lambda s: _text(bool(s[0])), lambda s: isinstance(s[0], bool),
                       lambda states: {name: st.toggle(label, value=bool(states[0]), key=key, help=help_)})
    if knob.kind == "lr_range":
        lo, hi = value if value is not None else (base.lr / 100, base.lr)
        opts = _with(_with(options, lo), hi)
        offered = (f"{said} can be off, or two learning rates from {_listing([_text(o) for o in opts])} written "
                   f"first..head (such as {_text(lo)}..{_text(hi)}) here")

        def parse_range(raw: str) -> tuple:
            r = raw.strip().lower()
            if r == "off":
                return (False, (lo, hi))
            a, sep, b = r.partition("..")
            pa, pb = _pick(opts, a), _pick(opts, b)
            if not sep or pa is _MISSING or pb is _MISSING or pa > pb:
                raise BadValue(offered)
            return (True, (pa, pb))

        def text_range(s) -> str:
            return f"{_text(s[1][0])}..{_text(s[1][1])}" if s[0] else "off"

        def show_range(s) -> str:
            return f"{fmt(s[1][0])} to {fmt(s[1][1])}" if s[0] else "off"

        def valid_range(s) -> bool:
            return isinstance(s[0], bool) and len(s[1]) == 2 and all(v in opts for v in s[1])

        def draw_range(states) -> dict:
            on = st.toggle(label, value=bool(states[0]), key=f"{key}:on", help=help_)
            # a range slider needs its value as an argument (without one it is a single slider)
            pair = st.select_slider("LR range: first group, head", opts, value=tuple(states[1]), format_func=fmt, key=key,
                                    disabled=not on, label_visibility="collapsed")
            return {name: tuple(pair) if on else None}

        return Setting(name, param, (f"{key}:on", key), (value is not None, (lo, hi)), label, parse_range, text_range,
                       show_range, valid_range, draw_range, valued=(key,))
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
