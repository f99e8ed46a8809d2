from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pytest

from agent.llm import packaged
from agent.llm.packaged import PACKAGED_MODELS, ModelIntegrityError, ensure_model, is_assembled


def fake_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, sha: str | None = None
) -> packaged.PackagedModel:
    chunks = [b"GGUF" + bytes(range(50)), bytes(range(200)), b"tail"]
    paths = []
    for i, chunk in enumerate(chunks, start=1):
        path = tmp_path / f"part{i:02d}.bin"
        path.write_bytes(chunk)
        paths.append(path)
    whole = b"".join(chunks)
    model = replace(
        PACKAGED_MODELS["small"],
        key="tiny",
        parts=3,
        size=len(whole),
        sha256=sha or hashlib.sha256(whole).hexdigest(),
    )
    monkeypatch.setattr(packaged, "part_paths", lambda m: paths)
    return model


def test_parts_are_assembled_once_and_verified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = fake_model(tmp_path, monkeypatch)
    home = tmp_path / "home"
    seen: list[int] = []
    path = ensure_model(model, home, lambda done, total: seen.append(done))
    assert path.read_bytes().startswith(b"GGUF") and path.stat().st_size == model.size
    assert seen[-1] == model.size and is_assembled(model, home)
    monkeypatch.setattr(packaged, "part_paths", lambda m: pytest.fail("reassembled"))
    assert ensure_model(model, home) == path


def test_hash_mismatch_is_refused_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = fake_model(tmp_path, monkeypatch, sha="0" * 64)
    home = tmp_path / "home"
    with pytest.raises(ModelIntegrityError, match=r"does not match its published hash.*--force-reinstall"):
        ensure_model(model, home)
    assert list((home / "models").iterdir()) == []


def test_missing_packages_name_the_install(tmp_path: Path) -> None:
    model = replace(PACKAGED_MODELS["small"], dist_prefix="no-such-dist-part")
    with pytest.raises(ModelIntegrityError, match=r"not installed .*pip install 'goalcluster\[small\]'"):
        ensure_model(model, tmp_path)


def test_an_empty_stamp_from_a_killed_assembly_means_assemble_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = fake_model(tmp_path, monkeypatch)
    home = tmp_path / "home"
    path = ensure_model(model, home)
    path.with_suffix(".verified.json").write_text("")  # what a kill between open and write left
    assert not is_assembled(model, home)
    assert ensure_model(model, home) == path and is_assembled(model, home)
