"""Run files are written whole or not at all, and a damaged one is named with its fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes import FakeEmbedder, ScriptedBackend, answer_by_prompt, corpus_of_topics

from agent.config import Config
from goalcluster.cli import main
from goalcluster.runner import resume_run, start_run
from tools.corpus import Corpus
from tools.files import replacing, write_atomic


def test_a_write_that_fails_leaves_the_old_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "metrics.json"
    write_atomic(target, '{"coverage": 0.9}')
    with pytest.raises(RuntimeError), replacing(target) as out:
        out.write('{"cover')
        raise RuntimeError("killed mid-write")
    assert target.read_text() == '{"coverage": 0.9}' and [p.name for p in tmp_path.iterdir()] == [target.name]


def finished_run(tmp_path: Path, *, use_cache: bool = False) -> Path:
    ids, texts, _ = corpus_of_topics(per_topic=4)
    config = Config(
        home=tmp_path / "home", view="semantic", assign_mode="embeddings", spot_checks=0,
        annotate_samples=False, use_cache=use_cache, max_iterations=1,
    )  # fmt: skip
    run_dir = tmp_path / "run"
    backend = ScriptedBackend([answer_by_prompt()] * 5)
    start_run(
        Corpus(ids=ids, texts=texts, name="t"), config, run_dir, backend=backend, embedder=FakeEmbedder()
    )
    return run_dir


def test_a_cut_assignments_file_is_named_with_its_fix_and_resume_writes_it_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = finished_run(tmp_path)
    whole = (run_dir / "assignments.jsonl").read_text()
    (run_dir / "assignments.jsonl").write_text(whole[: len(whole) // 2])  # cut inside a line
    assert main(["report", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "assignments.jsonl is damaged: line" in err and f"goalcluster resume {run_dir}" in err
    resume_run(run_dir, backend=ScriptedBackend([]), embedder=FakeEmbedder(), quiet=True)
    assert (run_dir / "assignments.jsonl").read_text() == whole
    assert main(["report", str(run_dir)]) == 0


def test_a_damaged_trace_line_does_not_stop_a_resume(tmp_path: Path) -> None:
    run_dir = finished_run(tmp_path)
    trace = run_dir / "trace.jsonl"
    trace.write_text(trace.read_text() + '{"prompt": "propose", "raw": "cut sho')  # killed mid-line
    result = resume_run(run_dir, backend=ScriptedBackend([]), embedder=FakeEmbedder(), quiet=True)
    assert result.metrics["llm_calls"] == 1 and result.clusters


def test_a_second_process_on_a_run_folder_or_chat_thread_is_refused_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import subprocess
    import sys

    from goalcluster.chat.session import ChatError, open_session

    run_dir, thread = tmp_path / "run", tmp_path / "chat" / "threads" / "main"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(run_dir), str(thread)],
        cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        data = tmp_path / "t.txt"
        data.write_text("card declined\nparcel late\npassword reset\n")
        assert (
            main(["run", str(data), "--home", str(tmp_path), "--out", str(run_dir), "--clusters", "2"]) == 2
        )
        assert f"is in use by goalcluster process {holder.pid}" in capsys.readouterr().err
        assert not (run_dir / "run.json").exists()  # nothing was written beside the other process
        with pytest.raises(ChatError, match="another goalcluster chat on thread 'main'"):
            open_session(data, "main", Config(home=tmp_path), out=tmp_path / "chat", embedder=FakeEmbedder())
    finally:
        holder.kill()
        holder.wait()
    session = open_session(
        data, "main", Config(home=tmp_path), out=tmp_path / "chat", embedder=FakeEmbedder()
    )
    session.close()  # the claim ends with the process that held it, however it ended


HOLD = """
import sys, time
from pathlib import Path
from tools.files import claim
held = [claim(Path(folder)) for folder in sys.argv[1:]]
print("held", flush=True)
time.sleep(120)
"""


@pytest.mark.parametrize("damage", [b"", b"not a database at all, just bytes" * 20])
def test_an_empty_or_damaged_checkpoint_resumes_by_starting_again(tmp_path: Path, damage: bytes) -> None:
    run_dir = finished_run(tmp_path, use_cache=True)
    clusters = (run_dir / "clusters.json").read_text()
    (run_dir / "checkpoint.sqlite").write_bytes(damage)
    result = resume_run(run_dir, backend=ScriptedBackend([]), embedder=FakeEmbedder(), quiet=True)
    assert result.metrics["cached_calls"] >= 1 and (run_dir / "clusters.json").read_text() == clusters


def test_a_damaged_array_or_store_is_met_with_a_restart_or_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = finished_run(tmp_path, use_cache=True)
    clusters = (run_dir / "clusters.json").read_text()
    first = sorted((run_dir / "arrays").iterdir())[0]
    first.write_bytes(first.read_bytes()[:40])
    result = resume_run(run_dir, backend=ScriptedBackend([]), embedder=FakeEmbedder(), quiet=True)
    assert result.clusters and (run_dir / "clusters.json").read_text() == clusters  # started again, cached
    store = tmp_path / "home" / "embeddings" / "chroma.sqlite3"
    store.write_bytes(store.read_bytes()[: store.stat().st_size // 2])
    data = tmp_path / "t.txt"
    data.write_text("card declined\nparcel late\npassword reset\n")
    assert main(["embed", str(data), "--home", str(tmp_path / "home")]) == 2
    err = capsys.readouterr().err
    assert "the embedding store at" in err and "is damaged" in err and "move that folder aside" in err
