"""Debian's Chromium, headless, driven by Playwright (PyPI) through its ``executable_path``.

Playwright never downloads a browser here: it drives the system's ``chromium``. When that is missing, the
test set-up installs Debian's package as root (CI and these machines); anywhere else it fails with what to
install, never a silent skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

APT = ["apt-get", "-o", "DPkg::Lock::Timeout=900"]
# As root Chromium needs --no-sandbox; the rest keep it from calling home (the network is closed here).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class BrowserUnavailableError(RuntimeError):
    pass


def _find() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _apt(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run([*APT, *args], env=env, capture_output=True, text=True, check=False)  # noqa: S603


def ensure_chromium() -> str:
    """Path of Debian's chromium, installing it with apt-get when missing and running as root."""
    found = _find()
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise BrowserUnavailableError(
            "the browser test needs Chromium: install Debian's package (`sudo apt-get install chromium`) "
            "or put a `chromium` binary on the PATH"
        )
    install = ["install", "-y", "-q", "--no-install-recommends", "chromium"]
    if _apt(install).returncode != 0:
        _apt(["update", "-q"])  # a fresh machine may have no package lists yet
        proc = _apt(install)
        if proc.returncode != 0:
            raise BrowserUnavailableError(f"apt-get install chromium failed: {proc.stderr.strip()[-500:]}")
    found = _find()
    if not found:
        raise BrowserUnavailableError("apt-get installed chromium but no `chromium` is on the PATH")
    return found


def screenshot_dir(root: Path) -> Path:
    """Where a failing browser test leaves its screenshot (kept out of git)."""
    out = root / ".test-output" / "browser"
    out.mkdir(parents=True, exist_ok=True)
    return out
