"""Last in the suite: stopping the stack leaves no container and no SAM CLI process behind."""

from __future__ import annotations

from devstack import LocalStack
from devstack.docker.sam_cli import lambda_containers


def test_stop_leaves_no_container_or_process(docker_stack: LocalStack):
    runtime = docker_stack.docker
    assert runtime is not None
    marker = runtime.aws_marker
    processes = [p.proc for p in runtime.processes]
    assert processes and lambda_containers(marker), "the stack should be running before it is stopped"
    docker_stack.stop()
    assert lambda_containers(marker) == []
    assert all(p.poll() is not None for p in processes)
