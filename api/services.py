"""The services the API runs on, built once and handed to the routes through typed dependencies."""

from __future__ import annotations

from dataclasses import dataclass

from ingest.status import CameraSupervisor
from recognition.base import FaceDetector, FaceEmbedder, VehicleEmbedder
from search.services import SearchService
from sightline.settings import Settings

__all__ = ["Services"]


@dataclass(frozen=True, slots=True)
class Services:
    """What the routes run on: the search façade (store, indexes, audit), the recognition backends, and
    live ingest's supervisor when this process runs camera workers (None for an API-only process:
    the camera status routes then answer 503).
    """

    search: SearchService
    face_detector: FaceDetector
    face_embedder: FaceEmbedder
    vehicle_embedder: VehicleEmbedder
    supervisor: CameraSupervisor | None = None

    @classmethod
    def build(cls, settings: Settings) -> Services:
        """Build the backends named in ``settings.recognition``, then open the search service."""
        from recognition.registry import build_face_detector, build_face_embedder, build_vehicle_embedder

        face_detector = build_face_detector(settings)
        face_embedder = build_face_embedder(settings)
        vehicle_embedder = build_vehicle_embedder(settings)
        # The vehicle index dimension follows the configured descriptor; a store holding vectors of
        # another descriptor refuses to open (StoreError) rather than mixing them.
        service = SearchService.open(settings.search, vehicle_dim=vehicle_embedder.dim)
        return cls(service, face_detector, face_embedder, vehicle_embedder)

    def close(self) -> None:
        """Close the search service (flushes indexes, disposes the store)."""
        self.search.close()

    def model_names(self) -> dict[str, str]:
        """Backend class names by role, for the health endpoint."""
        return {
            "face_detector": type(self.face_detector).__name__,
            "face_embedder": type(self.face_embedder).__name__,
            "vehicle_embedder": type(self.vehicle_embedder).__name__,
        }
