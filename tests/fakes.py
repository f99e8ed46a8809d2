"""Fakes at the project's own seams: a scripted chat backend and a deterministic embedder."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from agent.llm.backends import Completion, Message

Answer = str | dict[str, Any] | Callable[[Sequence[Message], dict[str, Any]], str | dict[str, Any]]


class ScriptedBackend:
    """Answers from a queue (text, a dict sent as JSON, or a function of the request); records calls.

    With an empty queue it raises, so a test notices an LLM call it did not expect.
    """

    def __init__(
        self, answers: Sequence[Answer] = (), *, model_id: str = "scripted", tokens: int = 10
    ) -> None:
        self.queue: list[Answer] = list(answers)
        self.calls: list[list[Message]] = []
        self.tokens = tokens
        self._model_id = model_id

    @property
    def model_id(self) -> str:
        return self._model_id

    def enqueue(self, *answers: Answer) -> None:
        self.queue.extend(answers)

    def complete(self, messages: Sequence[Message], schema: dict[str, Any], *, max_tokens: int) -> Completion:
        self.calls.append(list(messages))
        if not self.queue:
            raise AssertionError(f"unexpected LLM call #{len(self.calls)}: {messages[-1]['content'][:200]}")
        answer = self.queue.pop(0)
        if callable(answer):
            answer = answer(messages, schema)
        text = answer if isinstance(answer, str) else json.dumps(answer)
        return Completion(text=text, prompt_tokens=self.tokens, completion_tokens=self.tokens)


class FakeHiddenStates:
    """Goal-view hidden states at the project's seam: reads the text and the aspect back out of the
    rendered goal-view prompt; the vector is the bag of the text's ``<aspect>=<value>`` tags (for
    aspect "language", the words tagged ``language=...``), or of all its words when it has none.
    Counts the prompts it was given."""

    def __init__(self, dim: int = 64, *, model_id: str = "fake-hidden") -> None:
        self.dim = dim
        self.prompts: list[str] = []
        self._model_id = model_id

    @property
    def model_id(self) -> str:
        return self._model_id

    def last_states(self, prompts: Sequence[str]) -> np.ndarray:
        self.prompts.extend(prompts)
        out = np.zeros((len(prompts), self.dim), dtype=np.float32)
        for row, prompt in enumerate(prompts):
            text = prompt.split('Text: "', 1)[-1].rsplit('"', 1)[0]
            aspect = re.search(r"What is the (.+?) of (?:this text|the text below)\?", prompt)
            key = (aspect.group(1) if aspect else "").replace(" ", "_")
            words = re.findall(rf"{re.escape(key)}=(\w+)", text) if key else []
            for word in words or re.findall(r"\w+", text.lower()):
                out[row, _slot(f"{key}:{word}", self.dim)] += 1.0
        out[:, 0] += 1e-3
        return out


def _slot(word: str, dim: int) -> int:
    return int(hashlib.md5(word.encode()).hexdigest(), 16) % dim


def tag_of(text: str, aspect: str) -> str:
    """The value of ``aspect`` tagged in ``text`` (``aspect=value``), or ''."""
    found = re.search(rf"{re.escape(aspect.replace(' ', '_'))}=(\w+)", text)
    return found.group(1) if found else ""


class FakeEmbedder:
    """Deterministic bag-of-words vectors: texts sharing words are close. Counts what it embeds."""

    def __init__(self, dim: int = 64, *, max_words: int = 1000) -> None:
        self.dim = dim
        self.max_words = max_words
        self.embedded: list[str] = []

    @property
    def name(self) -> str:
        return f"fake-bow-{self.dim}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.embedded.extend(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                slot = int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim
                out[row, slot] += 1.0
        out[:, 0] += 1e-3  # no zero vectors
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def count_truncated(self, texts: Sequence[str]) -> int:
        return sum(1 for text in texts if len(text.split()) > self.max_words)


def corpus_of_topics(per_topic: int = 12) -> tuple[list[str], list[str], list[str]]:
    """(ids, texts, gold topic) for three well-separated topics the fake embedder can tell apart."""
    topics = {
        "card": ["card declined payment", "payment refused card shop", "my card payment failed"],
        "parcel": ["parcel delivery late", "where is my parcel delivery", "parcel never arrived"],
        "password": ["password reset login", "cannot login password", "forgot my password reset"],
    }
    ids, texts, gold = [], [], []
    for topic, phrases in topics.items():
        for i in range(per_topic):
            ids.append(f"{topic}-{i}")
            texts.append(f"{phrases[i % len(phrases)]} {topic} number {i}")
            gold.append(topic)
    return ids, texts, gold


TOPIC_PROPOSAL = {
    "clusters": [
        {"name": "Card payments", "explanation": "card payment declined refused"},
        {"name": "Parcel delivery", "explanation": "parcel delivery late arrived"},
        {"name": "Password login", "explanation": "password reset login"},
    ]
}


def answer_by_prompt(
    proposal: dict[str, Any] = TOPIC_PROPOSAL,
    *,
    choice: int = 1,
    judge: str = "yes",
    aspect: str = "topic",
    reads: str = "",
) -> Callable[[Sequence[Message], dict[str, Any]], dict[str, Any]]:
    """An answer function for ScriptedBackend that answers any of the agent's prompts.

    The judge answers ``judge`` ("words": yes when the description and the text share a word of four
    letters or more). The goal's aspect is ``aspect``. The model reads a text's aspect as its ``reads`` tag
    (``reads=""``: as its first word): its note on a text says that, and a group it describes is
    named after its texts' most common reading."""

    def reading(text: str) -> str:
        return tag_of(text, reads) if reads else text.split()[0]

    def answer(messages: Sequence[Message], schema: dict[str, Any]) -> dict[str, Any]:
        text = messages[1]["content"]
        if "Name that property" in text:
            return {"aspect": aspect}
        if "of this text? Answer in a few words." in text:
            return {"value": reading(text.split('Text: "')[1].rsplit('"', 1)[0])}
        if "These texts were grouped together" in text:
            shown = re.findall(r"^\d+\. (.+)$", text.split("The goal of the clustering")[0], flags=re.M)
            values = [reading(t) for t in shown]
            name = max(sorted(set(values)), key=values.count)
            return {"name": name.capitalize(), "explanation": f"The text has the {aspect} {name}."}
        if "Which cluster does this text belong to?" in text:
            return {"choice": choice}
        if "Is the description true of this text?" in text:
            return {"answer": judge if judge != "words" else _shares_a_word(text)}
        if "In one to four words" in text:
            return {"value": text.split('Text: "')[1].split()[0]}
        return proposal

    return answer


def _shares_a_word(judge_prompt: str) -> str:
    description = judge_prompt.split('Description: "')[1].split('"')[0]
    text = judge_prompt.split('Text: "')[1].split('"\n\nIs the description')[0]
    words = [set(re.findall(r"\w{4,}", part.lower())) for part in (description, text)]
    return "yes" if words[0] & words[1] else "no"
