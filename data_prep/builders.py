"""The builder of each dataset: which samples a benchmark has, how a file is read, the classes.

Benchmarks are builder configs: ``{dataset}_{benchmark}`` for NTU RGB+D, the synthetic set and
UESTC (``ntu60_xsub``, ``synthetic_xsub``, ``uestc_xview1``), ``kinetics400`` for Kinetics-Skeleton,
``nw_ucla`` for NW-UCLA, ``{dataset}_{benchmark}_{format}`` for files other toolkits prepared
(``ntu60_xsub_pyskl``; see :mod:`data_prep.imported`). Each builder gives its record shape, its
loader (:mod:`data_prep.loaders`), its class names and :meth:`list_samples`; reading, writing the
shards and the report are the shared :class:`data_prep.records.SkeletonBuilder`'s.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any, ClassVar, Sequence

import numpy as np

from data_prep import imported, kinetics, loaders, ntu, nw_ucla, synthetic, uestc
from data_prep.loaders import Sample
from data_prep.records import SamplePlan, SkeletonBuilder, SkeletonConfig, Skip, unusable_files


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
        unusable_files(family.name, errors)
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
        unusable_files("uestc", errors)
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
        unusable_files("nw_ucla", errors)
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

