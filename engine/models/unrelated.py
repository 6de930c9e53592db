"""glyphnet_unrelated: glyphnet's architecture pretrained on colour fields, a task unrelated to glyphs (Hour 8).

Hour 8 needs a source that is *not* related to the target: the same small CNN as glyphnet, pretrained on
engine.data.colourfields (no strokes, no shapes, grey-on-black never appears). Its weights are genuinely
trained (not random), so whatever it does to a glyph target is transfer from an unrelated source.
`python -m engine pretrain unrelated` rebuilds assets/glyphnet_unrelated.pt (about a minute on 2 cores).
"""

from __future__ import annotations

from torch import nn

from engine.core.paths import ASSETS
from engine.data.colourfields import N_CLASSES
from engine.models.checkpoints import load_verified
from engine.models.glyphnet import glyphnet_groups
from engine.models.registry import BackboneSpec, TransferNet, register

UNRELATED_FILE = ASSETS / "glyphnet_unrelated.pt"
UNRELATED_SHA256_FILE = ASSETS / "glyphnet_unrelated.sha256"
REBUILD = "python -m engine pretrain unrelated"


def load_unrelated(model: TransferNet, weights: str) -> nn.Module | None:
    """Load the shipped unrelated checkpoint (checksum checked, weights_only). No source head is
    returned: the forgetting meter measures the glyph source task, which this backbone never learnt."""
    state = load_verified(UNRELATED_FILE, UNRELATED_SHA256_FILE, "the unrelated backbone", REBUILD)
    model.head = nn.Linear(state["head.weight"].shape[1], state["head.weight"].shape[0])
    model.load_state_dict(state)
    return None


register(
    BackboneSpec(
        name="glyphnet_unrelated",
        build=glyphnet_groups,
        weights=("pretrained",),
        image_size=32,
        description="glyphnet's CNN pretrained on 100 classes of smooth colour fields: a source unrelated to glyphs",
        load_pretrained=load_unrelated,
        source_classes=N_CLASSES,
    )
)
