"""Deployment: save a trained TransferNet (state dict, torch.export program), reload it, predict on an image.

Two formats, for two kinds of user:
- a state dict (+ the few facts needed to rebuild the model) for someone who has this engine;
- a torch.export program (.pt2) that runs with plain PyTorch, no engine code needed.
`predict_snippet` writes the ten lines that use the second one; `predict_image` does exactly
what those lines do, so the page's "try it" button and the snippet agree.
"""

from __future__ import annotations

import io

import torch
from torch import nn

from engine.core.config import ConfigError
from engine.models.registry import TransferNet, build_model

INVERT_ABOVE = 0.5  # an image brighter than this on average is dark ink on light paper: flip it


def state_dict_bytes(model: TransferNet, classes: list[str], backbone: str, head: str, image_size: int) -> bytes:
    """The weights plus what rebuilding needs, as one file that torch.load(weights_only=True) reads."""
    payload = {
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
        "classes": list(classes),
        "backbone": backbone,
        "head": head,
        "image_size": int(image_size),
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    return buf.getvalue()


def load_state_dict_bytes(data: bytes) -> tuple[TransferNet, dict]:
    """Rebuild the model from `state_dict_bytes` output: (model in eval mode, the payload's facts)."""
    payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    classes = payload["classes"]
    model = build_model(payload["backbone"], "scratch", len(classes), payload["head"]).model
    model.load_state_dict(payload["state_dict"])
    return model.eval(), {k: v for k, v in payload.items() if k != "state_dict"}


def program_bytes(model: nn.Module, image_size: int) -> bytes:
    """A torch.export program (.pt2) of the model in eval mode, any batch size, 3 x size x size input."""
    was = model.training
    model.eval()
    try:
        example = torch.zeros(2, 3, image_size, image_size)
        batch = torch.export.Dim("batch", min=1, max=4096)
        program = torch.export.export(model, (example,), dynamic_shapes=({0: batch},))
        buf = io.BytesIO()
        torch.export.save(program, buf)
        return buf.getvalue()
    finally:
        model.train(was)


def load_program_bytes(data: bytes) -> nn.Module:
    """The callable module inside a saved torch.export program."""
    return torch.export.load(io.BytesIO(data)).module()


def open_image(data: bytes):
    """Bytes of an uploaded file -> a PIL image; anything else is one sentence (ConfigError)."""
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except (UnidentifiedImageError, OSError, ValueError):
        raise ConfigError("that file is not an image this app can read: upload a PNG or JPEG picture.") from None
    return img


def image_to_input(pil_image, image_size: int) -> torch.Tensor:
    """A picture -> the model's input (1, 3, size, size) in [0, 1]: grey, resized, light strokes on dark."""
    grey = pil_image.convert("L").resize((image_size, image_size))
    x = torch.frombuffer(bytearray(grey.tobytes()), dtype=torch.uint8).float().div(255).view(1, 1, image_size, image_size)
    if float(x.mean()) > INVERT_ABOVE:  # the glyph world draws light strokes on a dark ground
        x = 1 - x
    return x.expand(1, 3, image_size, image_size).contiguous()


@torch.no_grad()
def probabilities(model: nn.Module, x: torch.Tensor, classes: list[str]) -> dict[str, float]:
    """Class probabilities of one prepared input (1, 3, H, W), in class order (restores the model's train/eval mode)."""
    was = model.training
    model.eval()
    try:
        probs = model(x).softmax(1)[0]
    finally:
        model.train(was)
    return {c: float(p) for c, p in zip(classes, probs)}


def predict_image(model: nn.Module, pil_image, classes: list[str], image_size: int) -> dict[str, float]:
    """Class probabilities for one picture, in class order (restores the model's train/eval mode)."""
    return probabilities(model, image_to_input(pil_image, image_size), classes)


def predict_snippet(classes: list[str], image_size: int, program_file: str = "glyph_model.pt2") -> str:
    """Plain-PyTorch code that loads the exported program and classifies one image file."""
    return f'''import numpy as np
import torch
from PIL import Image

model = torch.export.load("{program_file}").module()
classes = {list(classes)!r}

img = Image.open("my_glyph.png").convert("L").resize(({image_size}, {image_size}))
x = torch.tensor(np.asarray(img), dtype=torch.float32).div(255)
if x.mean() > {INVERT_ABOVE}:  # the model saw light strokes on a dark ground
    x = 1 - x
x = x.expand(1, 3, {image_size}, {image_size})
with torch.no_grad():
    probs = model(x).softmax(1)[0]
print(classes[int(probs.argmax())], round(float(probs.max()), 3))
'''
