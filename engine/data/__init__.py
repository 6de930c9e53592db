"""Data: the glyph world, domain shift, augmentation, tasks (train/val/test splits), real datasets and image folders.

Datasets register themselves in `engine.data.tasks.DATASETS` when their module is imported; importing this
package imports them all. To add a dataset: a module here with a `@register_dataset("name")` loader that
returns a Task of [0, 1] images, imported below. The data layer never imports models: a backbone's input
normalisation is applied where the trainer is built (engine.train.build).
"""

from engine.data import realdata, tasks  # noqa: F401  (tasks registers glyphs; realdata cifar10, fashionmnist, folder, zip)
