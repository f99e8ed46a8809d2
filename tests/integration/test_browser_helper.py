"""The browser helper every browser test uses leaves nothing behind: no Chromium process of its
group or on its profile, and no profile folder, however the page ended."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser import _survivors, browser, chromium, visit

pytestmark = pytest.mark.real


def test_browser_ends_every_process_before_its_profile_goes(tmp_path: Path) -> None:
    if chromium() is None:
        pytest.fail("Chromium is missing: .ci/run installs Debian's chromium (apt-get install chromium)")
    page = tmp_path / "page.html"
    page.write_text("<!doctype html><title>t</title><p id=p>hello</p>", encoding="utf-8")
    for _ in range(3):
        with browser() as running:
            profile = running.profile
            assert profile.is_dir() and _survivors(-1, profile)  # Chromium runs on that profile
        assert not _survivors(-1, profile)
        assert not profile.exists() and not profile.parent.exists()
    seen = visit(page, "document.getElementById('p').textContent", tmp_path / "shot.png")
    assert seen.probe == "hello" and not seen.errors
    assert (tmp_path / "shot.png").read_bytes().startswith(b"\x89PNG")
