"""The pydantic schemas the LLM answers in. Field descriptions are part of the prompt."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Literal, cast

from pydantic import BaseModel, Field, ValidationInfo, create_model, field_validator

MAX_NAME_WORDS = 8
MAX_EXPLANATION_WORDS = 40
COPIED_WORDS = 6  # this many words in a row from a sample text, and half of it, make an explanation a copy
REPEATED_WORDS = 1  # explanations whose words differ by at most this many (either way) repeat each other
# Braces, brackets, angle brackets, backticks or a quoted key followed by a colon: pieces of JSON
# or markup (a neighbouring answer leaked into the string), never a property of a text.
_FRAGMENT = re.compile(r"""[{}\[\]<>`]|["'][\w ]{1,30}["']\s*:""")
MIN_CLAUSE_WORDS = 6  # an over-long sentence cut at a comma keeps at least this many words
# A sentence ends at . ! ? after a word of two letters or more ("ATMs." too; not "U.S." or "e.g."),
# before a capital.
_SENTENCE_END = re.compile(r"(?<=[A-Za-z0-9]{2}[.!?])\s+(?=[A-Z])")
_CLAUSE_END = re.compile(r"[,;:]\s|\s[-\u2013\u2014]\s")
# "All three texts describe ...", "These texts are all about ...": said of the texts the LLM was
# shown, which a reader never sees. Said of one text instead, when the verb is a known one.
_OF_THE_SHOWN = re.compile(
    r"^(?:all (?:of )?(?:the |these )?(?:(?:two|three|four|five|six|\d+) )?texts"
    r"|(?:these|the|those) (?:(?:two|three|four|five|six|\d+|given|shown) )?texts|they)"
    r"(?: all)? ([a-z]+)(?: all\b)?",
    re.IGNORECASE,
)
# ", which is a common request for customers": a remark on a word of the sentence, not a property
# that decides membership; cut.
_REMARK = re.compile(r",\s+which (?:is|are)\b")
_IRREGULAR = {"are": "is", "were": "was", "have": "has", "do": "does"}
# fmt: off
_VERBS = frozenset({
    "address", "ask", "belong", "center", "centre", "complain", "concern", "consist", "contain",
    "convey", "cover", "deal", "depict", "describe", "discuss", "express", "feature", "focus",
    "highlight", "indicate", "inquire", "involve", "mention", "offer", "pertain", "praise", "present",
    "provide", "refer", "reflect", "relate", "report", "represent", "request", "require", "revolve",
    "seek", "share", "show", "talk", "use", "want", "need",
})
# fmt: on


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
        if _FRAGMENT.search(name):
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
        explanation = _SENTENCE_END.split(explanation)[0]
        if _FRAGMENT.search(explanation):
            raise ValueError(
                "contains a piece of JSON or markup ({, [, <, a quoted key); write one plain sentence"
            )
        explanation = _within_bound(_without_remark(_of_one_text(explanation)))
        words = len(explanation.split())
        if words > MAX_EXPLANATION_WORDS:
            raise ValueError(f"is {words} words long; write one sentence of at most {MAX_EXPLANATION_WORDS}")
        context = info.context or {}
        copied = _copied(explanation, context.get("texts", ()))
        if copied:
            raise ValueError(f"copies a sample text ({copied!r}); state the property the texts share instead")
        repeat = repeated(explanation, context.get("others", ()))
        if repeat:
            raise ValueError(
                f"repeats another cluster's explanation ({repeat!r}); state what sets these texts apart"
            )
        return explanation


def _of_one_text(explanation: str) -> str:
    """``explanation`` said of one text: "All three texts are about X" becomes "The text is about
    X". Unchanged if it does not open on the texts shown, or their verb is not a known one."""
    match = _OF_THE_SHOWN.match(explanation)
    if match is None:
        return explanation
    verb = match.group(1).lower()
    if verb in _IRREGULAR:
        singular = _IRREGULAR[verb]
    elif verb not in _VERBS:
        return explanation
    elif verb.endswith(("s", "sh", "ch", "x", "z")):
        singular = verb + "es"
    else:
        singular = verb + "s"
    return f"The text {singular}{explanation[match.end() :]}"


def _without_remark(explanation: str) -> str:
    """``explanation`` without a closing ", which is ..." remark, if what precedes it is at least
    MIN_CLAUSE_WORDS words long."""
    remark = _REMARK.search(explanation)
    if remark is None or len(explanation[: remark.start()].split()) < MIN_CLAUSE_WORDS:
        return explanation
    return explanation[: remark.start()] + "."


def _within_bound(explanation: str) -> str:
    """``explanation``, or, if it is over-long, its opening clauses up to the last comma (semicolon,
    colon, dash) that leaves it within bounds and at least MIN_CLAUSE_WORDS words long; small models
    run a sound sentence on ("..., which is a common problem for ..."). Unchanged if there is none."""
    if len(explanation.split()) <= MAX_EXPLANATION_WORDS:
        return explanation
    cuts = [m.start() for m in _CLAUSE_END.finditer(explanation)]
    fitting = [c for c in cuts if MIN_CLAUSE_WORDS <= len(explanation[:c].split()) <= MAX_EXPLANATION_WORDS]
    return explanation[: fitting[-1]].rstrip(" ,;:") + "." if fitting else explanation


def _copied(explanation: str, texts: Any) -> str:
    """The words ``explanation`` copies from one of ``texts``, or '': a run of COPIED_WORDS words or
    more that is also at least half of that text (a short request restated, "the user wants to know
    how many days off ...", shares a few words with it and is no copy)."""
    words = re.findall(r"\w+", explanation.lower())
    for text in texts:
        found = re.findall(r"\w+", str(text).lower())
        run = _longest_common_run(words, found)
        if len(run) >= max(COPIED_WORDS, len(found) / 2):
            return " ".join(run)
    return ""


def _longest_common_run(a: list[str], b: list[str]) -> list[str]:
    """The longest run of words that ``a`` and ``b`` both hold in a row."""
    best, end = 0, 0
    previous = [0] * (len(b) + 1)
    for i in range(1, len(a) + 1):
        current = [0] * (len(b) + 1)
        for j in range(1, len(b) + 1):
            if a[i - 1] == b[j - 1]:
                current[j] = previous[j - 1] + 1
                if current[j] > best:
                    best, end = current[j], i
        previous = current
    return a[end - best : end]


def repeated(explanation: str, others: Any) -> str:
    """The first of ``others`` (other clusters' explanations) ``explanation`` all but repeats, or '':
    two clusters explained alike cannot be told apart by a reader, nor by a judge."""
    words = set(re.findall(r"\w+", explanation.lower()))
    for other in others:
        theirs = set(re.findall(r"\w+", str(other).lower()))
        # "in English" / "in German" differ by two words: told apart, however long the sentence
        if words and len(words ^ theirs) <= REPEATED_WORDS:
            return str(other)
    return ""


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
