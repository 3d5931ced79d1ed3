"""make run-docker's pieces that need no Docker: the build override, SAM local's answers, the Docker checks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from devstack.docker import image as docker
from devstack.docker.front import _sam_answer
from devstack.docker.sam_cli import Build, bake_layers, docker_template, is_error_payload

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_the_docker_build_runs_every_function_and_the_layer_on_the_hosts_architecture(tmp_path: Path, arch: str):
    source = tmp_path / "template.yaml"
    source.write_text((ROOT / "template.yaml").read_text())
    out = docker_template(source, arch)
    assert out.parent == source.parent  # beside the template: CodeUri and ContentUri stay valid
    text = out.read_text()
    other = "arm64" if arch == "x86_64" else "x86_64"
    settings = re.findall(r"^\s*(Architectures|CompatibleArchitectures|BuildArchitecture):\s*(.+)$", text, re.M)
    assert settings, "the template names no architecture any more: update devstack/docker/sam_cli.docker_template"
    assert all(other not in value and arch in value for _, value in settings), settings
    # The deployable template itself stays arm64.
    assert "Architectures: [arm64]" in (ROOT / "template.yaml").read_text()


def test_the_layer_baking_reads_a_built_template_with_its_loops(tmp_path: Path):
    """`sam build` writes template.yaml's Fn::ForEach loops as they are: lists among the resources."""
    built = tmp_path / "template.yaml"
    built.write_text(
        "Transform: [AWS::LanguageExtensions, AWS::Serverless-2016-10-31]\n"
        "Resources:\n"
        '  Fn::ForEach::Groups: [F, [Fn], {"${F}LogGroup": {Type: AWS::Logs::LogGroup}}]\n'
        "  Fn: {Type: AWS::Serverless::Function, Properties: {CodeUri: Fn}}\n"
    )
    # No layer to bake (the function names none): the template and the image come back unchanged.
    assert bake_layers(built, "base:image", print) == Build(built, "base:image")


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (401, '{"message":"Unauthorized"}', "UNAUTHORIZED"),
        (403, '{"message":"User is not authorized to access this resource"}', "ACCESS_DENIED"),
        (403, '{"message":"Missing Authentication Token"}', "MISSING_AUTHENTICATION_TOKEN"),
        (502, '{"message":"Internal server error"}', "SAM_FAILURE"),
        (500, '{"message":"Internal server error"}', "DEFAULT_5XX"),
        # The functions' own answers pass through untouched.
        (502, '{"type": "about:blank", "title": "Bad Gateway", "status": 502}', ""),
        (401, '{"message": "Unauthorized", "extra": 1}', ""),
        (404, '{"message":"Missing Authentication Token"}', ""),
        (200, '{"message":"Unauthorized"}', ""),
        (502, "not json", ""),
    ],
)
def test_sam_locals_own_answers_are_recognised(status: int, body: str, kind: str):
    assert _sam_answer(status, body.encode()) == kind


def test_runtime_errors_are_recognised_with_or_without_a_request_id():
    assert is_error_payload({"errorMessage": "Unauthorized", "errorType": "Exception", "stackTrace": []})
    assert is_error_payload({"errorMessage": "x", "errorType": "E", "requestId": "r", "stackTrace": ["..."]})
    assert not is_error_payload({"batchItemFailures": []})
    assert not is_error_payload({"errorMessage": "x", "errorType": "E", "statusCode": 200})
    assert not is_error_payload(["errorMessage", "errorType"])


def test_without_docker_and_without_root_the_error_is_one_line_saying_what_to_install(monkeypatch):
    monkeypatch.setattr(docker, "docker_answers", lambda: False)
    monkeypatch.setattr(docker, "_is_root", lambda: False)
    with pytest.raises(docker.DockerUnavailableError) as err:
        docker.ensure_docker(echo=lambda line: None)
    message = str(err.value)
    assert "\n" not in message
    assert "install Docker" in message and "root on Debian" in message


def test_a_running_docker_is_used_as_it_is(monkeypatch):
    monkeypatch.setattr(docker, "docker_answers", lambda: True)
    monkeypatch.setattr(docker, "apt_install", lambda *a, **k: pytest.fail("nothing to install"))
    docker.ensure_docker(echo=lambda line: None)


def test_the_base_image_carries_the_pinned_boto3_and_its_tag_follows_the_pins(monkeypatch, tmp_path: Path):
    pinned = docker.pinned(ROOT / "requirements-dev.txt", "boto3")
    assert f"boto3=={pinned}" in docker.runtime_requirements()
    assert any(r.startswith("awslambdaric==") for r in docker.runtime_requirements())
    before = docker.image_tag()
    other = tmp_path / "requirements-dev.txt"
    other.write_text("boto3==0.0.1\n")
    monkeypatch.setattr(docker, "DEV_REQUIREMENTS", other)
    assert docker.image_tag() != before
    assert docker.image_tag().startswith(f"{docker.IMAGE_REPO}:{docker.docker_arch()}-")


def test_the_bootstrap_puts_the_lambda_paths_first_and_runs_the_runtime_client():
    lambda_path = "/var/task:/opt/python/lib/python3.13/site-packages:/opt/python:/var/runtime"
    assert f'PYTHONPATH="{lambda_path}"' in docker.BOOTSTRAP
    assert docker.BOOTSTRAP.rstrip().endswith('exec /usr/bin/python3.13 -m awslambdaric "$_HANDLER"')
