"""Skeleton graphs and the bone stream, as numpy constants.

Three skeletons are supported:

* ``'ntu'``: the 25 Kinect v2 joints of NTU RGB+D 60/120 (0 spine base, 1 spine mid, 2 neck,
  3 head, 4-7 left shoulder/elbow/wrist/hand, 8-11 right arm, 12-15 left leg, 16-19 right leg,
  20 spine shoulder, 21 left hand tip, 22 left thumb, 23 right hand tip, 24 right thumb).
* ``'openpose'``: the 18 OpenPose joints of Kinetics-Skeleton (0 nose, 1 neck, 2-4 right arm,
  5-7 left arm, 8-10 right leg, 11-13 left leg, 14/15 eyes, 16/17 ears).
* ``'kinect_v1'``: the 20 Kinect v1 joints of NW-UCLA (0 hip centre, 1 spine, 2 shoulder centre,
  3 head, 4-7 left shoulder/elbow/wrist/hand, 8-11 right arm, 12-15 left hip/knee/ankle/foot,
  16-19 right leg); CTR-GCN's ``graph/ucla.py`` edges. Its bones follow CTR-GCN's UCLA feeder:
  ``bone[child] = x[child] - x[parent]`` towards the shoulder centre, which gets 0.
* ``'coco'``: the 17 COCO keypoints of 2D pose estimators (HRNet in PYSKL's and MMAction2's 2D
  annotation files): 0 nose, 1/2 left/right eye, 3/4 ears, 5/6 shoulders, 7/8 elbows, 9/10 wrists,
  11/12 hips, 13/14 knees, 15/16 ankles (left before right). Bones run from the nose outwards:
  ``bone[child] = x[child] - x[parent]``, the nose's bone is 0.

For each skeleton :func:`get_graph` gives the edge list, the binary adjacency with self loops
``A_binary``, its symmetric normalisation ``A_norm = D^-1/2 A D^-1/2`` and the hop-ring masks
``A_sep`` that STGAT's attention heads use (head ``s`` sees the joints exactly ``s + 1`` hops away,
plus itself; head 0 sees the 1-hop neighbourhood).

The official STGAT Kinetics graph subtracts 1 from an edge list that is already 0-based, so its
node ``k`` is the true joint ``(k + 1) mod 18`` (quirk O7). ``get_graph('openpose')`` reproduces
that graph so that official weights and numbers carry over; ``get_graph('openpose',
openpose_fixed=True)`` gives the true OpenPose skeleton.

:func:`bone_stream` turns joint coordinates into the official bone modality (quirk O11): for each
``(v1, v2)`` pair in order, ``bone[v2] = x[v2] - x[v1]``, so the bone is stored at the parent and a
later pair overwrites an earlier one with the same parent; joints that are nobody's parent are 0.
"""

from __future__ import annotations

import dataclasses

import numpy as np

GRAPH_NAMES = ('ntu', 'openpose', 'kinect_v1', 'coco')

# Number of hop-ring masks the official graph builds; the model uses the first `num_heads`.
NUM_OFFICIAL_RINGS = 12

# NTU RGB+D (Kinect v2) skeleton, 0-based (child, parent) pairs.
NTU_EDGES: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 20), (2, 20), (3, 2), (4, 20), (5, 4), (6, 5), (7, 6), (8, 20), (9, 8),
    (10, 9), (11, 10), (12, 0), (13, 12), (14, 13), (15, 14), (16, 0), (17, 16), (18, 17),
    (19, 18), (21, 22), (22, 7), (23, 24), (24, 11),
)

# True OpenPose-18 skeleton, 0-based pairs in the order the official bone stream uses them.
OPENPOSE_EDGES: tuple[tuple[int, int], ...] = (
    (4, 3), (3, 2), (7, 6), (6, 5), (13, 12), (12, 11), (10, 9), (9, 8), (11, 5), (8, 2),
    (5, 1), (2, 1), (0, 1), (15, 0), (14, 0), (17, 15), (16, 14),
)

# The official Kinetics graph: every index of OPENPOSE_EDGES minus 1, with -1 wrapping to 17.
OPENPOSE_SHIFTED_EDGES: tuple[tuple[int, int], ...] = tuple(
    ((i - 1) % 18, (j - 1) % 18) for i, j in OPENPOSE_EDGES
)

# Kinect v1 (NW-UCLA) skeleton, 0-based (child, parent) pairs; the root is joint 2 (shoulder centre).
KINECT_V1_EDGES: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (3, 2), (4, 2), (5, 4), (6, 5), (7, 6), (8, 2), (9, 8), (10, 9), (11, 10),
    (12, 0), (13, 12), (14, 13), (15, 14), (16, 0), (17, 16), (18, 17), (19, 18),
)

# COCO-17 keypoints, 0-based (parent, child) pairs from the nose outwards (a tree rooted at 0).
COCO_EDGES: tuple[tuple[int, int], ...] = (
    (0, 1), (0, 2), (1, 3), (2, 4), (0, 5), (0, 6), (5, 7), (7, 9), (6, 8), (8, 10),
    (5, 11), (6, 12), (11, 13), (13, 15), (12, 14), (14, 16),
)

# Bone pairs (v1, v2) of the official bone stream: bone[v2] = x[v2] - x[v1], in this order.
BONE_PAIRS: dict[str, tuple[tuple[int, int], ...]] = {
    'ntu': NTU_EDGES,
    'openpose': OPENPOSE_EDGES,
    'kinect_v1': tuple((parent, child) for child, parent in KINECT_V1_EDGES),
    'coco': COCO_EDGES,
}

NUM_NODES: dict[str, int] = {'ntu': 25, 'openpose': 18, 'kinect_v1': 20, 'coco': 17}


@dataclasses.dataclass(frozen=True, eq=False)
class Graph:
    """One skeleton graph.

    Attributes:
      name: one of :data:`GRAPH_NAMES`.
      num_nodes: number of joints V.
      edges: undirected edges as 0-based (i, j) pairs, without self loops.
      A_binary: (V, V) float32 0/1 adjacency, symmetric, with self loops.
      A_norm: (V, V) float32 ``D^-1/2 A_binary D^-1/2`` (D = row sums of A_binary).
      A_sep: (12, V, V) float32 0/1 hop-ring masks; ``A_sep[s]`` is the exact (s+1)-hop ring plus
        the diagonal (``A_sep[0] == A_binary``).
    """

    name: str
    num_nodes: int
    edges: tuple[tuple[int, int], ...]
    A_binary: np.ndarray
    A_norm: np.ndarray
    A_sep: np.ndarray

    @property
    def bone_pairs(self) -> tuple[tuple[int, int], ...]:
        """(v1, v2) pairs of the official bone stream, ``bone[v2] = x[v2] - x[v1]`` in order."""
        return BONE_PAIRS[self.name]

    def hop_masks(self, num_heads: int) -> np.ndarray:
        """The (num_heads, V, V) masks of the first `num_heads` hop rings."""
        return hop_ring_masks(self.A_binary, num_heads)


def adjacency_with_self_loops(edges: tuple[tuple[int, int], ...], num_nodes: int) -> np.ndarray:
    """Symmetric 0/1 float32 adjacency of `edges` plus the identity."""
    a = np.eye(num_nodes, dtype=np.float32)
    for i, j in edges:
        a[i, j] = 1.0
        a[j, i] = 1.0
    return a


def normalize_adjacency(a: np.ndarray) -> np.ndarray:
    """``D^-1/2 A D^-1/2`` with D the row sums of `a`, as float32.

    The degree powers are taken in float32 and the products in float64, which gives the same
    float32 values as the official ``normalize_adjacency_matrix``.
    """
    a = np.asarray(a, dtype=np.float32)
    d = (a.sum(axis=-1) ** np.float32(-0.5)).astype(np.float64)
    return (d[:, None] * a * d[None, :]).astype(np.float32)


def hop_ring_masks(a_binary: np.ndarray, num_rings: int) -> np.ndarray:
    """Exact-hop ring masks of a graph with self loops.

    Ring ``s`` is ``min(A^(s+1), 1) - min(A^s, 1) + I``: the joints at graph distance exactly
    ``s + 1`` plus the joint itself (ring 0 is the 1-hop neighbourhood with self loops).

    Args:
      a_binary: (V, V) 0/1 adjacency including self loops.
      num_rings: how many rings to return.

    Returns:
      (num_rings, V, V) float32 0/1 array.
    """
    v = a_binary.shape[0]
    step = (a_binary > 0).astype(np.int64)
    eye = np.eye(v, dtype=np.int64)
    reach_prev = eye  # min(A^0, 1)
    rings = []
    for _ in range(num_rings):
        reach = np.minimum(reach_prev @ step, 1)
        rings.append(reach - reach_prev + eye)
        reach_prev = reach
    return np.stack(rings).astype(np.float32)


def get_graph(name: str, openpose_fixed: bool = False) -> Graph:
    """Builds the graph `name` (one of :data:`GRAPH_NAMES`).

    Args:
      name: skeleton name.
      openpose_fixed: only for ``'openpose'``: False (default) reproduces the official,
        off-by-one relabelled Kinetics graph (quirk O7); True gives the true OpenPose skeleton.
    """
    if name == 'ntu':
        edges = NTU_EDGES
    elif name == 'openpose':
        edges = OPENPOSE_EDGES if openpose_fixed else OPENPOSE_SHIFTED_EDGES
    elif name == 'kinect_v1':
        edges = KINECT_V1_EDGES
    elif name == 'coco':
        edges = COCO_EDGES
    else:
        raise ValueError(f'graph must be one of {GRAPH_NAMES}, got {name!r}')
    num_nodes = NUM_NODES[name]
    a_binary = adjacency_with_self_loops(edges, num_nodes)
    return Graph(
        name=name,
        num_nodes=num_nodes,
        edges=edges,
        A_binary=a_binary,
        A_norm=normalize_adjacency(a_binary),
        A_sep=hop_ring_masks(a_binary, NUM_OFFICIAL_RINGS),
    )


def bone_source_target(graph_name: str) -> tuple[np.ndarray, np.ndarray]:
    """Effective (source, target) joints of the official bone stream after overwrites.

    ``bone[target[i]] = x[target[i]] - x[source[i]]``; joints not in `target` get 0.
    Targets are sorted ascending.
    """
    if graph_name not in BONE_PAIRS:
        raise ValueError(f'graph must be one of {GRAPH_NAMES}, got {graph_name!r}')
    last_source: dict[int, int] = {}
    for v1, v2 in BONE_PAIRS[graph_name]:
        last_source[v2] = v1  # a later pair with the same parent overwrites
    target = np.array(sorted(last_source), dtype=np.int64)
    source = np.array([last_source[t] for t in target], dtype=np.int64)
    return source, target


def bone_stream(x: np.ndarray, graph_name: str) -> np.ndarray:
    """Official STGAT bone modality of one record.

    Args:
      x: (T, M, V, C) joint coordinates, channels last.
      graph_name: one of :data:`GRAPH_NAMES` (the bone pairs do not depend on quirk O7).

    Returns:
      Array of the same shape and dtype: ``bone[..., v2, :] = x[..., v2, :] - x[..., v1, :]``
      for the last pair (v1, v2) with that v2, zero at joints that are no pair's v2.
    """
    source, target = bone_source_target(graph_name)
    x = np.asarray(x)
    if x.ndim != 4 or x.shape[2] != NUM_NODES[graph_name]:
        raise ValueError(
            f'x must have shape (T, M, V={NUM_NODES[graph_name]}, C) for graph '
            f'{graph_name!r}, got {x.shape}'
        )
    bone = np.zeros_like(x)
    bone[:, :, target] = x[:, :, target] - x[:, :, source]
    return bone
