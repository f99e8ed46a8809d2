"""Extend a view computed on a sample to every document (TnT-LLM style: an expensive model on a
sample, a cheap learner for the rest).

The learner is kernel ridge regression with a linear kernel over cheap features of each text (its
semantic-view vector and its character 2-4-gram TF-IDF, each block of unit length), predicting the
sample's view vectors reduced to their leading principal components. The ridge strength is chosen
by exact leave-one-out error on the sample.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.utils import check_random_state

from tools.prototypes import normalise

COMPONENTS = 256
RIDGE_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)


def sample_rows(n: int, size: int, seed: int) -> list[int]:
    """A seeded uniform sample of ``size`` positions out of ``n``, in increasing order."""
    rng = check_random_state(seed)
    return sorted(int(i) for i in rng.choice(n, size=min(size, n), replace=False))


def char_features(texts: Sequence[str]) -> csr_matrix:
    """Character 2-4-gram TF-IDF rows of unit length (n, 2**18), sparse."""
    hashed = HashingVectorizer(
        analyzer="char_wb", ngram_range=(2, 4), n_features=2**18, alternate_sign=False, norm=None
    ).transform(texts)
    return csr_matrix(TfidfTransformer(sublinear_tf=True).fit_transform(hashed))


def extend_view(
    semantic: np.ndarray, texts: Sequence[str], rows: Sequence[int], known: np.ndarray
) -> np.ndarray:
    """Vectors (n, c) for every document: the sample's own (``known``, (len(rows), d), at ``rows``)
    projected on their first c <= 256 principal components, the rest predicted from cheap features.
    Rows are of unit length."""
    at = np.asarray(rows, dtype=int)
    mean = known.mean(axis=0)
    _, _, basis = np.linalg.svd(known - mean, full_matrices=False)
    basis = basis[:COMPONENTS]
    targets = (known - mean) @ basis.T
    chars = char_features(texts)
    kernel = semantic[at] @ semantic[at].T + (chars[at] @ chars[at].T).toarray()
    weights = _ridge(kernel, targets)
    out = np.zeros((len(texts), len(basis)), dtype=np.float32)
    for start in range(0, len(texts), 4096):
        part = slice(start, start + 4096)
        cross = semantic[part] @ semantic[at].T + (chars[part] @ chars[at].T).toarray()
        out[part] = cross @ weights
    out[at] = targets
    return normalise(out)


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
