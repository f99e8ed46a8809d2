"""The agent's one typed state. It holds ids, positions, texts of explanations, metrics and
history, never vectors or model objects: vectors live in the Chroma store, models in the
workspace, so a checkpoint stays small and a run can resume. What is per document (labels,
memberships, margins) is an array kept in the run folder (``tools/arrays.py``) and referred to here
by its content hash: a checkpoint's size does not grow with the corpus."""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from agent.config import Config

Action = Literal["initial", "uncovered", "sharpen", "split", "done"]


def add_seconds(left: dict[str, float], right: dict[str, float]) -> dict[str, float]:
    """Reducer: wall time per stage accumulates over iterations."""
    return {key: left.get(key, 0.0) + right.get(key, 0.0) for key in {*left, *right}}


class Candidate(BaseModel):
    """A proposed cluster."""

    id: str = Field(description="Stable id, e.g. 'c3'.")
    name: str = Field(description="Short name.")
    explanation: str = Field(description="Falsifiable description of membership.")
    origin: str = Field(description="Which step proposed it, e.g. 'initial@1'.")
    seeds: list[int] = Field(
        default_factory=list,
        description="Positions of the documents it was proposed from (its prototype's seeds).",
    )


class ViewChoice(BaseModel):
    """The space a run works in, and the figures that chose it."""

    kind: Literal["semantic", "goal"] = Field(description="The sentence embedder's space, or the goal view.")
    aspect: str = Field("", description="The property the goal groups by, as the goal view asks about it.")
    identity: str = Field("", description="The goal view's identity: model weights, prompt and aspect.")
    chosen_by: Literal["config", "notes", "budget", "no_notes"] = Field(
        description="'config' (asked for), 'notes' (agreement with the LLM's notes on a probe sample), "
        "'budget' (no LLM budget left to measure), 'no_notes' (too few valid notes to measure)."
    )
    agreement: dict[str, float] = Field(
        default_factory=dict,
        description="Per candidate space: NMI between its clustering of the probe sample and the notes'.",
    )
    notes: int = Field(0, description="Probe documents the LLM wrote a note on.")
    sampled: int | None = Field(
        None, description="Documents the goal view was computed on when it was extended to the rest."
    )

    def describe(self) -> str:
        """The space in words, with what chose it."""
        where = f"the goal view (aspect: {self.aspect})" if self.kind == "goal" else "the semantic view"
        if self.sampled:
            where += f", computed on {self.sampled} documents and extended to the rest"
        if self.chosen_by == "notes":
            shares = ", ".join(f"{name} {nmi:.2f}" for name, nmi in self.agreement.items())
            return f"{where}; agreement (NMI) with the LLM's notes on {self.notes} documents: {shares}"
        why = {
            "config": "as configured",
            "budget": "no LLM budget left to choose",
            "no_notes": f"too few valid notes ({self.notes}) to choose",
        }
        return f"{where} ({why.get(self.chosen_by, self.chosen_by)})"


class IterationRecord(BaseModel):
    """What one round did and where it left the metrics."""

    iteration: int
    action: str = Field(description="What the round set out to do: initial, uncovered, sharpen, split.")
    proposed: list[str] = Field(description="Names of the candidates this round added.")
    selected: list[str] = Field(description="Names of the clusters chosen after the round.")
    coverage: float
    overlap: float
    llm_decided: int = Field(description="Documents whose membership the LLM decided this round.")


class RunState(BaseModel):
    """Everything the graph knows about a run."""

    config: Config = Field(description="The run's configuration (goal, targets, models).")
    n_docs: int = Field(0, description="Documents in the corpus.")
    truncated_for_embedding: int = Field(0, description="Texts longer than the embedder reads.")
    view: ViewChoice | None = Field(None, description="The working space (None: semantic, before choosing).")
    micro_labels: str = Field("", description="Initial partition, per document (int array reference).")
    action: Action = Field("initial", description="What the next round should do.")
    focus: str = Field(
        "", description="Positions the next proposal looks at (int array reference; '': none)."
    )
    focus_clusters: list[str] = Field(default_factory=list, description="Cluster ids to sharpen or split.")
    samples: list[int] = Field(default_factory=list, description="Positions shown to the proposer.")
    sample_groups: list[int] = Field(
        default_factory=list,
        description="Per sample, the group of the working space it stands for (prototypes).",
    )
    candidates: list[Candidate] = Field(default_factory=list, description="Every candidate proposed so far.")
    pair_members: str = Field(
        "",
        description="(documents, candidates) bool: where each document plausibly belongs (array reference).",
    )
    pair_decided_by: str = Field("embeddings", description="Who decided `pair_members`.")
    selected: list[str] = Field(default_factory=list, description="Ids of the chosen candidates.")
    memberships: str = Field(
        "",
        description="(documents, selected) bool: each document's clusters, by `selected` (array reference).",
    )
    confidence: str = Field("", description="Per document, the top-1/top-2 margin (float array reference).")
    decided_by: str = Field(
        "", description="Per document, whether the LLM decided it (bool array reference)."
    )
    llm_choices: dict[str, str] = Field(
        default_factory=dict,
        description="Per document position (as a string), the candidate id the LLM chose ('' for none).",
    )
    llm_assign: dict[str, float | int | bool] = Field(
        default_factory=dict, description="The auto-mode probe: agreement, documents checked, used."
    )
    precision: dict[str, float] = Field(
        default_factory=dict,
        description="Estimated precision per cluster: the share of its sampled members its explanation fits.",
    )
    recall: dict[str, float] = Field(
        default_factory=dict,
        description="Estimated recall per cluster, when the run stops: of all documents its explanation "
        "fits, the share the cluster holds (from the fit rates inside and outside it).",
    )
    sharpened: list[dict[str, Any]] = Field(
        default_factory=list,
        description="With `sharpen`: each explanation tried against its nearest cluster, old and new, "
        "their fit rates on held-back members of both, and whether the new one was kept.",
    )
    coverage: float = Field(0.0, description="Share of documents in at least one cluster.")
    overlap: float = Field(0.0, description="Share of documents in more than one cluster.")
    iteration: int = Field(0, description="Rounds finished.")
    budget_exhausted: bool = Field(False, description="The LLM budget ran out during the run.")
    history: Annotated[list[IterationRecord], operator.add] = Field(
        default_factory=list, description="One record per round."
    )
    stage_seconds: Annotated[dict[str, float], add_seconds] = Field(
        default_factory=dict, description="Wall time per stage, summed over rounds."
    )
    stop_reason: str | None = Field(None, description="Why the loop stopped.")
