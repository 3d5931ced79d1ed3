"""AWS::Lambda: layers, functions and their event source mappings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from devstack.events.filters import parse_filter_criteria
from devstack.template.builders.base import SAM_LAYER_HASH_DIGITS, Build
from devstack.template.model import (
    FunctionModel,
    QueueModel,
    SqsEventSource,
    StreamEventSource,
)
from devstack.template.resolver import as_bool, as_int


def build_layer(b: Build, lid: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
    named = lid[:-SAM_LAYER_HASH_DIGITS]
    b.layers[named if named in b.sam_layers else lid] = Path(b.r.ref(lid))


_FUNCTION_FEATURES_NOT_EMULATED = (
    "ReservedConcurrentExecutions",
    "VpcConfig",
    "DeadLetterConfig",
    "EphemeralStorage",
    "SnapStart",
    "FileSystemConfigs",
    "ImageConfig",
    "KmsKeyArn",
    "CodeSigningConfigArn",
)


def build_function(b: Build, lid: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
    code = props.get("Code") or {}
    layer_dirs = []
    for layer in props.get("Layers") or []:
        if Path(str(layer)).is_dir():
            layer_dirs.append(Path(str(layer)))
        else:
            b.unsupported.append(f"{lid}: layer {layer} is not a local layer of the template")
    b.functions[lid] = FunctionModel(
        logical_id=lid,
        name=b.r.physical_name(lid),
        arn=b.r.arn(lid),
        code_uri=b.r.local_path(lid, code.get("S3Bucket"), code.get("S3Key")),
        handler=str(props.get("Handler", "")),
        runtime=str(props.get("Runtime", "python3.13")),
        timeout=as_int(props.get("Timeout"), 3),
        memory=as_int(props.get("MemorySize"), 128),
        env={k: str(v) for k, v in ((props.get("Environment") or {}).get("Variables") or {}).items()},
        layers=layer_dirs,
    )
    if (props.get("TracingConfig") or {}).get("Mode") == "Active":
        b.traced.append(lid)
    for architecture in props.get("Architectures") or []:
        b.architectures.setdefault(str(architecture), []).append(lid)
    # SnapStart off (EnableSnapStart=false) is spelled ApplyOn: None: nothing the local stack skips.
    snapstart_off = (props.get("SnapStart") or {}).get("ApplyOn") == "None"
    b.report(
        lid,
        {k: v for k, v in props.items() if not (k == "SnapStart" and snapstart_off)},
        _FUNCTION_FEATURES_NOT_EMULATED,
    )


def build_event_source_mapping(b: Build, lid: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
    # Linked to its function and its queue or stream once every resource is built (_link_event_sources).
    b.mappings.append((lid, props, raw))


def sqs_source(b: Build, name: str, queue: QueueModel, props: dict[str, Any], where: str) -> SqsEventSource:
    b.report(where, props, ("FilterCriteria", "ScalingConfig"), prefix="SQS event ")
    return SqsEventSource(
        name=name,
        queue=queue.logical_id,
        queue_arn=queue.arn,
        batch_size=as_int(props.get("BatchSize"), 10),
        report_batch_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
        maximum_batching_window=as_int(props.get("MaximumBatchingWindowInSeconds"), 0),
        enabled=as_bool(props.get("Enabled", True)),
    )


def stream_source(b: Build, name: str, table: str, props: dict[str, Any], where: str) -> StreamEventSource:
    dest = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    b.report(where, props, ("TumblingWindowInSeconds",), prefix="stream event ")
    if as_int(props.get("MaximumBatchingWindowInSeconds"), 0):
        b.unsupported.append(f"{where}: MaximumBatchingWindowInSeconds (invokes at once)")
    return StreamEventSource(
        name=name,
        table=table,
        stream_arn=str(props.get("EventSourceArn")),
        starting_position=str(props.get("StartingPosition", "LATEST")),
        batch_size=as_int(props.get("BatchSize"), 100),
        maximum_retry_attempts=as_int(props.get("MaximumRetryAttempts"), -1),
        maximum_record_age=as_int(props.get("MaximumRecordAgeInSeconds"), -1),
        bisect_on_error=as_bool(props.get("BisectBatchOnFunctionError", False)),
        report_batch_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
        on_failure_destination=str(dest) if dest else None,
        enabled=as_bool(props.get("Enabled", True)),
        filters=parse_filter_criteria(props["FilterCriteria"], where) if "FilterCriteria" in props else [],
        parallelization_factor=as_int(props.get("ParallelizationFactor"), 1),
    )
