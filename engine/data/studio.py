"""The Studio's pictures: a student's own classes, filled from the webcam or by upload, kept for that student only.

Layout, under the run store's folder (settings `data_dir`):

    studio/<student id>/<class>/<n>.png          the student's pictures (1.png, 2.png, ...)
    studio/<student id>/.train/<class>/<n>.png   the set the last Start trains on (hard links to the above)

Training reads `.train` through the image-folder dataset (`folder:PATH`, engine.data.imagefolder). It is frozen
at Start (`freeze`), so the run, its misclassified pictures and its export keep the exact pictures it trained on
while the student adds more. Only the student's own id names the folder; nothing lists other students' folders.
Every refusal is one sentence: too few or too many classes, a bad class name, a class with too few pictures,
a file that is too large or is not a picture.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import warnings
from collections.abc import MutableMapping
from pathlib import Path

import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from engine.core.config import ConfigError
from engine.data import imagefolder, realdata

FOLDER = "studio"  # under the run store's folder
TRAIN = ".train"  # the frozen training set, inside a student's folder (hidden: never taken for a class)
MIN_CLASSES, MAX_CLASSES = 2, 5
MIN_PICTURES = imagefolder.MIN_PER_CLASS  # one each for training, validation and test
MAX_PICTURES = 30  # per class: enough for a clear result, few enough that runs stay short on a CPU
MAX_BYTES = 10 * 1024 * 1024  # one picture as uploaded; a phone photo is 2-8 MB
MAX_NAME = 24  # characters in a class name
KEEP_SIDE = 256  # pictures are kept at most this many pixels on their longer side (enough for a 224 backbone)
THUMB_SIDE = 96  # the grid's thumbnails (square, centre-cropped like the training pictures)
FORMATS = "PNG, JPEG, GIF, BMP or WebP"
_STUDENT = re.compile(r"^[0-9a-f]{32}$")
_CLASS = re.compile(r"^\w[\w \-]*$")


def split_sizes(n: int) -> tuple[int, int, int]:
    """(training, validation, test) pictures of a class of `n`, as the image-folder dataset splits it
    (engine.data.realdata.folder_split): a fifth each for test and validation, at least one each, the rest trains."""
    n_test = max(1, round(n * realdata.TEST_FRACTION))
    n_val = max(1, round(n * realdata.VAL_FRACTION))
    return max(0, n - n_test - n_val), n_val, n_test


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def read_picture(data: bytes, name: str = "") -> Image.Image:
    """Uploaded or camera bytes -> an upright RGB picture (over white where it was transparent), at most
    KEEP_SIDE pixels on its longer side. Too large, empty or not a picture: one sentence (ConfigError) naming
    the file `name` ("" = the camera's picture)."""
    what = f"The file {name}" if name else "The camera picture"
    if len(data) > MAX_BYTES:
        raise ConfigError(f"{what} is {_mb(len(data))}, over the {_mb(MAX_BYTES)} limit for one picture: "
                          "use a smaller photo or a screenshot of it.")
    if not data:
        raise ConfigError(f"{what} is empty: take the picture again or choose another file.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PIL's DecompressionBombWarning: the size is bounded below
            im = Image.open(io.BytesIO(data))
            if im.width * im.height > imagefolder.MAX_PIXELS:
                raise ConfigError(f"{what} is {im.width} x {im.height} pixels, too large to open: use a smaller photo.")
            im = imagefolder.upright_rgb(im, KEEP_SIDE * 2)
    except ConfigError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise ConfigError(f"{what} is not a picture this app can read: add {FORMATS} pictures.") from None
    im.thumbnail((KEEP_SIDE, KEEP_SIDE), Image.Resampling.BILINEAR)
    return im


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def _number(p: Path) -> int:
    return int(p.stem) if p.stem.isdigit() else 0


class Pictures:
    """One student's classes and pictures on disk. `data_dir`: the run store's folder (default: the settings')."""

    def __init__(self, student: str, data_dir: str | Path | None = None):
        if not _STUDENT.match(str(student)):
            raise ConfigError("this page needs a student id (32 hex digits) to keep your pictures apart: reload the page.")
        if data_dir is None:
            from engine.core.settings import get_settings

            data_dir = get_settings().data_dir
        self.student = student
        self.folder = Path(data_dir) / FOLDER / student

    @property
    def training_folder(self) -> Path:
        """The frozen set a run trains on (made by `freeze`)."""
        return self.folder / TRAIN

    # ---- reading -------------------------------------------------------------------------------

    def classes(self) -> list[str]:
        """The class names, in the order the image-folder dataset numbers them (sorted by name)."""
        if not self.folder.is_dir():
            return []
        return sorted(p.name for p in self.folder.iterdir() if p.is_dir() and not p.name.startswith("."))

    def files(self) -> dict[str, list[Path]]:
        """{class: its picture files, oldest first}."""
        return {c: sorted((p for p in (self.folder / c).glob("*.png") if not p.name.startswith(".")), key=_number)
                for c in self.classes()}

    def counts(self) -> dict[str, int]:
        return {c: len(fs) for c, fs in self.files().items()}

    def problems(self) -> list[str]:
        """Why these classes cannot train yet, one sentence each; [] when they can."""
        counts = self.counts()
        if not counts:
            return [f"Name at least {MIN_CLASSES} classes below: a classifier needs two or more to tell apart."]
        out = []
        if len(counts) < MIN_CLASSES:
            only = next(iter(counts))
            out.append(f"There is only one class ({only}): add a second one, a classifier needs at least "
                       f"{MIN_CLASSES} to tell apart.")
        for c, n in counts.items():
            if n == 0:
                out.append(f"The class {c} has no pictures yet: add at least {MIN_PICTURES} "
                           "(one each for training, validation and test).")
            elif n < MIN_PICTURES:
                out.append(f"The class {c} has {n} picture{'s' if n > 1 else ''}: add {MIN_PICTURES - n} more "
                           f"(each class needs {MIN_PICTURES}: one each for training, validation and test).")
        return out

    def thumbnails(self, cache: MutableMapping) -> dict[str, list[bytes]]:
        """{class: PNG thumbnails}, kept in `cache` (the student's session) and rebuilt from disk when the
        pictures there changed (another tab, a reload)."""
        files = self.files()
        signature = {c: [(p.name, p.stat().st_mtime_ns) for p in fs] for c, fs in files.items()}
        if cache.get("signature") != signature:
            thumbs = {}
            for c, fs in files.items():
                thumbs[c] = []
                for p in fs:
                    with Image.open(p) as im:  # the centre square: what the model sees of the picture
                        thumbs[c].append(_png(ImageOps.fit(im, (THUMB_SIDE, THUMB_SIDE), Image.Resampling.BILINEAR)))
            cache.clear()
            cache.update({"signature": signature, "thumbs": thumbs})
        return cache["thumbs"]

    # ---- changing ------------------------------------------------------------------------------

    def add_class(self, name: str) -> str:
        """Make a class (an empty folder); returns its cleaned name. Bad or duplicate names: one sentence."""
        name = " ".join(str(name).split())
        if not name:
            raise ConfigError("Give the class a name first, for example thumbs up.")
        if len(name) > MAX_NAME:
            raise ConfigError(f"The class name {name[:MAX_NAME]}... is too long: use at most {MAX_NAME} characters.")
        if not _CLASS.match(name):
            raise ConfigError(f"The class name {name!r} may use only letters, digits, spaces, - and _.")
        existing = self.classes()
        if name.lower() in (c.lower() for c in existing):
            raise ConfigError(f"There is already a class called {name}: give the new one another name.")
        if len(existing) >= MAX_CLASSES:
            raise ConfigError(f"You have {MAX_CLASSES} classes, the most the Studio takes: remove one to add another.")
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        (self.folder / name).mkdir(mode=0o700)
        return name

    def remove_class(self, name: str) -> None:
        if name in self.classes():
            shutil.rmtree(self.folder / name)

    def add_picture(self, cls: str, data: bytes, name: str = "") -> Path:
        """Save one picture (bytes of any common format) to class `cls` as its next <n>.png; returns the file.
        `name`: the uploaded file's name for messages ("" = the camera's picture)."""
        if not cls:
            raise ConfigError("Name a class first: every picture goes into a class.")
        if cls not in self.classes():
            raise ConfigError(f"There is no class called {cls}: add the class first.")
        files = self.files()[cls]
        if len(files) >= MAX_PICTURES:
            raise ConfigError(f"The class {cls} already has {MAX_PICTURES} pictures, the most one class takes: "
                              "that is plenty for this page.")
        im = read_picture(data, name)
        n = max((_number(p) for p in files), default=0) + 1
        path = self.folder / cls / f"{n}.png"
        tmp = path.with_name(f".{n}.png.part")  # hidden until complete: a reader never sees half a file
        tmp.write_bytes(_png(im))
        os.replace(tmp, path)
        return path

    def add_pictures(self, cls: str, named: list[tuple[str, bytes]]) -> tuple[int, list[str]]:
        """Add several (name, bytes) pictures to `cls`: (how many were added, one sentence per one that was not)."""
        added, problems = 0, []
        for i, (name, data) in enumerate(named):
            if cls and self.counts().get(cls, 0) >= MAX_PICTURES:
                left = len(named) - i
                problems.append(f"The class {cls} has {MAX_PICTURES} pictures, the most one class takes: "
                                f"{left} more {'was' if left == 1 else 'were'} not added.")
                break
            try:
                self.add_picture(cls, data, name)
                added += 1
            except ConfigError as e:
                problems.append(str(e))
        return added, problems

    def freeze(self) -> Path:
        """Make the training set from the pictures as they are now (replacing the last one); returns its folder.
        Refused with the first of `problems` while the classes cannot train."""
        problems = self.problems()
        if problems:
            raise ConfigError(problems[0])
        dest = self.training_folder
        tmp = self.folder / f"{TRAIN}.part"
        shutil.rmtree(tmp, ignore_errors=True)
        for c, fs in self.files().items():
            (tmp / c).mkdir(parents=True, mode=0o700)
            for p in fs:
                try:
                    os.link(p, tmp / c / p.name)  # the pictures never change in place: a link is a frozen copy
                except OSError:
                    shutil.copy2(p, tmp / c / p.name)
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(tmp, dest)
        return dest

    def forget(self) -> bool:
        """Delete every picture of this student (classes and training set). True when there was something."""
        if not self.folder.exists():
            return False
        shutil.rmtree(self.folder)
        return True


# ---- using a trained model on a new picture -----------------------------------------------------


def to_input(data: bytes, image_size: int, input_norm=None, name: str = "") -> torch.Tensor:
    """A picture's bytes -> the model's input (1, 3, size, size), prepared as in training: shorter side resized,
    centre-cropped, in [0, 1], then normalised with the backbone's (mean, std) where it has one. (Not Hour 10's
    export.image_to_input: that one greys, squashes and inverts a drawing for the glyph world.) Its probabilities:
    engine.models.export.probabilities."""
    im = ImageOps.fit(read_picture(data, name), (image_size, image_size), Image.Resampling.BILINEAR)
    x = torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8).view(image_size, image_size, 3)
    x = x.permute(2, 0, 1).float().div(255).unsqueeze(0)
    if input_norm is not None:
        mean, std = (torch.tensor(v, dtype=torch.float32).view(1, 3, 1, 1) for v in input_norm)
        x = (x - mean) / std
    return x


def snippet(classes: list[str], image_size: int, input_norm=None, program_file: str = "studio_model.pt2") -> str:
    """Plain-PyTorch code that loads the exported program and classifies one photo, preparing it as `to_input` does."""
    norm = ""
    if input_norm is not None:
        mean, std = (list(map(float, v)) for v in input_norm)
        norm = (f"x = (x - torch.tensor({mean}).view(1, 3, 1, 1)) / torch.tensor({std}).view(1, 3, 1, 1)"
                "  # the backbone's input normalisation\n")
    return f'''import numpy as np
import torch
from PIL import Image, ImageOps

model = torch.export.load("{program_file}").module()
classes = {list(classes)!r}

img = ImageOps.exif_transpose(Image.open("my_picture.jpg")).convert("RGB")
img = ImageOps.fit(img, ({image_size}, {image_size}), Image.Resampling.BILINEAR)
x = torch.tensor(np.asarray(img), dtype=torch.float32).permute(2, 0, 1).unsqueeze(0).div(255)
{norm}with torch.no_grad():
    probs = model(x).softmax(1)[0]
print(classes[int(probs.argmax())], round(float(probs.max()), 3))
'''
