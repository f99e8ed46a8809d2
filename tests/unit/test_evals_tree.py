"""The tree eval's sampling and scoring: the two-level sample, the dendrogram cut, parent consistency."""

from __future__ import annotations

import pytest

from evals.data import LabeledSet
from evals.tree import cut, parent_consistency, score_levels, two_level_sample


def nested_set() -> LabeledSet:
    """Three parents; parent p<i> has children p<i>-a (6 documents), -b (4) and -c (2)."""
    parents, children = [], []
    for p in ("p0", "p1", "p2"):
        for c, size in (("a", 6), ("b", 4), ("c", 2)):
            parents += [p] * size
            children += [f"{p}-{c}"] * size
    ids = [f"d{i}" for i in range(len(parents))]
    return LabeledSet(
        name="nested", ids=ids, texts=ids, labels={"parent": parents, "child": children}, goals={}
    )


def test_the_sample_takes_the_largest_children_of_drawn_parents() -> None:
    sample = two_level_sample(nested_set(), "parent", "child", parents=2, children=2, per_leaf=3, seed=0)
    kept = set(sample.labels["parent"])
    assert len(kept) == 2
    assert sorted(set(sample.labels["child"])) == sorted(f"{p}-{c}" for p in kept for c in "ab")
    assert len(sample.ids) == 12 and sample.ids == sorted(sample.ids, key=lambda i: int(i[1:]))
    again = two_level_sample(nested_set(), "parent", "child", parents=2, children=2, per_leaf=3, seed=0)
    assert again.ids == sample.ids


def test_asking_for_more_parents_than_there_are_is_named() -> None:
    with pytest.raises(SystemExit, match="has 3 parent labels; --parents asks for 4"):
        two_level_sample(nested_set(), "parent", "child", parents=4, children=1, per_leaf=1, seed=0)


def test_the_cut_applies_the_closest_merges_until_k_groups_remain() -> None:
    merges = [[1, 2], [0, 3], [0, 1, 2, 3]]  # closest first, as hierarchical_topics sorted by distance
    assert cut(merges, [0, 1, 2, 3], 4) == {0: 0, 1: 1, 2: 2, 3: 3}
    assert cut(merges, [0, 1, 2, 3], 3) == {0: 0, 1: 1, 2: 1, 3: 3}
    two = cut(merges, [0, 1, 2, 3], 2)
    assert two[1] == two[2] and two[0] == two[3] and two[0] != two[1]
    assert len(set(cut(merges, [0, 1, 2, 3], 1).values())) == 1


def test_parent_consistency_reads_each_node_as_its_majority_label() -> None:
    gold_parent = ["A", "A", "A", "B", "B", "B"]
    gold_child = ["A1", "A1", "A2", "B1", "B1", "B1"]
    assert parent_consistency([0, 0, 0, 1, 1, 1], [5, 5, 6, 7, 7, 7], gold_parent, gold_child) == 1.0
    # Node 1 is mostly B; leaf 6 (A2, a child of A) sits under it: its document is inconsistent, and
    # so is the unassigned one.
    top, leaf = [0, 0, 1, 1, 1, -1], [5, 5, 6, 7, 7, -1]
    assert parent_consistency(top, leaf, gold_parent, gold_child) == pytest.approx(4 / 6)


def test_levels_are_scored_against_their_own_labels() -> None:
    data = LabeledSet(
        name="s",
        ids=["a", "b", "c", "d"],
        texts=["a", "b", "c", "d"],
        labels={"parent": ["A", "A", "B", "B"], "child": ["A1", "A2", "B1", "B1"]},
        goals={},
    )
    scores = score_levels([0, 0, 1, -1], [2, 3, 4, -1], data, "parent", "child")
    assert scores["level1"]["acc"] == 0.75 and scores["level2"]["acc"] == 0.75
    assert scores["clusters"] == [2, 3] and scores["coverage"] == 0.75
    assert scores["parent_consistency"] == 0.75
