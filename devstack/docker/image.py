"""Docker for ``make run-docker``: the engine, the bridge address, and the Lambda python3.13 base image.

- The engine is used when it answers. On a machine without one where we are root (CI, these
  machines), Debian's ``docker.io`` is installed and ``dockerd`` started in the background; it is
  left running afterwards, like any system daemon. Anywhere else: :class:`DockerUnavailableError`
  with one line saying what to install.
- The base image is pulled the normal way when the registry answers; otherwise it is built
  offline from Debian (debootstrap minbase trixie, whose python3 is 3.13, + awslambdaric + the boto3
  this project pins + a Lambda-like ``/var/runtime/bootstrap``) and imported under a tag, so it is
  built once per machine. SAM CLI adds its own Runtime Interface Emulator on top
  (``--invoke-image <tag> --skip-pull-image``).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from devstack.runtime import PYTHON_VERSION, RUNTIME

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_REQUIREMENTS = ROOT / "env" / "lambda-runtime-requirements.txt"
DEV_REQUIREMENTS = ROOT / "requirements-dev.txt"
PUBLIC_IMAGE = f"public.ecr.aws/lambda/python:{PYTHON_VERSION}"
IMAGE_REPO = f"order-platform/lambda-{RUNTIME}"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
# The Debian release whose python3 is the runtime's version (trixie: 3.13).
DEBIAN_SUITE = "trixie"
DOCKERD_LOG = Path("/var/log/dockerd.log")
INSTALL_HINT = "install Docker (https://docs.docker.com/engine/install/) or run as root on Debian"

# What the Lambda python3.13 runtime puts on sys.path, in its order (layers unpack to /opt).
LAMBDA_PYTHONPATH = f"/var/task:/opt/python/lib/{RUNTIME}/site-packages:/opt/python:/var/runtime"
BOOTSTRAP = f"""#!/bin/sh
# The Lambda {RUNTIME} runtime's start, as AWS's image does it: the handler's module path, then the
# runtime interface client, which asks the Runtime API (SAM CLI's emulator) for invocations.
export PYTHONPATH="{LAMBDA_PYTHONPATH}"
export LAMBDA_TASK_ROOT=/var/task LAMBDA_RUNTIME_DIR=/var/runtime LANG=C.UTF-8 TZ=:UTC
exec /usr/bin/{RUNTIME} -m awslambdaric "$_HANDLER"
"""

Echo = Callable[[str], None]


class DockerUnavailableError(RuntimeError):
    """Docker cannot be used here; the message is one line saying what to install."""


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _run(cmd: list[str], timeout: float = 600, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)  # type: ignore[call-overload]


def docker_answers() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return _run(["docker", "info", "--format", "{{.ServerVersion}}"], timeout=30).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def apt_install(packages: list[str], echo: Echo = _stderr) -> None:
    """``apt-get install`` (another installer may hold the lock: wait for it); ``update`` once if needed."""
    cmd = ["apt-get", "-o", "DPkg::Lock::Timeout=900", "install", "-y", "--no-install-recommends", *packages]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    echo(f"[docker] apt-get install {' '.join(packages)}")
    res = _run(cmd, timeout=1800, env=env)
    if res.returncode != 0:
        _run(["apt-get", "-o", "DPkg::Lock::Timeout=900", "update"], timeout=900, env=env)
        res = _run(cmd, timeout=1800, env=env)
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()[-1:] or [""]
        raise DockerUnavailableError(f"apt-get install {' '.join(packages)} failed: {tail[0]}")


def ensure_docker(echo: Echo = _stderr, timeout: float = 90) -> None:
    """Make ``docker`` answer: use a running engine, else (root on Debian) install and start one."""
    if docker_answers():
        return
    if not _is_root():
        raise DockerUnavailableError(f"Docker is not running and this user cannot start it: {INSTALL_HINT}")
    if not shutil.which("dockerd") or not shutil.which("docker"):
        if not shutil.which("apt-get"):
            raise DockerUnavailableError(f"no Docker engine and no apt-get to install one: {INSTALL_HINT}")
        apt_install(["docker.io"], echo)
    dockerd = shutil.which("dockerd")
    if not dockerd:
        raise DockerUnavailableError(f"docker.io is installed but dockerd is not on the PATH: {INSTALL_HINT}")
    echo(f"[docker] starting dockerd in the background (log: {DOCKERD_LOG})")
    with open(DOCKERD_LOG, "ab") as log:
        # A session of its own: Ctrl-C in the terminal that started it does not stop the daemon.
        subprocess.Popen([dockerd], stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if docker_answers():
            return
        time.sleep(0.5)
    raise DockerUnavailableError(f"dockerd did not answer within {timeout:.0f}s (see {DOCKERD_LOG})")


def bridge_address() -> str:
    """The default bridge's gateway: the address the host has on docker0, reachable from containers."""
    res = _run(["docker", "network", "inspect", "bridge", "--format", "{{json .IPAM.Config}}"])
    configs = json.loads(res.stdout) if res.returncode == 0 and res.stdout.strip() else []
    for cfg in configs or []:
        if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", cfg.get("Gateway") or ""):
            return str(cfg["Gateway"])
    # Docker 20.10 leaves the default bridge's Gateway out of IPAM: the host's docker0 address is it.
    if shutil.which("ip"):
        shown = _run(["ip", "-4", "-o", "addr", "show", "docker0"]).stdout
        m = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", shown)
        if m:
            return m.group(1)
    for cfg in configs or []:
        subnet = cfg.get("Subnet") or ""
        if re.fullmatch(r"\d+\.\d+\.\d+\.\d+/\d+", subnet):
            return str(next(ipaddress.ip_network(subnet, strict=False).hosts()))
    raise DockerUnavailableError(f"cannot find the docker bridge's gateway address: {res.stderr.strip()}")


def docker_arch() -> str:
    """The host's architecture in Lambda's words (``x86_64`` or ``arm64``)."""
    machine = platform.machine().lower()
    return "arm64" if machine in ("aarch64", "arm64") else "x86_64"


def pinned(requirements: Path, package: str) -> str:
    for line in requirements.read_text().splitlines():
        m = re.match(rf"^{re.escape(package)}==([^\s;#]+)", line.strip(), re.IGNORECASE)
        if m:
            return m.group(1)
    raise ValueError(f"{package} is not pinned in {requirements}")


def runtime_requirements() -> list[str]:
    """What goes into /var/runtime: the runtime interface client (pinned here) and the project's boto3."""
    lines = [ln.split("#", 1)[0].strip() for ln in RUNTIME_REQUIREMENTS.read_text().splitlines()]
    return [ln for ln in lines if ln] + [f"boto3=={pinned(DEV_REQUIREMENTS, 'boto3')}"]


def image_tag() -> str:
    """Tag of the base image: changes with the pinned packages and the bootstrap, so a pin change rebuilds."""
    digest = hashlib.sha256(json.dumps([runtime_requirements(), BOOTSTRAP]).encode()).hexdigest()[:12]
    return f"{IMAGE_REPO}:{docker_arch()}-{digest}"


def image_exists(tag: str) -> bool:
    return _run(["docker", "image", "inspect", tag], timeout=60).returncode == 0


def registry_reachable(host: str = "public.ecr.aws", timeout: float = 5.0) -> bool:
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def ensure_base_image(echo: Echo = _stderr) -> str:
    """The tag of a Lambda python3.13 image for this host's architecture, pulled or built once."""
    tag = image_tag()
    if image_exists(tag):
        return tag
    started = time.monotonic()
    if registry_reachable() and _pull(tag, echo):
        how = f"pulled {PUBLIC_IMAGE}"
    else:
        build_offline(tag, echo)
        how = "built offline from Debian"
    echo(f"[docker] base image {tag}: {how} in {time.monotonic() - started:.0f}s")
    return tag


def _pull(tag: str, echo: Echo) -> bool:
    """AWS's image, with the pinned boto3 laid over the runtime's (pip inside the image)."""
    echo(f"[docker] pulling {PUBLIC_IMAGE}")
    if _run(["docker", "pull", PUBLIC_IMAGE], timeout=900).returncode != 0:
        echo("[docker] pull failed; building the image offline instead")
        return False
    pins = " ".join(runtime_requirements())
    dockerfile = f"FROM {PUBLIC_IMAGE}\nRUN pip install --no-cache-dir --upgrade --target /var/runtime {pins}\n"
    res = _run(["docker", "build", "-t", tag, "-"], timeout=900, input=dockerfile)
    if res.returncode != 0:
        echo(f"[docker] could not add the pinned packages to {PUBLIC_IMAGE}; building the image offline instead")
        return False
    return True


def build_offline(tag: str, echo: Echo = _stderr) -> None:
    """debootstrap a minimal trixie with python3.13, add the runtime client and boto3, import the tree."""
    if not _is_root():
        raise DockerUnavailableError(
            f"the Lambda base image is not here and cannot be pulled; building it needs root (debootstrap): {tag}"
        )
    if not shutil.which("debootstrap"):
        apt_install(["debootstrap"], echo)
    with tempfile.TemporaryDirectory(prefix="lambda-base-", dir="/var/tmp") as tmp:
        root = Path(tmp) / "root"
        _debootstrap(root, echo)
        _install_runtime(root, echo)
        for d in ("var/task", "opt"):
            (root / d).mkdir(parents=True, exist_ok=True)
        # Trim what a function never needs (apt lists, docs) to keep the image small.
        for d in ("var/lib/apt/lists", "var/cache/apt/archives", "usr/share/doc", "usr/share/man"):
            shutil.rmtree(root / d, ignore_errors=True)
        _import_image(root, tag)


def _debootstrap(root: Path, echo: Echo) -> None:
    echo(f"[docker] building the Lambda base image offline: debootstrap {DEBIAN_SUITE} (about a minute)")
    res = _run(
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={RUNTIME},ca-certificates",
            DEBIAN_SUITE,
            str(root),
            DEBIAN_MIRROR,
        ],
        timeout=1800,
    )
    if res.returncode != 0:
        raise DockerUnavailableError(f"debootstrap failed: {(res.stderr or res.stdout).strip()[-300:]}")


def _install_runtime(root: Path, echo: Echo) -> None:
    """The runtime interface client and the pinned packages in /var/runtime, with its bootstrap."""
    runtime = root / "var" / "runtime"
    runtime.mkdir(parents=True, exist_ok=True)
    echo(f"[docker] pip install --target /var/runtime {' '.join(runtime_requirements())}")
    # Wheels for the image's Python and architecture (awslambdaric has a C extension), whatever the host's
    # Python is: trixie's python3.13 is the runtime's version.
    res = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            "--target",
            str(runtime),
            "--only-binary=:all:",
            "--python-version",
            PYTHON_VERSION,
            "--platform",
            f"manylinux2014_{'aarch64' if docker_arch() == 'arm64' else 'x86_64'}",
            *runtime_requirements(),
        ],
        timeout=900,
    )
    if res.returncode != 0:
        raise DockerUnavailableError(f"pip install into the image failed: {res.stderr.strip()[-300:]}")
    bootstrap = runtime / "bootstrap"
    bootstrap.write_text(BOOTSTRAP)
    bootstrap.chmod(0o755)


def _import_image(root: Path, tag: str) -> None:
    """The tree as image ``tag``, set up as the Lambda base image is (task root, runtime entry point)."""
    tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
    imp = _run(
        [
            "docker",
            "import",
            "--change",
            "WORKDIR /var/task",
            "--change",
            "ENV LAMBDA_TASK_ROOT=/var/task LAMBDA_RUNTIME_DIR=/var/runtime LANG=C.UTF-8 TZ=:UTC",
            "--change",
            'ENTRYPOINT ["/var/runtime/bootstrap"]',
            "-",
            tag,
        ],
        timeout=900,
        stdin=tar.stdout,
    )
    assert tar.stdout is not None
    tar.stdout.close()
    tar.wait()
    if imp.returncode != 0 or tar.returncode != 0:
        raise DockerUnavailableError(f"docker import failed: {imp.stderr.strip()[-300:]}")


def prepare(echo: Echo = _stderr) -> tuple[str, str]:
    """Docker answering and the base image there: returns (bridge address, image tag)."""
    ensure_docker(echo)
    return bridge_address(), ensure_base_image(echo)
