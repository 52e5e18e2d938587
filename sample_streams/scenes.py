"""Scene composition: subjects, per-camera street backgrounds, the pass schedule and each frame.

A frame has two bands so subjects never cover each other: people walk across the upper band
(pavement in front of buildings) and vehicles drive through the lower band (road), approaching
the camera. The schedule is a pure function of the seed, so the ground truth can be computed
without rendering and tests can ask where everything is in any frame (:func:`placements`).
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from recognition.types import Box
from sample_streams.render import PlateColour, Sprite
from sightline.errors import InputError

__all__ = [
    "PORTRAITS",
    "CameraPlan",
    "Pass",
    "Placement",
    "SubjectSpec",
    "compose_frame",
    "load_portrait",
    "placements",
    "plan_cameras",
    "portrait_sprite",
    "railing_span",
    "street_background",
]

FloatArray = NDArray[np.float32]
RGB = NDArray[np.uint8]
Kind = Literal["face", "vehicle"]

# Portrait name -> (crop x1, y1, x2, y2 in the original, face box inside the crop). The face box was
# drawn by hand over the frontal face (brows to chin, cheek to cheek); faces fill ~41% of the crop
# height, so a 175–235 px bust gives a 72–97 px face.
PORTRAITS: dict[str, tuple[tuple[int, int, int, int], Box]] = {
    "skimage.data.astronaut": ((85, 10, 365, 280), Box(98, 62, 190, 177)),
    "matplotlib.sample_data.grace_hopper": ((90, 40, 430, 440), Box(80, 110, 275, 282)),
}

_PERSON_H = (175, 235)  # bust height in a 480-px frame; scaled with the frame height
_VEHICLE_SCALE = (0.55, 1.0)  # of the sprite's half size: plate 82 px → 148 px wide
_LEAD_S = 1.0  # every clip starts with this much empty street
_GAP_S = 0.3
_MIN_PASS_S = 1.2
_PREF_PASS_S = 4.0


@dataclass(frozen=True, slots=True)
class SubjectSpec:
    """Someone or something that walks or drives through the scenes."""

    id: str
    kind: Kind
    portrait: str | None = None
    plate_text: str | None = None
    plate_colour: PlateColour | None = None
    body_rgb: tuple[int, int, int] | None = None


@dataclass(frozen=True, slots=True)
class Pass:
    """One subject crossing one camera's view between two frames (inclusive)."""

    subject_id: str
    kind: Kind
    first_frame: int
    last_frame: int
    direction: int  # +1 left to right, -1 right to left
    size0: float  # people: bust height px; vehicles: sprite scale
    size1: float
    gain0: float  # lighting: multiplies the subject's pixels
    gain1: float
    blur_from: float  # part of the pass (0..1) that is mildly blurred
    blur_to: float
    blur_sigma: float
    bob_phase: float


@dataclass(frozen=True, slots=True)
class CameraPlan:
    """Everything needed to render one camera's clip."""

    camera_id: str
    index: int
    seed: int
    fps: int
    frames: int
    width: int
    height: int
    passes: tuple[Pass, ...]


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a subject is in one frame (frame pixels, may extend past the edges)."""

    subject_id: str
    kind: Kind
    box: Box
    face_box: Box | None = None
    plate_box: Box | None = None
    scale: float = 1.0
    gain: float = 1.0
    blur_sigma: float = 0.0


def load_portrait(name: str) -> RGB:
    """The original public-domain portrait (RGB) shipped in scikit-image or matplotlib."""
    if name == "skimage.data.astronaut":
        data: Any = importlib.import_module("skimage.data")  # untyped package
        return np.ascontiguousarray(data.astronaut(), dtype=np.uint8)
    if name == "matplotlib.sample_data.grace_hopper":
        from matplotlib import cbook

        path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
        with Image.open(str(path)) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    raise InputError(f"unknown portrait {name!r}; known: {', '.join(PORTRAITS)}")


@lru_cache(maxsize=4)
def portrait_sprite(name: str) -> Sprite:
    """The head and shoulders of a portrait with a feathered bust-shaped alpha, and its face box."""
    (x1, y1, x2, y2), face = PORTRAITS[name]
    rgb = load_portrait(name)[y1:y2, x1:x2]
    h, w = rgb.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    fcx, fcy = face.center
    cv2.ellipse(
        mask,
        (round(fcx), round(fcy - 0.1 * face.height)),
        (round(0.78 * face.width), round(0.8 * face.height)),
        0,
        0,
        360,
        255,
        -1,
    )
    top = round(face.y2 - 0.05 * face.height)
    cv2.rectangle(mask, (round(0.06 * w), top + round(0.15 * h)), (w - 1 - round(0.06 * w), h - 1), 255, -1)
    cv2.ellipse(
        mask,
        (w // 2, top + round(0.15 * h)),
        (w // 2 - round(0.06 * w), round(0.15 * h)),
        0,
        180,
        360,
        255,
        -1,
    )
    alpha = cv2.GaussianBlur(mask, (0, 0), 3.0)
    return Sprite(np.dstack([rgb, alpha]).astype(np.uint8), face_box=face)


def street_background(index: int, seed: int, width: int, height: int) -> RGB:
    """A static street: sky, buildings with windows, pavement, a road with lane markings, texture.

    Different per camera (colours, building layout, vanishing point) and deterministic in the seed.
    """
    rng = np.random.default_rng([seed, index, 101])
    img = np.zeros((height, width, 3), np.float32)
    ys = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    sky_top = rng.uniform([90, 140, 190], [140, 180, 235])
    sky_bot = rng.uniform([190, 205, 215], [225, 230, 240])
    img[:] = (sky_top * (1 - ys) + sky_bot * ys)[:, None, :].reshape(height, 1, 3)
    band = height // 2
    x = 0
    while x < width:
        bw = int(rng.integers(width // 8, width // 4))
        top = int(rng.integers(round(0.02 * height), round(0.22 * height)))
        colour = rng.uniform(70, 200, 3)
        img[top:band, x : x + bw] = colour
        win = colour * rng.uniform(0.45, 0.7)
        for wy in range(top + 10, band - 30, 22):
            for wx in range(x + 8, x + bw - 14, 18):
                lit = rng.random() < 0.15
                img[wy : wy + 12, wx : wx + 9] = (230, 220, 160) if lit else win
        x += bw + int(rng.integers(0, width // 20))
    pave = round(0.42 * height)
    img[pave:band] = rng.uniform(150, 180) * np.array([1.0, 0.98, 0.94])
    for px in range(int(rng.integers(0, 40)), width, 40):
        img[pave:band, px : px + 1] *= 0.8
    road = rng.uniform(85, 110)
    ramp = np.linspace(0.85, 1.1, height - band, dtype=np.float32)[:, None, None]
    img[band:] = road * ramp * np.ones((1, width, 3), np.float32)
    img[band : band + 4] = 60
    vx = width / 2 + rng.uniform(-0.15, 0.15) * width
    canvas = np.clip(img, 0, 255).astype(np.uint8)
    for lane in (-1.2, -0.4, 0.4, 1.2):
        for k in range(0, 12, 2):
            t0, t1 = k / 12, (k + 1) / 12
            p0 = (round(vx + lane * width * t0), round(band + (height - band) * t0))
            p1 = (round(vx + lane * width * t1), round(band + (height - band) * t1))
            cv2.line(canvas, p0, p1, (225, 225, 210), max(1, round(1 + 5 * t1)), cv2.LINE_AA)
    texture = np.asarray(
        cv2.GaussianBlur(rng.normal(0.0, 6.0, canvas.shape).astype(np.float32), (0, 0), 1.2), dtype=np.float32
    )
    out: RGB = np.clip(canvas.astype(np.float32) + texture, 0, 255).astype(np.uint8)
    return out


def railing_span(index: int, seed: int, width: int) -> tuple[int, int]:
    """Where a low planter stands in front of the pavement: it hides the shoulders of passers-by."""
    rng = np.random.default_rng([seed, index, 202])
    x1 = int(rng.integers(round(0.1 * width), round(0.5 * width)))
    return x1, x1 + round(rng.uniform(0.2, 0.35) * width)


def plan_cameras(
    subjects: list[SubjectSpec], seed: int, cameras: int, seconds: float, fps: int, width: int, height: int
) -> list[CameraPlan]:
    """Schedule passes so every subject crosses at least two cameras (when there are two).

    Each band (people, vehicles) holds one subject at a time; a camera shows a subject at most once,
    so no frame ever holds two instances of one subject. The first second of every clip is empty.
    """
    rng = np.random.default_rng([seed, 303])
    frames = round(seconds * fps)
    avail = frames / fps - _LEAD_S - 0.3
    per_cam: list[list[Pass]] = [[] for _ in range(cameras)]
    for kind in ("face", "vehicle"):
        group = [s for s in subjects if s.kind == kind]
        n = len(group)
        if n == 0:
            continue
        need = math.ceil(2 * n / cameras) if cameras >= 2 else n
        pref = int(avail // (_PREF_PASS_S + _GAP_S))
        k = min(n, max(need, pref))
        slot = avail / k if k else 0.0
        if slot < _MIN_PASS_S + _GAP_S:
            shortest = _LEAD_S + 0.3 + k * (_MIN_PASS_S + _GAP_S)
            raise InputError(
                f"clips of {seconds} s are too short for {cameras} cameras: need ≥ {shortest:.1f} s"
            )
        offset = int(rng.integers(n))
        for cam in range(cameras):
            for j in range(k):
                subject = group[(offset + cam * k + j) % n]
                length = min(_PREF_PASS_S, slot - _GAP_S)
                t0 = _LEAD_S + j * slot + rng.uniform(0.0, slot - _GAP_S - length)
                first = math.ceil(t0 * fps)
                last = min(frames - 1, first + round(length * fps) - 1)
                sizes = (
                    sorted(rng.uniform(*_PERSON_H, 2) * height / 480, reverse=bool(rng.integers(2)))
                    if kind == "face"
                    else [_VEHICLE_SCALE[0] + rng.uniform(0, 0.1), _VEHICLE_SCALE[1]]
                )
                blur_from = rng.uniform(0.0, 0.6)
                per_cam[cam].append(
                    Pass(
                        subject_id=subject.id,
                        kind=kind,
                        first_frame=first,
                        last_frame=last,
                        direction=1 if rng.integers(2) else -1,
                        size0=float(sizes[0]),
                        size1=float(sizes[1]),
                        gain0=float(rng.uniform(0.7, 1.15)),
                        gain1=float(rng.uniform(0.7, 1.15)),
                        blur_from=float(blur_from),
                        blur_to=float(blur_from + rng.uniform(0.15, 0.35)),
                        blur_sigma=float(rng.uniform(0.7, 1.2)),
                        bob_phase=float(rng.uniform(0, 2 * math.pi)),
                    )
                )
    return [
        CameraPlan(
            camera_id=f"cam-{i + 1:02d}",
            index=i,
            seed=seed,
            fps=fps,
            frames=frames,
            width=width,
            height=height,
            passes=tuple(sorted(per_cam[i], key=lambda p: (p.first_frame, p.subject_id))),
        )
        for i in range(cameras)
    ]


def _lerp(a: float, b: float, u: float) -> float:
    return a + (b - a) * u


def _place(plan: CameraPlan, p: Pass, sprite: Sprite, frame: int) -> Placement:
    u = (frame - p.first_frame) / max(1, p.last_frame - p.first_frame)
    W, H = plan.width, plan.height
    if p.kind == "face":
        h = _lerp(p.size0, p.size1, u)
        scale = h / sprite.height
    else:
        scale = _lerp(p.size0, p.size1, u) * 0.5 * H / 480
    rw, rh = max(1, round(sprite.width * scale)), max(1, round(sprite.height * scale))
    w0 = sprite.width * scale if p.kind == "face" else sprite.width * p.size0 * 0.5 * H / 480
    w1 = sprite.width * scale if p.kind == "face" else sprite.width * p.size1 * 0.5 * H / 480
    start, end = 0.15 * w0, W - 0.15 * w1
    if p.kind == "vehicle":
        start, end = 0.3 * w0, W - 0.3 * w1
    if p.direction < 0:
        start, end = W - start, W - end
    cx = _lerp(start, end, u)
    if p.kind == "face":
        bottom = H / 2 + 2.0 * math.sin(p.bob_phase + 2 * math.pi * 1.8 * (frame / plan.fps))
    else:
        bottom = _lerp(0.86, 0.99, u) * H
    x1, y1 = round(cx - rw / 2), round(bottom - rh)
    sx, sy = rw / sprite.width, rh / sprite.height

    def to_frame(b: Box | None) -> Box | None:
        if b is None:
            return None
        return Box(x1 + b.x1 * sx, y1 + b.y1 * sy, x1 + b.x2 * sx, y1 + b.y2 * sy)

    blurred = p.blur_from <= u <= p.blur_to
    return Placement(
        subject_id=p.subject_id,
        kind=p.kind,
        box=Box(x1, y1, x1 + rw, y1 + rh),
        face_box=to_frame(sprite.face_box),
        plate_box=to_frame(sprite.plate_box),
        scale=scale,
        gain=_lerp(p.gain0, p.gain1, u),
        blur_sigma=p.blur_sigma if blurred else 0.0,
    )


def placements(plan: CameraPlan, sprites: dict[str, Sprite], frame: int) -> list[Placement]:
    """Every subject visible in ``frame`` with its exact boxes (people first, then vehicles)."""
    out = [
        _place(plan, p, sprites[p.subject_id], frame)
        for p in plan.passes
        if p.first_frame <= frame <= p.last_frame
    ]
    return sorted(out, key=lambda pl: pl.kind)


def _blend(canvas: NDArray[np.float32], rgba: NDArray[np.uint8], x1: int, y1: int, gain: float) -> None:
    H, W = canvas.shape[:2]
    h, w = rgba.shape[:2]
    cx1, cy1, cx2, cy2 = max(0, x1), max(0, y1), min(W, x1 + w), min(H, y1 + h)
    if cx1 >= cx2 or cy1 >= cy2:
        return
    patch = rgba[cy1 - y1 : cy2 - y1, cx1 - x1 : cx2 - x1].astype(np.float32)
    alpha = patch[..., 3:4] / 255.0
    canvas[cy1:cy2, cx1:cx2] = (
        canvas[cy1:cy2, cx1:cx2] * (1 - alpha) + np.clip(patch[..., :3] * gain, 0, 255) * alpha
    )


@lru_cache(maxsize=1)  # 25 MB at 640×480; clips are written one camera at a time
def _noise_bank(seed: int, index: int, height: int, width: int) -> NDArray[np.float32]:
    """Seven frames of unit sensor noise, cycled: drawing fresh noise per frame doubled the render
    time, and a 7-frame cycle against a 12-frame GOP never repeats at the same keyframe phase soon."""
    rng = np.random.default_rng([seed, index, 606])
    return rng.standard_normal((7, height, width, 3), np.float32)


def _draw_railing(canvas: NDArray[np.float32], plan: CameraPlan) -> None:
    """The planter in front of the pavement, drawn over people and under vehicles."""
    x1, x2 = railing_span(plan.index, plan.seed, plan.width)
    y2, h = plan.height // 2, round(0.05 * plan.height)
    canvas[y2 - h : y2, x1:x2] = (70, 96, 58)
    canvas[y2 - h : y2 - h + 3, x1:x2] = (48, 70, 40)


def compose_frame(
    plan: CameraPlan, background: RGB, sprites: dict[str, Sprite], frame: int, noise_sigma: float = 2.5
) -> tuple[RGB, list[Placement]]:
    """Render one frame (RGB) and say what is where in it.

    Subjects are scaled with area interpolation, lit by their pass's gain, mildly blurred for part
    of the pass; the planter hides the shoulders of people behind it; sensor noise goes on last.
    """
    canvas = background.astype(np.float32)
    placed = placements(plan, sprites, frame)
    railing_drawn = False
    for pl in placed:
        if pl.kind == "vehicle" and not railing_drawn:
            _draw_railing(canvas, plan)
            railing_drawn = True
        sprite = sprites[pl.subject_id]
        rw, rh = round(pl.box.width), round(pl.box.height)
        interp = cv2.INTER_AREA if rw < sprite.width else cv2.INTER_LINEAR
        rgba = np.asarray(cv2.resize(sprite.rgba, (rw, rh), interpolation=interp), dtype=np.uint8)
        if pl.blur_sigma > 0:
            rgba = np.asarray(cv2.GaussianBlur(rgba, (0, 0), pl.blur_sigma), dtype=np.uint8)
        _blend(canvas, rgba, round(pl.box.x1), round(pl.box.y1), pl.gain)
    if not railing_drawn:
        _draw_railing(canvas, plan)
    bank = _noise_bank(plan.seed, plan.index, plan.height, plan.width)
    canvas += bank[frame % len(bank)] * noise_sigma
    out: RGB = np.clip(canvas, 0, 255).astype(np.uint8)
    return out, placed
