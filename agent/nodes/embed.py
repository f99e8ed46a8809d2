"""Embed the corpus through the store (only new or changed texts reach the embedder)."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from agent.nodes.common import timed, workspace
from agent.state import RunState
from agent.workspace import RunContext
from tools.embed import embed_corpus


@timed("embed")
def embed(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ws = workspace(runtime)
    if ws.executor.name != "local":
        ws.say(f"per-document work runs on {ws.executor.name}")
    with ws.bar("embedding", len(ws.ids)) as bar:

        def tick(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        vectors, stats = embed_corpus(ws.texts, ws.embedder, ws.store, progress=tick, executor=ws.executor)
    ws.set_vectors(vectors)
    ws.say(f"embedded {stats.embedded} texts, reused {stats.reused} from the store ({stats.seconds:.1f} s)")
    if stats.truncated:
        ws.say(
            f"note: {stats.truncated} text(s) are longer than the embedder reads; "
            "their embeddings reflect only their start"
        )
    return {"n_docs": len(ws.ids), "truncated_for_embedding": stats.truncated}
