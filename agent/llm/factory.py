"""Builds the run's :class:`LLM` from a :class:`Config`."""

from __future__ import annotations

from pathlib import Path

from agent.config import Config
from agent.llm.backends import ChatBackend
from agent.llm.budget import Budget
from agent.llm.cache import AnswerCache
from agent.llm.helper import LLM
from agent.llm.registry import Announce, make_chat_backend
from agent.llm.trace import Trace


def build_llm(
    config: Config,
    *,
    trace_path: Path | None = None,
    backend: ChatBackend | None = None,
    announce: Announce | None = None,
) -> LLM:
    """The typed helper over ``config.llm`` (or an explicit ``backend``), with cache and budget."""
    trace = Trace(trace_path)
    budget = Budget(max_calls=config.budget_calls, max_tokens=config.budget_tokens)
    budget.restore(trace.usage())  # a resumed run keeps counting from where it stopped
    return LLM(
        backend=backend or make_chat_backend(config.llm, config.backend, config.home, announce),
        budget=budget,
        trace=trace,
        cache=AnswerCache(config.cache_path) if config.use_cache else None,
        max_attempts=config.max_attempts,
        max_tokens=config.max_tokens,
        cache_scope=f"seed={config.backend.seed}|namespace={config.cache_namespace}",
    )
