"""Two-level taxonomies against sets labeled at two levels, beside BERTopic's hierarchy.

    python -m evals tree [--datasets clinc150:domain:intent,massive_en_test:scenario:intent]
                         [--parents 4] [--children 3] [--per-leaf 8] [--llm llamacpp]

Each dataset is named with its parent and child criteria. The sample: ``--parents`` gold parents
(a seeded draw), ``--children`` gold children under each (its largest), ``--per-leaf`` documents of
each child. goalcluster builds a two-level tree (``levels=2``) by the parent criterion's goal, with
the number of gold parents as its ``max_clusters``. BERTopic (its documented set-up, on the same
MiniLM vectors) fits its topics and ``hierarchical_topics``; its dendrogram is cut at the tree's own
sizes: as many groups as the tree has top-level nodes, and as many as it has leaves.

Per method and level: ACC and NMI of each document's node at that level against the gold labels (a
document of a node that was not split keeps that node at level 2); parent consistency, the share
of documents whose leaf sits under the parent that the leaf's gold child belongs to (each node is
read as the gold label most of its documents carry); coverage; LLM calls and seconds. ``tree.json``
also records, per tree, its top level's working space, how many distinct explanations its nodes
carry, and the children its check found to contradict their parent.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import goalcluster
from evals.baselines import bertopic_model, warm_up
from evals.data import LabeledSet, load_set, subset
from evals.output import add_common_args, publish
from goalcluster.tree import read_tree
from tools.embedders import make_embedder
from tools.metrics import agreement

DATASETS = "clinc150:domain:intent,massive_en_test:scenario:intent"
METHODS = ("goalcluster", "bertopic")


def two_level_sample(
    data: LabeledSet, parent: str, child: str, parents: int, children: int, per_leaf: int, seed: int
) -> LabeledSet:
    """``per_leaf`` documents of each of the ``children`` largest children of ``parents`` parents."""
    rng = np.random.default_rng(seed)
    by_child: dict[str, list[int]] = {}
    parent_of: dict[str, str] = {}
    for i, (p, c) in enumerate(zip(data.labels[parent], data.labels[child], strict=True)):
        by_child.setdefault(c, []).append(i)
        parent_of[c] = p
    names = sorted(set(parent_of.values()))
    if len(names) < parents:
        raise SystemExit(f"{data.name} has {len(names)} {parent} labels; --parents asks for {parents}")
    rows: list[int] = []
    for p in sorted(names[i] for i in rng.choice(len(names), size=parents, replace=False)):
        kids = sorted((c for c in by_child if parent_of[c] == p), key=lambda c: (-len(by_child[c]), c))
        for c in kids[:children]:
            rows.extend(int(i) for i in rng.permutation(by_child[c])[:per_leaf])
    return subset(data, sorted(rows))


def majority(labels: Sequence[int], gold: Sequence[str]) -> dict[int, str]:
    """Per predicted group (not -1), the gold label most of its documents carry."""
    votes: dict[int, Counter[str]] = {}
    for label, g in zip(labels, gold, strict=True):
        if label != -1:
            votes.setdefault(label, Counter())[g] += 1
    return {label: count.most_common(1)[0][0] for label, count in votes.items()}


def parent_consistency(
    top: Sequence[int], leaf: Sequence[int], gold_parent: Sequence[str], gold_child: Sequence[str]
) -> float:
    """Share of documents whose leaf's gold child (its majority) belongs to the gold parent that
    their top-level node stands for (its majority); unassigned documents count as inconsistent."""
    parent_of = dict(zip(gold_child, gold_parent, strict=True))
    top_is, leaf_is = majority(top, gold_parent), majority(leaf, gold_child)
    hits = sum(
        1
        for t, f in zip(top, leaf, strict=True)
        if t != -1 and f != -1 and parent_of[leaf_is[f]] == top_is[t]
    )
    return hits / len(top) if len(top) else 0.0


def cut(merges: Sequence[Sequence[int]], topics: Sequence[int], k: int) -> dict[int, int]:
    """Each topic's group when a dendrogram is cut into ``k`` groups: ``merges`` lists, from the
    closest merge up, the topics under each merged node; they are applied until ``k`` remain."""
    group = {t: t for t in topics}
    count = len(set(group.values()))
    for under in merges:
        if count <= k:
            break
        joined = {group[t] for t in under}
        if len(joined) > 1:
            target = min(joined)
            group = {t: target if g in joined else g for t, g in group.items()}
            count -= len(joined) - 1
    return group


def score_levels(
    top: Sequence[int], leaf: Sequence[int], data: LabeledSet, parent: str, child: str
) -> dict[str, Any]:
    gold_parent, gold_child = data.labels[parent], data.labels[child]
    return {
        "level1": agreement(gold_parent, list(top)),
        "level2": agreement(gold_child, list(leaf)),
        "clusters": [len(set(top) - {-1}), len(set(leaf) - {-1})],
        "parent_consistency": parent_consistency(top, leaf, gold_parent, gold_child),
        "coverage": sum(1 for t in leaf if t != -1) / len(leaf),
    }


def run_tree(data: LabeledSet, goal: str, k: int, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """goalcluster's two-level tree of the sample, in a fresh ``out``: each document's node per
    level, and the cost."""
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    result = goalcluster.cluster(
        data.texts,
        ids=data.ids,
        goal=goal,
        llm=args.llm,
        name=f"{data.name}-tree-{len(data.ids)}",
        out=out,
        quiet=not args.verbose,
        seed=args.seed,
        max_clusters=k,
        levels=2,
        min_node_size=args.min_node_size,
        store=out / "store",
        use_cache=False,
    )
    seconds = time.perf_counter() - started
    rows = [json.loads(line) for line in (out / "assignments.jsonl").read_text().splitlines()]
    path = {row["id"]: row["path"] for row in rows}
    nodes: dict[str, int] = {}
    top = [nodes.setdefault(path[i][0], len(nodes)) if path[i] else -1 for i in data.ids]
    leaf = [nodes.setdefault(path[i][-1], len(nodes)) if path[i] else -1 for i in data.ids]
    spent = result.metrics["tree"]
    tree = read_tree(out)
    assert tree is not None
    return {
        "top": top,
        "leaf": leaf,
        "llm_calls": spent["llm_calls"],
        "seconds": seconds,
        "not_split": spent["not_split"],
        "top_view": result.metrics["view"]["kind"],
        "contradict_parent": spent["contradict_parent"],
        "nodes": len(tree.nodes),
        "distinct_explanations": len({node.explanation for node in tree.nodes}),
        "run_dir": str(out),
    }


def run_bertopic(data: LabeledSet, vectors: np.ndarray, sizes: tuple[int, int], seed: int) -> dict[str, Any]:
    """BERTopic with its own number of topics, then its ``hierarchical_topics`` cut at ``sizes``
    (top-level groups, leaves); its outliers (-1) are unassigned."""
    started = time.perf_counter()
    model = bertopic_model(len(data.texts), sizes[1], seed, nr_topics=None)
    topics, _ = model.fit_transform(data.texts, embeddings=vectors)
    found = sorted(set(topics) - {-1})
    merges: list[list[int]] = []
    if len(found) > 1:
        hierarchy = model.hierarchical_topics(data.texts).sort_values("Distance")
        merges = [list(under) for under in hierarchy["Topics"]]
    top_group, leaf_group = cut(merges, found, sizes[0]), cut(merges, found, sizes[1])
    return {
        "top": [top_group.get(t, -1) for t in topics],
        "leaf": [leaf_group.get(t, -1) for t in topics],
        "topics": len(found),
        "llm_calls": 0,
        "seconds": time.perf_counter() - started,
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| dataset | levels | method | n | clusters L1 / L2 (gold) | L1 ACC | L1 NMI | L2 ACC | L2 NMI "
        "| parent consistency | coverage | LLM calls | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        one, two = row["level1"], row["level2"]
        found, gold = row["clusters"], row["gold_clusters"]
        lines.append(
            f"| {row['dataset']} | {row['parent']} → {row['child']} | {row['method']} | {row['n']} "
            f"| {found[0]} / {found[1]} ({gold[0]} / {gold[1]}) | {one['acc']:.3f} | {one['nmi']:.3f} "
            f"| {two['acc']:.3f} | {two['nmi']:.3f} | {row['parent_consistency']:.2f} "
            f"| {row['coverage']:.2f} | {row['llm_calls']} | {row['seconds']:.1f} |"
        )
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    wanted = {m.strip() for m in args.methods.split(",") if m.strip()}
    if unknown := sorted(wanted - set(METHODS)):
        raise SystemExit(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    methods = [m for m in METHODS if m in wanted]  # the tree first: BERTopic is cut at its sizes
    embedder = make_embedder("minilm") if "bertopic" in methods else None
    if embedder is not None:
        warm_up()
    rows: list[dict[str, Any]] = []
    for spec in args.datasets.split(","):
        name, parent, child = [*spec.split(":"), "", ""][:3]
        full = load_set(Path(args.data_dir), name)
        if parent not in full.labels or child not in full.labels or parent not in full.goals:
            raise SystemExit(
                f"{spec!r}: name a dataset with two label levels as NAME:PARENT:CHILD, the parent with a "
                f"goal in goals.json; {name} has labels {', '.join(full.labels)}"
            )
        data = two_level_sample(full, parent, child, args.parents, args.children, args.per_leaf, args.seed)
        base = {
            "dataset": name,
            "parent": parent,
            "child": child,
            "n": len(data.ids),
            "gold_clusters": [len(set(data.labels[parent])), len(set(data.labels[child]))],
        }
        sizes = (args.parents, args.parents * args.children)
        for method in methods:
            print(f"== {name}: {parent} → {child}, {method} on {len(data.ids)} texts", flush=True)
            if method == "goalcluster":
                out = args.out / "runs" / f"tree-{name}-{args.seed}"
                found = run_tree(data, full.goals[parent], args.parents, args, out)
                # BERTopic's hierarchy is cut where the tree stopped, not at the gold sizes.
                sizes = (len(set(found["top"]) - {-1}), len(set(found["leaf"]) - {-1}))
            else:
                assert embedder is not None
                found = run_bertopic(data, embedder.embed(data.texts), sizes, args.seed)
            row = {**base, "method": method, **score_levels(found["top"], found["leaf"], data, parent, child)}
            row.update({k: v for k, v in found.items() if k not in ("top", "leaf")})
            rows.append(row)
            print(table(rows[-1:]), flush=True)
    report = {
        "command": "python -m evals tree",
        "llm": args.llm,
        "date": time.strftime("%Y-%m-%d"),
        "cpus": os.cpu_count(),
        "machine": f"{platform.system()} {platform.machine()}",
        "config": {k: str(v) for k, v in vars(args).items() if k != "handler"},
        "rows": rows,
    }
    publish(args.out, "tree", report, table(rows))
    return 0


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("tree", help="two-level trees against two-level gold labels, beside BERTopic's")
    add_common_args(parser)
    parser.add_argument("--datasets", default=DATASETS, help="comma-separated NAME:PARENT:CHILD")
    parser.add_argument("--methods", default=",".join(METHODS), help="goalcluster, bertopic or both")
    parser.add_argument("--parents", type=int, default=4, help="gold parents drawn (default 4)")
    parser.add_argument("--children", type=int, default=3, help="gold children per parent (default 3)")
    parser.add_argument("--per-leaf", type=int, default=8, help="documents per gold child (default 8)")
    parser.add_argument(
        "--min-node-size", type=int, default=12, help="fewest documents a node needs to split"
    )
    parser.add_argument("--llm", default="llamacpp", help="chat model of the tree (default: the 1.5B)")
    parser.add_argument("--verbose", action="store_true", help="show the agent's progress")
    parser.set_defaults(handler=main)
