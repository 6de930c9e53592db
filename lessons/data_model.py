"""The sidebar's "Data and model" section: pick the backbone and the dataset for every lesson page.

The glyph world (glyphnet on glyphs) is the default and needs nothing. An ImageNet backbone, CIFAR-10,
Fashion-MNIST, an image folder or an uploaded zip can replace it; samples are shown first, and when
weights or data are not available the reason is shown in one sentence and the glyph world stays in use.
The choice is kept for the whole browser session, so it follows the student from page to page.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from engine.core.config import ConfigError, TrainConfig
from lessons.live import image_grid

STATE = "data_model"  # st.session_state key of the choice (outlives the widgets of any one page)
BACKBONES = {
    "glyphnet": "glyphnet (built in, pretrained on glyphs)",
    "resnet18": "ResNet-18 (ImageNet)",
    "mobilenet_v3_small": "MobileNetV3-Small (ImageNet)",
    "efficientnet_b0": "EfficientNet-B0 (ImageNet)",
}
DATASETS = {
    "glyphs": "Glyph world (built in)",
    "cifar10": "CIFAR-10 (photos, 10 classes)",
    "fashionmnist": "Fashion-MNIST (clothing, 10 classes)",
    "folder": "My images: a folder on the server",
    "zip": "My images: upload a zip",
}
IMAGE_SIZES = (32, 48, 64, 96, 128, 160, 224)
PREVIEW = 10  # sample images shown


@dataclass
class Choice:
    """What the teacher picked (not yet checked)."""

    backbone: str = "glyphnet"
    dataset: str = "glyphs"  # a DATASETS key
    folder: str = ""  # for dataset == "folder"
    zip_root: str = ""  # the unpacked upload, for dataset == "zip"
    zip_name: str = ""
    image_size: int = 64  # for ImageNet backbones


def _choice() -> Choice:
    return st.session_state.setdefault(STATE, Choice())


def dataset_string(choice: Choice) -> str | None:
    """The TrainConfig.dataset the choice means; None while a folder or zip is still missing."""
    if choice.dataset == "folder":
        return f"folder:{choice.folder.strip()}" if choice.folder.strip() else None
    if choice.dataset == "zip":
        return f"folder:{choice.zip_root}" if choice.zip_root else None
    return choice.dataset


def resolve(base: TrainConfig, choice: Choice) -> tuple[TrainConfig, list[str]]:
    """The config to train (base with the choice applied) and the reasons for any fallback, one sentence each.

    Never downloads: an ImageNet backbone whose weights are not cached falls back to glyphnet.
    """
    from engine.models import imagenet as realmodels

    reasons: list[str] = []
    cfg = base
    if choice.backbone != "glyphnet":
        if base.weights != "scratch" and not realmodels.is_cached(choice.backbone):
            reasons.append(f"{realmodels.offline_message(choice.backbone)} Using the glyph backbone instead.")
        else:
            cfg = cfg.replace(backbone=choice.backbone, image_size=choice.image_size)
    ds = dataset_string(choice)
    if choice.dataset != "glyphs" and ds is not None:
        try:
            _preview(cfg.replace(dataset=ds))
            cfg = cfg.replace(dataset=ds)
        except ConfigError as e:
            reasons.append(f"{e} Using the glyph world instead.")
    return cfg, reasons


def _preview(cfg: TrainConfig):
    """(images in [0, 1], captions, task name, warnings) of the first training images; cached per data choice."""
    key = (cfg.dataset, cfg.backbone, cfg.image_size, cfg.n_classes)
    cache = st.session_state.setdefault(f"{STATE}:preview", {})
    if key not in cache:
        from engine.data.tasks import load_task

        task = load_task(cfg.replace(seed=0))  # a ConfigError is not cached: the teacher may fix the folder and retry
        per = max(1, PREVIEW // task.n_classes)
        idx = [i for c in range(task.n_classes) for i in (task.train.y == c).nonzero().flatten()[:per].tolist()][:PREVIEW]
        cache[key] = (task.to_display(task.train.x[idx]), [task.classes[int(task.train.y[i])] for i in idx], task.name, task.warnings)
        if len(cache) > 8:
            cache.pop(next(iter(cache)))
    return cache[key]


def sidebar(page_key: str, base: TrainConfig) -> TrainConfig:
    """Draw the sidebar section and return `base` with the chosen backbone and dataset (or `base` unchanged)."""
    choice = _choice()
    custom = choice.backbone != "glyphnet" or choice.dataset != "glyphs"
    with st.sidebar.expander("Data and model", expanded=custom):
        names = list(BACKBONES)
        choice.backbone = st.selectbox(
            "Backbone", names, index=names.index(choice.backbone), format_func=BACKBONES.get, key=f"{page_key}:dm:backbone",
            help="The pretrained network the lessons start from. glyphnet is small and ships with the app; the ImageNet "
                 "ones are real networks pretrained on 1.2 million photos (slower on a CPU).",
        )
        if choice.backbone != "glyphnet":
            choice.image_size = st.select_slider(
                "Image size (pixels)", IMAGE_SIZES, value=choice.image_size, key=f"{page_key}:dm:size",
                help="Images are resized to this before the backbone sees them. ImageNet networks were trained at 224; "
                     "64 keeps CPU runs short.",
            )
            _weights_row(page_key, choice.backbone)
        kinds = list(DATASETS)
        choice.dataset = st.selectbox("Dataset", kinds, index=kinds.index(choice.dataset), format_func=DATASETS.get,
                                      key=f"{page_key}:dm:dataset")
        if choice.dataset == "folder":
            choice.folder = st.text_input("Folder path (one subfolder of images per class)", value=choice.folder,
                                          key=f"{page_key}:dm:folder", placeholder="/home/teacher/photos")
        if choice.dataset == "zip":
            _upload(page_key, choice)
        cfg, reasons = resolve(base, choice)
        for r in reasons:
            st.warning(r)
        if cfg.dataset != "glyphs":
            images, captions, name, warnings = _preview(cfg)
            st.caption(f"**{name}**: first training images")
            image_grid(images, captions, width=56)
            for w in warnings:
                st.caption(f"⚠ {w}")
        elif dataset_string(choice) is None:
            st.info("Give a folder path or upload a zip to use your own images; until then the glyph world is used.")
    return cfg


def _weights_row(page_key: str, backbone: str) -> None:
    """Whether the ImageNet weights are here, and a button to fetch them when this server has a network."""
    from engine.models import imagenet as realmodels

    if realmodels.is_cached(backbone):
        st.caption(f"ImageNet weights: cached ({realmodels.cache_file(backbone).name}).")
        return
    st.caption("ImageNet weights: not downloaded yet.")
    if st.button("Download the weights", key=f"{page_key}:dm:download"):
        with st.spinner(f"Downloading {realmodels.cache_file(backbone).name}..."):
            try:
                realmodels.ensure_weights(backbone)
            except ConfigError as e:
                if str(e) != realmodels.offline_message(backbone):  # that one is shown below as the fallback reason
                    st.warning(str(e))
            else:
                st.rerun()


def _upload(page_key: str, choice: Choice) -> None:
    from engine.data import imagefolder

    limit_mb = int(st.get_option("server.maxUploadSize"))
    up = st.file_uploader(f"Zip of a folder with one subfolder of images per class (up to {limit_mb} MB)", type=["zip"],
                          key=f"{page_key}:dm:zip")
    if up is not None and up.name != choice.zip_name:
        try:
            choice.zip_root = str(imagefolder.unpack_upload(up.getvalue(), limit=limit_mb * 1024 * 1024))
            choice.zip_name = up.name
        except ConfigError as e:
            choice.zip_root, choice.zip_name = "", ""
            st.warning(f"{e} Using the glyph world instead.")
    elif up is None and choice.zip_root:
        st.caption(f"Using the uploaded {choice.zip_name}.")
