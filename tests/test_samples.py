"""Sample streams: clips decode as declared, the ground truth is consistent, faces and plates are findable.

One small set (2 cameras × 6 s) is generated once through the CLI and shared by the tests here.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from recognition.plate_grammar import is_valid_plate as grammar_valid
from sample_streams import GroundTruth, load_ground_truth, plan_samples
from sample_streams import render as render_mod
from sample_streams.render import find_cjk_font, random_plate_text, render_plate, render_vehicle
from sample_streams.scenes import load_portrait
from sightline.cli import main
from sightline.errors import InputError, ModelError, NotFound
from sightline.settings import Settings

CAMERAS, SECONDS = 2, 6.0


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    out = tmp_path_factory.mktemp("samples")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(
            ["samples", "make", str(out), "--cameras", str(CAMERAS), "--seconds", str(SECONDS), "--json"]
        )
    assert rc == 0
    yield out, json.loads(buf.getvalue())


@pytest.fixture(scope="module")
def gt(sample_dir: tuple[Path, dict[str, Any]]) -> GroundTruth:
    return load_ground_truth(sample_dir[0])


def _decode(path: Path, wanted: set[int]) -> dict[int, np.ndarray[Any, Any]]:
    out = {}
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                out[i] = frame.to_ndarray(format="bgr24")
    return out


def test_cli_summary_matches_ground_truth(sample_dir: tuple[Path, dict[str, Any]], gt: GroundTruth) -> None:
    _, summary = sample_dir
    assert summary["clips"] == CAMERAS == len(gt.clips)
    assert summary["appearances"] == len(gt.appearances)
    assert summary["seed"] == gt.seed == 7


def test_files_exist(sample_dir: tuple[Path, dict[str, Any]], gt: GroundTruth) -> None:
    out, _ = sample_dir
    assert (out / "ground_truth.json").is_file() and (out / "cameras.csv").is_file()
    for clip in gt.clips:
        assert (out / clip.file).stat().st_size > 10_000
    for subject in gt.subjects:
        assert subject.query_image is not None and (out / subject.query_image).is_file()


def test_clips_decode_as_declared(sample_dir: tuple[Path, dict[str, Any]], gt: GroundTruth) -> None:
    out, _ = sample_dir
    for clip in gt.clips:
        with av.open(str(out / clip.file)) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264"
            assert datetime.fromisoformat(container.metadata["creation_time"]) == clip.start
            keys, count = [], 0
            for i, frame in enumerate(container.decode(stream)):
                assert (frame.width, frame.height, frame.format.name) == (clip.width, clip.height, "yuv420p")
                if frame.key_frame:
                    keys.append(i)
                count += 1
        assert count == clip.frames == round(clip.duration_s * clip.fps)
        assert keys == list(range(0, clip.frames, clip.gop)) and clip.gop == clip.fps
        # Keyframe-only decoding gives one frame per second.
        with av.open(str(out / clip.file)) as container:
            stream = container.streams.video[0]
            stream.codec_context.skip_frame = "NONKEY"
            assert sum(1 for _ in container.decode(stream)) == math.ceil(clip.frames / clip.gop)


def test_ground_truth_consistent(gt: GroundTruth) -> None:
    clips = {c.camera_id: c for c in gt.clips}
    for a in gt.appearances:
        clip = clips[a.camera_id]
        assert 0 <= a.t_start <= a.t_end <= clip.duration_s
        assert clip.start <= a.start <= a.end
        assert a.keyframes, "every appearance spans at least one keyframe"
        assert a.first_frame >= clip.fps, "the first second of every clip is empty"
    for subject in gt.subjects:
        cameras = {a.camera_id for a in gt.appearances_of(subject.id)}
        assert len(cameras) >= 2, f"{subject.id} on {cameras}"
    kinds = [s.kind for s in gt.subjects]
    assert kinds.count("face") == 2 and kinds.count("vehicle") == 3
    plates = {s.plate_colour: s.plate_text for s in gt.subjects if s.kind == "vehicle"}
    assert set(plates) == {"blue", "green", "yellow"}
    assert all(t is not None and grammar_valid(t) for t in plates.values())


def test_same_seed_same_ground_truth(base_settings: Settings, gt: GroundTruth) -> None:
    assert plan_samples(base_settings, 7, CAMERAS, SECONDS).ground_truth() == gt
    other = plan_samples(base_settings, 8, CAMERAS, SECONDS).ground_truth()
    assert other != gt
    assert [s.plate_text for s in other.subjects] != [s.plate_text for s in gt.subjects]


def _shift_end(d: dict[str, Any]) -> None:
    d["appearances"][0]["t_end"] = 99.0


def _unknown_subject(d: dict[str, Any]) -> None:
    d["appearances"][0]["subject_id"] = "nobody"


def _bad_plate(d: dict[str, Any]) -> None:
    next(s for s in d["subjects"] if s["kind"] == "vehicle")["plate_text"] = "渝A1234I"


def _naive_time(d: dict[str, Any]) -> None:
    d["clips"][0]["start"] = "2024-05-18T08:00:00"


def _duplicate_camera(d: dict[str, Any]) -> None:
    d["clips"][1]["camera_id"] = d["clips"][0]["camera_id"]


def _future_schema(d: dict[str, Any]) -> None:
    d["schema_version"] = 2


def _abs_time_off(d: dict[str, Any]) -> None:
    d["appearances"][0]["start"] = "2030-01-01T00:00:00Z"


def _extra_key(d: dict[str, Any]) -> None:
    d["notes"] = "x"


@pytest.mark.parametrize(
    ("mutate", "raises"),
    [
        (None, None),
        (_shift_end, InputError),
        (_unknown_subject, InputError),
        (_bad_plate, InputError),
        (_naive_time, InputError),
        (_duplicate_camera, InputError),
        (_future_schema, InputError),
        (_abs_time_off, InputError),
        (_extra_key, InputError),
    ],
)
def test_ground_truth_validation(
    tmp_path: Path,
    sample_dir: tuple[Path, dict[str, Any]],
    mutate: Callable[[dict[str, Any]], None] | None,
    raises: type[Exception] | None,
) -> None:
    data = json.loads((sample_dir[0] / "ground_truth.json").read_text(encoding="utf-8"))
    if mutate is not None:
        mutate(data)
    path = tmp_path / "ground_truth.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    if raises is None:
        assert load_ground_truth(path).seed == 7
    else:
        with pytest.raises(raises):
            load_ground_truth(path)


def test_missing_ground_truth(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        load_ground_truth(tmp_path)


def test_cameras_csv(sample_dir: tuple[Path, dict[str, Any]], gt: GroundTruth) -> None:
    with (sample_dir[0] / "cameras.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["id"] for r in rows] == [c.camera_id for c in gt.clips]
    for row in rows:
        assert set(row) == {"id", "name", "lat", "lon", "url", "tags"}
        assert abs(float(row["lat"]) - 29.56) < 0.05 and abs(float(row["lon"]) - 106.55) < 0.05
        assert Path(row["url"]).is_file() and "sample" in row["tags"].split(";")


def test_query_is_the_unmodified_portrait(sample_dir: tuple[Path, dict[str, Any]], gt: GroundTruth) -> None:
    import cv2

    for s in gt.subjects:
        if s.kind != "face" or s.portrait is None or s.query_image is None:
            continue
        query = cv2.imread(str(sample_dir[0] / s.query_image))[:, :, ::-1]
        original = load_portrait(s.portrait)
        assert query.shape == original.shape
        assert np.abs(query.astype(int) - original).mean() < 3.0  # JPEG only


@pytest.mark.parametrize(
    ("colour", "size"), [("blue", (440, 140)), ("green", (480, 140)), ("yellow", (440, 140))]
)
def test_plate_rendering(base_settings: Settings, colour: Any, size: tuple[int, int]) -> None:
    font = find_cjk_font(base_settings.models)
    rng = np.random.default_rng(0)
    for _ in range(300):
        assert grammar_valid(random_plate_text(rng, colour))
    text = random_plate_text(rng, colour, "渝")
    plate = render_plate(text, colour, font)
    assert plate.image.shape == (size[1], size[0], 3)
    assert len(plate.char_boxes) == len(text) == (8 if colour == "green" else 7)
    # Every glyph sits inside the border with a margin: clipped or border-touching text misreads.
    b = plate.border
    for prev, box in zip(plate.char_boxes, plate.char_boxes[1:], strict=False):
        assert box.x1 >= prev.x2, "characters do not overlap"
    for box in plate.char_boxes:
        assert box.x1 >= b.x1 + 8 and box.x2 <= b.x2 - 8 and box.y1 >= b.y1 + 15 and box.y2 <= b.y2 - 15
        assert box.height == 90 and box.width >= 10
    big = render_plate(text, colour, font, px_per_mm=2.0)
    assert big.image.shape == (size[1] * 2, size[0] * 2, 3)


@pytest.mark.parametrize(
    ("text", "colour"), [("渝A1234I", "blue"), ("渝AD12345", "blue"), ("渝A12345", "green")]
)
def test_plate_rendering_rejects_invalid(base_settings: Settings, text: str, colour: Any) -> None:
    with pytest.raises(ValueError, match="not a valid"):
        render_plate(text, colour, find_cjk_font(base_settings.models))


def test_vehicle_plate_has_quiet_margin(base_settings: Settings) -> None:
    plate = render_plate("渝A12345", "blue", find_cjk_font(base_settings.models))
    sprite = render_vehicle(plate, (178, 34, 34))
    pb = sprite.plate_box
    assert pb is not None
    x1, y1, x2, y2 = (round(v) for v in pb.as_tuple())
    m = round(0.1 * pb.height)
    ring = np.concatenate(
        [
            sprite.rgba[y1 - m : y1, x1 - m : x2 + m].reshape(-1, 4),
            sprite.rgba[y2 : y2 + m, x1 - m : x2 + m].reshape(-1, 4),
            sprite.rgba[y1:y2, x1 - m : x1].reshape(-1, 4),
            sprite.rgba[y1:y2, x2 : x2 + m].reshape(-1, 4),
        ]
    )
    assert ring[:, :3].std(axis=0).max() < 1.0 and (ring[:, 3] == 255).all()


def test_missing_cjk_font_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render_mod, "_FALLBACK_FONTS", (tmp_path / "none.ttc",))
    models = Settings().models.model_copy(update={"cache_dir": tmp_path})
    with pytest.raises(ModelError, match="no CJK font"):
        find_cjk_font(models)


def test_invalid_arguments(base_settings: Settings) -> None:
    with pytest.raises(InputError):
        plan_samples(base_settings, cameras=0)
    with pytest.raises(InputError, match="too short"):
        plan_samples(base_settings, cameras=2, seconds=4.0)


@pytest.mark.slow
def test_faces_detected_mid_appearance(
    sample_dir: tuple[Path, dict[str, Any]], gt: GroundTruth, base_settings: Settings
) -> None:
    """MTCNN finds each face mid-appearance, and FaceNet matches it to its query photo, not the other one."""
    import cv2

    from recognition.facenet import FaceNetEmbedder
    from recognition.mtcnn import MtcnnDetector

    detector = MtcnnDetector.from_settings(base_settings)
    embedder = FaceNetEmbedder.from_settings(base_settings)
    plan = plan_samples(base_settings, gt.seed, CAMERAS, SECONDS)
    queries = {}
    for s in gt.subjects:
        if s.kind == "face" and s.query_image is not None:
            photo = cv2.imread(str(sample_dir[0] / s.query_image))
            queries[s.id] = embedder.embed(photo, detector.detect(photo)[:1]).vectors[0]
    threshold = base_settings.search.face_min_similarity
    for clip in gt.clips:
        faces = [
            a
            for a in gt.appearances
            if a.camera_id == clip.camera_id and gt.subject(a.subject_id).kind == "face"
        ]
        mids = {(a.first_frame + a.last_frame) // 2: a for a in faces}
        frames = _decode(sample_dir[0] / clip.file, set(mids))
        for f, a in mids.items():
            placed = next(p for p in plan.placements(clip.camera_id, f) if p.subject_id == a.subject_id)
            assert placed.face_box is not None and placed.face_box.height >= 70
            found = [d for d in detector.detect(frames[f]) if d.box.iou(placed.face_box) > 0.4]
            assert found, f"no face for {a.subject_id} in {clip.camera_id} frame {f}"
            cx, cy = found[0].box.center
            assert placed.box.x1 <= cx <= placed.box.x2 and placed.box.y1 <= cy <= placed.box.y2
            vec = embedder.embed(frames[f], found[:1]).vectors[0]
            sims = {sid: float(vec @ q) for sid, q in queries.items()}
            assert max(sims, key=lambda k: sims[k]) == a.subject_id and sims[a.subject_id] > threshold, sims


@pytest.mark.slow
def test_plates_read_back(
    sample_dir: tuple[Path, dict[str, Any]], gt: GroundTruth, base_settings: Settings
) -> None:
    from recognition.ppocr_rec import PpocrPlateReader

    reader = PpocrPlateReader.from_settings(base_settings)
    plan = plan_samples(base_settings, gt.seed, CAMERAS, SECONDS)
    for clip in gt.clips:
        vehicles = [
            a
            for a in gt.appearances
            if a.camera_id == clip.camera_id and gt.subject(a.subject_id).kind == "vehicle"
        ]
        best = {}
        for a in vehicles:
            # the frame where the plate is largest while fully in view with a margin
            candidates = []
            for f in range(a.first_frame, a.last_frame + 1):
                pb = next(
                    p for p in plan.placements(clip.camera_id, f) if p.subject_id == a.subject_id
                ).plate_box
                assert pb is not None
                if pb.x1 >= 8 and pb.x2 <= clip.width - 8 and pb.y2 <= clip.height - 8:
                    candidates.append((pb.width, f, pb))
            assert candidates, f"{a.subject_id} never shows its whole plate on {clip.camera_id}"
            width, f, pb = max(candidates, key=lambda c: (c[0], c[1]))
            assert width >= 140 and pb.height >= 45
            best[f] = (a, pb)
        frames = _decode(sample_dir[0] / clip.file, set(best))
        for f, (a, pb) in best.items():
            m = 0.15 * pb.height
            crop = frames[f][round(pb.y1 - m) : round(pb.y2 + m), round(pb.x1 - m) : round(pb.x2 + m)]
            read = reader.read([np.ascontiguousarray(crop)])[0]
            assert read.text == gt.subject(a.subject_id).plate_text, f"{clip.camera_id} frame {f}"
