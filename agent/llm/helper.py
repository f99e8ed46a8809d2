"""The typed LLM helper: every LLM call in goalcluster goes through :meth:`LLM.generate`.

It renders a prompt file, asks the backend for JSON fitting a pydantic schema, validates it,
asks again with the validation error shown (bounded), and raises :class:`LLMOutputError`
carrying every attempt if the model never gets it right. :meth:`LLM.attempt` is the same for one
item of many (one note, one judgement): there a model that never answers validly gives None, the
failure is traced, and the caller's recorded fallback lets the run go on. Each attempt is written
to the trace, valid answers are cached on disk, and calls and tokens are counted against the budget.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from agent.llm.backends import BackendError, ChatBackend, Message
from agent.llm.budget import Budget
from agent.llm.cache import AnswerCache, request_key
from agent.llm.prompts import PromptLibrary
from agent.llm.trace import Trace

T = TypeVar("T", bound=BaseModel)
SHOWN_BACK = 300  # characters of a refused answer shown with the retry: a long bad answer is cut


@dataclass(frozen=True)
class Attempt:
    """One try: what the model said and why it was refused."""

    raw: str
    error: str


class LLMOutputError(RuntimeError):
    """The model's output never fitted the schema; carries every attempt and the last raw text."""

    def __init__(self, prompt_name: str, attempts: list[Attempt]) -> None:
        self.prompt_name = prompt_name
        self.attempts = attempts
        self.last_raw = attempts[-1].raw if attempts else ""
        super().__init__(
            f"the model gave no valid answer to prompt {prompt_name!r} in {len(attempts)} attempt(s); "
            f"last error: {attempts[-1].error if attempts else '-'}; last output: {self.last_raw[:300]!r}"
        )


@dataclass
class LLM:
    """A chat backend with prompts, validation, retries, trace, cache and budget around it."""

    backend: ChatBackend
    budget: Budget = field(default_factory=Budget)
    trace: Trace = field(default_factory=Trace)
    cache: AnswerCache | None = None
    prompts: PromptLibrary = field(default_factory=PromptLibrary)
    max_attempts: int = 3
    max_tokens: int = 1024
    cache_scope: str = ""
    """Part of every cache key besides model and request: the sampling seed, the cache namespace."""

    def messages(self, prompt_name: str, variables: dict[str, Any], schema: type[BaseModel]) -> list[Message]:
        """The exact messages :meth:`generate` sends first."""
        body = self.prompts.render(prompt_name, variables)
        shown = json.dumps(_without_titles(schema.model_json_schema()), ensure_ascii=False)
        answer_format = self.prompts.render("answer_format", {"schema": shown})
        return [
            {"role": "system", "content": self.prompts.render("system", {})},
            {"role": "user", "content": f"{body}\n\n{answer_format}"},
        ]

    def generate(
        self,
        prompt_name: str,
        variables: dict[str, Any],
        schema: type[T],
        context: dict[str, Any] | None = None,
    ) -> T:
        """Render ``prompts/<prompt_name>.j2`` with ``variables`` and return a valid ``schema``;
        ``context`` is pydantic's validation context (what the validators check an answer against,
        such as the sample texts an explanation must not copy)."""
        messages = first = self.messages(prompt_name, variables, schema)
        json_schema = schema.model_json_schema()
        attempts: list[Attempt] = []
        for number in range(1, self.max_attempts + 1):
            # Every attempt's answer, refused or not, is cached under its own request: a resume
            # replays a refused answer and its retry instead of asking for them again.
            key = request_key(
                self.backend.model_id,
                messages,
                json_schema,
                max_tokens=self.max_tokens,
                scope=self.cache_scope,
            )
            raw = self._cached(key)
            if raw is not None:
                parsed, error = _validate(schema, raw, context)
                self._record(prompt_name, number, messages, raw, parsed, error, cached=True)
            else:
                raw, parsed, error = self._ask(
                    prompt_name, number, messages, json_schema, schema, context, key
                )
            if parsed is not None:
                return parsed
            attempts.append(Attempt(raw=raw, error=error or ""))
            shown = raw if len(raw) <= SHOWN_BACK else raw[:SHOWN_BACK] + "…"
            messages = [  # the first request and the last refused answer only: retries do not pile up
                *first,
                {"role": "assistant", "content": shown},
                {"role": "user", "content": self.prompts.render("retry", {"error": error})},
            ]
        raise LLMOutputError(prompt_name, attempts)

    def attempt(
        self,
        prompt_name: str,
        variables: dict[str, Any],
        schema: type[T],
        context: dict[str, Any] | None = None,
    ) -> T | None:
        """:meth:`generate` for one item of many: None (and a ``gave_up`` trace record with the
        reason) when the model gives no valid answer in its attempts, so the caller falls back and
        the run goes on."""
        try:
            return self.generate(prompt_name, variables, schema, context)
        except LLMOutputError as error:
            self.trace.record(prompt=prompt_name, gave_up=True, model=self.backend.model_id, error=str(error))
            self.budget.gave_up += 1
            return None

    def _ask(
        self,
        prompt_name: str,
        number: int,
        messages: list[Message],
        json_schema: dict[str, Any],
        schema: type[T],
        context: dict[str, Any] | None,
        key: str,
    ) -> tuple[str, T | None, str | None]:
        """One call to the model: its answer, parsed (or None) and the problem with it."""
        self.budget.check()
        started = time.perf_counter()
        try:
            completion = self.backend.complete(messages, json_schema, max_tokens=self.max_tokens)
        except BackendError as failure:  # a failed call is counted and traced like any other
            self.budget.charge(0, 0)
            self._record(
                prompt_name, number, messages, "", None, f"backend: {failure}", cached=False,
                latency_s=round(time.perf_counter() - started, 4),
            )  # fmt: skip
            raise
        latency = time.perf_counter() - started
        self.budget.charge(completion.prompt_tokens, completion.completion_tokens)
        parsed, error = _validate(schema, completion.text, context)
        if self.cache is not None:  # cached first: a traced answer is never lost
            self.cache.put(key, self.backend.model_id, prompt_name, completion.text)
        self._record(
            prompt_name, number, messages, completion.text, parsed, error, cached=False,
            prompt_tokens=completion.prompt_tokens, completion_tokens=completion.completion_tokens,
            latency_s=round(latency, 4),
        )  # fmt: skip
        return completion.text, parsed, error

    def _cached(self, key: str) -> str | None:
        """The cached answer to a request, or None."""
        raw = None if self.cache is None else self.cache.get(key)
        if raw is not None:
            self.budget.cached_calls += 1
        return raw

    def _record(
        self,
        prompt_name: str,
        number: int,
        messages: list[Message],
        raw: str,
        parsed: BaseModel | None,
        error: str | None,
        *,
        cached: bool,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        latency_s: float = 0.0,
    ) -> None:
        self.trace.record(
            prompt=prompt_name,
            attempt=number,
            model=self.backend.model_id,
            messages=messages,
            raw=raw,
            parsed=None if parsed is None else parsed.model_dump(mode="json"),
            error=error,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_s=latency_s,
            cached=cached,
        )


def _validate(schema: type[T], raw: str, context: dict[str, Any] | None) -> tuple[T | None, str | None]:
    try:
        return schema.model_validate_json(raw, context=context), None
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {e['msg']}" for e in error.errors()[:5]
        )
        return None, problems


def _without_titles(node: Any) -> Any:
    """The schema as shown in prompts: pydantic's generated titles only cost tokens."""
    if isinstance(node, dict):
        return {k: _without_titles(v) for k, v in node.items() if not (k == "title" and isinstance(v, str))}
    if isinstance(node, list):
        return [_without_titles(v) for v in node]
    return node
