"""`sam build` freshness and the built package sizes."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from bench.common import ROOT, progress

BUILD_DIR = ROOT / ".aws-sam" / "build"
SAM = ROOT / ".venv-sam" / "bin" / "sam"
SOURCES = ("template.yaml", "functions", "layers", "statemachine")


def _newest_source_mtime(root: Path) -> float:
    newest = 0.0
    for name in SOURCES:
        p = root / name
        if p.is_file():
            newest = max(newest, p.stat().st_mtime)
            continue
        for dirpath, dirnames, filenames in os.walk(p):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for f in filenames:
                if not f.endswith((".pyc", ".pyo")):
                    newest = max(newest, (Path(dirpath) / f).stat().st_mtime)
    return newest


def build_is_stale(root: Path = ROOT) -> bool:
    marker = BUILD_DIR / "template.yaml"
    return not marker.exists() or marker.stat().st_mtime < _newest_source_mtime(root)


def ensure_build(template: Path) -> str:
    """Run `sam build` when .aws-sam/build is missing or older than the sources; returns what happened."""
    if not build_is_stale():
        return "up to date"
    if not SAM.exists():
        return "stale, but SAM CLI is not installed (.venv-sam): sizes are of the old build"
    python = shutil.which("python3.11")
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    if python:
        env["PATH"] = f"{Path(python).parent}{os.pathsep}{env.get('PATH', '')}"
    progress("build: .aws-sam/build is missing or older than the sources; running sam build (~20 s)")
    proc = subprocess.run(
        [str(SAM), "build", "--cached", "--parallel", "--template-file", str(template)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-5:])
        progress(f"build: sam build failed (exit {proc.returncode}); sizes are of the previous build\n{tail}")
        return f"sam build failed (exit {proc.returncode})"
    return "rebuilt"


def du_bytes(path: Path) -> int:
    """Apparent size of the files under ``path`` (what goes into the zip before compression)."""
    if not path.exists():
        return 0
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            fp = Path(dirpath) / f
            if not fp.is_symlink():
                total += fp.stat().st_size
    return total
