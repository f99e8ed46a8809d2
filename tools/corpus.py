"""Load a corpus of texts from CSV, TSV, JSONL, Parquet or plain text (one document per line).

Every failure raises :class:`CorpusError` with a message that names the problem and the fix.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from tools.text import text_lines

FORMATS = ("csv", "tsv", "jsonl", "parquet", "text")
_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".txt": "text",
    ".text": "text",
}
_TEXT_COLUMN_GUESSES = ("text", "content", "document", "body", "sentence")


class CorpusError(ValueError):
    """The corpus cannot be loaded; the message says why and how to fix it."""


@dataclass(frozen=True)
class Corpus:
    """Documents in file order.

    ids: one unique string id per document (from the id column, or the row number).
    texts: the document texts, never empty or whitespace-only.
    name: a short name for the corpus (the file's stem, or its folder for ``data.jsonl``).
    dropped_empty: how many rows were dropped because their text was empty.
    """

    ids: list[str]
    texts: list[str]
    name: str = "corpus"
    dropped_empty: int = 0
    extra: dict[str, list[object]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)


def corpus_name(path: Path) -> str:
    """A readable name: ``syngoalex`` for ``.../syngoalex/data.jsonl``, else the file stem."""
    return path.parent.name if path.stem == "data" and path.parent.name else path.stem


def detect_format(path: Path) -> str:
    """The format implied by the file's suffix, or a CorpusError naming the choices."""
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise CorpusError(
            f"cannot tell the format of {path} from its suffix {path.suffix!r}. "
            f"Rename it to one of {', '.join(sorted(_SUFFIXES))} or pass --format "
            f"({', '.join(FORMATS)})."
        )
    return fmt


def load_corpus(
    path: str | Path,
    *,
    text_column: str | None = None,
    id_column: str | None = None,
    fmt: str | None = None,
    encoding: str = "utf-8",
    on_empty: Literal["drop", "error"] = "drop",
    keep_columns: tuple[str, ...] = (),
) -> Corpus:
    """Read ``path`` into a :class:`Corpus`.

    text_column: the column holding the text (default: ``text`` or the only text-like column).
    id_column: the column holding unique ids (default: ``id`` if present, else the row number).
    on_empty: drop empty/whitespace-only texts (counted in ``dropped_empty``) or raise.
    keep_columns: other columns to carry along in ``Corpus.extra`` (e.g. gold labels).
    """
    path = Path(path)
    if not path.exists():
        raise CorpusError(f"{path} does not exist. Check the path (relative paths start at {Path.cwd()}).")
    if path.is_dir():
        raise CorpusError(f"{path} is a folder. Pass a file: CSV, TSV, JSONL, Parquet or text.")
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise CorpusError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    frame = _read_frame(path, fmt, encoding)
    if frame.empty:
        raise CorpusError(f"{path} holds no documents. Check that it is the right file.")
    text_column = _pick_text_column(frame, text_column, path)
    id_column = _pick_id_column(frame, id_column, path)
    for column in keep_columns:
        _require_column(frame, column, path, "column")
    return _build_corpus(frame, path, fmt == "text", text_column, id_column, on_empty, keep_columns)


def _build_corpus(
    frame: pd.DataFrame,
    path: Path,
    lines: bool,
    text_column: str,
    id_column: str | None,
    on_empty: Literal["drop", "error"],
    keep_columns: tuple[str, ...],
) -> Corpus:
    texts = ["" if _is_missing(value) else str(value) for value in frame[text_column]]
    ids = None if id_column is None else ["" if _is_missing(v) else str(v) for v in frame[id_column]]
    return corpus_from_texts(
        texts,
        ids,
        name=corpus_name(path),
        on_empty=on_empty,
        extra={column: frame[column].tolist() for column in keep_columns},
        texts_from=f"{path} (one text per line)" if lines else f"column {text_column!r} of {path}",
        if_all_empty="Check that it is the right file." if lines else "Pick another --text-column.",
        ids_from=f"id column {id_column!r} of {path}",
    )


def corpus_from_texts(
    texts: Sequence[str],
    ids: Sequence[str] | None = None,
    *,
    name: str = "corpus",
    on_empty: Literal["drop", "error"] = "drop",
    extra: dict[str, list[object]] | None = None,
    texts_from: str = "the texts",
    ids_from: str = "the ids",
    if_all_empty: str = "Pick another --text-column, or pass texts.",
) -> Corpus:
    """A :class:`Corpus` from texts in memory (ids default to positions), with the same checks
    as a file: unique, non-empty ids; empty texts dropped and counted, or refused."""
    texts = [str(text) for text in texts]
    if ids is None:
        ids = [str(i) for i in range(len(texts))]
    else:
        ids = [str(i) for i in ids]
        _check_ids(ids, len(texts), ids_from)
    keep = [i for i, text in enumerate(texts) if text.strip()]
    dropped = len(texts) - len(keep)
    if dropped and on_empty == "error":
        first = next(i for i, text in enumerate(texts) if not text.strip())
        raise CorpusError(
            f"{dropped} document(s) in {texts_from} have empty text "
            f"(first: row {first + 1}, id {ids[first]!r}). "
            "Fill them in, or drop them (the default, without --error-on-empty)."
        )
    if not keep:
        raise CorpusError(f"every text in {texts_from} is empty. {if_all_empty}")
    return Corpus(
        ids=[ids[i] for i in keep],
        texts=[texts[i] for i in keep],
        name=name,
        dropped_empty=dropped,
        extra={column: [values[i] for i in keep] for column, values in (extra or {}).items()},
    )


def _read_frame(path: Path, fmt: str, encoding: str) -> pd.DataFrame:
    if fmt == "parquet":
        try:
            return pd.read_parquet(path)
        except (OSError, ValueError) as error:
            raise CorpusError(f"{path} is not a readable Parquet file ({error}).") from error
    text = _decode(path, encoding)
    if fmt == "text":
        return pd.DataFrame({"text": text_lines(text)})
    if fmt == "jsonl":
        return _read_jsonl(text, path)
    try:
        return pd.read_csv(
            io.StringIO(text), sep="\t" if fmt == "tsv" else ",", dtype=str, keep_default_na=False
        )
    except pd.errors.EmptyDataError as error:
        raise CorpusError(f"{path} is empty. Check that it is the right file.") from error
    except pd.errors.ParserError as error:
        raise CorpusError(
            f"{path} is not valid {fmt.upper()}: {error}. Fix the quoting on that line."
        ) from error


def _decode(path: Path, encoding: str) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        bad = raw[error.start : error.start + 1].hex()
        raise CorpusError(
            f"{path}, line {line}, column {column}: byte 0x{bad} is not valid {encoding}. "
            f"Re-save the file as UTF-8, or pass --encoding with its real encoding (e.g. latin-1)."
        ) from error


def _read_jsonl(text: str, path: Path) -> pd.DataFrame:
    rows = []
    for number, line in enumerate(text_lines(text), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise CorpusError(
                f"{path}, line {number}: not valid JSON ({error.msg}). Each line must be one JSON object."
            ) from error
        if not isinstance(row, dict):
            raise CorpusError(f"{path}, line {number}: expected a JSON object, got {type(row).__name__}.")
        rows.append(row)
    return pd.DataFrame(rows, dtype=object)  # ids 1, 2.5, 2**53 + 1 stay as written, not 1.0 ...


def _pick_text_column(frame: pd.DataFrame, requested: str | None, path: Path) -> str:
    if requested is not None:
        _require_column(frame, requested, path, "text column")
        return requested
    for guess in _TEXT_COLUMN_GUESSES:
        if guess in frame.columns:
            return guess
    if len(frame.columns) == 1:
        return str(frame.columns[0])
    raise CorpusError(
        f"{path} has no column named 'text'. Pass --text-column with one of: {_columns(frame)}."
    )


def _pick_id_column(frame: pd.DataFrame, requested: str | None, path: Path) -> str | None:
    if requested is not None:
        _require_column(frame, requested, path, "id column")
        return requested
    return "id" if "id" in frame.columns else None


def _require_column(frame: pd.DataFrame, column: str, path: Path, role: str) -> None:
    if column not in frame.columns:
        raise CorpusError(f"{role} {column!r} is not in {path}. Its columns are: {_columns(frame)}.")


def _check_ids(ids: list[str], n_texts: int, ids_from: str) -> None:
    if len(ids) != n_texts:
        raise CorpusError(f"{len(ids)} ids for {n_texts} texts in {ids_from}: pass one id per text.")
    missing = sum(1 for value in ids if not value)
    if missing:
        raise CorpusError(
            f"{missing} row(s) have no value in {ids_from}. "
            "Fill them in, or leave out --id-column to number the rows."
        )
    duplicates = [value for value, count in Counter(ids).items() if count > 1]
    if duplicates:
        shown = ", ".join(repr(value) for value in duplicates[:5])
        raise CorpusError(
            f"{ids_from} repeats {len(duplicates)} id(s), e.g. {shown}. "
            "Ids must be unique: fix the column, or leave out --id-column to number the rows."
        )


def _columns(frame: pd.DataFrame) -> str:
    return ", ".join(repr(str(column)) for column in frame.columns)


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def sample_corpus(corpus: Corpus, n: int | None, seed: int = 0) -> Corpus:
    """A seeded random sample of ``n`` documents (in file order); the whole corpus if n is None."""
    if n is None or n >= len(corpus):
        return corpus
    if n < 1:
        raise CorpusError(f"--sample must be at least 1, got {n}.")
    import numpy as np

    keep = sorted(np.random.default_rng(seed).choice(len(corpus), size=n, replace=False).tolist())
    return Corpus(
        ids=[corpus.ids[i] for i in keep],
        texts=[corpus.texts[i] for i in keep],
        name=corpus.name,
        dropped_empty=corpus.dropped_empty,
        extra={key: [values[i] for i in keep] for key, values in corpus.extra.items()},
    )
