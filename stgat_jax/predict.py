"""Classify new samples with a trained (or converted) checkpoint.

    python main.py --mode=predict --config=CONFIG --workdir=DIR --input=PATH

PATH is a raw NTU `.skeleton` file, a Kinetics-skeleton `.json` file (an NW-UCLA one with an
`nw_ucla` config), a UESTC `.txt`/`.mat` file, a folder of them, or an `.npy` array in the official
layout (N, C, T, V, M). Raw files get the dataset's preprocessing (data_prep's load_sample) and
the test-time stream transform and temporal sampling; an `.npy` is fed as it is (only transposed
to channels-last). Prints the top-5 classes with probabilities per sample and writes all logits
with sample names to an `.npz`.
"""

from __future__ import annotations

import logging
import os
import pathlib
from typing import Any

import jax
import ml_collections
import numpy as np

from data_prep import builders, kinetics, ntu, nw_ucla, uestc
from stgat_jax import input_pipeline, steps

log = logging.getLogger(__name__)

RAW_SUFFIXES = {".skeleton": "ntu", ".json": "kinetics", ".txt": "uestc", ".mat": "uestc"}


def class_names(config: ml_collections.ConfigDict) -> list[str]:
    """Class names of the configured dataset, without needing prepared records."""
    name = config.dataset.name
    if name in ("ntu60", "ntu120", "synthetic"):
        return list(builders.NTU_FAMILIES[name].class_names())
    if name.startswith("kinetics"):
        return list(kinetics.action_names())
    if name == "nw_ucla":
        return list(nw_ucla.ACTION_NAMES)
    return [f"class {i}" for i in range(config.dataset.num_classes)]


def load_raw(path: pathlib.Path, dataset: str = "") -> np.ndarray:
    """A raw file through its dataset's preprocessing: (C, T, V, M) float32.

    `dataset` (the config's dataset name) tells NW-UCLA's `.json` files from Kinetics' ones.
    """
    kind = RAW_SUFFIXES.get(path.suffix.lower())
    if kind == "kinetics" and dataset == "nw_ucla":
        kind = "nw_ucla"
    if kind is None:
        raise ValueError(f"{path}: unknown input type; expected one of {sorted(RAW_SUFFIXES)} or .npy")
    reader = {"ntu": ntu, "kinetics": kinetics, "nw_ucla": nw_ucla, "uestc": uestc}[kind]
    return reader.load_sample(path)


def _fit_persons(x: np.ndarray, num_persons: int) -> np.ndarray:
    """(T, M, V, C) with M padded with zeros or cut to `num_persons`."""
    if x.shape[1] >= num_persons:
        return x[:, :num_persons]
    pad = np.zeros((x.shape[0], num_persons - x.shape[1]) + x.shape[2:], x.dtype)
    return np.concatenate([x, pad], axis=1)


def load_inputs(path: str, config: ml_collections.ConfigDict) -> tuple[list[str], np.ndarray]:
    """Sample names and model inputs (N, M, T, V, C) for PATH."""
    p = pathlib.Path(path)
    d = config.dataset
    if p.suffix == ".npy":
        arr = np.load(p)
        if arr.ndim != 5:
            raise ValueError(f"{p}: expected an array of shape (N, C, T, V, M), got shape {arr.shape}")
        x = arr.transpose(0, 4, 2, 3, 1).astype(np.float32)[..., : config.data.channels]
        expected = (d.num_persons, d.num_joints, config.data.channels)
        if (x.shape[1], x.shape[3], x.shape[4]) != expected:
            raise ValueError(f"{p}: (M, V, C) = {(x.shape[1], x.shape[3], x.shape[4])}, the config expects "
                             f"{expected} (array layout (N, C, T, V, M))")
        return [f"{p.stem}[{i}]" for i in range(len(x))], x
    files = sorted(f for f in p.iterdir() if f.suffix.lower() in RAW_SUFFIXES) if p.is_dir() else [p]
    if not files:
        raise FileNotFoundError(f"{p}: no input files (expected {sorted(RAW_SUFFIXES)} or .npy)")
    transform = input_pipeline.EvalSample(config.data, d.graph)
    names, xs = [], []
    for f in files:
        record = {"skeleton": _fit_persons(load_raw(f, d.name).transpose(1, 3, 2, 0), d.num_persons), "label": 0}
        xs.append(transform.map(record)["x"])
        names.append(f.name.split(".")[0])
    return names, np.stack(xs)


def predict(config: ml_collections.ConfigDict, workdir: str, input_path: str, out: str | None = None) -> dict[str, Any]:
    """Logits and top-5 classes for every sample of `input_path`; writes them to an .npz."""
    names, x = load_inputs(input_path, config)
    mesh = steps.create_mesh()
    model, state, step = steps.restore_for_inference(config, workdir, mesh)
    eval_step = steps.make_eval_step(model, mesh)
    batch = int(config.eval_batch_size)
    padded = -len(x) % batch
    xs = np.concatenate([x, np.zeros((padded,) + x.shape[1:], x.dtype)]) if padded else x
    logits = np.concatenate([np.asarray(eval_step(state, steps.global_batch({"x": xs[i: i + batch]}, mesh)["x"]))
                             for i in range(0, len(xs), batch)])[: len(x)]
    classes = class_names(config)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    top5 = np.argsort(-probs, axis=-1, kind="stable")[:, :5]
    out = out or os.path.join(workdir, "predictions.npz")
    if jax.process_index() == 0:
        np.savez(out, sample_names=np.asarray(names), logits=logits, class_names=np.asarray(classes))
        for name, row, p in zip(names, top5, probs):
            print(f"{name}: " + ", ".join(f"{classes[k]} {p[k]:.3f}" for k in row))
        print(f"logits of {len(names)} sample(s) (checkpoint step {step}): {out}")
    return {"sample_names": names, "logits": logits, "top5": top5, "path": out, "step": step}
