"""The wheel built from the project carries every module and prompt the installed CLI needs."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGED = ("agent", "goalcluster", "prompts", "tools")


def test_the_wheel_holds_every_package_file(tmp_path: Path) -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    source = tmp_path / "source"  # a clean copy: a stale build/ folder would hide a missing package
    wanted = set()
    for name in tracked.stdout.splitlines():
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
            if name.startswith(PACKAGED) and name.endswith((".py", ".j2")):
                wanted.add(name)
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    done = subprocess.run(
        [*build, "-w", str(tmp_path), str(source)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    inside = set(zipfile.ZipFile(next(tmp_path.glob("goalcluster-*.whl"))).namelist())
    assert "goalcluster/chat/graph.py" in wanted and "prompts/goal_view.j2" in wanted
    assert wanted <= inside, sorted(wanted - inside)
