"""`sam build` freshness, a build for this machine's architecture, a byte-compiled boto3 as the runtime has it."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path

from bench.common import ROOT, progress
from devstack.runtime import PYTHON_VERSION, PythonNotFoundError, find_python

BUILD_DIR = ROOT / ".aws-sam" / "build"
# `sam build` for the host's architecture (the template's arm64 cannot run on an x86_64 host): the bench and
# the build tests import from it. Its own build and cache folders, so the deploy build stays arm64.
HOST_DIR = ROOT / ".aws-sam" / "host"
HOST_BUILD_DIR = HOST_DIR / "build"
SAM = ROOT / ".venv" / "bin" / "sam"
SOURCES = ("template.yaml", "functions", "layers", "statemachine", "tools/lambda-build")


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


def build_is_stale(root: Path = ROOT, build_dir: Path = BUILD_DIR) -> bool:
    marker = build_dir / "template.yaml"
    return not marker.exists() or marker.stat().st_mtime < _newest_source_mtime(root)


def host_architecture() -> str:
    """The Lambda architecture name of this machine."""
    return "arm64" if platform.machine().lower() in ("aarch64", "arm64") else "x86_64"


def host_dir(python_version: str = PYTHON_VERSION) -> Path:
    """Where the host-architecture build and runtime copy for ``python_version`` live (the runtime's: HOST_DIR)."""
    return HOST_DIR if python_version == PYTHON_VERSION else HOST_DIR.with_name(f"host-py{python_version}")


def ensure_build(
    template: Path,
    build_dir: Path = BUILD_DIR,
    architecture: str | None = None,
    python_version: str = PYTHON_VERSION,
) -> str:
    """Run `sam build` when ``build_dir`` is missing or older than the sources; returns what happened.

    ``architecture`` (LAMBDA_ARCHITECTURE of tools/lambda-build/Makefile) picks the wheels; None: the template's.
    ``python_version`` (LAMBDA_PYTHON) picks the wheels and compiles the bytecode; the bench compares two.
    """
    if not build_is_stale(build_dir=build_dir):
        return "up to date"
    if not SAM.exists():
        return "stale, but SAM CLI is not installed (`make venv`): sizes are of the old build"
    try:
        python = find_python(python_version)
    except PythonNotFoundError as exc:
        return f"sam build failed (no Python {python_version}: {exc})"
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "LAMBDA_PYTHON": python_version}
    env["PATH"] = f"{Path(python).parent}{os.pathsep}{env.get('PATH', '')}"
    args = ["--cached", "--parallel", "--template-file", str(template)]
    if build_dir != BUILD_DIR:
        args += ["--build-dir", str(build_dir), "--cache-dir", str(build_dir.parent / "cache")]
    if architecture:
        env["LAMBDA_ARCHITECTURE"] = architecture
    progress(f"build: {build_dir.relative_to(ROOT)} is missing or older than the sources; running sam build (~20 s)")
    proc = subprocess.run(
        [str(SAM), "build", *args],
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


def ensure_host_build(template: Path, python_version: str = PYTHON_VERSION) -> str:
    """The `sam build` output for this machine's architecture, in .aws-sam/host/build (another Python's:
    .aws-sam/host-py3.NN/build)."""
    return ensure_build(template, host_dir(python_version) / "build", host_architecture(), python_version)


def _requirement_names(dist: importlib.metadata.Distribution) -> list[str]:
    names = []
    for req in dist.requires or []:
        if ";" in req and "extra ==" in req.split(";", 1)[1]:
            continue  # optional extras are not installed with the runtime
        match = re.match(r"[A-Za-z0-9._-]+", req)
        if match:
            names.append(match.group(0))
    return names


def ensure_runtime_copy(python_version: str = PYTHON_VERSION) -> Path:
    """boto3 and what it needs, copied from this environment and byte-compiled by the runtime's Python, as
    /var/runtime ships them (pure Python: one copy fits every version).

    Rebuilt when the boto3 version changes. Imports from it with ``python -B`` read only the shipped .pyc.
    """
    dest = host_dir(python_version) / "runtime"
    version = importlib.metadata.version("boto3")
    marker = dest / ".boto3-version"
    if marker.exists() and marker.read_text() == version:
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    todo, seen = ["boto3"], set()
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        seen.add(key)
        dist = importlib.metadata.distribution(name)
        for file in dist.files or []:
            src = Path(str(dist.locate_file(file)))
            if "__pycache__" in file.parts or not src.is_file() or ".." in file.parts:
                continue
            target = dest / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
        todo += _requirement_names(dist)
    subprocess.run(
        [find_python(python_version), "-m", "compileall", "-qq", "-j0", "--invalidation-mode", "unchecked-hash", dest],
        check=True,
        timeout=600,
    )
    marker.write_text(version)
    return dest


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
