"""Extend a view computed on a sample to every document (TnT-LLM style: an expensive model on a
sample, a cheap learner for the rest).

The learner is kernel ridge regression with a linear kernel over cheap features of each text (its
semantic-view vector and its character 2-4-gram TF-IDF, each block of unit length), predicting the
sample's view vectors reduced to their leading principal components. The ridge strength is chosen
by exact leave-one-out error on the sample. The corpus-wide passes run in blocks through an
executor (``tools/executor.py``), so on Ray they are tasks over data put once in the object store.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.preprocessing import normalize
from sklearn.utils import check_random_state

from tools.executor import Executor, LocalExecutor
from tools.prototypes import normalise

COMPONENTS = 256
N_FEATURES = 2**18
BLOCK = 4096  # documents per block of the corpus-wide passes
RIDGE_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)


def sample_rows(n: int, size: int, seed: int) -> list[int]:
    """A seeded uniform sample of ``size`` positions out of ``n``, in increasing order."""
    rng = check_random_state(seed)
    return sorted(int(i) for i in rng.choice(n, size=min(size, n), replace=False))


def _hashed(texts: Sequence[str]) -> csr_matrix:
    """Raw counts of each text's character 2-4-grams, hashed to 2**18 columns (stateless)."""
    return csr_matrix(
        HashingVectorizer(
            analyzer="char_wb", ngram_range=(2, 4), n_features=N_FEATURES, alternate_sign=False, norm=None
        ).transform(texts)
    )


def _document_frequency(start: int, stop: int, texts: Sequence[str]) -> np.ndarray:
    """How many of ``texts[start:stop]`` hold each hashed n-gram (N_FEATURES,)."""
    counts = _hashed(texts[start:stop])
    return np.bincount(counts.indices, minlength=N_FEATURES)


def char_features(texts: Sequence[str], idf: np.ndarray | None = None) -> csr_matrix:
    """Character 2-4-gram TF-IDF rows of unit length (n, 2**18), sparse: sublinear term frequency
    times ``idf`` (default: the smoothed idf of ``texts`` themselves), as scikit-learn's
    ``TfidfTransformer(sublinear_tf=True)`` computes them."""
    counts = _hashed(texts)
    if idf is None:
        idf = inverse_document_frequency(np.bincount(counts.indices, minlength=N_FEATURES), len(texts))
    counts.data = (np.log(counts.data) + 1.0) * idf[counts.indices]
    return csr_matrix(normalize(counts))


def inverse_document_frequency(frequency: np.ndarray, n: int) -> np.ndarray:
    """Smoothed idf, ``ln((1 + n) / (1 + df)) + 1``, from document frequencies of ``n`` texts."""
    return np.log((1.0 + n) / (1.0 + frequency)) + 1.0


def extend_view(
    semantic: np.ndarray,
    texts: Sequence[str],
    rows: Sequence[int],
    known: np.ndarray,
    executor: Executor | None = None,
) -> np.ndarray:
    """Vectors (n, c) for every document: the sample's own (``known``, (len(rows), d), at ``rows``)
    projected on their first c <= 256 principal components, the rest predicted from cheap features.
    Rows are of unit length. The corpus-wide passes (n-gram document frequencies, the prediction)
    go through ``executor`` in blocks of ``BLOCK`` documents (default: in this process)."""
    executor = executor or LocalExecutor()
    at = np.asarray(rows, dtype=int)
    mean = known.mean(axis=0)
    _, _, basis = np.linalg.svd(known - mean, full_matrices=False)
    basis = basis[:COMPONENTS]
    targets = (known - mean) @ basis.T
    n = len(texts)
    idf = inverse_document_frequency(
        np.sum(executor.map_blocks(_document_frequency, n, BLOCK, texts), axis=0), n
    )
    sample_chars = char_features([texts[i] for i in at], idf)
    weights = _ridge(semantic[at] @ semantic[at].T + (sample_chars @ sample_chars.T).toarray(), targets)
    parts = executor.map_blocks(_predict, n, BLOCK, texts, semantic, idf, semantic[at], sample_chars, weights)
    out = np.concatenate(parts).astype(np.float32)
    out[at] = targets
    return normalise(out)


def _predict(
    start: int,
    stop: int,
    texts: Sequence[str],
    semantic: np.ndarray,
    idf: np.ndarray,
    sample_semantic: np.ndarray,
    sample_chars: csr_matrix,
    weights: np.ndarray,
) -> np.ndarray:
    """The predicted vectors (stop - start, c) of one block of documents."""
    chars = char_features(texts[start:stop], idf)
    cross = semantic[start:stop] @ sample_semantic.T + (chars @ sample_chars.T).toarray()
    return np.asarray(cross @ weights, dtype=np.float32)


def _ridge(kernel: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Dual ridge weights (m, c) for the kernel (m, m), with the strength of least leave-one-out error."""
    values, vectors = np.linalg.eigh(kernel)
    values = np.maximum(values, 0.0)
    projected = vectors.T @ targets
    best: tuple[float, np.ndarray] | None = None
    for strength in RIDGE_GRID:
        shrink = values / (values + strength)
        fitted = vectors @ (shrink[:, None] * projected)
        leverage = np.einsum("ij,j,ij->i", vectors, shrink, vectors)
        loo = ((targets - fitted) / np.maximum(1 - leverage, 1e-6)[:, None]) ** 2
        error = float(loo.mean())
        if best is None or error < best[0]:
            best = (error, vectors @ (projected / (values + strength)[:, None]))
    assert best is not None
    return np.asarray(best[1], dtype=np.float32)
