"""Hour 10's drawing pad: the student draws a glyph with the mouse (or a finger) and the exported model names it.

`pad(key)` shows a square canvas (streamlit-drawable-canvas, freehand, dark ink on white) and returns the drawing
as an RGBA array, or None before the first stroke.
`drawing_picture` turns that into the picture the model gets; `name_drawing` is what the page shows: the top
classes with their probabilities, through export.predict_image, the same path as an uploaded file.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from engine.models import export

PAD_SIZE = 280  # the pad's side in screen pixels; the whole pad is the model's frame, as an uploaded picture is
PAD_STROKE = 24  # pen width: about 9% of the pad, as thick as the training glyphs' strokes (7-12% of the frame)
INK = 128  # a pixel darker than this (0-255, once the drawing lies on white paper) is ink
MIN_INK = 20  # fewer ink pixels than this is a click or a speck, not a glyph
EMPTY_PAD = ("The pad is empty: draw one of the target glyphs on it with the mouse (or a finger), "
             "and the model will name it.")


def pad(key: str):
    """Show the pad; the drawing on it as an (H, W, 4) RGBA array, or None before the first stroke. A new key is a
    new, empty pad (the page's Clear button).

    streamlit-drawable-canvas is imported here, not at the top: it registers its component when imported, which
    only works inside a running app (`streamlit run`, AppTest), so a plain import of this module stays possible."""
    from streamlit_drawable_canvas import st_canvas

    return st_canvas(stroke_width=PAD_STROKE, stroke_color="#000000", background_color="#ffffff", width=PAD_SIZE,
                     height=PAD_SIZE, drawing_mode="freedraw", return_image_data=True, key=key).image_data


def drawing_picture(drawing):
    """The pad's drawing -> a greyscale PIL image, dark ink on white paper; None when nothing is drawn on it.

    `drawing` is what the pad returns: an (H, W, 4) RGBA array (RGB or grey work too). Transparent pixels are
    paper: dropping the alpha channel of a transparent background would turn the paper black. Nothing is cropped
    or moved: like the target glyphs, a drawing's size and place in the frame are part of what it is."""
    if drawing is None:
        return None
    a = np.asarray(drawing, dtype=np.float32)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[0] == 0 or a.shape[1] == 0 or a.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"a drawing is an (height, width, channels) picture, not an array of shape {a.shape}.")
    grey = a[..., :3].mean(-1) if a.shape[2] >= 3 else a[..., 0]
    if a.shape[2] in (2, 4):  # lay the drawing on white paper
        alpha = a[..., -1] / 255.0
        grey = grey * alpha + 255.0 * (1 - alpha)
    if int((grey < INK).sum()) < MIN_INK:
        return None
    return Image.fromarray(grey.round().clip(0, 255).astype(np.uint8))  # 2-D uint8: an "L" picture


def name_drawing(model, drawing, classes: list[str], image_size: int, k: int = 3):
    """What the page shows for the pad: (the picture the model got, [(class, probability)] of its k best guesses,
    most likely first), or None for an empty pad (the page says EMPTY_PAD instead)."""
    picture = drawing_picture(drawing)
    if picture is None:
        return None
    probs = export.predict_image(model, picture, classes, image_size)
    return picture, sorted(probs.items(), key=lambda kv: -kv[1])[:k]


def top_lines(top: list[tuple[str, float]]) -> str:
    """The answer as markdown: the best guess in bold, then the numbered top k."""
    best, p = top[0]
    many = {2: "two", 3: "three", 4: "four", 5: "five"}.get(len(top), str(len(top)))
    return (f"The model says **{best}** ({p:.0%} sure). The top {many}:\n\n"
            + "\n".join(f"{i}. {c}: {q:.1%}" for i, (c, q) in enumerate(top, 1)))
