"""Face search latency and recall@10 through the real index class, on synthetic clustered embeddings.

Data: ``identities`` random centres on the 512-d sphere, several noisy samples each, noise chosen so
samples of one identity have cosine ≈ 0.6 (FaceNet's same-person range). Queries are further samples,
never in the index. Ground truth is exact brute-force numpy search. Vectors are added in batches
through ``VectorIndex.add``, as ingest does, so IVF is trained where production trains it.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from search.index import VectorIndex
from search.settings import SearchSettings

if TYPE_CHECKING:
    from sightline.settings import Settings

__all__ = ["bench_search", "clustered_embeddings"]

log = logging.getLogger(__name__)

_DIM = 512
_NOISE = 0.035  # per dimension: |noise| ≈ 0.79, so two samples of one identity have cosine ≈ 0.6


def clustered_embeddings(
    n: int, identities: int, seed: int, dim: int = _DIM, noise: float = _NOISE
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """``n`` L2-normalised samples around ``identities`` centres, and each sample's identity."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(identities, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = rng.integers(0, identities, size=n)
    x = centres[labels] + noise * rng.standard_normal(size=(n, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), labels.astype(np.int64)


def bench_search(vectors: int, queries: int = 200, settings: Settings | None = None) -> dict[str, Any]:
    """p50/p99 latency of one k=10 query and recall@10 against brute force, at ``vectors`` entries."""
    base_settings = settings.search if settings is not None else SearchSettings()
    identities = max(1, min(2000, vectors // 10))
    data, _ = clustered_embeddings(vectors + queries, identities, seed=0)
    base, query = data[:vectors], data[vectors:]
    with tempfile.TemporaryDirectory(prefix="sightline-bench-") as tmp:
        cfg = base_settings.model_copy(update={"data_dir": Path(tmp), "index_save_every": vectors + 1})
        index = VectorIndex("face", _DIM, cfg)
        t0 = time.perf_counter()
        for start in range(0, vectors, 10_000):
            stop = min(start + 10_000, vectors)
            index.add(np.arange(start + 1, stop + 1, dtype=np.int64), base[start:stop])
        build_s = time.perf_counter() - t0
        log.info("bench search: %d vectors indexed in %.1f s (%s)", vectors, build_s, index.stats)

        timings: list[float] = []
        found: list[list[int]] = []
        for q in query:
            t = time.perf_counter()
            hits = index.search(q, 10)
            timings.append((time.perf_counter() - t) * 1000.0)
            found.append([i for i, _ in hits])
        stats = index.stats

    truth = np.argsort(-(query @ base.T), axis=1)[:, :10] + 1  # ids are row + 1
    recall = float(np.mean([len(set(f) & set(t.tolist())) / 10 for f, t in zip(found, truth, strict=True)]))
    return {
        "vectors": vectors,
        "queries": queries,
        "p50_ms": round(float(np.percentile(timings, 50)), 3),
        "p99_ms": round(float(np.percentile(timings, 99)), 3),
        "recall_at_10": round(recall, 4),
        "index": f"IVF{stats.nlist},SQ8+exact re-rank, nprobe {cfg.nprobe}" if stats.ivf else "Flat",
        "build_s": round(build_s, 1),
    }
