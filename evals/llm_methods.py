"""The methods that use the LLM: goalcluster (default, and its faithful GoalEx assignment mode), and
"clustering as classification" (the LLM labels batches, merges the labels, then classifies every
document with one call each)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

import goalcluster
from agent.config import DEFAULT_HOME, Config
from agent.llm.backends import BackendError
from agent.llm.factory import build_llm
from agent.llm.helper import LLM, LLMOutputError
from agent.progress import progress_bar
from agent.schemas import ClusterDescription, Proposal, choice_schema
from evals.scoring import explanation_quality, judge_sample
from evals.task import Outcome, Task
from goalcluster.report.data import GOLD_FILE
from tools.text import clip

PROMPT_CHARS: int = Config.model_fields["prompt_chars"].default  # the agent's own cut for prompts
BATCH = 12


def run_goalcluster(
    task: Task, assign_mode: str = "auto", view: str = "auto", sharpen: bool = False
) -> Outcome:
    """goalcluster on the task, with a fresh embedding store: every vector it uses (the goal view's
    forward passes included) is computed and timed in this run."""
    started = time.perf_counter()
    result = goalcluster.cluster(
        task.texts,
        ids=task.ids,
        goal=task.goal,
        llm=task.llm,
        name=f"{task.dataset}-{len(task.texts)}",
        out=task.out,
        quiet=task.quiet,
        seed=task.seed,
        max_clusters=max(2, task.k),
        assign_mode=assign_mode,
        view=view,
        store=task.out / "store",
        use_cache=False,
        budget_calls=task.budget_calls,
        sharpen=sharpen,
    )
    seconds = time.perf_counter() - started
    with (task.out / GOLD_FILE).open("w", encoding="utf-8") as gold:
        for doc_id, label in zip(task.ids, task.gold, strict=True):
            gold.write(json.dumps({"id": doc_id, "label": label}) + "\n")
    m = result.metrics
    return Outcome(
        members=result.members(),
        clusters=[{"name": c.name, "explanation": c.explanation} for c in result.clusters],
        cost={
            "llm_calls": m["llm_calls"],
            "prompt_tokens": m["prompt_tokens"],
            "completion_tokens": m["completion_tokens"],
            "seconds": seconds,
            "stage_seconds": m["stage_seconds"],
        },
        details={
            "stop_reason": m["stop_reason"],
            "iterations": m["iterations"],
            "llm_decided_documents": m["llm_decided_documents"],
            "view": m["view"],
            "run_dir": result.run_dir,
        },
    )


def goalcluster_default(task: Task) -> Outcome:
    return run_goalcluster(task)


def goalcluster_semantic(task: Task) -> Outcome:
    """The behaviour before goal views: the semantic view, explanations assigned by similarity."""
    return run_goalcluster(task, view="semantic")


def goalcluster_sharpen(task: Task) -> Outcome:
    """The default with ``sharpen``: explanations contrasted with their nearest cluster as the run stops."""
    return run_goalcluster(task, sharpen=True)


def goalex(task: Task) -> Outcome:
    return run_goalcluster(task, assign_mode="goalex")


def llm_classify(task: Task) -> Outcome:
    """Label batches of texts, merge the labels into at most ``k``, then one call per document
    choosing its label (or none)."""
    llm = _chat(task)
    before = dict(llm.budget.snapshot())
    stages: dict[str, float] = {}
    texts = [clip(text, PROMPT_CHARS) for text in task.texts]
    started = time.perf_counter()
    proposed: list[ClusterDescription] = []
    for start in range(0, len(texts), BATCH):
        variables = {"goal": task.goal, "texts": texts[start : start + BATCH], "n_labels": task.k}
        proposed += llm.generate("label_batch", variables, Proposal).clusters
    stages["label"] = time.perf_counter() - started
    started = time.perf_counter()
    variables = {"goal": task.goal, "labels": [c.model_dump() for c in proposed], "n_labels": task.k}
    labels = [c.model_dump() for c in llm.generate("merge_labels", variables, Proposal).clusters][: task.k]
    stages["merge"] = time.perf_counter() - started
    started = time.perf_counter()
    members = np.zeros((len(texts), len(labels)), dtype=bool)
    for i, text in enumerate(texts):
        answer: Any = llm.generate(
            "choose_cluster",
            {"goal": task.goal, "text": text, "clusters": labels},
            choice_schema(len(labels)),
        )
        if int(answer.choice) > 0:
            members[i, int(answer.choice) - 1] = True
    stages["classify"] = time.perf_counter() - started
    return Outcome(
        members=members,
        clusters=labels,
        cost={**spent(llm, before), "seconds": sum(stages.values()), "stage_seconds": stages},
        details={"proposed_labels": len(proposed)},
    )


def judge_llm(name: str, trace_path: Path) -> LLM:
    """The evals' own LLM (the judge, and the LLM baselines): model ``name`` in ``$GOALCLUSTER_HOME``
    (or the default home), with no answer cache, so every figure is computed."""
    home = Path(os.environ.get("GOALCLUSTER_HOME") or DEFAULT_HOME)
    return build_llm(Config(llm=name, home=home, use_cache=False), trace_path=trace_path)


def judge_picks(
    llm: LLM,
    goal: str,
    texts: list[str],
    clusters: list[dict[str, str]],
    rows: list[int],
    *,
    quiet: bool = True,
) -> list[int]:
    """For each document in ``rows``, the cluster (-1: none) the judge picks from the explanations
    alone (no names, and a prompt of its own, not the one any method classifies with)."""
    explanations = [cluster["explanation"] for cluster in clusters]
    picks = []
    with progress_bar("judging explanations", len(rows), "doc", quiet=quiet) as bar:
        for row in rows:
            text = clip(texts[row], PROMPT_CHARS)
            variables = {"goal": goal, "text": text, "explanations": explanations}
            answer: Any = llm.generate("judge_explanations", variables, choice_schema(len(clusters)))
            picks.append(int(answer.choice) - 1)
            bar.update()
    return picks


def judge_explanations(
    llm: LLM,
    goal: str,
    texts: list[str],
    members: np.ndarray,
    clusters: list[dict[str, str]],
    size: int,
    seed: int,
    *,
    quiet: bool = True,
) -> dict[str, Any]:
    """The explanations as a classifier, judged on ``size`` documents (:func:`judge_sample`), with
    what the judging cost (charged to no method). A judge that fails is recorded, not raised: the
    method's other figures stand without it."""
    before = dict(llm.budget.snapshot())
    rows = judge_sample(members, size, seed)
    try:
        picks = judge_picks(llm, goal, texts, clusters, rows, quiet=quiet)
    except (LLMOutputError, BackendError) as error:
        return {"error": f"{type(error).__name__}: {error}", "judge_cost": spent(llm, before)}
    return {**explanation_quality(members, rows, picks), "judge_cost": spent(llm, before)}


def spent(llm: LLM, before: dict[str, int]) -> dict[str, int]:
    """Calls and tokens ``llm`` spent since ``before`` (a budget snapshot)."""
    now = llm.budget.snapshot()
    return {key: now[key] - before[key] for key in ("llm_calls", "prompt_tokens", "completion_tokens")}


def _chat(task: Task) -> LLM:
    if task.chat is None:
        raise ValueError("this method needs the evals' LLM (Task.chat)")
    return task.chat
