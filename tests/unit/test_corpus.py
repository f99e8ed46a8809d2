from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tools.corpus import CorpusError, load_corpus, sample_corpus


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_reads_every_format_to_the_same_corpus(tmp_path: Path) -> None:
    rows = [{"id": "a", "text": "card declined"}, {"id": "b", "text": "lost my card"}]
    frame = pd.DataFrame(rows)
    frame.to_csv(tmp_path / "c.csv", index=False)
    frame.to_csv(tmp_path / "c.tsv", index=False, sep="\t")
    frame.to_parquet(tmp_path / "c.parquet")
    write(tmp_path / "c.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    for name in ("c.csv", "c.tsv", "c.parquet", "c.jsonl"):
        corpus = load_corpus(tmp_path / name)
        assert corpus.ids == ["a", "b"], name
        assert corpus.texts == ["card declined", "lost my card"], name
    lines = load_corpus(write(tmp_path / "c.txt", "card declined\nlost my card\n"))
    assert lines.ids == ["0", "1"]
    assert lines.texts == ["card declined", "lost my card"]


def test_named_columns_and_generated_ids(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", "review,stars\nawful,1\ngreat,5\n")
    corpus = load_corpus(path, text_column="review", keep_columns=("stars",))
    assert corpus.texts == ["awful", "great"]
    assert corpus.ids == ["0", "1"]
    assert corpus.extra["stars"] == ["1", "5"]
    assert load_corpus(path, text_column="review", id_column="stars").ids == ["1", "5"]


def test_unknown_column_lists_the_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", "review,stars\nawful,1\n")
    with pytest.raises(CorpusError, match=r"'body' is not in .*'review', 'stars'"):
        load_corpus(path, text_column="body")
    with pytest.raises(CorpusError, match=r"--text-column with one of: 'review', 'stars'"):
        load_corpus(path)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "nope.csv")
    with pytest.raises(CorpusError, match="is a folder"):
        load_corpus(tmp_path)
    with pytest.raises(CorpusError, match="--format"):
        load_corpus(write(tmp_path / "x.docx", "hi"))


def test_empty_corpus(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"holds no documents|is empty"):
        load_corpus(write(tmp_path / "e.txt", ""))
    with pytest.raises(CorpusError, match="is empty"):
        load_corpus(write(tmp_path / "e.csv", ""))


def test_empty_texts_dropped_with_a_count_or_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", 'id,text\n1,hello\n2,"   "\n3,\n4,bye\n')
    corpus = load_corpus(path)
    assert corpus.ids == ["1", "4"]
    assert corpus.dropped_empty == 2
    with pytest.raises(CorpusError, match=r"2 document\(s\).*row 2, id '2'"):
        load_corpus(path, on_empty="error")
    with pytest.raises(CorpusError, match="every text"):
        load_corpus(write(tmp_path / "blank.csv", "id,text\n1, \n"))


def test_duplicate_ids_are_named(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "id,text\n1,a\n2,b\n1,c\n")
    with pytest.raises(CorpusError, match=r"repeats 1 id\(s\), e.g. '1'"):
        load_corpus(path)


def test_undecodable_bytes_name_the_line(tmp_path: Path) -> None:
    path = write(tmp_path / "b.txt", b"fine\nalso fine\ncaf\xe9 au lait\n")
    with pytest.raises(CorpusError, match=r"line 3, column 4: byte 0xe9 .*--encoding"):
        load_corpus(path)
    assert load_corpus(path, encoding="latin-1").texts[2] == "café au lait"


def test_bad_jsonl_line_is_named(tmp_path: Path) -> None:
    path = write(tmp_path / "j.jsonl", '{"text": "ok"}\n{"text": oops}\n')
    with pytest.raises(CorpusError, match="line 2: not valid JSON"):
        load_corpus(path)


def test_sample_is_seeded_and_keeps_order(tmp_path: Path) -> None:
    path = write(tmp_path / "s.txt", "\n".join(f"doc {i}" for i in range(100)))
    corpus = load_corpus(path)
    one, two = sample_corpus(corpus, 10, seed=3), sample_corpus(corpus, 10, seed=3)
    assert one.ids == two.ids and len(one) == 10
    assert [int(i) for i in one.ids] == sorted(int(i) for i in one.ids)
    assert sample_corpus(corpus, 10, seed=4).ids != one.ids
    assert sample_corpus(corpus, 500) is corpus


def test_texts_in_memory_get_the_same_checks() -> None:
    from tools.corpus import corpus_from_texts

    corpus = corpus_from_texts(["a", "  ", "c"], name="mine")
    assert (corpus.ids, corpus.texts, corpus.dropped_empty, corpus.name) == (
        ["0", "2"],
        ["a", "c"],
        1,
        "mine",
    )
    assert corpus_from_texts(["a", "b"], ids=[10, 11]).ids == ["10", "11"]
    with pytest.raises(CorpusError, match="1 ids for 2 texts"):
        corpus_from_texts(["a", "b"], ids=["x"])
    with pytest.raises(CorpusError, match=r"repeats 1 id\(s\), e.g. 'x'"):
        corpus_from_texts(["a", "b"], ids=["x", "x"])
    with pytest.raises(CorpusError, match="every text in the texts is empty"):
        corpus_from_texts(["", " "])


SEPARATORS = "\u2028\u2029\u0085\x0c\x1c"  # str.splitlines() splits at each; JSON writes them raw


def test_line_separators_inside_texts_survive_loading_resume_report_and_chat(tmp_path: Path) -> None:
    from fakes import FakeEmbedder, ScriptedBackend, answer_by_prompt, corpus_of_topics

    from agent.config import Config
    from goalcluster.chat.clustering import clusters_of_run
    from goalcluster.report.data import load_report
    from goalcluster.runner import resume_run, start_run
    from tools.corpus import Corpus

    ids, texts, _ = corpus_of_topics(per_topic=4)
    texts = [f"{text}{SEPARATORS[i % len(SEPARATORS)]}tail {i}" for i, text in enumerate(texts)]
    source = tmp_path / "docs.jsonl"
    source.write_text(
        "".join(
            json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n"
            for i, t in zip(ids, texts, strict=True)
        )
    )
    corpus = load_corpus(source)
    assert corpus.texts == texts and len(corpus) == 12
    plain = tmp_path / "docs.txt"
    plain.write_text("first\u2028still first\r\nsecond\x0cstill second\n", encoding="utf-8")
    assert load_corpus(plain).texts == ["first\u2028still first", "second\x0cstill second"]

    config = Config(home=tmp_path / "home", goal="why", view="semantic", assign_mode="embeddings",
                    spot_checks=1, annotate_samples=False, max_clusters=3, use_cache=False)  # fmt: skip
    backend = ScriptedBackend([answer_by_prompt()] * 50)
    run = tmp_path / "run"
    start_run(Corpus(ids=corpus.ids, texts=corpus.texts, name="docs"), config, run, backend=backend,
              embedder=FakeEmbedder(), quiet=True)  # fmt: skip
    again = resume_run(run, backend=ScriptedBackend([]), embedder=FakeEmbedder(), quiet=True)
    assert [a.id for a in again.assignments] == ids
    assert load_report(run).documents == 12
    assert sum(len(c.members) for c in clusters_of_run(run)) >= 12 * again.metrics["coverage"]


def test_csv_cells_a_spreadsheet_would_run_are_neutralised(tmp_path: Path) -> None:
    import csv

    from fakes import FakeEmbedder, ScriptedBackend, answer_by_prompt, corpus_of_topics

    from agent.config import Config
    from goalcluster.runner import start_run
    from tools.corpus import Corpus
    from tools.text import spreadsheet_safe

    assert [spreadsheet_safe(v) for v in ("=1+1", "+a", "-b", "@c", "\tx", "ok", 0.5)] == [
        "'=1+1", "'+a", "'-b", "'@c", "'\tx", "ok", 0.5
    ]  # fmt: skip
    ids, texts, _ = corpus_of_topics(per_topic=4)
    ids[0] = '=HYPERLINK("http://evil.example","x")'
    config = Config(home=tmp_path / "home", goal="why", view="semantic", assign_mode="embeddings",
                    spot_checks=0, annotate_samples=False, max_clusters=3, use_cache=False)  # fmt: skip
    backend = ScriptedBackend([answer_by_prompt()] * 20)
    corpus = Corpus(ids=ids, texts=texts, name="t")
    start_run(corpus, config, tmp_path / "run", backend=backend, embedder=FakeEmbedder(), quiet=True)
    with (tmp_path / "run" / "assignments.csv").open(encoding="utf-8") as rows:
        first = list(csv.reader(rows))[1]
    assert first[0] == "'" + ids[0]


def test_jsonl_ids_stay_as_written(tmp_path: Path) -> None:
    path = tmp_path / "ids.jsonl"
    path.write_text(
        '{"id": 1, "text": "a"}\n{"id": 2.5, "text": "b"}\n{"id": 9007199254740993, "text": "c"}\n'
    )
    assert load_corpus(path).ids == ["1", "2.5", "9007199254740993"]


def test_a_text_file_of_blank_lines_is_named_without_columns(tmp_path: Path) -> None:
    path = tmp_path / "blank.txt"
    path.write_text("  \n\t\n \n")
    with pytest.raises(CorpusError, match=r"in .*blank.txt \(one text per line\) is empty\. Check that"):
        load_corpus(path)
