"""Is the goal view the better space for a goal? Per task, k-means with the gold k in the semantic
view and in the goal view (the chat model's hidden states under the goal's aspect) under each of
its prompts, NMI and ACC against the goal's own labels, and the goal view's seconds per document.

    python -m evals views [--datasets a,b:criterion] [--n 96] [--llm llamacpp] [--aspect WORD]
                          [--prompts goal_view,goal_view_text_first] [--out DIR]

The samples are drawn as ``python -m evals run`` draws them (same seed, same documents); the aspect
is named by the LLM from the goal with the agent's own prompt (or given with ``--aspect``); the goal
view goes through a fresh store, so every vector is computed and timed here.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.config import DEFAULT_HOME, Config
from agent.llm.factory import build_llm
from agent.llm.helper import LLM
from agent.llm.hidden import HiddenStates
from agent.llm.prompts import PromptLibrary
from agent.llm.registry import make_hidden_states
from agent.schemas import Aspect
from agent.views import GOAL_VIEW_PROMPTS, GoalView
from evals.data import load_set, restrict, stratified
from evals.output import add_common_args, publish
from evals.run import DATASETS, goal_criteria, runs_wanted
from tools.cluster import partition
from tools.embed import embed_corpus
from tools.embedders import Embedder, make_embedder
from tools.metrics import agreement
from tools.prototypes import centre
from tools.store import EmbeddingStore


@dataclass
class Models:
    """What every task uses: the chat model (naming aspects), its hidden states, MiniLM, a store."""

    llm: LLM
    states: HiddenStates
    embedder: Embedder
    store: Path


def measure(name: str, criterion: str, args: argparse.Namespace, models: Models) -> dict[str, Any]:
    data = load_set(Path(args.data_dir), name)
    sample = stratified(restrict(data, criterion, args.max_labels, args.seed), criterion, args.n, args.seed)
    gold, k = sample.labels[criterion], len(set(sample.labels[criterion]))
    goal = data.goals.get(criterion, "")
    aspect = args.aspect or models.llm.generate("aspect", {"goal": goal}, Aspect).aspect
    spaces = {"semantic": models.embedder.embed(sample.texts)}
    seconds: dict[str, float] = {}
    for prompt in prompts_wanted(args):
        view = GoalView(models.states, aspect, PromptLibrary(), Config().view_text_chars, prompt)
        store = EmbeddingStore(models.store, view.name)
        started = time.perf_counter()
        goal_vectors, _ = embed_corpus(sample.texts, view, store, batch_size=16)
        seconds[prompt] = round((time.perf_counter() - started) / len(sample.ids), 3)
        spaces[prompt] = centre(goal_vectors)
    scores = {
        space: agreement(gold, partition(vectors, n_clusters=k, random_state=args.seed).tolist())
        for space, vectors in spaces.items()
    }
    return {
        "task": f"{name}:{criterion}",
        "n": len(sample.ids),
        "k": k,
        "aspect": aspect,
        "scores": scores,
        "goal_view_s_per_doc": seconds,
    }


def prompts_wanted(args: argparse.Namespace) -> list[str]:
    wanted = [name.strip() for name in args.prompts.split(",") if name.strip()]
    unknown = set(wanted) - set(GOAL_VIEW_PROMPTS)
    if unknown or not wanted:
        raise SystemExit(f"--prompts takes some of {', '.join(GOAL_VIEW_PROMPTS)}; got {args.prompts!r}")
    return wanted


def table(rows: list[dict[str, Any]]) -> str:
    prompts = list(rows[0]["goal_view_s_per_doc"]) if rows else []
    head = "| task | n | k | aspect | semantic NMI (ACC) | "
    head += " | ".join(f"goal view ({p}) NMI (ACC) | s per doc" for p in prompts) + " |"
    lines = [head, "|" + "---|" * (5 + 2 * len(prompts))]
    for row in rows:
        spaces = ["semantic", *prompts]
        cells = [f"{row['scores'][s]['nmi']:.3f} ({row['scores'][s]['acc']:.2f})" for s in spaces]
        best = max(range(len(spaces)), key=lambda i: row["scores"][spaces[i]]["nmi"])
        cells[best] = f"**{cells[best]}**"
        timed = [
            f"{cell} | {row['goal_view_s_per_doc'][p]}" for cell, p in zip(cells[1:], prompts, strict=True)
        ]
        lines.append(
            f"| {row['task']} | {row['n']} | {row['k']} | {row['aspect']} | {cells[0]} | "
            + " | ".join(timed)
            + " |"
        )
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    home = Path(os.environ.get("GOALCLUSTER_HOME") or DEFAULT_HOME)
    config = Config(llm=args.llm, home=home, use_cache=False)
    states = make_hidden_states(args.llm, config.backend, home)
    if states is None:
        raise SystemExit(f"{args.llm} exposes no hidden states; give a llamacpp or openai-compatible model")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as store:
        models = Models(
            llm=build_llm(config, trace_path=args.out / "views-llm-trace.jsonl"),
            states=states,
            embedder=make_embedder("minilm"),
            store=Path(store),
        )
        states.last_states(["load the model before timing"])
        for name, only in runs_wanted(Path(args.data_dir), args.datasets):
            for criterion in goal_criteria(load_set(Path(args.data_dir), name), only):
                print(f"== {name} / {criterion}", flush=True)
                rows.append(measure(name, criterion, args, models))
                print(table(rows[-1:]), flush=True)
                publish(args.out, "views", {"llm": args.llm, "rows": rows}, table(rows), quiet=True)
    publish(args.out, "views", {"llm": args.llm, "cpus": os.cpu_count(), "rows": rows}, table(rows))
    return 0


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("views", help="k-means in the semantic view and in the goal view, per task")
    add_common_args(parser)
    parser.add_argument("--datasets", default=DATASETS, help="comma-separated NAME or NAME:CRITERION")
    parser.add_argument("--n", type=int, default=96, help="documents per sample (default 96)")
    parser.add_argument("--max-labels", type=int, default=8, help="gold labels kept per sample (default 8)")
    parser.add_argument(
        "--llm", default="llamacpp", help="the chat model whose hidden states make the goal view"
    )
    parser.add_argument("--aspect", default="", help="one aspect for every task (default: named per goal)")
    parser.add_argument(
        "--prompts",
        default=",".join(GOAL_VIEW_PROMPTS),
        help="the goal view's prompts to measure, side by side (default: %(default)s)",
    )
    parser.set_defaults(handler=main)
