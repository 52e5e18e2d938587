"""Score the whole pipeline on generated sample streams against their ground truth.

The clips are ingested into a fresh temporary store; each ground-truth subject is then searched the
way an investigator would (a person by the reference photo in ``queries/``, a vehicle by its plate
typed in full) and the returned trajectory is compared with the subject's true appearances.

- recall: true appearances (subject, camera, time span) found by at least one returned sighting;
- precision: returned sightings that lie on a true appearance of the searched subject;
- plates_exact: true vehicle appearances for which a stored sighting on that camera and time reads
  the plate exactly.
"""

from __future__ import annotations

import csv
import logging
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sample_streams.ground_truth import Appearance, GroundTruth, load_ground_truth
from search.records import Camera, SearchRequest, Sighting, Trajectory
from sightline.settings import Settings

__all__ = ["TIME_TOLERANCE", "evaluate_samples", "load_sample_cameras", "score_trajectory"]

log = logging.getLogger(__name__)

#: A sighting counts for an appearance when their time spans overlap within this tolerance: the
#: sampler sees a subject up to one analysed frame after it enters and before it leaves.
TIME_TOLERANCE = timedelta(seconds=1.0)


def load_sample_cameras(sample_dir: Path) -> list[Camera]:
    """The cameras of a sample set, from its ``cameras.csv``."""
    cameras = []
    with (sample_dir / "cameras.csv").open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            cameras.append(
                Camera(
                    id=row["id"],
                    name=row["name"],
                    lat=float(row["lat"]),
                    lon=float(row["lon"]),
                    url=row["url"],
                    tags=tuple(t for t in row.get("tags", "").split(";") if t),
                )
            )
    return cameras


def _overlaps(first: datetime, last: datetime, app: Appearance) -> bool:
    return first <= app.end + TIME_TOLERANCE and last >= app.start - TIME_TOLERANCE


@dataclass(frozen=True, slots=True)
class SubjectScore:
    subject_id: str
    appearances: int
    found: int
    returned: int
    correct: int


def score_trajectory(
    gt: GroundTruth, subject_id: str, trajectory: Trajectory, sightings: dict[int, Sighting]
) -> SubjectScore:
    """How one subject's search result matches its true appearances."""
    apps = gt.appearances_of(subject_id)
    found: set[int] = set()
    correct = 0
    for point in trajectory.points:
        s = sightings[point.sighting_id]
        hits = [
            i
            for i, app in enumerate(apps)
            if app.camera_id == s.camera_id and _overlaps(s.first_seen, s.last_seen, app)
        ]
        if hits:
            correct += 1
            found.update(hits)
    return SubjectScore(subject_id, len(apps), len(found), len(trajectory.points), correct)


def evaluate_samples(
    settings: Settings, sample_dir: Path, progress: bool = True, work_dir: Path | None = None
) -> dict[str, Any]:
    """Ingest ``sample_dir`` into a fresh store, search every subject, score against ground truth."""
    from ingest.pipeline import IngestPipeline
    from recognition.query import QueryFaceEmbedder
    from search.services import SearchService

    gt = load_ground_truth(sample_dir / "ground_truth.json")
    with tempfile.TemporaryDirectory(prefix="sightline-eval-", dir=work_dir) as tmp:
        data = settings.model_dump()
        data["search"]["data_dir"] = Path(tmp)
        run_settings = Settings(**data)
        service = SearchService.open(run_settings.search)
        try:
            for camera in load_sample_cameras(sample_dir):
                service.store.ensure_camera(camera)
            pipeline = IngestPipeline.from_settings(run_settings, service)
            ingest_errors = []
            for clip in gt.clips:
                report = pipeline.ingest_file(sample_dir / clip.file, clip.camera_id, clip.start)
                log.info("ingested %s: %d sightings", clip.file, report.sightings_written)
                if report.error:
                    ingest_errors.append(f"{clip.file}: {report.error}")
            query_embedder = QueryFaceEmbedder.from_settings(run_settings)
            scores: list[SubjectScore] = []
            plate_hits = plate_total = 0
            for subject in gt.subjects:
                request = SearchRequest(
                    case_ref="EVAL-SAMPLES", reason="scoring sample streams", actor="sightline-eval"
                )
                if subject.kind == "face":
                    assert subject.query_image is not None
                    embedding = query_embedder.embed_file(sample_dir / subject.query_image)
                    trajectory = service.search_face(request, embedding)
                else:
                    assert subject.plate_text is not None
                    trajectory = service.search_plate(request, subject.plate_text, fuzzy=False)
                sightings = {sid: service.sighting(sid) for sid in trajectory.sighting_ids}
                scores.append(score_trajectory(gt, subject.id, trajectory, sightings))
                if subject.kind == "vehicle":
                    hits, total = _plate_reads(gt, subject.id, subject.plate_text or "", sightings)
                    plate_hits += hits
                    plate_total += total
            stored = service.store.count_sightings()
        finally:
            service.close()

    appearances = sum(s.appearances for s in scores)
    returned = sum(s.returned for s in scores)
    return {
        "recall": sum(s.found for s in scores) / appearances if appearances else 0.0,
        "precision": sum(s.correct for s in scores) / returned if returned else 0.0,
        "plates_exact": plate_hits / plate_total if plate_total else 0.0,
        "appearances": appearances,
        "returned": returned,
        "sightings_stored": stored,
        "ingest_errors": len(ingest_errors),
        "subjects": {
            s.subject_id: {
                "appearances": s.appearances,
                "found": s.found,
                "returned": s.returned,
                "correct": s.correct,
            }
            for s in scores
        },
    }


def _plate_reads(
    gt: GroundTruth, subject_id: str, plate: str, sightings: dict[int, Sighting]
) -> tuple[int, int]:
    """True appearances of a vehicle that have a returned sighting whose plate text reads exactly."""
    apps = gt.appearances_of(subject_id)
    hits = sum(
        1
        for app in apps
        if any(
            s.camera_id == app.camera_id
            and _overlaps(s.first_seen, s.last_seen, app)
            and s.plate_text == plate
            for s in sightings.values()
        )
    )
    return hits, len(apps)
