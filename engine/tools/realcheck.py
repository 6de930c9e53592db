"""`python -m engine realcheck`: does a glyph backbone's transfer reach real handwriting?

Four arms on scikit-learn's handwritten digits (dataset "digits"), at 5 labels per class for 200 steps, once per
seed, each with its own good recipe and the command line's defaults otherwise (Adam, head LR 1e-3, batch 32):
scratch (a new network, every group trained at one LR), frozen features (the checkpoint's backbone fixed, a new
head trained), fine-tuning with the course's recipe (engine.train.strategies.COURSE_FINE_TUNE: layer-wise LR decay
0.7, gradual unfreezing from the top every 10 steps) and flat fine-tuning (every group at one LR from step 0, the
recipe Hours 3 and 4 warn against, for comparison). It prints each arm's test accuracy per seed and the means,
and the gaps that say whether the glyph features help on real data: fine-tune minus scratch, frozen minus scratch
(and flat fine-tune minus scratch). The thread count is fixed (1 by default) so the figures repeat on any CPU.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import torch
from torch import nn

from engine.core.config import ConfigError, TrainConfig
from engine.models.checkpoints import file_sha256, load_verified
from engine.models.glyphnet import GLYPHNET_FILE, GLYPHNET_SHA256_FILE, REBUILD, glyphnet_groups
from engine.models.registry import TransferNet, build_model, init_weights, make_head
from engine.train.callbacks import default_callbacks
from engine.train.experiment import prepare_task
from engine.train.strategies import COURSE_FINE_TUNE
from engine.train.trainer import Trainer

DATASET = "digits"
# arm -> the settings it changes from TrainConfig's defaults
ARMS = {
    "scratch": {"weights": "scratch", "strategy": "finetune"},
    "frozen": {"weights": "pretrained", "strategy": "feature"},
    "finetune": {"weights": "pretrained", **COURSE_FINE_TUNE},
    "flat": {"weights": "pretrained", "strategy": "finetune"},
}
# gap name -> (arm, label in the report); each is the arm's accuracy minus scratch's
GAPS = {"finetune_minus_scratch": ("finetune", "fine-tune - scratch:     "),
        "frozen_minus_scratch": ("frozen", "frozen - scratch:        "),
        "flat_minus_scratch": ("flat", "flat fine-tune - scratch:")}


def load_checkpoint(path: Path | None) -> dict[str, torch.Tensor]:
    """A glyphnet state dict with its source head: the shipped one (checksum checked) when `path` is None; else
    the file at `path`, checked against the .sha256 file beside it when there is one (pretrain writes one)."""
    if path is None:
        return load_verified(GLYPHNET_FILE, GLYPHNET_SHA256_FILE, "the pretrained glyph backbone", REBUILD)
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"the checkpoint {path} does not exist: give a glyphnet state dict (python -m engine pretrain --out PATH writes one).")
    sha = path.with_suffix(".sha256")
    if sha.exists() and file_sha256(path) != sha.read_text().split()[0]:
        raise ConfigError(f"the checkpoint {path} does not match its checksum file {sha.name}: the file is corrupt or changed.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # not a torch file, or not weights only
        raise ConfigError(f"the checkpoint {path} is not a state dict torch can load weights-only ({type(e).__name__}).") from None
    if not isinstance(state, dict) or "head.weight" not in state:
        raise ConfigError(f"the checkpoint {path} is not a glyphnet state dict with its source head (no head.weight).")
    return state


def pretrained_model(state: dict[str, torch.Tensor], config: TrainConfig, n_classes: int) -> tuple[TransferNet, nn.Module]:
    """glyphnet with `state`'s weights and a new head for `n_classes`, initialised from config.seed as
    engine.models.registry.build_model does for the shipped weights; returns (model, source head)."""
    g = torch.Generator().manual_seed(config.seed)
    groups, dim = glyphnet_groups()
    model = TransferNet(groups, dim, nn.Identity())
    source_head = nn.Linear(dim, state["head.weight"].shape[0])
    model.head = source_head
    try:
        model.load_state_dict(state)
    except RuntimeError:
        raise ConfigError("the checkpoint is not a glyphnet state dict: its layers do not match glyphnet's.") from None
    model.head = make_head(dim, n_classes, config.head, config.dropout)
    init_weights(model.head, g)
    return model, source_head


def run_arm(arm: str, state: dict[str, torch.Tensor], seed: int, shots: int, steps: int, device: str = "auto") -> dict:
    """One arm on the digits for one seed: the trainer's results (test_accuracy among them)."""
    config = TrainConfig(dataset=DATASET, shots=shots, steps=steps, seed=seed, device=device, **ARMS[arm]).validate()
    task = prepare_task(config)
    if config.weights == "scratch":
        built = build_model(config.backbone, "scratch", task.n_classes, config.head, config.dropout, config.seed)
        model, source_head = built.model, None
    else:
        model, source_head = pretrained_model(state, config, task.n_classes)
    return Trainer(model, task, config, default_callbacks(config), source_head=source_head).fit()


def realcheck(checkpoint: Path | None = None, seeds: tuple[int, ...] = (0, 1, 2), shots: int = 5, steps: int = 200,
              device: str = "auto", threads: int | None = 1, log=print) -> dict:
    """Every arm for every seed. Returns accuracies as fractions: {"arms": {arm: [per seed]}, "means": {arm: mean},
    "gaps": {"finetune_minus_scratch", "frozen_minus_scratch"}, ...}. `threads` None leaves torch's count as is."""
    if not seeds:
        raise ConfigError("realcheck needs at least one seed.")
    state = load_checkpoint(checkpoint)
    path = GLYPHNET_FILE if checkpoint is None else Path(checkpoint).expanduser()
    name = "assets/glyphnet.pt (shipped)" if checkpoint is None else str(checkpoint)
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        arms: dict[str, list[float]] = {arm: [] for arm in ARMS}
        for seed in seeds:
            for arm in ARMS:
                results = run_arm(arm, state, seed, shots, steps, device)
                if results["status"] != "finished":
                    raise ConfigError(f"the {arm} arm (seed {seed}) ended {results['status']}: {results.get('message') or 'no message'}.")
                arms[arm].append(float(results["test_accuracy"]))
            log(f"seed {seed}: " + "  ".join(f"{arm} {arms[arm][-1]:.1%}" for arm in ARMS))
    finally:
        torch.set_num_threads(before)
    means = {arm: sum(v) / len(v) for arm, v in arms.items()}
    spread = {arm: statistics.stdev(v) if len(v) > 1 else 0.0 for arm, v in arms.items()}
    return {
        "checkpoint": name,
        "sha256": file_sha256(path),
        "dataset": DATASET,
        "shots": shots,
        "steps": steps,
        "seeds": list(seeds),
        "threads": threads,
        "torch": torch.__version__,
        "arms": arms,
        "means": means,
        "stdev": spread,  # across seeds (0 for one seed)
        "gaps": {key: means[arm] - means["scratch"] for key, (arm, _) in GAPS.items()},
        # per seed: the arms of one seed share its labelled images, so these are paired differences
        "gaps_per_seed": {key: [a - s for a, s in zip(arms[arm], arms["scratch"])] for key, (arm, _) in GAPS.items()},
    }


def report(r: dict) -> str:
    """The figures as a small table, accuracies in percent and gaps in points."""
    lines = [f"real handwriting check: {r['checkpoint']} (sha256 {r['sha256'][:12]}) on {r['dataset']}, "
             f"{r['shots']} labels per class, {r['steps']} steps",
             "seed  " + "".join(f"{arm:>10}" for arm in ARMS)]
    for i, seed in enumerate(r["seeds"]):
        lines.append(f"{seed:<6}" + "".join(f"{r['arms'][arm][i]:>10.1%}" for arm in ARMS))
    lines.append("mean  " + "".join(f"{r['means'][arm]:>10.1%}" for arm in ARMS))
    if len(r["seeds"]) > 1:
        lines.append("sd    " + "".join(f"{100 * r['stdev'][arm]:>9.1f}p" for arm in ARMS))
    for key, (_, label) in GAPS.items():
        each = ", ".join(f"{100 * g:+.1f}" for g in r["gaps_per_seed"][key])
        lines.append(f"{label} {100 * r['gaps'][key]:+.1f} points (per seed: {each})")
    return "\n".join(lines)
