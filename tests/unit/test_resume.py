"""A run killed part-way resumes from its checkpoint without repeating a finished LLM call."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from fakes import FakeEmbedder, ScriptedBackend, answer_by_prompt, corpus_of_topics

from agent.config import Config
from goalcluster.runner import resume_run, start_run
from tools.corpus import Corpus

WORKER = Path(__file__).resolve().parents[1] / "kill_worker.py"


def trace_lines(run_dir: Path) -> list[dict[str, object]]:
    path = run_dir / "trace.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_killed_run_resumes_without_repeating_llm_calls(tmp_path: Path) -> None:
    run_dir, home = tmp_path / "run", tmp_path / "home"
    worker = subprocess.Popen([sys.executable, str(WORKER), str(run_dir), str(home)])
    deadline = time.monotonic() + 120
    while len(trace_lines(run_dir)) < 4:
        assert worker.poll() is None, "the worker ended before it could be killed"
        assert time.monotonic() < deadline, "the worker made no LLM calls"
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    before = trace_lines(run_dir)
    assert 4 <= len(before) < 10 and not (run_dir / "metrics.json").exists()  # killed mid-run

    resumed = ScriptedBackend([answer_by_prompt()] * 100)
    result = resume_run(run_dir, backend=resumed, embedder=FakeEmbedder(), quiet=True)

    asked_before = {json.dumps(r["messages"]) for r in before}
    asked_after = [json.dumps(messages) for messages in resumed.calls]
    assert asked_after, "the resumed run had LLM work left"
    assert not asked_before & set(asked_after), "a finished LLM call was sent again"
    records = trace_lines(run_dir)
    sent = [json.dumps(r["messages"]) for r in records if not r["cached"]]
    assert len(sent) == len(set(sent)), "a request was sent twice"
    # A proposal; per cluster 3 checks of its members and, as the run stops, 3 of other documents.
    assert len({json.dumps(r["messages"]) for r in records}) == 1 + 3 * 3 + 3 * 3
    assert result.metrics["stop_reason"] == "targets_met"
    assert result.metrics["llm_calls"] == len(sent)
    assert (run_dir / "metrics.json").exists() and (run_dir / "clusters.json").exists()


def test_a_checkpoint_does_not_grow_with_the_corpus(tmp_path: Path) -> None:
    """Per-document arrays live in the run folder, content-addressed; the checkpoint holds hashes."""
    import sqlite3

    largest = {}
    for per_topic in (20, 400):
        ids, texts, _ = corpus_of_topics(per_topic=per_topic)
        config = Config(
            home=tmp_path / "home", view="semantic", assign_mode="embeddings", spot_checks=0,
            annotate_samples=False, use_cache=False, max_iterations=1,
        )  # fmt: skip
        run_dir = tmp_path / f"run-{per_topic}"
        corpus = Corpus(ids=ids, texts=texts, name="t")
        backend = ScriptedBackend([answer_by_prompt()] * 5)
        result = start_run(corpus, config, run_dir, backend=backend, embedder=FakeEmbedder(), quiet=True)
        assert len(result.assignments) == 3 * per_topic and result.metrics["coverage"] > 0.9
        with sqlite3.connect(run_dir / "checkpoint.sqlite") as db:
            blobs = [len(row[0]) for row in db.execute("SELECT checkpoint FROM checkpoints")]
            writes = [len(row[0]) for row in db.execute("SELECT value FROM writes")]
        largest[per_topic] = max(blobs + writes)
    assert largest[400] < 1.5 * largest[20] and largest[400] < 20_000, largest  # 20 times the documents
