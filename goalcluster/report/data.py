"""Everything a report shows, read from a finished run folder (no model is loaded).

Texts are kept raw here; the HTML and Markdown writers escape them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agent.state import ViewChoice
from agent.workspace import read_run_files
from goalcluster.report.taxonomy import TaxonomyView, load_taxonomy
from goalcluster.results import read_assignments
from tools.corpus import CorpusError, load_corpus
from tools.metrics import agreement, first_labels
from tools.prototypes import centre
from tools.store import EmbeddingStore, text_hash

GOLD_FILE = "gold.jsonl"
MAP_POINTS = 3000


class ReportError(ValueError):
    """The folder cannot be reported on; the message says why and what to do."""


@dataclass
class ClusterView:
    index: int
    id: str
    name: str
    explanation: str
    size: int
    share: float
    precision: float | None
    recall: float | None
    representatives: list[tuple[str, str]]
    members: list[tuple[str, str]]


@dataclass
class Gold:
    """Agreement of the run with gold labels: a count per (cluster or unassigned, label)."""

    labels: list[str]
    rows: list[str]
    counts: list[list[int]]
    scores: dict[str, float]


@dataclass
class ReportData:
    run_dir: Path
    corpus: str
    goal: str
    documents: int
    metrics: dict[str, Any]
    clusters: list[ClusterView]
    unassigned: list[tuple[str, str]]
    shared: list[list[int]] = field(default_factory=list)
    points: list[tuple[float, float, int, str]] = field(default_factory=list)
    map_note: str = ""
    gold: Gold | None = None
    space: str = ""
    """The working space in words, with what chose it ('' for runs from before goal views)."""
    taxonomy: TaxonomyView | None = None
    """The clusters within clusters of a tree run (None for a flat run)."""

    @property
    def history(self) -> list[dict[str, Any]]:
        return list(self.metrics.get("history", []))


def load_report(run_dir: Path, gold_path: Path | None = None, tree_from: Path | None = None) -> ReportData:
    """Read a finished run; ``gold_path`` (or ``gold.jsonl`` in the folder) gives gold labels;
    ``tree_from``: the tree run whose taxonomy to show instead of ``run_dir``'s own (a chat's
    clusters, written out, came from it)."""
    for name in ("run.json", "corpus.jsonl", "metrics.json", "clusters.json", "assignments.jsonl"):
        if not (run_dir / name).exists():
            raise ReportError(
                f"{run_dir} has no {name}: it is not a finished run folder. "
                "Finish it with `goalcluster resume RUN_DIR`, or point at the folder `goalcluster run` wrote."
            )
    config, corpus, ids, texts = read_run_files(run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    raw_clusters = json.loads((run_dir / "clusters.json").read_text())
    assigned = [row["cluster_ids"] for row in read_assignments(run_dir)]
    column = {c["id"]: j for j, c in enumerate(raw_clusters)}
    members = np.zeros((len(ids), len(raw_clusters)), dtype=bool)
    for i, cluster_ids in enumerate(assigned):
        for cid in cluster_ids:
            members[i, column[cid]] = True
    clusters = [
        ClusterView(
            index=j,
            id=c["id"],
            name=c["name"],
            explanation=c["explanation"],
            size=c["size"],
            share=c["share"],
            precision=c["precision"],
            recall=c.get("recall"),  # runs from before recall was estimated have none
            representatives=[(m["id"], m["text"]) for m in c["representatives"]],
            members=[(ids[i], texts[i]) for i in np.flatnonzero(members[:, j])],
        )
        for j, c in enumerate(raw_clusters)
    ]
    data = ReportData(
        run_dir=run_dir,
        corpus=corpus,
        goal=config.goal,
        documents=len(ids),
        metrics=metrics,
        clusters=clusters,
        unassigned=[(ids[i], texts[i]) for i in np.flatnonzero(~members.any(axis=1))],
        shared=(members.T.astype(int) @ members.astype(int)).tolist(),
        taxonomy=load_taxonomy(tree_from or run_dir, len(ids), source=tree_from is not None),
    )
    view = metrics.get("view") or {}
    data.space = ViewChoice.model_validate(view).describe() if view else ""
    space = view.get("identity") if view.get("kind") == "goal" and not view.get("sampled") else None
    _add_map(data, members, config.store_path, space or metrics.get("embedder", config.embedder), ids, texts)
    gold_path = gold_path or (run_dir / GOLD_FILE if (run_dir / GOLD_FILE).exists() else None)
    if gold_path is not None:
        data.gold = _gold(gold_path, ids, members, [c.name for c in clusters])
    return data


def _add_map(
    data: ReportData,
    members: np.ndarray,
    store_path: Path | str,
    embedder: str,
    ids: list[str],
    texts: list[str],
) -> None:
    """Project the run's stored vectors (of its working space where they are stored: the semantic
    view or the full goal view) to 2-D (PCA); say why when they are not there."""
    rows = np.arange(len(ids))
    if len(rows) > MAP_POINTS:  # only the drawn documents' vectors are read
        rows = np.sort(np.random.default_rng(0).choice(len(ids), MAP_POINTS, replace=False))
        data.map_note = f"{MAP_POINTS} of {len(ids)} documents, drawn at random."
    try:
        vectors = centre(EmbeddingStore(store_path, embedder).get([text_hash(texts[i]) for i in rows]))
    except Exception as error:  # noqa: BLE001 - the map is optional; the report says why it is missing
        data.map_note = f"No map: the run's vectors are not in {store_path} ({error})."
        return
    from sklearn.decomposition import PCA

    xy = PCA(n_components=2, random_state=0).fit_transform(vectors) if len(rows) > 2 else vectors[:, :2]
    span = np.ptp(xy, axis=0)
    xy = (xy - xy.min(axis=0)) / np.where(span > 0, span, 1)
    first = first_labels(members[rows])
    data.points = [(float(x), float(y), c, texts[i]) for (x, y), c, i in zip(xy, first, rows, strict=True)]


def _gold(path: Path, ids: list[str], members: np.ndarray, names: list[str]) -> Gold:
    try:
        table = load_corpus(path, text_column="label")
    except CorpusError as error:
        raise ReportError(f"gold labels: {error} (give a file with 'id' and 'label' columns)") from error
    label_of = dict(zip(table.ids, table.texts, strict=True))
    missing = [doc_id for doc_id in ids if doc_id not in label_of]
    if missing:
        raise ReportError(
            f"gold labels: {path} has no label for {len(missing)} document(s), e.g. {missing[:3]}"
        )
    gold = [label_of[doc_id] for doc_id in ids]
    labels = sorted(set(gold))
    first = first_labels(members)
    counts = [[0] * len(labels) for _ in range(len(names) + 1)]
    for label, cluster in zip(gold, first, strict=True):
        counts[cluster if cluster >= 0 else len(names)][labels.index(label)] += 1
    return Gold(labels=labels, rows=[*names, "(unassigned)"], counts=counts, scores=agreement(gold, first))
