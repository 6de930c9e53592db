"""The teacher's own images: every bad folder and zip gets its sentence; odd images still load."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
import torch
from PIL import Image

from engine.core.config import ConfigError
from engine.data import imagefolder as imf


def png(path: Path, colour=(200, 30, 30), size=(12, 10), mode="RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour).save(path)
    return path


def folder(root: Path, classes=("cats", "dogs"), n=4) -> Path:
    for k, c in enumerate(classes):
        for i in range(n):
            png(root / c / f"{i}.png", (40 * k + 20, 100, 200 - 40 * k))
    return root


def message(fn, *args) -> str:
    with pytest.raises(ConfigError) as e:
        fn(*args)
    return str(e.value)


def test_good_folder_loads_sorted_classes(tmp_path):
    root = folder(tmp_path / "pics")
    out = imf.load_folder(root, 8)
    assert out.classes == ["cats", "dogs"]
    assert out.x.shape == (8, 3, 8, 8) and out.x.dtype == torch.uint8
    assert out.y.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert out.files[:2] == ["cats/0.png", "cats/1.png"]
    assert out.skipped == [] and out.warnings == []
    assert out.x[0, :, 0, 0].tolist() == [20, 100, 200]


def test_missing_path(tmp_path):
    p = tmp_path / "nope"
    assert message(imf.load_folder, p, 8) == (
        f"the image folder {p} does not exist: give the path of a folder with one subfolder of images per class."
    )


def test_a_file_is_not_a_folder(tmp_path):
    p = png(tmp_path / "one.png")
    assert message(imf.load_folder, p, 8) == f"{p} is a file, not a folder: give a folder with one subfolder of images per class."


def test_empty_folder(tmp_path):
    p = tmp_path / "empty"
    p.mkdir()
    (p / ".DS_Store").write_text("x")  # clutter does not count
    assert message(imf.load_folder, p, 8) == (
        f"the image folder {p} is empty: put each class's images in its own subfolder (for example cats/ and dogs/)."
    )


def test_images_without_class_subfolders(tmp_path):
    p = tmp_path / "flat"
    png(p / "a.png")
    assert message(imf.load_folder, p, 8) == (
        f"the image folder {p} has images but no class subfolders: put each class's images in its own subfolder "
        "(for example cats/ and dogs/)."
    )


def test_one_class_only(tmp_path):
    p = folder(tmp_path / "one", classes=("cats",))
    assert message(imf.load_folder, p, 8) == (
        f"the image folder {p} has only one class (cats): a classifier needs at least two subfolders of images."
    )


def test_class_with_no_images(tmp_path):
    p = folder(tmp_path / "pics")
    (p / "birds").mkdir()
    assert message(imf.load_folder, p, 8) == "the class folder birds/ has no images: add some images to it or remove it."


def test_class_with_only_non_images(tmp_path):
    p = folder(tmp_path / "pics")
    (p / "birds").mkdir()
    (p / "birds" / "readme.txt").write_text("birds go here")
    assert message(imf.load_folder, p, 8) == (
        "the class folder birds/ has no readable images (1 file(s), none of them an image): add some images to it."
    )


def test_corrupt_and_non_image_files_are_skipped_counted_and_named(tmp_path):
    p = folder(tmp_path / "pics")
    (p / "cats" / "notes.txt").write_text("not a picture")
    good = (p / "dogs" / "0.png").read_bytes()
    (p / "dogs" / "broken.png").write_bytes(good[: len(good) // 2])  # truncated
    (p / "dogs" / "fake.jpg").write_bytes(b"\xff\xd8\xff garbage")
    png(p / "loose.png")  # not in a class folder
    out = imf.load_folder(p, 8)
    assert len(out.y) == 8
    assert out.skipped == ["cats/notes.txt", "dogs/broken.png", "dogs/fake.jpg"]
    assert out.warnings == [
        "ignored 1 file(s) directly in pics/ (not in a class subfolder).",
        "skipped 3 file(s) that are not readable images: cats/notes.txt, dogs/broken.png, dogs/fake.jpg.",
    ]


def test_warning_names_five_then_counts(tmp_path):
    p = folder(tmp_path / "pics")
    for i in range(7):
        (p / "cats" / f"bad{i}.txt").write_text("x")
    out = imf.load_folder(p, 8)
    assert out.warnings == [
        ("skipped 7 file(s) that are not readable images: cats/bad0.txt, cats/bad1.txt, cats/bad2.txt, cats/bad3.txt, "
        "cats/bad4.txt and 2 more.")
    ]


def test_huge_image_is_resized(tmp_path):
    p = folder(tmp_path / "pics")
    Image.new("RGB", (2400, 1600), (10, 250, 10)).save(p / "cats" / "huge.jpg", quality=90)
    out = imf.load_folder(p, 16)
    i = out.files.index("cats/huge.jpg")
    assert out.x[i].shape == (3, 16, 16)
    r, g, b = out.x[i, :, 8, 8].tolist()
    assert g > 230 and r < 30 and b < 30


def test_too_many_pixels_is_skipped(tmp_path, monkeypatch):
    p = folder(tmp_path / "pics")
    png(p / "cats" / "big.png", size=(50, 50))
    monkeypatch.setattr(imf, "MAX_PIXELS", 49 * 49)
    out = imf.load_folder(p, 8)
    assert out.skipped == ["cats/big.png"]


def test_grayscale_rgba_palette_become_rgb(tmp_path):
    p = folder(tmp_path / "pics")
    png(p / "cats" / "gray.png", 100, mode="L")
    png(p / "cats" / "clear.png", (0, 0, 0, 0), mode="RGBA")  # fully transparent: white, not black
    png(p / "cats" / "half.png", (0, 0, 255, 255), mode="RGBA")
    pal = Image.new("P", (10, 10), 1)
    pal.putpalette([0, 0, 0, 5, 6, 7] + [0] * 762)
    pal.save(p / "dogs" / "pal.gif")
    png(p / "dogs" / "cmyk.jpg", (0, 0, 0, 0), mode="CMYK")
    out = imf.load_folder(p, 4)
    px = {f: out.x[i, :, 2, 2].tolist() for i, f in enumerate(out.files)}
    assert px["cats/gray.png"] == [100, 100, 100]
    assert px["cats/clear.png"] == [255, 255, 255]
    assert px["cats/half.png"] == [0, 0, 255]
    assert px["dogs/pal.gif"] == [5, 6, 7]
    assert px["dogs/cmyk.jpg"] == [255, 255, 255]
    assert out.skipped == []


def test_non_square_is_centre_cropped(tmp_path):
    p = folder(tmp_path / "pics")
    im = Image.new("RGB", (30, 10), (255, 0, 0))
    im.paste((0, 0, 255), (10, 0, 20, 10))  # blue middle third
    im.save(p / "cats" / "wide.png")
    out = imf.load_folder(p, 6)
    x = out.x[out.files.index("cats/wide.png")]
    assert x[:, 3, 3].tolist() == [0, 0, 255]  # the crop keeps the centre


def test_hidden_files_and_folders_are_ignored(tmp_path):
    p = folder(tmp_path / "pics")
    png(p / ".thumbs" / "x.png")
    png(p / "cats" / ".hidden.png")
    (p / "dogs" / "Thumbs.db").write_bytes(b"\0")
    out = imf.load_folder(p, 8)
    assert out.classes == ["cats", "dogs"] and len(out.y) == 8 and out.skipped == []


def test_decoded_images_are_cached_until_files_change(tmp_path):
    p = folder(tmp_path / "pics")
    a = imf.load_folder(p, 8)
    assert imf.load_folder(p, 8) is a
    png(p / "cats" / "new.png")
    b = imf.load_folder(p, 8)
    assert b is not a and len(b.y) == 9


# ---- zips ----


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def png_bytes(colour=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buf, "PNG")
    return buf.getvalue()


def test_zip_of_a_folder_unpacks_into_its_class_root(tmp_path):
    data = zip_bytes({f"pets/{c}/{i}.png": png_bytes() for c in ("cats", "dogs") for i in range(3)} | {"__MACOSX/._x": b"x"})
    root = imf.unpack_zip(data, tmp_path / "out")
    assert root == (tmp_path / "out" / "pets").resolve()
    assert imf.load_folder(root, 8).classes == ["cats", "dogs"]


def test_zip_path_escape_is_refused(tmp_path):
    data = zip_bytes({"cats/0.png": png_bytes(), "../evil.png": png_bytes()})
    assert message(imf.unpack_zip, data, tmp_path / "out") == "the zip was refused: the entry '../evil.png' points outside its folder."
    assert not (tmp_path / "evil.png").exists()


def test_zip_absolute_path_is_refused(tmp_path):
    data = zip_bytes({"/etc/evil.png": png_bytes()})
    assert message(imf.unpack_zip, data, tmp_path / "out") == "the zip was refused: the entry '/etc/evil.png' points outside its folder."


def test_zip_symlink_is_refused(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        info = zipfile.ZipInfo("cats/link.png")
        info.external_attr = (0o120777 << 16)
        z.writestr(info, "/etc/passwd")
    assert message(imf.unpack_zip, buf.getvalue(), tmp_path / "out") == "the zip was refused: the entry 'cats/link.png' is a link, not a file."


def test_zip_over_the_upload_limit_is_refused(tmp_path):
    data = zip_bytes({"cats/0.png": png_bytes(), "dogs/0.png": png_bytes()})
    assert message(imf.unpack_zip, data, tmp_path / "out", 100) == (
        f"the zip is {len(data) / 1048576:.1f} MB, over the 0.0 MB upload limit: zip fewer or smaller images."
    )


def test_zip_that_unpacks_over_the_limit_is_refused(tmp_path):
    data = zip_bytes({"cats/zeros.bin": bytes(3 * 1024 * 1024)})  # compresses to a few KB
    assert len(data) < 1024 * 1024
    assert message(imf.unpack_zip, data, tmp_path / "out", 1024 * 1024) == (
        "the zip unpacks to 3.0 MB, over the 1.0 MB limit: zip fewer or smaller images."
    )
    assert not (tmp_path / "out").exists()


def test_not_a_zip(tmp_path):
    assert message(imf.unpack_zip, b"hello", tmp_path / "out") == (
        "the uploaded file is not a readable zip: zip a folder with one subfolder of images per class."
    )


def test_upload_unpacks_once_under_its_checksum(tmp_path, monkeypatch):
    monkeypatch.setenv("CLASSROOM_DATA", str(tmp_path / "data"))
    data = zip_bytes({f"{c}/{i}.png": png_bytes() for c in ("a", "b") for i in range(3)})
    root = imf.unpack_upload(data)
    assert root.parent == tmp_path / "data" / "uploads"
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == ["a", "b"]
    (root / "a" / "0.png").unlink()  # a second upload of the same zip does not unpack again
    assert imf.unpack_upload(data) == root and not (root / "a" / "0.png").exists()
