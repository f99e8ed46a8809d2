"""Taxonomies (``levels`` above 1) with the scripted fake LLM and the fake embedder."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeEmbedder, ScriptedBackend, answer_by_prompt

from agent.config import Config
from agent.llm.backends import Completion, Message
from goalcluster.cli import build_parser, config_from, main
from goalcluster.results import ClusteringResult
from goalcluster.tree import CHECKS_TRACE, TREE_FILE, read_tree, resume_tree, start_tree, tree_lines
from goalcluster.tree_check import CHECK_FILE
from tools.corpus import Corpus
from tools.files import DamagedFileError

SUBTOPICS = {
    "card": {
        "declined": ["card declined payment refused", "card payment declined shop refused"],
        "stolen": ["card stolen thief fraud", "stolen card thief wallet fraud"],
    },
    "parcel": {
        "late": ["parcel late delivery waiting", "parcel delivery late slow waiting"],
        "damaged": ["parcel damaged broken box", "damaged parcel broken crushed box"],
    },
}


def nested_corpus(per_subtopic: int = 8) -> tuple[Corpus, dict[str, str]]:
    """Two topics of two sub-topics each; (corpus, document id -> 'topic/subtopic')."""
    ids, texts, gold = [], [], {}
    for topic, subtopics in SUBTOPICS.items():
        for sub, phrases in subtopics.items():
            for i in range(per_subtopic):
                doc_id = f"{topic}-{sub}-{i}"
                ids.append(doc_id)
                texts.append(f"{topic} {phrases[i % len(phrases)]} {topic} {i}")
                gold[doc_id] = f"{topic}/{sub}"
    return Corpus(ids=ids, texts=texts, name="nested"), gold


def proposal(*clusters: tuple[str, str]) -> dict[str, Any]:
    return {"clusters": [{"name": n, "explanation": e} for n, e in clusters]}


TOP = proposal(("Card", "card card card"), ("Parcel", "parcel parcel parcel"))
WITHIN = {
    "within: Card": proposal(("Declined", "declined refused"), ("Stolen", "stolen thief fraud")),
    "within: Parcel": proposal(("Late", "late delivery waiting slow"), ("Damaged", "damaged broken box")),
}


def answer(messages: Sequence[Message], schema: dict[str, Any]) -> dict[str, Any]:
    """The agent's prompts answered as answer_by_prompt does, proposing the clusters of the level the
    prompt's goal names; a child's explanation (the check against its parent) is filed under the
    cluster it was proposed within."""
    text = messages[1]["content"]
    shown = text.split('Text: "')[1].split('"\n')[0] if 'Text: "' in text else ""
    within = [m for m, p in WITHIN.items() if any(c["explanation"] == shown for c in p["clusters"])]
    if "Which cluster does this text belong to?" in text and within:
        option = re.search(rf"^(\d+)\. {within[0].split(': ')[1]}:", text, flags=re.M)
        return {"choice": int(option[1]) if option else 0}
    chosen = next((p for marker, p in WITHIN.items() if marker in text), TOP)
    return answer_by_prompt(chosen, judge="words")(messages, schema)


class FailingAfter(ScriptedBackend):
    """Fails (as a server going away would) once ``n`` calls have been answered."""

    def __init__(self, n: int) -> None:
        super().__init__([answer] * 500)
        self.n = n

    def complete(self, messages: Sequence[Message], schema: dict[str, Any], *, max_tokens: int) -> Completion:
        if len(self.calls) >= self.n:
            raise KeyboardInterrupt  # stops the process as Ctrl-C would; nothing catches it
        return super().complete(messages, schema, max_tokens=max_tokens)


def config(tmp_path: Path, **overrides: object) -> Config:
    base = {
        "home": tmp_path / "home",
        "goal": "why the customer wrote",
        "view": "semantic",
        "min_clusters": 2,
        "max_clusters": 4,
        "assign_mode": "embeddings",
        "spot_checks": 2,
        "use_cache": False,
        "annotate_samples": False,
        "levels": 2,
        "min_node_size": 8,
    }
    return Config.model_validate({**base, **overrides})


def run(corpus: Corpus, cfg: Config, folder: Path, fake: ScriptedBackend) -> ClusteringResult:
    return start_tree(corpus, cfg, folder, backend=fake, embedder=FakeEmbedder(), quiet=True)


def backend() -> ScriptedBackend:
    return ScriptedBackend([answer] * 500)


def rows(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "assignments.jsonl").read_text().splitlines()]


def test_two_levels_cluster_each_topic_into_its_subtopics(tmp_path: Path) -> None:
    corpus, gold = nested_corpus()
    folder = tmp_path / "run"
    result = run(corpus, config(tmp_path), folder, backend())
    tree = json.loads((folder / TREE_FILE).read_text())
    nodes = {n["id"]: n for n in tree["nodes"]}
    top = [n for n in nodes.values() if n["parent"] is None]
    assert sorted(n["name"] for n in top) == ["Card", "Parcel"]
    assert all(n["level"] == 1 and n["goal"] == "why the customer wrote" for n in top)
    for parent in top:
        kids = [n for n in nodes.values() if n["parent"] == parent["id"]]
        expected = {"Card": {"Declined", "Stolen"}, "Parcel": {"Late", "Damaged"}}[parent["name"]]
        assert {k["name"] for k in kids} == expected
        assert all(k["id"].startswith(parent["id"] + ".") and k["level"] == 2 for k in kids)
        assert all(f"within: {parent['name']} — " in k["goal"] for k in kids)
        assert (folder / "tree" / parent["id"] / "metrics.json").exists()
    paths = {row["id"]: row["path"] for row in rows(folder)}
    covered = [doc for doc, path in paths.items() if path]
    assert len(covered) >= 0.9 * len(corpus) and all(len(paths[doc]) == 2 for doc in covered)
    for doc in covered:  # the child's documents are the parent's, and sub-topics are found
        top_id, child_id = paths[doc]
        assert child_id.startswith(top_id + ".")
        assert nodes[top_id]["name"].lower() == gold[doc].split("/")[0]
        assert nodes[child_id]["name"].lower() == gold[doc].split("/")[1]
    for parent in top:
        child_rows = rows(folder / "tree" / parent["id"])
        members = {doc for doc, path in paths.items() if path and path[0] == parent["id"]}
        assert {r["id"] for r in child_rows} <= {
            r["id"] for r in rows(folder) if parent["id"].split(".")[-1] in r["cluster_ids"]
        }
        assert members <= {r["id"] for r in child_rows}
    assert result.metrics["tree"]["nodes"] == len(nodes) == 6
    assert result.metrics["tree"]["llm_calls"] > result.metrics["llm_calls"]
    assert not result.metrics["tree"]["budget_spent"]


def test_one_level_writes_the_flat_run_only(tmp_path: Path) -> None:
    corpus, _ = nested_corpus()
    flat = run(corpus, config(tmp_path, levels=1), tmp_path / "flat", backend())
    assert "tree" not in flat.metrics
    assert not (tmp_path / "flat" / TREE_FILE).exists() and not (tmp_path / "flat" / "tree").exists()
    assert all("path" not in row for row in rows(tmp_path / "flat"))
    deep = run(corpus, config(tmp_path), tmp_path / "deep", backend())
    # The tree adds tree.json, tree/ and the trace of its checks against parents, and nothing else.
    added = {p.name for p in (tmp_path / "deep").iterdir()} - {p.name for p in (tmp_path / "flat").iterdir()}
    assert added == {TREE_FILE, "tree", CHECKS_TRACE}
    assert [c.model_dump() for c in flat.clusters] == [c.model_dump() for c in deep.clusters]


def test_budget_spent_in_the_second_level_stops_cleanly(tmp_path: Path) -> None:
    corpus, _ = nested_corpus()
    unlimited = run(corpus, config(tmp_path), tmp_path / "full", backend())
    top_calls = unlimited.metrics["llm_calls"]
    folder = tmp_path / "run"
    fake = backend()
    cap = top_calls + 3  # the first child starts and runs out
    result = run(corpus, config(tmp_path, budget_calls=cap), folder, fake)
    assert len(fake.calls) == cap
    assert result.metrics["stop_reason"] != "budget_exhausted"  # the top run finished within its share
    assert [c.model_dump() for c in result.clusters] == [c.model_dump() for c in unlimited.clusters]
    tree = json.loads((folder / TREE_FILE).read_text())
    assert tree["budget_spent"] and "LLM budget spent" in tree["not_split"].values()
    totals = json.loads((folder / "metrics.json").read_text())["tree"]
    assert totals["budget_spent"] and totals["llm_calls"] == cap
    started = [p.name for p in (folder / "tree").iterdir()]
    assert len(started) == 1 and len([n for n in tree["nodes"] if n["parent"] is None]) == 2
    children = [n for n in tree["nodes"] if n["parent"] is not None]
    assert all(n["parent"] == started[0] for n in children)


def test_resume_finishes_the_missing_children_only(tmp_path: Path) -> None:
    corpus, _ = nested_corpus()
    whole = run(corpus, config(tmp_path), tmp_path / "whole", backend())
    total = whole.metrics["tree"]["llm_calls"]
    folder = tmp_path / "run"
    first_child_done = whole.metrics["llm_calls"] + (total - whole.metrics["llm_calls"]) // 2
    interrupted = FailingAfter(first_child_done + 2)  # dies early in the second child
    with pytest.raises(KeyboardInterrupt):
        run(corpus, config(tmp_path), folder, interrupted)
    assert (folder / "metrics.json").exists() and not (folder / TREE_FILE).exists()
    done = [p for p in (folder / "tree").iterdir() if (p / "metrics.json").exists()]
    assert len(done) == 1
    finished_trace = (done[0] / "trace.jsonl").read_text()
    fake = backend()
    result = resume_tree(folder, backend=fake, embedder=FakeEmbedder(), quiet=True)
    assert 0 < len(fake.calls) <= total - first_child_done
    assert all("within: " + _name(whole, done[0].name) not in c[1]["content"] for c in fake.calls)
    assert (done[0] / "trace.jsonl").read_text() == finished_trace
    assert json.loads((folder / TREE_FILE).read_text()) == json.loads(
        (tmp_path / "whole" / TREE_FILE).read_text()
    )
    assert [r["path"] for r in rows(folder)] == [r["path"] for r in rows(tmp_path / "whole")]
    assert result.metrics["tree"]["nodes"] == 6
    again = backend()
    resume_tree(folder, backend=again, embedder=FakeEmbedder(), quiet=True)
    assert again.calls == []  # a finished tree costs nothing


def _name(result: ClusteringResult, cluster_id: str) -> str:
    return next(c.name for c in result.clusters if c.id == cluster_id)


def test_the_cli_takes_levels_and_prints_the_tree_under_each_cluster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = build_parser().parse_args(["run", "data.csv", "--levels", "3", "--min-node-size", "20"])
    assert (config_from(args).levels, config_from(args).min_node_size) == (3, 20)
    corpus, _ = nested_corpus()
    folder = tmp_path / "run"
    run(corpus, config(tmp_path), folder, backend())
    assert main(["resume", str(folder), "--quiet"]) == 0  # finished: read back, no model is loaded
    out = capsys.readouterr().out
    lines = out.splitlines()
    top = lines.index(next(line for line in lines if line.startswith("taxonomy, 2 levels")))
    shown = [line for line in lines[top + 1 :] if line.startswith("  ")]
    assert len(shown) == 6
    assert shown[0].startswith("  c") and shown[1].startswith("    c") and "." in shown[1].split()[0]


def test_a_resume_can_move_the_tree_to_another_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus, _ = nested_corpus()
    whole = run(corpus, config(tmp_path), tmp_path / "whole", backend())
    folder = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):  # early in the first child
        run(corpus, config(tmp_path), folder, FailingAfter(whole.metrics["llm_calls"] + 2))
    moved = tmp_path / "moved"
    resume_tree(folder, backend=backend(), embedder=FakeEmbedder(), quiet=True, home=moved)
    assert json.loads((folder / TREE_FILE).read_text()) == json.loads(
        (tmp_path / "whole" / TREE_FILE).read_text()
    )
    children = [
        json.loads((p / "run.json").read_text())["config"]["home"] for p in (folder / "tree").iterdir()
    ]
    assert str(moved) in children and (moved / "embeddings").is_dir()  # the children after the first
    # The CLI moves it only when asked: by --home, or GOALCLUSTER_HOME; else the run's own home.
    monkeypatch.delenv("GOALCLUSTER_HOME", raising=False)
    assert build_parser().parse_args(["resume", "run"]).home is None
    assert build_parser().parse_args(["resume", "run", "--home", "h"]).home == Path("h")
    monkeypatch.setenv("GOALCLUSTER_HOME", str(moved))
    assert build_parser().parse_args(["resume", "run"]).home == moved


def test_a_child_that_contradicts_its_parent_is_flagged_and_the_answer_kept(tmp_path: Path) -> None:
    def contradicting(messages: Sequence[Message], schema: dict[str, Any]) -> dict[str, Any]:
        if 'Text: "stolen thief fraud"' in messages[1]["content"]:
            return {"choice": 0}  # Stolen's explanation filed under none of the top clusters
        return answer(messages, schema)

    corpus, _ = nested_corpus()
    folder = tmp_path / "run"
    fake = ScriptedBackend([contradicting] * 500)
    result = run(corpus, config(tmp_path), folder, fake)
    tree = read_tree(folder)
    assert tree is not None
    checks = [c for c in fake.calls if 'Text: "declined refused"' in c[1]["content"]]
    assert len(checks) == 1  # one question per child: its explanation, filed among the top clusters
    assert "card card card" in checks[0][1]["content"] and "parcel parcel parcel" in checks[0][1]["content"]
    within = {node.name: node.within_parent for node in tree.nodes}
    assert within == {
        "Card": None,
        "Parcel": None,
        "Declined": True,
        "Stolen": False,
        "Late": True,
        "Damaged": True,
    }
    stolen = next(node.id for node in tree.nodes if node.name == "Stolen")
    assert result.metrics["tree"]["contradict_parent"] == [stolen]
    assert "Stolen — stolen thief fraud  [contradicts its parent]" in tree_lines(tree)
    assert all((folder / "tree" / node / CHECK_FILE).exists() for node in ("c1", "c2"))
    # The checks are charged to the tree's one budget, and a resume reads them back.
    runs = sum(
        json.loads(m.read_text())["llm_calls"] for m in folder.glob("**/metrics.json") if m.parent != folder
    )
    assert result.metrics["tree"]["llm_calls"] == result.metrics["llm_calls"] + runs + 4
    again = ScriptedBackend([contradicting] * 500)
    resumed = resume_tree(folder, backend=again, embedder=FakeEmbedder(), quiet=True)
    assert again.calls == [] and resumed.metrics["tree"] == result.metrics["tree"]


def test_a_damaged_tree_file_is_named_and_a_resume_writes_it_again(tmp_path: Path) -> None:
    corpus, _ = nested_corpus()
    folder = tmp_path / "run"
    run(corpus, config(tmp_path), folder, backend())
    whole = (folder / TREE_FILE).read_text()
    (folder / TREE_FILE).write_text(whole[: len(whole) // 2])
    with pytest.raises(DamagedFileError, match=f"{folder / TREE_FILE} is damaged .*Fix: goalcluster resume"):
        read_tree(folder)
    again = backend()
    resume_tree(folder, backend=again, embedder=FakeEmbedder(), quiet=True)
    assert again.calls == [] and (folder / TREE_FILE).read_text() == whole


def test_a_damaged_parent_check_is_asked_again(tmp_path: Path) -> None:
    corpus, _ = nested_corpus()
    folder = tmp_path / "run"
    run(corpus, config(tmp_path), folder, backend())
    whole = (folder / TREE_FILE).read_text()
    (folder / "tree" / "c1" / CHECK_FILE).write_text('{"within_parent": ')
    again = backend()
    resume_tree(folder, backend=again, embedder=FakeEmbedder(), quiet=True)
    assert len(again.calls) == 2  # the two children of c1, filed again
    assert json.loads((folder / "tree" / "c1" / CHECK_FILE).read_text())["cost"]["llm_calls"] == 2
    assert (folder / TREE_FILE).read_text() == whole
