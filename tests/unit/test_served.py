"""The served graph (goalcluster/served.py) in process, with the scripted fake LLM and the fake
embedder: the same files as ``goalcluster run``, stage events, and a run that failed or was
interrupted going on from where it stopped on the same thread. The same graph under ``langgraph
dev`` with the real models is tests/integration/test_langgraph_server.py."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeEmbedder, ScriptedBackend, answer_by_prompt, corpus_of_topics
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph.state import CompiledStateGraph

from agent.config import Config
from agent.llm.backends import BackendError, Message
from agent.workspace import RunContext, build_workspace
from goalcluster.cli import build_parser, config_from
from goalcluster.runner import SERDE, RunInputError, start_run
from goalcluster.served import ServedInput, build_served_graph, served_config
from tools.corpus import Corpus
from tools.files import FolderInUse, claimed

ROOT = Path(__file__).resolve().parents[2]
OPTIONS = {
    "goal": "why the customer wrote",
    "view": "semantic",
    "max_clusters": 4,
    "assign_mode": "embeddings",
    "spot_checks": 2,
    "use_cache": False,
    "annotate_samples": False,
}
AGENT_STAGES = ["embed", "view", "cluster", "inspect", "propose", "assign", "select", "reassign", "verify"]
THREAD: Any = {"configurable": {"thread_id": "t1"}}


def write_data(tmp_path: Path) -> tuple[Path, Corpus]:
    ids, texts, _ = corpus_of_topics()
    data = tmp_path / "tickets.jsonl"
    data.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in zip(ids, texts, strict=True)))
    return data, Corpus(ids=ids, texts=texts, name="tickets")


def request(tmp_path: Path, data: Path, **options: Any) -> dict[str, Any]:
    return {"data": str(data), "options": {**OPTIONS, "home": str(tmp_path / "home"), **options}}


def served(checkpointer: bool = True) -> CompiledStateGraph[Any, Any, Any, Any]:
    return build_served_graph().compile(checkpointer=InMemorySaver(serde=SERDE) if checkpointer else None)


def context(tmp_path: Path, corpus: Corpus, config: Config, backend: ScriptedBackend) -> RunContext:
    ws = build_workspace(
        config,
        tmp_path / "run",
        corpus.name,
        corpus.ids,
        corpus.texts,
        quiet=True,
        backend=backend,
        embedder=FakeEmbedder(),
    )
    return RunContext(run_dir=str(ws.run_dir), workspace=ws)


def working(n: int = 100) -> ScriptedBackend:
    return ScriptedBackend([answer_by_prompt()] * n)


def stream_events(graph: Any, start: dict[str, Any] | None, ctx: RunContext, **kwargs: Any) -> list[Any]:
    return list(graph.stream(start, THREAD, context=ctx, stream_mode="custom", **kwargs))


def stages(events: Sequence[dict[str, Any]], status: str = "started") -> list[str]:
    return [e["stage"] for e in events if e["status"] == status]


def test_served_config_is_the_config_the_cli_flags_make(tmp_path: Path) -> None:
    home = tmp_path / "home"
    flags = ["run", "data.jsonl", "--home", str(home), "--goal", "g", "--seed", "7", "--clusters", "3"]
    flags += ["--llm", "llamacpp:small", "--max-iterations", "1", "--view", "semantic"]
    cli = config_from(build_parser().parse_args(flags))
    options = {"home": str(home), "goal": "g", "seed": 7, "llm": "llamacpp:small", "max_iterations": 1}
    options["view"] = "semantic"
    assert served_config(ServedInput(data="data.jsonl", clusters=3, options=options)) == cli
    assert cli.backend.seed == 7 and cli.min_clusters == cli.max_clusters == 3


def test_served_run_writes_the_files_of_goalcluster_run_and_streams_every_stage(tmp_path: Path) -> None:
    data, corpus = write_data(tmp_path)
    start = request(tmp_path, data)
    config = served_config(ServedInput.model_validate(start))
    graph = served()
    events = stream_events(graph, start, context(tmp_path, corpus, config, working()))

    assert stages(events) == ["prepare", *AGENT_STAGES, "results"]
    assert stages(events, "finished") == ["prepare", *AGENT_STAGES, "finish", "results"]
    timed = [e for e in events if e["stage"] in AGENT_STAGES and e["status"] == "finished"]
    assert len(timed) == len(AGENT_STAGES) and all(e["seconds"] >= 0 and e["round"] == 1 for e in timed)
    output = graph.get_state(THREAD).values
    assert output["metrics"]["stop_reason"] == "targets_met" and len(output["clusters"]) == 3

    cli_run = tmp_path / "cli-run"
    start_run(corpus, config, cli_run, backend=working(), embedder=FakeEmbedder(), quiet=True)
    run = tmp_path / "run"
    for name in ("clusters.json", "assignments.jsonl", "assignments.csv", "corpus.jsonl", "run.json"):
        assert (run / name).read_text() == (cli_run / name).read_text(), name
    assert json.loads((run / "clusters.json").read_text()) == output["clusters"]


def failing_once() -> ScriptedBackend:
    """A model server that fails the first request (after its retries), then answers."""

    def fail(messages: Sequence[Message], schema: dict[str, Any]) -> dict[str, Any]:
        raise BackendError("the model server answered 503 four times")

    return ScriptedBackend([fail, *[answer_by_prompt()] * 100])


def test_a_failed_run_goes_on_from_its_last_step_on_the_same_thread(tmp_path: Path) -> None:
    data, corpus = write_data(tmp_path)
    start = request(tmp_path, data)
    config = served_config(ServedInput.model_validate(start))
    graph = served()
    events: list[dict[str, Any]] = []
    with pytest.raises(BackendError, match="503"):
        for event in graph.stream(
            start, THREAD, context=context(tmp_path, corpus, config, failing_once()), stream_mode="custom"
        ):
            events.append(event)
    assert stages(events, "finished") == ["prepare", "embed", "view", "cluster", "inspect"]
    assert graph.get_state(THREAD).next == ("propose",)
    assert (tmp_path / "run" / "run.json").exists() and not (tmp_path / "run" / "clusters.json").exists()

    embedder = FakeEmbedder()
    ws = build_workspace(
        config, tmp_path / "run", corpus.name, corpus.ids, corpus.texts, backend=working(), embedder=embedder
    )
    again = stream_events(graph, None, RunContext(run_dir=str(ws.run_dir), workspace=ws))
    assert stages(again) == ["propose", "assign", "select", "reassign", "verify", "results"]
    assert embedder.embedded and not set(embedder.embedded) & set(corpus.texts)  # explanations only
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["stop_reason"] == "targets_met"
    assert len(json.loads((tmp_path / "run" / "clusters.json").read_text())) == 3


def test_a_run_interrupted_before_a_stage_goes_on_from_there(tmp_path: Path) -> None:
    data, corpus = write_data(tmp_path)
    start = request(tmp_path, data)
    ctx = context(tmp_path, corpus, served_config(ServedInput.model_validate(start)), working())
    graph = served()
    first = stream_events(graph, start, ctx, interrupt_before=["select"])
    assert stages(first)[-1] == "assign" and graph.get_state(THREAD).next == ("select",)
    rest = stream_events(graph, None, ctx)
    assert stages(rest) == ["select", "reassign", "verify", "results"]
    assert (tmp_path / "run" / "metrics.json").exists()


def test_prepare_refuses_what_it_cannot_run_with_the_fix(tmp_path: Path) -> None:
    data, corpus = write_data(tmp_path)
    start = request(tmp_path, data)
    config = served_config(ServedInput.model_validate(start))
    graph = served(checkpointer=False)
    with pytest.raises(RunInputError, match=r'context=\{"run_dir"'):
        graph.invoke(start, context=RunContext(run_dir=""))
    with pytest.raises(RunInputError, match=r"holds no prepared run .* Name a data file"):
        graph.invoke({"options": {}}, context=RunContext(run_dir=str(tmp_path / "empty")))
    with pytest.raises(RunInputError, match="invalid option: max_overlap"):
        graph.invoke(
            request(tmp_path, data, max_overlap=3), context=RunContext(run_dir=str(tmp_path / "bad"))
        )
    with pytest.raises(RunInputError, match=r"99 cluster\(s\) were asked for"):
        too_many = request(tmp_path, data, min_clusters=99, max_clusters=99)
        graph.invoke(too_many, context=RunContext(run_dir=str(tmp_path / "few")))

    ctx = context(tmp_path, corpus, config, working())
    graph.invoke(start, context=ctx)
    other = request(tmp_path, data, goal="another goal")
    with pytest.raises(RunInputError, match="already holds another run"):
        graph.invoke(other, context=RunContext(run_dir=ctx.run_dir))

    cli_run = tmp_path / "cli-run"
    start_run(corpus, config, cli_run, backend=working(), embedder=FakeEmbedder(), quiet=True)
    with pytest.raises(RunInputError, match="goalcluster resume"):
        graph.invoke(start, context=RunContext(run_dir=str(cli_run)))


def test_a_step_refuses_a_folder_another_process_works_in(tmp_path: Path) -> None:
    data, corpus = write_data(tmp_path)
    start = request(tmp_path, data)
    ctx = context(tmp_path, corpus, served_config(ServedInput.model_validate(start)), working())
    graph = served()
    with claimed(tmp_path / "run"), pytest.raises(FolderInUse, match="in use by goalcluster process"):
        graph.invoke(start, THREAD, context=ctx)
    assert not (tmp_path / "run" / "run.json").exists()
    graph.invoke(None, THREAD, context=ctx)  # once it is free the run goes on
    assert (tmp_path / "run" / "metrics.json").exists()


def test_a_path_read_back_as_its_parts_is_a_path() -> None:
    """A LangGraph server reads a thread's state through a JSON view that writes a Path as parts."""
    config = Config.model_validate({"home": ["/", "srv", "cache"], "store": ["/", "srv", "vectors"]})
    assert config.home == Path("/srv/cache") and config.store_path == Path("/srv/vectors")


def test_langgraph_json_names_graphs_that_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each graph loads as the LangGraph server loads it: its file as a module of its own."""
    spec = json.loads((ROOT / "langgraph.json").read_text())
    assert spec["dependencies"] == ["."]
    loaded = {}
    for name, target in spec["graphs"].items():
        path, attribute = target.rsplit(":", 1)
        module_spec = importlib.util.spec_from_file_location(f"served_{name}", ROOT / path)
        assert module_spec and module_spec.loader
        module = importlib.util.module_from_spec(module_spec)
        monkeypatch.setitem(sys.modules, module_spec.name, module)
        module_spec.loader.exec_module(module)
        loaded[name] = getattr(module, attribute)
    assert set(loaded["goalcluster"].nodes) >= {"prepare", *AGENT_STAGES, "finish", "results"}
    assert "prepare" not in loaded["agent"].nodes and "embed" in loaded["agent"].nodes
