"""The metadata store: cameras, sightings (with crops and embeddings) and the audit table.

SQLite in WAL mode by default (``data_dir/sightline.db``), schema by Alembic migrations run at open.
The store is the source of truth: embeddings are kept as float32 bytes so the vector indexes can
always be rebuilt from it. Each sighting is its own committed transaction (``synchronous=FULL``), so
a failure in one never loses those written before it. SQLAlchemy and OS errors become StoreError.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from alembic import command
from alembic.config import Config
from numpy.typing import NDArray
from sqlalchemy import Engine, create_engine, event, func, select, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from recognition.types import Box
from search.index import VectorIndex
from search.plate_pattern import fold_plate_text
from search.records import Camera, NewSighting, Sighting, SightingKind
from search.settings import SearchSettings
from search.tables import CameraRow, SightingRow
from sightline.errors import InputError, NotFound, StoreError
from sightline.fileio import atomic_write_bytes

__all__ = ["FACE_DIM", "SightingStore"]

log = logging.getLogger(__name__)

FACE_DIM = 512
_JPEG_MAGIC = b"\xff\xd8"
_MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit survives power loss too, which ingest relies on ("durable before returning").
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def _camera(row: CameraRow) -> Camera:
    return Camera(row.id, row.name, row.lat, row.lon, row.url, tuple(row.tags or ()), row.created)


def _sighting(row: SightingRow) -> Sighting:
    alternatives = tuple(tuple((str(c), float(p)) for c, p in pos) for pos in (row.plate_alternatives or ()))
    return Sighting(
        id=row.id,
        kind=SightingKind(row.kind),
        camera_id=row.camera_id,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        box=Box(row.x1, row.y1, row.x2, row.y2),
        quality=row.quality,
        crop_path=row.crop_path,
        plate_text=row.plate_text,
        plate_confidence=row.plate_confidence,
        plate_alternatives=alternatives,
        plate_candidates=tuple(row.plate_candidates or ()),
        color=row.color,
        embedding_dim=row.embedding_dim,
        source=row.source,
        created=row.created,
    )


class SightingStore:
    """Repository over the metadata database, the crop files and the per-kind vector indexes."""

    def __init__(self, settings: SearchSettings, engine: Engine, dims: dict[SightingKind, int]) -> None:
        self.settings = settings
        self.data_dir = Path(settings.data_dir)
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._dims = dims
        self._indexes: dict[SightingKind, VectorIndex] = {}
        self._index_lock = threading.Lock()

    # --- lifecycle -------------------------------------------------------------------------------

    @classmethod
    def open(cls, settings: SearchSettings, *, vehicle_dim: int | None = None) -> SightingStore:
        """Open (creating and migrating) the store. The vehicle index dimension comes from
        ``vehicle_dim``, else from stored vehicle embeddings, else from the first one added."""
        data_dir = Path(settings.data_dir)
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create data directory {data_dir}: {exc}") from exc
        url = settings.database_url or f"sqlite:///{data_dir / 'sightline.db'}"
        try:
            engine = create_engine(url)
            if engine.dialect.name == "sqlite":
                event.listen(engine, "connect", _sqlite_pragmas)
            cls._migrate(engine)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open the store at {engine.url!r}: {exc}") from exc
        dims = {SightingKind.FACE: FACE_DIM}
        store = cls(settings, engine, dims)
        stored_vehicle_dim = store._stored_dim(SightingKind.VEHICLE)
        if vehicle_dim is not None and stored_vehicle_dim not in (None, vehicle_dim):
            raise StoreError(
                f"vehicle embeddings in the store are {stored_vehicle_dim}-d, not {vehicle_dim}-d"
            )
        chosen = vehicle_dim or stored_vehicle_dim
        if chosen is not None:
            dims[SightingKind.VEHICLE] = chosen
        log.info("store open at %s", engine.url)
        return store

    @staticmethod
    def _migrate(engine: Engine) -> None:
        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def close(self) -> None:
        """Persist the indexes and release the database."""
        for index in list(self._indexes.values()):
            index.save()
        self.engine.dispose()

    def __enter__(self) -> SightingStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success; SQLAlchemy errors leave as StoreError."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except SQLAlchemyError as exc:
            session.rollback()
            raise StoreError(f"store: {exc.__class__.__name__}: {exc}") from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """Like :meth:`session`, holding the database's write lock from the first statement.

        For read-then-write sequences that must not interleave across processes (the audit reads
        its chain's tail, then appends after it). SQLite's default deferred transaction takes the
        write lock only at the first write, so two writers could both read the same tail;
        ``BEGIN IMMEDIATE`` takes it up front, waiting up to ``busy_timeout`` for another writer.
        Other databases keep their default transaction here.
        """
        with self.session() as session:
            if self.engine.dialect.name == "sqlite":
                session.execute(text("BEGIN IMMEDIATE"))
            yield session

    # --- cameras ---------------------------------------------------------------------------------

    def add_camera(self, camera: Camera) -> Camera:
        row = CameraRow(
            id=camera.id,
            name=camera.name,
            lat=camera.lat,
            lon=camera.lon,
            url=camera.url,
            tags=list(camera.tags),
            created=camera.created or datetime.now(UTC),
        )
        try:
            with self.session() as s:
                s.add(row)
        except StoreError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise InputError(f"camera {camera.id!r} already exists") from exc
            raise
        return _camera(row)

    def ensure_camera(self, camera: Camera) -> Camera:
        """The stored camera with this id, registering ``camera`` when there is none."""
        with self.session() as s:
            row = s.get(CameraRow, camera.id)
            if row is not None:
                return _camera(row)
        return self.add_camera(camera)

    def get_camera(self, camera_id: str) -> Camera:
        with self.session() as s:
            row = s.get(CameraRow, camera_id)
            if row is None:
                raise NotFound(f"camera {camera_id!r} not found")
            return _camera(row)

    def list_cameras(self) -> list[Camera]:
        with self.session() as s:
            return [_camera(r) for r in s.scalars(select(CameraRow).order_by(CameraRow.id))]

    def update_camera(self, camera_id: str, **changes: Any) -> Camera:
        """Change name, lat, lon, url or tags of a camera."""
        allowed = {"name", "lat", "lon", "url", "tags"}
        unknown = set(changes) - allowed
        if unknown:
            raise InputError(f"camera fields {sorted(unknown)} cannot be changed; allowed: {sorted(allowed)}")
        current = self.get_camera(camera_id)
        merged = {
            "name": current.name,
            "lat": current.lat,
            "lon": current.lon,
            "url": current.url,
            "tags": current.tags,
        } | changes
        try:
            Camera(
                camera_id, merged["name"], merged["lat"], merged["lon"], merged["url"], tuple(merged["tags"])
            )
        except ValueError as exc:
            raise InputError(str(exc)) from exc
        with self.session() as s:
            row = s.get(CameraRow, camera_id)
            if row is None:
                raise NotFound(f"camera {camera_id!r} not found")
            for key, value in changes.items():
                setattr(row, key, list(value) if key == "tags" else value)
            s.flush()
            return _camera(row)

    def delete_camera(self, camera_id: str) -> None:
        """Delete a camera that has no sightings (sightings keep their camera until retention)."""
        with self.session() as s:
            row = s.get(CameraRow, camera_id)
            if row is None:
                raise NotFound(f"camera {camera_id!r} not found")
            used = s.scalar(select(func.count()).where(SightingRow.camera_id == camera_id))
            if used:
                raise InputError(f"camera {camera_id!r} still has {used} sightings")
            s.delete(row)

    # --- sightings -------------------------------------------------------------------------------

    def add_sighting(self, new: NewSighting) -> int:
        """Store one sighting: crop file, committed row, index entry. Returns the sighting id."""
        embedding = self._checked_embedding(new)
        if new.crop_jpeg and not new.crop_jpeg.startswith(_JPEG_MAGIC):
            raise InputError("sighting crop is not a JPEG")
        # Open the index before the row exists: opening catches up from the store, and must not see
        # (and then add twice) the row written here.
        index = self.index(new.kind) if embedding is not None else None
        plate = new.plate
        row = SightingRow(
            kind=new.kind.value,
            camera_id=new.camera_id,
            first_seen=new.first_seen,
            last_seen=new.last_seen,
            x1=new.box.x1,
            y1=new.box.y1,
            x2=new.box.x2,
            y2=new.box.y2,
            quality=float(new.quality),
            plate_text=fold_plate_text(plate.text) if plate else None,
            plate_confidence=plate.confidence if plate else None,
            plate_alternatives=[[[c, float(p)] for c, p in pos] for pos in plate.alternatives]
            if plate
            else None,
            plate_candidates=[fold_plate_text(c) for c in plate.candidates] if plate else None,
            color=new.color,
            embedding=embedding.tobytes() if embedding is not None else None,
            embedding_dim=len(embedding) if embedding is not None else None,
            source=new.source,
            created=datetime.now(UTC),
        )
        crop_file: Path | None = None
        try:
            with self.session() as s:
                if s.get(CameraRow, new.camera_id) is None:
                    raise NotFound(f"camera {new.camera_id!r} is not registered")
                s.add(row)
                s.flush()
                if new.crop_jpeg:
                    rel = self._crop_rel(row.id, new.first_seen)
                    crop_file = self.data_dir / rel
                    atomic_write_bytes(crop_file, new.crop_jpeg)
                    row.crop_path = rel.as_posix()
        except OSError as exc:
            raise StoreError(f"cannot write crop {crop_file}: {exc}") from exc
        except BaseException:
            if crop_file is not None:
                crop_file.unlink(missing_ok=True)
            raise
        if index is not None and embedding is not None:
            index.add([row.id], embedding[None, :])
        return row.id

    def add_sightings(self, news: Sequence[NewSighting]) -> list[int]:
        """Store several sightings, each committed on its own: a failure keeps the earlier ones."""
        return [self.add_sighting(n) for n in news]

    def _checked_embedding(self, new: NewSighting) -> NDArray[np.float32] | None:
        if new.embedding is None:
            return None
        vec = np.ascontiguousarray(new.embedding, dtype=np.float32)
        if not np.isfinite(vec).all():
            raise InputError("sighting embedding contains NaN or infinity")
        dim = self._dims.get(new.kind)
        if dim is None:
            self._dims[new.kind] = len(vec)
        elif dim != len(vec):
            raise InputError(f"{new.kind.value} embedding must be {dim}-d, got {len(vec)}-d")
        return vec

    @staticmethod
    def _crop_rel(sighting_id: int, first_seen: datetime) -> Path:
        day = first_seen.astimezone(UTC)
        return Path("crops") / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}" / f"{sighting_id}.jpg"

    def get_sighting(self, sighting_id: int) -> Sighting:
        with self.session() as s:
            row = s.get(SightingRow, sighting_id)
            if row is None:
                raise NotFound(f"sighting {sighting_id} not found")
            return _sighting(row)

    def get_sightings(self, ids: Sequence[int]) -> dict[int, Sighting]:
        """Sightings by id; ids that do not exist (any more) are absent from the result."""
        out: dict[int, Sighting] = {}
        with self.session() as s:
            for start in range(0, len(ids), 500):
                chunk = list(ids[start : start + 500])
                for row in s.scalars(select(SightingRow).where(SightingRow.id.in_(chunk))):
                    out[row.id] = _sighting(row)
        return out

    def crop_path(self, sighting_id: int) -> Path:
        """The crop file of a sighting; NotFound when the sighting or its file is missing."""
        rel = self.get_sighting(sighting_id).crop_path
        if rel is None:
            raise NotFound(f"sighting {sighting_id} has no crop")
        path = self.data_dir / rel
        if not path.is_file():
            raise NotFound(f"crop of sighting {sighting_id} is missing")
        return path

    def count_sightings(self, kind: SightingKind | None = None) -> int:
        with self.session() as s:
            q = select(func.count()).select_from(SightingRow)
            if kind is not None:
                q = q.where(SightingRow.kind == kind.value)
            return int(s.scalar(q) or 0)

    def delete_sightings(self, ids: Sequence[int]) -> list[Path]:
        """Delete rows and index entries; returns the crop files, which the caller removes after."""
        crops: list[Path] = []
        if not ids:
            return crops
        by_kind: dict[SightingKind, list[int]] = {}
        with self.session() as s:
            for start in range(0, len(ids), 500):
                chunk = list(ids[start : start + 500])
                for row in s.scalars(select(SightingRow).where(SightingRow.id.in_(chunk))):
                    if row.crop_path:
                        crops.append(self.data_dir / row.crop_path)
                    if row.embedding is not None:
                        by_kind.setdefault(SightingKind(row.kind), []).append(row.id)
                    s.delete(row)
        for kind, kind_ids in by_kind.items():
            index = self.index(kind)
            index.remove(kind_ids)
            index.save()
        return crops

    # --- embeddings and indexes ------------------------------------------------------------------

    def _stored_dim(self, kind: SightingKind) -> int | None:
        with self.session() as s:
            q = select(SightingRow.embedding_dim).where(
                SightingRow.kind == kind.value, SightingRow.embedding_dim.is_not(None)
            )
            return s.scalar(q.limit(1))

    def embedding_stats(self, kind: str) -> tuple[int, int]:
        with self.session() as s:
            q = select(func.count(), func.max(SightingRow.id)).where(
                SightingRow.kind == kind, SightingRow.embedding.is_not(None)
            )
            count, max_id = s.execute(q).one()
            return int(count or 0), int(max_id or 0)

    def iter_embeddings(
        self, kind: str, *, after_id: int = 0, batch: int = 4096
    ) -> Iterator[tuple[NDArray[np.int64], NDArray[np.float32]]]:
        """(ids, vectors) batches in id order, for rebuilding an index from the source of truth."""
        last = after_id
        while True:
            with self.session() as s:
                rows = s.execute(
                    select(SightingRow.id, SightingRow.embedding, SightingRow.embedding_dim)
                    .where(
                        SightingRow.kind == kind, SightingRow.embedding.is_not(None), SightingRow.id > last
                    )
                    .order_by(SightingRow.id)
                    .limit(batch)
                ).all()
            if not rows:
                return
            ids = np.array([r[0] for r in rows], dtype=np.int64)
            vectors = np.stack([np.frombuffer(r[1] or b"", dtype=np.float32, count=r[2] or -1) for r in rows])
            last = int(ids[-1])
            yield ids, vectors

    def dim(self, kind: SightingKind) -> int | None:
        return self._dims.get(kind)

    def index(self, kind: SightingKind) -> VectorIndex:
        """The (lazily opened, store-consistent) index of ``kind``."""
        with self._index_lock:
            index = self._indexes.get(kind)
            if index is None:
                dim = self._dims.get(kind)
                if dim is None:
                    raise StoreError(f"no {kind.value} embeddings yet: the index dimension is unknown")
                index = VectorIndex.open(kind.value, dim, self.settings, self)
                self._indexes[kind] = index
            return index

    def rebuild_index(self, kind: SightingKind) -> VectorIndex:
        """Rebuild ``kind``'s index from the stored embeddings (and retrain IVF)."""
        with self._index_lock:
            dim = self._dims.get(kind)
            if dim is None:
                raise StoreError(f"no {kind.value} embeddings: nothing to rebuild")
            index = VectorIndex(kind.value, dim, self.settings)
            index._rebuild_from(self)
            self._indexes[kind] = index
            return index
