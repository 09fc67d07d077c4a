r"""Multi-stream ensemble of evaluated runs, aligned by sample name.

    python -m stgat_jax.ensemble runs/ntu60_xsub_joint runs/ntu60_xsub_bone \
        runs/ntu60_xsub_joint_motion runs/ntu60_xsub_bone_motion [--weights=1,1,1,1]

Each WORKDIR holds `scores_test.npz` written by training or `--mode=eval`. The fused score of a
sample is the weighted sum of the streams' raw logits (the official ensemble sums raw logits with
weights 1,1,1,1). Streams must cover exactly the same samples with the same labels; a missing,
extra or relabelled sample is an error that names it.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Sequence

import numpy as np

from stgat_jax import errors, evaluate


def load_scores(workdir: str, split: str = "test") -> dict[str, np.ndarray]:
    path = os.path.join(workdir, f"scores_{split}.npz")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist; evaluate the run first "
                                f"(python main.py --mode=eval --workdir={workdir} --config=...)")
    with np.load(path) as f:
        scores = {k: f[k] for k in ("sample_names", "logits", "labels")}
    names = [str(n) for n in scores["sample_names"]]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: sample names are not unique")
    return scores


def align(scores: Sequence[dict[str, np.ndarray]], workdirs: Sequence[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Logits of every stream in the sample order of the first: (names, logits (S, N, K), labels)."""
    names = [str(n) for n in scores[0]["sample_names"]]
    reference = set(names)
    labels = scores[0]["labels"]
    stacked = []
    for s, workdir in zip(scores, workdirs):
        order = {str(n): i for i, n in enumerate(s["sample_names"])}
        missing = sorted(reference - set(order))
        extra = sorted(set(order) - reference)
        if missing or extra:
            raise ValueError(f"{workdir}: sample sets differ from {workdirs[0]}: missing {missing[:10]}"
                             f"{' ...' if len(missing) > 10 else ''} ({len(missing)}), extra {extra[:10]}"
                             f"{' ...' if len(extra) > 10 else ''} ({len(extra)})")
        index = np.asarray([order[n] for n in names])
        if s["logits"].shape[1] != scores[0]["logits"].shape[1]:
            raise ValueError(f"{workdir}: {s['logits'].shape[1]} classes, {workdirs[0]} has "
                             f"{scores[0]['logits'].shape[1]}")
        relabelled = np.flatnonzero(s["labels"][index] != labels)
        if relabelled.size:
            raise ValueError(f"{workdir}: labels differ from {workdirs[0]} for samples "
                             f"{[names[i] for i in relabelled[:10]]}")
        stacked.append(s["logits"][index])
    return names, np.stack(stacked), labels


def ensemble(workdirs: Sequence[str], weights: Sequence[float] | None = None,
             split: str = "test") -> dict:
    """Per-stream and fused top-1 / top-5 / mean-class accuracy."""
    weights = list(weights) if weights else [1.0] * len(workdirs)
    if len(weights) != len(workdirs):
        raise ValueError(f"{len(weights)} weights for {len(workdirs)} runs")
    names, logits, labels = align([load_scores(w, split) for w in workdirs], workdirs)
    streams = {}
    for workdir, stream_logits in zip(workdirs, logits):
        m = evaluate.compute_metrics(stream_logits, labels)
        m.pop("confusion")
        streams[workdir] = m
    fused_logits = np.tensordot(np.asarray(weights, np.float64), logits.astype(np.float64), axes=1)
    fused = evaluate.compute_metrics(fused_logits, labels)
    fused.pop("confusion")
    return {"streams": streams, "fused": fused, "weights": weights, "num_examples": len(names),
            "sample_names": names, "fused_logits": fused_logits, "labels": labels}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fuse the test scores of several runs by sample name.")
    parser.add_argument("workdirs", nargs="+")
    parser.add_argument("--weights", default="", help="comma-separated, one per run (default all 1)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--out", default="", help="optional .npz for the fused logits")
    parser.add_argument("--json", default="", help="optional .json for the metrics")
    errors.add_traceback_flag(parser)
    args = parser.parse_args(argv)
    with errors.one_line(args.traceback):
        _report(args)


def _report(args) -> None:
    weights = [float(w) for w in args.weights.split(",")] if args.weights else None
    result = ensemble(args.workdirs, weights, args.split)
    width = max(len(w) for w in args.workdirs)
    print(f"{'run':<{width}}  top-1    top-5    mean-class")
    for workdir, m in result["streams"].items():
        print(f"{workdir:<{width}}  {m['top1']:.4f}   {m['top5']:.4f}   {m['mean_class_accuracy']:.4f}")
    f = result["fused"]
    print(f"{'fused ' + str(result['weights']):<{width}}  {f['top1']:.4f}   {f['top5']:.4f}   "
          f"{f['mean_class_accuracy']:.4f}   ({result['num_examples']} samples)")
    if args.out:
        np.savez(args.out, sample_names=np.asarray(result["sample_names"]),
                 logits=result["fused_logits"], labels=result["labels"])
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({k: result[k] for k in ("streams", "fused", "weights", "num_examples")}, fh, indent=2)


if __name__ == "__main__":
    main()
