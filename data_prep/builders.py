"""TFDS builders: one array_record dataset per benchmark, one record per sample.

Each record holds the preprocessed sequence at its real length (no padding to 300 frames) in the
channels-last layout ``(T, M, V, C)``, its label and its sample name. Preprocessing (body selection,
normalisation) happens here, once.

Benchmarks are builder configs named ``{dataset}_{benchmark}``, e.g. ``ntu60_xsub`` or
``synthetic_xsub``. Raw files are read from ``raw_dir``; what is skipped is counted and listed in
``prepare_report.json`` next to the records.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import multiprocessing
import os
import pathlib
from typing import Any, Iterator

import numpy as np
import tensorflow_datasets as tfds
import tqdm

from data_prep import ntu

REPORT_NAME = "prepare_report.json"


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


class NtuSkeletonConfig(tfds.core.BuilderConfig):
    """A benchmark of an NTU-format dataset."""

    def __init__(self, *, family: str, benchmark: str, xset_rule: str = "even", **kwargs: Any):
        suffix = "" if xset_rule == "even" else f"_{xset_rule}"
        super().__init__(name=f"{family}_{benchmark}{suffix}", **kwargs)
        self.family = family
        self.benchmark = benchmark
        self.xset_rule = xset_rule


def _ntu_configs() -> list[NtuSkeletonConfig]:
    configs = []
    for family in NTU_FAMILIES.values():
        for benchmark in family.benchmarks:
            configs.append(NtuSkeletonConfig(family=family.name, benchmark=benchmark,
                                             description=family.description))
    configs.append(NtuSkeletonConfig(
        family="ntu120", benchmark="xset", xset_rule="official_stgat",
        description="NTU RGB+D 120 X-Set with the official STGAT repository's inverted rule "
                    "(odd setups train)."))
    return configs


def _load_one(path: str) -> tuple[str, np.ndarray | None, str | None, str | None]:
    """Worker: (sample name, record array or None, skip reason, detail)."""
    name = pathlib.Path(path).name.split(".")[0]
    try:
        data = ntu.load_sample(path)  # (C, T, V, M)
    except ntu.EmptySkeletonError as e:
        return name, None, "no_skeleton", str(e)
    except ntu.SkeletonFormatError as e:
        return name, None, "corrupt", str(e)
    return name, np.ascontiguousarray(data.transpose(1, 3, 2, 0)), None, None


def map_files(fn, paths: list[str], num_workers: int, desc: str) -> Iterator[Any]:
    """Applies `fn` to every path, in order, in `num_workers` processes, with a progress bar."""
    bar = tqdm.tqdm(total=len(paths), desc=desc, unit="file", dynamic_ncols=True, mininterval=1.0)
    if num_workers <= 1 or len(paths) < 32:
        for p in paths:
            yield fn(p)
            bar.update()
    else:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(num_workers) as pool:
            for out in pool.imap(fn, paths, chunksize=16):
                yield out
                bar.update()
    bar.close()


class NtuSkeleton(tfds.core.GeneratorBasedBuilder):
    """NTU RGB+D 60/120 (and the synthetic set in the same format) as array_record records."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Official body selection and normalisation, real-length records."}
    BUILDER_CONFIGS = _ntu_configs()
    MANUAL_DOWNLOAD_INSTRUCTIONS = "Pass raw_dir: the folder holding the .skeleton files."

    def __init__(self, *, raw_dir: str | os.PathLike | None = None, num_workers: int | None = None,
                 skip_corrupt: bool = False, **kwargs: Any):
        kwargs.setdefault("file_format", "array_record")
        super().__init__(**kwargs)
        self.raw_dir = pathlib.Path(raw_dir) if raw_dir else None
        self.num_workers = (os.cpu_count() or 1) if num_workers is None else num_workers
        self.skip_corrupt = skip_corrupt
        self.report: dict[str, Any] = {}

    @property
    def family(self) -> NtuFamily:
        return NTU_FAMILIES[self.builder_config.family]

    def _info(self) -> tfds.core.DatasetInfo:
        num_persons, num_joints, num_channels = 2, 25, 3
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.builder_config.description,
            features=tfds.features.FeaturesDict({
                "skeleton": tfds.features.Tensor(
                    shape=(None, num_persons, num_joints, num_channels), dtype=np.float32,
                    encoding=tfds.features.Encoding.ZLIB),
                "label": tfds.features.ClassLabel(names=list(self.family.class_names())),
                "sample_name": tfds.features.Text(),
            }),
            supervised_keys=("skeleton", "label"),
        )

    def _split_generators(self, dl_manager: Any) -> dict[str, Iterator]:
        del dl_manager
        if self.raw_dir is None or not self.raw_dir.is_dir():
            raise FileNotFoundError(
                f"raw_dir {self.raw_dir} is not a folder; it must hold the .skeleton files of "
                f"{self.family.name}.")
        paths = sorted(str(p) for p in self.raw_dir.glob("*.skeleton"))
        if not paths:
            raise FileNotFoundError(f"raw_dir {self.raw_dir} holds no .skeleton files.")
        missing = ntu.missing_samples(self.family.split_rules) if self.family.uses_missing_list else frozenset()
        splits: dict[str, list[str]] = {"train": [], "test": []}
        self.report = {"dataset": self.family.name, "benchmark": self.builder_config.benchmark,
                       "raw_dir": str(self.raw_dir), "raw_files": len(paths), "splits": {}}
        skipped: dict[str, list[dict[str, str]]] = {"train": [], "test": []}
        for p in paths:
            sample = ntu.parse_sample_name(p)
            name = pathlib.Path(p).name.split(".")[0]
            split = "train" if ntu.is_training(sample, self.family.split_rules, self.builder_config.benchmark,
                                               xset_rule=self.builder_config.xset_rule) else "test"
            if name in missing:
                skipped[split].append({"sample": name, "reason": "missing_list",
                                       "detail": "listed in the official missing-skeleton list"})
                continue
            splits[split].append(p)
        self._skipped = skipped
        return {split: self._generate_examples(split, files) for split, files in splits.items()}

    def _generate_examples(self, split: str, paths: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
        skipped = self._skipped[split]
        corrupt: list[str] = []
        written = 0
        for name, data, reason, detail in map_files(_load_one, paths, self.num_workers,
                                                    f"{self.builder_config.name}/{split}"):
            if data is None:
                skipped.append({"sample": name, "reason": reason, "detail": detail})
                if reason == "corrupt":
                    corrupt.append(detail)
                continue
            written += 1
            yield name, {"skeleton": data, "label": ntu.parse_sample_name(name).action - 1,
                         "sample_name": name}
        self.report["splits"][split] = {
            "examples": written, "skipped": len(skipped),
            "skipped_by_reason": dict(collections.Counter(s["reason"] for s in skipped)),
            "skipped_samples": skipped}
        if corrupt and not self.skip_corrupt:
            raise ValueError(
                f"{len(corrupt)} corrupt file(s) in split {split!r} (pass skip_corrupt to "
                "build without them):\n" + "\n".join(corrupt))


def write_report(builder: NtuSkeleton) -> pathlib.Path:
    """Writes the builder's skip report next to its records and returns the path."""
    path = pathlib.Path(builder.data_dir) / REPORT_NAME
    path.write_text(json.dumps(builder.report, indent=2) + "\n")
    return path


def read_report(data_dir: str | os.PathLike) -> dict[str, Any] | None:
    path = pathlib.Path(data_dir) / REPORT_NAME
    return json.loads(path.read_text()) if path.exists() else None
