"""A run killed part-way resumes from its checkpoint without repeating a finished LLM call."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from fakes import FakeEmbedder, ScriptedBackend, answer_by_prompt

from goalcluster.runner import resume_run

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
    assert len({json.dumps(r["messages"]) for r in records}) == 1 + 3 * 3  # a proposal, 3 checks per cluster
    assert result.metrics["stop_reason"] == "targets_met"
    assert result.metrics["llm_calls"] == len(sent)
    assert (run_dir / "metrics.json").exists() and (run_dir / "clusters.json").exists()
