"""How `make venv` finds the runtime's Python (tools/find-python): on the PATH, else pyenv's, else one line."""

import shutil
import subprocess
from pathlib import Path

import pytest

FIND_PYTHON = Path(__file__).resolve().parents[2] / "tools" / "find-python"


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def _find(bin_dir: Path, version: str = "3.13") -> subprocess.CompletedProcess[str]:
    # Only the fakes and the tools the script uses: the machine's own Pythons stay out of sight.
    for tool in ("grep", "sort"):
        if not (bin_dir / tool).exists():
            (bin_dir / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
    env = {"PATH": str(bin_dir), "HOME": str(bin_dir)}
    cmd = [str(FIND_PYTHON), version]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, timeout=30)  # noqa: S603


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    d = tmp_path / "bin"
    d.mkdir()
    return d


def test_a_python_on_the_path_that_runs_is_taken(bin_dir: Path) -> None:
    _script(bin_dir / "python3.13", "echo /opt/py313/bin/python3.13\n")
    result = _find(bin_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "/opt/py313/bin/python3.13"


def test_a_pyenv_shim_that_fails_falls_back_to_pyenvs_newest_313(bin_dir: Path) -> None:
    # pyenv's shim on the PATH fails while pyenv's global version is another one.
    _script(bin_dir / "python3.13", 'echo "pyenv: python3.13: command not found" >&2; exit 127\n')
    _script(
        bin_dir / "pyenv",
        'case "$1" in\n'
        '  versions) printf "3.11.7\\n3.13.0\\n3.13.2\\n3.12.1\\n" ;;\n'
        '  exec) echo "/pyenv/versions/$PYENV_VERSION/bin/python3.13" ;;\n'
        "esac\n",
    )
    result = _find(bin_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "/pyenv/versions/3.13.2/bin/python3.13"


def test_no_python_313_is_one_line_saying_what_to_install(bin_dir: Path) -> None:
    _script(bin_dir / "pyenv", 'case "$1" in versions) printf "3.11.7\\n3.12.1\\n" ;; esac\n')
    result = _find(bin_dir)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "install python3.13" in lines[0]
    assert "pyenv install 3.13" in lines[0]


def test_the_version_asked_for_is_the_one_found(bin_dir: Path) -> None:
    _script(bin_dir / "python3.13", "echo /opt/py313/bin/python3.13\n")
    result = _find(bin_dir, "3.12")
    assert result.returncode == 1
    assert "python3.12" in result.stderr
