"""A user-declared vehicle detector (``recognition.vehicle.detector = "onnx_yolo"``) used by ingest.

The detector is the TINY GENERATED ONNX GRAPH of tests/test_vehicle_onnx.py: it has the real YOLO I/O
signature ([1, 3, 64, 64] in, [1, N, 4+nc] out) but outputs a constant table of candidates (plus
0 × max(input)), which we write here to land on the vehicles drawn in the generated frames. It is
declared through a settings TOML exactly as a user would (a ``user_models`` entry with its path,
sha256, input size, class names and vehicle classes). Everything else is real: MTCNN, FaceNet,
PP-OCRv4 plate location and reading on rendered plates, the colour-layout descriptor, the tracker.
Both ingest paths are exercised, each building its models from the settings: ``IngestPipeline``
(files) and an in-process ``CameraWorker`` (live cameras; here a file camera).

The scene (1280×720): a silver car with plate 京A12345 that the detector finds, a red car without a
plate that the detector finds (also scored as a truck on the same box), a blue car with plate
沪B67890 that the detector misses, and a "person" box the detector reports, which is no vehicle.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from numpy.typing import NDArray
from test_vehicle_onnx import _detector_graph

from ingest.pipeline import IngestPipeline
from ingest.recognise import FrameRecogniser
from ingest.vehicles import (
    FULL_VEHICLE_PX,
    VehicleCandidate,
    attach_plates,
    distinct_vehicles,
    vehicle_candidates,
)
from ingest.worker import CameraWorker, SightingEvent, build_recogniser
from recognition.base import Image, VehicleDetector
from recognition.types import Box, PlateDetection, PlateRead, VehicleDetection
from recognition.vehicle_descriptor import ColorLayoutEmbedder
from recognition.vehicle_front import front_box_from_plate
from recognition.yolo_detector import OnnxYoloDetector, letterbox
from sample_streams.render import Sprite, find_cjk_font, render_plate, render_vehicle
from search.records import NewSighting, SightingKind
from sightline.errors import ConfigError
from sightline.settings import Settings, load_settings

W, H, FPS = 1280, 720, 10
START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
ROAD_BGR = (110, 112, 115)

CAR_A = Box(60, 420, 440, 640)  # silver, plate 京A12345, detected
CAR_B = Box(520, 460, 780, 620)  # red, no plate, detected (car and truck)
CAR_C = (860, 420)  # blue, plate 沪B67890, top-left corner; the detector misses it
PERSON = Box(600, 100, 680, 300)

# frame box, then person, car, truck scores
DETECTIONS: list[tuple[Box, tuple[float, float, float]]] = [
    (CAR_A, (0.0, 0.9, 0.0)),
    (CAR_B, (0.0, 0.85, 0.0)),
    (CAR_B, (0.0, 0.0, 0.6)),  # the same box scored as a truck: class-aware NMS keeps both
    (PERSON, (0.95, 0.3, 0.0)),  # most likely a person: never a vehicle
]


# -- the scene, the clip and the declared detector ------------------------------------------------


def _paste(frame: NDArray[np.uint8], sprite: Sprite, x: int, y: int) -> Box:
    """Alpha-blend the RGBA ``sprite`` onto the BGR ``frame`` at (x, y); its plate box in the frame."""
    rgba = sprite.rgba
    h, w = rgba.shape[:2]
    alpha = rgba[..., 3:4].astype(np.float32) / 255
    region = frame[y : y + h, x : x + w].astype(np.float32)
    blended = rgba[..., 2::-1].astype(np.float32) * alpha + region * (1 - alpha)
    frame[y : y + h, x : x + w] = np.round(blended).astype(np.uint8)
    assert sprite.plate_box is not None
    pb = sprite.plate_box
    return Box(pb.x1 + x, pb.y1 + y, pb.x2 + x, pb.y2 + y)


@pytest.fixture(scope="module")
def scene(base_settings: Settings) -> tuple[NDArray[np.uint8], Box, Box]:
    """The frame and the drawn plate boxes of the silver car and of the car the detector misses."""
    font = find_cjk_font(base_settings.models)
    frame = np.full((H, W, 3), ROAD_BGR, np.uint8)
    silver = render_vehicle(render_plate("京A12345", "blue", font), (200, 200, 205), width=380)
    plate_a = _paste(frame, silver, int(CAR_A.x1), int(CAR_A.y1))
    blue = render_vehicle(render_plate("沪B67890", "blue", font), (30, 60, 150), width=380)
    plate_c = _paste(frame, blue, *CAR_C)
    b = CAR_B
    cv2.rectangle(frame, (int(b.x1), int(b.y1)), (int(b.x2) - 1, int(b.y2) - 1), (30, 30, 180), -1)
    cv2.rectangle(frame, (int(b.x1) + 40, int(b.y1) + 15), (int(b.x2) - 40, int(b.y1) + 70), (60, 50, 45), -1)
    return frame, plate_a, plate_c


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory, scene: tuple[NDArray[np.uint8], Box, Box]) -> Path:
    """2 s of the scene standing still (parked cars): 4 analysed frames at the default 2 fps."""
    path = tmp_path_factory.mktemp("clips") / "cam-9.mp4"
    with av.open(str(path), "w", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.codec_context.options = {"preset": "ultrafast", "crf": "18"}
        for i in range(2 * FPS):
            frame = av.VideoFrame.from_ndarray(scene[0], format="bgr24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def _candidate_table() -> NDArray[np.float32]:
    """DETECTIONS as the graph's rows (cx, cy, w, h in 64×64 input pixels, then class scores)."""
    _, lb = letterbox(np.zeros((H, W, 3), np.uint8), 64, 64)
    rows = []
    for box, scores in DETECTIONS:
        cx, cy = box.center
        rows.append(
            [
                cx * lb.scale + lb.pad_x,
                cy * lb.scale + lb.pad_y,
                box.width * lb.scale,
                box.height * lb.scale,
                *scores,
            ]
        )
    return np.array(rows, dtype=np.float32)


def _toml(value: object) -> str:
    """A TOML value: JSON strings, numbers and arrays are valid TOML."""
    return json.dumps(value, ensure_ascii=False)


def _config(
    tmp_path: Path,
    detector: str | None = "onnx_yolo",
    detector_model: str | None = "tiny_yolo",
) -> Path:
    """A settings file declaring the tiny detector the way a deployment declares its own model."""
    model = tmp_path / "models" / "tiny_yolo.onnx"
    model.parent.mkdir(exist_ok=True)
    sha = _detector_graph(model, _candidate_table(), "anchors_first")
    lines = ["[search]", f"data_dir = {_toml(str(tmp_path / 'var'))}", "", "[recognition.vehicle]"]
    if detector is not None:
        lines.append(f"detector = {_toml(detector)}")
    if detector_model is not None:
        lines.append(f"detector_model = {_toml(detector_model)}")
    lines += [
        "",
        "[[recognition.vehicle.user_models]]",
        'key = "tiny_yolo"',
        'kind = "vehicle_detector"',
        f"path = {_toml(str(model))}",
        f"sha256 = {_toml(sha)}",
        "input_size = [64, 64]",
        'class_names = ["person", "car", "truck"]',
        'vehicle_classes = ["car", "truck"]',
        "",
    ]
    path = tmp_path / "sightline.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


class CountingDetector:
    """Implements the VehicleDetector protocol around another detector, counting its calls."""

    def __init__(self, inner: VehicleDetector) -> None:
        self.inner = inner
        self.calls = 0

    def detect(self, image: Image) -> list[VehicleDetection]:
        self.calls += 1
        return self.inner.detect(image)


class ListSink:
    """Keeps sightings in memory."""

    def __init__(self) -> None:
        self.sightings: list[NewSighting] = []

    def add_sighting(self, s: NewSighting) -> int:
        self.sightings.append(s)
        return len(self.sightings)


def _close(a: Box, b: Box, tol: float = 0.05) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a.as_tuple(), b.as_tuple(), strict=True))


# -- the merge rules, without models --------------------------------------------------------------


def _plate(box: Box, text: str = "京A12345", conf: float = 0.95) -> PlateDetection:
    corners = np.array([[box.x1, box.y1], [box.x2, box.y1], [box.x2, box.y2], [box.x1, box.y2]], np.float32)
    return PlateDetection(box=box, corners=corners, read=PlateRead(text, tuple(conf for _ in text)))


def _vehicle(box: Box, score: float = 0.9, label: str = "car") -> VehicleDetection:
    return VehicleDetection(box=box, score=score, label=label)


@pytest.mark.parametrize(
    ("plates", "vehicles", "owners"),
    [
        pytest.param([_plate(Box(40, 80, 60, 86))], [_vehicle(Box(0, 0, 100, 100))], [0], id="inside"),
        pytest.param([_plate(Box(140, 80, 160, 86))], [_vehicle(Box(0, 0, 100, 100))], [None], id="outside"),
        pytest.param(
            [_plate(Box(40, 80, 60, 86))],
            [_vehicle(Box(0, 0, 100, 90)), _vehicle(Box(10, 40, 120, 120))],
            [1],
            id="overlap-goes-to-the-nearer-lower-box",
        ),
        pytest.param(
            [_plate(Box(10, 80, 30, 86), conf=0.6), _plate(Box(60, 80, 80, 86), conf=0.9)],
            [_vehicle(Box(0, 0, 100, 100))],
            [None, 0],
            id="one-plate-per-vehicle-best-read-first",
        ),
    ],
)
def test_plates_attach_to_the_vehicle_box_that_holds_them(
    plates: list[PlateDetection], vehicles: list[VehicleDetection], owners: list[int | None]
) -> None:
    assert attach_plates(plates, vehicles) == owners


@pytest.mark.parametrize(
    ("detections", "kept"),
    [
        pytest.param(
            [_vehicle(Box(0, 0, 100, 60), 0.6, "truck"), _vehicle(Box(2, 0, 100, 60), 0.9, "car")],
            [("car", 0.9)],
            id="car-truck-twins-make-one-vehicle",
        ),
        pytest.param(
            [_vehicle(Box(0, 0, 100, 60), 0.9), _vehicle(Box(70, 0, 170, 60), 0.8, "bus")],
            [("car", 0.9), ("bus", 0.8)],
            id="neighbours-both-kept",
        ),
        pytest.param([_vehicle(Box(0, 0, 100, 20), 0.9)], [], id="too-small"),
    ],
)
def test_distinct_vehicles(detections: list[VehicleDetection], kept: list[tuple[str, float]]) -> None:
    assert [(d.label, d.score) for d in distinct_vehicles(detections)] == kept


def test_without_a_detector_every_plate_is_a_plate_anchored_front() -> None:
    """The exact behaviour from before detectors: front box and quality from the plate, plate order."""
    plates = [_plate(Box(300, 400, 350, 416), conf=0.8), _plate(Box(100, 300, 250, 348))]
    got = vehicle_candidates(640, 480, plates, None)
    want = [
        VehicleCandidate(front_box_from_plate(p.box, 640, 480), p.read, p.read.confidence * q, False)
        for p, q in zip(plates, (0.5, 1.0), strict=True)
    ]
    assert got == want
    assert vehicle_candidates(640, 480, plates, []) == want


def test_detected_quality_grows_with_score_size_and_a_readable_plate() -> None:
    big = Box(0, 0, FULL_VEHICLE_PX * 2, FULL_VEHICLE_PX)
    inside = _plate(Box(150, 150, 250, 180), conf=1.0)
    bare, plated = (
        vehicle_candidates(1000, 1000, [], [_vehicle(big, 0.8)]),
        vehicle_candidates(1000, 1000, [inside], [_vehicle(big, 0.8)]),
    )
    assert bare[0].quality == pytest.approx(0.4) and plated[0].quality == pytest.approx(0.8)
    # Half the saturating size halves it: a distant vehicle's crop ranks below a near one's.
    half = vehicle_candidates(1000, 1000, [], [_vehicle(Box(0, 0, FULL_VEHICLE_PX, FULL_VEHICLE_PX / 2))])
    assert half[0].quality == pytest.approx(0.9 * 0.5 * 0.5)


# -- FrameRecogniser and IngestPipeline with the declared detector --------------------------------


def test_declared_detector_is_built_and_its_vehicles_observed(
    tmp_path: Path, scene: tuple[NDArray[np.uint8], Box, Box]
) -> None:
    frame, _, plate_c = scene
    settings = load_settings(_config(tmp_path))
    backends = FrameRecogniser.from_settings(settings).backends
    assert isinstance(backends.vehicle_detector, OnnxYoloDetector)
    # The detector itself reports the car/truck twin and filters the person out by class.
    assert [d.label for d in backends.vehicle_detector.detect(frame)] == ["car", "car", "truck"]

    counting = CountingDetector(backends.vehicle_detector)
    assert isinstance(counting, VehicleDetector)
    recogniser = FrameRecogniser(settings, *backends[:4], counting)
    (observations,) = recogniser.embed([recogniser.analyse(frame, START)])
    assert counting.calls == 1
    vehicles = [o for o in observations if o.kind is SightingKind.VEHICLE]
    by_plate = {o.plate.text if o.plate else None: o for o in vehicles}
    assert len(vehicles) == 3 and set(by_plate) == {"京A12345", None, "沪B67890"}, by_plate
    # A plate inside a detected box rides on that vehicle, which keeps the detector's box.
    assert _close(by_plate["京A12345"].box, CAR_A)
    # The detected vehicle without a plate is observed: colour, appearance, quality from score × size.
    bare = by_plate[None]
    assert _close(bare.box, CAR_B) and bare.color == "red"
    assert bare.embedding is not None and bare.embedding.shape == (ColorLayoutEmbedder().dim,)
    size = min(CAR_B.width, CAR_B.height) / FULL_VEHICLE_PX
    assert bare.quality == pytest.approx(0.85 * size * 0.5, rel=1e-3)
    # The plate the detector missed keeps its plate-anchored front; the "person" is no vehicle.
    (found_c,) = [p for p in backends.plate_locator.find(frame) if p.read.text == "沪B67890"]
    assert (
        abs(found_c.box.center[0] - plate_c.center[0]) < 5
        and abs(found_c.box.center[1] - plate_c.center[1]) < 5
    )
    assert by_plate["沪B67890"].box == front_box_from_plate(found_c.box, W, H)
    assert not any(o.box.iou(PERSON) > 0.1 for o in vehicles)


def test_ingest_with_a_declared_detector_writes_the_plateless_vehicle(tmp_path: Path, clip: Path) -> None:
    settings = load_settings(_config(tmp_path))
    sink = ListSink()
    report = IngestPipeline.from_settings(settings, sink).ingest_file(clip, "cam-9", START)
    assert report.error is None and report.frames_analysed == 4
    # Three vehicles per analysed frame, two of them with a plate: the detector ran on every frame.
    assert (report.vehicles, report.plates) == (12, 8)
    vehicles = {
        s.plate.text if s.plate else None: s for s in sink.sightings if s.kind is SightingKind.VEHICLE
    }
    assert len(vehicles) == 3 and set(vehicles) == {"京A12345", None, "沪B67890"}
    bare = vehicles[None]
    assert _close(bare.box, CAR_B) and bare.color == "red" and bare.embedding is not None
    assert (bare.last_seen - bare.first_seen).total_seconds() == 1.5
    assert _close(vehicles["京A12345"].box, CAR_A)
    decoded = cv2.imdecode(np.frombuffer(bare.crop_jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None and decoded.shape[:2] == (CAR_B.height, CAR_B.width)


def test_without_a_detector_ingest_is_unchanged(
    tmp_path: Path, clip: Path, scene: tuple[NDArray[np.uint8], Box, Box]
) -> None:
    """No detector selected (the model is still declared): none is built, and vehicles come only from
    their plates, with plate-anchored front boxes, as before detectors could be declared."""
    config = _config(tmp_path, detector=None, detector_model=None)
    settings = load_settings(config)
    assert FrameRecogniser.from_settings(settings).backends.vehicle_detector is None
    sink = ListSink()
    report = IngestPipeline.from_settings(settings, sink).ingest_file(clip, "cam-9", START)
    assert report.error is None and (report.vehicles, report.plates) == (8, 8)
    vehicles = {
        s.plate.text if s.plate else None: s for s in sink.sightings if s.kind is SightingKind.VEHICLE
    }
    assert set(vehicles) == {"京A12345", "沪B67890"}
    # The silver car is framed by the front estimated from its plate, not by the detector's box.
    silver = vehicles["京A12345"].box
    assert not _close(silver, CAR_A) and silver.iou(front_box_from_plate(scene[1], W, H)) > 0.8


def test_live_worker_builds_and_uses_the_declared_detector(tmp_path: Path, clip: Path) -> None:
    """The live path builds its recogniser through the same factory, so a camera gets the detector too."""
    settings = load_settings(_config(tmp_path))
    events: list[object] = []
    worker = CameraWorker(0, settings, build_recogniser(settings), events.append)
    worker.add("cam-9", f"file://{clip}?speed=4")
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline:
        worker.step(timeout=0.1)
        runner = worker.runner("cam-9")
        if runner.finished and runner.frames_analysed > 0:
            break
    worker.stop()
    sightings = [e.sighting for e in events if isinstance(e, SightingEvent)]
    bare = [s for s in sightings if s.kind is SightingKind.VEHICLE and s.plate is None]
    assert len(bare) == 1 and _close(bare[0].box, CAR_B) and bare[0].color == "red"


# -- declaring a detector wrongly -----------------------------------------------------------------


def test_onnx_yolo_naming_an_unknown_model_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"detector_model 'yolov8' is not a vehicle_detector.*\['tiny_yolo'\]"
    ):
        load_settings(_config(tmp_path, detector_model="yolov8"))


def test_onnx_yolo_without_a_model_fails_at_validation(tmp_path: Path) -> None:
    """Caught when the settings are read (``sightline config validate``), before any backend is built
    or a frame decoded."""
    with pytest.raises(ConfigError, match="detector 'onnx_yolo' runs a user model: set detector_model"):
        load_settings(_config(tmp_path, detector_model=None))
