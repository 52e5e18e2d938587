"""Convert a frozen TensorFlow GraphDef to ONNX without TensorFlow.

Why our own converter: the FaceNet weights ship only as a frozen GraphDef, and TensorFlow (or
tf2onnx, which needs it) is a multi-hundred-megabyte dependency for one preparation step. The
GraphDef protobuf classes come with tensorboard, and the graph uses 17 plain op types.

Layout: TensorFlow's image ops are NHWC, ONNX's are NCHW. The graph input is transposed to NCHW
once; every tensor then carries a flag saying whether it is held transposed, and is transposed back
only where an op needs TensorFlow's own layout (Reshape, a graph output). Batch 1 hard-coded in
Reshape shape constants becomes ONNX's "copy this dimension" (0), so the batch is dynamic.

The output is byte-stable for a given input: fixed opset, IR version and producer strings, nodes
in the GraphDef's (topological) order and initializers in first-use order, so the prepared file can
be pinned by sha256 in the manifest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

from sightline.errors import ModelError

__all__ = ["OPSET", "SUPPORTED_OPS", "convert_graphdef", "decode_tensor", "serialize"]

log = logging.getLogger(__name__)

OPSET = 13
"""ONNX opset of the output; 13 keeps ReduceSum's axes as an input and runs on any recent runtime."""
_IR_VERSION = 7  # the IR version that introduced opset 13; pinned so onnx upgrades keep the bytes
_PRODUCER = "sightline.models.tf_to_onnx"
_PRODUCER_VERSION = "1"
_BATCH = "N"
_TO_NCHW = (0, 3, 1, 2)
_TO_NHWC = (0, 2, 3, 1)
_NHWC_AXIS_IN_NCHW = (0, 2, 3, 1)  # NHWC axis a sits at this position of the NCHW tensor

Array = NDArray[np.generic]


@dataclass(frozen=True)
class _Tensor:
    """A computed (non-constant) tensor: its ONNX name, rank, and whether it is held as NCHW."""

    name: str
    rank: int
    nchw: bool = False


_Value = _Tensor | np.ndarray
_Node = Any  # tensorboard's protobuf classes carry no type information


def decode_tensor(proto: _Node) -> Array:
    """A TensorFlow ``TensorProto`` as a numpy array (``tensor_content`` or the typed value lists)."""
    from tensorboard.compat.proto import types_pb2

    dtypes: dict[int, tuple[type[np.generic], str]] = {
        types_pb2.DT_FLOAT: (np.float32, "float_val"),
        types_pb2.DT_DOUBLE: (np.float64, "double_val"),
        types_pb2.DT_INT32: (np.int32, "int_val"),
        types_pb2.DT_INT16: (np.int16, "int_val"),
        types_pb2.DT_INT8: (np.int8, "int_val"),
        types_pb2.DT_UINT8: (np.uint8, "int_val"),
        types_pb2.DT_INT64: (np.int64, "int64_val"),
        types_pb2.DT_BOOL: (np.bool_, "bool_val"),
    }
    dtype_id: int = proto.dtype
    if dtype_id not in dtypes:
        raise ModelError(f"unsupported constant dtype {types_pb2.DataType.Name(dtype_id)}")
    np_type, field = dtypes[dtype_id]
    shape = tuple(int(d.size) for d in proto.tensor_shape.dim)
    count = int(np.prod(shape, dtype=np.int64))
    content: bytes = proto.tensor_content
    if content:
        arr: Array = np.frombuffer(content, dtype=np.dtype(np_type).newbyteorder("<")).astype(np_type)
        return arr.reshape(shape)
    values = np.asarray(list(getattr(proto, field)), dtype=np_type)
    if values.size == count:
        return values.reshape(shape)
    if values.size == 1 or values.size == 0:
        # TensorFlow stores a constant fill as one value (or none for zeros).
        fill = values[0] if values.size else np_type(0)
        return np.full(shape, fill, dtype=np_type)
    raise ModelError(f"constant has {values.size} values for shape {shape}")


def _strip(ref: str) -> str:
    """Node name of an input reference: ``name:0`` → ``name``."""
    name, _, port = ref.partition(":")
    if port not in ("", "0"):
        raise ModelError(f"input {ref!r} uses output {port} of a multi-output op, which is not supported")
    return name


def _topological(nodes: Sequence[_Node]) -> list[_Node]:
    """Nodes ordered so each follows its inputs, keeping the GraphDef's order where it already does."""
    by_name = {n.name: n for n in nodes}
    done: set[str] = set()
    order: list[_Node] = []
    for root in nodes:
        stack: list[tuple[_Node, bool]] = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            name: str = node.name
            if name in done:
                continue
            if expanded:
                done.add(name)
                order.append(node)
                continue
            stack.append((node, True))
            for ref in reversed(list(node.input)):
                if ref.startswith("^"):
                    continue
                dep = _strip(ref)
                if dep not in by_name:
                    raise ModelError(f"node {name!r} reads {dep!r}, which is not in the graph")
                if dep not in done:
                    stack.append((by_name[dep], False))
    return order


class _Builder:
    """Walks the GraphDef once, emitting ONNX nodes and initializers."""

    def __init__(self, outputs: Sequence[str]) -> None:
        self.outputs = set(outputs)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[TensorProto] = []
        self.init_names: set[str] = set()
        self.values: dict[str, _Value] = {}
        self.inputs: list[onnx.ValueInfoProto] = []
        self.transposed: dict[tuple[str, bool], _Tensor] = {}
        self.handlers = self._handlers()

    # -- helpers -------------------------------------------------------------------------------

    def emit(self, op: str, inputs: Sequence[str], output: str, **attrs: Any) -> str:
        self.nodes.append(helper.make_node(op, list(inputs), [output], name=output, **attrs))
        return output

    def init(self, name: str, arr: Array) -> str:
        if name not in self.init_names:
            self.init_names.add(name)
            self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def tensor_name(self, node_name: str) -> str:
        """Graph outputs get a private name first so the final Identity/Transpose can own the name."""
        return f"{node_name}/__pre_output" if node_name in self.outputs else node_name

    def value(self, ref: str, node: str) -> _Value:
        name = _strip(ref)
        if name not in self.values:
            raise ModelError(f"node {node!r} reads {name!r} before it is defined")
        return self.values[name]

    def const(self, ref: str, node: str) -> Array:
        val = self.value(ref, node)
        if isinstance(val, _Tensor):
            raise ModelError(f"node {node!r} needs input {ref!r} to be a constant")
        return val

    def tensor(self, ref: str, node: str) -> _Tensor:
        val = self.value(ref, node)
        if not isinstance(val, _Tensor):
            raise ModelError(f"node {node!r} needs input {ref!r} to be computed, not a constant")
        return val

    def as_layout(self, t: _Tensor, nchw: bool) -> _Tensor:
        if t.nchw == nchw:
            return t
        if t.rank != 4:
            raise ModelError(f"tensor {t.name!r} of rank {t.rank} cannot change image layout")
        key = (t.name, nchw)
        if key not in self.transposed:
            out = f"{t.name}/__{'nchw' if nchw else 'nhwc'}"
            self.emit("Transpose", [t.name], out, perm=list(_TO_NCHW if nchw else _TO_NHWC))
            self.transposed[key] = _Tensor(out, 4, nchw)
        return self.transposed[key]

    def const_input(self, ref: str, arr: Array, nchw: bool) -> str:
        """A constant operand of an elementwise op, reshaped to broadcast against NCHW if needed."""
        name = _strip(ref)
        if nchw and arr.size > 1:
            if arr.ndim == 1:
                arr, name = arr.reshape(-1, 1, 1), f"{name}/__c11"
            elif arr.ndim == 4:
                arr, name = arr.transpose(_TO_NCHW), f"{name}/__nchw"
            else:
                raise ModelError(f"cannot broadcast constant {ref!r} of shape {arr.shape} against NCHW")
        return self.init(name, arr)

    # -- ops -----------------------------------------------------------------------------------

    def placeholder(self, node: _Node) -> None:
        from tensorboard.compat.proto import types_pb2

        name: str = node.name
        attr = node.attr
        if attr["dtype"].type != types_pb2.DT_FLOAT:
            raise ModelError(f"placeholder {name!r} is not float32")
        dims: list[int | str] = [int(d.size) for d in attr["shape"].shape.dim]
        if not dims:
            raise ModelError(f"placeholder {name!r} has no static shape")
        dims[0] = _BATCH
        self.inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, dims))
        self.values[name] = _Tensor(name, len(dims))
        if name in self.outputs:
            raise ModelError(f"placeholder {name!r} cannot also be an output")

    def elementwise(self, node: _Node, op: str) -> None:
        name: str = node.name
        refs = [r for r in node.input if not r.startswith("^")]
        vals = [self.value(r, name) for r in refs]
        tensors = [v for v in vals if isinstance(v, _Tensor)]
        if not tensors:
            raise ModelError(f"node {name!r} computes on constants only; fold it before converting")
        rank = max([t.rank for t in tensors] + [v.ndim for v in vals if isinstance(v, np.ndarray)])
        nchw = any(t.nchw for t in tensors) and all(t.rank == 4 for t in tensors) and rank == 4
        names = [
            self.as_layout(v, nchw).name if isinstance(v, _Tensor) else self.const_input(r, v, nchw)
            for r, v in zip(refs, vals, strict=True)
        ]
        out = self.tensor_name(name)
        self.emit(op, names, out)
        self.values[name] = _Tensor(out, rank, nchw)

    def unary(self, node: _Node, op: str) -> None:
        name: str = node.name
        refs = [r for r in node.input if not r.startswith("^")]
        x = self.tensor(refs[0], name)
        out = self.tensor_name(name)
        if op == "Square":
            self.emit("Mul", [x.name, x.name], out)
        elif op == "Rsqrt":  # opset 13 has no Rsqrt
            self.emit("Reciprocal", [self.emit("Sqrt", [x.name], f"{out}/__sqrt")], out)
        else:
            self.emit(op, [x.name], out)
        self.values[name] = _Tensor(out, x.rank, x.nchw)

    def conv2d(self, node: _Node) -> None:
        name: str = node.name
        attr = node.attr
        _require_nhwc(node)
        x = self.as_layout(self.tensor(node.input[0], name), nchw=True)
        weights = self.const(node.input[1], name)
        if weights.ndim != 4:
            raise ModelError(f"Conv2D {name!r}: weights of shape {weights.shape}, expected HWIO")
        w = self.init(f"{_strip(node.input[1])}/__oihw", weights.transpose(3, 2, 0, 1))
        kernel = [int(weights.shape[0]), int(weights.shape[1])]
        out = self.tensor_name(name)
        self.emit(
            "Conv",
            [x.name, w],
            out,
            kernel_shape=kernel,
            strides=_spatial(attr["strides"].list.i, name),
            dilations=_spatial(attr["dilations"].list.i, name) if "dilations" in attr else [1, 1],
            **_padding(attr["padding"].s, name),
        )
        self.values[name] = _Tensor(out, 4, nchw=True)

    def pool(self, node: _Node, op: str) -> None:
        name: str = node.name
        attr = node.attr
        _require_nhwc(node)
        x = self.as_layout(self.tensor(node.input[0], name), nchw=True)
        out = self.tensor_name(name)
        self.emit(
            op,
            [x.name],
            out,
            kernel_shape=_spatial(attr["ksize"].list.i, name),
            strides=_spatial(attr["strides"].list.i, name),
            **_padding(attr["padding"].s, name),
        )
        self.values[name] = _Tensor(out, 4, nchw=True)

    def bias_add(self, node: _Node) -> None:
        name: str = node.name
        _require_nhwc(node)
        x = self.tensor(node.input[0], name)
        bias = self.const(node.input[1], name)
        b = self.const_input(node.input[1], bias, x.nchw)
        out = self.tensor_name(name)
        self.emit("Add", [x.name, b], out)
        self.values[name] = _Tensor(out, x.rank, x.nchw)

    def concat(self, node: _Node) -> None:
        name: str = node.name
        refs = [r for r in node.input if not r.startswith("^")]
        axis = int(self.const(refs[-1], name))
        parts = [self.tensor(r, name) for r in refs[:-1]]
        rank = parts[0].rank
        axis = axis + rank if axis < 0 else axis
        nchw = all(p.nchw for p in parts)
        parts = [self.as_layout(p, nchw) for p in parts]
        out = self.tensor_name(name)
        self.emit("Concat", [p.name for p in parts], out, axis=_NHWC_AXIS_IN_NCHW[axis] if nchw else axis)
        self.values[name] = _Tensor(out, rank, nchw)

    def reshape(self, node: _Node) -> None:
        name: str = node.name
        x = self.as_layout(self.tensor(node.input[0], name), nchw=False)
        shape = self.const(node.input[1], name).astype(np.int64).reshape(-1)
        if shape.size and shape[0] == 1:
            # A frozen batch of 1: 0 tells ONNX Reshape to copy the input's batch dimension.
            shape = shape.copy()
            shape[0] = 0
        s = self.init(f"{_strip(node.input[1])}/__shape", shape)
        out = self.tensor_name(name)
        self.emit("Reshape", [x.name, s], out)
        self.values[name] = _Tensor(out, int(shape.size))

    def matmul(self, node: _Node) -> None:
        name: str = node.name
        attr = node.attr
        if attr["transpose_a"].b or attr["transpose_b"].b:
            raise ModelError(f"MatMul {name!r} with transposed operands is not supported")
        a = self.as_layout(self.tensor(node.input[0], name), nchw=False)
        b_val = self.value(node.input[1], name)
        if isinstance(b_val, _Tensor):
            b = self.as_layout(b_val, nchw=False).name
        else:
            b = self.init(_strip(node.input[1]), b_val)
        out = self.tensor_name(name)
        self.emit("MatMul", [a.name, b], out)
        self.values[name] = _Tensor(out, a.rank)

    def batch_norm(self, node: _Node) -> None:
        name: str = node.name
        attr = node.attr
        _require_nhwc(node)
        if attr["is_training"].b:
            raise ModelError(f"FusedBatchNorm {name!r} is in training mode")
        x = self.as_layout(self.tensor(node.input[0], name), nchw=True)
        params = [self.init(_strip(r), self.const(r, name).astype(np.float32)) for r in list(node.input)[1:5]]
        eps = float(attr["epsilon"].f) if "epsilon" in attr else 1e-3
        out = self.tensor_name(name)
        self.emit("BatchNormalization", [x.name, *params], out, epsilon=eps)
        self.values[name] = _Tensor(out, 4, nchw=True)

    def reduce_sum(self, node: _Node) -> None:
        name: str = node.name
        keep = bool(node.attr["keep_dims"].b)
        x = self.tensor(node.input[0], name)
        axes = [int(a) for a in self.const(node.input[1], name).reshape(-1)]
        axes = [a + x.rank if a < 0 else a for a in axes]
        if x.nchw and not keep:
            x = self.as_layout(x, nchw=False)
        if x.nchw:
            axes = [_NHWC_AXIS_IN_NCHW[a] for a in axes]
        ax = self.init(f"{_strip(node.input[1])}/__axes", np.asarray(axes, dtype=np.int64))
        out = self.tensor_name(name)
        self.emit("ReduceSum", [x.name, ax], out, keepdims=int(keep))
        self.values[name] = _Tensor(out, x.rank if keep else x.rank - len(axes), x.nchw)

    def convert(self, node: _Node) -> None:
        op: str = node.op
        name: str = node.name
        if op == "Const":
            self.values[name] = decode_tensor(node.attr["value"].tensor)
            return
        handler = self.handlers.get(op)
        if handler is None:
            raise ModelError(
                f"unsupported TensorFlow op {op!r} (node {name!r}); supported: {', '.join(SUPPORTED_OPS)}"
            )
        handler(node)

    def _handlers(self) -> dict[str, Callable[[_Node], None]]:
        return {
            "Placeholder": self.placeholder,
            "Conv2D": self.conv2d,
            "BiasAdd": self.bias_add,
            "Relu": lambda n: self.unary(n, "Relu"),
            "ConcatV2": self.concat,
            "Mul": lambda n: self.elementwise(n, "Mul"),
            "Add": lambda n: self.elementwise(n, "Add"),
            "AddV2": lambda n: self.elementwise(n, "Add"),
            "Maximum": lambda n: self.elementwise(n, "Max"),
            "MaxPool": lambda n: self.pool(n, "MaxPool"),
            "AvgPool": lambda n: self.pool(n, "AveragePool"),
            "Reshape": self.reshape,
            "MatMul": self.matmul,
            "FusedBatchNorm": self.batch_norm,
            "FusedBatchNormV3": self.batch_norm,
            "Square": lambda n: self.unary(n, "Square"),
            "Sum": self.reduce_sum,
            "Rsqrt": lambda n: self.unary(n, "Rsqrt"),
            "Identity": lambda n: self.unary(n, "Identity"),
        }


SUPPORTED_OPS = (
    "Add",
    "AddV2",
    "AvgPool",
    "BiasAdd",
    "ConcatV2",
    "Const",
    "Conv2D",
    "FusedBatchNorm",
    "FusedBatchNormV3",
    "Identity",
    "MatMul",
    "MaxPool",
    "Maximum",
    "Mul",
    "Placeholder",
    "Relu",
    "Reshape",
    "Rsqrt",
    "Square",
    "Sum",
)
"""TensorFlow op types the converter maps; any other raises ModelError naming it."""


def _require_nhwc(node: _Node) -> None:
    attr = node.attr
    if "data_format" in attr and attr["data_format"].s not in (b"NHWC", b""):
        raise ModelError(f"node {node.name!r}: data_format {attr['data_format'].s!r} is not supported")


def _spatial(values: Sequence[int], node: str) -> list[int]:
    vals = [int(v) for v in values]
    if len(vals) != 4 or vals[0] != 1 or vals[3] != 1:
        raise ModelError(f"node {node!r}: expected NHWC [1, h, w, 1] window values, got {vals}")
    return vals[1:3]


def _padding(padding: bytes, node: str) -> dict[str, str]:
    # TensorFlow SAME puts the odd padding pixel at the end, which is ONNX's SAME_UPPER.
    if padding == b"SAME":
        return {"auto_pad": "SAME_UPPER"}
    if padding == b"VALID":
        return {"auto_pad": "VALID"}
    raise ModelError(f"node {node!r}: padding {padding!r} is not supported")


def convert_graphdef(data: bytes, outputs: Sequence[str]) -> onnx.ModelProto:
    """Convert a serialized frozen ``GraphDef`` into a checked ONNX model.

    Placeholders become graph inputs with a dynamic first (batch) dimension named ``N``; each name in
    ``outputs`` becomes a graph output of the same name, in TensorFlow's layout.
    """
    from google.protobuf.message import DecodeError
    from tensorboard.compat.proto import graph_pb2

    graph = graph_pb2.GraphDef()
    try:
        graph.ParseFromString(data)
    except DecodeError as exc:
        raise ModelError(f"not a TensorFlow GraphDef: {exc}") from exc
    if graph.library.function:
        raise ModelError("graphs with a function library are not supported")
    builder = _Builder(outputs)
    for node in _topological(list(graph.node)):
        builder.convert(node)
    graph_outputs: list[onnx.ValueInfoProto] = []
    for out_name in outputs:
        if out_name not in builder.values:
            raise ModelError(f"output {out_name!r} is not a node of the graph")
        val = builder.values[out_name]
        if not isinstance(val, _Tensor):
            raise ModelError(f"output {out_name!r} is a constant")
        plain = builder.as_layout(val, nchw=False)
        builder.emit("Identity", [plain.name], out_name)
        graph_outputs.append(helper.make_tensor_value_info(out_name, TensorProto.FLOAT, None))
    onnx_graph = helper.make_graph(builder.nodes, "graph", builder.inputs, graph_outputs, builder.inits)
    model = helper.make_model(
        onnx_graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name=_PRODUCER,
        producer_version=_PRODUCER_VERSION,
        ir_version=_IR_VERSION,
    )
    _set_output_shapes(model)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise ModelError(f"converted model does not validate: {exc}") from exc
    log.info("converted %d TensorFlow nodes into %d ONNX nodes", len(graph.node), len(model.graph.node))
    return model


def _set_output_shapes(model: onnx.ModelProto) -> None:
    """Fill in the outputs' shapes from ONNX shape inference, keeping no other inferred value info."""
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    shapes = {vi.name: vi for vi in inferred.graph.output}
    for out in model.graph.output:
        out.type.CopyFrom(shapes[out.name].type)
        dims = out.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_param = _BATCH  # inference names an unknown dimension ``unk__0``


def serialize(model: onnx.ModelProto) -> bytes:
    """The model's bytes, deterministic so the manifest can pin their sha256."""
    data: bytes = model.SerializeToString(deterministic=True)
    return data
