"""``rsdsva export --onnx``: a .safetensors model as an ONNX graph with the same metadata (needs torch and onnx)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch

from rsdsva.errors import BackboneError, EngineError, OutputError

OPSET = 17


def export_onnx(model_path: str | Path, out: str | Path, overwrite: bool = False, batch: int | None = None) -> Path:
    """Write ``model_path``'s network as ONNX to ``out`` (atomically), with its rsdsva metadata, the
    pooled outputs of every layer its example-class recipes use, and a free batch size (or
    ``batch``, fixed: every shape static, as ONNX Runtime's static int8 quantization wants it);
    checked against torch on random images before it is renamed into place."""
    from rsdsva._io import atomic_path, check_distinct, check_output_path, file_sha256
    from rsdsva.models.backbones import example_layers
    from rsdsva.models.checkpoint import load_checkpoint
    from rsdsva.models.dsva import feature_space_id
    from rsdsva.examples.recipe import parse_recipe

    try:
        import onnx
    except ImportError:
        raise EngineError("rsdsva export --onnx needs the onnx package; pip install onnx "
                          "(or pip install 'rsdsva[torch]', which brings it)") from None
    model_path, out = Path(model_path), Path(out)
    if out.suffix.lower() != ".onnx":
        raise OutputError(f"{out} must end in .onnx (an ONNX file)")
    check_distinct({"the ONNX file": out}, {"the model": model_path})
    check_output_path(out, overwrite)
    model, info = load_checkpoint(model_path)
    try:
        default_layers = tuple(example_layers(model.backbone))
    except BackboneError:
        default_layers = ()
    layers = list(default_layers)
    for recipe in info.example_calibrations:
        layers += [n for n in parse_recipe(recipe).layers if n not in layers]
    pre = info.preprocessing
    wrapped = _Exported(model, tuple(layers), pre.mean, pre.std).eval()
    size = info.preprocessing.image_size
    probe = torch.rand(batch or 3, 3, size, size, generator=torch.Generator().manual_seed(0))
    names = ["attributes", "vam_attributes"] + (["attention"] if info.dsva.prototypes else []) + [f"layer:{n}" for n in layers]
    record = {"opset": OPSET, "input": "rgb in [0, 1] at the model's size; normalised in the graph", "layers": layers, "example_layers": list(default_layers),
              "feature_space": feature_space_id(model), "source_sha256": file_sha256(model_path),
              "source": model_path.name}
    with atomic_path(out) as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer notes
            torch.onnx.export(wrapped, (probe,), str(tmp), opset_version=OPSET, input_names=["images"],
                              output_names=names, dynamic_axes=None if batch else {n: {0: "batch"} for n in ["images", *names]},
                              do_constant_folding=False, dynamo=False)  # batch norms kept: float16-exact weights
        graph = onnx.load(str(tmp))
        record["static_pads"] = _fold_pads(graph, (batch or 1, 3, size, size))
        record["stored"] = _store_half_where_exact(graph)
        for key, value in (("rsdsva", json.dumps(info.to_dict())), ("rsdsva_onnx", json.dumps(record))):
            graph.metadata_props.add(key=key, value=value)
        onnx.save(graph, str(tmp))
        _check_export(tmp, wrapped, probe, names)
    return out


def _fold_pads(model, shape: tuple[int, ...]) -> int:
    """Fold each zero Pad that feeds one Conv into the Conv's own pads; returns how many.

    TensorFlow's "same" padding (timm's Conv2dSame, in every tf_ backbone) is exported as a Pad
    whose amounts a chain of Shape and arithmetic nodes works out from each batch's shape. The
    image size is fixed, so the amounts are constants: they are worked out once here, on an image
    of ``shape``. ONNX Runtime otherwise runs the Pads, their arithmetic and a change of memory
    layout around each Pad on every batch: a quarter of the default model's time on a CPU.
    """
    import onnxruntime as ort
    from onnx import helper

    graph = model.graph
    users: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    outputs = {o.name for o in graph.output}
    pads = [n for n in graph.node if n.op_type == "Pad" and n.output[0] not in outputs
            and [u.op_type for u in users.get(n.output[0], [])] == ["Conv"]
            and all(a.name != "mode" or a.s == b"constant" for a in n.attribute)]
    if not pads:
        return 0
    wanted = list(dict.fromkeys(name for n in pads for name in n.input[1:3] if name))
    probe = type(model)()
    probe.CopyFrom(model)
    del probe.graph.output[:]
    probe.graph.output.extend(helper.make_empty_tensor_value_info(name) for name in wanted)
    try:
        session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
        values = dict(zip(wanted, session.run(wanted, {graph.input[0].name: np.zeros(shape, np.float32)})))
    except Exception:  # onnxruntime's own exception types: a graph it cannot probe keeps its Pads, as exported
        return 0
    folded = 0
    for pad in pads:
        amounts = values[pad.input[1]].tolist()
        value = values[pad.input[2]] if len(pad.input) > 2 and pad.input[2] else 0
        conv = users[pad.output[0]][0]
        attrs = {a.name: helper.get_attribute_value(a) for a in conv.attribute}
        if (len(amounts) != 8 or np.any(value != 0) or min(amounts) < 0 or amounts[:2] != [0, 0]
                or amounts[4:6] != [0, 0] or attrs.get("auto_pad", b"NOTSET") != b"NOTSET"):
            continue
        own = list(attrs.get("pads", [0, 0, 0, 0]))
        merged = [own[0] + amounts[2], own[1] + amounts[3], own[2] + amounts[6], own[3] + amounts[7]]
        kept = [a for a in conv.attribute if a.name != "pads"]
        del conv.attribute[:]
        conv.attribute.extend(kept + [helper.make_attribute("pads", merged)])
        conv.input[0] = pad.input[0]
        graph.node.remove(pad)
        folded += 1
    _drop_unused(graph)
    return folded


def _drop_unused(graph) -> None:
    """Remove the nodes and initializers no graph output depends on (the folded pads' arithmetic)."""
    needed = {o.name for o in graph.output}
    keep = []
    for node in reversed(graph.node):
        if any(name in needed for name in node.output):
            keep.append(node)
            needed.update(name for name in node.input if name)
    del graph.node[:]
    graph.node.extend(reversed(keep))
    initializers = [t for t in graph.initializer if t.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(initializers)


def _store_half_where_exact(model) -> str:
    """Store each float32 weight that float16 holds exactly (all of an rsdsva model saved in
    float16, as the default model is) as float16, behind a Cast back to float32 that ONNX Runtime
    folds when it loads the graph: half the file, the same numbers. Returns how they are stored."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    weights = [t for t in graph.initializer if t.data_type == TensorProto.FLOAT]
    arrays = [numpy_helper.to_array(t) for t in weights]
    exact = [(t, a) for t, a in zip(weights, arrays) if np.array_equal(a.astype(np.float16).astype(np.float32), a)]
    if sum(a.size for _, a in exact) < 0.9 * sum(a.size for a in arrays):
        return "float32"
    casts = []
    for tensor, array in exact:
        half = numpy_helper.from_array(array.astype(np.float16), tensor.name + "__half")
        tensor.CopyFrom(half)
        casts.append(helper.make_node("Cast", [half.name], [half.name[: -len("__half")]], to=TensorProto.FLOAT))
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    return "float16 weights (exact), computed in float32"


class _Exported(torch.nn.Module):
    """The network as the ONNX graph sees it: [0, 1] images at the model's size in (normalised in
    the graph, where ONNX Runtime does it in parallel), a flat tuple of arrays out."""

    def __init__(self, model, layers: tuple[str, ...], mean, std) -> None:
        super().__init__()
        self.model, self.layers = model, layers
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, images):
        out = self.model((images - self.mean) / self.std, None, tap=self.layers)
        head = (out.attributes, out.vam_attributes) + ((out.attention,) if out.attention is not None else ())
        return head + tuple(out.tapped)


def _check_export(path: Path, wrapped, probe, names: list[str]) -> None:
    """The exported graph gives torch's outputs on ``probe`` (to 1e-3), or an error and no file."""
    import onnxruntime as ort

    with torch.inference_mode():
        expected = [t.float().numpy() for t in wrapped(probe)]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(names, {"images": probe.numpy()})
    worst = max(float(np.abs(a - b).max()) for a, b in zip(expected, got))
    if worst > 1e-3:
        raise EngineError(f"the ONNX export differs from the torch model by {worst:.2g}; this backbone does "
                          "not export faithfully: use `engine` torch")
