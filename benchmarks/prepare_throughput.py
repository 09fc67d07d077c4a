"""Throughput and memory of data preparation on an NTU-like corpus.

    python benchmarks/prepare_throughput.py [--sizes 200 800] [--num_workers N] [--work_dir DIR]

Writes synthetic ``.skeleton`` files (90-110 frames, 1-2 bodies, the NTU RGB+D format), then
prints one JSON line per measurement:

- ``parse``: ``data_prep.ntu.load_sample`` (read, body selection, normalisation) in this process
  on one core: files/s and frames/s, best of three passes over the files; ``parse_two_person``
  the same on the files of the two-person actions only (two bodies in every frame).
- ``prepare``: ``python -m data_prep.prepare`` for one benchmark in a fresh process with
  ``--num_workers`` workers: files/s (wall clock), files/s and frames/s per core (per CPU second
  of the whole process tree, start-up included) and the peak resident memory of the whole
  process tree (sampled every 20 ms). Memory must not grow with the corpus size: records are
  streamed to disk. (The first few hundred files still warm up the allocator, so compare sizes
  of several hundred files or more.)
- ``prepare_marginal``: files/s and frames/s per core between two corpus sizes, i.e. without the
  start-up cost (importing TFDS, starting workers).
- ``prepare_dataset`` and ``prepare_dataset_marginal``: the same for the whole dataset command
  (``--dataset=synthetic``: both benchmarks, xsub and xview, each raw file read once), files
  counted once.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import shutil
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from data_prep import ntu, synthetic  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def make_corpus(folder: pathlib.Path, count: int) -> list[pathlib.Path]:
    """At least `count` synthetic files (12 actions x 3 cameras x 2 replications per
    performer), generated once into `folder`, in the order the corpus sizes take them."""
    performers = tuple(range(1, -(-count // 72) + 1))
    paths = synthetic.generate(folder, seed=0, performers=performers, setups=(1,),
                               min_frames=90, max_frames=110, num_workers=os.cpu_count() or 1,
                               progress=False)
    # Performer by performer, so that the first files hold every camera (both xview splits).
    return sorted(paths, key=lambda p: [synthetic.parse_name(p)[i] for i in (2, 1, 3, 4)])


def tree_rss(root: int) -> int:
    """Resident bytes of process `root` and all its descendants."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        rss[pid] = int(fields[21]) * PAGE
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def measure_parse(paths: list[pathlib.Path], case: str = "parse") -> dict:
    frames = 0
    for path in paths:  # Warm the page cache; count frames.
        frames += ntu.load_sample(path).shape[1]
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        for path in paths:
            ntu.load_sample(path)
        best = min(best, time.process_time() - start)
    return {"case": case, "files": len(paths), "frames": frames,
            "files_per_core_s": round(len(paths) / best, 1),
            "frames_per_core_s": round(frames / best)}


def measure_prepare(raw_dir: pathlib.Path, data_dir: pathlib.Path, num_workers: int,
                    frames: int, benchmarks: str = "synthetic_xsub") -> dict:
    files = len(list(raw_dir.glob("*.skeleton")))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "data_prep.prepare", "--dataset=synthetic",
         f"--raw_dir={raw_dir}", f"--data_dir={data_dir}", f"--benchmarks={benchmarks}",
         f"--num_workers={num_workers}"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    while process.poll() is None:
        peak = max(peak, tree_rss(process.pid))
        time.sleep(0.02)
    wall = time.perf_counter() - start
    if process.returncode:
        raise RuntimeError(f"prepare failed with exit code {process.returncode}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    case = "prepare" if "," not in benchmarks else "prepare_dataset"
    return {"case": case, "files": files, "frames": frames, "workers": num_workers,
            "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "files_per_s": round(files / wall, 1), "files_per_core_s": round(files / cpu, 1),
            "frames_per_core_s": round(frames / cpu), "peak_rss_mib": round(peak / 2**20, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[400, 1600])
    parser.add_argument("--num_workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--work_dir", default=None, help="keep the corpus here (default: temp)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(args.work_dir or tmp)
        corpus = make_corpus(work / "corpus", max(args.sizes))
        two_person = [p for p in corpus if synthetic.parse_name(p)[4] in
                      synthetic.TWO_PERSON_ACTIONS][:100]
        print(json.dumps(measure_parse(two_person, "parse_two_person")), flush=True)
        previous: dict[str, dict] = {}
        for size in sorted(args.sizes):
            case = work / f"raw_{size}"
            case.mkdir(parents=True, exist_ok=True)
            for path in corpus[:size]:
                link = case / path.name
                if not link.exists():
                    link.symlink_to(path)
            paths = sorted(case.glob("*.skeleton"))
            parse = measure_parse(paths)
            print(json.dumps(parse), flush=True)
            for benchmarks in ("synthetic_xsub", "synthetic_xsub,synthetic_xview"):
                data_dir = work / f"tfds_{size}"
                shutil.rmtree(data_dir, ignore_errors=True)
                result = measure_prepare(case, data_dir, args.num_workers, parse["frames"],
                                         benchmarks)
                print(json.dumps(result), flush=True)
                before = previous.get(result["case"])
                if before is not None:
                    cpu = result["cpu_s"] - before["cpu_s"]
                    files = result["files"] - before["files"]
                    frames = result["frames"] - before["frames"]
                    print(json.dumps({"case": result["case"] + "_marginal", "files": files,
                                      "frames": frames,
                                      "files_per_core_s": round(files / cpu, 1),
                                      "frames_per_core_s": round(frames / cpu)}), flush=True)
                previous[result["case"]] = result


if __name__ == "__main__":
    main()
