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
    _installed_cli_answers(next(tmp_path.glob("goalcluster-*.whl")), tmp_path)


def _installed_cli_answers(wheel: Path, tmp_path: Path) -> None:
    """Install the wheel alone into a clean virtualenv and run its CLI there, away from the source
    tree. The dependencies are the project environment's, reached through a path entry (which does
    not run that environment's editable-install hook), so only the wheel provides the project."""
    import site
    import venv

    clean = tmp_path / "clean"
    venv.EnvBuilder(with_pip=False).create(clean)
    python = clean / "bin" / "python"
    inner = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    (Path(inner) / "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)]
    done = subprocess.run(pip, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    for command in (["--help"], ["chat", "--help"]):
        ran = subprocess.run(
            [str(clean / "bin" / "goalcluster"), *command],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert ran.returncode == 0, ran.stderr[-2000:]
        assert "usage: goalcluster" in ran.stdout
    where = subprocess.run(
        [str(python), "-c", "import goalcluster.chat.graph as g; print(g.__file__)"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert where.startswith(inner), where  # the wheel's copy, not the source tree's
