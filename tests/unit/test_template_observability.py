"""The observability section written as loops (AWS::LanguageExtensions), read as CloudFormation deploys it.

Per-function log groups are an Fn::ForEach loop in template.yaml; the alarms, their topic and the dashboard
live in observability.yaml, the nested application Observability. What CloudFormation receives after the
transforms, parent and nested stack read as one (tests/support/sam_template.py), must be the resources the
single template had: the same logical ids, names and properties - moved, not changed. The dashboard body is one
widget per block, one metric per line, and must stay a valid dashboard for every parameter value.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from tests.support.sam_template import ROOT, TEMPLATE, nested_stacks, sam_template, transformed_template

OBSERVABILITY = ROOT / "observability.yaml"
# What moved into observability.yaml (logical id -> name after the stack's), as the single template had it.
MOVED = {
    "AlarmTopic": None,
    "AlarmEmailSubscription": None,
    "ApiServerErrorsAlarm": "api-5xx",
    "ApiLatencyAlarm": "api-latency-p99",
    "OrdersInboxDLQAlarm": "orders-inbox-dlq",
    "PaymentsInboxDLQAlarm": "payments-inbox-dlq",
    "EventDeliveryDLQAlarm": "event-delivery-dlq",
    "OutboxFailureAlarm": "outbox-failure",
    "DeliveryFailedAlarm": "delivery-failed",
    "DeliveryStartThrottledAlarm": "delivery-start-throttled",
    "ApiFunctionErrorsAlarm": "api-function-errors",
    "ApiFunctionThrottlesAlarm": "api-function-throttles",
    "EventFunctionErrorsAlarm": "event-function-errors",
    "EventFunctionThrottlesAlarm": "event-function-throttles",
    "StaleUnsettledPaymentsAlarm": "stale-unsettled-payments",
    "OutboxIteratorAgeAlarm": "outbox-iterator-age",
    "OrderFlowDashboard": "order-flow",
}

# The function alarms: (group, kind) -> the alarm's name after the stack's, with its runbook anchor.
FUNCTION_ALARMS = {
    ("Api", "Errors"): "api-function-errors",
    ("Api", "Throttles"): "api-function-throttles",
    ("Event", "Errors"): "event-function-errors",
    ("Event", "Throttles"): "event-function-throttles",
}
LAMBDA_METRIC_PERIOD = 300
THRESHOLD_PARAMETER = "ApiLatencyP99ThresholdMs"


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    """template.yaml as written, loops and all."""
    loaded: dict[str, Any] = yaml_parse(TEMPLATE.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def raw_observability() -> dict[str, Any]:
    """observability.yaml as written."""
    loaded: dict[str, Any] = yaml_parse(OBSERVABILITY.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    return sam_template().template


def of_type(cfn: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    return {lid: res["Properties"] for lid, res in cfn["Resources"].items() if res["Type"] == rtype}


def rendered(node: Any) -> str:
    """An Fn::Sub whose variables are literal strings, as CloudFormation renders it (other ${...} stay)."""
    text, variables = node["Fn::Sub"] if isinstance(node["Fn::Sub"], list) else (node["Fn::Sub"], {})
    for name, value in variables.items():
        assert isinstance(value, str), (name, value)
        text = text.replace(f"${{{name}}}", value)
    return str(text)


def api_and_event_functions(cfn: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The functions an event source (a queue, a table's stream, a schedule) invokes, and the rest (API, authorizer)."""
    event = {source.function for source in sam_template().event_sources}
    for rule in of_type(cfn, "AWS::Events::Rule").values():
        event |= {target["Arn"]["Fn::GetAtt"][0] for target in rule["Targets"]}
    functions = sorted(of_type(cfn, "AWS::Lambda::Function"))
    return [f for f in functions if f not in event], [f for f in functions if f in event]


# ------------------------------------------------------------------ the template as written


def test_the_template_runs_language_extensions_before_sam(raw):
    assert raw["Transform"] == ["AWS::LanguageExtensions", "AWS::Serverless-2016-10-31"]


def test_per_function_resources_are_loops_over_every_function(raw, raw_observability):
    functions = {
        lid
        for lid, res in raw["Resources"].items()
        if isinstance(res, dict) and res.get("Type") == "AWS::Serverless::Function"
    }
    identifier, collection, body = raw["Resources"]["Fn::ForEach::FunctionLogGroups"]
    assert set(collection) == functions and len(collection) == len(functions)
    assert list(body) == [f"${{{identifier}}}LogGroup"]
    hand_written = {lid for lid in raw["Resources"] if lid.endswith("FunctionLogGroup")}
    assert not hand_written, f"written out by hand next to the loop: {hand_written}"
    kind, kinds, alarms = raw_observability["Resources"]["Fn::ForEach::FunctionAlarms"]
    assert kinds == ["Errors", "Throttles"]
    assert sorted(alarms) == [f"ApiFunction${{{kind}}}Alarm", f"EventFunction${{{kind}}}Alarm"]


# ------------------------------------------------------------------ the nested stack


def test_what_moved_is_in_the_nested_stack_under_its_old_id_and_name_and_the_log_groups_stayed(raw, cfn):
    nested = transformed_template(nested=False)
    (app,) = [lid for lid, res in nested["Resources"].items() if res["Type"] == "AWS::CloudFormation::Stack"]
    moved = set(MOVED) - {"ApiFunctionErrorsAlarm", "ApiFunctionThrottlesAlarm"}
    moved -= {"EventFunctionErrorsAlarm", "EventFunctionThrottlesAlarm"}  # written once, in the loop
    assert moved <= set(yaml_parse(OBSERVABILITY.read_text())["Resources"])
    assert not set(MOVED) & set(nested["Resources"]), "left in the parent as well"
    for lid, name in MOVED.items():
        props = cfn["Resources"][lid]["Properties"]
        if name is not None:
            named = props.get("AlarmName", props.get("DashboardName"))
            assert rendered(named) == f"${{AWS::StackName}}-{name}", lid
    # Log groups hold data under fixed names (/aws/lambda/<function>): moving them would collide on an update.
    assert not of_type(cfn, "AWS::Logs::LogGroup").keys() - of_type(nested, "AWS::Logs::LogGroup").keys()
    assert raw["Resources"][app]["Properties"]["Location"] == OBSERVABILITY.name


def test_the_nested_stack_gets_every_parameter_it_declares_from_a_real_resource_or_parameter(raw):
    (stack,) = nested_stacks(transformed_template(nested=False)).values()
    path, passed = stack
    declared = yaml_parse(path.read_text())["Parameters"]
    assert set(passed) == set(declared)
    parent = transformed_template(nested=False)
    for name, value in passed.items():
        (kind,) = value
        target = value["Ref"] if kind == "Ref" else value["Fn::GetAtt"][0]
        if target == "AWS::StackName":
            assert name == "ParentStackName"
        elif target in parent["Parameters"]:
            assert name == target, "a parent parameter is passed under its own name"
        else:
            resource = parent["Resources"][target]
            # A function is passed by its name under its logical id, a queue by its name as <Queue>Name.
            expected = {
                "AWS::Lambda::Function": (target, "Ref"),
                "AWS::StepFunctions::StateMachine": (target, "Ref"),
                "AWS::SQS::Queue": (f"{target}Name", "Fn::GetAtt"),
            }[resource["Type"]]
            assert (name, kind) == expected, (name, value)
            if kind == "Fn::GetAtt":
                assert value["Fn::GetAtt"][1] == "QueueName", (name, value)


# ------------------------------------------------------------------ what CloudFormation deploys


def test_one_log_group_per_function_named_as_lambda_names_it(cfn):
    groups = of_type(cfn, "AWS::Logs::LogGroup")
    for function in of_type(cfn, "AWS::Lambda::Function"):
        assert groups[f"{function}LogGroup"] == {
            "LogGroupName": {"Fn::Sub": f"/aws/lambda/${{{function}}}"},
            "RetentionInDays": {"Ref": "LogRetentionDays"},
        }, function


@pytest.mark.parametrize(("group", "kind"), sorted(FUNCTION_ALARMS))
def test_each_function_alarm_reads_its_kind_of_every_function_in_its_group(cfn, group, kind):
    api, event = api_and_event_functions(cfn)
    functions = {"Api": api, "Event": event}[group]
    props = of_type(cfn, "AWS::CloudWatch::Alarm")[f"{group}Function{kind}Alarm"]
    name = FUNCTION_ALARMS[group, kind]
    assert rendered(props["AlarmName"]) == f"${{AWS::StackName}}-{name}"
    assert props["AlarmDescription"].endswith(f"See docs/operations.md#{name}.")
    assert f"(`<stack>-{name}`)" in (ROOT / "docs" / "operations.md").read_text()
    assert (props["AlarmActions"], props["OKActions"]) == ([{"Ref": "AlarmTopic"}], [{"Ref": "AlarmTopic"}])
    assert (props["ComparisonOperator"], props["Threshold"], props["EvaluationPeriods"]) == (
        "GreaterThanThreshold",
        0,
        1,
    )
    total, *queries = props["Metrics"]
    assert total == {
        "Id": "total",
        "Label": f"{kind} of {len(queries)} functions",
        "Expression": "SUM(METRICS())",
        "ReturnData": True,
    }
    assert sorted(q["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Ref"] for q in queries) == functions
    for index, query in enumerate(queries):
        function = query["Label"]
        assert query == {
            "Id": f"f{index}",
            "Label": function,
            "ReturnData": False,
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/Lambda",
                    "MetricName": kind,
                    "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": function}}],
                },
                "Period": LAMBDA_METRIC_PERIOD,
                "Stat": "Sum",
            },
        }


def test_the_function_alarms_are_the_four_a_deployed_stack_has(cfn):
    alarms = {lid for lid in of_type(cfn, "AWS::CloudWatch::Alarm") if "Function" in lid}
    assert alarms == {f"{group}Function{kind}Alarm" for group, kind in FUNCTION_ALARMS}


# ------------------------------------------------------------------ the dashboard


def dashboard(**parameters: str) -> dict[str, Any]:
    """The dashboard body CloudWatch receives for these parameter values: parameters substituted as
    CloudFormation passes them (strings), resources and pseudo parameters as stand-in names."""
    cfn = sam_template(**parameters)
    (props,) = of_type(cfn.template, "AWS::CloudWatch::Dashboard").values()
    text = rendered(props["DashboardBody"])

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return str(cfn.parameter(name)) if name in cfn.template["Parameters"] else f"<{name}>"

    body: dict[str, Any] = json.loads(re.sub(r"\$\{([^}]+)\}", value, text))
    return body


@pytest.mark.parametrize("threshold", ["2000", "1500"])
def test_the_dashboard_is_a_valid_body_for_any_parameter_value(threshold):
    body = dashboard(ApiLatencyP99ThresholdMs=threshold, EnvironmentName="prod")
    assert set(body) == {"start", "periodOverride", "widgets"}
    for widget in body["widgets"]:
        assert {"type", "x", "y", "width", "height", "properties"} == set(widget), widget
        assert widget["x"] + widget["width"] <= 24, widget
        for row in widget["properties"].get("metrics", []):
            assert all(isinstance(item, str) for item in row[:-1]) and isinstance(row[-1], dict | str), row
    (latency,) = [w for w in body["widgets"] if w["properties"].get("title") == "API latency (ms)"]
    # A number, not the string "1500": CloudWatch refuses a dashboard whose annotation value is a string.
    assert latency["properties"]["annotations"]["horizontal"] == [{"label": "p99 alarm", "value": int(threshold)}]


def test_the_dashboard_graphs_every_functions_errors_and_throttles_and_the_business_metrics(cfn):
    body = dashboard(EnvironmentName="prod")
    rows = [row for widget in body["widgets"] for row in widget["properties"].get("metrics", [])]
    for metric in ("Errors", "Throttles"):
        graphed = {row[3] for row in rows if row[:3] == ["AWS/Lambda", metric, "FunctionName"]}
        assert graphed == {f"<{f}>" for f in of_type(cfn, "AWS::Lambda::Function")}, metric
    business = {row[1] for row in rows if row[0] == "OrderPlatform/prod"}
    assert {"OrdersCreated", "PaymentsPaid", "PaymentsDeclined", "OrdersCancelled", "OrdersDelivered"} <= business
    (alarms,) = [w for w in body["widgets"] if w["type"] == "alarm"]
    assert sorted(alarms["properties"]["alarms"]) == sorted(
        f"<{lid}.Arn>" for lid in of_type(cfn, "AWS::CloudWatch::Alarm")
    )
