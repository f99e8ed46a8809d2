"""Criteria discovery: when no goal is given, find the several ways a corpus can be grouped.

The LLM reads diverse samples and proposes criteria (name + goal); near-duplicates are merged; each
criterion's goal is run through the clustering agent (its own coverage/overlap verification); the
clusterings are ranked by how distinct they are from each other (low mutual NMI) and by coverage,
and weak ones (one giant cluster, too fragmented, too little covered) are dropped with the reason.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field
from sklearn.metrics import normalized_mutual_info_score

from agent.config import Config
from agent.llm.backends import ChatBackend
from agent.llm.hidden import HiddenStates
from agent.schemas import Criteria, Criterion
from agent.workspace import Workspace, build_workspace
from goalcluster.report import write_reports
from goalcluster.report.markdown import md
from goalcluster.results import ClusteringResult
from goalcluster.runner import CHECKPOINT, RunInputError
from goalcluster.tree import resume_tree, start_tree
from tools.corpus import Corpus
from tools.embed import embed_corpus
from tools.embedders import Embedder
from tools.files import claimed, write_atomic
from tools.metrics import first_labels
from tools.sample import diverse
from tools.store import text_hash

SAMPLES = 20
DUPLICATE_SIMILARITY = 0.85
GIANT_SHARE = 0.8
MIN_COVERAGE = 0.5
SMALL_SHARE = 0.03
PROPOSED_FILE = "proposed.json"


class DiscoveredCriterion(BaseModel):
    name: str
    goal: str
    run_dir: str = ""
    clusters: list[str] = Field(default_factory=list, description="Cluster names, largest first.")
    sizes: list[int] = Field(default_factory=list)
    coverage: float = 0.0
    overlap: float = 0.0
    distinctness: float = Field(0.0, description="1 - mean NMI with the other kept criteria.")
    score: float = Field(0.0, description="distinctness x coverage; the ranking key.")
    kept: bool = True
    dropped_because: str = ""
    merged_with: list[str] = Field(default_factory=list, description="Near-duplicate criteria folded in.")
    labels: list[int] = Field(default_factory=list, description="Per document, its first cluster (-1: none).")


class Discovery(BaseModel):
    """What ``goalcluster discover`` found: criteria ranked, kept first; cross-tabulations of kept pairs."""

    folder: str
    criteria: list[DiscoveredCriterion]
    crosstabs: list[dict[str, Any]] = Field(default_factory=list)
    llm_calls: int = 0
    seconds: float = 0.0

    @property
    def kept(self) -> list[DiscoveredCriterion]:
        return [c for c in self.criteria if c.kept]


def propose_criteria(ws: Any, vectors: np.ndarray, n_criteria: int, seed: int) -> list[Criterion]:
    """Two diverse samples, one proposal each."""
    proposed: list[Criterion] = []
    for round_ in range(2):
        rows = diverse(vectors, SAMPLES, random_state=seed + round_)
        variables = {"texts": ws.prompt_texts(rows), "n_criteria": n_criteria}
        found = ws.llm.attempt("propose_criteria", variables, Criteria)
        proposed += [] if found is None else found.criteria  # no valid answer: the other sample's
    return proposed


def _run_criterion(ws: Workspace, corpus: Corpus, config: Config, run_dir: Path) -> ClusteringResult:
    """The agent run for one criterion, within what is left of the discovery's budget; resumed if
    an earlier discovery on this folder got as far as starting it; a tree with ``config.levels``
    above 1. Its report is written."""
    models: dict[str, Any] = {"backend": ws.llm.backend, "embedder": ws.embedder, "quiet": ws.quiet}
    if (run_dir / CHECKPOINT).exists():
        result = resume_tree(run_dir, hidden=ws.hidden_states(), **models)
    else:
        update = config.model_copy(update=ws.llm.budget.left())
        result = start_tree(corpus, update, run_dir, hidden=ws.hidden_states(), **models)
    write_reports(run_dir)
    return result


def _proposals(
    ws: Workspace, corpus: Corpus, folder: Path, vectors: np.ndarray, n_criteria: int, seed: int
) -> list[Criterion]:
    """The criteria proposed for ``corpus``: asked once, kept in ``folder`` for a later run there."""
    path = folder / PROPOSED_FILE
    digest = text_hash("\n".join(corpus.texts))
    if path.exists():
        kept = json.loads(path.read_text())
        if kept["corpus_sha256"] != digest:
            raise RunInputError(f"{folder} holds a discovery on another corpus; pick another --out")
        return [Criterion.model_validate(c) for c in kept["criteria"]]
    proposed = propose_criteria(ws, vectors, n_criteria, seed)
    kept = {"corpus_sha256": digest, "criteria": [c.model_dump() for c in proposed]}
    write_atomic(path, json.dumps(kept, indent=2, ensure_ascii=False))
    return proposed


def deduplicate(criteria: list[Criterion], vectors: np.ndarray) -> list[tuple[Criterion, list[str]]]:
    """Criteria with near-duplicates (same name, or embedding similarity of name+goal above
    DUPLICATE_SIMILARITY; ``vectors`` are their normalised embeddings) folded into the first; the
    names folded in are listed once, exact repeats not at all."""
    kept: list[tuple[int, list[str]]] = []
    seen: set[tuple[str, str]] = set()
    for i, criterion in enumerate(criteria):
        key = (criterion.name.casefold(), criterion.goal.casefold())
        for j, folded in kept:
            if (
                criteria[j].name.casefold() == key[0]
                or float(vectors[i] @ vectors[j]) >= DUPLICATE_SIMILARITY
            ):
                if key not in seen:
                    folded.append(criterion.name)
                break
        else:
            kept.append((i, []))
        seen.add(key)
    return [(criteria[i], folded) for i, folded in kept]


def weakness(result: ClusteringResult, max_clusters: int) -> str:
    """Why a criterion's clustering is too weak to keep ('' if it is not)."""
    n = max(1, len(result.assignments))
    shares = [c.size / n for c in result.clusters]
    if len(shares) < 2:
        return "fewer than two clusters"
    if max(shares) > GIANT_SHARE:
        return f"one giant cluster ({max(shares):.0%} of the documents)"
    if result.metrics["coverage"] < MIN_COVERAGE:
        return f"coverage {result.metrics['coverage']:.0%} is below {MIN_COVERAGE:.0%}"
    small = sum(1 for share in shares if share < SMALL_SHARE)
    if len(shares) >= max_clusters and small >= len(shares) / 2:
        return f"too fragmented ({small} of {len(shares)} clusters hold under {SMALL_SHARE:.0%} each)"
    return ""


def rank(criteria: list[DiscoveredCriterion]) -> list[DiscoveredCriterion]:
    """Distinctness against the other kept criteria, then order: kept by score, then dropped."""
    kept = [c for c in criteria if c.kept]
    for c in kept:
        others = [normalized_mutual_info_score(c.labels, o.labels) for o in kept if o is not c]
        c.distinctness = round(1 - float(np.mean(others)), 4) if others else 1.0
        c.score = round(c.distinctness * c.coverage, 4)
    return sorted(criteria, key=lambda c: (not c.kept, -c.score))


def crosstab(a: DiscoveredCriterion, b: DiscoveredCriterion) -> dict[str, Any]:
    rows, cols = [*a.clusters, "(none)"], [*b.clusters, "(none)"]
    counts = np.zeros((len(rows), len(cols)), dtype=int)
    for x, y in zip(a.labels, b.labels, strict=True):
        counts[x if x >= 0 else -1, y if y >= 0 else -1] += 1
    nmi = float(normalized_mutual_info_score(a.labels, b.labels))
    return {
        "a": a.name,
        "b": b.name,
        "rows": rows,
        "cols": cols,
        "counts": counts.tolist(),
        "nmi": round(nmi, 4),
    }


def discover(
    corpus: Corpus,
    config: Config,
    folder: Path,
    *,
    max_criteria: int = 4,
    backend: ChatBackend | None = None,
    embedder: Embedder | None = None,
    hidden: HiddenStates | None = None,
    quiet: bool = False,
) -> Discovery:
    """Propose criteria for ``corpus``, cluster by each, rank them; files go to ``folder``. Run
    again on the same folder, it goes on where it stopped: the proposals are read back and each
    criterion's run is resumed (a finished one costs nothing)."""
    started = time.perf_counter()
    with claimed(folder):  # one process per discovery folder
        ws = build_workspace(
            config,
            folder,
            corpus.name,
            corpus.ids,
            corpus.texts,
            quiet=quiet,
            backend=backend,
            embedder=embedder,
            hidden=hidden,
        )
        vectors, _ = embed_corpus(corpus.texts, ws.embedder, ws.store)
        ws.set_vectors(vectors)
        proposed = _proposals(ws, corpus, folder, vectors, max_criteria, config.seed)
        unique = deduplicate(proposed, ws.embedder.embed([f"{c.name}: {c.goal}" for c in proposed]))
        ws.say(f"criteria proposed: {', '.join(c.name for c in proposed)}; distinct: {len(unique)}")
        found: list[DiscoveredCriterion] = []
        budget = ws.llm.budget  # one budget for the whole discovery, its runs included
        for number, (criterion, folded) in enumerate(unique[:max_criteria], start=1):
            if budget.exhausted:
                ws.say(f"LLM budget spent: {criterion.name!r} and later criteria are not run")
                break
            run_dir = folder / "criteria" / f"{number}-{_slug(criterion.name)}"
            ws.say(
                f"criterion {number}/{min(len(unique), max_criteria)}: {criterion.name} — {criterion.goal}"
            )
            result = _run_criterion(ws, corpus, config.model_copy(update={"goal": criterion.goal}), run_dir)
            budget.absorb(result.metrics.get("tree", result.metrics))  # a tree's totals span its runs
            reason = weakness(result, config.max_clusters)
            found.append(
                DiscoveredCriterion(
                    name=criterion.name,
                    goal=criterion.goal,
                    run_dir=str(run_dir),
                    clusters=[c.name for c in result.clusters],
                    sizes=[c.size for c in result.clusters],
                    coverage=result.metrics["coverage"],
                    overlap=result.metrics["overlap"],
                    kept=not reason,
                    dropped_because=reason,
                    merged_with=folded,
                    labels=first_labels(result.members()),
                )
            )
        ranked = rank(found)
        kept = [c for c in ranked if c.kept]
        tables = [crosstab(a, b) for i, a in enumerate(kept) for b in kept[i + 1 :]]
        discovery = Discovery(
            folder=str(folder),
            criteria=ranked,
            crosstabs=tables,
            llm_calls=budget.calls,
            seconds=round(time.perf_counter() - started, 1),
        )
        write_atomic(folder / "discover.md", discovery_markdown(discovery))
        write_atomic(
            folder / "criteria.json", json.dumps(discovery.model_dump(), indent=2, ensure_ascii=False)
        )
        return discovery


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-")[:40] or "criterion"


def discovery_markdown(discovery: Discovery) -> str:
    """The combined report section: each criterion with its clusters, then the cross-tabulations."""
    out = ["# Criteria found", ""]
    out += [
        "| rank | criterion | goal | clusters | coverage | overlap | distinctness | kept |",
        "|---" * 8 + "|",
    ]
    for rank_, c in enumerate(discovery.criteria, start=1):
        verdict = "yes" if c.kept else f"no: {md(c.dropped_because)}"
        out.append(
            f"| {rank_} | {md(c.name)} | {md(c.goal)} | {len(c.clusters)} | {c.coverage:.1%} "
            f"| {c.overlap:.1%} | {c.distinctness:.2f} | {verdict} |"
        )
    for c in discovery.criteria:
        out += ["", f"## {md(c.name)}", "", md(c.goal), ""]
        if c.merged_with:
            out += [f"Near-duplicates folded in: {md(', '.join(c.merged_with))}.", ""]
        out += [f"- {md(name)} ({size})" for name, size in zip(c.clusters, c.sizes, strict=True)]
        out += ["", f"Run folder and report: {md(c.run_dir)}"]
    for table in discovery.crosstabs:
        out += ["", f"## {md(table['a'])} × {md(table['b'])} (NMI {table['nmi']:.2f})", ""]
        out.append("| | " + " | ".join(md(col) for col in table["cols"]) + " |")
        out.append("|---" * (len(table["cols"]) + 1) + "|")
        for row, counts in zip(table["rows"], table["counts"], strict=True):
            out.append(f"| {md(row)} | " + " | ".join(str(v) for v in counts) + " |")
    out += ["", f"{discovery.llm_calls} LLM calls, {discovery.seconds:.0f} s.", ""]
    return "\n".join(out)
