"""Write a sample set: one H.264 clip per camera, reference photos, cameras.csv, ground_truth.json.

Layout of ``out_dir``::

    clips/cam-01.mp4 …      640×480, 12 fps, H.264 yuv420p, a keyframe every second
    queries/person-1.jpg …  the unmodified portrait (a different view from the clips' busts);
                            vehicles get a clean render of their front
    cameras.csv             id, name, lat, lon, url (absolute clip path), tags (';'-separated)
    ground_truth.json       see :mod:`sample_streams.ground_truth`
"""

from __future__ import annotations

import csv
import importlib
import logging
import math
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

from recognition.types import Box
from sample_streams.ground_truth import (
    Appearance,
    Clip,
    GroundTruth,
    KeyframeBox,
    Subject,
    save_ground_truth,
)
from sample_streams.render import (
    PlateColour,
    Sprite,
    find_cjk_font,
    random_plate_text,
    render_plate,
    render_vehicle,
)
from sample_streams.scenes import (
    CameraPlan,
    Placement,
    SubjectSpec,
    compose_frame,
    load_portrait,
    placements,
    plan_cameras,
    portrait_sprite,
    street_background,
)
from sightline.errors import InputError, NotFound, StreamError
from sightline.settings import Settings

__all__ = [
    "DEFAULT_SEED",
    "FPS",
    "FRAME_SIZE",
    "SamplePlan",
    "build_subjects",
    "make_samples",
    "plan_samples",
    "subject_sprites",
]

log = logging.getLogger(__name__)

DEFAULT_SEED = 7
FPS = 12
FRAME_SIZE = (640, 480)
# Clips are recorded one after another along a route, so a subject's appearances form a trajectory.
_BASE_TIME = datetime(2024, 5, 18, 8, 0, 0, tzinfo=UTC)
_CENTRE = (29.56, 106.55)  # Chongqing
_BODY_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (178, 34, 34),
    "white": (226, 228, 230),
    "silver": (150, 155, 162),
    "black": (36, 36, 40),
    "yellow": (222, 180, 40),
    "dark blue": (30, 50, 110),
}
_VEHICLE_PLATES: tuple[PlateColour, ...] = ("blue", "green", "yellow")
_VEHICLE_BODIES = ("red", "white", "silver")
_TAGS = ("street", "junction", "school", "market", "bridge", "station", "park", "hospital")


def build_subjects(seed: int) -> list[SubjectSpec]:
    """Two people (the two portraits) and three vehicles: blue and green Chongqing plates, a yellow one."""
    rng = np.random.default_rng([seed, 404])
    people = [
        SubjectSpec("person-1", "face", portrait="skimage.data.astronaut"),
        SubjectSpec("person-2", "face", portrait="matplotlib.sample_data.grace_hopper"),
    ]
    vehicles = []
    for i, (colour, body) in enumerate(zip(_VEHICLE_PLATES, _VEHICLE_BODIES, strict=True)):
        province = "渝" if colour != "yellow" else None
        vehicles.append(
            SubjectSpec(
                f"vehicle-{i + 1}",
                "vehicle",
                plate_text=random_plate_text(rng, colour, province),
                plate_colour=colour,
                body_rgb=_BODY_COLOURS[body],
            )
        )
    return people + vehicles


def subject_sprites(subjects: list[SubjectSpec], settings: Settings) -> dict[str, Sprite]:
    """The image each subject is drawn from, with its face or plate box."""
    font = None
    sprites: dict[str, Sprite] = {}
    for s in subjects:
        if s.kind == "face" and s.portrait is not None:
            sprites[s.id] = portrait_sprite(s.portrait)
        elif s.plate_text is not None and s.plate_colour is not None and s.body_rgb is not None:
            font = font or find_cjk_font(settings.models)
            sprites[s.id] = render_vehicle(render_plate(s.plate_text, s.plate_colour, font), s.body_rgb)
    return sprites


def _body_name(rgb: tuple[int, int, int] | None) -> str | None:
    return next((name for name, v in _BODY_COLOURS.items() if v == rgb), None)


def _box(b: Box | None) -> tuple[float, float, float, float] | None:
    if b is None:
        return None
    return (round(b.x1, 2), round(b.y1, 2), round(b.x2, 2), round(b.y2, 2))


def _req_box(b: Box) -> tuple[float, float, float, float]:
    return (round(b.x1, 2), round(b.y1, 2), round(b.x2, 2), round(b.y2, 2))


def _write_clip(path: Path, plan: CameraPlan, sprites: dict[str, Sprite], start: datetime, bar: Any) -> None:
    background = street_background(plan.index, plan.seed, plan.width, plan.height)
    try:
        with av.open(str(path), mode="w") as container:
            container.metadata["creation_time"] = start.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
            stream = container.add_stream(
                "libx264",
                rate=plan.fps,
                options={
                    "g": str(plan.fps),
                    "keyint_min": str(plan.fps),
                    "sc_threshold": "0",
                    "bf": "0",
                    "crf": "20",
                    "preset": "veryfast",
                    # one thread: identical bytes for identical input on any machine
                    "threads": "1",
                },
            )
            stream.width, stream.height, stream.pix_fmt = plan.width, plan.height, "yuv420p"
            # Not stream.time_base: the MP4 muxer changes it once the header is written.
            frame_tb = Fraction(1, plan.fps)
            stream.time_base = frame_tb
            for i in range(plan.frames):
                rgb, _ = compose_frame(plan, background, sprites, i)
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                frame.pts = i
                frame.time_base = frame_tb
                for packet in stream.encode(frame):
                    container.mux(packet)
                if bar is not None:
                    bar.update(1)
            for packet in stream.encode(None):
                container.mux(packet)
    except av.FFmpegError as exc:
        raise StreamError(f"cannot write {path}: {exc}") from exc


def _appearances(plan: CameraPlan, sprites: dict[str, Sprite], start: datetime) -> list[Appearance]:
    out = []
    for p in plan.passes:
        keyframes = []
        for f in range(math.ceil(p.first_frame / plan.fps) * plan.fps, p.last_frame + 1, plan.fps):
            pl = next(x for x in placements(plan, sprites, f) if x.subject_id == p.subject_id)
            keyframes.append(
                KeyframeBox(
                    t=f / plan.fps,
                    frame=f,
                    box=_req_box(pl.box),
                    face_box=_box(pl.face_box),
                    plate_box=_box(pl.plate_box),
                )
            )
        t0, t1 = p.first_frame / plan.fps, p.last_frame / plan.fps
        out.append(
            Appearance(
                subject_id=p.subject_id,
                camera_id=plan.camera_id,
                t_start=round(t0, 6),
                t_end=round(t1, 6),
                first_frame=p.first_frame,
                last_frame=p.last_frame,
                start=start + timedelta(seconds=round(t0, 6)),
                end=start + timedelta(seconds=round(t1, 6)),
                keyframes=tuple(keyframes),
            )
        )
    return out


def _write_queries(out_dir: Path, subjects: list[SubjectSpec], sprites: dict[str, Sprite]) -> dict[str, str]:
    qdir = out_dir / "queries"
    qdir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for s in subjects:
        rel = f"queries/{s.id}.jpg"
        if s.portrait is not None:
            Image.fromarray(load_portrait(s.portrait)).save(out_dir / rel, quality=95)
        else:
            rgba = Image.fromarray(sprites[s.id].rgba, "RGBA")
            flat = Image.new("RGB", rgba.size, (128, 128, 128))
            flat.paste(rgba, (0, 0), rgba)
            flat.resize((rgba.width // 2, rgba.height // 2), Image.Resampling.LANCZOS).save(
                out_dir / rel, quality=95
            )
        paths[s.id] = rel
    return paths


def _write_cameras_csv(out_dir: Path, clips: list[Clip], seed: int) -> None:
    rng = np.random.default_rng([seed, 505])
    with (out_dir / "cameras.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "name", "lat", "lon", "url", "tags"])
        for i, clip in enumerate(clips):
            lat = _CENTRE[0] + rng.uniform(-0.02, 0.02)
            lon = _CENTRE[1] + rng.uniform(-0.02, 0.02)
            tag = _TAGS[i % len(_TAGS)]
            name = f"Sample {tag} {i + 1}"
            url = str((out_dir / clip.file).resolve())
            writer.writerow([clip.camera_id, name, f"{lat:.6f}", f"{lon:.6f}", url, f"sample;{tag}"])


@dataclass(frozen=True, slots=True)
class SamplePlan:
    """A sample set before any file is written: subjects, their sprites, and each camera's schedule.

    Everything here follows from the seed, so the ground truth and the exact position of every face
    and plate in every frame are known without decoding the clips.
    """

    seed: int
    subjects: tuple[SubjectSpec, ...]
    sprites: dict[str, Sprite]
    cameras: tuple[CameraPlan, ...]
    starts: tuple[datetime, ...]

    def camera(self, camera_id: str) -> CameraPlan:
        for plan in self.cameras:
            if plan.camera_id == camera_id:
                return plan
        raise NotFound(f"no camera {camera_id!r} in this sample set")

    def placements(self, camera_id: str, frame: int) -> list[Placement]:
        """Every subject in ``frame`` of a camera's clip, with its box, face box or plate box."""
        return placements(self.camera(camera_id), self.sprites, frame)

    def ground_truth(self) -> GroundTruth:
        clips = [
            Clip(
                camera_id=plan.camera_id,
                file=f"clips/{plan.camera_id}.mp4",
                start=start,
                fps=plan.fps,
                width=plan.width,
                height=plan.height,
                frames=plan.frames,
                duration_s=plan.frames / plan.fps,
                gop=plan.fps,
            )
            for plan, start in zip(self.cameras, self.starts, strict=True)
        ]
        appearances = [
            a
            for plan, start in zip(self.cameras, self.starts, strict=True)
            for a in _appearances(plan, self.sprites, start)
        ]
        return GroundTruth(
            seed=self.seed,
            clips=tuple(clips),
            subjects=tuple(
                Subject(
                    id=s.id,
                    kind=s.kind,
                    portrait=s.portrait,
                    query_image=f"queries/{s.id}.jpg",
                    plate_text=s.plate_text,
                    plate_colour=s.plate_colour,
                    body_colour=_body_name(s.body_rgb),
                )
                for s in self.subjects
            ),
            appearances=tuple(sorted(appearances, key=lambda a: (a.start, a.camera_id, a.subject_id))),
        )


def plan_samples(
    settings: Settings, seed: int = DEFAULT_SEED, cameras: int = 4, seconds: float = 12.0
) -> SamplePlan:
    """Plan a sample set (cheap: renders the sprites, no video)."""
    if not 1 <= cameras <= 32:
        raise InputError(f"cameras must be 1..32, got {cameras}")
    if not 3.0 <= seconds <= 600.0:
        raise InputError(f"seconds must be 3..600, got {seconds}")
    subjects = build_subjects(seed)
    sprites = subject_sprites(subjects, settings)
    width, height = FRAME_SIZE
    plans = plan_cameras(subjects, seed, cameras, seconds, FPS, width, height)
    stride = max(60, math.ceil(seconds) + 10)
    starts = tuple(_BASE_TIME + timedelta(seconds=p.index * stride) for p in plans)
    return SamplePlan(seed, tuple(subjects), sprites, tuple(plans), starts)


def make_samples(
    out_dir: Path,
    settings: Settings,
    seed: int = DEFAULT_SEED,
    cameras: int = 4,
    seconds: float = 12.0,
    progress: bool = True,
) -> GroundTruth:
    """Generate the sample set into ``out_dir`` and return its ground truth (also written as JSON).

    Deterministic in ``seed``: the same arguments give the same ground truth and the same frames.
    """
    plan = plan_samples(settings, seed, cameras, seconds)
    gt = plan.ground_truth()
    out_dir = Path(out_dir)
    (out_dir / "clips").mkdir(parents=True, exist_ok=True)
    # tqdm ships no type information and its stubs are not a dependency: use it as Any.
    tqdm: Any = importlib.import_module("tqdm").tqdm
    total = sum(c.frames for c in gt.clips)
    with tqdm(total=total, unit="frame", desc="samples", disable=not progress, file=sys.stderr) as bar:
        for cam, clip, start in zip(plan.cameras, gt.clips, plan.starts, strict=True):
            log.debug("writing %s", clip.file)
            _write_clip(out_dir / clip.file, cam, plan.sprites, start, bar)
    _write_queries(out_dir, list(plan.subjects), plan.sprites)
    _write_cameras_csv(out_dir, list(gt.clips), seed)
    save_ground_truth(gt, out_dir / "ground_truth.json")
    log.info("wrote %d clips, %d appearances to %s", len(gt.clips), len(gt.appearances), out_dir)
    return gt
