"""The pydantic schemas the LLM answers in. Field descriptions are part of the prompt."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator


def _clean(value: str) -> str:
    value = " ".join(value.split())
    if not value:
        raise ValueError("must not be empty")
    return value


class ClusterDescription(BaseModel):
    """A cluster: a short name and a falsifiable explanation of membership."""

    name: str = Field(description="A short name for the group, 2 to 6 words.", max_length=80)
    explanation: str = Field(
        description="One sentence stating what every member has in common, precise enough to decide "
        "whether a new text belongs (e.g. 'The customer says the card was declined').",
        max_length=400,
    )

    @field_validator("name", "explanation")
    @classmethod
    def not_blank(cls, value: str) -> str:
        return _clean(value)
