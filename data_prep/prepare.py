"""Builds TFDS records for every benchmark of a dataset.

    python -m data_prep.prepare --dataset=ntu60 --raw_dir=RAW --data_dir=data/tfds

``--dataset`` is one of ``ntu60``, ``ntu120``, ``kinetics400``, ``uestc``, ``nw_ucla`` or
``synthetic``; each of its benchmarks (builder configs, e.g. ``ntu60_xsub`` and ``ntu60_xview``) becomes one TFDS
dataset; ``--split=xsub,...`` builds only those.

Files other toolkits prepared become the same records with ``--format`` (see
:mod:`data_prep.imported`; the benchmark is then ``{dataset}_{split}_{format}``)::

    python -m data_prep.prepare --dataset=ntu60 --format=pyskl --raw_dir=ntu60_3danno.pkl
    python -m data_prep.prepare --dataset=ntu60 --format=pyskl_2d --raw_dir=ntu60_2d.pkl
    python -m data_prep.prepare --dataset=ntu60 --format=ctrgcn --raw_dir=NTU60_CS.npz --split=xsub
    python -m data_prep.prepare --dataset=ntu60 --format=stgat --raw_dir=DIR/xsub --split=xsub

A pickle builds every benchmark whose lists it holds (``xsub_train``/``xsub_val`` ...) unless
``--split`` names some.

Re-running skips benchmarks already built; an interrupted or failed run leaves only
TFDS's hidden ``incomplete.*`` folders behind, never a half-written dataset. Files are read in
``--num_workers`` processes (default: all cores), each once however many benchmarks use it: a
later benchmark copies the records an earlier one of the same run wrote.

A ``prepare_report.json`` next to each benchmark's records lists every sample skipped and why.
A bad input is one line on stderr and exit status 1 (``--traceback`` shows the traceback).
Damaged files (and, for Kinetics, labels that disagree or labelled files that are absent) make
the run fail after reading everything, naming every one of them; ``--skip_corrupt`` builds
without them instead (they stay listed in the report).
"""

from __future__ import annotations

import argparse
import logging
import os
import pathlib
from typing import TYPE_CHECKING, Sequence

from data_prep import imported, synthetic
from stgat_jax import errors

if TYPE_CHECKING:
    from data_prep import records

# Worker processes start by importing the main module (this one, when run with -m); importing
# `builders` and `records` (and with them TFDS) inside the functions keeps their start-up to a
# fraction of a second.

log = logging.getLogger(__name__)


def _configs() -> dict[str, tuple[type[records.SkeletonBuilder], records.SkeletonConfig]]:
    """Every benchmark: name -> (builder class, config)."""
    from data_prep import builders

    return {config.name: (cls, config)
            for cls in builders.BUILDERS for config in cls.BUILDER_CONFIGS}


def datasets() -> tuple[str, ...]:
    """The names ``--dataset`` accepts."""
    return tuple(sorted({config.dataset for _, config in _configs().values()}))


def formats() -> tuple[str, ...]:
    """The names ``--format`` accepts: ``raw`` and the importers' layouts."""
    return ("raw", *imported.FORMATS)


def benchmark_names(dataset: str, source: str = "raw") -> tuple[str, ...]:
    """The benchmarks (builder config names) of a dataset built from `source` (``raw`` or an
    imported format), e.g. ('ntu60_xsub', 'ntu60_xview')."""
    if dataset not in datasets():
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {list(datasets())}")
    names = tuple(name for name, (_, config) in _configs().items()
                  if config.dataset == dataset and config.source == source)
    if not names:
        sources = sorted({c.source for _, c in _configs().values() if c.dataset == dataset})
        raise ValueError(f"{dataset} cannot be imported from format {source!r}; formats of "
                         f"{dataset}: {sources}")
    return names


def benchmark_for(dataset: str, split: str, source: str = "raw") -> str:
    """The benchmark of `dataset`'s `split` (e.g. 'xsub') built from `source`."""
    name = f"{dataset}_{split}" + ("" if source == "raw" else f"_{source}")
    known = benchmark_names(dataset, source)
    if name not in known:
        splits = [_configs()[n][1].benchmark for n in known]
        raise ValueError(f"unknown split {split!r} of {dataset}; expected one of {splits}")
    return name


def prepare_command(name: str, data_dir: str | os.PathLike) -> str:
    """The command that builds benchmark `name`."""
    configs = _configs()
    if name not in configs:
        raise ValueError(f"unknown benchmark {name!r}; expected one of {sorted(configs)}")
    config = configs[name][1]
    if config.source == "raw":
        return (f"python -m data_prep.prepare --dataset={config.dataset} "
                f"--raw_dir=PATH/TO/RAW/FILES --data_dir={data_dir}")
    return (f"python -m data_prep.prepare --dataset={config.dataset} --format={config.source} "
            f"--split={config.benchmark} --raw_dir=PATH/TO/FILE --data_dir={data_dir}")


def builder_for(name: str, data_dir: str | os.PathLike, **kwargs) -> records.SkeletonBuilder:
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
            skip_corrupt: bool = False, source: str = "raw") -> dict[str, pathlib.Path]:
    """Builds the benchmarks of `dataset` (all by default) from `source` (``raw`` files, or the
    file `raw_dir` in an imported format); returns {name: records folder}.

    Raises:
      records.CorruptDataError: damaged or inconsistent raw data and not `skip_corrupt`
        (nothing of that benchmark is written; the report lists every problem).
      ValueError: a benchmark that is not one of `dataset`'s, or raw files that are not named
        like the dataset's samples.
    """
    from data_prep import records

    known = benchmark_names(dataset, source)
    names = list(benchmarks or known)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"{unknown} are not benchmarks of {dataset}; expected some of "
                         f"{list(known)}")
    out = {}
    cache = records.RecordCache()  # Each raw file is read once for all the benchmarks.
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
                         pathlib.Path(builder.data_dir) / records.REPORT_NAME)
            out[name] = pathlib.Path(builder.data_dir)
    finally:
        cache.close()
        imported.close()  # An imported file is read once for all its benchmarks.
    return out


def prepare_synthetic(raw_dir: str | os.PathLike, data_dir: str | os.PathLike, benchmark: str,
                      seed: int = 0, performers: Sequence[int] = tuple(range(1, 17))
                      ) -> pathlib.Path:
    """Writes the synthetic raw files (:func:`data_prep.synthetic.generate`; files already there
    with the right content are kept) and builds `benchmark` (e.g. ``synthetic_xsub``) from them;
    returns the records folder."""
    log.info("generating the synthetic raw files in %s", raw_dir)
    synthetic.generate(raw_dir, seed=seed, performers=tuple(performers))
    return prepare("synthetic", raw_dir, data_dir, benchmarks=[benchmark])[benchmark]


def _imported_benchmarks(dataset: str, source: str, path: str) -> list[str]:
    """The benchmarks an imported file holds when ``--split`` is not given: those of a pickle's
    split lists; an npz or numpy import must name its one."""
    names = benchmark_names(dataset, source)
    splits = [_configs()[n][1].benchmark for n in names]
    if source not in ("pyskl", "pyskl_2d"):
        raise ValueError(f"--format={source} needs --split: which benchmark {path} holds, one "
                         f"of {splits}")
    lists = imported.read_annotations(str(pathlib.Path(path)))[0]
    found = [n for n, split in zip(names, splits) if f"{split}_train" in lists]
    if not found:
        raise ValueError(f"{path}: 'split' holds the lists of none of the benchmarks {splits} of "
                         f"{dataset} (e.g. xsub_train and xsub_val); it holds {sorted(lists)}")
    return found


def run(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m data_prep.prepare",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", required=True, choices=datasets())
    parser.add_argument("--raw_dir", required=True,
                        help="folder holding the raw skeleton files, or the file (for --format=stgat "
                             "the folder) to import")
    parser.add_argument("--format", default="raw", choices=formats(),
                        help="raw files, or a file another toolkit prepared: PYSKL / MMAction2 "
                             "pickle (pyskl, pyskl_2d), CTR-GCN npz (ctrgcn), STGAT numpy (stgat)")
    parser.add_argument("--split", default="",
                        help="comma-separated benchmarks of the dataset, e.g. xsub or xsub,xview "
                             "(default: all; an npz or numpy import holds one, name it)")
    parser.add_argument("--data_dir", default="data/tfds", help="TFDS data folder to write")
    parser.add_argument("--benchmarks", default="", help="comma-separated subset, e.g. ntu60_xsub")
    parser.add_argument("--num_workers", type=int, default=None,
                        help="processes that read files (default: all cores)")
    parser.add_argument("--skip_corrupt", action="store_true",
                        help="build without damaged files instead of failing (they are listed in "
                             "the report)")
    errors.add_traceback_flag(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    with errors.one_line(args.traceback):
        benchmarks = [b for b in args.benchmarks.split(",") if b]
        benchmarks += [benchmark_for(args.dataset, s, args.format)
                       for s in args.split.split(",") if s]
        if not benchmarks and args.format != "raw":
            benchmarks = _imported_benchmarks(args.dataset, args.format, args.raw_dir)
        done = prepare(args.dataset, args.raw_dir, args.data_dir, benchmarks or None,
                       args.num_workers, args.skip_corrupt, args.format)
    for name, path in done.items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    run()
