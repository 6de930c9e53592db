"""The Studio's experiment: the student's own pictures, fine-tuned live on the sidebar's backbone.

No claims here (every student's pictures differ): only the default config, the knobs, what each backbone
should do with photos, and the config a set of pictures trains with (engine.data.studio keeps the pictures).
"""

from __future__ import annotations

from engine.core.config import TrainConfig
from engine.data import studio

PAGE = "studio"
RUN = "my classes"
EXPORT_FILE = "studio_model.pt2"
STATE_FILE = "studio_model_state.pt"
# Fine-tune everything with layer-wise decayed LRs (Hour 4) and augmentation (Hour 6): a handful of pictures per
# class, so every image is seen many times. Off the class board: a student's own pictures are nobody else's.
BASE = TrainConfig(backbone="glyphnet", weights="pretrained", strategy="finetune", lr=1e-3, layer_decay=0.8,
                   augment=True, steps=60, eval_every=10, log_every=5, seed=0, extras={"board": False})
KNOBS = {"strategy": {}, "freeze": {}, "lr": {}, "layer_decay": {}, "augment": {}, "steps": {"hi": 300}}

PHOTOS = ("learnt its features from ImageNet photos (edges, textures, object parts): usually a better start for photos "
          "than glyphnet, but at the sidebar's default image size (64 px) it sees little detail, so expect the clearest "
          "results on classes that look plainly different.")
EXPECT = {
    "glyphnet": ("glyphnet's features know strokes, not photos: expect it to tell apart mainly pictures that differ "
                 "plainly in shape or brightness; an ImageNet backbone (sidebar) is usually the better start for photos."),
    "resnet18": f"ResNet-18 {PHOTOS}",
    "mobilenet_v3_small": f"MobileNetV3-Small {PHOTOS}",
    "efficientnet_b0": f"EfficientNet-B0 {PHOTOS}",
}


def expectation(backbone: str) -> str:
    """One sentence: what to expect from this backbone on the student's photos."""
    return EXPECT.get(backbone, f"{backbone} {PHOTOS}")


def split_line(counts: dict[str, int]) -> str:
    """How each class's pictures are split, e.g. "cat: 3 train, 1 validation, 1 test"."""
    parts = []
    for c, n in counts.items():
        tr, va, te = studio.split_sizes(n)
        parts.append(f"{c}: {tr} train, {va} validation, {te} test")
    return "; ".join(parts)


def configure(cfg: TrainConfig, pictures: studio.Pictures) -> TrainConfig:
    """`cfg` set to train on the student's frozen set: every training picture of every class (shots = the largest
    class's training share), batches no larger than the training set, and off the class board."""
    train = [studio.split_sizes(n)[0] for n in pictures.counts().values()]
    n_train = sum(train)
    return cfg.replace(
        dataset=f"folder:{pictures.training_folder}",
        n_classes=max(studio.MIN_CLASSES, len(train)),
        shots=max([1, *train]),
        batch_size=max(1, min(cfg.batch_size, n_train)),
        extras={**cfg.extras, "board": False},
    )
