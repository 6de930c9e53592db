"""Photos to model-ready tensors: resize the shorter side, centre-crop, scale to [0, 1].

Every backbone gets the same [0, 1] images from the data layer; the normalisation a backbone's weights
expect (ImageNet's mean and std) is data on its spec, applied where the trainer is built.
"""

from __future__ import annotations

import torch
import torchvision.transforms.functional as TF

CHUNK = 512  # images converted at once


def to_unit_images(x: torch.Tensor, image_size: int) -> torch.Tensor:
    """uint8 images (N, 3, H, W) -> float32 (N, 3, image_size, image_size) in [0, 1]: the shorter side resized
    to image_size (bilinear, antialiased), then the centre cropped, as torchvision's ImageNet transforms do."""
    if len(x) == 0:
        return torch.zeros(0, 3, image_size, image_size)
    return torch.cat([_convert(x[i : i + CHUNK], image_size) for i in range(0, len(x), CHUNK)])


def _convert(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-2:] != (size, size):
        x = TF.resize(x, [size], antialias=True)
        x = TF.center_crop(x, [size])
    return TF.convert_image_dtype(x, torch.float32).contiguous()
