"""glyphnet: the small CNN (4 layer groups, 0.24 M parameters before the head) shipped pretrained on the glyph source task
(200 glyph classes and 800 character-like ones, engine.train.pretrain.SHIPPED)."""

from __future__ import annotations

from torch import nn

from engine.core.paths import ASSETS
from engine.models.checkpoints import load_verified
from engine.models.registry import BackboneSpec, TransferNet, register

GLYPHNET_FILE = ASSETS / "glyphnet.pt"
GLYPHNET_SHA256_FILE = ASSETS / "glyphnet.sha256"
REBUILD = "python -m engine pretrain"


def _conv_block(cin: int, cout: int, pool: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


def glyphnet_groups() -> tuple[list[tuple[str, nn.Module]], int]:
    """stem -> block1 -> block2 -> block3 (global pool): (B, 3, 32, 32) -> (B, 128)."""
    return [
        ("stem", _conv_block(3, 32, pool=True)),  # (B, 32, 16, 16)
        ("block1", _conv_block(32, 64, pool=True)),  # (B, 64, 8, 8)
        ("block2", _conv_block(64, 128, pool=True)),  # (B, 128, 4, 4)
        ("block3", nn.Sequential(_conv_block(128, 128, pool=False), nn.AdaptiveAvgPool2d(1), nn.Flatten())),  # (B, 128)
    ], 128


def load_glyphnet(model: TransferNet, weights: str) -> nn.Module:
    """Load the shipped checkpoint (weights_only) after checking its checksum; return the source head."""
    state = load_verified(GLYPHNET_FILE, GLYPHNET_SHA256_FILE, "the pretrained glyph backbone", REBUILD)
    source_head = nn.Linear(128, state["head.weight"].shape[0])
    model.head = source_head
    model.load_state_dict(state)
    return source_head


register(
    BackboneSpec(
        name="glyphnet",
        build=glyphnet_groups,
        weights=("pretrained",),
        image_size=32,
        description="small 4-group CNN pretrained on 1,000 glyph and character-like classes (ships with the app)",
        load_pretrained=load_glyphnet,
        source_classes=1000,  # 200 glyph classes, then 800 character-like ones (engine.train.pretrain.SHIPPED)
    )
)
