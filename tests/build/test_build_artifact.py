"""What `sam build` ships: bytecode next to every module, used as is by a read-only `python -B` import.

The deploy build (.aws-sam/build, arm64 as the template says) is checked file by file; the imports run on
the same build made for this machine's architecture (.aws-sam/host/build, also what `make bench` measures).
"""

from __future__ import annotations

import importlib.util
import py_compile
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from bench.build import (
    BUILD_DIR,
    HOST_BUILD_DIR,
    ensure_build,
    ensure_host_build,
    ensure_runtime_copy,
)
from bench.coldstart import UNUSED_ENDPOINT, built_paths, child_env
from devstack.runtime import find_python
from devstack.template import StackModel, load_stack_model
from tests.support.sam_template import sam_template, transformed_file

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


def _artifact_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lambda_artifact", ROOT / "tools/lambda-build/artifact.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


artifact = _artifact_tool()


@pytest.fixture(scope="module")
def model() -> StackModel:
    """The local stack's model, for the environment `make bench` gives a function (bench.coldstart)."""
    return load_stack_model(TEMPLATE, {}, endpoint=UNUSED_ENDPOINT)


@pytest.fixture(scope="module")
def deploy_build() -> Path:
    outcome = ensure_build(TEMPLATE)
    assert "failed" not in outcome, outcome
    return BUILD_DIR


@pytest.fixture(scope="module")
def host_build() -> Path:
    outcome = ensure_host_build(TEMPLATE)
    assert "failed" not in outcome, outcome
    return HOST_BUILD_DIR


def _artifacts(build: Path) -> list[Path]:
    """Every function's and layer's directory in a build, as the template `sam build` wrote there names them
    (after the SAM transform); the build holds every function and layer of template.yaml."""
    built = transformed_file(build / "template.yaml")
    functions = built.of_type("AWS::Lambda::Function")
    layers = built.of_type("AWS::Lambda::LayerVersion")
    source = sam_template()
    assert set(functions) == set(source.functions)
    assert len(layers) == len(source.of_type("AWS::Lambda::LayerVersion")) >= 1
    return [build / p["Code"]["S3Key"] for p in functions.values()] + [
        build / p["Content"]["S3Key"] / "python" for p in layers.values()
    ]


def test_every_module_of_every_artifact_has_unchecked_hash_bytecode(deploy_build: Path) -> None:
    for root in _artifacts(deploy_build):
        assert any(root.rglob("*.py")), root
        assert artifact.missing_bytecode(root) == [], root


def test_the_build_drops_what_lambda_never_imports(deploy_build: Path) -> None:
    for root in _artifacts(deploy_build):
        shipped = {p.name for p in root.rglob("*")}
        assert not {"requirements.txt", "requirements.in", "Makefile", "py.typed", "RECORD"} & shipped, root
        assert not [p for p in root.rglob("*") if p.suffix in (".pyi", ".map")], root


def test_the_deploy_build_carries_the_templates_architecture(deploy_build: Path) -> None:
    # The template deploys arm64: the layer's compiled extension must be for aarch64, whatever the host is.
    assert list((deploy_build / "CommonLayer/python/pydantic_core").glob("*.cpython-313-aarch64-linux-gnu.so"))


def test_the_deploy_build_hands_cloudformation_the_templates_loops(deploy_build: Path) -> None:
    """sam build writes template.yaml's Fn::ForEach loops as they are (CloudFormation unrolls them when it
    creates the change set), and what they unroll to is what the source template unrolls to."""
    from samtranslator.yaml_helper import yaml_parse

    raw = yaml_parse((deploy_build / "template.yaml").read_text())
    source = yaml_parse(TEMPLATE.read_text())
    assert raw["Transform"] == source["Transform"]
    loops = sorted(key for key in source["Resources"] if key.startswith("Fn::ForEach::"))
    assert loops and sorted(key for key in raw["Resources"] if key.startswith("Fn::ForEach::")) == loops
    built = transformed_file(deploy_build / "template.yaml").resources
    for kind in ("AWS::Logs::LogGroup", "AWS::CloudWatch::Alarm"):
        expected = {lid: res for lid, res in sam_template().resources.items() if res["Type"] == kind}
        assert {lid: res for lid, res in built.items() if res["Type"] == kind} == expected, kind


@pytest.mark.parametrize(
    "function", ["CreateOrderFunction", "PaymentsInboxFunction", "AuthorizerFunction", "DocsFunction"]
)
def test_a_read_only_import_from_the_build_compiles_nothing(model: StackModel, host_build: Path, function: str) -> None:
    fn = model.functions[function]
    paths = built_paths(fn, model, host_build)
    env = child_env(fn, paths, ensure_runtime_copy())
    module = fn.handler.rpartition(".")[0]
    proc = subprocess.run(  # noqa: S603 - the runtime interpreter on our own build
        [find_python(), "-S", "-B", "-v", "-c", f"import {module}"],
        env=env,
        cwd=paths[0],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    # -v: "# code object from '<...>.pyc'" for bytecode read from disk, "# code object from <...>.py" for a compile.
    loaded = re.findall(r"^# code object from (.+)$", proc.stderr, re.MULTILINE)
    compiled = [p for p in loaded if not p.endswith(".pyc'")]
    assert compiled == []
    from_build = [p for p in loaded if str(host_build) in p]
    assert any(f"/{module.split('.')[0]}/__pycache__/" in p for p in from_build)


def test_finish_copies_packages_prunes_and_compiles(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "pkg" / "__pycache__").mkdir(parents=True)
    (src / "pkg" / "__init__.py").write_text("VALUE = 1\n")
    (src / "pkg" / "data.json").write_text("{}")
    (src / "pkg" / "__pycache__" / "stale.cpython-39.pyc").write_bytes(b"stale")
    (src / "requirements.txt").write_text("")
    (src / "notes.txt").write_text("not code")
    out = tmp_path / "out"
    (out / "dep").mkdir(parents=True)
    (out / "dep" / "__init__.py").write_text("")
    (out / "dep" / "__init__.pyi").write_text("")
    (out / "dep" / "py.typed").write_text("")
    (out / "dep" / "bundle.js.map").write_text("{}")

    # In process, so for this interpreter's version (the build runs it under the runtime's).
    this = "{}.{}".format(*sys.version_info[:2])
    finish = ["--python-version", this, "finish", str(out), "--copy-from", str(src), "--runtime-path", "/var/task"]
    assert artifact.main(finish) == 0
    tag = sys.implementation.cache_tag

    names = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert names == [
        "dep/__init__.py",
        f"dep/__pycache__/__init__.{tag}.pyc",
        "pkg/__init__.py",
        f"pkg/__pycache__/__init__.{tag}.pyc",
        "pkg/data.json",
    ]
    code = (out / f"pkg/__pycache__/__init__.{tag}.pyc").read_bytes()
    assert code[4:8] == (1).to_bytes(4, "little")  # hash-based, source never checked
    assert b"/var/task/pkg/__init__.py" in code  # tracebacks name the path on Lambda


def test_check_fails_on_a_module_without_bytecode_or_with_timestamp_bytecode(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("A = 1\n")
    this = "{}.{}".format(*sys.version_info[:2])
    with pytest.raises(SystemExit, match="1 modules"):
        artifact.main(["--python-version", this, "check", str(tmp_path)])
    py_compile.compile(str(tmp_path / "a.py"), invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
    assert artifact.missing_bytecode(tmp_path) == [tmp_path / "a.py"]
    py_compile.compile(str(tmp_path / "a.py"), invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    assert artifact.main(["--python-version", this, "check", str(tmp_path)]) == 0


def test_bytecode_is_refused_from_another_python_than_the_runtimes(tmp_path: Path) -> None:
    # A .pyc of another version is ignored by the runtime's Python: every cold start would compile again.
    with pytest.raises(SystemExit, match=r"the Lambda runtime is Python 3\.99; this is "):
        artifact.main(["--python-version", "3.99", "check", str(tmp_path)])
