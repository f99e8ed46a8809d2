"""Started by test_resume.py in its own process, then killed part-way: a run whose scripted LLM
answers slowly, so that the kill lands between LLM calls."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from fakes import FakeEmbedder, ScriptedBackend, answer_by_prompt, corpus_of_topics

from agent.config import Config
from goalcluster.runner import start_run
from tools.corpus import Corpus


def slow(answer):  # type: ignore[no-untyped-def]
    def reply(messages, schema):  # type: ignore[no-untyped-def]
        time.sleep(0.4)
        return answer(messages, schema)

    return reply


if __name__ == "__main__":
    run_dir, home = Path(sys.argv[1]), Path(sys.argv[2])
    ids, texts, _ = corpus_of_topics()
    config = Config(
        home=home,
        goal="why the customer wrote",
        view="semantic",
        assign_mode="embeddings",
        spot_checks=3,
        min_clusters=2,
        max_clusters=4,
        annotate_samples=False,
    )
    start_run(
        Corpus(ids=ids, texts=texts, name="topics"),
        config,
        run_dir,
        backend=ScriptedBackend([slow(answer_by_prompt())] * 100),
        embedder=FakeEmbedder(),
        quiet=True,
    )
