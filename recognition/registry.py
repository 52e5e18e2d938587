"""The one explicit registry: setting and manifest keys → backend factories.

Every backend a deployment can choose is listed here by hand, no discovery: a key that is not
listed raises ModelError naming the known ones, and a backend that fails to import fails loudly
when it is built instead of vanishing from the list. Backends are imported inside their factory so
importing this module (and ``sightline --help``) stays cheap.

=================  ==================================  ==========================================
setting            key                                 backend
=================  ==================================  ==========================================
face.detector      ``mtcnn``                           ``recognition.mtcnn.MtcnnDetector``
face.embedder      ``facenet_casia``                   ``recognition.facenet.FaceNetEmbedder``
plate.reader       ``ppocr_v4``                        ``recognition.ppocr_rec.PpocrPlateReader``
plate.reader       ``ppocr_v4`` (locator)              ``recognition.plate_locate.PlateLocator``
vehicle.embedder   ``color_layout``                    ``recognition.vehicle_descriptor.ColorLayoutEmbedder``
vehicle.embedder   ``onnx_reid`` (+ reid_model)        ``recognition.onnx_reid.OnnxReidEmbedder``
vehicle.detector   ``onnx_yolo`` (+ detector_model)    ``recognition.yolo_detector.OnnxYoloDetector``
=================  ==================================  ==========================================

The plate locator is keyed by ``plate.reader`` because it is the same OCR family's detector
feeding that reader. ``vehicle.detector = None`` means no vehicle detector: vehicles are then
found from their plates (``recognition.vehicle_front``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, TypeVar

from sightline.errors import ModelError

if TYPE_CHECKING:
    from recognition.base import (
        FaceDetector,
        FaceEmbedder,
        PlateLocator,
        PlateReader,
        VehicleDetector,
        VehicleEmbedder,
    )
    from sightline.settings import Settings

__all__ = [
    "FACE_DETECTORS",
    "FACE_EMBEDDERS",
    "PLATE_LOCATORS",
    "PLATE_READERS",
    "VEHICLE_DETECTORS",
    "VEHICLE_EMBEDDERS",
    "build_face_detector",
    "build_face_embedder",
    "build_plate_locator",
    "build_plate_reader",
    "build_vehicle_detector",
    "build_vehicle_embedder",
]

T = TypeVar("T")


def _mtcnn(settings: Settings) -> FaceDetector:
    from recognition.mtcnn import MtcnnDetector

    return MtcnnDetector.from_settings(settings)


def _facenet_casia(settings: Settings) -> FaceEmbedder:
    from recognition.facenet import FaceNetEmbedder

    return FaceNetEmbedder.from_settings(settings)


def _ppocr_reader(settings: Settings) -> PlateReader:
    from recognition.ppocr_rec import PpocrPlateReader

    return PpocrPlateReader.from_settings(settings)


def _ppocr_locator(settings: Settings) -> PlateLocator:
    from recognition.plate_locate import PlateLocator

    return PlateLocator.from_settings(settings)


def _color_layout(settings: Settings) -> VehicleEmbedder:
    from recognition.vehicle_descriptor import ColorLayoutEmbedder

    return ColorLayoutEmbedder.from_settings(settings)


def _onnx_reid(settings: Settings) -> VehicleEmbedder:
    from recognition.onnx_reid import OnnxReidEmbedder

    return OnnxReidEmbedder.from_settings(settings)


def _onnx_yolo(settings: Settings) -> VehicleDetector:
    from recognition.yolo_detector import OnnxYoloDetector

    return OnnxYoloDetector.from_settings(settings)


FACE_DETECTORS: Mapping[str, Callable[[Settings], FaceDetector]] = {"mtcnn": _mtcnn}
FACE_EMBEDDERS: Mapping[str, Callable[[Settings], FaceEmbedder]] = {"facenet_casia": _facenet_casia}
PLATE_READERS: Mapping[str, Callable[[Settings], PlateReader]] = {"ppocr_v4": _ppocr_reader}
PLATE_LOCATORS: Mapping[str, Callable[[Settings], PlateLocator]] = {"ppocr_v4": _ppocr_locator}
VEHICLE_EMBEDDERS: Mapping[str, Callable[[Settings], VehicleEmbedder]] = {
    "color_layout": _color_layout,
    "onnx_reid": _onnx_reid,
}
VEHICLE_DETECTORS: Mapping[str, Callable[[Settings], VehicleDetector]] = {"onnx_yolo": _onnx_yolo}


def _lookup(table: Mapping[str, Callable[[Settings], T]], what: str, key: str) -> Callable[[Settings], T]:
    try:
        return table[key]
    except KeyError:
        raise ModelError(f"unknown {what} {key!r}; known: {', '.join(sorted(table))}") from None


def build_face_detector(settings: Settings) -> FaceDetector:
    key = settings.recognition.face.detector
    return _lookup(FACE_DETECTORS, "face detector", key)(settings)


def build_face_embedder(settings: Settings) -> FaceEmbedder:
    key = settings.recognition.face.embedder
    return _lookup(FACE_EMBEDDERS, "face embedder", key)(settings)


def build_plate_reader(settings: Settings) -> PlateReader:
    key = settings.recognition.plate.reader
    return _lookup(PLATE_READERS, "plate reader", key)(settings)


def build_plate_locator(settings: Settings) -> PlateLocator:
    key = settings.recognition.plate.reader
    return _lookup(PLATE_LOCATORS, "plate locator", key)(settings)


def build_vehicle_embedder(settings: Settings) -> VehicleEmbedder:
    key = settings.recognition.vehicle.embedder
    return _lookup(VEHICLE_EMBEDDERS, "vehicle embedder", key)(settings)


def build_vehicle_detector(settings: Settings) -> VehicleDetector | None:
    """None when no detector is configured: vehicles are then found from their plates."""
    key = settings.recognition.vehicle.detector
    if key is None:
        return None
    return _lookup(VEHICLE_DETECTORS, "vehicle detector", key)(settings)
