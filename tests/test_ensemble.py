"""The ensemble tool aligns streams by sample name and refuses mismatched sets."""

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


def test_cli_prints_streams_and_fused(tmp_path, capsys):
    wa = _write(tmp_path / "a", ["s1", "s2"], np.eye(2), [0, 1])
    ensemble.main([wa, wa, "--weights=1,0.5", "--json", str(tmp_path / "m.json")])
    out = capsys.readouterr().out
    assert "fused [1.0, 0.5]" in out and "1.0000" in out
    assert (tmp_path / "m.json").exists()
