"""Command line: `python -m engine train|pretrain|realcheck|bench|download ...`. Bad input: exit 2, one line."""

from __future__ import annotations

import argparse
import json
import sys

from engine.core.config import OPTIMIZERS, SCHEDULES, ConfigError, TrainConfig


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage dump, exit 2
        sys.stderr.write(f"error: {message} (see python -m engine {self.prog.split()[-1]} --help)\n")
        sys.exit(2)


def _positive_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def _seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of whole numbers") from None
    if not seeds:
        raise argparse.ArgumentTypeError("give at least one seed")
    return seeds


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m engine", description="The transfer-learning engine, headless.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="run one experiment")
    d = TrainConfig()
    t.add_argument("--backbone", default=d.backbone)
    t.add_argument("--weights", default=d.weights, help="pretrained | scratch | imagenet")
    t.add_argument("--dataset", default=d.dataset, help="glyphs | cifar10 | fashionmnist | folder:PATH")
    t.add_argument("--strategy", default=d.strategy, choices=["feature", "finetune"])
    t.add_argument("--unfreeze", type=int, default=None, help="backbone groups trained under the head (default: all)")
    t.add_argument("--layer-decay", type=_positive_float, default=d.layer_decay)
    t.add_argument("--lr-range", type=_positive_float, nargs=2, default=None, metavar=("LOW", "HIGH"))
    t.add_argument("--lr", type=_positive_float, default=d.lr)
    t.add_argument("--optimizer", default=d.optimizer, choices=OPTIMIZERS)
    t.add_argument("--schedule", default=d.schedule, choices=SCHEDULES)
    t.add_argument("--gradual-unfreeze", type=int, default=0, metavar="N")
    t.add_argument("--bn-mode", default=d.bn_mode, choices=["train", "frozen", "reestimate"])
    t.add_argument("--l2sp", type=_positive_float, default=0.0)
    t.add_argument("--weight-decay", type=_positive_float, default=0.0)
    t.add_argument("--dropout", type=_positive_float, default=0.0)
    t.add_argument("--head", default=d.head, choices=["linear", "mlp"])
    t.add_argument("--augment", action="store_true")
    t.add_argument("--early-stopping", type=int, default=0, metavar="PATIENCE")
    t.add_argument("--batch-size", type=int, default=d.batch_size)
    t.add_argument("--shots", type=int, default=d.shots)
    t.add_argument("--classes", type=int, default=d.n_classes)
    t.add_argument("--domain-shift", type=_positive_float, default=d.domain_shift)
    t.add_argument("--steps", type=int, default=d.steps)
    t.add_argument("--seed", type=int, default=d.seed)
    t.add_argument("--image-size", type=int, default=d.image_size, help="pixels per side (64-224 for ImageNet backbones)")
    t.add_argument("--device", default=d.device, choices=["auto", "cpu", "cuda", "mps"])
    t.add_argument("--json", action="store_true", help="print one JSON object with the final figures")

    pt = sub.add_parser("pretrain", help="rebuild a shipped backbone from its recipe (glyphnet, or unrelated for Hour 8)")
    pt.add_argument("backbone", nargs="?", default="glyphnet", choices=["glyphnet", "unrelated"],
                    help="glyphnet: assets/glyphnet.pt; unrelated: assets/glyphnet_unrelated.pt")
    pt.add_argument("--recipe", default="shipped", choices=["shipped", "glyphs"],
                    help="glyphnet only: shipped (assets/glyphnet.pt: 200 glyph + 800 character-like classes, every "
                         "other sample hand-drawn) or glyphs (the earlier 200-class plain source, for comparison: give --out)")
    pt.add_argument("--steps", type=int, default=None)
    pt.add_argument("--out", default=None, help="where to write (default: assets/glyphnet.pt)")

    rc = sub.add_parser("realcheck", help="scratch vs frozen features vs fine-tuning from a glyph checkpoint on real handwriting (digits)")
    rc.add_argument("--checkpoint", default=None, metavar="PATH", help="a glyphnet state dict (default: assets/glyphnet.pt)")
    rc.add_argument("--seeds", type=_seeds, default=(0, 1, 2), help="comma-separated seeds (default: 0,1,2)")
    rc.add_argument("--shots", type=int, default=d.shots, help="labels per class")
    rc.add_argument("--steps", type=int, default=d.steps)
    rc.add_argument("--threads", type=int, default=1, help="torch threads, fixed so the figures repeat (default: 1)")
    rc.add_argument("--device", default=d.device, choices=["auto", "cpu", "cuda", "mps"])
    rc.add_argument("--json", action="store_true", help="print one JSON object with the figures")

    b = sub.add_parser("bench", help="performance figures")
    b.add_argument("--json", action="store_true")
    b.add_argument("--quick", action="store_true", help="fewer repeats (for a smoke check)")
    b.add_argument("--load", action="store_true", help="also run the 30-student load test")

    dl = sub.add_parser("download", help="fetch ImageNet weights and datasets into the cache (needs a network)")
    dl.add_argument("names", nargs="*", help="backbones and datasets (default: all)")
    return p


def config_from_args(a: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        backbone=a.backbone, weights=a.weights, dataset=a.dataset, strategy=a.strategy, unfreeze=a.unfreeze,
        layer_decay=a.layer_decay, lr_range=tuple(a.lr_range) if a.lr_range else None, lr=a.lr,
        optimizer=a.optimizer, schedule=a.schedule, gradual_unfreeze=a.gradual_unfreeze, bn_mode=a.bn_mode,
        l2sp=a.l2sp, weight_decay=a.weight_decay, dropout=a.dropout, head=a.head, augment=a.augment,
        early_stopping=a.early_stopping, batch_size=a.batch_size, shots=a.shots, n_classes=a.classes,
        domain_shift=a.domain_shift, steps=a.steps, seed=a.seed, device=a.device, image_size=a.image_size,
    )


def cmd_train(a: argparse.Namespace) -> int:
    from engine.train.experiment import run_experiment

    results = run_experiment(config_from_args(a))
    if a.json:
        print(json.dumps({k: v for k, v in results.items() if k not in ("confusion", "mistakes")}))
    else:
        print(f"{results['status']}: test accuracy {results.get('test_accuracy')}, "
              f"{results['steps']} steps in {results['seconds']:.1f}s ({results['steps_per_second']} steps/s)")
        if results.get("message"):
            print(results["message"])
    return 0 if results["status"] in ("finished", "stopped") else 1


def cmd_realcheck(a: argparse.Namespace) -> int:
    from pathlib import Path

    from engine.tools.realcheck import realcheck, report

    if a.threads < 1:
        raise ConfigError(f"threads must be at least 1 (got {a.threads}).")
    r = realcheck(Path(a.checkpoint) if a.checkpoint else None, a.seeds, a.shots, a.steps, a.device, a.threads,
                  log=(lambda *_: None) if a.json else print)
    print(json.dumps(r) if a.json else report(r))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "train":
            return cmd_train(args)
        if args.command == "pretrain":
            from pathlib import Path

            from engine.train import pretrain as recipes

            if args.backbone == "unrelated":
                recipe, run, default_out = recipes.UnrelatedRecipe(), recipes.pretrain_unrelated, recipes.UNRELATED_FILE
            else:
                recipe, run, default_out = recipes.RECIPES[args.recipe](), recipes.pretrain, recipes.GLYPHNET_FILE
            if args.recipe != "shipped" and (args.backbone != "glyphnet" or not args.out):
                print(f"error: --recipe {args.recipe} is glyphnet's, and not the shipped one: give --out PATH as well.",
                      file=sys.stderr)
                return 2
            if args.steps is not None:
                recipe.steps = args.steps
            run(recipe, Path(args.out) if args.out else default_out)
            return 0
        if args.command == "realcheck":
            return cmd_realcheck(args)
        if args.command == "bench":
            from engine.tools.bench import run_bench

            return run_bench(as_json=args.json, quick=args.quick, load=args.load)
        if args.command == "download":
            from engine.tools.download import download

            return download(args.names)
    except ConfigError as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
