"""Labeled datasets in the shared format: a folder with ``data.jsonl`` (``label`` or ``labels``)
and ``goals.json`` (``{"goals": {criterion: goal}}``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tools.corpus import load_corpus

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"


@dataclass(frozen=True)
class LabeledSet:
    """Texts with one gold label per criterion, and a goal per criterion where one is given."""

    name: str
    ids: list[str]
    texts: list[str]
    labels: dict[str, list[str]]
    goals: dict[str, str]


def discover(data_dir: Path) -> list[str]:
    """Names of the dataset folders under ``data_dir``."""
    return sorted(p.parent.name for p in data_dir.glob("*/data.jsonl"))


def load_set(data_dir: Path, name: str) -> LabeledSet:
    folder = data_dir / name
    with (folder / "data.jsonl").open(encoding="utf-8") as handle:
        first = json.loads(handle.readline())
    column = "labels" if "labels" in first else "label"
    corpus = load_corpus(folder / "data.jsonl", keep_columns=(column,))
    raw = corpus.extra[column]
    if column == "labels":
        criteria = sorted({key for row in raw for key in row})  # type: ignore[attr-defined]
        labels = {c: [str(row[c]) for row in raw] for c in criteria}  # type: ignore[index]
    else:
        labels = {"label": [str(v) for v in raw]}
    goals_path = folder / "goals.json"
    goals = json.loads(goals_path.read_text())["goals"] if goals_path.exists() else {}
    return LabeledSet(name=name, ids=corpus.ids, texts=corpus.texts, labels=labels, goals=goals)


def stratified(data: LabeledSet, criterion: str, n: int | None, seed: int) -> LabeledSet:
    """A seeded subset of ``n`` documents with the labels of ``criterion`` as evenly drawn as
    they allow (round-robin over labels, each label's documents in random order)."""
    if n is None or n >= len(data.ids):
        return data
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(data.labels[criterion]):
        by_label.setdefault(label, []).append(i)
    queues = [list(rng.permutation(rows)) for _, rows in sorted(by_label.items())]
    picked: list[int] = []
    while len(picked) < n:
        for queue in queues:
            if queue and len(picked) < n:
                picked.append(int(queue.pop()))
    return subset(data, sorted(picked))


def restrict(data: LabeledSet, criterion: str, max_labels: int | None, seed: int) -> LabeledSet:
    """Only the documents of ``max_labels`` of ``criterion``'s labels (a seeded draw), so that a
    sample of a set with many labels (banking77: 77) still holds several documents per label."""
    names = sorted(set(data.labels[criterion]))
    if max_labels is None or len(names) <= max_labels:
        return data
    rng = np.random.default_rng(seed)
    kept = {names[i] for i in rng.choice(len(names), size=max_labels, replace=False)}
    rows = [i for i, label in enumerate(data.labels[criterion]) if label in kept]
    return subset(data, rows)


def subset(data: LabeledSet, rows: list[int]) -> LabeledSet:
    """The documents at positions ``rows``, in that order."""
    return LabeledSet(
        name=data.name,
        ids=[data.ids[i] for i in rows],
        texts=[data.texts[i] for i in rows],
        labels={c: [values[i] for i in rows] for c, values in data.labels.items()},
        goals=data.goals,
    )
