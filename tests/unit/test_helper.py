from __future__ import annotations

from pathlib import Path

import pytest
from fakes import ScriptedBackend
from pydantic import BaseModel, Field, field_validator

from agent.llm.budget import Budget, BudgetExceeded
from agent.llm.cache import AnswerCache
from agent.llm.helper import LLM, LLMOutputError
from agent.llm.trace import Trace


class Description(BaseModel):
    name: str = Field(description="a few words")
    explanation: str = Field(description="one sentence")

    @field_validator("name")
    @classmethod
    def not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("name must not be blank")
        return value


VARIABLES = {"goal": "why payments fail", "explanation": "The card was declined.", "text": "card declined"}
GOOD = {"name": "Declined card", "explanation": "The customer's card payment was declined."}


def test_valid_answer_is_parsed_traced_and_counted(tmp_path: Path) -> None:
    backend = ScriptedBackend([GOOD])
    llm = LLM(backend, trace=Trace(tmp_path / "trace.jsonl"))
    result = llm.generate("judge_membership", VARIABLES, Description)
    assert result == Description(**GOOD)
    assert '"card declined"' in backend.calls[0][-1]["content"]
    assert '"explanation"' in backend.calls[0][-1]["content"]  # the schema is part of the prompt
    assert llm.budget.calls == 1 and llm.budget.tokens == 20
    (record,) = llm.trace.records
    assert record["parsed"] == GOOD and record["model"] == "scripted" and record["error"] is None
    assert (tmp_path / "trace.jsonl").read_text().count("\n") == 1


def test_invalid_answer_is_asked_again_with_the_error_shown() -> None:
    backend = ScriptedBackend(['{"name": "  ", "explanation": "x"}', GOOD])
    llm = LLM(backend)
    assert llm.generate("judge_membership", VARIABLES, Description).name == "Declined card"
    retry = backend.calls[1]
    assert retry[-2] == {"role": "assistant", "content": '{"name": "  ", "explanation": "x"}'}
    assert "name must not be blank" in retry[-1]["content"]
    assert [r["error"] is None for r in llm.trace.records] == [False, True]


def test_never_valid_raises_with_every_attempt() -> None:
    backend = ScriptedBackend(["not json", '{"name": "x"}', "still not json"])
    llm = LLM(backend, max_attempts=3)
    with pytest.raises(LLMOutputError) as caught:
        llm.generate("judge_membership", VARIABLES, Description)
    assert len(caught.value.attempts) == 3
    assert caught.value.last_raw == "still not json"
    assert "explanation" in caught.value.attempts[1].error
    assert llm.budget.calls == 3


def test_retries_show_only_the_last_bad_answer_cut_short() -> None:
    long_bad = '{"name": "' + "x" * 5000
    backend = ScriptedBackend([long_bad, long_bad, GOOD])
    llm = LLM(backend, max_attempts=3)
    llm.generate("judge_membership", VARIABLES, Description)
    first, second, third = backend.calls
    assert len(second) == len(third) == len(first) + 2  # retries do not pile up
    assert second[: len(first)] == third[: len(first)] == first
    assert len(third[-2]["content"]) <= 301 and third[-2]["content"].endswith("…")


def test_attempt_gives_none_and_records_the_item_that_never_got_a_valid_answer() -> None:
    llm = LLM(ScriptedBackend(["no"] * 3), max_attempts=3)
    assert llm.attempt("judge_membership", VARIABLES, Description) is None
    assert llm.budget.gave_up == 1 and llm.budget.calls == 3
    assert llm.trace.records[-1]["gave_up"] is True and "no valid answer" in llm.trace.records[-1]["error"]


def test_identical_rerun_is_answered_from_the_cache(tmp_path: Path) -> None:
    cache_path = tmp_path / "cache.sqlite"
    first = LLM(ScriptedBackend([GOOD]), cache=AnswerCache(cache_path))
    first.generate("judge_membership", VARIABLES, Description)
    again = ScriptedBackend([])  # raises on any call
    second = LLM(again, cache=AnswerCache(cache_path))
    assert second.generate("judge_membership", VARIABLES, Description) == Description(**GOOD)
    assert again.calls == [] and second.budget.calls == 0 and second.budget.cached_calls == 1
    assert second.trace.records[0]["cached"] is True
    other_model = ScriptedBackend([GOOD], model_id="other")
    LLM(other_model, cache=AnswerCache(cache_path)).generate("judge_membership", VARIABLES, Description)
    assert len(other_model.calls) == 1  # the model is part of the key
    shorter, reseeded = ScriptedBackend([GOOD]), ScriptedBackend([GOOD])
    LLM(shorter, cache=AnswerCache(cache_path), max_tokens=64).generate(
        "judge_membership", VARIABLES, Description
    )
    LLM(reseeded, cache=AnswerCache(cache_path), cache_scope="seed=1").generate(
        "judge_membership", VARIABLES, Description
    )
    assert len(shorter.calls) == len(reseeded.calls) == 1  # whatever can change the answer is in the key


def test_refused_answers_are_replayed_from_the_cache_not_asked_again(tmp_path: Path) -> None:
    cache_path = tmp_path / "cache.sqlite"
    bad = '{"name": "  ", "explanation": "x"}'
    first = LLM(ScriptedBackend([bad, bad, bad]), cache=AnswerCache(cache_path), max_attempts=3)
    assert first.attempt("judge_membership", VARIABLES, Description) is None
    # the model repeated itself: the third request was the second's, answered from the cache
    assert first.budget.calls == 2 and first.budget.cached_calls == 1
    again = ScriptedBackend([])  # raises on any call: a resume asks nothing again
    second = LLM(again, cache=AnswerCache(cache_path), max_attempts=3)
    assert second.attempt("judge_membership", VARIABLES, Description) is None
    assert again.calls == [] and second.budget.cached_calls == 3 and second.budget.gave_up == 1
    # an item mended on its second attempt replays both
    mended = LLM(ScriptedBackend([bad, GOOD]), cache=AnswerCache(cache_path))
    other = {**VARIABLES, "text": "card stolen"}
    assert mended.generate("judge_membership", other, Description) == Description(**GOOD)
    replay = LLM(ScriptedBackend([]), cache=AnswerCache(cache_path))
    assert replay.generate("judge_membership", other, Description) == Description(**GOOD)
    assert replay.budget.cached_calls == 2 and [r["cached"] for r in replay.trace.records] == [True, True]


def test_budget_stops_calls() -> None:
    llm = LLM(ScriptedBackend([GOOD, GOOD]), budget=Budget(max_calls=1))
    llm.generate("judge_membership", VARIABLES, Description)
    assert llm.budget.exhausted
    with pytest.raises(BudgetExceeded, match="1 calls"):
        llm.generate("judge_membership", {**VARIABLES, "goal": "other"}, Description)  # a new request
    tokens = LLM(ScriptedBackend([GOOD], tokens=60), budget=Budget(max_tokens=100))
    tokens.generate("judge_membership", VARIABLES, Description)
    with pytest.raises(BudgetExceeded):
        tokens.generate("judge_membership", {**VARIABLES, "goal": "x"}, Description)


def test_missing_prompt_variable_fails_loudly() -> None:
    import jinja2

    with pytest.raises(jinja2.UndefinedError):
        LLM(ScriptedBackend([GOOD])).generate("judge_membership", {"goal": "x"}, Description)


def test_repeated_cluster_names_are_dropped_not_fatal() -> None:
    from agent.schemas import Proposal

    proposal = Proposal.model_validate(
        {
            "clusters": [
                {"name": "Fees", "explanation": "a"},
                {"name": "fees", "explanation": "b"},
                {"name": "Cards", "explanation": "c"},
            ]
        }
    )
    assert [c.explanation for c in proposal.clusters] == ["a", "c"]
