"""A real terminal session of `goalcluster chat` (pexpect, a pseudo-terminal) with the packaged 0.5B
model on a small real sample: cluster by a goal, list, show, merge, quit; resume the thread and find
the merged state intact."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pexpect
import pytest

from evals.data import load_set, restrict, stratified

pytestmark = pytest.mark.real
GOALCLUSTER = str(Path(sys.executable).parent / "goalcluster")
PROMPT = "you> "
# id, size, share, "P / R" (figures or "-"), name — explanation
ROW = re.compile(r"^\s+(c\d+)\s+(\d+)\s+[\d.]+%\s+(?:[\d.]+|-) / (?:[\d.]+|-)\s+(.+?) — ", re.MULTILINE)


def start(data: Path, folder: Path, home: Path, log: Path) -> pexpect.spawn:
    args = [str(data), "--thread", "explore", "--out", str(folder), "--llm", "llamacpp:small"]
    args += ["--max-clusters", "3", "--max-iterations", "1", "--quiet"]
    env = {**os.environ, "GOALCLUSTER_HOME": str(home)}
    child = pexpect.spawn(
        GOALCLUSTER, ["chat", *args], env=env, encoding="utf-8", timeout=60, dimensions=(50, 200)
    )
    child.logfile_read = log.open("a", encoding="utf-8")
    return child


def say(child: pexpect.spawn, line: str, timeout: int = 120) -> str:
    child.sendline(line)
    child.expect_exact(PROMPT, timeout=timeout)
    return str(child.before)


def test_chat_in_a_real_terminal_and_resume(tmp_path: Path, shared_data: Path, fresh_home: Path) -> None:
    sample = stratified(restrict(load_set(shared_data, "banking77"), "label", 3, seed=1), "label", 24, seed=0)
    data = tmp_path / "messages.jsonl"
    data.write_text(
        "".join(
            json.dumps({"id": i, "text": t}) + "\n" for i, t in zip(sample.ids, sample.texts, strict=True)
        )
    )
    folder, log = tmp_path / "chat", tmp_path / "terminal.log"

    child = start(data, folder, fresh_home, log)
    child.expect_exact(PROMPT, timeout=120)
    assert "thread 'explore'" in str(child.before)
    answer = say(child, "/cluster group the messages by what the customer wants the bank to do", timeout=1200)
    assert "Clustered by: group the messages" in answer and "coverage" in answer
    listing = say(child, "/clusters")
    rows = ROW.findall(listing)
    assert len(rows) >= 2, listing
    (first, _, name_a), (second, _, name_b) = rows[0], rows[1]
    shown = say(child, f"/show {first} 2")
    assert f"{first} {name_a}" in shown
    assert len(re.findall(r"^\s+banking77-test-\d+ \[", shown, re.MULTILINE)) == 2
    merged = say(child, f"/merge {first} {second}")
    assert f"Done: merged {first} and {second}" in merged
    after = ROW.findall(say(child, "/clusters"))
    child.sendline("/quit")
    child.expect(pexpect.EOF, timeout=60)
    assert any(name == f"{name_a} + {name_b}" for _, _, name in after)

    child = start(data, folder, fresh_home, log)
    child.expect_exact(PROMPT, timeout=120)
    assert "Resumed: 6 earlier turn(s)" in str(child.before)
    resumed = ROW.findall(say(child, "/clusters"))
    assert resumed == after
    child.sendline("/quit")
    child.expect(pexpect.EOF, timeout=60)
