"""Per-document arrays kept beside a run's checkpoint, not in it.

Each array is saved once under the sha256 of its content in ``<folder>/arrays/<hash>.npy``
(written whole or not at all); the run's state holds only the hash. A checkpoint then stays a few
kilobytes at any corpus size, a step that changes nothing per document writes nothing, and an old
checkpoint's arrays are still there when a run resumes from it.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np

from tools.files import DamagedFileError, write_atomic

FOLDER = "arrays"


def save_array(folder: Path, array: np.ndarray) -> str:
    """Keep ``array`` under ``folder/arrays`` and return its reference (the content's sha256)."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    data = buffer.getvalue()
    ref = hashlib.sha256(data).hexdigest()
    path = folder / FOLDER / f"{ref}.npy"
    if not path.exists():
        write_atomic(path, data)
    return ref


def load_array(folder: Path, ref: str) -> np.ndarray:
    """The array saved under ``ref``; :class:`DamagedFileError` if it is missing or altered."""
    path = folder / FOLDER / f"{ref}.npy"
    try:
        data = path.read_bytes()
    except FileNotFoundError as error:
        raise DamagedFileError(
            f"{path} is missing: the run's state refers to it. Fix: start the run again (--out elsewhere)."
        ) from error
    if hashlib.sha256(data).hexdigest() != ref:
        raise DamagedFileError(f"{path} does not match its hash. Fix: start the run again (--out elsewhere).")
    return np.load(io.BytesIO(data), allow_pickle=False)
