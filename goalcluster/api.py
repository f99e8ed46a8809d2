"""The Python API: the same graph and files as ``goalcluster run``, returning typed objects."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agent.config import DEFAULT_HOME, Config
from goalcluster.results import ClusteringResult
from goalcluster.runner import resume_run, start_run
from tools.corpus import Corpus, CorpusError


def cluster(
    texts: Sequence[str],
    *,
    goal: str = "",
    ids: Sequence[str] | None = None,
    llm: str = "llamacpp",
    embedder: str = "minilm",
    out: str | Path | None = None,
    name: str = "corpus",
    quiet: bool = True,
    **options: Any,
) -> ClusteringResult:
    """Cluster ``texts`` by ``goal`` and explain each cluster.

    ``llm`` and ``embedder`` are registry strings (see ``goalcluster models``); ``options`` are any
    other :class:`agent.config.Config` fields (``coverage``, ``max_clusters``, ``budget_calls``,
    ``assign_mode``, ...). The run folder (``out``, default a new temporary folder) holds the same
    files as the CLI's, so ``resume(out)`` continues an interrupted call. ``GOALCLUSTER_HOME`` sets
    the cache unless ``home=`` is given.
    """
    ids = [str(i) for i in ids] if ids is not None else [str(i) for i in range(len(texts))]
    if len(ids) != len(texts):
        raise CorpusError(f"{len(ids)} ids for {len(texts)} texts: pass one id per text.")
    if len(set(ids)) != len(ids):
        raise CorpusError("ids must be unique.")
    keep = [i for i, text in enumerate(texts) if str(text).strip()]
    if not keep:
        raise CorpusError("every text is empty: pass at least one non-empty text.")
    corpus = Corpus(
        ids=[ids[i] for i in keep],
        texts=[str(texts[i]) for i in keep],
        name=name,
        dropped_empty=len(texts) - len(keep),
    )
    options.setdefault("home", Path(os.environ.get("GOALCLUSTER_HOME") or DEFAULT_HOME))
    config = Config.model_validate({"goal": goal, "llm": llm, "embedder": embedder, **options})
    run_dir = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="goalcluster-"))
    return start_run(corpus, config, run_dir, quiet=quiet)


def resume(run_dir: str | Path, *, quiet: bool = True) -> ClusteringResult:
    """Continue an interrupted run in ``run_dir``."""
    return resume_run(Path(run_dir), quiet=quiet)
