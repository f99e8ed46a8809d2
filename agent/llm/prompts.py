"""Loads prompt files from ``prompts/`` by name and renders them (Jinja, StrictUndefined)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import jinja2

PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts"


class PromptLibrary:
    """The prompt files in ``directory``; a missing variable fails loudly."""

    def __init__(self, directory: Path = PROMPTS_DIR) -> None:
        self.directory = directory
        self._env = _environment(directory)

    def __getstate__(self) -> dict[str, Any]:
        return {"directory": self.directory}  # a Jinja environment does not pickle; it is rebuilt

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.directory = state["directory"]
        self._env = _environment(self.directory)

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.directory.glob("*.j2"))

    def digest(self, name: str) -> str:
        """sha256 of the prompt file's text: part of the identity of what it produces."""
        return hashlib.sha256((self.directory / f"{name}.j2").read_bytes()).hexdigest()

    def render(self, name: str, variables: dict[str, Any]) -> str:
        try:
            template = self._env.get_template(f"{name}.j2")
        except jinja2.TemplateNotFound as error:
            raise KeyError(f"no prompt file {name}.j2 in {self.directory}") from error
        return template.render(**variables).strip()


def _environment(directory: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(directory)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # Text that is data (a document, a reply quoting documents) inside a prompt: one JSON string,
    # so that nothing in it can pass for the prompt's own words.
    env.filters["quoted"] = lambda value: json.dumps(str(value), ensure_ascii=False)
    return env
