"""TFDS builders: one array_record dataset per benchmark, one record per sample.

Each record holds the preprocessed sequence at its real length (no padding to 300 frames) in the
channels-last layout ``(T, M, V, C)``, its label and its sample name. Preprocessing (body selection,
normalisation) happens here, once.

Benchmarks are builder configs: ``{dataset}_{benchmark}`` for NTU RGB+D, the synthetic set and
UESTC (``ntu60_xsub``, ``synthetic_xsub``, ``uestc_xview1``), ``kinetics400`` for Kinetics-Skeleton,
``{dataset}_{benchmark}_{format}`` for files other toolkits prepared (``ntu60_xsub_pyskl``; see
:mod:`data_prep.imported`).
One mechanism serves every dataset (:class:`SkeletonBuilder`); a dataset only says which samples
a benchmark has (:meth:`SkeletonBuilder.list_samples`), how one raw file is read
(:attr:`SkeletonBuilder.load`) and what its classes are called.

How a benchmark is built:

- Files are read, preprocessed and encoded in ``num_workers`` processes (:mod:`data_prep.loaders`),
  a bounded number of samples ahead of the writer, and written to array_record shards as they
  arrive, so memory does not grow with the dataset. Benchmarks built in one run share a
  :class:`RecordCache`: each raw file is read once, later benchmarks copy the records.
- TFDS writes into a hidden ``incomplete.*`` folder and renames it only when everything succeeded:
  an interrupted or failed build leaves no dataset that looks prepared.
- Every sample that is not written is counted and listed, with its reason, in
  ``prepare_report.json`` next to the records (see :data:`SKIP_REASONS`). Damaged files, labels
  that contradict each other and labelled files that are absent are problems: the build reads
  everything, then fails naming all of them (and writes the report to ``prepare_report.failed.json``
  in the benchmark's folder) unless ``skip_corrupt`` is set.
"""

from __future__ import annotations

import abc
import collections
import dataclasses
import json
import multiprocessing
import os
import pathlib
from typing import Any, Callable, ClassVar, Iterable, Iterator, Sequence

import numpy as np
import tensorflow_datasets as tfds
import tqdm
from array_record.python import array_record_module
from tensorflow_datasets.core import example_serializer

from data_prep import imported, kinetics, loaders, ntu, nw_ucla, uestc
from data_prep.loaders import Sample

REPORT_NAME = "prepare_report.json"
FAILED_REPORT_NAME = "prepare_report.failed.json"

SKIP_REASONS: dict[str, str] = {
    "missing_list": "on the dataset's official list of samples with missing skeletons; not read",
    "no_skeleton": "marked has_skeleton: false in the dataset's label file; not read",
    "empty": "read, but no skeleton is left in it after preprocessing",
    "not_in_split": "the benchmark's protocol puts it in neither split",
    "not_in_dataset": "its name is outside the dataset (e.g. an NTU RGB+D 120 file given to ntu60)",
    "corrupt": "the file is damaged or contradicts its label file (a problem)",
    "missing_file": "listed with a skeleton in the label file, but the file is absent (a problem)",
    "unlabelled": "a file the label file does not list (a problem)",
    "empty_annotation": "an imported file's annotation is None (its toolkit found the source file "
                        "empty); not read",
    "not_annotated": "named in an imported file's split list, but no annotation has that name",
}
"""Why a sample is not written. The last three are problems: the build fails on them unless
``skip_corrupt`` is set."""

PROBLEM_REASONS = frozenset({"corrupt", "missing_file", "unlabelled"})

_SHARD_BYTES = 1 << 30  # A new shard starts after this many serialised bytes.
_CHUNK = 4  # Samples per task sent to a worker process.
_TASKS_AHEAD_PER_WORKER = 4  # Tasks in flight per worker: bounds memory, keeps workers busy.
_MAX_ERRORS_SHOWN = 100


# --------------------------------------------------------------------------------------------
# What a benchmark consists of


@dataclasses.dataclass(frozen=True, slots=True)
class Skip:
    """A sample that is not written, why (a key of :data:`SKIP_REASONS`) and the details."""

    sample: str
    reason: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        """The entry of ``skipped_samples`` in the report."""
        return {"sample": self.sample, "reason": self.reason, "detail": self.detail}


@dataclasses.dataclass
class SamplePlan:
    """What :meth:`SkeletonBuilder.list_samples` returns.

    Attributes:
      splits: the samples to read, per split, in record order.
      skipped: samples decided against before reading, per split; samples that belong to no
        split (``not_in_split``, ``not_in_dataset``) are listed under None.
      raw_files: how many raw files were considered.
    """

    splits: dict[str, list[Sample]]
    skipped: dict[str | None, list[Skip]]
    raw_files: int


class CorruptDataError(ValueError):
    """A build found damaged or inconsistent raw data (and ``skip_corrupt`` was not set).

    Attributes:
      problems: every problem found, as :class:`Skip` records.
      report_path: where the full report was written.
    """

    def __init__(self, config: str, problems: list[Skip], report_path: pathlib.Path):
        self.problems = problems
        self.report_path = report_path
        counts = collections.Counter(p.reason for p in problems)
        shown = "\n".join(f"  {p.detail}" for p in problems[:_MAX_ERRORS_SHOWN])
        more = len(problems) - _MAX_ERRORS_SHOWN
        super().__init__(
            f"{config}: {len(problems)} problem(s) in the raw data ({dict(counts)}); nothing was "
            f"written. Fix or remove the files, or pass skip_corrupt (--skip_corrupt) to build "
            f"without them. All are listed in {report_path}.\n{shown}"
            + (f"\n  ... and {more} more (see the report)" if more > 0 else ""))


# --------------------------------------------------------------------------------------------
# Reading samples (in worker processes: data_prep.loaders)


class RecordCache:
    """The outcome of every sample read so far in one run over a dataset's benchmarks, so that
    each raw file is read once however many benchmarks use it.

    A sample's record does not depend on the benchmark (the split only decides where it goes),
    so a later benchmark copies the record from the shard where an earlier one wrote it; a
    sample found empty or damaged keeps its reason. Only benchmarks that were built completely
    contribute (:meth:`add`), and only the same sample (name, file, label) of the same builder
    and dataset is reused. Holds a few dozen bytes per sample, not the records.
    """

    def __init__(self) -> None:
        self._outcomes: dict[tuple[str, str, Sample], tuple[str, int] | Skip] = {}
        self._readers: dict[str, Any] = {}

    def add(self, key: tuple[str, str], outcomes: dict[Sample, tuple[str, int] | Skip]) -> None:
        """Records the outcomes of one built benchmark: (shard file, index) or a Skip."""
        self._outcomes.update({(*key, sample): where for sample, where in outcomes.items()})

    def lookup(self, key: tuple[str, str], sample: Sample) -> tuple[str, int] | Skip | None:
        """Where the record of `sample` is, or why it has none; None if it was not read."""
        return self._outcomes.get((*key, sample))

    def read(self, where: tuple[str, int]) -> bytes:
        """The record at (shard file, index)."""
        path, index = where
        reader = self._readers.get(path)
        if reader is None:
            reader = self._readers[path] = array_record_module.ArrayRecordReader(
                path, "readahead_buffer_size:0,max_parallelism:0")
        return reader.read([index])[0]

    def close(self) -> None:
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()


class _Loader:
    """Runs :func:`loaders.process` over samples, in order, in this process or in a pool of
    worker processes; samples with a known outcome (`known`) are not read again.

    At most ``num_workers * _TASKS_AHEAD_PER_WORKER`` tasks are in flight, so results never pile
    up faster than they are written.
    """

    def __init__(self, load: Callable[[Sample], np.ndarray], frame_shape: tuple[int, ...],
                 num_workers: int):
        self.num_workers = num_workers
        self._args = (load, frame_shape)
        self._pool = None

    def __enter__(self) -> "_Loader":
        if self.num_workers > 1:
            # Spawned, as the caller may run threads (JAX); the workers import only
            # data_prep.loaders (no TFDS), so they start in a fraction of a second.
            ctx = multiprocessing.get_context("spawn")
            self._pool = ctx.Pool(self.num_workers, initializer=loaders.init_worker)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def results(self, samples: list[Sample], desc: str,
                known: Callable[[Sample], Any] = lambda sample: None
                ) -> Iterator[tuple[Sample, Any]]:
        """Each sample with its :func:`loaders.process` result or, where `known` gives one
        (not None), with that, in order, with a progress bar."""
        bar = tqdm.tqdm(total=len(samples), desc=desc, unit="file", dynamic_ncols=True,
                        mininterval=1.0)
        pending: collections.deque = collections.deque()  # (samples, task or None, known)
        tasks = 0
        ahead = self.num_workers * _TASKS_AHEAD_PER_WORKER
        todo: list[Sample] = []

        def submit() -> None:
            nonlocal tasks
            if todo:
                chunk = list(todo)
                todo.clear()
                if self._pool is None:
                    pending.append((chunk, loaders.process(*self._args, chunk), None))
                else:
                    pending.append((chunk, self._pool.apply_async(loaders.process,
                                                                  (*self._args, chunk)), None))
                tasks += 1

        def ready() -> bool:  # Whether the oldest entry should be handed out now.
            return bool(pending) and (pending[0][1] is None or tasks >= ahead)

        def take() -> Iterator[tuple[Sample, Any]]:
            nonlocal tasks
            chunk, task, outcome = pending.popleft()
            if task is None:
                yield chunk[0], outcome
            else:
                tasks -= 1
                yield from zip(chunk, task if isinstance(task, list) else task.get())
            bar.update(len(chunk))

        try:
            for sample in samples:
                outcome = known(sample)
                if outcome is None:
                    todo.append(sample)
                    if len(todo) == _CHUNK:
                        submit()
                else:
                    submit()
                    pending.append(([sample], None, outcome))
                while ready():
                    yield from take()
            submit()
            while pending:
                yield from take()
        finally:
            bar.close()


# --------------------------------------------------------------------------------------------
# The builder


class SkeletonConfig(tfds.core.BuilderConfig):
    """A benchmark: ``dataset`` (e.g. ``ntu60``) and its ``benchmark`` (e.g. ``xsub``), built
    from the dataset's raw files (``source`` ``raw``) or imported from a file another toolkit
    prepared (``source`` one of :data:`data_prep.imported.FORMATS`)."""

    def __init__(self, *, name: str, dataset: str, benchmark: str, xset_rule: str = "even",
                 source: str = "raw", **kwargs: Any):
        super().__init__(name=name, **kwargs)
        self.dataset = dataset
        self.benchmark = benchmark
        self.xset_rule = xset_rule
        self.source = source


class SkeletonBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Raw skeleton files of one benchmark -> array_record records ``(T, M, V, C)``.

    Subclasses give the record shape (:attr:`RECORD_SHAPE`), the split names, the loader of one
    file (:attr:`load`), the class names and :meth:`list_samples`.

    Args:
      raw_dir: the folder of raw files (what it must hold depends on the dataset).
      num_workers: processes that read files (default: all cores; 1: this process).
      skip_corrupt: build without damaged or inconsistent samples instead of failing.
      record_cache: outcomes of samples read for other benchmarks of the dataset (see
        :class:`RecordCache`); this build's are added to it once it is complete.
      **kwargs: for ``tfds.core.GeneratorBasedBuilder`` (``config``, ``data_dir``, ...).
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Official preprocessing, real-length records."}
    RECORD_SHAPE: ClassVar[tuple[int, int, int]]  # (M, V, C) of each frame.
    SPLITS: ClassVar[tuple[str, ...]] = ("train", "test")
    load: ClassVar[Callable[[Sample], np.ndarray]]
    shard_bytes: int = _SHARD_BYTES

    def __init__(self, *, raw_dir: str | os.PathLike | None = None,
                 num_workers: int | None = None, skip_corrupt: bool = False,
                 record_cache: RecordCache | None = None, **kwargs: Any):
        kwargs.setdefault("file_format", "array_record")
        super().__init__(**kwargs)
        self.raw_dir = pathlib.Path(raw_dir) if raw_dir else None
        self.num_workers = (os.cpu_count() or 1) if num_workers is None else max(1, num_workers)
        self.skip_corrupt = skip_corrupt
        self.record_cache = record_cache
        self.report: dict[str, Any] = {}
        self._outcomes: dict[Sample, tuple[str, int] | Skip] = {}
        self._records_dir = pathlib.Path(self.data_dir)  # The final folder, not the temporary one.

    # -- what a dataset provides -------------------------------------------------------------

    @abc.abstractmethod
    def class_names(self) -> Sequence[str]:
        """The class names, index = label."""

    @abc.abstractmethod
    def list_samples(self, raw_dir: pathlib.Path) -> SamplePlan:
        """The samples of this benchmark found in `raw_dir`, per split, and those skipped."""

    # -- TFDS ----------------------------------------------------------------------------------

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.builder_config.description,
            features=tfds.features.FeaturesDict({
                "skeleton": tfds.features.Tensor(shape=(None, *self.RECORD_SHAPE),
                                                 dtype=np.float32,
                                                 encoding=tfds.features.Encoding.ZLIB),
                "label": tfds.features.ClassLabel(names=list(self.class_names())),
                "sample_name": tfds.features.Text(),
            }),
            supervised_keys=("skeleton", "label"),
            disable_shuffling=True,  # Records keep the sorted sample order.
        )

    def _empty_plan(self, raw_files: int) -> SamplePlan:
        """A plan with every split (and "no split") empty."""
        return SamplePlan({split: [] for split in self.SPLITS},
                          {split: [] for split in (*self.SPLITS, None)}, raw_files)

    def _plan(self) -> SamplePlan:
        """:meth:`list_samples` of ``raw_dir``, which must be a folder."""
        if self.raw_dir is None or not self.raw_dir.is_dir():
            raise FileNotFoundError(f"raw_dir {self.raw_dir} is not a folder; "
                                    f"{self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
        return self.list_samples(self.raw_dir)

    def _split_generators(self, dl_manager: Any) -> dict[str, Iterator]:
        """Unused: :meth:`_download_and_prepare` reads in parallel and streams the records."""
        raise NotImplementedError("SkeletonBuilder writes its records in _download_and_prepare")

    def _generate_examples(self, *args: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        """Unused, as :meth:`_split_generators`."""
        raise NotImplementedError("SkeletonBuilder writes its records in _download_and_prepare")

    def download_and_prepare(self, *args: Any, **kwargs: Any) -> None:
        """Builds the benchmark (see ``tfds.core.DatasetBuilder``); a complete build adds the
        outcome of each sample it read to :attr:`record_cache`."""
        self._outcomes = {}
        super().download_and_prepare(*args, **kwargs)
        if self.record_cache is not None and self._outcomes:
            self.record_cache.add(self._cache_key, self._outcomes)
        self._outcomes = {}

    @property
    def _cache_key(self) -> tuple[str, str]:
        return (self.name, self.builder_config.dataset)

    def _known(self, sample: Sample) -> tuple[str, int] | loaders.Result | None:
        """The outcome of `sample` in another benchmark: its record's place, or the Result
        that skipped it; None if it must be read."""
        if self.record_cache is None:
            return None
        known = self.record_cache.lookup(self._cache_key, sample)
        if isinstance(known, Skip):
            return (known.sample, None, known.reason, known.detail)
        return known

    def _download_and_prepare(self, dl_manager: Any, download_config: Any) -> None:
        """Reads every sample in parallel and streams the records into shards.

        Runs inside TFDS's temporary folder: raising here leaves nothing that looks prepared.
        """
        del dl_manager, download_config
        plan = self._plan()
        skipped = {split: list(plan.skipped.get(split, [])) for split in plan.splits}
        written: dict[str, int] = {}
        split_infos = []
        total = sum(self._known(sample) is None
                    for samples in plan.splits.values() for sample in samples)
        workers = min(self.num_workers, -(-total // _CHUNK))  # No more workers than tasks.
        with _Loader(type(self).load, self.RECORD_SHAPE, workers) as loader:
            for split, samples in plan.splits.items():
                results = loader.results(samples, f"{self.builder_config.name}/{split}",
                                         self._known)
                info, count = self._write_split(split, results, skipped[split])
                split_infos.append(info)
                written[split] = count
        self.report = self._make_report(plan, written, skipped)
        problems = [s for lst in skipped.values() for s in lst if s.reason in PROBLEM_REASONS]
        empty = [split for split, count in written.items() if count == 0]
        failed_report = self._records_dir.parent / FAILED_REPORT_NAME
        if (problems and not self.skip_corrupt) or empty:
            self.report["complete"] = False
            failed_report.parent.mkdir(parents=True, exist_ok=True)
            failed_report.write_text(json.dumps(self.report, indent=2) + "\n")
            if problems and not self.skip_corrupt:
                raise CorruptDataError(self.builder_config.name, problems, failed_report)
            raise ValueError(f"{self.builder_config.name}: no sample left in split(s) {empty} of "
                             f"{self.raw_dir} (see {failed_report})")
        self.info.set_splits(tfds.core.SplitDict(split_infos))
        failed_report.unlink(missing_ok=True)
        (pathlib.Path(self.data_dir) / REPORT_NAME).write_text(
            json.dumps(self.report, indent=2) + "\n")

    def _write_split(self, split: str, results: Iterable[tuple[Sample, Any]],
                     skipped: list[Skip]) -> tuple[tfds.core.SplitInfo, int]:
        """Writes the records of `results` into shards as they arrive; records each sample not
        written in `skipped`. Returns the split's info and its record count.

        Shards are array_record files of one record per chunk, uncompressed (the skeletons are
        already compressed; compressing again costs time and saves nothing).
        """
        template = self._get_filename_template(split_name=split)
        folder = pathlib.Path(self.data_dir)
        shard_lengths: list[int] = []
        placed: list[tuple[Sample, int, int]] = []  # Sample, shard, index in the shard.
        num_bytes = size = 0
        writer = None
        try:
            for sample, record in self._records(results, skipped):
                if writer is None or size >= self.shard_bytes:
                    if writer is not None:
                        writer.close()
                    shard_lengths.append(0)
                    size = 0
                    writer = array_record_module.ArrayRecordWriter(
                        os.fspath(folder / f"{split}.shard{len(shard_lengths) - 1:05d}.tmp"),
                        "group_size:1,uncompressed")
                writer.write(record)
                placed.append((sample, len(shard_lengths) - 1, shard_lengths[-1]))
                shard_lengths[-1] += 1
                size += len(record)
                num_bytes += len(record)
        finally:
            if writer is not None:
                writer.close()
        names = [template.sharded_filepath(shard_index=index, num_shards=len(shard_lengths))
                 for index in range(len(shard_lengths))]
        for index, name in enumerate(names):
            (folder / f"{split}.shard{index:05d}.tmp").rename(name)
        for sample, shard, index in placed:
            self._outcomes[sample] = (os.fspath(self._records_dir / names[shard].name), index)
        info = tfds.core.SplitInfo(name=split, shard_lengths=shard_lengths, num_bytes=num_bytes,
                                   filename_template=template)
        return info, sum(shard_lengths)

    def _records(self, results: Iterable[tuple[Sample, Any]], skipped: list[Skip]
                 ) -> Iterator[tuple[Sample, bytes]]:
        """The serialised records of `results` (a :data:`loaders.Result`, or the place of a
        record another benchmark wrote); samples without one go to `skipped` (an unexpected
        failure raises)."""
        features = self.info.features
        label, sample_name = features["label"], features["sample_name"]
        serializer = example_serializer.ExampleSerializer(features.get_serialized_info())
        for sample, outcome in results:
            if len(outcome) == 2:  # Written by another benchmark of the dataset.
                yield sample, self.record_cache.read(outcome)
                continue
            name, skeleton, reason, detail = outcome
            if skeleton is not None:
                # As features.encode_example({...}) encodes, with the skeleton already encoded
                # (and checked) by the worker.
                yield sample, serializer.serialize_example({
                    "skeleton": skeleton, "label": label.encode_example(sample.label),
                    "sample_name": sample_name.encode_example(sample.name)})
            elif reason == "error":
                raise RuntimeError(f"unexpected failure reading a sample: {detail}")
            else:
                skip = Skip(name, reason, detail)
                self._outcomes[sample] = skip
                skipped.append(skip)

    def _make_report(self, plan: SamplePlan, written: dict[str, int],
                     skipped: dict[str, list[Skip]]) -> dict[str, Any]:
        """The content of ``prepare_report.json``."""

        def section(skips: list[Skip]) -> dict[str, Any]:
            return {"skipped": len(skips),
                    "skipped_by_reason": dict(collections.Counter(s.reason for s in skips)),
                    "skipped_samples": [s.as_dict() for s in skips]}

        outside = plan.skipped.get(None, [])
        every_skip = [s for lst in skipped.values() for s in lst] + outside
        config = self.builder_config
        return {
            "config": config.name, "dataset": config.dataset, "benchmark": config.benchmark,
            "raw_dir": str(self.raw_dir), "raw_files": plan.raw_files,
            "skip_corrupt": self.skip_corrupt, "complete": True,
            "examples": sum(written.values()), "skipped": len(every_skip),
            "skipped_by_reason": dict(collections.Counter(s.reason for s in every_skip)),
            "splits": {split: {"examples": written[split], **section(skipped[split])}
                       for split in plan.splits},
            "outside_splits": section(outside),
            "reasons": {r: SKIP_REASONS[r] for r in sorted({s.reason for s in every_skip})},
            **self.report_notes(),
        }

    def report_notes(self) -> dict[str, str]:
        """Entries the report adds for this kind of benchmark (how imported files were read)."""
        return {}


def _unusable_files(dataset: str, errors: list[str]) -> None:
    """Raises one error listing every raw file that cannot be a sample (its name is not a sample
    name, or another file holds the same sample)."""
    if errors:
        shown = "\n  ".join(errors[:_MAX_ERRORS_SHOWN])
        more = len(errors) - _MAX_ERRORS_SHOWN
        raise ValueError(f"{len(errors)} raw file(s) cannot be {dataset} samples; move them out "
                         f"of the raw folder:\n  {shown}"
                         + (f"\n  ... and {more} more" if more > 0 else ""))


# --------------------------------------------------------------------------------------------
# NTU RGB+D 60 / 120 and the synthetic set


@dataclasses.dataclass(frozen=True)
class NtuFamily:
    """A dataset whose raw files are NTU `.skeleton` files."""

    name: str
    benchmarks: tuple[str, ...]
    split_rules: str  # The NTU dataset whose subject/camera/setup rules apply.
    uses_missing_list: bool
    description: str

    def class_names(self) -> tuple[str, ...]:
        if self.name == "synthetic":
            from data_prep import synthetic  # Imported lazily: only the synthetic set needs it.

            return tuple(synthetic.CLASS_NAMES)
        return ntu.action_names(self.name)


NTU_FAMILIES = {
    "synthetic": NtuFamily(
        "synthetic", ("xsub", "xview"), "ntu60", False,
        "Synthetic skeletons written in the NTU RGB+D .skeleton format (data_prep.synthetic)."),
    "ntu60": NtuFamily(
        "ntu60", ("xsub", "xview"), "ntu60", True, "NTU RGB+D 60 (Shahroudy et al., CVPR 2016)."),
    "ntu120": NtuFamily(
        "ntu120", ("xsub", "xset"), "ntu120", True, "NTU RGB+D 120 (Liu et al., TPAMI 2019)."),
}


def _ntu_configs() -> list[SkeletonConfig]:
    configs = [SkeletonConfig(name=f"{family.name}_{benchmark}", dataset=family.name,
                              benchmark=benchmark, description=family.description)
               for family in NTU_FAMILIES.values() for benchmark in family.benchmarks]
    configs.append(SkeletonConfig(
        name="ntu120_xset_official_stgat", dataset="ntu120", benchmark="xset",
        xset_rule="official_stgat",
        description="NTU RGB+D 120 X-Set with the official STGAT repository's inverted rule "
                    "(odd setups train)."))
    return configs


class NtuSkeleton(SkeletonBuilder):
    """NTU RGB+D 60/120 (and the synthetic set in the same format): ``(T, 2, 25, 3)`` x, y, z."""

    BUILDER_CONFIGS = _ntu_configs()
    MANUAL_DOWNLOAD_INSTRUCTIONS = "raw_dir must hold the .skeleton files."
    RECORD_SHAPE = (ntu.MAX_PERSONS, ntu.NUM_JOINTS, 3)
    load = staticmethod(loaders.load_ntu)

    @property
    def family(self) -> NtuFamily:
        """The dataset of this benchmark."""
        return NTU_FAMILIES[self.builder_config.dataset]

    def class_names(self) -> Sequence[str]:
        return self.family.class_names()

    def list_samples(self, raw_dir: pathlib.Path) -> SamplePlan:
        paths = sorted(raw_dir.glob("*.skeleton"))
        if not paths:
            raise FileNotFoundError(f"raw_dir {raw_dir} holds no .skeleton files.")
        family, config = self.family, self.builder_config
        missing = (ntu.missing_samples(family.split_rules) if family.uses_missing_list
                   else frozenset())
        plan = self._empty_plan(len(paths))
        errors = []
        for path in paths:
            try:
                name = ntu.parse_sample_name(path)
            except ValueError as err:
                errors.append(str(err))
                continue
            try:
                trains = ntu.is_training(name, family.split_rules, config.benchmark,
                                         xset_rule=config.xset_rule)
            except ValueError as err:  # A sample of the larger dataset (NTU120 in ntu60).
                plan.skipped[None].append(Skip(str(name), "not_in_dataset", str(err)))
                continue
            split = "train" if trains else "test"
            if str(name) in missing:
                plan.skipped[split].append(Skip(str(name), "missing_list",
                                                "listed in the official missing-skeleton list"))
                continue
            plan.splits[split].append(Sample(str(name), str(path), name.label))
        _unusable_files(family.name, errors)
        return plan


# --------------------------------------------------------------------------------------------
# Kinetics-Skeleton 400


class KineticsSkeleton(SkeletonBuilder):
    """Kinetics-Skeleton 400 (ST-GCN release): ``(T, 2, 18, 3)`` x, y, OpenPose score.

    ``raw_dir`` holds the release's layout: folders ``kinetics_train/`` and ``kinetics_val/`` of
    per-video ``.json`` files and the label files ``kinetics_train_label.json`` and
    ``kinetics_val_label.json``. Labels come from the label files; each video's own
    ``label_index`` must agree. Videos marked ``has_skeleton: false`` are skipped.
    """

    BUILDER_CONFIGS = [SkeletonConfig(
        name="kinetics400", dataset="kinetics400", benchmark="kinetics400",
        description="Kinetics-Skeleton 400 (Yan et al., AAAI 2018; OpenPose on Kinetics-400).")]
    MANUAL_DOWNLOAD_INSTRUCTIONS = ("raw_dir must hold kinetics_train/, kinetics_val/, "
                                    "kinetics_train_label.json and kinetics_val_label.json.")
    RECORD_SHAPE = (kinetics.MAX_PERSONS, kinetics.NUM_JOINTS, 3)
    SPLITS = ("train", "val")
    load = staticmethod(loaders.load_kinetics)

    def class_names(self) -> Sequence[str]:
        return kinetics.action_names()

    def list_samples(self, raw_dir: pathlib.Path) -> SamplePlan:
        plan = self._empty_plan(0)
        for split in self.SPLITS:
            folder = raw_dir / f"kinetics_{split}"
            label_file = raw_dir / f"kinetics_{split}_label.json"
            for needed in (folder, label_file):
                if not needed.exists():
                    raise FileNotFoundError(f"{needed} does not exist; "
                                            f"{self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
            labels = kinetics.read_label_file(label_file)
            files = {kinetics.video_id(p): p for p in sorted(folder.glob("*.json"))}
            plan.raw_files += len(files)
            samples, skipped = [], []
            for vid in sorted(labels.keys() | files.keys()):
                entry, path = labels.get(vid), files.get(vid)
                if entry is None:
                    skipped.append(Skip(vid, "unlabelled",
                                        f"{path}: the video {vid!r} is not in {label_file}"))
                elif not entry.has_skeleton:
                    skipped.append(Skip(vid, "no_skeleton",
                                        f"has_skeleton is false in {label_file}"))
                elif path is None:
                    skipped.append(Skip(vid, "missing_file",
                                        f"{label_file}: {vid!r} has a skeleton, but "
                                        f"{folder / (vid + '.json')} does not exist"))
                else:
                    samples.append(Sample(vid, str(path), entry.label_index, str(label_file)))
            plan.splits[split], plan.skipped[split] = samples, skipped
        return plan


# --------------------------------------------------------------------------------------------
# UESTC RGB-D varying-view


class UestcSkeleton(SkeletonBuilder):
    """UESTC RGB-D varying-view 3D action dataset: ``(T, 1, 25, 3)`` camera-space x, y, z.

    ``raw_dir`` holds ``a{action}_d{view}_p{subject}_c{camera}_skeleton.txt`` or ``.mat`` files;
    each sample once. Splits follow :func:`data_prep.uestc.sample_split`; samples a protocol
    uses in neither split are counted as ``not_in_split``.
    """

    BUILDER_CONFIGS = [SkeletonConfig(
        name=f"uestc_{benchmark}", dataset="uestc", benchmark=benchmark,
        description=f"UESTC RGB-D varying-view 3D action dataset (Ji et al.), {benchmark}.")
        for benchmark in uestc.BENCHMARKS]
    MANUAL_DOWNLOAD_INSTRUCTIONS = "raw_dir must hold the _skeleton.txt or _skeleton.mat files."
    RECORD_SHAPE = (1, uestc.NUM_JOINTS, 3)
    load = staticmethod(loaders.load_uestc)

    def class_names(self) -> Sequence[str]:
        # The dataset numbers its aerobic exercises; it publishes no names for them.
        return tuple(f"a{k}" for k in range(uestc.NUM_ACTIONS))

    def list_samples(self, raw_dir: pathlib.Path) -> SamplePlan:
        paths = sorted(p for p in raw_dir.iterdir() if p.suffix.lower() in (".txt", ".mat"))
        if not paths:
            raise FileNotFoundError(f"raw_dir {raw_dir} holds no .txt or .mat skeleton files.")
        plan = self._empty_plan(len(paths))
        errors: list[str] = []
        seen: dict[str, pathlib.Path] = {}
        for path in paths:
            try:
                name = uestc.parse_sample_name(path)
            except ValueError as err:
                errors.append(str(err))
                continue
            if str(name) in seen:
                errors.append(f"{path}: the sample {name} is also in {seen[str(name)]}; keep one")
                continue
            seen[str(name)] = path
            split = uestc.sample_split(name, self.builder_config.benchmark)
            if split is None:
                plan.skipped[None].append(Skip(
                    str(name), "not_in_split", f"{self.builder_config.benchmark} uses view "
                    f"d{name.view} of camera c{name.camera} (subject p{name.subject:03d}) in "
                    f"neither split"))
                continue
            plan.splits[split].append(Sample(str(name), str(path), name.label))
        _unusable_files("uestc", errors)
        return plan


# --------------------------------------------------------------------------------------------
# NW-UCLA (CTR-GCN's JSON release)


class NwUclaSkeleton(SkeletonBuilder):
    """NW-UCLA Multiview Action3D: ``(T, 1, 20, 3)`` world x, y, z in metres, as stored.

    ``raw_dir`` holds the ``a01_s01_e00_v01.json`` files, or a folder ``all_sqe/`` of them (the
    layout of CTR-GCN's ``data/NW-UCLA``). Views 1 and 2 train, view 3 tests
    (:func:`data_prep.nw_ucla.sample_split`).
    """

    BUILDER_CONFIGS = [SkeletonConfig(
        name="nw_ucla", dataset="nw_ucla", benchmark="xview",
        description="Northwestern-UCLA Multiview Action3D (Wang et al., CVPR 2014), CTR-GCN's "
                    "JSON release; views 1+2 train, view 3 tests.")]
    MANUAL_DOWNLOAD_INSTRUCTIONS = "raw_dir must hold the .json files (or all_sqe/ with them)."
    RECORD_SHAPE = (1, nw_ucla.NUM_JOINTS, 3)
    load = staticmethod(loaders.load_nw_ucla)

    def class_names(self) -> Sequence[str]:
        return nw_ucla.ACTION_NAMES

    def list_samples(self, raw_dir: pathlib.Path) -> SamplePlan:
        if (raw_dir / "all_sqe").is_dir():
            raw_dir = raw_dir / "all_sqe"
        paths = sorted(raw_dir.glob("*.json"))
        if not paths:
            raise FileNotFoundError(f"raw_dir {raw_dir} holds no .json files "
                                    f"(nor does an all_sqe/ folder in it).")
        plan = self._empty_plan(len(paths))
        errors: list[str] = []
        for path in paths:
            try:
                name = nw_ucla.parse_sample_name(path)
            except ValueError as err:
                errors.append(str(err))
                continue
            plan.splits[nw_ucla.sample_split(name)].append(Sample(str(name), str(path),
                                                                  name.label))
        _unusable_files("nw_ucla", errors)
        return plan


# --------------------------------------------------------------------------------------------
# Files other toolkits prepared (data_prep.imported): NTU RGB+D in PYSKL, CTR-GCN, STGAT layouts


def _import_configs(source: str, what: str) -> list[SkeletonConfig]:
    return [SkeletonConfig(name=f"{family.name}_{benchmark}_{source}", dataset=family.name,
                           benchmark=benchmark, source=source,
                           description=f"{family.description} Imported from {what}.")
            for family in NTU_FAMILIES.values() for benchmark in family.benchmarks]


class ImportedSkeleton(SkeletonBuilder):
    """Base of the importers: ``raw_dir`` is the file (or folder) to import. Its samples are
    read in this process (the file is read once and the conversion is light), in the file's
    order; everything else is the raw path's: same records, report and strictness. The file
    stays loaded for the next benchmark until :func:`data_prep.imported.close`."""

    NOTES: ClassVar[dict[str, str]] = {}

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.num_workers = 1

    def class_names(self) -> Sequence[str]:
        return NTU_FAMILIES[self.builder_config.dataset].class_names()

    def report_notes(self) -> dict[str, str]:
        return {"source": self.builder_config.source, **self.NOTES}

    def _plan(self) -> SamplePlan:
        if self.raw_dir is None or not self.raw_dir.exists():
            raise FileNotFoundError(f"{self.raw_dir} does not exist; "
                                    f"{self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
        return self.list_samples(self.raw_dir)

    def _label(self, path: str, key: str, label: Any) -> int:
        """`label` checked against the dataset's classes."""
        count = len(self.class_names())
        if not 0 <= int(label) < count:
            raise imported.ImportFormatError(path, key, f"a class index in [0, {count}) "
                                             f"({self.builder_config.dataset})", str(label))
        return int(label)


class PysklSkeleton(ImportedSkeleton):
    """A PYSKL / MMAction2 3D annotation pickle (``ntu60_3danno.pkl``): ``(T, 2, 25, 3)``.

    The benchmark's ``{benchmark}_train`` and ``{benchmark}_val`` lists give the train and test
    splits; annotations in neither are ``not_in_split``, None annotations ``empty_annotation``,
    listed names without an annotation ``not_annotated``.
    """

    BUILDER_CONFIGS = _import_configs("pyskl", "a PYSKL / MMAction2 3D annotation pickle")
    MANUAL_DOWNLOAD_INSTRUCTIONS = ("raw_dir must be a PYSKL / MMAction2 annotation pickle, "
                                    "e.g. ntu60_3danno.pkl.")
    RECORD_SHAPE = (ntu.MAX_PERSONS, ntu.NUM_JOINTS, 3)
    TWO_D = False
    NOTES = {"normalisation": "raw camera coordinates normalised as the raw NTU path does after "
                              "body selection (data_prep.ntu.normalize)"}
    load = staticmethod(loaders.load_pyskl)

    def list_samples(self, raw_dir: pathlib.Path) -> SamplePlan:
        path = str(raw_dir)
        lists, annotations = imported.read_annotations(path)
        benchmark = self.builder_config.benchmark
        keys = {"train": f"{benchmark}_train", "test": f"{benchmark}_val"}
        for key in keys.values():
            if key not in lists:
                raise imported.ImportFormatError(
                    path, f"'split'['{key}']", f"the {benchmark} lists {list(keys.values())}",
                    f"only the lists {sorted(lists)}")
        plan = self._empty_plan(len(annotations))
        by_name: dict[str, int] = {}
        for index, ann in enumerate(annotations):
            if ann is None:
                plan.skipped[None].append(Skip(f"annotations[{index}]", "empty_annotation",
                                               f"{path}: annotations[{index}] is None"))
                continue
            imported.check_annotation(path, index, ann, self.TWO_D)
            self._label(path, f"annotations[{index}]['label']", ann["label"])
            name = ann["frame_dir"]
            if name in by_name:
                raise imported.ImportFormatError(
                    path, f"annotations[{index}]['frame_dir']", "a name no other annotation has",
                    f"{name!r}, also annotations[{by_name[name]}]")
            by_name[name] = index
        split_of: dict[str, str] = {}
        for split, key in keys.items():
            for name in lists[key]:
                if name in split_of:
                    raise imported.ImportFormatError(
                        path, f"'split'['{key}']", "each name in one list once",
                        f"{name!r} again (also in {keys[split_of[name]]})")
                split_of[name] = split
                index = by_name.get(name)
                if index is None:
                    plan.skipped[split].append(Skip(name, "not_annotated", f"{path}: in "
                                                    f"'split'['{key}'], but in no annotation"))
                else:
                    plan.splits[split].append(Sample(name, path, int(annotations[index]["label"]),
                                                     index=index))
        for name in by_name:
            if name not in split_of:
                plan.skipped[None].append(Skip(name, "not_in_split",
                                               f"in neither {list(keys.values())}"))
        return plan


class Pyskl2dSkeleton(PysklSkeleton):
    """A PYSKL / MMAction2 2D annotation pickle (COCO-17 keypoints, e.g. ``ntu60_2d.pkl``):
    ``(T, 2, 17, 3)`` x, y, score, normalised as Kinetics-Skeleton (:mod:`data_prep.imported`)."""

    BUILDER_CONFIGS = _import_configs("pyskl_2d", "a PYSKL / MMAction2 2D (COCO-17) pickle")
    MANUAL_DOWNLOAD_INSTRUCTIONS = ("raw_dir must be a PYSKL / MMAction2 2D annotation pickle, "
                                    "e.g. ntu60_2d.pkl.")
    RECORD_SHAPE = (ntu.MAX_PERSONS, imported.COCO_JOINTS, 3)
    TWO_D = True
    NOTES = {"normalisation": "pixels divided by img_shape, x - 0.5 and 0.5 - y, zero where the "
                              "score is 0 (Kinetics-Skeleton's); channels x, y, score; the two "
                              "persons of highest total score"}
    load = staticmethod(loaders.load_pyskl_2d)


class CtrgcnSkeleton(ImportedSkeleton):
    """A CTR-GCN / InfoGCN npz (``NTU60_CS.npz``): ``(T, 2, 25, 3)``; samples named by split and
    index, ``train_000000`` for ``x_train[0]``."""

    BUILDER_CONFIGS = _import_configs("ctrgcn", "a CTR-GCN / InfoGCN npz")
    MANUAL_DOWNLOAD_INSTRUCTIONS = "raw_dir must be a CTR-GCN / InfoGCN npz, e.g. NTU60_CS.npz."
    RECORD_SHAPE = (ntu.MAX_PERSONS, ntu.NUM_JOINTS, 3)
    NOTES = {"sample_names": "the npz stores no sample names: samples are named by split and "
                             "index, train_000000 is x_train[0] and test_000000 is x_test[0]",
             "normalisation": "CTR-GCN's files are only translated (spine middle of the first "
                              "frame at the origin); normalised as the raw NTU path does "
                              "(data_prep.ntu.normalize), frames up to the last non-zero one"}
    load = staticmethod(loaders.load_ctrgcn)

    def list_samples(self, raw_dir: pathlib.Path) -> SamplePlan:
        path = str(raw_dir)
        arrays = imported.read_npz(path)
        count = len(self.class_names())
        plan = self._empty_plan(sum(len(arrays[x]) for x, _ in imported.NPZ_KEYS.values()))
        for split, (_, y_key) in imported.NPZ_KEYS.items():
            y = arrays[y_key]
            if y.shape[1] != count:
                raise imported.ImportFormatError(
                    path, y_key, f"one-hot rows of {count} classes ({self.builder_config.dataset})",
                    f"rows of {y.shape[1]}")
            plan.splits[split] = [Sample(f"{split}_{i:06d}", path, int(label), index=i)
                                  for i, label in enumerate(np.argmax(y, axis=1))]
        return plan


class StgatNpySkeleton(ImportedSkeleton):
    """STGAT / 2s-AGCN arrays: a folder of ``{train,val}_data_joint.npy`` (N, 3, T, 25, 2) and
    ``{train,val}_label.pkl``: ``(T, 2, 25, 3)`` as stored; ``val`` is the test split."""

    BUILDER_CONFIGS = _import_configs("stgat", "STGAT / 2s-AGCN numpy arrays")
    MANUAL_DOWNLOAD_INSTRUCTIONS = ("raw_dir must be a folder holding train_data_joint.npy, "
                                    "val_data_joint.npy, train_label.pkl and val_label.pkl.")
    RECORD_SHAPE = (ntu.MAX_PERSONS, ntu.NUM_JOINTS, 3)
    NOTES = {"normalisation": "none: the arrays are taken as they are stored (STGAT's gendata "
                              "normalises as the raw NTU path does), cut to non-empty frames"}
    load = staticmethod(loaders.load_stgat)

    def list_samples(self, raw_dir: pathlib.Path) -> SamplePlan:
        if not raw_dir.is_dir():
            raise FileNotFoundError(f"{raw_dir} is not a folder; "
                                    f"{self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
        plan = self._empty_plan(0)
        for split, prefix in imported.STGAT_SPLITS.items():
            data, names, labels = imported.read_stgat(str(raw_dir), prefix)
            label_file = str(raw_dir / f"{prefix}_label.pkl")
            array = str(raw_dir / f"{prefix}_data_joint.npy")
            plan.raw_files += len(data)
            seen: dict[str, int] = {}
            for i, (name, label) in enumerate(zip(names, labels)):
                if name in seen:
                    raise imported.ImportFormatError(label_file, f"names[{i}]",
                                                     "a name no other sample has",
                                                     f"{name!r}, also names[{seen[name]}]")
                seen[name] = i
                plan.splits[split].append(Sample(name, array, self._label(
                    label_file, f"labels[{i}]", label), index=i))
        return plan


BUILDERS: tuple[type[SkeletonBuilder], ...] = (NtuSkeleton, KineticsSkeleton, UestcSkeleton,
                                               NwUclaSkeleton, PysklSkeleton, Pyskl2dSkeleton,
                                               CtrgcnSkeleton, StgatNpySkeleton)
"""Every builder; their configs are the benchmarks."""


def read_report(data_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The report next to the records in `data_dir` (a version folder), or None."""
    path = pathlib.Path(data_dir) / REPORT_NAME
    return json.loads(path.read_text()) if path.exists() else None
