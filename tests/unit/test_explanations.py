"""An explanation is checked before it becomes a candidate: its first sentence, of bounded length,
no pieces of JSON or markup, not a copy of a sample text. A failing one is re-asked with the
problem shown, or dropped with its reason in the trace, and the run goes on."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeEmbedder, FakeHiddenStates, ScriptedBackend, answer_by_prompt, corpus_of_topics
from pydantic import ValidationError

from agent.config import Config
from agent.llm.backends import Message
from agent.schemas import ClusterDescription
from agent.wording import repeated
from goalcluster.runner import start_run
from tools.corpus import Corpus

# What the embedded model once wrote on go_emotions: a neighbouring answer leaked into the string.
LEAKED = (
    "The text expresses joy, such as 'oh [NAME]...'}, {'excellent', 'explanation': 'The text "
    "expresses excellent, such as ..."
)
OVER_LONG = "The text " + " ".join(["talks about a parcel that is late and the courier"] * 6) + "."


def describe(explanation: str, texts: Sequence[str] = ()) -> ClusterDescription:
    raw = json.dumps({"name": "Joy", "explanation": explanation})
    return ClusterDescription.model_validate_json(raw, context={"texts": list(texts)})


@pytest.mark.parametrize(
    ("explanation", "problem"),
    [
        (LEAKED, "piece of JSON or markup"),
        ('The text says "reason": late', "piece of JSON or markup"),
        ("The text has the <topic> sports.", "piece of JSON or markup"),
        (OVER_LONG, "words long"),
    ],
)
def test_a_bad_explanation_is_refused_with_what_is_wrong(explanation: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        describe(explanation)


def test_a_copy_of_a_sample_text_is_refused_and_a_property_is_kept() -> None:
    samples = ["I want to know why my card was declined at the shop today"]
    with pytest.raises(ValidationError, match="copies a sample text"):
        describe("The customer asks: why my card was declined at the shop", samples)
    kept = describe("The customer says the card was declined.", samples)
    assert kept.explanation == "The customer says the card was declined."
    asks = ["i need to know how many days off i have used so far", "what is 100 multiplied by 55"]
    restated = "The user wants to know how many days off they have used."  # 6 of 13 words: no copy
    assert describe(restated, asks).explanation == restated
    with pytest.raises(ValidationError, match="copies a sample text"):  # a whole short text: a copy
        describe("The text 'what is 100 multiplied by 55' asks for a product.", asks)
    assert describe("The text is about U.S. politics, e.g. elections.").explanation.startswith("The text")
    two = describe("The text is about cards. It is polite. The group includes many texts.")
    assert two.explanation == "The text is about cards."  # the first sentence is the explanation
    with pytest.raises(ValidationError, match="plain words"):
        ClusterDescription(name="{'joy'", explanation="The text expresses joy.")


def test_an_explanation_is_said_of_one_text_and_a_run_on_sentence_is_cut_at_a_clause() -> None:
    # What the embedded 1.5B wrote on banking77: the first sentence ends after "ATMs."; the
    # second ran past the bound, and three asks for a shorter one gave it again.
    written = (
        "All three texts describe a situation where a customer's card has been lost or stolen, which "
        "is a common problem for customers who use ATMs. The texts all express frustration and concern."
    )
    # ... and its ", which is" remark decides nothing
    assert describe(written).explanation == (
        "The text describes a situation where a customer's card has been lost or stolen."
    )
    remark = "The text is about PINs, which is a common request."  # too short a sentence to cut
    assert describe(remark).explanation == remark
    assert describe("These texts are all about music.").explanation == "The text is about music."
    assert describe("The texts all focus on cars.").explanation == "The text focuses on cars."
    assert describe("They all want to know the time.").explanation == "The text wants to know the time."
    unknown = "All three texts clearly describe music."  # an unknown verb: left as written
    assert describe(unknown).explanation == unknown
    # What the 1.5B wrote on multidomain sentiment: a clause on one of the texts shown, which the
    # reader never sees (the judge then put every review in this cluster); cut, like a remark
    excepted = "The text expresses dissatisfaction about the product, with the exception of the last one"
    assert describe(excepted + ", which expresses satisfaction.").explanation == (
        "The text expresses dissatisfaction about the product."
    )
    others = "The text praises the product's sound quality, while others complain about the price."
    assert describe(others).explanation == "The text praises the product's sound quality."
    kept = "The text praises the product, except the delivery was late."  # of the text itself: kept
    assert describe(kept).explanation == kept
    run_on = "The text asks about a late parcel, " + ", ".join(["and the courier was rude"] * 8) + "."
    cut = describe(run_on).explanation
    assert cut.startswith("The text asks about a late parcel, and the courier") and cut.endswith("rude.")
    assert len(cut.split()) <= 40


def test_a_repeat_is_the_same_words_but_for_one_and_a_changed_word_is_not() -> None:
    english = "All texts are written in English, in a formal tone."
    assert repeated("all texts are written in English in a formal tone", [english]) == english
    assert repeated("All texts are written in plain English, in a formal tone.", [english]) == english
    assert repeated("All texts are written in German, in a formal tone.", [english]) == ""
    assert repeated("The text expresses dissatisfaction.", ["The text expresses satisfaction."]) == ""


def test_a_leaked_explanation_is_asked_again_with_the_problem_shown(tmp_path: Path) -> None:
    ids, texts, _ = corpus_of_topics(12)
    leaked = {"clusters": [{"name": "Card payments", "explanation": LEAKED}]}
    fake = ScriptedBackend([leaked, *[answer_by_prompt()] * 200])  # type: ignore[list-item]
    result = start_run(
        Corpus(ids=ids, texts=texts, name="topics"),
        _config(tmp_path, view="semantic"),
        tmp_path / "run",
        backend=fake,
        embedder=FakeEmbedder(),
        quiet=True,
    )
    retry = fake.calls[1]
    assert retry[-2] == {"role": "assistant", "content": json.dumps(leaked)}
    assert "piece of JSON or markup" in retry[-1]["content"]
    assert result.metrics["stop_reason"] == "targets_met"
    assert all("{" not in c.explanation and "'" not in c.explanation for c in result.clusters)


def test_a_group_whose_description_stays_over_long_is_dropped_with_its_reason(tmp_path: Path) -> None:
    plain = answer_by_prompt(aspect="language", reads="language")

    def answer(messages: Sequence[Message], schema: dict[str, Any]) -> dict[str, Any]:
        text = messages[1]["content"]
        if "These texts were grouped together" in text and "language=de" in _group_shown(text):
            return {"name": "De", "explanation": OVER_LONG}
        return plain(messages, schema)

    result, trace, _ = _run_languages(tmp_path, answer)
    dropped = [r for r in trace if r.get("gave_up") and r["prompt"] == "describe_group"]
    assert dropped and all("words long" in r["error"] for r in dropped)
    assert all(len(c.explanation.split()) <= 40 for c in result.clusters)
    assert {c.name for c in result.clusters} >= {"Es", "Fr"}
    assert (tmp_path / "run" / "metrics.json").exists() and result.metrics["gave_up"] == len(dropped)


def _group_shown(prompt: str) -> str:
    """The texts of the group a describe_group prompt asks about (not its neighbour's)."""
    return prompt.split("Texts of the nearest other group")[0].split("The goal")[0]


def _run_languages(tmp_path: Path, answer: Any) -> tuple[Any, list[dict[str, Any]], ScriptedBackend]:
    """One run of :func:`_languages` by the language goal with ``answer`` as the model: the result,
    its trace records and the scripted model."""
    fake = ScriptedBackend([answer] * 300)
    result = start_run(
        _languages(),
        _config(tmp_path, goal="Group the texts by the language they are written in", max_iterations=1),
        tmp_path / "run",
        backend=fake,
        embedder=FakeEmbedder(),
        hidden=FakeHiddenStates(),
        quiet=True,
    )
    trace = [json.loads(line) for line in (tmp_path / "run" / "trace.jsonl").read_text().splitlines()]
    return result, trace, fake


def _languages() -> Corpus:
    ids, texts = [], []
    for language in ("es", "de", "fr"):
        for i in range(12):
            ids.append(f"{language}-{i}")
            texts.append(f"parcel card password number {i} language={language}")
    return Corpus(ids=ids, texts=texts, name="languages")


def _config(tmp_path: Path, **overrides: object) -> Config:
    base = {
        "home": tmp_path / "home",
        "goal": "why the customer wrote",
        "min_clusters": 2,
        "max_clusters": 3,
        "assign_mode": "embeddings",
        "spot_checks": 1,
        "use_cache": False,
        "annotate_samples": False,
        "view_probe": 27,
    }
    return Config.model_validate({**base, **overrides})


def test_leaked_over_long_and_repeated_explanations_are_each_repaired_or_dropped(tmp_path: Path) -> None:
    """One run, a scripted model: Spanish texts first get the leaked-JSON explanation, German texts
    always an over-long one, and the first group described after another language's repeats that
    language's explanation. The leaked and the repeated one are asked again with the problem shown
    and mended; the over-long one is dropped with its reason; the run finishes."""
    plain = answer_by_prompt(aspect="language", reads="language")
    own = {"es": "The text is written in Spanish.", "fr": "The text is written in French."}
    names = {"es": "Spanish", "de": "German", "fr": "French"}
    asked: dict[str, int] = {}
    repeated: list[str] = []
    answered: list[str] = []

    def answer(messages: Sequence[Message], schema: dict[str, Any]) -> dict[str, Any]:
        text = messages[1]["content"]
        if "These texts were grouped together" not in text:
            return plain(messages, schema)
        language = next(x for x in ("es", "de", "fr") if f"language={x}" in _group_shown(text))
        asked[language] = asked.get(language, 0) + 1
        if language == "de":
            return {"name": names[language], "explanation": OVER_LONG}
        if language == "es" and asked[language] == 1:
            return {"name": names[language], "explanation": LEAKED}
        if not repeated and answered and answered[0] != language:  # repeats the earlier language's
            repeated.append(language)
            return {"name": names[language], "explanation": own[answered[0]]}
        answered.append(language)
        return {"name": names[language], "explanation": own[language]}

    result, trace, fake = _run_languages(tmp_path, answer)
    described = [r for r in trace if r.get("prompt") == "describe_group" and "error" in r]
    assert any("piece of JSON or markup" in (r["error"] or "") for r in described)  # leaked: asked again
    asked = [c[1]["content"] for c in fake.calls]
    reasked = [a for a in asked if "Your first answer explained them as" in a]
    assert reasked and all(any(e in c for e in own.values()) for c in reasked)  # the repeat shown
    dropped = [r["error"] for r in described if r.get("gave_up")]
    assert dropped and all("words long" in e for e in dropped), dropped  # over-long: the German groups
    explanations = {c.name: c.explanation for c in result.clusters}
    assert repeated and explanations == {"Spanish": own["es"], "French": own["fr"]}
    assert result.metrics["stop_reason"] in {"targets_met", "max_iterations"}
    assert result.metrics["gave_up"] == len(dropped)


def test_each_group_is_described_beside_the_texts_of_its_nearest_group(tmp_path: Path) -> None:
    """The describe prompt shows, under its own heading, texts of one other group (never the group's
    own), so the explanation says what sets the group apart from its likeliest confusion."""
    _, _, fake = _run_languages(tmp_path, answer_by_prompt(aspect="language", reads="language"))
    prompts = [c[1]["content"] for c in fake.calls if "These texts were grouped together" in c[1]["content"]]
    assert prompts
    for prompt in prompts:
        own = set(re.findall(r"language=(\w+)", _group_shown(prompt)))
        contrast = prompt.split("Texts of the nearest other group")[1].split("The goal")[0]
        shown = set(re.findall(r"language=(\w+)", contrast))
        assert len(own) == 1 and len(shown) == 1 and own != shown, prompt
