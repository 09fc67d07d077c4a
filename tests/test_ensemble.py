"""The ensemble tool aligns streams by sample name and refuses mismatched sets."""

import json

import numpy as np
import pytest

from stgat_jax import ensemble


def _write(workdir, names, logits, labels):
    workdir.mkdir(parents=True, exist_ok=True)
    np.savez(workdir / "scores_test.npz", sample_names=np.asarray(names), logits=np.asarray(logits, np.float32),
             labels=np.asarray(labels, np.int32))
    return str(workdir)


def test_fuses_by_name_not_by_position(tmp_path):
    names = ["S001C001P003R001A001", "S001C001P003R001A002", "S001C001P003R001A003"]
    labels = [0, 1, 2]
    # Stream a is right on samples 0 and 1, stream b on samples 1 and 2; b is stored shuffled.
    a = [[2, 0, 0], [0, 2, 0], [0, 0.5, 0]]
    b = [[0, 0, 1.0], [0, 1.0, 0], [0, 0, 2.0]]
    perm = [2, 0, 1]
    wa = _write(tmp_path / "a", names, a, labels)
    wb = _write(tmp_path / "b", [names[i] for i in perm], [b[i] for i in perm], [labels[i] for i in perm])
    result = ensemble.ensemble([wa, wb])
    assert result["streams"][wa]["top1"] == pytest.approx(2 / 3)
    assert result["streams"][wb]["top1"] == pytest.approx(2 / 3)
    assert result["fused"]["top1"] == 1.0  # only true when aligned by name
    np.testing.assert_allclose(result["fused_logits"], np.asarray(a) + np.asarray(b))
    weighted = ensemble.ensemble([wa, wb], weights=[1.0, 0.0])
    assert weighted["fused"]["top1"] == pytest.approx(2 / 3)


def test_refuses_missing_extra_and_relabelled_samples(tmp_path):
    names = ["s1", "s2", "s3"]
    wa = _write(tmp_path / "a", names, np.eye(3), [0, 1, 2])
    wb = _write(tmp_path / "b", names[:2], np.eye(3)[:2], [0, 1])
    with pytest.raises(ValueError, match=r"missing \['s3'\]"):
        ensemble.ensemble([wa, wb])
    wc = _write(tmp_path / "c", names + ["s4"], np.eye(4, 3), [0, 1, 2, 0])
    with pytest.raises(ValueError, match=r"extra \['s4'\]"):
        ensemble.ensemble([wa, wc])
    wd = _write(tmp_path / "d", names, np.eye(3), [0, 2, 2])
    with pytest.raises(ValueError, match=r"labels differ .*\['s2'\]"):
        ensemble.ensemble([wa, wd])
    with pytest.raises(FileNotFoundError, match="evaluate the run first"):
        ensemble.ensemble([wa, str(tmp_path / "nothing")])
    with pytest.raises(ValueError, match="2 weights for 1 runs"):
        ensemble.ensemble([wa], weights=[1, 2])


def test_cli_prints_streams_and_fused_and_writes_what_it_printed(tmp_path, capsys):
    names = ["s1", "s2", "s3", "s4"]
    labels = [0, 1, 2, 2]
    # a alone: right on s1, s2 (top-1 1/2); b alone: right on s3, s4 (1/2).
    a = [[3, 0, 0], [0, 3, 0], [2, 0, 1], [1.5, 0, 0]]
    b = [[0, 1, 0], [1, 0, 0], [0, 0, 2], [0, 0, 1]]
    wa = _write(tmp_path / "a", names, a, labels)
    wb = _write(tmp_path / "b", names, b, labels)
    ensemble.main([wa, wb, "--weights=1,2", "--json", str(tmp_path / "m.json"), "--out", str(tmp_path / "f.npz")])
    out = capsys.readouterr().out
    # Fused by hand, a + 2 b: [3,2,0] -> 0 ok; [2,3,0] -> 1 ok; [2,0,5] -> 2 ok; [1.5,0,2] -> 2 ok.
    fused = np.asarray(a) + 2 * np.asarray(b)
    assert "fused [1.0, 2.0]" in out and "1.0000" in out
    written = json.loads((tmp_path / "m.json").read_text())
    assert written["weights"] == [1.0, 2.0] and written["num_examples"] == 4
    assert written["fused"]["top1"] == 1.0 and written["fused"]["mean_class_accuracy"] == 1.0
    for workdir in (wa, wb):
        assert written["streams"][workdir]["top1"] == 0.5, workdir
    # Class 2 has two samples: per-class recall (1, 1, 0) for a, (0, 0, 1) for b, unlike top-1.
    assert written["streams"][wa]["mean_class_accuracy"] == pytest.approx(2 / 3)
    assert written["streams"][wb]["mean_class_accuracy"] == pytest.approx(1 / 3)
    with np.load(tmp_path / "f.npz") as f:
        np.testing.assert_allclose(f["logits"], fused)
        assert list(f["sample_names"]) == names and list(f["labels"]) == labels
    for key in ("top1", "top5", "mean_class_accuracy"):
        assert f"{written['fused'][key]:.4f}" in out
