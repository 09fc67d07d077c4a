"""Tests of the skeleton graphs, hop-ring masks and the bone stream."""

import numpy as np
import pytest

from stgat_jax import graphs

NTU_RING_SIZES = [73, 79, 85, 91, 97, 97, 97, 81]
KINETICS_RING_SIZES = [52, 58, 70, 80, 78, 58, 34, 20]


def ring_sizes(graph: graphs.Graph, num: int = 8) -> list[int]:
    return [int((graph.A_sep[s] > 0).sum()) for s in range(num)]


def self_only_rows(graph: graphs.Graph, num: int = 8) -> list[int]:
    return [int(((graph.A_sep[s] > 0).sum(axis=1) == 1).sum()) for s in range(num)]


def test_ntu_ring_sizes():
    g = graphs.get_graph('ntu')
    assert ring_sizes(g) == NTU_RING_SIZES
    assert self_only_rows(g) == [0, 0, 0, 0, 0, 0, 1, 5]


@pytest.mark.parametrize('fixed', [False, True])
def test_kinetics_ring_sizes(fixed):
    g = graphs.get_graph('openpose', openpose_fixed=fixed)
    assert ring_sizes(g) == KINETICS_RING_SIZES
    assert self_only_rows(g) == [0, 0, 0, 0, 1, 4, 10, 16]


@pytest.mark.parametrize('name,num_nodes,num_edges', [('ntu', 25, 24), ('openpose', 18, 17), ('coco', 17, 16)])
def test_binary_adjacency(name, num_nodes, num_edges):
    g = graphs.get_graph(name)
    a = g.A_binary
    assert a.shape == (num_nodes, num_nodes) and a.dtype == np.float32
    np.testing.assert_array_equal(a, a.T)
    np.testing.assert_array_equal(np.diag(a), np.ones(num_nodes))
    assert set(np.unique(a)) == {0.0, 1.0}
    assert a.sum() == num_nodes + 2 * num_edges
    for i, j in g.edges:
        assert a[i, j] == 1 and a[j, i] == 1


def test_normalized_adjacency_values():
    g = graphs.get_graph('ntu')
    # Joint 0 (spine base) touches 1, 12, 16 -> degree 4 with the self loop; joint 1 touches 0, 20 -> 3.
    assert g.A_norm[0, 1] == pytest.approx(1 / np.sqrt(4 * 3), rel=1e-6)
    assert g.A_norm[0, 0] == pytest.approx(1 / 4, rel=1e-6)
    assert g.A_norm[0, 2] == 0
    np.testing.assert_allclose(g.A_norm, g.A_norm.T)
    assert g.A_norm.dtype == np.float32


@pytest.mark.parametrize('name', ['ntu', 'openpose', 'coco'])
def test_hop_rings_are_exact_distances(name):
    g = graphs.get_graph(name)
    v = g.num_nodes
    # Graph distances by breadth-first search.
    neighbours = {i: set() for i in range(v)}
    for i, j in g.edges:
        neighbours[i].add(j)
        neighbours[j].add(i)
    dist = np.full((v, v), -1)
    for src in range(v):
        dist[src, src] = 0
        frontier = [src]
        while frontier:
            nxt = []
            for node in frontier:
                for nb in neighbours[node]:
                    if dist[src, nb] < 0:
                        dist[src, nb] = dist[src, node] + 1
                        nxt.append(nb)
            frontier = nxt
    assert g.A_sep.shape == (graphs.NUM_OFFICIAL_RINGS, v, v)
    np.testing.assert_array_equal(g.A_sep[0], g.A_binary)
    for s in range(1, graphs.NUM_OFFICIAL_RINGS):
        want = ((dist == s + 1) | (dist == 0)).astype(np.float32)
        np.testing.assert_array_equal(g.A_sep[s], want, err_msg=f'ring {s}')
    np.testing.assert_array_equal(g.hop_masks(3), g.A_sep[:3])
    assert g.hop_masks(14).shape == (14, v, v)


def test_coco_ring_sizes():
    g = graphs.get_graph('coco')
    # 17 joints, 16 edges: ring 0 = 17 + 2 * 16.
    assert ring_sizes(g) == [49, 57, 73, 79, 65, 41, 25, 19]
    assert self_only_rows(g) == [0, 0, 0, 0, 1, 5, 11, 15]
    assert g.A_sep[7, 15, 16] == 1 and g.A_sep[6, 15, 16] == 0  # ankle-hip-shoulder-nose-...: 8 hops


def test_official_kinetics_graph_is_shifted_by_one():
    shifted = graphs.get_graph('openpose')
    fixed = graphs.get_graph('openpose', openpose_fixed=True)
    assert not np.array_equal(shifted.A_binary, fixed.A_binary)
    # Code node k of the official graph is the true joint (k + 1) mod 18.
    perm = (np.arange(18) + 1) % 18
    np.testing.assert_array_equal(shifted.A_binary, fixed.A_binary[np.ix_(perm, perm)])
    np.testing.assert_array_equal(shifted.A_sep, fixed.A_sep[:, perm][:, :, perm])
    # In the official graph the true nose-neck edge (0, 1) becomes (17, 0).
    assert shifted.A_binary[17, 0] == 1 and shifted.A_binary[0, 1] == 1
    assert fixed.A_binary[0, 1] == 1 and fixed.A_binary[17, 0] == 0


def test_unknown_graph_name():
    with pytest.raises(ValueError, match='graph must be one of'):
        graphs.get_graph('kinect')
    with pytest.raises(ValueError, match='graph must be one of'):
        graphs.bone_stream(np.zeros((2, 1, 25, 3)), 'mpii')


def sequential_bones(x: np.ndarray, pairs) -> np.ndarray:
    """The bone definition written as the sequential loop: later pairs overwrite earlier ones."""
    out = np.zeros_like(x)
    for v1, v2 in pairs:
        out[:, :, v2] = x[:, :, v2] - x[:, :, v1]
    return out


def test_ntu_bone_stream_values():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 2, 25, 3)).astype(np.float32)
    bone = graphs.bone_stream(x, 'ntu')
    assert bone.shape == x.shape and bone.dtype == x.dtype
    expected = {1: 0, 0: 16, 20: 8, 2: 3, 4: 5, 7: 22, 11: 24, 22: 21, 24: 23}
    for parent, child in expected.items():
        np.testing.assert_array_equal(bone[:, :, parent], x[:, :, parent] - x[:, :, child])
    zero = [3, 15, 19, 21, 23]
    np.testing.assert_array_equal(bone[:, :, zero], 0)
    assert np.all(np.abs(bone[:, :, [j for j in range(25) if j not in zero]]).sum(axis=(0, 1, 3)) > 0)
    np.testing.assert_array_equal(bone, sequential_bones(x, graphs.get_graph('ntu').bone_pairs))


def test_kinetics_bone_stream_values():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 2, 18, 2))
    bone = graphs.bone_stream(x, 'openpose')
    np.testing.assert_array_equal(bone[:, :, [4, 7, 10, 13, 16, 17]], 0)
    # Overwritten parents keep the last pair: 5 <- 11, 2 <- 8, 1 <- 0, 0 <- 14.
    for parent, child in {5: 11, 2: 8, 1: 0, 0: 14, 3: 4, 15: 17}.items():
        np.testing.assert_array_equal(bone[:, :, parent], x[:, :, parent] - x[:, :, child])
    np.testing.assert_array_equal(bone, sequential_bones(x, graphs.BONE_PAIRS['openpose']))


def test_coco_bone_stream_values():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 2, 17, 2))
    bone = graphs.bone_stream(x, 'coco')
    np.testing.assert_array_equal(bone[:, :, 0], 0)  # the nose is the root
    # Every other keypoint's bone points from its parent: wrists from elbows, eyes from the nose.
    for child, parent in {9: 7, 7: 5, 5: 0, 1: 0, 3: 1, 16: 14, 14: 12, 12: 6}.items():
        np.testing.assert_array_equal(bone[:, :, child], x[:, :, child] - x[:, :, parent])
    np.testing.assert_array_equal(bone, sequential_bones(x, graphs.BONE_PAIRS['coco']))


def test_bone_stream_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r'\(T, M, V=25, C\)'):
        graphs.bone_stream(np.zeros((4, 2, 18, 3)), 'ntu')
    with pytest.raises(ValueError, match=r'\(T, M, V=18, C\)'):
        graphs.bone_stream(np.zeros((4, 18, 2)), 'openpose')


# Kinect v1 (NW-UCLA): each joint's parent towards the shoulder centre (joint 2, the root).
KINECT_V1_PARENTS = {0: 1, 1: 2, 3: 2, 4: 2, 5: 4, 6: 5, 7: 6, 8: 2, 9: 8, 10: 9, 11: 10,
                     12: 0, 13: 12, 14: 13, 15: 14, 16: 0, 17: 16, 18: 17, 19: 18}


def test_kinect_v1_graph():
    g = graphs.get_graph('kinect_v1')
    assert g.num_nodes == 20 and 'kinect_v1' in graphs.GRAPH_NAMES
    assert sorted(map(sorted, g.edges)) == sorted(sorted(e) for e in KINECT_V1_PARENTS.items())
    assert g.A_binary.sum() == 20 + 2 * 19
    # Hop rings (exact distances are checked below); a tree of 20 joints: 5 rings reach everyone.
    assert ring_sizes(g, 10) == [58, 64, 66, 72, 76, 68, 64, 48, 36, 28]
    assert self_only_rows(g, 10) == [0, 0, 0, 0, 0, 1, 3, 8, 12, 16]
    test_hop_rings_are_exact_distances('kinect_v1')


def test_kinect_v1_bone_stream_is_child_minus_parent():
    """CTR-GCN's NW-UCLA bones: bone[child] = x[child] - x[parent]; the root gets 0."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(5, 1, 20, 3)).astype(np.float32)
    bone = graphs.bone_stream(x, 'kinect_v1')
    for child, parent in KINECT_V1_PARENTS.items():
        np.testing.assert_array_equal(bone[:, :, child], x[:, :, child] - x[:, :, parent])
    np.testing.assert_array_equal(bone[:, :, 2], 0)
    with pytest.raises(ValueError, match=r'\(T, M, V=20, C\)'):
        graphs.bone_stream(np.zeros((4, 1, 25, 3)), 'kinect_v1')
