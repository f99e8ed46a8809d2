"""The Python API: the same graph and files as ``goalcluster run``, returning typed objects."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agent.config import DEFAULT_HOME, Config
from goalcluster.criteria import Discovery
from goalcluster.criteria import discover as find_criteria
from goalcluster.results import ClusteringResult
from goalcluster.tree import resume_tree, start_tree
from tools.corpus import corpus_from_texts


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
    ``assign_mode``, ``levels``, ...). With ``levels`` above 1 the clusters are clustered again
    (``tree.json``; see :mod:`goalcluster.tree`). The run folder (``out``, default a new temporary
    folder) holds the same files as the CLI's, so ``resume(out)`` continues an interrupted call.
    ``GOALCLUSTER_HOME`` sets the cache unless ``home=`` is given.
    """
    corpus = corpus_from_texts(texts, ids, name=name)
    options.setdefault("home", Path(os.environ.get("GOALCLUSTER_HOME") or DEFAULT_HOME))
    config = Config.model_validate({"goal": goal, "llm": llm, "embedder": embedder, **options})
    run_dir = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="goalcluster-"))
    return start_tree(corpus, config, run_dir, quiet=quiet)


def discover(
    texts: Sequence[str],
    *,
    ids: Sequence[str] | None = None,
    llm: str = "llamacpp",
    embedder: str = "minilm",
    out: str | Path | None = None,
    name: str = "corpus",
    max_criteria: int = 4,
    quiet: bool = True,
    **options: Any,
) -> Discovery:
    """Find the several ways ``texts`` can be grouped, with one explained clustering per criterion.

    ``options`` are :class:`agent.config.Config` fields applied to every criterion's run. The folder
    (``out``, default a new temporary folder) holds ``criteria.json``, ``discover.md`` and one run
    folder (with its reports) per criterion.
    """
    corpus = corpus_from_texts(texts, ids, name=name)
    options.setdefault("home", Path(os.environ.get("GOALCLUSTER_HOME") or DEFAULT_HOME))
    config = Config.model_validate({"llm": llm, "embedder": embedder, **options})
    folder = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="goalcluster-discover-"))
    return find_criteria(corpus, config, folder, max_criteria=max_criteria, quiet=quiet)


def resume(run_dir: str | Path, *, quiet: bool = True, home: str | Path | None = None) -> ClusteringResult:
    """Continue an interrupted run in ``run_dir``; ``home`` moves its cache (default: the run's own)."""
    return resume_tree(Path(run_dir), quiet=quiet, home=Path(home) if home is not None else None)
