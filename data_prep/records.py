"""The TFDS builder every benchmark shares: samples -> array_record shards and a report.

Each record holds the preprocessed sequence at its real length (no padding to 300 frames) in the
channels-last layout ``(T, M, V, C)``, its label and its sample name. A dataset's builder
(:mod:`data_prep.builders`) only says which samples a benchmark has
(:meth:`SkeletonBuilder.list_samples`), how one raw file is read (:attr:`SkeletonBuilder.load`)
and what its classes are called; everything else is here:

- Files are read, preprocessed and encoded in ``num_workers`` processes
  (:mod:`data_prep.parallel`), a bounded number of samples ahead of the writer, and written to
  array_record shards as they arrive, so memory does not grow with the dataset. Benchmarks built
  in one run share a :class:`RecordCache`: each raw file is read once, later benchmarks copy the
  records.
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
import os
import pathlib
from typing import Any, Callable, ClassVar, Iterable, Iterator, Sequence

import numpy as np
import tensorflow_datasets as tfds
from array_record.python import array_record_module
from tensorflow_datasets.core import example_serializer

from data_prep import loaders, parallel
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
# Samples already read for another benchmark


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
        to_read = sum(self._known(sample) is None
                      for samples in plan.splits.values() for sample in samples)
        with parallel.SampleReader(type(self).load, self.RECORD_SHAPE, self.num_workers,
                                   to_read) as reader:
            for split, samples in plan.splits.items():
                results = reader.results(samples, f"{self.builder_config.name}/{split}",
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


def unusable_files(dataset: str, errors: list[str]) -> None:
    """Raises one error listing every raw file that cannot be a sample (its name is not a sample
    name, or another file holds the same sample)."""
    if errors:
        shown = "\n  ".join(errors[:_MAX_ERRORS_SHOWN])
        more = len(errors) - _MAX_ERRORS_SHOWN
        raise ValueError(f"{len(errors)} raw file(s) cannot be {dataset} samples; move them out "
                         f"of the raw folder:\n  {shown}"
                         + (f"\n  ... and {more} more" if more > 0 else ""))


def read_report(data_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The report next to the records in `data_dir` (a version folder), or None."""
    path = pathlib.Path(data_dir) / REPORT_NAME
    return json.loads(path.read_text()) if path.exists() else None
