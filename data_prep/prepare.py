"""Builds TFDS records for every benchmark of a dataset.

    python -m data_prep.prepare --dataset=ntu60 --raw_dir=RAW --data_dir=data/tfds

``--dataset`` is one of ``ntu60``, ``ntu120``, ``kinetics400``, ``uestc``, ``nw_ucla`` or
``synthetic``; each of its benchmarks (builder configs, e.g. ``ntu60_xsub`` and ``ntu60_xview``)
becomes one TFDS dataset. Re-running skips benchmarks already built; an interrupted or failed run leaves only
TFDS's hidden ``incomplete.*`` folders behind, never a half-written dataset. Files are read in
``--num_workers`` processes (default: all cores), each once however many benchmarks use it: a
later benchmark copies the records an earlier one of the same run wrote.

A ``prepare_report.json`` next to each benchmark's records lists every sample skipped and why.
Damaged files (and, for Kinetics, labels that disagree or labelled files that are absent) make
the run fail after reading everything, naming every one of them; ``--skip_corrupt`` builds
without them instead (they stay listed in the report).
"""

from __future__ import annotations

import logging
import os
import pathlib
import sys
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from data_prep import builders

# Worker processes start by importing the main module (this one, when run with -m); importing
# `builders` (and with it TFDS) inside the functions keeps their start-up to a fraction of a second.

log = logging.getLogger(__name__)


def _configs() -> dict[str, tuple[type[builders.SkeletonBuilder], builders.SkeletonConfig]]:
    """Every benchmark: name -> (builder class, config)."""
    from data_prep import builders

    return {config.name: (cls, config)
            for cls in builders.BUILDERS for config in cls.BUILDER_CONFIGS}


def datasets() -> tuple[str, ...]:
    """The names ``--dataset`` accepts."""
    return tuple(sorted({config.dataset for _, config in _configs().values()}))


def benchmark_names(dataset: str) -> tuple[str, ...]:
    """The benchmarks (builder config names) of a dataset, e.g. ('ntu60_xsub', 'ntu60_xview')."""
    names = tuple(name for name, (_, config) in _configs().items() if config.dataset == dataset)
    if not names:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {list(datasets())}")
    return names


def builder_for(name: str, data_dir: str | os.PathLike, **kwargs) -> builders.SkeletonBuilder:
    """The builder of benchmark `name` (e.g. 'synthetic_xsub') rooted at `data_dir`.

    `kwargs` go to the builder: ``raw_dir``, ``num_workers``, ``skip_corrupt``,
    ``record_cache``.
    """
    configs = _configs()
    if name not in configs:
        raise ValueError(f"unknown benchmark {name!r}; expected one of {sorted(configs)}")
    cls, _ = configs[name]
    return cls(config=name, data_dir=str(data_dir), **kwargs)


def is_prepared(name: str, data_dir: str | os.PathLike) -> bool:
    """Whether benchmark `name` has complete records under `data_dir`."""
    return builder_for(name, data_dir).is_prepared()


def prepare(dataset: str, raw_dir: str | os.PathLike, data_dir: str | os.PathLike,
            benchmarks: Sequence[str] | None = None, num_workers: int | None = None,
            skip_corrupt: bool = False) -> dict[str, pathlib.Path]:
    """Builds the benchmarks of `dataset` (all by default); returns {name: records folder}.

    Raises:
      builders.CorruptDataError: damaged or inconsistent raw data and not `skip_corrupt`
        (nothing of that benchmark is written; the report lists every problem).
      ValueError: a benchmark that is not one of `dataset`'s, or raw files that are not named
        like the dataset's samples.
    """
    from data_prep import builders

    known = benchmark_names(dataset)
    names = list(benchmarks or known)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"{unknown} are not benchmarks of {dataset}; expected some of "
                         f"{list(known)}")
    out = {}
    cache = builders.RecordCache()  # Each raw file is read once for all the benchmarks.
    try:
        for name in names:
            builder = builder_for(name, data_dir, raw_dir=raw_dir, num_workers=num_workers,
                                  skip_corrupt=skip_corrupt, record_cache=cache)
            if builder.is_prepared():
                log.info("%s already prepared in %s", name, builder.data_dir)
            else:
                builder.download_and_prepare()
                report = builder.report
                counts = {s: v["examples"] for s, v in report["splits"].items()}
                log.info("%s: %s examples, skipped %s; report %s", name, counts,
                         report["skipped_by_reason"],
                         pathlib.Path(builder.data_dir) / builders.REPORT_NAME)
            out[name] = pathlib.Path(builder.data_dir)
    finally:
        cache.close()
    return out


def run(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point."""
    import argparse

    from data_prep import builders

    parser = argparse.ArgumentParser(prog="python -m data_prep.prepare",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", required=True, choices=datasets())
    parser.add_argument("--raw_dir", required=True, help="folder holding the raw skeleton files")
    parser.add_argument("--data_dir", default="data/tfds", help="TFDS data folder to write")
    parser.add_argument("--benchmarks", default="", help="comma-separated subset, e.g. ntu60_xsub")
    parser.add_argument("--num_workers", type=int, default=None,
                        help="processes that read files (default: all cores)")
    parser.add_argument("--skip_corrupt", action="store_true",
                        help="build without damaged files instead of failing (they are listed in "
                             "the report)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    benchmarks = [b for b in args.benchmarks.split(",") if b] or None
    try:
        done = prepare(args.dataset, args.raw_dir, args.data_dir, benchmarks, args.num_workers,
                       args.skip_corrupt)
    except (builders.CorruptDataError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(1) from err
    for name, path in done.items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    run()
