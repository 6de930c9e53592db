"""Models: the backbone registry, and the backbones that register themselves in it when imported here.

To add a backbone: a module here that calls `registry.register(BackboneSpec(...))` with its ordered layer
groups, its weights loader and its input normalisation, then one import line below.
"""

from engine.models import glyphnet, imagenet, registry, unrelated  # noqa: F401  (each registers its backbones)
