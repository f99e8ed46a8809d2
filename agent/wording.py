"""How an explanation is worded: the pure text rules the answer schemas apply to a cluster's
explanation (its first sentence, said of one text, without a remark, within bounds, no copy of a
sample text, no repeat of another cluster's)."""

from __future__ import annotations

import re
from typing import Any

MAX_EXPLANATION_WORDS = 40
COPIED_WORDS = 6  # this many words in a row from a sample text, and half of it, make an explanation a copy
REPEATED_WORDS = 1  # explanations whose words differ by at most this many (either way) repeat each other
# Braces, brackets, angle brackets, backticks or a quoted key followed by a colon: pieces of JSON
# or markup (a neighbouring answer leaked into the string), never a property of a text.
FRAGMENT = re.compile(r"""[{}\[\]<>`]|["'][\w ]{1,30}["']\s*:""")
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
# ", with the exception of the last one, which expresses satisfaction", ", while others praise it":
# a clause on some of the texts shown, which a reader never sees; the 1.5B's sentiment groups read
# so, and the judge then put every review in the first. Cut, like a remark.
_OF_SOME_SHOWN = re.compile(
    r",\s+(?:with the exception of|(?:except(?: for)?|while|whereas|but|and) (?:others|some others"
    r"|some of them|the others|one of them|one|a few|the (?:last|first|second|third|other)"
    r"(?: one| text| two| three)?s?)\b"
    r"|with (?:some|others|one|a few) (?:of them )?(?:mentioning|expressing|discussing|describing"
    r"|being|focusing|talking|asking|saying)\b)",
    re.IGNORECASE,
)
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


def first_sentence(text: str) -> str:
    """``text`` up to the end of its first sentence."""
    return _SENTENCE_END.split(text)[0]


def tidy(explanation: str) -> str:
    """``explanation`` said of one text, without a closing ", which is" remark or a clause on some
    of the texts shown, and cut at a clause if it is over-long (see the steps below)."""
    return _within_bound(_without(_OF_SOME_SHOWN, _without(_REMARK, _of_one_text(explanation))))


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


def _without(clause: re.Pattern[str], explanation: str) -> str:
    """``explanation`` up to where ``clause`` starts (", which is ..."), if what precedes it is at
    least MIN_CLAUSE_WORDS words long."""
    found = clause.search(explanation)
    if found is None or len(explanation[: found.start()].split()) < MIN_CLAUSE_WORDS:
        return explanation
    return explanation[: found.start()] + "."


def _within_bound(explanation: str) -> str:
    """``explanation``, or, if it is over-long, its opening clauses up to the last comma (semicolon,
    colon, dash) that leaves it within bounds and at least MIN_CLAUSE_WORDS words long; small models
    run a sound sentence on ("..., which is a common problem for ..."). Unchanged if there is none."""
    if len(explanation.split()) <= MAX_EXPLANATION_WORDS:
        return explanation
    cuts = [m.start() for m in _CLAUSE_END.finditer(explanation)]
    fitting = [c for c in cuts if MIN_CLAUSE_WORDS <= len(explanation[:c].split()) <= MAX_EXPLANATION_WORDS]
    return explanation[: fitting[-1]].rstrip(" ,;:") + "." if fitting else explanation


def copied(explanation: str, texts: Any) -> str:
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
