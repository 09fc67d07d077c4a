r"""Export the eval-mode model of a checkpoint for inference without the training code.

    python -m stgat_jax.export --config=configs/ntu60_xsub.py --workdir=DIR --format=onnx
    python -m stgat_jax.export --config=configs/ntu60_xsub.py --workdir=DIR --format=stablehlo

The checkpoint is the latest one of DIR (or `--config.eval.checkpoint_step=S`), trained here or
written by `stgat_jax.convert` from official weights. The exported function maps `x`, float32
``(N, M, T, V, C)`` channels-last, to `logits` ``(N, num_classes)`` float32, with the parameters
and BatchNorm statistics folded in. N is dynamic. T is dynamic for STGAT without temporal
attention or CSTA blocks (any multiple of the blocks' total stride, at least 3 frames) in the
StableHLO export. The others take exactly `config.data.window_frames` frames: the ONNX export
(jax2onnx 0.17 cannot trace the model with a symbolic frame axis), HCN and CSTA-CNN (their frame
weights and flattening need the trained length) and STGAT with temporal attention (T x T global term).

* ``--format=stablehlo``: ``jax.export`` serialised (``model.stablehlo``); reload with
  ``jax.export.deserialize(open(path, 'rb').read()).call(x)``, no model code needed.
* ``--format=onnx``: converted by jax2onnx (``model.onnx``), run by onnxruntime or any ONNX
  runtime. An operation the converter cannot express is an error naming it.

Beside the file, ``<file>.json`` tells a consumer what to feed: class names, input and output
names and shapes, the checkpoint step, and the preprocessing (reader, stream, frame sampling).
The stream transform (bone, motion) happens before the model, as in training: a bone-motion
model takes bone-motion input. Each export is checked on a random batch against the JAX model
before it is written (the largest difference is in the metadata).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import sys
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import app, flags
from ml_collections import config_flags

from stgat_jax import graphs, models, predict, reporting, steps

log = logging.getLogger(__name__)

FORMATS = {"stablehlo": ".stablehlo", "onnx": ".onnx"}
INPUT_NAME, OUTPUT_NAME = "x", "logits"
# An export whose logits differ from JAX's by more than this on the check batch is refused.
CHECK_TOLERANCE = 1e-3
READERS = {"ntu": "data_prep.ntu.load_sample", "kinetics": "data_prep.kinetics.load_sample",
           "uestc": "data_prep.uestc.load_sample"}


class ExportError(ValueError):
    """The model cannot be exported as asked (an operation the format cannot express, a mismatch)."""


def forward_fn(model, params: Any, batch_stats: Any) -> Callable[[jax.Array], jax.Array]:
    """The eval-mode forward pass ``x -> logits`` (float32) with the variables as constants."""
    variables = jax.device_get({"params": params, "batch_stats": batch_stats})

    def forward(x):
        return model.apply(variables, x, train=False)[0].astype(jnp.float32)

    return forward


def frames_rule(config: ml_collections.ConfigDict) -> dict[str, Any]:
    """Whether the model takes any number of frames: {'dynamic', 'multiple_of', 'min'} or a reason."""
    m = config.model
    if m.name != "stgat":
        return {"dynamic": False, "reason": f"{m.name} weighs and flattens the trained number of frames"}
    if m.get("use_temporal_att", False):
        return {"dynamic": False, "reason": "the temporal attention's global term is num_frames x num_frames"}
    if m.get("csta_blocks", ()):
        return {"dynamic": False, "reason": "CSTA blocks are exported at the trained number of frames"}
    stride = math.prod(int(b[2]) for b in models.build_model(config).blocks)
    return {"dynamic": True, "multiple_of": stride, "min": stride * math.ceil(3 / stride)}


def input_dims(config: ml_collections.ConfigDict, fmt: str) -> list[int | str]:
    """The input shape as the metadata gives it: 'N' (and 'T') for dynamic axes."""
    rule = frames_rule(config)
    frames = "T" if rule["dynamic"] and fmt == "stablehlo" else int(config.data.window_frames)
    d = config.dataset
    return ["N", int(d.num_persons), frames, int(d.num_joints), int(config.data.channels)]


def export_stablehlo(forward: Callable, dims: Sequence[int | str], multiple_of: int = 1) -> bytes:
    """Serialised ``jax.export`` of `forward` for float32 inputs of shape `dims` ('N', 'T' dynamic)."""
    names = {"N": "n"}
    if "T" in dims:
        names["T"] = f"{multiple_of}*k"
    spec = ", ".join(names.get(d, str(d)) for d in dims)
    constraints = [f"{multiple_of}*k >= 3"] if "T" in dims else []
    shape = jax.export.symbolic_shape(spec, constraints=constraints)
    exported = jax.export.export(jax.jit(forward))(jax.ShapeDtypeStruct(shape, jnp.float32))
    return exported.serialize()


def _find_primitive(jaxpr, name: str) -> str | None:
    """Where the first equation of primitive `name` in `jaxpr` (or a sub-jaxpr) comes from."""
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == name:
            frame = jax._src.source_info_util.user_frame(eqn.source_info.traceback)  # noqa: SLF001
            scope = str(eqn.source_info.name_stack)
            where = f"{frame.file_name}:{frame.start_line}" if frame else "unknown source"
            return f"{where}{f' (in {scope})' if scope else ''}"
        for param in eqn.params.values():
            for sub in param if isinstance(param, (list, tuple)) else (param,):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    found = _find_primitive(inner, name)
                    if found:
                        return found
    return None


def export_onnx(forward: Callable, dims: Sequence[int | str], model_name: str = "stgat_jax") -> bytes:
    """`forward` converted to an ONNX model (serialised) for float32 inputs of shape `dims`.

    Raises:
      ExportError: the converter cannot express an operation; the message names the JAX primitive
        and where the model uses it.
    """
    # jax2onnx is an export-only dependency (the `export` extra): imported here, not for training.
    from jax2onnx import to_onnx

    shape = tuple("N" if d == "N" else d for d in dims)
    try:
        proto = to_onnx(forward, [shape], model_name=model_name, input_names=[INPUT_NAME],
                        output_names=[OUTPUT_NAME])
    except Exception as err:  # the converter's errors have no common base class
        match = re.search(r"primitive '([^']+)'", str(err))
        if not match:
            raise ExportError(f"ONNX conversion failed: {type(err).__name__}: {err}") from err
        primitive = match.group(1)
        example = jax.ShapeDtypeStruct(tuple(1 if d == "N" else d for d in dims), jnp.float32)
        where = _find_primitive(jax.make_jaxpr(forward)(example).jaxpr, primitive)
        raise ExportError(f"ONNX cannot express the operation {primitive!r} used at "
                          f"{where or 'an unknown place'}; the converter said: {err}") from err
    return proto.SerializeToString()


def run_stablehlo(serialized: bytes, x: np.ndarray) -> np.ndarray:
    """Logits of a serialised StableHLO export (JAX only, no model code)."""
    return np.asarray(jax.export.deserialize(bytearray(serialized)).call(np.asarray(x, np.float32)))


def run_onnx(serialized: bytes, x: np.ndarray) -> np.ndarray:
    """Logits of a serialised ONNX export, run by onnxruntime on the CPU."""
    # onnxruntime is an export-only dependency (the `export` extra): imported here, not for training.
    import onnxruntime

    session = onnxruntime.InferenceSession(serialized, providers=["CPUExecutionProvider"])
    return session.run([OUTPUT_NAME], {INPUT_NAME: np.asarray(x, np.float32)})[0]


RUNNERS = {"stablehlo": run_stablehlo, "onnx": run_onnx}


def preprocessing(config: ml_collections.ConfigDict) -> dict[str, Any]:
    """What turns a raw file into the model's input, for consumers without this library."""
    d, data = config.dataset, config.data
    kind = "ntu" if d.name in ("ntu60", "ntu120", "synthetic") else (
        "kinetics" if d.name.startswith("kinetics") else "uestc")
    source, target = graphs.bone_source_target(d.graph)
    recipe = [
        f"read the raw file with {READERS[kind]}(path): (C, T, V, M) float32 after the dataset's body "
        "selection and normalisation (no further normalisation is applied)",
        f"transpose to (T, M, V, C); keep the first {int(d.num_persons)} persons (pad with zeros) and the "
        f"first {int(data.channels)} channels",
    ]
    if data.stream.startswith("bone"):
        recipe.append("bone: out[:, :, bone_target] = x[:, :, bone_target] - x[:, :, bone_source], zero elsewhere")
    if data.stream.endswith("motion"):
        recipe.append("motion: x = x[::motion_skip]; out[t] = x[t + 1] - x[t], the last frame zero")
    if data.sampling == "resample_crop":
        recipe.append("frames: x[(arange(resample_frames) * T) // resample_frames], then the centre "
                      "window_frames of them, from (resample_frames - window_frames) // 2")
    else:
        recipe.append("frames: L = max(1, round(T * test_crop_ratio)) frames from (T - L) // 2, linearly "
                      "resized to window_frames (positions (i + 0.5) * L / window_frames - 0.5, clipped)")
    recipe.append("transpose to (M, T, V, C) and stack samples: x is (N, M, T, V, C)")
    return {
        "reader": READERS[kind], "dataset": d.name, "benchmark": d.benchmark, "graph": d.graph,
        "num_persons": int(d.num_persons), "num_joints": int(d.num_joints), "channels": int(data.channels),
        "stream": data.stream, "motion_skip": int(data.motion_skip),
        "bone_source": [int(i) for i in source], "bone_target": [int(i) for i in target],
        "sampling": data.sampling, "resample_frames": int(data.resample_frames),
        "window_frames": int(data.window_frames), "test_crop_ratio": float(data.test_crop_ratio),
        "steps": recipe,
    }


def metadata(config: ml_collections.ConfigDict, fmt: str, step: int, file_name: str) -> dict[str, Any]:
    """The JSON written beside an export."""
    dims = input_dims(config, fmt)
    rule = frames_rule(config)
    if dims[2] == "T":
        frames = (f"T: any multiple of {rule['multiple_of']}, at least {rule['min']}; trained on "
                  f"{int(config.data.window_frames)}")
    else:
        why = rule.get("reason") or "jax2onnx cannot trace the model with a symbolic frame axis"
        frames = f"T fixed at {dims[2]}: {why}"
    names = predict.class_names(config)
    num_classes = int(config.dataset.num_classes)
    if len(names) != num_classes:
        log.warning("dataset %s names %d classes, the model has %d outputs: writing 'class i' names",
                    config.dataset.name, len(names), num_classes)
        names = [f"class {i}" for i in range(num_classes)]
    return {
        "format": fmt, "file": file_name, "model": config.model.name, "step": int(step),
        "class_names": names,
        "input": {"name": INPUT_NAME, "shape": dims, "dtype": "float32",
                  "layout": "(N, M, T, V, C): samples, persons, frames, joints, coordinates (channels last)",
                  "frames": frames},
        "output": {"name": OUTPUT_NAME, "shape": ["N", num_classes], "dtype": "float32",
                   "meaning": "logits; softmax gives class probabilities"},
        "preprocessing": preprocessing(config),
    }


def check_shapes(config: ml_collections.ConfigDict, dims: Sequence[int | str]) -> list[tuple[int, ...]]:
    """Input shapes an export is checked on: batch 2 at the trained length; batch 1 at a longer
    length too when T is dynamic."""
    window = int(config.data.window_frames)
    shapes = [tuple(2 if d == "N" else window if d == "T" else d for d in dims)]
    if "T" in dims:
        longer = window + frames_rule(config)["multiple_of"]
        shapes.append(tuple(1 if d == "N" else longer if d == "T" else d for d in dims))
    return shapes


def check_export(serialized: bytes, fmt: str, forward: Callable, shapes: Sequence[tuple[int, ...]],
                 seed: int = 0) -> float:
    """Largest |logit difference| between the export and JAX on random inputs of these shapes.

    Raises:
      ExportError: the difference exceeds CHECK_TOLERANCE (the export computes something else).
    """
    rng = np.random.default_rng(seed)
    diff = 0.0
    for shape in shapes:
        x = rng.standard_normal(shape).astype(np.float32) * 0.5
        diff = max(diff, float(np.max(np.abs(RUNNERS[fmt](serialized, x) - np.asarray(forward(x))))))
    if not diff <= CHECK_TOLERANCE:
        raise ExportError(f"the {fmt} export's logits differ from the JAX model's by {diff:.3g} "
                          f"(tolerance {CHECK_TOLERANCE}) on random inputs; not writing it")
    return diff


def export_model(config: ml_collections.ConfigDict, model, params: Any, batch_stats: Any, fmt: str,
                 output: str, step: int) -> dict[str, Any]:
    """Exports `model` with these variables to `output` and writes `output`.json; returns the metadata."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}; expected one of {sorted(FORMATS)}")
    forward = forward_fn(model, params, batch_stats)
    dims = input_dims(config, fmt)
    if fmt == "stablehlo":
        serialized = export_stablehlo(forward, dims, frames_rule(config).get("multiple_of", 1))
    else:
        serialized = export_onnx(forward, dims, model_name=f"stgat_jax_{config.model.name}")
    meta = metadata(config, fmt, step, os.path.basename(output))
    meta["check_max_abs_diff"] = check_export(serialized, fmt, forward, check_shapes(config, dims))
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, "wb") as f:
        f.write(serialized)
    with open(output + ".json", "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    return meta


def export(config: ml_collections.ConfigDict, workdir: str, fmt: str, output: str | None = None) -> dict[str, Any]:
    """Restores WORKDIR's checkpoint and exports its eval-mode model; returns the metadata."""
    if fmt not in FORMATS:
        raise ValueError(f"--format={fmt!r}; expected one of {sorted(FORMATS)}")
    model, state, step = steps.restore_for_inference(config, workdir)
    output = output or os.path.join(workdir, "export", "model" + FORMATS[fmt])
    meta = export_model(config, model, state.params, state.batch_stats, fmt, output, step)
    log.info("exported step %d as %s to %s", step, fmt, output)
    return meta


def main(argv: Sequence[str]) -> None:
    """Command-line entry: flags --config, --workdir, --format, --output."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    reporting.quiet_library_logs()
    f = flags.FLAGS
    output = f.output or os.path.join(f.workdir, "export", "model" + FORMATS[f.format])
    meta = export(f.config, f.workdir, f.format, output)
    print(f"wrote {output} (checkpoint step {meta['step']}, input {meta['input']['shape']}, "
          f"largest difference to JAX {meta['check_max_abs_diff']:.2g}) and {output}.json")


if __name__ == "__main__":
    config_flags.DEFINE_config_file("config", None, "Config file, optionally with :options.", lock_config=True)
    flags.DEFINE_string("workdir", None, "Run folder whose checkpoint is exported.")
    flags.DEFINE_enum("format", None, sorted(FORMATS), "onnx (jax2onnx, for onnxruntime) or stablehlo (jax.export).")
    flags.DEFINE_string("output", None, "File to write (default WORKDIR/export/model.onnx|.stablehlo); "
                        "the metadata goes to OUTPUT.json.")
    flags.mark_flags_as_required(["config", "workdir", "format"])
    try:
        app.run(main)
    except (FileNotFoundError, ImportError, ValueError) as err:
        sys.exit(f"error: {err}")
