"""Vector index: persistence, reopen, stale detection, rebuild from the store, IVF recall vs brute force."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from recognition.types import Box
from search.index import VectorIndex
from search.records import Camera, NewSighting, SightingKind
from search.settings import SearchSettings
from search.store import SightingStore
from sightline.errors import StoreError
from sightline.settings import Settings

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def clustered(n: int, dim: int, seed: int, identities: int = 100, noise: float = 0.04) -> np.ndarray:
    """Synthetic embeddings: ``identities`` centres, each sample a noisy copy, L2-normalised."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(identities, dim)).astype(np.float32)
    x = centres[rng.integers(0, identities, size=n)] + noise * rng.normal(size=(n, dim)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


class ArraySource:
    """An EmbeddingSource over arrays: the protocol the store implements, for index-only tests."""

    def __init__(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self.ids, self.vectors = ids, vectors

    def embedding_stats(self, kind: str) -> tuple[int, int]:
        return len(self.ids), int(self.ids.max()) if len(self.ids) else 0

    def iter_embeddings(
        self, kind: str, *, after_id: int = 0, batch: int = 4096
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        keep = self.ids > after_id
        ids, vecs = self.ids[keep], self.vectors[keep]
        for start in range(0, len(ids), batch):
            yield ids[start : start + batch], vecs[start : start + batch]


def fill_store(store: SightingStore, vectors: np.ndarray) -> list[int]:
    store.ensure_camera(Camera("cam", "Cam"))
    return [
        store.add_sighting(
            NewSighting(
                SightingKind.FACE,
                "cam",
                T0 + timedelta(seconds=i),
                T0 + timedelta(seconds=i),
                Box(0, 0, 1, 1),
                0.9,
                b"",
                v,
            )
        )
        for i, v in enumerate(vectors)
    ]


def test_persist_reopen_and_rebuild_give_equal_results(settings: Settings) -> None:
    vectors = clustered(60, 512, seed=0, identities=6)
    queries = clustered(5, 512, seed=1, identities=6)
    store = SightingStore.open(settings.search)
    fill_store(store, vectors)
    before = [store.index(SightingKind.FACE).search(q, 10) for q in queries]
    store.close()
    index_dir = settings.search.data_dir / "index"
    assert (index_dir / "face.faiss").is_file()
    assert json.loads((index_dir / "face.json").read_text())["count"] == 60

    reopened = SightingStore.open(settings.search)
    after = [reopened.index(SightingKind.FACE).search(q, 10) for q in queries]
    rebuilt = reopened.rebuild_index(SightingKind.FACE)
    again = [rebuilt.search(q, 10) for q in queries]
    reopened.close()
    for a, b, c in zip(before, after, again, strict=True):
        assert [i for i, _ in a] == [i for i, _ in b] == [i for i, _ in c]
        np.testing.assert_allclose([s for _, s in a], [s for _, s in c], atol=1e-5)


def test_stale_index_is_caught_up_or_rebuilt(settings: Settings) -> None:
    vectors = clustered(30, 512, seed=2, identities=3)
    store = SightingStore.open(settings.search)
    ids = fill_store(store, vectors[:20])
    store.close()
    index_dir = settings.search.data_dir / "index"
    saved = (index_dir / "face.faiss").read_bytes(), (index_dir / "face.json").read_text()

    # Rows written after the last index save (a crash): caught up from the store at open.
    store = SightingStore.open(settings.search)
    ids += fill_store(store, vectors[20:])
    store.engine.dispose()  # no close(): the index file still holds 20 vectors
    (index_dir / "face.faiss").write_bytes(saved[0])
    (index_dir / "face.json").write_text(saved[1])
    store = SightingStore.open(settings.search)
    assert len(store.index(SightingKind.FACE)) == 30
    assert store.index(SightingKind.FACE).search(vectors[25], 1)[0][0] == ids[25]
    store.close()

    # A sidecar that disagrees with its file, and a missing file: rebuilt.
    meta = json.loads((index_dir / "face.json").read_text())
    (index_dir / "face.json").write_text(json.dumps(meta | {"count": 7}))
    store = SightingStore.open(settings.search)
    assert len(store.index(SightingKind.FACE)) == 30
    store.close()
    (index_dir / "face.faiss").unlink()
    store = SightingStore.open(settings.search)
    index = store.index(SightingKind.FACE)
    assert len(index) == 30 and index.search(vectors[3], 1)[0][0] == ids[3]
    store.close()


def test_remove_and_errors(settings: Settings) -> None:
    vectors = clustered(50, 64, seed=3)
    ids = np.arange(1, 51, dtype=np.int64)
    index = VectorIndex("vehicle", 64, settings.search)
    index.add(ids, vectors)
    assert index.remove([5, 6, 999]) == 2
    assert len(index) == 48
    assert all(i not in (5, 6) for i, _ in index.search(vectors[4], 10))
    with pytest.raises(StoreError, match=r"\[N, 64\]"):
        index.add([100], np.ones((1, 32), dtype=np.float32))
    with pytest.raises(StoreError, match="NaN"):
        index.search(np.full(64, np.nan, dtype=np.float32), 3)


def test_ivf_recall_against_brute_force(settings: Settings) -> None:
    """Above ivf_threshold the index trains IVF; recall@10 against exact numpy search stays high."""
    n, dim = 4000, 512
    cfg = SearchSettings(
        data_dir=settings.search.data_dir, ivf_threshold=1000, nprobe=8, index_save_every=10**6
    )
    data = clustered(n + 50, dim, seed=4, identities=200)
    base, queries = data[:n], data[n:]
    ids = np.arange(1, n + 1, dtype=np.int64) * 3  # ids need not be dense
    index = VectorIndex.open("face", dim, cfg, ArraySource(ids, base))
    assert index.stats.ivf and index.stats.count == n
    truth = np.argsort(-(queries @ base.T), axis=1)[:, :10]
    recall = np.mean(
        [
            len({i for i, _ in index.search(q, 10)} & set(ids[t].tolist())) / 10
            for q, t in zip(queries, truth, strict=True)
        ]
    )
    assert recall >= 0.95
    got = index.search(queries[0], 10)
    np.testing.assert_allclose([s for _, s in got], np.sort(queries[0] @ base.T)[::-1][:10], atol=1e-5)
    # Persisted with its IVF layer and reloaded without retraining.
    index.save()
    again = VectorIndex.open("face", dim, cfg, ArraySource(ids, base))
    assert again.stats.ivf and again.search(queries[0], 10) == got
