"""Reports from a fixed run folder: the Markdown snapshot, escaping, gold labels, and errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agent.config import Config
from agent.workspace import write_run_files
from goalcluster.cli import main
from goalcluster.report import ReportError, load_report, render_html, render_markdown, write_reports

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "report.md"
HOSTILE = "<script>alert(1)</script> my card | was *declined* & <b>refunded</b>"
TEXTS = [
    "My card was declined at the shop.",
    HOSTILE,
    "The parcel arrived two weeks late.",
    "Where is my parcel? It is late.",
    "I want to close my account.",
]
IDS = ["d1", "d2", "d3", "d4", "d5"]


def fixed_run(folder: Path) -> Path:
    """A finished run folder written by hand: two clusters, one shared document, one unassigned."""
    config = Config(goal="Group by what went wrong <for the customer>.", home=folder / "home")
    write_run_files(folder, config, "reviews", IDS, TEXTS)
    clusters = [
        {
            "id": "c1",
            "name": "Declined card",
            "explanation": "The customer says a card payment was declined.",
            "size": 3,
            "share": 0.6,
            "precision": 1.0,
            "recall": 0.75,
            "representatives": [{"id": "d1", "text": TEXTS[0]}, {"id": "d2", "text": HOSTILE}],
        },
        {
            "id": "c2",
            "name": "Late parcel",
            "explanation": "The customer says the parcel is late.",
            "size": 2,
            "share": 0.4,
            "precision": None,
            "representatives": [{"id": "d3", "text": TEXTS[2]}],
        },
    ]
    members = [["c1"], ["c1"], ["c2", "c1"], ["c2"], []]
    history = [
        {"iteration": 1, "action": "initial", "proposed": ["Declined card", "Late parcel", "Refunds"],
         "selected": ["Declined card", "Late parcel"], "coverage": 0.6, "overlap": 0.2, "llm_decided": 1},
        {"iteration": 2, "action": "uncovered", "proposed": ["Account closing"],
         "selected": ["Declined card", "Late parcel"], "coverage": 0.8, "overlap": 0.2, "llm_decided": 0},
    ]  # fmt: skip
    metrics = {
        "goal": config.goal, "llm": "llamacpp:qwen-test", "embedder": "all-MiniLM-L6-v2", "documents": 5,
        "clusters": 2, "coverage": 0.8, "overlap": 0.2, "unassigned": 1, "coverage_target": 0.9,
        "max_overlap": 0.1, "iterations": 2, "stop_reason": "max_iterations", "llm_calls": 12,
        "cached_calls": 0, "prompt_tokens": 3400, "completion_tokens": 120, "llm_decided_documents": 1,
        "assign_mode": "auto", "seconds": 42.5, "stage_seconds": {"propose": 30.0}, "history": history,
    }  # fmt: skip
    (folder / "clusters.json").write_text(json.dumps(clusters))
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "assignments.jsonl").write_text(
        "".join(
            json.dumps({"id": i, "cluster_ids": m, "confidence": 0.1, "decided_by": "embeddings"}) + "\n"
            for i, m in zip(IDS, members, strict=True)
        )
    )
    return folder


def test_markdown_report_snapshot(tmp_path: Path) -> None:
    text = render_markdown(load_report(fixed_run(tmp_path / "run")))
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_markdown_escapes_document_texts(tmp_path: Path) -> None:
    text = render_markdown(load_report(fixed_run(tmp_path / "run")))
    assert "<script>" not in text and "<b>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; my card \\| was \\*declined\\* &amp; &lt;b&gt;" in text


def test_html_report_is_inert_and_self_contained(tmp_path: Path) -> None:
    page = render_html(load_report(fixed_run(tmp_path / "run")))
    assert "<script" not in page.lower() and "<b>refunded" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "default-src &#39;none&#39;" in page or "default-src 'none'" in page
    assert "http://" not in page and "https://" not in page and "src=" not in page
    assert page.count('class="card cluster-card"') == 2
    assert "Group by what went wrong &lt;for the customer&gt;." in page
    assert "No map: the run&#39;s vectors are not in" in page  # no store was written for this run


def test_overlap_and_unassigned_are_counted(tmp_path: Path) -> None:
    data = load_report(fixed_run(tmp_path / "run"))
    assert data.shared == [[3, 1], [1, 2]]
    assert data.unassigned == [("d5", TEXTS[4])]
    assert [m[0] for m in data.clusters[0].members] == ["d1", "d2", "d3"]


def test_gold_labels_give_a_confusion_table(tmp_path: Path) -> None:
    run_dir = fixed_run(tmp_path / "run")
    gold = tmp_path / "gold.csv"
    gold.write_text("id,label\nd1,card\nd2,card\nd3,parcel\nd4,parcel\nd5,account\n")
    data = load_report(run_dir, gold)
    assert data.gold is not None
    assert data.gold.labels == ["account", "card", "parcel"]
    # d3 (in both) counts under its first cluster in the report's order: "Declined card"
    assert data.gold.counts == [[0, 2, 1], [0, 0, 1], [1, 0, 0]]
    assert data.gold.scores["acc"] == pytest.approx(0.6)
    assert "Agreement with the gold labels" in render_markdown(data)


def test_gold_labels_must_cover_every_document(tmp_path: Path) -> None:
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"id": "d1", "label": "card"}) + "\n")
    with pytest.raises(ReportError, match="no label for 4 document"):
        load_report(fixed_run(tmp_path / "run"), gold)


def test_an_unfinished_folder_is_named_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=r"not a finished run folder.*goalcluster resume"):
        load_report(tmp_path)


def test_cli_report_writes_both_formats_and_checks_its_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = fixed_run(tmp_path / "run")
    assert main(["report", str(run_dir)]) == 0
    assert (run_dir / "report.html").exists() and (run_dir / "report.md").exists()
    out = tmp_path / "share" / "r.md"
    assert main(["report", str(run_dir), "--format", "md", "--out", str(out)]) == 0
    assert out.read_text().startswith("# goalcluster report: reviews")
    assert main(["report", str(run_dir), "--out", str(out)]) == 2
    assert "add --format html or --format md" in capsys.readouterr().err
    assert write_reports(run_dir, ("html",)) == [run_dir / "report.html"]


def test_markdown_keeps_mentions_and_markup_inert() -> None:
    from goalcluster.report.markdown import md

    assert md("ping @alice about *this* <b>") == "ping &#64;alice about \\*this\\* &lt;b&gt;"
