"""The goal view on the real packaged 0.5B model (llama.cpp embedding mode), stored in a real
Chroma store on disk: computed once per aspect, reused after, and different per aspect."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from agent.config import Config
from agent.llm.hidden import HiddenStates
from agent.llm.registry import make_hidden_states
from agent.workspace import Workspace, build_workspace
from tools.prototypes import centre

pytestmark = pytest.mark.real

TEXTS = [
    "The striker scored twice in the final minutes of the match.",
    "El delantero marcó dos goles en los últimos minutos del partido.",
    "The new phone has a faster chip and a brighter screen.",
    "El nuevo teléfono tiene un chip más rápido y una pantalla más brillante.",
    "Bake the bread for forty minutes until the crust is golden.",
    "Hornea el pan durante cuarenta minutos hasta que la corteza esté dorada.",
]
LANGUAGE = ["en", "es"] * 3


class Counting:
    """The real hidden states, counting the prompts that reach the model."""

    def __init__(self, states: HiddenStates) -> None:
        self.states = states
        self.prompts = 0

    @property
    def model_id(self) -> str:
        return self.states.model_id

    def last_states(self, prompts: Sequence[str]) -> np.ndarray:
        self.prompts += len(prompts)
        return self.states.last_states(prompts)


def workspace(tmp_path: Path, model_home: Path, states: Counting) -> Workspace:
    config = Config(llm="llamacpp:small", home=model_home, store=tmp_path / "store", use_cache=False)
    ids = [f"d{i}" for i in range(len(TEXTS))]
    return build_workspace(config, tmp_path / "run", "views", ids, TEXTS, quiet=True, hidden=states)


def test_goal_view_is_computed_once_per_aspect_and_differs_between_aspects(
    tmp_path: Path, model_home: Path
) -> None:
    config = Config(llm="llamacpp:small", home=model_home)
    real = make_hidden_states(config.llm, config.backend, model_home)
    assert real is not None and real.model_id.startswith("llamacpp:qwen2.5-coder-0.5b-instruct@1d961463")
    states = Counting(real)
    ws = workspace(tmp_path, model_home, states)
    language = ws.goal_vectors("language", "by language")
    assert language.shape == (6, 896) and language.dtype == np.float32 and states.prompts == 6
    again = workspace(tmp_path, model_home, states).goal_vectors("language", "by language")
    assert states.prompts == 6  # a new workspace on the same store: read back, not computed
    np.testing.assert_allclose(again, language, rtol=1e-5, atol=1e-5)
    topic = ws.goal_vectors("topic", "by topic")
    assert states.prompts == 12
    cosine = (
        np.sum(language * topic, axis=1) / np.linalg.norm(language, axis=1) / np.linalg.norm(topic, axis=1)
    )
    assert np.all(cosine < 0.999)  # the aspect changes the vector of the same text

    by_language = centre(language)
    similar = by_language @ by_language.T
    same = [similar[i, j] for i in range(6) for j in range(i + 1, 6) if LANGUAGE[i] == LANGUAGE[j]]
    other = [similar[i, j] for i in range(6) for j in range(i + 1, 6) if LANGUAGE[i] != LANGUAGE[j]]
    assert np.mean(same) > np.mean(other)  # under "language", texts of one language are closer
