"""Faults injected into real runs (the packaged models, the CLI as a user runs it), and what survived.

    python -m evals faults [--n 40] [--llm llamacpp:small] [--only kill,server,files,processes,inputs]

- kill: SIGKILL a run at each stage's progress line (the checkpoint says which node was cut), resume
  it and kill the resume at the next stage, the last kill while the report is written; then resume to
  the end and compare with an uninterrupted run;
- server: the run's chat model behind a loopback server that refuses, hangs, answers 500 or 429, or
  sends garbage for a share of the requests;
- files: each run-folder file and the embedding store damaged in turn, then resume and report;
- processes: two runs at once on one home, and on one run folder;
- inputs: a 10 MB line, NUL bytes, mixed encodings, line separators, formula-like ids, empty files.

Each case counts as survived when the command ended with a result or with a message naming the fix
(exit 0 or 2, never a traceback), and "lost" counts what a user would have lost: finished LLM calls
asked again, documents missing from the result, results that differ from the uninterrupted run's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from evals.data import load_set, restrict, stratified
from evals.faulty_server import FAULTS, FaultyServer
from evals.output import add_common_args, publish

GOALCLUSTER = str(Path(sys.executable).parent / "goalcluster")
GOAL = "group the messages by what the customer wants the bank to do"
TIMEOUT_S = 30  # the client's wait for one answer: above a real answer's time on 2 busy cores
HANG_S = 40  # a hung request outlasts it
LAST_MARKERS = ("stopped:", "writing the reports")
KILL_MARKERS = (
    "embedded",
    "working space:",
    "initial partition",
    "showing the LLM",
    "described",
    "matched",
    "selected",
    "placed",
    "round 1: coverage",
)


@dataclass
class Case:
    group: str
    fault: str
    survived: bool
    lost: int
    note: str


@dataclass
class Setup:
    """What every case uses: the data file, the models' home, the reference run, the options."""

    root: Path
    data: Path
    model_home: Path
    llm: str
    reference: dict[str, Any]


def goalcluster(args: list[str], home: Path, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GOALCLUSTER_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([GOALCLUSTER, *args], capture_output=True, text=True, env=env, timeout=timeout)


def fresh_home(setup: Setup, name: str) -> Path:
    """A home with the assembled models linked in and no answer cache or stored vectors."""
    home = setup.root / "homes" / name
    home.mkdir(parents=True)
    (home / "models").symlink_to(setup.model_home / "models", target_is_directory=True)
    return home


def run_args(setup: Setup, out: Path, *extra: str) -> list[str]:
    return [
        "run", str(setup.data), "--llm", setup.llm, "--max-clusters", "4", "--max-iterations", "1",
        "--goal", GOAL, "--out", str(out), *extra,
    ]  # fmt: skip


def outcome(run_dir: Path) -> dict[str, Any]:
    """What a user keeps of a finished run: each document's clusters (by name) and the names."""
    clusters = json.loads((run_dir / "clusters.json").read_text())
    names = {c["id"]: c["name"] for c in clusters}
    rows = [json.loads(line) for line in (run_dir / "assignments.jsonl").read_text().splitlines()]
    return {
        "clusters": sorted((c["name"], c["size"]) for c in clusters),
        "documents": {r["id"]: sorted(names[c] for c in r["cluster_ids"]) for r in rows},
    }


def repeated_calls(run_dir: Path) -> int:
    """Requests the model answered more than once (a finished call asked again after a restart)."""
    trace = run_dir / "trace.jsonl"
    asked = []
    for line in trace.read_text().splitlines() if trace.exists() else []:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "messages" in record and not record.get("cached"):
            asked.append(json.dumps(record["messages"]))
    return len(asked) - len(set(asked))


def compare(setup: Setup, run_dir: Path) -> tuple[int, str]:
    """(documents lost or placed otherwise than in the uninterrupted run, a note)."""
    got, want = outcome(run_dir), setup.reference
    missing = len(set(want["documents"]) - set(got["documents"]))
    differ = sum(1 for d, c in want["documents"].items() if got["documents"].get(d, c) != c)
    return missing, "same result" if (missing, differ) == (0, 0) else f"{differ} documents placed otherwise"


def ended_well(done: subprocess.CompletedProcess[str]) -> bool:
    """A result, or a message naming the fix: never a traceback."""
    return done.returncode in (0, 2) and "Traceback" not in done.stderr


def kill_cases(setup: Setup) -> list[Case]:
    """One run SIGKILLed at each stage in turn (each resume is killed at the next stage, the last
    two in finish and while the reports are written), then resumed to the end and compared with the
    uninterrupted run."""
    home, out = fresh_home(setup, "kill"), setup.root / "kill"
    cases: list[Case] = []
    command = run_args(setup, out)
    for marker in (*KILL_MARKERS, *LAST_MARKERS):
        if marker in LAST_MARKERS:  # the finish node, then the reports
            command = [*command, "--report"]
        cut, failure = _kill_at(command, out, home, marker)
        command = ["resume", str(out)]
        if failure:  # the command (a resume of the last kill) failed before reaching the marker
            cases.append(Case("kill", f"SIGKILL {cut}", False, 1, failure))
            return cases
        cases.append(Case("kill", f"SIGKILL {cut}", True, 0, "resumed by the next command"))
    done = goalcluster(["resume", str(out), "--report"], home)
    if not ended_well(done) or done.returncode != 0:
        cases[-1] = Case("kill", cases[-1].fault, False, 1, done.stderr.strip()[-200:])
        return cases
    missing, note = compare(setup, out)
    again = repeated_calls(out)
    report_ok = goalcluster(["report", str(out)], home).returncode == 0
    lost = missing + again + (0 if report_ok else 1)
    report = "written" if report_ok else "failed"
    ending = f"the last resume finished: {note}; {again} calls asked again; report {report}"
    cases[-1] = Case("kill", cases[-1].fault, True, lost, ending)
    return cases


def _kill_at(command: list[str], out: Path, home: Path, marker: str) -> tuple[str, str]:
    """Start ``command``, SIGKILL it as soon as its progress shows ``marker``: where it was cut, and
    how the command failed ("" if it did not: it reached the marker, or ended well before it)."""
    env = {**os.environ, "GOALCLUSTER_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen([GOALCLUSTER, *command], stderr=subprocess.PIPE, env=env)
    assert process.stderr is not None
    seen = b""
    while marker.encode() not in seen and process.poll() is None:
        seen += os.read(process.stderr.fileno(), 4096)
    if process.poll() is not None:
        seen += process.stderr.read()
        said = seen.decode(errors="replace")
        failed = process.returncode != 0 or "Traceback" in said
        return f"after '{marker}' (the run had ended)", said.strip()[-200:] if failed else ""
    process.send_signal(signal.SIGKILL)
    process.wait()
    return f"in {_next_node(out)} (after '{marker}')", ""


def _next_node(run_dir: Path) -> str:
    """The node the checkpoint would run next: the one the kill interrupted."""
    import sqlite3

    from langgraph.checkpoint.sqlite import SqliteSaver

    from agent.graph import build_graph
    from goalcluster.runner import CHECKPOINT, SERDE, THREAD

    if not (run_dir / CHECKPOINT).exists():
        return "the set-up (no checkpoint yet)"
    with sqlite3.connect(run_dir / CHECKPOINT) as connection:
        app = build_graph().compile(checkpointer=SqliteSaver(connection, serde=SERDE))
        state = app.get_state(THREAD)
    return ", ".join(state.next) or ("report writing" if state.values else "embed")


def server_cases(setup: Setup) -> list[Case]:
    from agent.llm.packaged import PACKAGED_MODELS, ensure_model

    packaged = PACKAGED_MODELS["small" if setup.llm.endswith("small") else "default"]
    model = ensure_model(packaged, setup.model_home)
    cases: list[Case] = []
    for fault in FAULTS:
        home, out = fresh_home(setup, f"server-{fault}"), setup.root / f"server-{fault}"
        server = FaultyServer(model, fault, share=0.2, hang_s=HANG_S)
        with server as url:  # a later --llm wins: the served model answers, the view stays local
            served = ["--llm", f"openai-compatible:{url}@served", "--view-model", setup.llm]
            served += ["--timeout", str(TIMEOUT_S)]
            done = goalcluster(run_args(setup, out, *served), home)
        injected = f"{fault} on {server.injected} of {server.injected + server.answered} requests"
        survived = ended_well(done)
        finished = done.returncode == 0
        note = "finished" if finished else done.stderr.strip().splitlines()[-1][:160]
        if not finished and survived:  # stopped with the fix named: the run must resume
            done = goalcluster(["resume", str(out)], home)
            finished, note = done.returncode == 0, note + "; resumed" if done.returncode == 0 else note
        lost = 0 if finished and (out / "assignments.jsonl").exists() else 1
        cases.append(Case("server", injected, survived and finished, lost, note))
    return cases


def cut_in_half(path: Path) -> None:
    """What a disk full or a killed writer leaves: the file's first half."""
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def file_cases(setup: Setup, finished: Path, home: Path) -> list[Case]:
    targets = [
        "run.json", "corpus.jsonl", "metrics.json", "clusters.json", "assignments.jsonl", "assignments.csv",
        "trace.jsonl", "checkpoint.sqlite", "arrays",
    ]  # fmt: skip
    cases: list[Case] = []
    for name in [*targets, "embedding store"]:
        copy = setup.root / f"files-{len(cases)}"
        shutil.copytree(finished, copy)
        store = home / "embeddings"
        saved = setup.root / "store-saved"
        if name == "embedding store":
            shutil.copytree(store, saved)
            path = store / "chroma.sqlite3"
        elif name == "arrays":
            path = sorted((copy / "arrays").iterdir())[0]
        else:
            path = copy / name
        cut_in_half(path)
        resumed = goalcluster(["resume", str(copy)], home)
        reported = goalcluster(["report", str(copy)], home)
        survived = ended_well(resumed) and ended_well(reported)
        if resumed.returncode == 0 and reported.returncode == 0:
            missing, note = compare(setup, copy)
            lost, note = missing, f"recovered: {note}"
        else:
            message = (resumed.stderr or reported.stderr).strip().splitlines()
            lost, note = 0, "refused: " + (message[-1][:160] if message else "no message")
        if name == "embedding store":
            shutil.rmtree(store)
            shutil.move(saved, store)
        cases.append(Case("files", f"{name} cut in half", survived, lost, note))
    return cases


def process_cases(setup: Setup) -> list[Case]:
    home = fresh_home(setup, "two-at-once")
    outs = [setup.root / "together-a", setup.root / "together-b"]
    env = {**os.environ, "GOALCLUSTER_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    both = [subprocess.Popen([GOALCLUSTER, *run_args(setup, out)], env=env) for out in outs]
    codes = [p.wait(timeout=3600) for p in both]
    lost = 0
    notes: list[str] = []
    for out, code in zip(outs, codes, strict=True):
        missing, note = compare(setup, out) if code == 0 else (len(setup.reference["documents"]), "failed")
        lost += missing
        notes.append(note)
    cases = [Case("processes", "two runs at once on one home", codes == [0, 0], lost, "; ".join(notes))]
    home = fresh_home(setup, "one-folder")
    out = setup.root / "one-folder"
    env["GOALCLUSTER_HOME"] = str(home)
    first = subprocess.Popen([GOALCLUSTER, *run_args(setup, out)], env=env)
    while not (out / "run.json").exists() and first.poll() is None:
        time.sleep(0.2)  # run.json is written once the folder is claimed
    second = goalcluster(run_args(setup, out), home)
    first.wait(timeout=3600)
    refused = second.returncode == 2 and "in use by" in second.stderr
    missing = compare(setup, out)[0] if first.returncode == 0 else len(setup.reference["documents"])
    note = second.stderr.strip().splitlines()[-1][:160] if second.stderr.strip() else ""
    cases.append(Case("processes", "two runs at once on one run folder", refused, missing, note))
    return cases


def input_cases(setup: Setup) -> list[Case]:
    home = fresh_home(setup, "inputs")
    normal = [json.loads(line)["text"] for line in setup.data.read_text().splitlines()][:12]
    formulas = "".join(f'=HYPERLINK("x{i}"),{t.replace(",", " ")}\n' for i, t in enumerate(normal))
    inputs: dict[str, tuple[str, bytes]] = {
        "a 10 MB single line": ("txt", ("x" * 10_000_000 + "\n" + "\n".join(normal) + "\n").encode()),
        "NUL bytes in texts": ("jsonl", _jsonl([t + "\x00 tail" for t in normal])),
        "mixed encodings": ("txt", "\n".join(normal).encode() + b"\ncaf\xe9 cr\xe8me latin-1\n"),
        "line separators": ("jsonl", _jsonl([t + " \u2028 \u2029 \x85 \x0c \x1c" for t in normal])),
        "formula-like ids": ("csv", ("id,text\n" + formulas).encode()),
        "an empty file": ("txt", b""),
        "whitespace lines only": ("txt", b"  \n\t\n \n"),
    }
    cases: list[Case] = []
    for name, (suffix, content) in inputs.items():
        path = setup.root / f"input-{len(cases)}.{suffix}"
        path.write_bytes(content)
        out = setup.root / f"input-{len(cases)}"
        args = ["run", str(path), "--llm", setup.llm, "--clusters", "2", "--max-iterations", "1"]
        done = goalcluster([*args, "--view", "semantic", "--out", str(out), "--report"], home)
        last = (done.stderr.strip().splitlines() or [""])[-1][:160]
        note = "ran" if done.returncode == 0 else f"refused: {last}"
        cases.append(Case("inputs", name, ended_well(done), 0, note))
    return cases


def _jsonl(texts: list[str]) -> bytes:
    return "".join(json.dumps({"id": f"d{i}", "text": t}) + "\n" for i, t in enumerate(texts)).encode()


def table(cases: list[Case]) -> str:
    lines = ["| group | fault injected | survived | lost | what happened |", "|---|---|---|---|---|"]
    for c in cases:
        lines.append(f"| {c.group} | {c.fault} | {'yes' if c.survived else '**no**'} | {c.lost} | {c.note} |")
    total = sum(c.survived for c in cases)
    lines.append(f"\n{len(cases)} faults injected, {total} survived, {sum(c.lost for c in cases)} lost")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    from agent.config import DEFAULT_HOME

    root = Path(args.out) / "faults-work"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    four = restrict(load_set(Path(args.data_dir), "banking77"), "label", 4, args.seed)
    sample = stratified(four, "label", args.n, args.seed)
    data = root / "messages.jsonl"
    rows = zip(sample.ids, sample.texts, strict=True)
    data.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in rows))
    model_home = Path(os.environ.get("GOALCLUSTER_HOME", DEFAULT_HOME))
    setup = Setup(root=root, data=data, model_home=model_home, llm=args.llm, reference={})
    home = fresh_home(setup, "reference")
    done = goalcluster(run_args(setup, root / "reference"), home)
    if done.returncode != 0:
        raise SystemExit(f"the uninterrupted run failed: {done.stderr[-2000:]}")
    setup.reference = outcome(root / "reference")
    wanted = set(args.only.split(","))
    cases: list[Case] = []
    groups: list[tuple[str, Callable[[], list[Case]]]] = [
        ("kill", lambda: kill_cases(setup)),
        ("server", lambda: server_cases(setup)),
        ("files", lambda: file_cases(setup, root / "reference", home)),
        ("processes", lambda: process_cases(setup)),
        ("inputs", lambda: input_cases(setup)),
    ]
    for name, run_group in groups:
        if name in wanted:
            started = time.perf_counter()
            found = run_group()
            cases += found
            seconds = time.perf_counter() - started
            print(f"{name}: {sum(c.survived for c in found)} of {len(found)} survived ({seconds:.0f} s)")
            figures = {"command": sys.argv, "n": args.n, "llm": args.llm, "cases": [asdict(c) for c in cases]}
            publish(Path(args.out), "faults", figures, table(cases), quiet=True)  # kept group by group
    print(f"\n{table(cases)}\n\nwritten to {args.out}")
    return 0


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("faults", help="inject faults into real runs and count what survived")
    add_common_args(parser)
    parser.add_argument("--n", type=int, default=40, help="documents in the runs (default 40)")
    parser.add_argument("--llm", default="llamacpp:small", help="chat model (default llamacpp:small)")
    parser.add_argument(
        "--only", default="kill,server,files,processes,inputs", help="groups of faults to run"
    )
    parser.set_defaults(handler=main)
