"""Face pipeline timings on one core: MTCNN per frame, FaceNet per face alone and in a batch of 8.

The frame is generated (the skimage astronaut's face on a gradient background, 640x480), so the
numbers are comparable between machines and runs. Medians over repeats: the first call after
load is excluded by the backends' own warm-up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from recognition.base import Image
from sightline.errors import NoFaceFound

if TYPE_CHECKING:
    from sightline.settings import Settings

__all__ = ["bench_faces", "bench_frame"]

log = logging.getLogger(__name__)


def bench_frame(width: int = 640, height: int = 480, face_px: int = 120) -> Image:
    """A BGR frame with one frontal face about ``face_px`` wide on a horizontal grey gradient."""
    from skimage import data

    astronaut: Callable[[], Image] = data.astronaut  # skimage is untyped
    portrait = cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR)
    head = portrait[20:240, 130:310]  # the astronaut's head and a little of the helmet
    scale = face_px / 90  # her face is ~90 px wide in the 512x512 original
    head = cv2.resize(head, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    frame = np.repeat(np.linspace(40, 200, width, dtype=np.float32)[None, :], height, axis=0)
    frame_bgr = np.repeat(frame[:, :, None], 3, axis=2).astype(np.uint8)
    hh, hw = head.shape[:2]
    y0, x0 = (height - hh) // 2, (width - hw) // 2
    frame_bgr[y0 : y0 + hh, x0 : x0 + hw] = head
    return frame_bgr


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return round(float(np.median(times)) * 1000, 2)


def _interleaved_median_ms(
    first: Callable[[], object], second: Callable[[], object], repeats: int
) -> tuple[float, float]:
    """Median ms of each, run alternately so that both see the same machine load."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for fn, out in ((first, times[0]), (second, times[1])):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return round(float(np.median(times[0])) * 1000, 2), round(float(np.median(times[1])) * 1000, 2)


def bench_faces(settings: Settings, repeats: int = 20) -> dict[str, Any]:
    """Median milliseconds: detection per frame, embedding per face alone and per face in a batch of 8.

    ``detect_per_call_resampling_ms``: the same detector cutting its pyramid and crops with one
    ``cv2.resize`` each, as the published cascade does, timed alternately with ``detect_ms``.

    Uses one onnxruntime thread per session whatever the settings say, so the numbers mean "one core".
    """
    from recognition.area_resample import PerCallResampler
    from recognition.facenet import FaceNetEmbedder
    from recognition.mtcnn import MtcnnDetector
    from recognition.settings import RuntimeSettings

    data = settings.model_dump()
    data["recognition"]["runtime"] = RuntimeSettings(
        intra_op_threads=1, provider=settings.recognition.runtime.provider
    ).model_dump()
    one_core = type(settings)(**data)
    cv2.setNumThreads(1)

    detector = MtcnnDetector.from_settings(one_core)
    # The same sessions cutting levels and crops the published way, timed in the same run.
    per_call = detector.with_resampler(PerCallResampler)
    embedder = FaceNetEmbedder.from_settings(one_core)
    frame = bench_frame()
    faces = detector.detect(frame)
    if len(faces) != 1:
        raise NoFaceFound(f"benchmark frame: expected one face, found {len(faces)}")
    ours, published = _interleaved_median_ms(
        lambda: detector.detect(frame), lambda: per_call.detect(frame), repeats
    )

    result: dict[str, Any] = {
        "frame": f"{frame.shape[1]}x{frame.shape[0]}",
        "min_face_px": detector.min_face_px,
        "detect_ms": ours,
        "detect_per_call_resampling_ms": published,
        "embed_ms": _median_ms(lambda: embedder.embed(frame, faces), max(1, repeats // 2)),
        "embed_batch8_ms_per_face": round(
            _median_ms(lambda: embedder.embed(frame, faces * 8), max(1, repeats // 4)) / 8, 2
        ),
    }
    log.info("face bench: %s", result)
    return result
