"""Metrics against values worked out by hand on small logits, ties included.

Tie rule (what ``evaluate.compute_metrics`` does, and what this file holds it to): among equal
logits the lower class index ranks first. Top-1 is ``argmax`` (first maximal index); top-k takes
the first k of a stable sort by descending logit, so a label tied with the k-th score but with a
higher index than the tied classes inside the top k does not count.
"""

import numpy as np
import pytest

from stgat_jax import evaluate

# Six classes, so that top-5 leaves one class out. Comments: ranking (first = top-1).
LOGITS = np.array([
    [5, 1, 0, 0, 0, 0],   # label 0: ranking 0 1 2 3 4 | 5          top-1 yes
    [1, 5, 2, 3, 4, 0],   # label 5: ranking 1 4 3 2 0 | 5          top-1 no, top-5 no (last)
    [0, 1, 2, 3, 4, 5],   # label 1: ranking 5 4 3 2 1 | 0          top-1 no, top-5 yes
    [3, 3, 0, 0, 0, 0],   # label 1: tie 0/1 -> 0 first             top-1 no (tie goes to 0), top-5 yes
    [3, 3, 0, 0, 0, 0],   # label 0: same tie                       top-1 yes
    [0, 0, 0, 0, 0, 0],   # label 5: all tied -> 0 1 2 3 4 | 5      top-1 no, top-5 no
    [0, 0, 0, 0, 0, 0],   # label 4: all tied                       top-1 no, top-5 yes
    [1, 2, 9, 2, 2, 2],   # label 2                                 top-1 yes
], np.float32)
LABELS = np.array([0, 5, 1, 1, 0, 5, 4, 2])
# Predictions (argmax, first index on ties): 0 1 5 0 0 0 0 2.
PREDICTIONS = np.array([0, 1, 5, 0, 0, 0, 0, 2])


def test_top1_top5_and_mean_class_accuracy_by_hand():
    m = evaluate.compute_metrics(LOGITS, LABELS)
    assert m['top1'] == pytest.approx(3 / 8), 'top-1: samples 0, 4, 7 are right (argmax, first index on ties)'
    # Top-5 right: 0, 2, 3, 4, 6, 7; wrong: 1 and 5 (label ranks 6th; in 5 it ties but has the highest index).
    assert m['top5'] == pytest.approx(6 / 8), 'top-5 is not "label among the 5 best, lower index first on ties"'
    # Per class present: 0 -> 2/2, 1 -> 0/2, 2 -> 1/1, 4 -> 0/1, 5 -> 0/2 (class 3 absent: not counted).
    assert m['mean_class_accuracy'] == pytest.approx((1 + 0 + 1 + 0 + 0) / 5), \
        'mean-class accuracy is not the mean over the classes present of per-class recall'
    assert m['num_examples'] == 8
    want = np.zeros((6, 6), np.int64)
    for true, pred in zip(LABELS, PREDICTIONS):
        want[true, pred] += 1
    np.testing.assert_array_equal(m['confusion'], want, err_msg='confusion is not (true, predicted) counts')
    assert m['confusion'][1, 5] == 1 and m['confusion'][5, 1] == 1  # rows true, columns predicted


def test_top5_with_fewer_than_five_classes_is_one_and_unequal_classes_weigh_equally():
    logits = np.array([[0, 1, 2], [2, 1, 0], [2, 1, 0], [2, 1, 0]], np.float32)
    labels = np.array([0, 0, 0, 1])
    m = evaluate.compute_metrics(logits, labels)
    assert m['top5'] == 1.0
    assert m['top1'] == pytest.approx(2 / 4)
    # Class 0: 2/3 right, class 1: 0/1 -> mean 1/3, not the top-1 of 1/2.
    assert m['mean_class_accuracy'] == pytest.approx((2 / 3 + 0) / 2)


def test_k_in_top_k_is_five():
    # The label is 5th in every row: top-5 counts it, a top-4 (or top-2) would not.
    logits = np.tile(np.arange(10, 0, -1, dtype=np.float32), (3, 1))
    m = evaluate.compute_metrics(logits, np.array([4, 4, 5]))
    assert m['top5'] == pytest.approx(2 / 3), 'top-5 must count a label ranked 5th and not one ranked 6th'
