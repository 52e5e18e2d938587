"""The demo: sample streams generated, replayed as live RTSP cameras, ingested live and served.

It keeps its data apart (``<data_dir>/demo``) so trying it never mixes with real sightings. Before
going live it ingests each clip once from its file into an empty demo store, so the first queries
have answers at once; the live cameras then add a sighting per subject per loop of the clips, as a
real camera would. Where GStreamer's RTSP server is not installed the demo says so and serves the
file-ingested store alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from sightline.settings import Settings

if TYPE_CHECKING:
    from search.services import SearchService

__all__ = ["DemoPlan", "demo_settings", "prepare_demo", "register_live_cameras"]

log = logging.getLogger(__name__)


def demo_settings(settings: Settings) -> Settings:
    """The settings with the store moved to ``<data_dir>/demo``.

    The sample clips are dated 2024-05-18 (their ground truth is fixed), so the demo server does not
    apply the retention limit to its own store; `sightline retention purge` still can.
    """
    data = settings.model_dump()
    data["search"]["data_dir"] = Path(settings.search.data_dir) / "demo"
    data["search"]["retention_interval_s"] = 0.0
    # The demo is for looking around: its API schema and metrics are open (still on loopback).
    data["api"]["open_docs"] = True
    data["api"]["open_metrics"] = True
    return Settings(**data)


DEMO_USERS = (
    ("demo-admin", "admin"),
    ("demo-investigator", "investigator"),
    ("demo-operator", "operator"),
)
"""The demo's users, one per role the demo shows; their passwords are new at every demo start."""


def ensure_demo_users(service: SearchService) -> dict[str, str]:
    """Create (or reset the passwords of) the demo users; returns name → password.

    Fresh random passwords each start, never a fixed one: a demo store left on a machine must not be
    a door with a published key.
    """
    import secrets

    from search.users import UserDirectory
    from sightline.errors import NotFound

    users = UserDirectory(service.store)
    out = {}
    for name, role in DEMO_USERS:
        password = secrets.token_urlsafe(12)
        try:
            users.get(name)
            users.set_password(name, password)
            users.enable(name)
        except NotFound:
            users.add(name, role, ["*"], password)
        out[name] = password
    return out


@dataclass(frozen=True, slots=True)
class DemoPlan:
    """What the demo prepared: where its samples are, how many sightings it holds, who may log in
    (name → password) and what to ask."""

    samples_dir: Path
    sightings: int
    logins: dict[str, str]
    examples: list[str]


def prepare_demo(settings: Settings, samples_dir: Path, progress: bool = True) -> DemoPlan:
    """Generate samples if absent and ingest them into the (empty) demo store."""
    from tqdm import tqdm

    from ingest.pipeline import IngestPipeline
    from sample_streams.ground_truth import load_ground_truth
    from sample_streams.make import make_samples
    from search.services import SearchService
    from sightline.evaluation.samples import load_sample_cameras

    gt_path = samples_dir / "ground_truth.json"
    if not gt_path.is_file():
        log.info("generating sample streams in %s", samples_dir)
        make_samples(samples_dir, settings, progress=progress)
    gt = load_ground_truth(gt_path)
    service = SearchService.open(settings.search)
    try:
        if service.store.count_sightings() == 0:
            for camera in load_sample_cameras(samples_dir):
                service.store.ensure_camera(camera)
            pipeline = IngestPipeline.from_settings(settings, service)
            for clip in tqdm(gt.clips, desc="ingest", unit="clip", disable=not progress):
                report = pipeline.ingest_file(samples_dir / clip.file, clip.camera_id, clip.start)
                if report.error:
                    log.warning("ingest of %s stopped: %s", clip.file, report.error)
        sightings = service.store.count_sightings()
        logins = ensure_demo_users(service)
    finally:
        service.close()

    base = f"http://{settings.api.host}:{settings.api.port}"
    case = "case_ref=DEMO-1&reason=demo"
    auth = '-H "Authorization: Bearer $TOKEN"'
    examples = [
        f"{base}/docs",
        f"TOKEN=$(curl -s -d username=demo-investigator -d password={logins['demo-investigator']} "
        f"{base}/api/auth/token | python3 -c "
        "'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')",
    ]
    for subject in gt.subjects:
        if subject.kind == "vehicle" and subject.plate_text:
            exact = quote(subject.plate_text)
            partial = quote(subject.plate_text[:2] + "*" + subject.plate_text[-2:])
            examples.append(f"curl {auth} '{base}/api/search/plate?pattern={exact}&{case}'")
            examples.append(f"curl {auth} '{base}/api/search/plate?pattern={partial}&{case}'")
        elif subject.kind == "face" and subject.query_image:
            examples.append(
                f"curl {auth} -F image=@{samples_dir / subject.query_image} -F case_ref=DEMO-1 "
                f"-F reason=demo {base}/api/search/face"
            )
    return DemoPlan(samples_dir, sightings, logins, examples)


def register_live_cameras(settings: Settings, samples_dir: Path, urls: dict[str, str]) -> int:
    """Point each sample camera of the demo store at its replayed RTSP URL; returns how many."""
    from search.services import SearchService
    from sightline.evaluation.samples import load_sample_cameras

    service = SearchService.open(settings.search)
    try:
        for camera in load_sample_cameras(samples_dir):
            url = urls[camera.id]
            stored = service.store.ensure_camera(camera)
            if stored.url != url:
                service.store.update_camera(camera.id, url=url)
    finally:
        service.close()
    return len(urls)
