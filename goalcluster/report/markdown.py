"""The Markdown report: the HTML report's content without the map and the interactivity, for
pasting into an issue or a wiki. Texts are escaped so that they never become markup or HTML."""

from __future__ import annotations

import re

from goalcluster.report.data import ReportData
from goalcluster.report.taxonomy import TaxonomyView
from tools.text import clip

EXAMPLES = 3
UNASSIGNED_SHOWN = 10
BAR = 30
_SPECIAL = re.compile(r"([\\`*_\[\]|#~])")


def md(text: object) -> str:
    """``text`` as inert Markdown on one line: HTML characters and @ (a forge would notify the
    mentioned user) as entities, markup escaped."""
    flat = " ".join(str(text).split())
    flat = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SPECIAL.sub(r"\\\1", flat).replace("@", "&#64;")


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def render_markdown(data: ReportData) -> str:
    m = data.metrics
    out = [
        f"# goalcluster report: {md(data.corpus)}",
        "",
        f"**Goal:** {md(data.goal or 'by what the texts are about (no goal given)')}",
        "",
        "| | achieved | target |",
        "|---|---|---|",
        f"| coverage | {_pct(m['coverage'])} | at least {_pct(m['coverage_target'])} |",
        f"| overlap | {_pct(m['overlap'])} | at most {_pct(m['max_overlap'])} |",
        "",
        f"{len(data.clusters)} clusters of {data.documents} documents; stopped: "
        f"{md(str(m['stop_reason']).replace('_', ' '))} after {m['iterations']} round(s). "
        f"LLM: {m['llm_calls']} calls, {m['prompt_tokens']} prompt + {m['completion_tokens']} completion "
        f"tokens; {m['seconds']:.1f} s. Chat model {md(m['llm'])}, embedder {md(m['embedder'])}, "
        f"assignment {md(m['assign_mode'])}." + (f" Working space: {md(data.space)}." if data.space else ""),
        "",
        "## Clusters",
        "",
        "| # | name | explanation | size | share | est. precision | est. recall |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in data.clusters:
        precision, recall = (_checked(x) for x in (c.precision, c.recall))
        out.append(
            f"| {c.index + 1} | {md(c.name)} | {md(c.explanation)} | {c.size} | {_pct(c.share)} "
            f"| {precision} | {recall} |"
        )
    for c in data.clusters:
        out += ["", f"### {c.index + 1}. {md(c.name)}", "", md(c.explanation), "", "Examples:", ""]
        out += [f"- {md(clip(text, 300))} ({md(doc_id)})" for doc_id, text in c.representatives[:EXAMPLES]]
    if data.taxonomy is not None:
        out += _taxonomy(data.taxonomy)
    out += ["", f"## Unassigned documents ({len(data.unassigned)})", ""]
    shown = data.unassigned[:UNASSIGNED_SHOWN]
    out += [f"- {md(clip(text, 300))} ({md(doc_id)})" for doc_id, text in shown] or [
        "Every document is in a cluster."
    ]
    if len(data.unassigned) > len(shown):
        out.append(f"- … and {len(data.unassigned) - len(shown)} more (see assignments.csv)")
    out += ["", "## Cluster sizes", "", "| cluster | size | |", "|---|---|---|"]
    sizes = [(c.name, c.size) for c in data.clusters] + [("(unassigned)", len(data.unassigned))]
    biggest = max([size for _, size in sizes] + [1])
    out += [f"| {md(name)} | {size} | {'█' * round(BAR * size / biggest)} |" for name, size in sizes]
    out += ["", "## Overlap between clusters", "", "Documents in both clusters:", ""]
    out.append("| | " + " | ".join(str(c.index + 1) for c in data.clusters) + " |")
    out.append("|---" * (len(data.clusters) + 1) + "|")
    for c, row in zip(data.clusters, data.shared, strict=True):
        cells = ["—" if j == c.index else str(v) for j, v in enumerate(row)]
        out.append(f"| {c.index + 1}. {md(c.name)} | " + " | ".join(cells) + " |")
    out += ["", "## What the agent did", ""]
    out += ["| round | action | proposed | selected after the round | LLM-decided | coverage | overlap |"]
    out += ["|---|---|---|---|---|---|---|"]
    for h in data.history:
        out.append(
            f"| {h['iteration']} | {md(h['action'])} | {md(', '.join(h['proposed']))} | "
            f"{md(', '.join(h['selected']))} | {h['llm_decided']} | {_pct(h['coverage'])} "
            f"| {_pct(h['overlap'])} |"
        )
    if data.gold is not None:
        g = data.gold
        out += ["", "## Agreement with the gold labels", ""]
        out += [f"ACC {g.scores['acc']:.3f} · NMI {g.scores['nmi']:.3f} · ARI {g.scores['ari']:.3f}", ""]
        out.append("| cluster \\\\ gold label | " + " | ".join(md(label) for label in g.labels) + " |")
        out.append("|---" * (len(g.labels) + 1) + "|")
        for name, counts in zip(g.rows, g.counts, strict=True):
            out.append(f"| {md(name)} | " + " | ".join(str(v) for v in counts) + " |")
    out += ["", "The 2-D map of the documents is in report.html.", ""]
    return "\n".join(out)


def _taxonomy(taxonomy: TaxonomyView) -> list[str]:
    """The tree as a nested list: each node's id, name, size, share of its parent, estimated
    precision and explanation, indented under its parent."""
    out = [
        "",
        f"## Taxonomy: clusters within clusters ({taxonomy.levels} levels)",
        "",
        f"Clusters of {taxonomy.min_node_size} or more documents were clustered again, on their members, "
        "by a finer grain of the goal."
        + (
            f" These are the clusters of the run in {md(taxonomy.source)} as it left them: edits in the chat "
            "change the clusters above, not these."
            if taxonomy.source
            else ""
        ),
        "",
    ]
    for node in taxonomy.walk():
        out.append(
            f"{'  ' * (node.level - 1)}- **{md(node.id)} {md(node.name)}**: {node.size} documents "
            f"({_pct(node.share)} of {md(node.within)}), est. precision {_checked(node.precision)}. "
            f"{md(node.explanation)}"
            + (" The model found it contradicts its parent's explanation." if node.contradicts_parent else "")
            + (f" Not split: {md(node.not_split)}." if node.not_split else "")
        )
    if taxonomy.budget_spent:
        out += ["", "The LLM budget ran out: the tree stops with what exists."]
    return out


def _checked(figure: float | None) -> str:
    return "not checked" if figure is None else f"{figure:.2f}"
