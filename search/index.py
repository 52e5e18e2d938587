"""One FAISS index per modality: cosine similarity over L2-normalised vectors, keyed by sighting id.

Layout: an ``IndexIDMap2(IndexFlatIP)`` always holds every vector. It answers exactly while the index
is small, and it is the exact store for re-ranking. At ``ivf_threshold`` vectors an IVF index with
8-bit scalar quantisation (a quarter of the memory of the flat vectors) is trained on the stored
vectors and proposes ``k x rerank_factor`` candidates from ``nprobe`` lists; the flat vectors then
re-rank them exactly, so returned scores are true cosines. Measured here (models/README.md): flat 512-d is
28 ms at 100k vectors, IVF4096 nprobe 8 1.3 ms at 1M with recall@10 0.998.

Persistence: ``<kind>.faiss`` (flat), ``<kind>.ivf.faiss`` (when trained) and a ``<kind>.json``
sidecar (count, dim, last id), each written atomically, sidecar last. The store is the source of
truth: at open, an index whose sidecar disagrees with the store is caught up (only newer rows
missing) or rebuilt from the stored embeddings.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import faiss
import numpy as np
from numpy.typing import NDArray

from search.settings import SearchSettings
from sightline.errors import StoreError
from sightline.fileio import atomic_write_bytes

__all__ = ["EmbeddingSource", "IndexStats", "VectorIndex", "rebuild"]

log = logging.getLogger(__name__)

_SIDECAR_VERSION = 1
# IVF training is k-means; faiss wants at least 39 points per list. 64 per list keeps training at
# 100k vectors under ~10 s on one core while centroids stay stable.
_TRAIN_POINTS_PER_LIST = 64
_KMEANS_ITERATIONS = 10
# Retrain the coarse quantiser when the index has grown this much since training: lists grow long
# and unbalanced as data drifts away from the original centroids.
_RETRAIN_GROWTH = 4


class EmbeddingSource(Protocol):
    """What an index rebuilds from: the metadata store."""

    def embedding_stats(self, kind: str) -> tuple[int, int]:
        """(number of stored embeddings of ``kind``, largest sighting id among them or 0)."""
        ...

    def iter_embeddings(
        self, kind: str, *, after_id: int = 0, batch: int = 4096
    ) -> Iterator[tuple[NDArray[np.int64], NDArray[np.float32]]]:
        """Batches of (ids, vectors) in id order, ids greater than ``after_id``."""
        ...


@dataclass(frozen=True, slots=True)
class IndexStats:
    kind: str
    dim: int
    count: int
    last_id: int
    ivf: bool
    nlist: int


def _normalised(vectors: NDArray[Any], dim: int) -> NDArray[np.float32]:
    arr = np.ascontiguousarray(np.atleast_2d(np.asarray(vectors, dtype=np.float32)))
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise StoreError(f"index: expected vectors of shape [N, {dim}], got {list(arr.shape)}")
    if not np.isfinite(arr).all():
        raise StoreError("index: vectors contain NaN or infinity")
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    return np.ascontiguousarray(arr / np.maximum(norms, 1e-12), dtype=np.float32)


class VectorIndex:
    """Cosine search over one modality's embeddings; thread-safe (one lock around faiss)."""

    def __init__(self, kind: str, dim: int, settings: SearchSettings, directory: Path | None = None) -> None:
        if dim <= 0:
            raise StoreError(f"index {kind}: dimension must be positive, got {dim}")
        self.kind = kind
        self.dim = dim
        self._settings = settings
        self._dir = directory if directory is not None else Path(settings.data_dir) / "index"
        self._lock = threading.RLock()
        self._flat: Any = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._ivf: Any = None
        self._trained_on = 0
        self._last_id = 0
        self._unsaved = 0

    # --- paths -----------------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        return self._dir / f"{self.kind}.faiss"

    @property
    def _ivf_path(self) -> Path:
        return self._dir / f"{self.kind}.ivf.faiss"

    @property
    def _sidecar_path(self) -> Path:
        return self._dir / f"{self.kind}.json"

    # --- state -----------------------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self._flat.ntotal)

    @property
    def stats(self) -> IndexStats:
        with self._lock:
            nlist = int(self._ivf.nlist) if self._ivf is not None else 0
            return IndexStats(self.kind, self.dim, len(self), self._last_id, self._ivf is not None, nlist)

    # --- mutation --------------------------------------------------------------------------------

    def add(self, ids: NDArray[np.int64] | list[int], vectors: NDArray[Any]) -> None:
        """Add vectors under their sighting ids (normalised here, so callers cannot skew scores)."""
        id_arr = np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))
        vecs = _normalised(vectors, self.dim)
        if len(id_arr) != len(vecs):
            raise StoreError(f"index {self.kind}: {len(id_arr)} ids for {len(vecs)} vectors")
        if len(id_arr) == 0:
            return
        with self._lock:
            try:
                self._flat.add_with_ids(vecs, id_arr)
                if self._ivf is not None:
                    self._ivf.add_with_ids(vecs, id_arr)
            except (RuntimeError, AssertionError) as exc:
                raise StoreError(f"index {self.kind}: add failed: {exc}") from exc
            self._last_id = max(self._last_id, int(id_arr.max()))
            self._unsaved += len(id_arr)
            self._maybe_train()
            if self._unsaved >= self._settings.index_save_every:
                self.save()

    def remove(self, ids: NDArray[np.int64] | list[int]) -> int:
        """Remove sighting ids (retention); unknown ids are ignored. Returns how many were removed."""
        id_arr = np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))
        if len(id_arr) == 0:
            return 0
        with self._lock:
            try:
                removed = int(self._flat.remove_ids(id_arr))
                if self._ivf is not None:
                    self._ivf.remove_ids(id_arr)
            except (RuntimeError, AssertionError) as exc:
                raise StoreError(f"index {self.kind}: remove failed: {exc}") from exc
            self._unsaved += removed
            if self._ivf is not None and len(self) < self._settings.ivf_threshold // 2:
                # Hysteresis: drop IVF only well below the threshold so a purge does not flap it.
                self._ivf = None
                self._trained_on = 0
            return removed

    def _maybe_train(self) -> None:
        n = len(self)
        if n < self._settings.ivf_threshold:
            return
        if self._ivf is not None and n < self._trained_on * _RETRAIN_GROWTH:
            return
        self._train()

    def _train(self) -> None:
        """(Re)build the IVF layer from the flat vectors, which are the exact copy of the store."""
        n = len(self)
        nlist = max(16, int(4 * math.sqrt(n)))
        ids = faiss.vector_to_array(self._flat.id_map).astype(np.int64)
        vectors = self._flat.index.reconstruct_n(0, n)
        rng = np.random.default_rng(n)
        sample_n = min(n, nlist * _TRAIN_POINTS_PER_LIST)
        sample = vectors[rng.choice(n, size=sample_n, replace=False)] if sample_n < n else vectors
        log.info("index %s: training IVF%d on %d of %d vectors", self.kind, nlist, sample_n, n)
        try:
            quantizer = faiss.IndexFlatIP(self.dim)
            ivf = faiss.IndexIVFScalarQuantizer(
                quantizer, self.dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
            )
            ivf.cp.niter = _KMEANS_ITERATIONS
            ivf.train(np.ascontiguousarray(sample))
            ivf.add_with_ids(np.ascontiguousarray(vectors), ids)
        except (RuntimeError, AssertionError) as exc:
            raise StoreError(f"index {self.kind}: IVF training failed: {exc}") from exc
        self._ivf = ivf
        self._trained_on = n

    # --- search ----------------------------------------------------------------------------------

    def search(self, vector: NDArray[Any], k: int) -> list[tuple[int, float]]:
        """The ``k`` nearest sighting ids with their cosine similarity, best first."""
        if k <= 0:
            return []
        query = _normalised(vector, self.dim)
        if len(query) != 1:
            raise StoreError(f"index {self.kind}: search takes one vector, got {len(query)}")
        with self._lock:
            n = len(self)
            if n == 0:
                return []
            try:
                if self._ivf is None or k * self._settings.rerank_factor >= n:
                    scores, ids = self._flat.search(query, min(k, n))
                    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
                return self._search_ivf(query, k)
            except (RuntimeError, AssertionError) as exc:
                raise StoreError(f"index {self.kind}: search failed: {exc}") from exc

    def _search_ivf(self, query: NDArray[np.float32], k: int) -> list[tuple[int, float]]:
        params = faiss.SearchParametersIVF()
        params.nprobe = self._settings.nprobe
        _, cand = self._ivf.search(query, k * self._settings.rerank_factor, params=params)
        cand_ids = cand[0][cand[0] >= 0]
        if len(cand_ids) == 0:
            return []
        exact = np.stack([self._flat.reconstruct(int(i)) for i in cand_ids])
        scores = exact @ query[0]
        order = np.argsort(-scores, kind="stable")[:k]
        return [(int(cand_ids[j]), float(scores[j])) for j in order]

    # --- persistence -----------------------------------------------------------------------------

    def save(self) -> None:
        """Write the index files atomically, sidecar last (a crash in between reads as stale)."""
        with self._lock:
            try:
                self._dir.mkdir(parents=True, exist_ok=True)
                atomic_write_bytes(self.path, faiss.serialize_index(self._flat).tobytes())
                if self._ivf is not None:
                    atomic_write_bytes(self._ivf_path, faiss.serialize_index(self._ivf).tobytes())
                else:
                    self._ivf_path.unlink(missing_ok=True)
                sidecar = {
                    "version": _SIDECAR_VERSION,
                    "kind": self.kind,
                    "dim": self.dim,
                    "count": len(self),
                    "last_id": self._last_id,
                    "ivf": self._ivf is not None,
                    "trained_on": self._trained_on,
                }
                atomic_write_bytes(self._sidecar_path, json.dumps(sidecar).encode())
            except (OSError, RuntimeError) as exc:
                raise StoreError(f"index {self.kind}: cannot write {self._dir}: {exc}") from exc
            self._unsaved = 0
            log.debug("index %s: saved %d vectors", self.kind, len(self))

    def _load(self) -> bool:
        """Load the persisted files; False (and a log line) when missing or inconsistent."""
        try:
            meta = json.loads(self._sidecar_path.read_text())
            if meta.get("version") != _SIDECAR_VERSION or meta.get("dim") != self.dim:
                log.warning("index %s: sidecar version/dim differs, rebuilding", self.kind)
                return False
            flat = faiss.deserialize_index(np.fromfile(self.path, dtype=np.uint8))
            ivf = (
                faiss.deserialize_index(np.fromfile(self._ivf_path, dtype=np.uint8)) if meta["ivf"] else None
            )
        except FileNotFoundError:
            return False
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            log.warning("index %s: unreadable index files (%s), rebuilding", self.kind, exc)
            return False
        count = int(meta["count"])
        if flat.ntotal != count or flat.d != self.dim or (ivf is not None and ivf.ntotal != count):
            log.warning("index %s: files disagree with their sidecar, rebuilding", self.kind)
            return False
        self._flat, self._ivf = flat, ivf
        self._last_id = int(meta["last_id"])
        self._trained_on = int(meta.get("trained_on", 0))
        self._unsaved = 0
        return True

    @classmethod
    def open(
        cls,
        kind: str,
        dim: int,
        settings: SearchSettings,
        source: EmbeddingSource,
        directory: Path | None = None,
    ) -> VectorIndex:
        """Load the persisted index, or catch it up, or rebuild it, so that it matches the store."""
        index = cls(kind, dim, settings, directory)
        count, max_id = source.embedding_stats(kind)
        with index._lock:
            if index._load():
                if len(index) == count and index._last_id == max_id:
                    return index
                if index._last_id < max_id and index._catch_up(source, count):
                    return index
                log.warning(
                    "index %s is stale (%d vectors, last id %d; store has %d, last id %d): rebuilding",
                    kind,
                    len(index),
                    index._last_id,
                    count,
                    max_id,
                )
            index._rebuild_from(source)
        return index

    def _catch_up(self, source: EmbeddingSource, count: int) -> bool:
        added = 0
        for ids, vectors in source.iter_embeddings(self.kind, after_id=self._last_id):
            self.add(ids, vectors)
            added += len(ids)
        if len(self) != count:
            return False
        log.info("index %s: caught up %d vectors from the store", self.kind, added)
        self.save()
        return True

    def _rebuild_from(self, source: EmbeddingSource) -> None:
        with self._lock:
            self._flat = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
            self._ivf = None
            self._trained_on = 0
            self._last_id = 0
            save_every = self._settings.index_save_every
            # Train once at the end rather than at each crossing while loading.
            for ids, vectors in source.iter_embeddings(self.kind):
                vecs = _normalised(vectors, self.dim)
                try:
                    self._flat.add_with_ids(vecs, np.ascontiguousarray(ids, dtype=np.int64))
                except (RuntimeError, AssertionError) as exc:
                    raise StoreError(f"index {self.kind}: rebuild failed: {exc}") from exc
                self._last_id = max(self._last_id, int(ids.max()))
            if len(self) >= self._settings.ivf_threshold:
                self._train()
            self._unsaved = save_every
            self.save()
            log.info("index %s: rebuilt with %d vectors", self.kind, len(self))


def rebuild(source: EmbeddingSource, kind: str, dim: int, settings: SearchSettings) -> VectorIndex:
    """Rebuild ``kind``'s index from the store's embeddings, retraining IVF, and persist it."""
    index = VectorIndex(kind, dim, settings)
    index._rebuild_from(source)
    return index
