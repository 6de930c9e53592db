"""The teacher's own images: a folder with one subfolder per class, or a zip of one, read defensively.

Every way a folder can be wrong gets one sentence (missing, empty, one class, a class with no images,
too few images to split); files that are not images or are corrupt are skipped, counted and named in
a warning; huge images are decoded at reduced size; grayscale, palette and RGBA become RGB (over
white). Decoded images are cached, keyed by the files' paths, sizes and modification times.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import threading
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import torch
from PIL import Image, ImageOps

from engine.core.config import ConfigError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
IGNORED_NAMES = {"thumbs.db", "desktop.ini", "__macosx"}  # operating-system clutter, ignored silently
MAX_PIXELS = 100_000_000  # larger than this (e.g. 10000 x 10000) is refused as too large to decode
ZIP_LIMIT_BYTES = 200 * 1024 * 1024  # an uploaded zip, and what it unpacks to, may not exceed this
ZIP_MAX_FILES = 20_000
MIN_PER_CLASS = 3  # one each for training, validation and test
NAMED_IN_WARNING = 5  # files named in a warning before "and N more"


@dataclass
class FolderImages:
    """Decoded images of a folder: uint8 (N, 3, S, S), labels (N,), class names, and what was skipped."""

    x: torch.Tensor
    y: torch.Tensor
    classes: list[str]
    files: list[str]  # relative paths, one per image, in the order of x
    skipped: list[str] = field(default_factory=list)  # relative paths that are not readable images
    warnings: list[str] = field(default_factory=list)


def _visible(p: Path) -> bool:
    return not p.name.startswith(".") and p.name.lower() not in IGNORED_NAMES


def scan(root: str | Path) -> tuple[list[str], list[list[Path]], list[str]]:
    """(class names, files of each class, warnings) of an image folder; ConfigError for a bad layout."""
    root = Path(root).expanduser()
    if not root.exists():
        raise ConfigError(f"the image folder {root} does not exist: give the path of a folder with one subfolder of images per class.")
    if not root.is_dir():
        raise ConfigError(f"{root} is a file, not a folder: give a folder with one subfolder of images per class.")
    entries = sorted((p for p in root.iterdir() if _visible(p)), key=lambda p: p.name)
    class_dirs = [p for p in entries if p.is_dir()]
    loose = [p for p in entries if p.is_file()]
    notes = []
    if not class_dirs:
        if loose:
            raise ConfigError(
                f"the image folder {root} has images but no class subfolders: put each class's images in its own subfolder "
                "(for example cats/ and dogs/)."
            )
        raise ConfigError(f"the image folder {root} is empty: put each class's images in its own subfolder (for example cats/ and dogs/).")
    if len(class_dirs) == 1:
        raise ConfigError(
            f"the image folder {root} has only one class ({class_dirs[0].name}): a classifier needs at least two subfolders of images."
        )
    if loose:
        notes.append(f"ignored {len(loose)} file(s) directly in {root.name}/ (not in a class subfolder).")
    files = []
    for d in class_dirs:
        found = sorted((p for p in d.rglob("*") if p.is_file() and all(_visible(Path(q)) for q in p.relative_to(d).parts)),
                       key=lambda p: p.relative_to(d).as_posix())
        if not found:
            raise ConfigError(f"the class folder {d.name}/ has no images: add some images to it or remove it.")
        files.append(found)
    return [d.name for d in class_dirs], files, notes


def upright_rgb(im: Image.Image, side: int) -> Image.Image:
    """An opened picture -> upright (EXIF) RGB, over white where it was transparent; a JPEG is decoded at a reduced
    scale of at least `side` pixels (fast for phone photos)."""
    im.draft("RGB", (side, side))
    im = ImageOps.exif_transpose(im)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        out = Image.new("RGB", rgba.size, (255, 255, 255))
        out.paste(rgba, mask=rgba.getchannel("A"))
        return out
    return im.convert("RGB")


def decode(path: Path, size: int) -> torch.Tensor:
    """One image file -> uint8 (3, size, size): upright (EXIF), RGB over white, shorter side resized, centre-cropped."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PIL's DecompressionBombWarning and palette notes; we bound the size ourselves
        with Image.open(path) as im:
            if im.width * im.height > MAX_PIXELS:
                raise ValueError("too large")
            im = upright_rgb(im, size * 2)
            im = ImageOps.fit(im, (size, size), Image.Resampling.BILINEAR)  # resize the shorter side, centre-crop
            data = torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8)
    return data.view(size, size, 3).permute(2, 0, 1).contiguous()


_cache: dict[tuple, FolderImages] = {}
_lock = threading.Lock()
CACHE_MAX_IMAGES = 20_000  # decoded images kept across runs (64 px: about 250 MB at most)


def _named(paths: list[str]) -> str:
    shown = ", ".join(paths[:NAMED_IN_WARNING])
    more = len(paths) - NAMED_IN_WARNING
    return shown + (f" and {more} more" if more > 0 else "")


def load_folder(root: str | Path, size: int) -> FolderImages:
    """Decode every image of the folder at `size` x `size` (cached while the files are unchanged)."""
    root = Path(root).expanduser().resolve() if Path(root).expanduser().exists() else Path(root).expanduser()
    classes, files, notes = scan(root)
    signature = []
    for fs in files:
        for f in fs:
            st = f.stat()
            signature.append((str(f), st.st_size, st.st_mtime_ns))
    key = (str(root), size, hashlib.sha256(repr(signature).encode()).hexdigest())
    with _lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit
    xs, ys, names, skipped = [], [], [], []
    for label, (cname, fs) in enumerate(zip(classes, files)):
        n_ok = 0
        for f in fs:
            rel = f.relative_to(root).as_posix()
            try:
                xs.append(decode(f, size))
            except Exception:  # not an image, truncated, too large, unknown format
                skipped.append(rel)
                continue
            ys.append(label)
            names.append(rel)
            n_ok += 1
        if n_ok == 0:
            raise ConfigError(f"the class folder {cname}/ has no readable images ({len(fs)} file(s), none of them an image): add some images to it.")
    if skipped:
        notes.append(f"skipped {len(skipped)} file(s) that are not readable images: {_named(skipped)}.")
    out = FolderImages(torch.stack(xs), torch.tensor(ys, dtype=torch.int64), classes, names, skipped, notes)
    with _lock:
        if sum(len(v.y) for v in _cache.values()) + len(out.y) > CACHE_MAX_IMAGES:
            _cache.clear()
        _cache[key] = out
    return out


# ---- zips ----------------------------------------------------------------------------------------


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def unpack_zip(source: bytes | str | Path, dest: str | Path, limit: int = ZIP_LIMIT_BYTES) -> Path:
    """Unpack a zip of class folders safely into `dest`; return the folder that holds the class folders.

    Refused with one sentence: not a zip, over `limit` (as uploaded or unpacked), too many files,
    an entry whose path escapes `dest` (absolute, `..`, a drive) or a link.
    """
    size = len(source) if isinstance(source, (bytes, bytearray)) else Path(source).stat().st_size
    if size > limit:
        raise ConfigError(f"the zip is {_mb(size)}, over the {_mb(limit)} upload limit: zip fewer or smaller images.")
    try:
        zf = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source)
    except (zipfile.BadZipFile, OSError):
        raise ConfigError("the uploaded file is not a readable zip: zip a folder with one subfolder of images per class.") from None
    dest = Path(dest)
    with zf:
        infos = zf.infolist()
        if len(infos) > ZIP_MAX_FILES:
            raise ConfigError(f"the zip holds {len(infos)} files, over the limit of {ZIP_MAX_FILES}: zip fewer images.")
        total = sum(i.file_size for i in infos)
        if total > limit:
            raise ConfigError(f"the zip unpacks to {_mb(total)}, over the {_mb(limit)} limit: zip fewer or smaller images.")
        for i in infos:
            parts = PurePosixPath(i.filename.replace("\\", "/")).parts
            if i.filename.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
                raise ConfigError(f"the zip was refused: the entry {i.filename!r} points outside its folder.")
            if stat.S_ISLNK(i.external_attr >> 16):
                raise ConfigError(f"the zip was refused: the entry {i.filename!r} is a link, not a file.")
        dest.mkdir(parents=True, exist_ok=True)
        base = dest.resolve()
        written = 0
        for i in infos:
            target = (base / i.filename.replace("\\", "/")).resolve()
            if target != base and base not in target.parents:
                raise ConfigError(f"the zip was refused: the entry {i.filename!r} points outside its folder.")
            if i.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(i) as src, open(target, "wb") as out:
                while chunk := src.read(1 << 20):  # count real bytes: a zip's declared sizes can lie
                    written += len(chunk)
                    if written > limit:
                        out.close()
                        shutil.rmtree(base, ignore_errors=True)
                        raise ConfigError(f"the zip unpacks to more than the {_mb(limit)} limit: zip fewer or smaller images.")
                    out.write(chunk)
    return class_root(base)


def class_root(folder: Path) -> Path:
    """A zip of a folder holds that one folder: step into it while it is the only thing there."""
    while True:
        inside = [p for p in folder.iterdir() if _visible(p)]
        if len(inside) == 1 and inside[0].is_dir() and any(q.is_dir() for q in inside[0].iterdir() if _visible(q)):
            folder = inside[0]
        else:
            return folder


def uploads_dir() -> Path:
    from engine.core.paths import data_root

    return data_root() / "uploads"


def unpack_upload(data: bytes, limit: int = ZIP_LIMIT_BYTES) -> Path:
    """Unpack uploaded zip bytes into the data root under their checksum (the same zip unpacks once)."""
    digest = hashlib.sha256(data).hexdigest()[:16]
    dest = uploads_dir() / digest
    done = dest / ".unpacked"
    if done.exists():
        return class_root(dest)
    if dest.exists():
        shutil.rmtree(dest, ignore_errors=True)
    root = unpack_zip(data, dest, limit)
    done.touch()
    os.utime(dest)
    return root
