"""Score the whole pipeline on generated sample streams against their ground truth.

The clips are ingested into a fresh temporary store; each ground-truth subject is then searched the
way an investigator would (a person by the reference photo in ``queries/``, a vehicle by its plate
typed in full) and the returned trajectory is compared with the subject's true appearances.

- recall: true appearances (subject, camera, time span) found by at least one returned sighting;
- precision: returned sightings that lie on a true appearance of the searched subject;
- plates_exact: true vehicle appearances for which a stored sighting on that camera and time reads
  the plate exactly.

The scoring works on *instances* of appearances (an appearance at a wall-clock time span): offline,
each appearance has one instance at its recorded time; a live replay that loops its clips has one
per loop (:mod:`sightline.evaluation.replay_check`), and an appearance counts as found when any of
its instances is.
"""

from __future__ import annotations

import csv
import logging
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sample_streams.ground_truth import Appearance, GroundTruth, load_ground_truth
from search.records import Camera, SearchRequest, Sighting, Trajectory
from sightline.settings import Settings

if TYPE_CHECKING:
    from search.services import SearchService

__all__ = [
    "TIME_TOLERANCE",
    "Instance",
    "SubjectResult",
    "SubjectScore",
    "evaluate_samples",
    "load_sample_cameras",
    "plate_reads",
    "score_instances",
    "score_trajectory",
    "search_subjects",
    "summarise",
]

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


@dataclass(frozen=True, slots=True)
class Instance:
    """One occurrence, in wall-clock time, of a subject's true appearance number ``appearance``."""

    appearance: int
    camera_id: str
    start: datetime
    end: datetime

    def overlaps(self, s: Sighting) -> bool:
        return (
            s.camera_id == self.camera_id
            and s.first_seen <= self.end + TIME_TOLERANCE
            and s.last_seen >= self.start - TIME_TOLERANCE
        )


def _recorded(apps: Sequence[Appearance]) -> list[Instance]:
    return [Instance(i, a.camera_id, a.start, a.end) for i, a in enumerate(apps)]


@dataclass(frozen=True, slots=True)
class SubjectScore:
    subject_id: str
    appearances: int
    found: int
    returned: int
    correct: int


def score_instances(
    subject_id: str, appearances: int, instances: Sequence[Instance], returned: Iterable[Sighting]
) -> SubjectScore:
    """How the sightings a search returned match ``appearances`` true appearances, given by their
    instances: an appearance is found when a returned sighting overlaps any of its instances, and a
    sighting is correct when it overlaps any instance."""
    found: set[int] = set()
    correct = total = 0
    for s in returned:
        total += 1
        hits = {inst.appearance for inst in instances if inst.overlaps(s)}
        if hits:
            correct += 1
            found.update(hits)
    return SubjectScore(subject_id, appearances, len(found), total, correct)


def score_trajectory(
    gt: GroundTruth, subject_id: str, trajectory: Trajectory, sightings: dict[int, Sighting]
) -> SubjectScore:
    """How one subject's search result matches its true appearances (at their recorded times)."""
    apps = gt.appearances_of(subject_id)
    returned = [sightings[p.sighting_id] for p in trajectory.points]
    return score_instances(subject_id, len(apps), _recorded(apps), returned)


def plate_reads(
    plate: str, appearances: int, instances: Sequence[Instance], sightings: Iterable[Sighting]
) -> int:
    """True appearances of a vehicle with a sighting on one of their instances that reads ``plate``."""
    exact = [s for s in sightings if s.plate_text == plate]
    return len({inst.appearance for inst in instances if any(inst.overlaps(s) for s in exact)})


@dataclass(frozen=True, slots=True)
class SubjectResult:
    """A subject's search answer: the trajectory's sightings in trajectory order."""

    subject_id: str
    kind: str
    plate_text: str | None
    sightings: tuple[Sighting, ...]


def search_subjects(
    settings: Settings, service: SearchService, gt: GroundTruth, sample_dir: Path
) -> list[SubjectResult]:
    """Search every ground-truth subject as an investigator would: a person by the reference photo,
    a vehicle by its full plate (exact)."""
    from recognition.query import QueryFaceEmbedder

    query_embedder = QueryFaceEmbedder.from_settings(settings)
    out = []
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
        found = tuple(service.sighting(p.sighting_id) for p in trajectory.points)
        out.append(SubjectResult(subject.id, subject.kind, subject.plate_text, found))
    return out


InstancesOf = Callable[[Sequence[Appearance]], list[Instance]]


def summarise(
    gt: GroundTruth, results: Sequence[SubjectResult], instances_of: InstancesOf = _recorded
) -> dict[str, Any]:
    """recall, precision, plates_exact, appearances, returned and per-subject counts.

    ``instances_of`` maps a subject's appearances (wall-clock order) to their instances.
    """
    scores: list[SubjectScore] = []
    plate_hits = plate_total = 0
    for r in results:
        apps = gt.appearances_of(r.subject_id)
        instances = instances_of(apps)
        scores.append(score_instances(r.subject_id, len(apps), instances, r.sightings))
        if r.kind == "vehicle":
            plate_hits += plate_reads(r.plate_text or "", len(apps), instances, r.sightings)
            plate_total += len(apps)
    appearances = sum(s.appearances for s in scores)
    returned = sum(s.returned for s in scores)
    return {
        "recall": sum(s.found for s in scores) / appearances if appearances else 0.0,
        "precision": sum(s.correct for s in scores) / returned if returned else 0.0,
        "plates_exact": plate_hits / plate_total if plate_total else 0.0,
        "appearances": appearances,
        "returned": returned,
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


def evaluate_samples(
    settings: Settings, sample_dir: Path, progress: bool = True, work_dir: Path | None = None
) -> dict[str, Any]:
    """Ingest ``sample_dir`` into a fresh store, search every subject, score against ground truth."""
    from ingest.pipeline import IngestPipeline
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
            results = search_subjects(run_settings, service, gt, sample_dir)
            stored = service.store.count_sightings()
        finally:
            service.close()

    summary = summarise(gt, results)
    subjects = summary.pop("subjects")
    return summary | {"sightings_stored": stored, "ingest_errors": len(ingest_errors), "subjects": subjects}
