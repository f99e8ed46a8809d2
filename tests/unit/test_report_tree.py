"""The reports of a tree run: the taxonomy as nested, collapsible nodes and an icicle chart in the
HTML, a nested list in the Markdown, every name and text escaped; a flat run shows neither."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
from trees import HOSTILE, HOSTILE_EXPLANATION, HOSTILE_TEXT, flag_contradiction, make_hostile, tree_run

from goalcluster.report import load_report, render_html, render_markdown
from goalcluster.report.icicle import WIDTH, icicle
from goalcluster.report.taxonomy import NodeView, TaxonomyView


class Page(HTMLParser):
    """What a browser would build from the page: each tree node's summary text with its depth of
    nested <details>, each icicle rectangle with its tooltip, and every tag opened."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.summaries: list[tuple[int, str]] = []
        self.rects: list[dict[str, str]] = []
        self._depth = 0
        self._in: str = ""
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "details" and ("class", "tree-node") in attrs:
            self._depth += 1
        elif tag == "summary" and self._depth:
            self.summaries.append((self._depth, ""))
            self._in = "summary"
        elif tag == "rect" and ("height", "34") in attrs:
            self.rects.append({k: v or "" for k, v in attrs} | {"title": ""})
        elif tag == "title" and self.rects:
            self._in = "title"

    def handle_endtag(self, tag: str) -> None:
        if tag == "details" and self._depth:
            self._depth -= 1
        if tag in ("summary", "title"):
            self._in = ""

    def handle_data(self, data: str) -> None:
        if self._in == "summary":
            depth, text = self.summaries[-1]
            self.summaries[-1] = (depth, text + data)
        elif self._in == "title":
            self.rects[-1]["title"] += data


@pytest.fixture(scope="module")
def hostile_tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A finished two-level tree run, one of its second-level nodes made hostile; (folder, its id)."""
    folder = tree_run(tmp_path_factory.mktemp("tree"))
    return folder, make_hostile(folder)


def test_html_shows_the_tree_as_nested_nodes_with_examples_all_escaped(
    hostile_tree: tuple[Path, str],
) -> None:
    folder, hostile = hostile_tree
    page = render_html(load_report(folder))
    parsed = Page(page)
    assert "script" not in parsed.tags and "img" not in parsed.tags and "<b>refused" not in page
    shown = [(depth, " ".join(text.split())) for depth, text in parsed.summaries]
    assert [depth for depth, _ in shown] == [1, 2, 2, 1, 2, 2]  # each top cluster, its two within it
    assert shown[0][1].startswith(
        "Card c1 · 16 documents (50.0% of all documents) · estimated precision 1.00"
    )
    parent = hostile.split(".")[0]
    mine = next(text for _, text in shown if f" {hostile} " in text)
    assert mine.startswith(f"{HOSTILE} {hostile} · 8 documents (50.0% of {parent})")  # text, not a tag
    assert "The card was declined &amp; &lt;b&gt;refused&lt;/b&gt;." in page
    assert page.count('<ul class="examples">') == 6  # a few member texts behind every node
    assert HOSTILE_TEXT.replace("<", "&lt;").replace(">", "&gt;") in page  # the example, as text


def test_html_icicle_has_a_rectangle_per_node_sized_by_documents(hostile_tree: tuple[Path, str]) -> None:
    folder, hostile = hostile_tree
    page = render_html(load_report(folder))
    rects = Page(page).rects
    assert len(rects) == 6 and page.count('<svg class="icicle"') == 1
    by_id = {r["title"].split()[0]: r for r in rects}
    assert by_id[hostile]["title"].startswith(f"{hostile} {HOSTILE}: 8 documents")
    assert HOSTILE_EXPLANATION in by_id[hostile]["title"]
    top = [r for r in rects if r["y"] == "0"]
    assert len(top) == 2 and all(float(r["width"]) == pytest.approx(WIDTH / 2, abs=1.5) for r in top)
    for node, r in by_id.items():  # each child within its parent's span, half of it
        if "." in node:
            outer = by_id[node.rsplit(".", 1)[0]]
            assert float(outer["x"]) <= float(r["x"])
            assert float(r["x"]) + float(r["width"]) <= float(outer["x"]) + float(outer["width"]) + 0.5
            assert float(r["width"]) == pytest.approx(float(outer["width"]) / 2, abs=1.5)
            assert r["y"] == "36"


def test_markdown_shows_the_tree_as_a_nested_list(hostile_tree: tuple[Path, str]) -> None:
    folder, hostile = hostile_tree
    text = render_markdown(load_report(folder))
    assert "<script>" not in text and "<b>" not in text and "<img" not in text
    section = text.split("## Taxonomy: clusters within clusters (2 levels)")[1].split("\n## ")[0]
    items = [line for line in section.splitlines() if line.lstrip().startswith("- **")]
    assert len(items) == 6
    assert (
        items[0]
        == "- **c1 Card**: 16 documents (50.0% of all documents), est. precision 1.00. card card card"
    )
    parent = hostile.split(".")[0]
    assert (
        f"  - **{hostile} &lt;script&gt;alert(1)&lt;/script&gt;**: 8 documents (50.0% of {parent}), "
        "est. precision 1.00. The card was declined &amp; &lt;b&gt;refused&lt;/b&gt;."
    ) in items
    assert [line.startswith("  - ") for line in items] == [False, True, True, False, True, True]


def test_only_a_tree_run_has_a_taxonomy_in_its_reports(tmp_path: Path) -> None:
    tree = load_report(tree_run(tmp_path / "tree"))
    assert tree.taxonomy is not None and [n.id for n in tree.taxonomy.roots] == ["c1", "c2"]
    assert 'id="taxonomy"' in render_html(tree) and "## Taxonomy" in render_markdown(tree)
    flat = load_report(tree_run(tmp_path / "flat", levels=1))
    assert flat.taxonomy is None
    assert "taxonomy" not in render_html(flat).lower() and "Taxonomy" not in render_markdown(flat)


def node(node_id: str, size: int, *children: NodeView) -> NodeView:
    return NodeView(
        id=node_id,
        level=node_id.count(".") + 1,
        name=node_id,
        explanation="",
        size=size,
        share=0.0,
        within="",
        precision=None,
        recall=None,
        top=0,
        representatives=[],
        children=list(children),
    )


def test_icicle_leaves_a_gap_for_unassigned_members_and_fits_overlapping_children() -> None:
    roots = [
        node("c1", 10, node("c1.c1", 4), node("c1.c2", 1)),  # half of c1's documents are in neither
        node("c2", 10, node("c2.c1", 10), node("c2.c2", 10)),  # every document of c2 is in both
    ]
    chart = icicle(
        TaxonomyView(levels=2, min_node_size=2, documents=40, roots=roots, not_split={}, budget_spent=False)
    )
    x = {r["title"].split()[0]: (r["x"], r["x"] + r["width"]) for r in chart["rects"]}
    assert x["c1"] == (0.0, pytest.approx(WIDTH / 4 - 1)) and x["c2"][0] == WIDTH / 4  # 20 of 40 unassigned
    assert x["c1.c2"][1] == pytest.approx(WIDTH / 8 - 1)  # c1.c1 and c1.c2 fill half of c1
    assert x["c2.c1"] == (WIDTH / 4, pytest.approx(WIDTH * 3 / 8 - 1))  # narrowed to half of c2 each
    assert x["c2.c2"][1] == pytest.approx(WIDTH / 2 - 1)
    assert chart["height"] == 2 * 36


def test_a_child_found_to_contradict_its_parent_says_so_in_both_reports(tmp_path: Path) -> None:
    folder = tree_run(tmp_path)
    flag_contradiction(folder, "Stolen")
    report = load_report(folder)
    html, text = render_html(report), render_markdown(report)
    assert html.count("The model found this explanation contradicts its parent’s.") == 1
    stolen = next(line for line in text.splitlines() if "Stolen**" in line)
    assert stolen.endswith("The model found it contradicts its parent's explanation.")
    assert text.count("contradicts its parent") == 1
