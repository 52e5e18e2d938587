"""Rendering of Chinese licence plates and of the vehicle fronts that carry them.

Plates follow the layout of GA 36 (mm): a blue or yellow plate is 440×140 with seven 45×90
characters, 12 apart, and a 34 gap holding a dot between the issuing letter and the serial; a green
new-energy plate is 480×140 with eight 43×90 characters. Characters are stretched to fill their cell
as the narrow plate typeface does, and every glyph keeps a margin inside the white or dark border:
text clipped at the edge misreads (渝 → 榆) and a border too close to the text reads as a stray
character (models/README.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from models import model_path
from models.settings import ModelSettings
from recognition.plate_grammar import DIGITS, LETTERS, PROVINCES, PlateFormat, plate_format
from recognition.types import Box
from sightline.errors import ModelError

__all__ = [
    "PROVINCES",
    "PlateColour",
    "PlateImage",
    "Sprite",
    "find_cjk_font",
    "is_valid_plate",
    "plate_colour_ok",
    "random_plate_text",
    "render_plate",
    "render_vehicle",
]

log = logging.getLogger(__name__)

PlateColour = Literal["blue", "green", "yellow"]

_LETTERS = LETTERS
_DIGITS = DIGITS
_RENDERABLE = {PlateFormat.STANDARD, PlateFormat.NEW_ENERGY_SMALL}

# Debian packages that ship a CJK font, tried when the prepared model cache has none.
_FALLBACK_FONTS = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
)

_MM_PLATE: dict[str, tuple[int, int]] = {"blue": (440, 140), "yellow": (440, 140), "green": (480, 140)}
_BG: dict[str, tuple[int, int, int]] = {"blue": (12, 68, 190), "yellow": (240, 186, 20)}
_FG: dict[str, tuple[int, int, int]] = {
    "blue": (250, 250, 250),
    "yellow": (15, 15, 15),
    "green": (15, 15, 15),
}


def is_valid_plate(text: str) -> bool:
    """A standard plate (province, letter, five alphanumerics without I/O) or a small new-energy one
    (province, letter, D/F, alphanumeric, four digits): the two layouts this module draws."""
    return plate_format(text) in _RENDERABLE


def plate_colour_ok(text: str, colour: PlateColour) -> bool:
    """Green plates carry eight characters, blue and yellow seven."""
    return len(text) == (8 if colour == "green" else 7)


def random_plate_text(rng: np.random.Generator, colour: PlateColour, province: str | None = None) -> str:
    """A grammatically valid plate; serials hold at most two letters, as issued plates mostly do."""
    prov = province if province is not None else PROVINCES[int(rng.integers(len(PROVINCES)))]
    letter = _LETTERS[int(rng.integers(len(_LETTERS)))]
    if colour == "green":
        serial = "DF"[int(rng.integers(2))] + "".join(_DIGITS[int(rng.integers(10))] for _ in range(5))
    else:
        chars = [_DIGITS[int(rng.integers(10))] for _ in range(5)]
        for pos in rng.choice(5, size=int(rng.integers(0, 3)), replace=False):
            chars[int(pos)] = _LETTERS[int(rng.integers(len(_LETTERS)))]
        serial = "".join(chars)
    text = prov + letter + serial
    if not is_valid_plate(text):  # guards the generator against itself
        raise ValueError(f"generated an invalid plate {text!r}")
    return text


def find_cjk_font(models: ModelSettings) -> Path:
    """The prepared Noto CJK font, else a Debian CJK font; a clear error when there is none."""
    try:
        return model_path(models, "cjk_font")
    except ModelError as exc:
        for path in _FALLBACK_FONTS:
            if path.is_file():
                log.info("prepared CJK font missing; using %s", path)
                return path
        tried = ", ".join(str(p) for p in _FALLBACK_FONTS)
        raise ModelError(f"no CJK font to render plates: {exc}; also tried {tried}") from exc


@lru_cache(maxsize=4)
def _font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size)


@dataclass(frozen=True, slots=True)
class PlateImage:
    """A rendered plate (RGB uint8) and the ink box of each character, in plate pixels."""

    text: str
    colour: PlateColour
    image: NDArray[np.uint8]
    char_boxes: tuple[Box, ...]
    border: Box


@dataclass(frozen=True, slots=True)
class Sprite:
    """An RGBA image to composite and the boxes of interest inside it (sprite pixels)."""

    rgba: NDArray[np.uint8]
    face_box: Box | None = None
    plate_box: Box | None = None

    @property
    def width(self) -> int:
        return int(self.rgba.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgba.shape[0])


def _glyph(ch: str, font_path: Path, cell_w: int, cell_h: int) -> Image.Image:
    """One character as an 'L' mask filling its cell's height, squeezed only if it is too wide."""
    font = _font(font_path, 200)
    left, top, right, bottom = (round(v) for v in font.getbbox(ch))
    # Plate typefaces are heavier than Noto Regular: a stroke of 5 px at 200 px thickens it.
    canvas = Image.new("L", (right - left + 20, bottom - top + 20), 0)
    ImageDraw.Draw(canvas).text(
        (10 - left, 10 - top), ch, font=font, fill=255, stroke_width=5, stroke_fill=255
    )
    ink = canvas.getbbox()
    if ink is None:
        raise ValueError(f"font {font_path} has no glyph for {ch!r}")
    canvas = canvas.crop(ink)
    h = cell_h
    w = max(1, round(canvas.width * cell_h / canvas.height))
    if ch in PROVINCES:
        w = cell_w  # Chinese glyphs are drawn condensed to the full cell on plates.
    w = min(w, cell_w)
    return canvas.resize((w, h), Image.Resampling.LANCZOS)


def render_plate(text: str, colour: PlateColour, font_path: Path, px_per_mm: float = 1.0) -> PlateImage:
    """Draw ``text`` as a plate of ``colour`` at ``px_per_mm`` (1.0 gives 440×140 px for blue)."""
    if not is_valid_plate(text) or not plate_colour_ok(text, colour):
        raise ValueError(f"not a valid {colour} plate: {text!r}")
    mm_w, mm_h = _MM_PLATE[colour]
    W, H = round(mm_w * px_per_mm), round(mm_h * px_per_mm)

    def px(v: float) -> int:
        return round(v * px_per_mm)

    if colour == "green":
        top, bot = np.array([236, 250, 236], float), np.array([60, 190, 90], float)
        ramp = np.linspace(0.0, 1.0, H)[:, None, None]
        arr = (top * (1 - ramp) + bot * ramp).repeat(W, axis=1).astype(np.uint8)
        img = Image.fromarray(arr, "RGB")
    else:
        img = Image.new("RGB", (W, H), _BG[colour])
    draw = ImageDraw.Draw(img)
    fg = _FG[colour]
    border = Box(px(3), px(3), W - px(3), H - px(3))
    draw.rounded_rectangle(border.as_tuple(), radius=px(8), outline=fg, width=max(1, px(2)))

    n = len(text)
    cw, gap, sep = (43, 9, 22) if colour == "green" else (45, 12, 34)
    text_w = n * cw + (n - 2) * gap + sep
    x = (mm_w - text_w) / 2
    y0, ch_h = 25.0, 90.0
    boxes: list[Box] = []
    for i, ch in enumerate(text):
        glyph = _glyph(ch, font_path, px(cw), px(ch_h))
        gx = px(x) + (px(cw) - glyph.width) // 2
        gy = px(y0)
        img.paste(Image.new("RGB", glyph.size, fg), (gx, gy), glyph)
        boxes.append(Box(gx, gy, gx + glyph.width, gy + glyph.height))
        if i == 1:
            cx, cy, r = x + cw + sep / 2, mm_h / 2, 5
            draw.ellipse((px(cx - r), px(cy - r), px(cx + r), px(cy + r)), fill=fg)
            x += cw + sep
        else:
            x += cw + gap
    return PlateImage(text, colour, np.asarray(img, dtype=np.uint8).copy(), tuple(boxes), border)


def _shade(rgb: tuple[int, int, int], f: float) -> tuple[int, int, int]:
    r, g, b = (min(255, max(0, round(c * f))) for c in rgb)
    return (r, g, b)


def render_vehicle(plate: PlateImage, body: tuple[int, int, int], width: int = 760) -> Sprite:
    """A vehicle front (body, windscreen, grille, headlights, bumper) carrying ``plate``.

    A blue plate is pasted at 0.39 of the body width (wider than on a real car, so a 640-px frame can
    show a readable plate) on a flat recess that leaves a quiet margin around it.
    """
    W, H = width, round(width * 0.58)
    img = Image.new("RGBA", (W, H), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    dark, light = _shade(body, 0.6), _shade(body, 1.25)
    # wheels, then body, so the tyres peek out under the bumper
    for x1 in (0.07, 0.79):
        d.rounded_rectangle(
            (x1 * W, 0.82 * H, (x1 + 0.14) * W, H - 1), radius=0.02 * W, fill=(22, 22, 24, 255)
        )
    d.polygon(
        [(0.17 * W, 0.04 * H), (0.83 * W, 0.04 * H), (0.93 * W, 0.40 * H), (0.07 * W, 0.40 * H)],
        fill=(*body, 255),
    )
    d.polygon(
        [(0.21 * W, 0.08 * H), (0.79 * W, 0.08 * H), (0.87 * W, 0.37 * H), (0.13 * W, 0.37 * H)],
        fill=(52, 62, 78, 255),
    )
    d.polygon(
        [(0.55 * W, 0.09 * H), (0.66 * W, 0.09 * H), (0.50 * W, 0.36 * H), (0.42 * W, 0.36 * H)],
        fill=(88, 100, 118, 255),
    )
    for x1, x2 in ((0.0, 0.07), (0.93, 1.0)):
        d.rounded_rectangle((x1 * W, 0.30 * H, x2 * W, 0.40 * H), radius=0.01 * W, fill=(*dark, 255))
    d.rounded_rectangle((0.02 * W, 0.38 * H, 0.98 * W, 0.90 * H), radius=0.05 * W, fill=(*body, 255))
    d.line((0.04 * W, 0.41 * H, 0.96 * W, 0.41 * H), fill=(*light, 255), width=max(1, W // 200))
    for x1 in (0.06, 0.73):
        d.rounded_rectangle(
            (x1 * W, 0.45 * H, (x1 + 0.21) * W, 0.57 * H), radius=0.03 * W, fill=(30, 30, 34, 255)
        )
        d.ellipse(((x1 + 0.02) * W, 0.465 * H, (x1 + 0.10) * W, 0.555 * H), fill=(245, 243, 225, 255))
        d.ellipse(((x1 + 0.11) * W, 0.475 * H, (x1 + 0.18) * W, 0.545 * H), fill=(225, 225, 215, 255))
    d.rounded_rectangle((0.31 * W, 0.44 * H, 0.69 * W, 0.60 * H), radius=0.02 * W, fill=(34, 36, 40, 255))
    for k in range(5):
        y = (0.465 + 0.027 * k) * H
        d.line((0.33 * W, y, 0.67 * W, y), fill=(92, 95, 102, 255), width=max(1, W // 150))
    d.rounded_rectangle((0.03 * W, 0.62 * H, 0.97 * W, 0.90 * H), radius=0.04 * W, fill=(*dark, 255))

    # Same scale in mm for every plate: a green plate (480 mm) is wider than a blue one (440 mm).
    mm_w = plate.image.shape[1] * 140 / plate.image.shape[0]
    pw = round(0.39 * W * mm_w / 440)
    ph = round(pw * plate.image.shape[0] / plate.image.shape[1])
    px1, py1 = (W - pw) // 2, round(0.645 * H)
    margin = round(0.16 * ph)
    d.rectangle(
        (px1 - margin, py1 - margin, px1 + pw + margin, py1 + ph + margin), fill=(*_shade(body, 0.45), 255)
    )
    plate_img = Image.fromarray(plate.image, "RGB").resize((pw, ph), Image.Resampling.LANCZOS)
    img.paste(plate_img, (px1, py1))
    return Sprite(np.asarray(img, dtype=np.uint8).copy(), plate_box=Box(px1, py1, px1 + pw, py1 + ph))
