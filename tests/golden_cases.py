"""Fixed variables and schemas for the prompt snapshots (one case per task prompt)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from agent.schemas import (
    Annotation,
    Aspect,
    ClusterDescription,
    Criteria,
    Judgement,
    Proposal,
    choice_schema,
)
from goalcluster.chat.actions import ActionRequest
from goalcluster.chat.views import Summary

GOAL = "Group the reviews by why the customer was unhappy."
TEXTS = ["The card was declined twice at checkout.", "The parcel arrived a week late.", "Refund never came."]
CLUSTERS = [
    {"name": "Declined payment", "explanation": "The customer says a card payment was declined."},
    {"name": "Late delivery", "explanation": "The customer says the order arrived late."},
]

CASES: dict[str, tuple[dict[str, Any], type[BaseModel]]] = {
    "propose": (
        {
            "goal": GOAL,
            "texts": TEXTS,
            "existing": CLUSTERS[:1],
            "note": "texts that no current cluster covers",
            "n_clusters": 4,
            "annotations": ["declined payment", "late delivery", "missing refund"],
        },
        Proposal,
    ),
    "refine": (
        {"goal": GOAL, "mode": "sharpen", "clusters": CLUSTERS, "texts": TEXTS[:2], "reason": ""},
        Proposal,
    ),
    "choose_cluster": ({"goal": GOAL, "text": TEXTS[0], "clusters": CLUSTERS}, choice_schema(2)),
    "annotate": ({"goal": GOAL, "text": TEXTS[0]}, Annotation),
    "judge_membership": (
        {"goal": GOAL, "text": TEXTS[0], "explanation": CLUSTERS[0]["explanation"]},
        Judgement,
    ),
    "label_batch": ({"goal": GOAL, "texts": TEXTS, "n_labels": 3}, Proposal),
    "merge_labels": ({"goal": GOAL, "labels": CLUSTERS, "n_labels": 2}, Proposal),
    "judge_explanations": (
        {"goal": GOAL, "text": TEXTS[0], "explanations": [c["explanation"] for c in CLUSTERS]},
        choice_schema(2),
    ),
    "chat_action": (
        {
            "documents": 3,
            "goal": GOAL,
            "clusters": [{"id": "c1", "name": "Declined payment", "size": 2}],
            "recent": [{"role": "user", "content": "/clusters"}, {"role": "assistant", "content": "c1 ..."}],
            "text": "merge c1 with the late ones",
        },
        ActionRequest,
    ),
    "summarize": ({"cluster": CLUSTERS[0], "texts": TEXTS, "goal": GOAL}, Summary),
    "describe_cluster": ({"texts": TEXTS[:1], "others": CLUSTERS[1:], "goal": GOAL}, ClusterDescription),
    "propose_criteria": ({"texts": TEXTS, "n_criteria": 4}, Criteria),
    "aspect": ({"goal": GOAL}, Aspect),
    "aspect_note": ({"aspect": "reason for complaint", "text": TEXTS[0]}, Annotation),
    "describe_group": (
        {
            "goal": GOAL,
            "aspect": "reason for complaint",
            "texts": TEXTS[:2],
            "notes": ["refused card payment", ""],
            "contrast": TEXTS[2:],
            "others": CLUSTERS[1:],
        },
        ClusterDescription,
    ),
    "contrast": (
        {
            "goal": GOAL,
            "aspect": "reason for complaint",
            "explanation": CLUSTERS[0]["explanation"],
            "other_explanation": "The customer complains about a refund.",
            "texts": TEXTS[:1],
            "other_texts": TEXTS[2:],
        },
        ClusterDescription,
    ),
}

# Prompts rendered raw, not as chat messages: the goal view's prompt carries its own chat markers.
RAW_CASES: dict[str, dict[str, Any]] = {
    "goal_view": {"text": TEXTS[0], "aspect": "reason for complaint"},
    "goal_view_text_first": {"text": TEXTS[0], "aspect": "reason for complaint"},
}
