"""Builds TFDS records for every benchmark of a dataset.

    python -m data_prep.prepare --dataset=ntu60 --raw_dir=RAW --data_dir=data/tfds

Re-running skips benchmarks already built; an interrupted run leaves only TFDS's hidden
``incomplete.*`` folders behind, never a half-written dataset. A ``prepare_report.json`` next to each
benchmark's records lists every sample skipped and why.
"""

from __future__ import annotations

import logging
import os
import pathlib
from typing import Sequence

from data_prep import builders

log = logging.getLogger(__name__)


def benchmark_names(dataset: str) -> tuple[str, ...]:
    """The builder config names of a dataset, e.g. ('ntu60_xsub', 'ntu60_xview')."""
    if dataset not in builders.NTU_FAMILIES:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {sorted(builders.NTU_FAMILIES)}")
    return tuple(c.name for c in builders.NtuSkeleton.BUILDER_CONFIGS if c.family == dataset)


def builder_for(name: str, data_dir: str | os.PathLike, **kwargs) -> builders.NtuSkeleton:
    """The builder of benchmark `name` (e.g. 'synthetic_xsub') rooted at `data_dir`."""
    names = [c.name for c in builders.NtuSkeleton.BUILDER_CONFIGS]
    if name not in names:
        raise ValueError(f"unknown benchmark {name!r}; expected one of {names}")
    return builders.NtuSkeleton(config=name, data_dir=str(data_dir), **kwargs)


def is_prepared(name: str, data_dir: str | os.PathLike) -> bool:
    """Whether benchmark `name` has complete records under `data_dir`."""
    return builder_for(name, data_dir).is_prepared()


def prepare(dataset: str, raw_dir: str | os.PathLike, data_dir: str | os.PathLike,
            benchmarks: Sequence[str] | None = None, num_workers: int | None = None,
            skip_corrupt: bool = False) -> dict[str, pathlib.Path]:
    """Builds the benchmarks of `dataset` (all by default); returns {name: records folder}."""
    names = benchmarks or benchmark_names(dataset)
    out = {}
    for name in names:
        builder = builder_for(name, data_dir, raw_dir=raw_dir, num_workers=num_workers,
                              skip_corrupt=skip_corrupt)
        if builder.is_prepared():
            log.info("%s already prepared in %s", name, builder.data_dir)
        else:
            builder.download_and_prepare()
            report = builders.write_report(builder)
            counts = {s: v["examples"] for s, v in builder.report["splits"].items()}
            skipped = {s: v["skipped_by_reason"] for s, v in builder.report["splits"].items()}
            log.info("%s: %s examples, skipped %s; report %s", name, counts, skipped, report)
        out[name] = pathlib.Path(builder.data_dir)
    return out


def run(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", required=True, choices=sorted(builders.NTU_FAMILIES))
    parser.add_argument("--raw_dir", required=True, help="folder holding the raw skeleton files")
    parser.add_argument("--data_dir", default="data/tfds", help="TFDS data folder to write")
    parser.add_argument("--benchmarks", default="", help="comma-separated subset, e.g. ntu60_xsub")
    parser.add_argument("--num_workers", type=int, default=None, help="processes (default: all cores)")
    parser.add_argument("--skip_corrupt", action="store_true",
                        help="build without corrupt files instead of failing (they are listed in the report)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    benchmarks = [b for b in args.benchmarks.split(",") if b] or None
    for name, path in prepare(args.dataset, args.raw_dir, args.data_dir, benchmarks,
                              args.num_workers, args.skip_corrupt).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    run()
