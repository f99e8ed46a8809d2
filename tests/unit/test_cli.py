"""The CLI's argument handling and error messages, called in-process (no model is loaded)."""

from __future__ import annotations

from pathlib import Path

import pytest

from goalcluster.cli import build_parser, config_from, main


def test_flags_become_the_config(tmp_path: Path) -> None:
    args = build_parser().parse_args(
        [
            "run",
            "x.csv",
            "--home",
            str(tmp_path),
            "--goal",
            "why",
            "--clusters",
            "5",
            "--coverage",
            "0.8",
            "--llm",
            "llamacpp:small",
            "--n-gpu-layers",
            "-1",
            "--budget-calls",
            "7",
            "--no-cache",
        ]
    )
    config = config_from(args)
    assert (config.min_clusters, config.max_clusters, config.coverage) == (5, 5, 0.8)
    assert config.llm == "llamacpp:small" and config.backend.n_gpu_layers == -1
    assert config.budget_calls == 7 and config.use_cache is False and config.home == tmp_path


def test_environment_gives_defaults_and_flags_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOALCLUSTER_LLM", "llamacpp:small")
    assert config_from(build_parser().parse_args(["run", "x.csv"])).llm == "llamacpp:small"
    assert config_from(build_parser().parse_args(["run", "x.csv", "--llm", "llamacpp"])).llm == "llamacpp"


def test_bad_input_exits_2_with_the_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "t.txt"
    data.write_text("one text\nanother\n")
    assert main(["run", str(data), "--home", str(tmp_path), "--goal", "  "]) == 2
    assert "goal is empty" in capsys.readouterr().err
    assert main(["run", str(data), "--home", str(tmp_path), "--clusters", "5"]) == 2
    assert "2 document(s) but 5 cluster(s)" in capsys.readouterr().err
    assert main(["run", str(data), "--home", str(tmp_path), "--coverage", "1.5"]) == 2
    assert "invalid option: coverage" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "missing.csv"), "--home", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_flags_left_out_give_exactly_the_config_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.config import Config

    monkeypatch.delenv("GOALCLUSTER_LLM", raising=False)
    monkeypatch.delenv("GOALCLUSTER_EMBEDDER", raising=False)
    assert config_from(build_parser().parse_args(["run", "x.csv", "--home", str(tmp_path)])) == Config(
        home=tmp_path
    )


def test_impossible_counts_are_refused_not_reinterpreted(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "x.csv", "--clusters", "0"]) == 2
    assert "min_clusters: Input should be greater than or equal to 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["discover", "x.csv", "--max-criteria", "-1"])
    assert "must be 1 or more, got -1" in capsys.readouterr().err


def test_credentials_in_a_model_url_are_refused_unechoed_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "t.txt"
    data.write_text("one text\nanother\nthird\n")
    for flag in ("--llm", "--embedder", "--view-model"):
        url = "openai-compatible:https://me:sk-SECRET@models.example/v1@m"
        code = main(["run", str(data), "--home", str(tmp_path), "--out", str(tmp_path / "run"), flag, url])
        err = capsys.readouterr().err
        assert code == 2 and "credentials" in err and "--api-key-env" in err
        assert "SECRET" not in err
    assert not (tmp_path / "run").exists()


def test_the_embedders_key_comes_from_the_environment_and_its_identity_names_the_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from agent.config import Config
    from agent.workspace import make_run_embedder
    from tools.embedders import OpenAICompatibleEmbedder

    monkeypatch.setenv("EMB_KEY", "sk-from-env")
    args = ["embed", "x.csv", "--embedder", "openai-compatible:http://10.0.0.5:8001/v1@e5"]
    config = config_from(build_parser().parse_args([*args, "--embedder-api-key-env", "EMB_KEY"]))
    assert "sk-from-env" not in config.model_dump_json()
    embedder = make_run_embedder(config)
    assert isinstance(embedder, OpenAICompatibleEmbedder) and embedder.api_key == "sk-from-env"
    other = make_run_embedder(Config(embedder="openai-compatible:http://10.0.0.6:8001/v1@e5"))
    assert embedder.name == "oai|http://10.0.0.5:8001/v1|e5" != other.name  # two servers never mix


def test_the_executor_comes_from_the_flag_or_the_environment_and_a_bad_one_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GOALCLUSTER_EXECUTOR", "ray")
    assert config_from(build_parser().parse_args(["run", "x.csv"])).executor == "ray"
    args = ["embed", "x.csv", "--executor", "ray:10.0.0.5:6380"]
    assert config_from(build_parser().parse_args(args)).executor == "ray:10.0.0.5:6380"
    data = tmp_path / "t.txt"
    data.write_text("one text\nanother\nthird\n")
    assert main(["run", str(data), "--home", str(tmp_path), "--executor", "spark"]) == 2
    assert "unknown executor 'spark': use local, ray, or ray:HOST:PORT" in capsys.readouterr().err
    assert main(["resume", str(tmp_path), "--executor", "local"]) == 2  # not a run folder: said so
    assert "not a goalcluster run folder" in capsys.readouterr().err
