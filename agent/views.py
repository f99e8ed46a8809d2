"""Views: what turns a text into a vector of the space the agent works in.

- The semantic view is the sentence embedder (``tools/embedders.py``).
- The goal view (:class:`GoalView`) is the chat model's last-token hidden state at the end of a
  prompt that asks for the text's ``<aspect>``, shows the text and begins the answer "The <aspect>
  of this text is:" (``prompts/goal_view.j2``): one forward pass per text, no generated token.
  The question comes before the text, so every prompt opens with the same tokens and the model
  reads them once (the hidden-state backends keep that prefix's keys and values);
  ``goal_view_text_first`` is the measured original, the text first.
- A hosted chat model exposes no hidden states; there :class:`NotesView` asks it for a short note
  on each text's aspect and embeds the notes with the semantic embedder (one generated answer
  per text: much slower).

Both goal views are :class:`tools.embedders.Embedder` s whose ``name`` is their identity (model
weights, prompt file and aspect), so the store keeps their vectors apart and a rerun, a resume or
a chat's new clustering with the same aspect computes nothing again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from agent.llm.helper import LLM
from agent.llm.hidden import HiddenStates
from agent.llm.prompts import PromptLibrary
from agent.schemas import Annotation
from tools.embedders import Embedder
from tools.text import clip

GOAL_VIEW_PROMPT = "goal_view"
GOAL_VIEW_PROMPTS = ("goal_view", "goal_view_text_first")
NOTE_PROMPT = "annotate"


@dataclass
class GoalView:
    """Hidden states of ``states``' model under the question about ``aspect``."""

    states: HiddenStates
    aspect: str
    prompts: PromptLibrary
    text_chars: int = 400
    prompt: str = GOAL_VIEW_PROMPT

    @property
    def name(self) -> str:
        prompt = self.prompts.digest(self.prompt)[:12]
        return f"goal|{self.states.model_id}|{prompt}|{self.text_chars}|{self.aspect}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        prompts = [
            self.prompts.render(self.prompt, {"text": clip(t, self.text_chars), "aspect": self.aspect})
            for t in texts
        ]
        return self.states.last_states(prompts)

    def count_truncated(self, texts: Sequence[str]) -> int:
        return sum(1 for text in texts if len(" ".join(text.split())) > self.text_chars)


@dataclass
class NotesView:
    """A goal view for models without hidden states: the LLM's note on each text's aspect (one
    short generated answer per text), embedded by the semantic embedder."""

    llm: LLM
    embedder: Embedder
    aspect: str
    goal: str
    text_chars: int = 400

    @property
    def name(self) -> str:
        prompt = self.llm.prompts.digest(NOTE_PROMPT)[:12]
        return f"notes|{self.llm.backend.model_id}|{prompt}|{self.embedder.name}|{self.aspect}|{self.goal}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        notes = [
            self.llm.attempt(
                NOTE_PROMPT, {"goal": self.goal, "text": clip(text, self.text_chars)}, Annotation
            )
            for text in texts
        ]  # no valid note: the text stands for itself
        return self.embedder.embed(
            [
                f"{self.aspect}: {text if note is None else note.value}"
                for note, text in zip(notes, texts, strict=True)
            ]
        )

    def count_truncated(self, texts: Sequence[str]) -> int:
        return sum(1 for text in texts if len(" ".join(text.split())) > self.text_chars)
