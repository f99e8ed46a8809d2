"""A finished tree run for the reports' and the chat's tests, made as test_tree.py makes one (the
scripted fake LLM, the fake embedder, two topics of two sub-topics), and a hostile node in it."""

from __future__ import annotations

import json
from pathlib import Path

from fakes import FakeEmbedder, ScriptedBackend
from test_tree import answer, config, nested_corpus

from goalcluster.tree import TREE_DIR, TREE_FILE, start_tree

HOSTILE = "<script>alert(1)</script>"
HOSTILE_EXPLANATION = "The card was declined & <b>refused</b>."
HOSTILE_TEXT = "card declined <img src=x onerror=alert(2)> refused"


def tree_run(tmp_path: Path, **overrides: object) -> Path:
    """``tmp_path/run``: a finished two-level tree run, Card (c1) and Parcel (c2) with two clusters
    each: Declined and Stolen, Late and Damaged."""
    corpus, _ = nested_corpus()
    folder = tmp_path / "run"
    backend = ScriptedBackend([answer] * 500)
    cfg = config(tmp_path, **overrides)
    start_tree(corpus, cfg, folder, backend=backend, embedder=FakeEmbedder(), quiet=True)
    return folder


def make_hostile(folder: Path, name: str = "Declined") -> str:
    """Give the node called ``name`` a hostile name and explanation, and its first example a hostile
    text, in ``tree.json`` and its run's ``clusters.json`` (the agent refuses markup in what it
    writes, but a file edited by hand can hold anything); return the node's id."""
    tree = json.loads((folder / TREE_FILE).read_text())
    node = next(n for n in tree["nodes"] if n["name"] == name)
    node.update(name=HOSTILE, explanation=HOSTILE_EXPLANATION)
    (folder / TREE_FILE).write_text(json.dumps(tree))
    clusters_file = folder / TREE_DIR / node["parent"] / "clusters.json"
    clusters = json.loads(clusters_file.read_text())
    cluster = next(c for c in clusters if c["id"] == node["id"].rsplit(".", 1)[-1])
    cluster["representatives"][0]["text"] = HOSTILE_TEXT
    clusters_file.write_text(json.dumps(clusters))
    return str(node["id"])


def flag_contradiction(folder: Path, name: str = "Stolen") -> str:
    """Mark the node called ``name`` in ``tree.json`` as found to contradict its parent; its id."""
    tree = json.loads((folder / TREE_FILE).read_text())
    node = next(n for n in tree["nodes"] if n["name"] == name)
    node["within_parent"] = False
    (folder / TREE_FILE).write_text(json.dumps(tree))
    return str(node["id"])
