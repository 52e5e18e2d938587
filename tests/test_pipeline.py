"""The ingest pipeline on clips generated here, with small real detectors written for these clips.

The fakes implement the recognition protocols with simple algorithms that work on the generated
scenes: faces and plates are found by their difference from a flat background or by their plate
colour, faces are described by a normalised grey thumbnail. Vehicle appearance uses the real
colour-layout descriptor and face quality the real measure. The end-to-end test at the bottom
uses the real backends built from the settings.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest
from numpy.typing import NDArray
from skimage import data as skdata

from ingest.pipeline import IngestPipeline, IngestReport
from recognition.base import FaceDetector, FaceEmbedder, Image, PlateLocator, VehicleEmbedder
from recognition.types import Box, Embeddings, FaceDetection, PlateDetection, PlateRead
from recognition.vehicle_descriptor import ColorLayoutEmbedder
from search.records import NewSighting, SightingKind
from sightline.errors import ModelError
from sightline.settings import Settings

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
W, H, FPS = 320, 240, 10
BACKGROUND = (40, 90, 40)
PLATE_BGR = (200, 70, 20)


# -- fakes implementing the protocols -------------------------------------------------------------


def _components(mask: NDArray[np.uint8], min_area: int) -> list[Box]:
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
    boxes = []
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        if area >= min_area:
            boxes.append(Box(float(x), float(y), float(x + w), float(y + h)))
    return sorted(boxes, key=lambda b: b.x1)


class BlobFaceDetector:
    """Faces are whatever differs from the flat background; landmarks sit where a frontal face's are."""

    def __init__(self, fail_at_call: int | None = None) -> None:
        self.calls = 0
        self._fail_at = fail_at_call

    def detect(self, image: Image) -> list[FaceDetection]:
        self.calls += 1
        if self._fail_at is not None and self.calls >= self._fail_at:
            raise ModelError("face detector failed")
        diff = np.abs(image.astype(np.int16) - np.array(BACKGROUND, np.int16)).max(axis=2)
        mask = (diff > 40).astype(np.uint8)
        faces = []
        for b in _components(mask, min_area=400):
            rel = np.array([[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.35, 0.8], [0.65, 0.8]], np.float32)
            landmarks = np.array([b.x1, b.y1], np.float32) + rel * np.array([b.width, b.height], np.float32)
            faces.append(FaceDetection(box=b, score=0.99, landmarks=landmarks))
        return faces

    def detect_batch(self, images: Sequence[Image]) -> list[list[FaceDetection]]:
        return [self.detect(i) for i in images]


class ThumbnailEmbedder:
    """A face is its 8x8 grey thumbnail, mean-removed and L2-normalised; counts its batched calls."""

    dim = 64

    def __init__(self) -> None:
        self.batches: list[int] = []

    def embed(self, image: Image, faces: Sequence[FaceDetection]) -> Embeddings:
        return self.embed_many([(image, f) for f in faces])

    def embed_many(self, items: Sequence[tuple[Image, FaceDetection]]) -> Embeddings:
        self.batches.append(len(items))
        rows = []
        for image, face in items:
            b = face.box
            patch = cv2.cvtColor(image[int(b.y1) : int(b.y2), int(b.x1) : int(b.x2)], cv2.COLOR_BGR2GRAY)
            thumb = cv2.resize(patch, (8, 8), interpolation=cv2.INTER_AREA).astype(np.float32).ravel()
            rows.append(thumb - thumb.mean())
        return Embeddings.normalised(np.array(rows, np.float32).reshape(len(items), self.dim))


class ColourPlateLocator:
    """Plates are rectangles of the plate colour; this scene has one plate, read as ``text``."""

    def __init__(self, text: str) -> None:
        self._text = text

    def find(self, image: Image) -> list[PlateDetection]:
        diff = np.abs(image.astype(np.int16) - np.array(PLATE_BGR, np.int16)).max(axis=2)
        found = []
        for b in _components((diff < 30).astype(np.uint8), min_area=200):
            corners = np.array([[b.x1, b.y1], [b.x2, b.y1], [b.x2, b.y2], [b.x1, b.y2]], np.float32)
            read = PlateRead(self._text, tuple(0.95 for _ in self._text))
            found.append(PlateDetection(box=b, corners=corners, read=read))
        return found


class ListSink:
    """Keeps sightings in memory, with the analysed-frame count at the moment each was written."""

    def __init__(self, detector: BlobFaceDetector | None = None) -> None:
        self.sightings: list[NewSighting] = []
        self.written_at_call: list[int] = []
        self._detector = detector

    def add_sighting(self, s: NewSighting) -> int:
        self.sightings.append(s)
        self.written_at_call.append(self._detector.calls if self._detector else -1)
        return len(self.sightings)


def test_fakes_implement_the_protocols() -> None:
    assert isinstance(BlobFaceDetector(), FaceDetector)
    assert isinstance(ThumbnailEmbedder(), FaceEmbedder)
    assert isinstance(ColourPlateLocator("京A12345"), PlateLocator)
    assert isinstance(ColorLayoutEmbedder(), VehicleEmbedder)


# -- generated clips ------------------------------------------------------------------------------


def _faces() -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    astronaut_rgb: NDArray[np.uint8] = skdata.astronaut()  # type: ignore[no-untyped-call]
    camera_grey: NDArray[np.uint8] = skdata.camera()  # type: ignore[no-untyped-call]
    astronaut = cv2.cvtColor(astronaut_rgb[30:190, 160:300], cv2.COLOR_RGB2BGR)
    camera = cv2.cvtColor(camera_grey[40:200, 170:310], cv2.COLOR_GRAY2BGR)
    return (
        np.asarray(cv2.resize(astronaut, (64, 72)), np.uint8),
        np.asarray(cv2.resize(camera, (64, 72)), np.uint8),
    )


def _write(path: Path, frames: Sequence[NDArray[np.uint8]]) -> Path:
    with av.open(str(path), "w", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.codec_context.options = {"preset": "ultrafast", "crf": "18"}
        for i, img in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def faces_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """7 s: the astronaut crosses 0-2 s, nobody 2-4.5 s, the cameraman crosses 4.5-7 s."""
    astronaut, cameraman = _faces()
    frames = []
    for i in range(7 * FPS):
        t = i / FPS
        img = np.full((H, W, 3), BACKGROUND, np.uint8)
        if t <= 2.0:
            x = int(20 + 40 * t)
            img[60:132, x : x + 64] = astronaut
        elif t >= 4.5:
            x = int(220 - 40 * (t - 4.5))
            img[80:152, x : x + 64] = cameraman
        frames.append(img)
    return _write(tmp_path_factory.mktemp("clips") / "faces.mp4", frames)


@pytest.fixture(scope="module")
def vehicle_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s: a red car front with a blue plate drives down the frame."""
    frames = []
    for i in range(3 * FPS):
        img = np.full((H, W, 3), (128, 128, 128), np.uint8)
        y = int(40 + 12 * i / FPS)
        img[y : y + 110, 80:240] = (30, 30, 180)
        img[y + 75 : y + 95, 130:190] = PLATE_BGR
        frames.append(img)
    return _write(tmp_path_factory.mktemp("clips") / "car.mp4", frames)


def _pipeline(
    settings: Settings, sink: ListSink, detector: BlobFaceDetector, embedder: ThumbnailEmbedder | None = None
) -> IngestPipeline:
    return IngestPipeline(
        settings,
        detector,
        embedder or ThumbnailEmbedder(),
        ColourPlateLocator("京A12345"),
        ColorLayoutEmbedder(),
        sink,
    )


# -- tests ----------------------------------------------------------------------------------------


def test_one_sighting_per_person_written_as_each_track_ends(settings: Settings, faces_clip: Path) -> None:
    detector = BlobFaceDetector()
    sink = ListSink(detector)
    embedder = ThumbnailEmbedder()
    report = _pipeline(settings, sink, detector, embedder).ingest_file(faces_clip, "cam-1", START)
    assert report.error is None
    assert (report.frames_decoded, report.frames_analysed) == (70, 14)
    assert report.faces == 10 and report.plates == 0
    assert report.sightings_written == 2 and report.sighting_ids == [1, 2]
    first, second = sink.sightings
    assert all(s.kind is SightingKind.FACE and s.camera_id == "cam-1" for s in sink.sightings)
    assert (first.first_seen - START).total_seconds() == 0.0
    assert (first.last_seen - START).total_seconds() == 2.0
    assert (second.first_seen - START).total_seconds() == 4.5
    assert (second.last_seen - START).total_seconds() == 6.5
    assert first.source == str(faces_clip)
    # The astronaut's track ended (2 s without a match) before the cameraman's frames were analysed
    # to the end: it was written mid-file, not held until the end.
    assert sink.written_at_call[0] < detector.calls
    # Faces were embedded in batches gathered across frames, never more than face_batch at once.
    assert max(embedder.batches) <= settings.ingest.face_batch and sum(embedder.batches) == 10
    decoded = cv2.imdecode(np.frombuffer(first.crop_jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None and decoded.shape[0] > 72 and decoded.shape[1] > 64
    assert first.embedding is not None and second.embedding is not None
    assert float(first.embedding @ second.embedding) < 0.5
    assert 0.3 <= first.quality <= 1.0


def test_vehicle_sighting_has_plate_colour_and_appearance(settings: Settings, vehicle_clip: Path) -> None:
    detector = BlobFaceDetector()
    sink = ListSink(detector)
    report = _pipeline(settings, sink, detector).ingest_file(vehicle_clip, "cam-2", START)
    # The grey road is no face for this detector: everything differs from its green background,
    # so it reports one frame-sized "face" per frame; the car is what this test is about.
    vehicles = [s for s in sink.sightings if s.kind is SightingKind.VEHICLE]
    assert report.plates == 6 and len(vehicles) == 1
    car = vehicles[0]
    assert car.plate is not None and car.plate.text == "京A12345"
    assert car.color == "red"
    assert car.embedding is not None and car.embedding.shape == (ColorLayoutEmbedder().dim,)
    assert (car.last_seen - car.first_seen).total_seconds() == 2.5


def test_a_stream_that_breaks_keeps_the_sightings_before_it(
    settings: Settings, faces_clip: Path, tmp_path: Path
) -> None:
    data = faces_clip.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.75)])
    detector = BlobFaceDetector()
    sink = ListSink(detector)
    report = _pipeline(settings, sink, detector).ingest_file(cut, "cam-1", START)
    assert report.error is not None and "cut.mp4" in report.error
    assert 0 < report.frames_decoded < 70
    assert report.sightings_written == len(sink.sightings) >= 1
    assert (sink.sightings[0].last_seen - START).total_seconds() == 2.0


def test_a_crash_mid_file_keeps_what_was_written(settings: Settings, faces_clip: Path) -> None:
    """A backend failing at the 12th analysed frame (5.5 s) propagates, after the first person was stored."""
    detector = BlobFaceDetector(fail_at_call=12)
    sink = ListSink(detector)
    with pytest.raises(ModelError):
        _pipeline(settings, sink, detector).ingest_file(faces_clip, "cam-1", START)
    assert len(sink.sightings) == 1 and (sink.sightings[0].last_seen - START).total_seconds() == 2.0


def test_report_serialises(settings: Settings, vehicle_clip: Path) -> None:
    report = _pipeline(settings, ListSink(), BlobFaceDetector()).ingest_file(vehicle_clip, "cam-2", START)
    as_dict = report.as_dict()
    assert as_dict["camera_id"] == "cam-2" and as_dict["error"] is None
    assert set(as_dict) == set(IngestReport.__dataclass_fields__)


# -- end to end: real backends, real store, the CLI -----------------------------------------------


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One generated sample camera (8 s, two people and three vehicles passing)."""
    from sample_streams.make import make_samples
    from sightline.settings import load_settings

    out = tmp_path_factory.mktemp("samples")
    make_samples(out, load_settings(), cameras=1, seconds=8.0, progress=False)
    return out


def _ingest_cli(
    args: list[str], data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, Any], str]:
    from sightline.cli import main

    monkeypatch.setenv("SIGHTLINE_SEARCH__DATA_DIR", str(data_dir))
    rc = main(["ingest", *args, "--json"])
    captured = capsys.readouterr()
    return rc, json.loads(captured.out), captured.err


@pytest.mark.slow
def test_cli_ingests_a_sample_stream_with_the_real_backends(
    settings: Settings, sample_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """One sighting per person and per vehicle that passed, at the right times, with their plates."""
    from sample_streams.ground_truth import load_ground_truth
    from search.store import SightingStore

    gt = load_ground_truth(sample_dir / "ground_truth.json")
    clip = gt.clips[0]
    rc, report, _ = _ingest_cli(
        [str(sample_dir / clip.file), "--camera", clip.camera_id, "--start", clip.start.isoformat()],
        settings.search.data_dir,
        monkeypatch,
        capsys,
    )
    assert rc == 0 and report["error"] is None
    kinds = {s.id: s.kind for s in gt.subjects}
    truth = [a for a in gt.appearances if a.camera_id == clip.camera_id]
    with SightingStore.open(settings.search) as store:
        stored = sorted(store.get_sightings(report["sighting_ids"]).values(), key=lambda s: s.first_seen)
    assert len(stored) == len(truth) == report["sightings_written"]
    for kind in ("face", "vehicle"):
        want = sorted((a for a in truth if kinds[a.subject_id] == kind), key=lambda a: a.start)
        got = [s for s in stored if s.kind.value == kind]
        assert len(got) == len(want)
        for s, a in zip(got, want, strict=True):
            # Sampled at 2 fps: a sighting starts and ends within one sampling step of the truth.
            assert abs((s.first_seen - a.start).total_seconds()) <= 0.5
            assert abs((s.last_seen - a.end).total_seconds()) <= 0.5
            assert s.crop_path is not None and (settings.search.data_dir / s.crop_path).is_file()
    plates = {gt.subject(a.subject_id).plate_text for a in truth if kinds[a.subject_id] == "vehicle"}
    assert {s.plate_text for s in stored if s.kind is SightingKind.VEHICLE} == plates


@pytest.mark.slow
def test_cli_reports_a_broken_stream_and_keeps_its_sightings(
    settings: Settings,
    sample_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A recording cut off mid-write (index first, as recorders write for crash safety)."""
    whole = tmp_path / "whole.mp4"
    source = str(sample_dir / "clips" / "cam-01.mp4")
    with av.open(source) as inp, av.open(str(whole), "w", options={"movflags": "+faststart"}) as out:
        s_out = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = s_out
                out.mux(packet)
    data = whole.read_bytes()
    cut = tmp_path / "cam-01.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    rc, report, err = _ingest_cli([str(cut)], settings.search.data_dir, monkeypatch, capsys)
    assert rc == 1
    assert report["error"] is not None and report["camera_id"] == "cam-01"
    assert report["sightings_written"] >= 1
    assert f"{report['sightings_written']} sightings kept" in err


def test_a_file_that_is_no_video_is_reported(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("not a video\n" * 10)
    report = _pipeline(settings, ListSink(), BlobFaceDetector()).ingest_file(path, "cam-1", START)
    assert report.error is not None and "not a readable video" in report.error
    assert (report.frames_decoded, report.sightings_written) == (0, 0)
