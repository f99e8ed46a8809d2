"""A finished run as typed objects, and the files they are written to.

Run folder: ``clusters.json``, ``assignments.jsonl``, ``assignments.csv``, ``metrics.json``,
``trace.jsonl`` (every LLM call), ``checkpoint.sqlite`` (LangGraph), ``run.json`` and
``corpus.jsonl`` (what a resume needs).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from agent.state import RunState, ViewChoice
from agent.workspace import Workspace
from tools.files import DamagedFileError, replacing, write_atomic
from tools.text import read_jsonl, spreadsheet_safe

REPRESENTATIVES = 3


class Member(BaseModel):
    id: str
    text: str


class Cluster(BaseModel):
    """One final cluster."""

    id: str
    name: str
    explanation: str = Field(description="What every member has in common.")
    size: int
    share: float = Field(description="Size over the number of documents.")
    precision: float | None = Field(description="Share of spot-checked members the LLM judged to fit.")
    recall: float | None = Field(
        None,
        description="Of all documents the explanation fits, the share in the cluster (estimated from "
        "spot-checks inside and outside it when the run stopped).",
    )
    representatives: list[Member]


class DocumentAssignment(BaseModel):
    """Where one document went."""

    id: str
    cluster_ids: list[str] = Field(description="Empty when the document is unassigned.")
    confidence: float = Field(
        description="Embedding top-1 minus top-2 score (1.0 for pairwise LLM decisions)."
    )
    decided_by: str = Field(description="'embeddings' or 'llm'.")


class ClusteringResult(BaseModel):
    """Everything a run produced."""

    run_dir: str
    clusters: list[Cluster]
    assignments: list[DocumentAssignment]
    metrics: dict[str, Any]

    def members(self) -> np.ndarray:
        """(documents, clusters) bool: document i is in cluster j (the order of ``clusters``)."""
        column = {c.id: j for j, c in enumerate(self.clusters)}
        members = np.zeros((len(self.assignments), len(self.clusters)), dtype=bool)
        for i, assignment in enumerate(self.assignments):
            for cid in assignment.cluster_ids:
                members[i, column[cid]] = True
        return members

    def labels(self) -> list[int]:
        """One label per document, by position of its first cluster; -1 when unassigned."""
        position = {c.id: i for i, c in enumerate(self.clusters)}
        return [position[a.cluster_ids[0]] if a.cluster_ids else -1 for a in self.assignments]


def collect(state: RunState, ws: Workspace) -> ClusteringResult:
    """Turn the final state into a :class:`ClusteringResult` (a run that ended before any cluster,
    its budget spent, has every document unassigned)."""
    n = len(ws.ids)
    if state.memberships:
        members = ws.array(state.memberships).astype(bool)
        confidence, by_llm = ws.array(state.confidence), ws.array(state.decided_by).astype(bool)
    else:
        members = np.zeros((n, len(state.selected)), dtype=bool)
        confidence, by_llm = np.zeros(n, dtype=np.float32), np.zeros(n, dtype=bool)
    assignments = [
        DocumentAssignment(
            id=doc_id,
            cluster_ids=[state.selected[j] for j in np.flatnonzero(row)],
            confidence=round(float(conf), 4),
            decided_by="llm" if llm else "embeddings",
        )
        for doc_id, row, conf, llm in zip(ws.ids, members, confidence, by_llm, strict=True)
    ]
    by_id = {c.id: c for c in state.candidates}
    clusters = []
    for j, cid in enumerate(state.selected):
        rows = np.flatnonzero(members[:, j]).tolist()
        best = sorted(rows, key=lambda i: -float(confidence[i]))[:REPRESENTATIVES]
        clusters.append(
            Cluster(
                id=cid,
                name=by_id[cid].name,
                explanation=by_id[cid].explanation,
                size=len(rows),
                share=round(len(rows) / max(1, state.n_docs), 4),
                precision=state.precision.get(cid),
                recall=state.recall.get(cid),
                representatives=[Member(id=ws.ids[i], text=ws.texts[i]) for i in best],
            )
        )
    clusters.sort(key=lambda c: -c.size)
    return ClusteringResult(
        run_dir=str(ws.run_dir),
        clusters=clusters,
        assignments=assignments,
        metrics=run_metrics(state, ws, assignments),
    )


def run_metrics(state: RunState, ws: Workspace, assignments: list[DocumentAssignment]) -> dict[str, Any]:
    usage = ws.llm.budget.snapshot()
    return {
        "goal": state.config.goal,
        "llm": ws.llm.backend.model_id,
        "embedder": ws.embedder.name,
        "documents": state.n_docs,
        "clusters": len(state.selected),
        "coverage": round(state.coverage, 4),
        "overlap": round(state.overlap, 4),
        "unassigned": sum(1 for a in assignments if not a.cluster_ids),
        "coverage_target": state.config.coverage,
        "max_overlap": state.config.max_overlap,
        "iterations": state.iteration,
        "stop_reason": state.stop_reason,
        **usage,
        "llm_decided_documents": sum(1 for a in assignments if a.decided_by == "llm"),
        "llm_assign_probe": state.llm_assign,
        "assign_mode": state.config.assign_mode,
        "assign_by": state.config.assign_by,
        "view": state.view.model_dump() if state.view else None,
        "seconds": round(sum(state.stage_seconds.values()), 2),
        "stage_seconds": {k: round(v, 2) for k, v in sorted(state.stage_seconds.items())},
        "truncated_for_embedding": state.truncated_for_embedding,
        "history": [record.model_dump() for record in state.history],
        "explanations": explanation_checks(state),
        "sharpened": state.sharpened,
    }


def explanation_checks(state: RunState) -> dict[str, Any]:
    """Each selected explanation as a classifier of its cluster, as the spot-checks estimate it: the
    share of members it fits (precision) and of the documents it fits that the cluster holds (recall),
    with their means over the clusters that have them."""
    per_cluster = {
        cid: {"precision": state.precision.get(cid), "recall": state.recall.get(cid)}
        for cid in state.selected
    }

    def mean(key: str) -> float | None:
        values = [x for v in per_cluster.values() if (x := v[key]) is not None]
        return round(float(np.mean(values)), 3) if values else None

    return {"precision": mean("precision"), "recall": mean("recall"), "clusters": per_cluster}


def write_result(result: ClusteringResult, run_dir: Path) -> None:
    """Write the result files into ``run_dir``, each whole or not at all; metrics.json last, so a
    folder with a current metrics.json has current files beside it."""
    write_atomic(
        run_dir / "clusters.json",
        json.dumps([c.model_dump() for c in result.clusters], indent=2, ensure_ascii=False),
    )
    with replacing(run_dir / "assignments.jsonl") as out:
        for row in result.assignments:
            out.write(json.dumps(row.model_dump(), ensure_ascii=False) + "\n")
    with replacing(run_dir / "assignments.csv", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "cluster_ids", "confidence", "decided_by"])
        for row in result.assignments:
            cells = [row.id, ";".join(row.cluster_ids), row.confidence, row.decided_by]
            writer.writerow([spreadsheet_safe(cell) for cell in cells])
    write_atomic(run_dir / "metrics.json", json.dumps(result.metrics, indent=2, ensure_ascii=False))


def read_result(run_dir: Path) -> ClusteringResult:
    """The result a finished run (one with ``metrics.json``) wrote into ``run_dir``."""
    clusters = json.loads((run_dir / "clusters.json").read_text())
    return ClusteringResult(
        run_dir=str(run_dir),
        clusters=[Cluster.model_validate(c) for c in clusters],
        assignments=[DocumentAssignment.model_validate(row) for row in read_assignments(run_dir)],
        metrics=json.loads((run_dir / "metrics.json").read_text()),
    )


def read_assignments(run_dir: Path) -> list[dict[str, Any]]:
    """A run folder's ``assignments.jsonl`` rows; a damaged file is named with its fix."""
    return read_jsonl(run_dir / "assignments.jsonl", fix=f"goalcluster resume {run_dir} writes it again")


def read_metrics(run_dir: Path) -> dict[str, Any]:
    """A finished run folder's ``metrics.json``; a damaged file is named with its fix."""
    path = run_dir / "metrics.json"
    fix = f"Fix: goalcluster resume {run_dir} writes it again."
    try:
        metrics = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except json.JSONDecodeError as error:
        raise DamagedFileError(f"{path} is damaged: it is not valid JSON ({error.msg}). {fix}") from error
    if not isinstance(metrics, dict):
        raise DamagedFileError(f"{path} is damaged: it holds no JSON object. {fix}")
    return metrics


def precision_recall(precision: float | None, recall: float | None) -> str:
    """ "0.67 / 0.80" ("-" for a figure not checked)."""
    return " / ".join("-" if x is None else f"{x:.2f}" for x in (precision, recall))


def summary_table(result: ClusteringResult) -> str:
    """A readable table of the clusters and the run's figures."""
    m = result.metrics
    lines = [f"{'id':>4}  {'size':>5}  {'share':>6}  {'P / R':>11}  name — explanation"]
    for c in result.clusters:
        checks = precision_recall(c.precision, c.recall)
        lines.append(f"{c.id:>4}  {c.size:>5}  {c.share:>6.1%}  {checks:>11}  {c.name} — {c.explanation}")
    lines.append(
        f"\ncoverage {m['coverage']:.1%} (target {m['coverage_target']:.0%}), overlap {m['overlap']:.1%} "
        f"(max {m['max_overlap']:.0%}), {m['unassigned']} unassigned of {m['documents']}"
    )
    lines.append(
        f"{m['iterations']} round(s), stopped: {m['stop_reason']}; {m['llm_calls']} LLM calls "
        f"({m['cached_calls']} from cache), {m['prompt_tokens'] + m['completion_tokens']} tokens, "
        f"{m['seconds']:.0f} s"
    )
    if view := m.get("view"):
        lines.append(f"working space: {ViewChoice.model_validate(view).describe()}")
    lines.append(f"results in {result.run_dir}")
    return "\n".join(lines)
