"""Production readiness of template.yaml: logs with retention, alarms, dashboard, prod protections, docs in step.

Checked on the template after the SAM transform (what CloudFormation deploys), see tests/support/sam_template.py.
"""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

import pytest

from tests.support.sam_template import ROOT, transformed_template

DLQ_METRIC = "ApproximateNumberOfMessagesVisible"
# Business metrics: one namespace per environment, so dev and prod never mix in one account.
METRICS_NAMESPACE = "OrderPlatform/${EnvironmentName}"
PSEUDO = {"AWS::AccountId", "AWS::Region", "AWS::StackName", "AWS::Partition", "AWS::URLSuffix", "AWS::StackId"}


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    return transformed_template()


def of_type(cfn: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    return {lid: res for lid, res in cfn["Resources"].items() if res["Type"] == rtype}


def log_group_of(cfn: dict[str, Any], arn: Any) -> dict[str, Any]:
    assert isinstance(arn, dict) and "Fn::GetAtt" in arn, arn
    lid, attr = arn["Fn::GetAtt"] if isinstance(arn["Fn::GetAtt"], list) else arn["Fn::GetAtt"].split(".")
    assert attr == "Arn"
    res = cfn["Resources"][lid]
    assert res["Type"] == "AWS::Logs::LogGroup"
    return res


def metric_dims(alarm: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(namespace, metric name, {dimension: value}) of every metric an alarm reads."""
    props = alarm["Properties"]
    if "MetricName" in props:
        dims = {d["Name"]: d["Value"] for d in props.get("Dimensions", [])}
        return [(props["Namespace"], props["MetricName"], dims)]
    found = []
    for query in props.get("Metrics", []):
        if "MetricStat" in query:
            metric = query["MetricStat"]["Metric"]
            found.append(
                (metric["Namespace"], metric["MetricName"], {d["Name"]: d["Value"] for d in metric["Dimensions"]})
            )
    return found


# ------------------------------------------------------------------ logs and tracing


def test_every_function_has_a_log_group_with_retention(cfn):
    groups = of_type(cfn, "AWS::Logs::LogGroup")
    by_name = {json.dumps(g["Properties"]["LogGroupName"]): g for g in groups.values()}
    functions = of_type(cfn, "AWS::Lambda::Function")
    assert len(functions) >= 13
    for lid in functions:
        group = by_name.get(json.dumps({"Fn::Sub": f"/aws/lambda/${{{lid}}}"}))
        assert group is not None, f"{lid} has no log group /aws/lambda/${{{lid}}}"
    for lid, group in groups.items():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, lid
    assert cfn["Parameters"]["LogRetentionDays"]["Default"] == 30


def test_api_access_logs_and_tracing(cfn):
    (stage,) = of_type(cfn, "AWS::ApiGateway::Stage").values()
    props = stage["Properties"]
    assert props["StageName"] == "api"
    assert props["TracingEnabled"] is True
    log_group_of(cfn, props["AccessLogSetting"]["DestinationArn"])
    access_format = props["AccessLogSetting"]["Format"]
    json.loads(access_format)  # one JSON object per request
    assert "$context.requestId" in access_format
    assert "Authorization" not in access_format


def test_state_machine_logs_errors_without_execution_data_and_is_traced(cfn):
    (machine,) = of_type(cfn, "AWS::StepFunctions::StateMachine").values()
    logging = machine["Properties"]["LoggingConfiguration"]
    assert logging["Level"] in ("ERROR", "ALL")
    assert logging["IncludeExecutionData"] is False  # orders carry user ids: keep them out of the logs
    (destination,) = logging["Destinations"]
    log_group_of(cfn, destination["CloudWatchLogsLogGroup"]["LogGroupArn"])
    assert machine["Properties"]["TracingConfiguration"] == {"Enabled": True}


def test_every_function_is_traced_and_names_the_metrics_namespace(cfn):
    for lid, fn in of_type(cfn, "AWS::Lambda::Function").items():
        assert fn["Properties"]["TracingConfig"] == {"Mode": "Active"}, lid
        variables = fn["Properties"]["Environment"]["Variables"]
        assert variables["POWERTOOLS_METRICS_NAMESPACE"] == {"Fn::Sub": METRICS_NAMESPACE}, lid


# ------------------------------------------------------------------ alarms


def test_every_alarm_notifies_the_alarm_topic(cfn):
    alarms = of_type(cfn, "AWS::CloudWatch::Alarm")
    assert alarms
    for lid, alarm in alarms.items():
        props = alarm["Properties"]
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}], lid
        assert props["OKActions"] == [{"Ref": "AlarmTopic"}], lid
        assert props["TreatMissingData"] == "notBreaching", lid
    assert cfn["Resources"]["AlarmTopic"]["Type"] == "AWS::SNS::Topic"


def test_alarm_email_is_subscribed_only_when_given(cfn):
    subscription = cfn["Resources"]["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    assert cfn["Conditions"]["HasAlarmEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}
    assert cfn["Parameters"]["AlarmEmail"]["Default"] == ""


def test_every_dlq_has_an_alarm(cfn):
    dlqs = set()
    for res in cfn["Resources"].values():
        redrive = (res.get("Properties") or {}).get("RedrivePolicy") or {}
        target = redrive.get("deadLetterTargetArn")
        if target:
            dlqs.add(target["Fn::GetAtt"][0])
    assert {"OrdersInboxDLQ", "PaymentsInboxDLQ"} <= dlqs
    watched = set()
    for alarm in of_type(cfn, "AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        for namespace, metric, dims in metric_dims(alarm):
            if namespace == "AWS/SQS" and metric == DLQ_METRIC:
                assert props["ComparisonOperator"] == "GreaterThanThreshold" and props["Threshold"] == 0
                watched.add(dims["QueueName"]["Fn::GetAtt"][0])
    assert dlqs <= watched


def test_api_state_machine_and_function_alarms_exist(cfn):
    metrics = [m for alarm in of_type(cfn, "AWS::CloudWatch::Alarm").values() for m in metric_dims(alarm)]
    names = {(namespace, metric) for namespace, metric, _ in metrics if isinstance(namespace, str)}
    assert {("AWS/ApiGateway", "5XXError"), ("AWS/ApiGateway", "Latency"), ("AWS/States", "ExecutionsFailed")} <= names
    latency = cfn["Resources"]["ApiLatencyAlarm"]["Properties"]
    assert latency["ExtendedStatistic"] == "p99"
    functions = set(of_type(cfn, "AWS::Lambda::Function"))
    for lambda_metric in ("Errors", "Throttles"):
        covered = {
            dims["FunctionName"]["Ref"]
            for namespace, metric, dims in metrics
            if namespace == "AWS/Lambda" and metric == lambda_metric
        }
        assert covered == functions, f"{lambda_metric} alarms miss {functions - covered}"
    for alarm in of_type(cfn, "AWS::CloudWatch::Alarm").values():
        assert len([q for q in alarm["Properties"].get("Metrics", []) if "MetricStat" in q]) <= 10


# ------------------------------------------------------------------ dashboard


def test_the_order_flow_dashboard(cfn):
    (dashboard,) = of_type(cfn, "AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    assert isinstance(body, str)
    names = set(re.findall(r"\$\{([^}!]+)\}", body))
    known = set(cfn["Resources"]) | set(cfn["Parameters"]) | PSEUDO
    assert {n.split(".")[0] for n in names} <= known
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "0", body))["widgets"]
    text = json.dumps(widgets)
    for needle in ("OrderPlatform", "OrdersCreated", "PaymentsPaid", "PaymentsDeclined", "5XXError", "Latency"):
        assert needle in text, needle
    for needle in (
        "OrdersInboxDLQ.QueueName",
        "PaymentsInboxDLQ.QueueName",
        "DeliveryStateMachine",
        "ExecutionsFailed",
    ):
        assert needle in body, needle
    assert all(f"${{{fn}}}" in body for fn in of_type(cfn, "AWS::Lambda::Function"))


def test_dashboard_and_alarms_read_business_metrics_from_the_environments_namespace(cfn):
    """Every metric outside AWS/* is the functions' own: read from their namespace, never a fixed one."""
    (dashboard,) = of_type(cfn, "AWS::CloudWatch::Dashboard").values()
    body = re.sub(r"\$\{(?!EnvironmentName\})[^}]+\}", "0", dashboard["Properties"]["DashboardBody"]["Fn::Sub"])
    widgets = json.loads(body)["widgets"]
    namespaces = {
        row[0]
        for widget in widgets
        for row in widget.get("properties", {}).get("metrics", [])
        if isinstance(row[0], str) and row[0] not in (".", "...")
    }
    business = {n for n in namespaces if not n.startswith("AWS/")}
    assert business == {METRICS_NAMESPACE}
    for lid, alarm in of_type(cfn, "AWS::CloudWatch::Alarm").items():
        for namespace, _, _ in metric_dims(alarm):
            assert (isinstance(namespace, str) and namespace.startswith("AWS/")) or namespace == {
                "Fn::Sub": METRICS_NAMESPACE
            }, lid


# ------------------------------------------------------------------ environments


def test_prod_only_protections_depend_on_is_prod(cfn):
    assert cfn["Conditions"]["IsProd"] == {"Fn::Equals": [{"Ref": "EnvironmentName"}, "prod"]}
    for table in ("OrdersTable", "PaymentsTable"):
        res = cfn["Resources"][table]
        assert res["Properties"]["DeletionProtectionEnabled"] == {"Fn::If": ["IsProd", True, False]}, table
        assert res["DeletionPolicy"] == "RetainExceptOnCreate" and res["UpdateReplacePolicy"] == "Retain", table
        assert res["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    for lid, res in cfn["Resources"].items():
        assert (res.get("Properties") or {}).get("DeletionProtectionEnabled") in (
            None,
            {"Fn::If": ["IsProd", True, False]},
        ), f"{lid}: deletion protection must follow IsProd"


def test_outputs(cfn):
    outputs = cfn["Outputs"]
    assert outputs["ApiUrl"]["Value"] == {
        "Fn::Sub": "https://${OrdersApi}.execute-api.${AWS::Region}.amazonaws.com/api"
    }
    for name in ("JwtSecretArn", "OrdersInboxDLQArn", "PaymentsInboxDLQArn", "AlarmTopicArn", "DashboardUrl"):
        assert name in outputs, name


# ------------------------------------------------------------------ docs and config in step with the template


def _samconfig_overrides() -> dict[str, dict[str, str]]:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    out = {}
    for env, sections in config.items():
        if not isinstance(sections, dict):
            continue
        overrides = (sections.get("deploy") or {}).get("parameters", {}).get("parameter_overrides", "")
        out[env] = dict(item.split("=", 1) for item in overrides.split())
    return out


def test_samconfig_names_only_template_parameters_and_separates_prod(cfn):
    overrides = _samconfig_overrides()
    assert set(overrides) >= {"default", "prod"}
    for env, values in overrides.items():
        unknown = set(values) - set(cfn["Parameters"])
        assert not unknown, f"samconfig.toml [{env}] names parameters the template lacks: {unknown}"
        for name, value in values.items():
            allowed = cfn["Parameters"][name].get("AllowedValues")
            assert allowed is None or value in [str(a) for a in allowed], (env, name, value)
    assert overrides["default"]["EnvironmentName"] == "dev"
    assert overrides["prod"]["EnvironmentName"] == "prod"
    assert int(overrides["prod"]["LogRetentionDays"]) > int(overrides["default"]["LogRetentionDays"])
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    assert config["default"]["global"]["parameters"]["stack_name"] == "order-platform-dev"
    assert config["prod"]["global"]["parameters"]["stack_name"] == "order-platform-prod"
    assert config["default"]["validate"]["parameters"]["lint"] is True


def _documented_parameters(text: str) -> set[str]:
    """CamelCase names used as `Name=value` overrides, plus the first column of the parameters table."""
    names = set(re.findall(r"\b([A-Z][a-z0-9]+(?:[A-Z][A-Za-z0-9]*)+)=(?!=)", text))  # not JMESPath ==
    section = text.split("## Parameters", 1)[1].split("\n## ", 1)[0] if "## Parameters" in text else ""
    names |= set(re.findall(r"^\|\s*`([A-Za-z0-9]+)`", section, flags=re.MULTILINE))
    return names


def test_deploy_doc_names_only_template_parameters_and_all_of_them(cfn):
    text = (ROOT / "docs" / "deploy.md").read_text()
    documented = _documented_parameters(text)
    assert documented, "docs/deploy.md documents no parameters"
    assert documented <= set(cfn["Parameters"]), (
        f"docs/deploy.md names unknown parameters {documented - set(cfn['Parameters'])}"
    )
    assert set(cfn["Parameters"]) <= documented, f"docs/deploy.md misses {set(cfn['Parameters']) - documented}"


def test_docs_name_existing_outputs_and_alarms(cfn):
    deploy = (ROOT / "docs" / "deploy.md").read_text()
    for output in re.findall(r"`([A-Z][A-Za-z0-9]+)` output", deploy):
        assert output in cfn["Outputs"], output
    operations = (ROOT / "docs" / "operations.md").read_text()
    for lid in of_type(cfn, "AWS::CloudWatch::Alarm"):
        assert f"`{lid}`" in operations, f"docs/operations.md does not explain {lid}"


def test_run_docker_env_vars_set_only_declared_variables(cfn):
    """SAM CLI passes a function only the variables its template declares: anything else would be ignored.

    make run-docker hands SAM CLI every function's resolved environment (devstack.docker.sam_cli.env_vars).
    """
    from devstack.docker.sam_cli import env_vars
    from devstack.template import load_stack_model

    env_file = env_vars(load_stack_model(ROOT / "template.yaml"), "http://host.docker.internal:5000")
    functions = of_type(cfn, "AWS::Lambda::Function")
    declared = {lid: set(fn["Properties"]["Environment"]["Variables"]) for lid, fn in functions.items()}
    assert set(env_file) == set(functions)
    for lid, values in env_file.items():
        assert set(values) <= declared[lid] | {"AWS_ENDPOINT_URL"}, (lid, set(values) - declared[lid])
        assert "AWS_ENDPOINT_URL" in declared[lid], f"{lid}: SAM CLI would not pass AWS_ENDPOINT_URL"
        assert values["AWS_ENDPOINT_URL"] == "http://host.docker.internal:5000"
