"""The pydantic schemas the LLM answers in. Field descriptions are part of the prompt."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Literal, cast

from pydantic import BaseModel, Field, ValidationInfo, create_model, field_validator

from agent.wording import FRAGMENT, MAX_EXPLANATION_WORDS, copied, first_sentence, repeated, tidy

MAX_NAME_WORDS = 8


def _clean(value: str) -> str:
    value = " ".join(value.split())
    if not value:
        raise ValueError("must not be empty")
    return value


class ClusterDescription(BaseModel):
    """A cluster: a short name and a falsifiable explanation of membership."""

    name: str = Field(description="A short name for the group, 2 to 6 words.", max_length=80)
    explanation: str = Field(
        description="One sentence in your own words, never quoting the texts, stating what every "
        "member has in common, precise enough to decide whether a new text belongs.",
        max_length=400,
    )

    @field_validator("name", "explanation")
    @classmethod
    def not_blank(cls, value: str) -> str:
        return _clean(value)

    @field_validator("name")
    @classmethod
    def short_plain_name(cls, name: str) -> str:
        if FRAGMENT.search(name):
            raise ValueError("contains a piece of JSON or markup; give the name in plain words")
        if len(name.split()) > MAX_NAME_WORDS:
            raise ValueError(f"has {len(name.split())} words; give a name of 2 to 6 words")
        return name

    @field_validator("explanation")
    @classmethod
    def one_checkable_sentence(cls, explanation: str, info: ValidationInfo) -> str:
        """Its first sentence, if that is plain, said of one text, without a ", which is" remark, of
        bounded length (cut at a clause if need be) and not a copy of a sample text (the samples
        come as ``texts`` in the validation context)."""
        # Small models add sentences after a good first one ("... The group includes ..."): the
        # first sentence is the explanation; the trace keeps the raw answer.
        explanation = first_sentence(explanation)
        if FRAGMENT.search(explanation):
            raise ValueError(
                "contains a piece of JSON or markup ({, [, <, a quoted key); write one plain sentence"
            )
        explanation = tidy(explanation)
        words = len(explanation.split())
        if words > MAX_EXPLANATION_WORDS:
            raise ValueError(f"is {words} words long; write one sentence of at most {MAX_EXPLANATION_WORDS}")
        context = info.context or {}
        copy = copied(explanation, context.get("texts", ()))
        if copy:
            raise ValueError(f"copies a sample text ({copy!r}); state the property the texts share instead")
        repeat = repeated(explanation, context.get("others", ()))
        if repeat:
            raise ValueError(
                f"repeats another cluster's explanation ({repeat!r}); state what sets these texts apart"
            )
        return explanation


class Proposal(BaseModel):
    """Candidate clusters proposed for a goal."""

    clusters: list[ClusterDescription] = Field(
        description="The proposed clusters, each with a name and an explanation.", min_length=1, max_length=12
    )

    @field_validator("clusters")
    @classmethod
    def distinct_names(cls, clusters: list[ClusterDescription]) -> list[ClusterDescription]:
        """Later clusters repeating an earlier name are dropped (small models repeat themselves)."""
        seen: set[str] = set()
        distinct = []
        for cluster in clusters:
            if cluster.name.casefold() not in seen:
                seen.add(cluster.name.casefold())
                distinct.append(cluster)
        return distinct


class Judgement(BaseModel):
    """Whether a description is true of a text."""

    answer: Literal["yes", "no"] = Field(
        description="'yes' if the description is true of the text, else 'no'."
    )


@lru_cache(maxsize=32)
def choice_schema(n_options: int) -> type[BaseModel]:
    """A schema whose one field is a number from 0 (none) to ``n_options``; the allowed values are
    an enum, so a constrained decoder can only produce a valid answer."""
    allowed = cast(Any, Literal[tuple(range(n_options + 1))])
    return create_model(
        f"Choice{n_options}",
        choice=(allowed, Field(description=f"The number of the cluster, 1 to {n_options}, or 0 for none.")),
    )


class Annotation(BaseModel):
    """A text's value for the goal's criterion."""

    value: str = Field(description="One to four words, e.g. 'German', 'poem', 'sports'.", max_length=60)

    @field_validator("value")
    @classmethod
    def not_blank(cls, value: str) -> str:
        return _clean(value)


class Criterion(BaseModel):
    """One way the corpus could be grouped."""

    name: str = Field(
        description="The criterion in 1 to 4 words, e.g. 'topic', 'sentiment', 'language'.", max_length=60
    )
    goal: str = Field(
        description="A clustering goal for it, e.g. 'Cluster the texts by the language they are written in'.",
        max_length=300,
    )

    @field_validator("name", "goal")
    @classmethod
    def not_blank(cls, value: str) -> str:
        return _clean(value)


class Criteria(BaseModel):
    """Candidate criteria for grouping a corpus."""

    criteria: list[Criterion] = Field(
        description="Distinct criteria, each a different way to group these texts.",
        min_length=1,
        max_length=8,
    )


class Aspect(BaseModel):
    """The property a clustering goal groups texts by."""

    aspect: str = Field(
        description="The property in two to four words, lower case, e.g. 'topic', 'language'.", max_length=40
    )

    @field_validator("aspect")
    @classmethod
    def plain_words(cls, value: str) -> str:
        value = _clean(value).strip(" .'\"").lower()
        if not value or len(value.split()) > 6:
            raise ValueError("must be a few words naming one property")
        return value
