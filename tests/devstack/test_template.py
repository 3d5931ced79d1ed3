from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from devstack.template import TemplateError, load_stack_model, load_template

from .conftest import FIXTURE_TEMPLATE

ROOT = Path(__file__).resolve().parents[2]
P = "order-platform-local"


def test_short_and_long_tags_parse(tmp_path: Path) -> None:
    tpl = tmp_path / "t.yaml"
    tpl.write_text(
        "A: !GetAtt X.Arn\nB: !Sub ['${a}', {a: !Ref B}]\nC: {'Fn::Join': ['-', [!Ref AWS::Region, x]]}\n"
        "D: !If [c, !Not [!Equals [1, 2]], !GetAZs '']\n"
    )
    data = load_template(tpl)
    assert data["A"] == {"Fn::GetAtt": ["X", "Arn"]}
    assert data["B"] == {"Fn::Sub": ["${a}", {"a": {"Ref": "B"}}]}
    assert data["D"]["Fn::If"][1] == {"Fn::Not": [{"Fn::Equals": [1, 2]}]}


def test_fixture_model_resolution() -> None:
    m = load_stack_model(FIXTURE_TEMPLATE, {"Delay": "7"}, endpoint="http://127.0.0.1:9")
    echo = m.functions["EchoFunction"]
    env = echo.env
    assert env["GLOBAL_VAR"] == "global"
    assert env["OVERRIDDEN"] == "from-function"  # function wins over Globals
    assert env["STAGE"] == "dev"
    assert env["TABLE_NAME"] == f"{P}-Table"
    assert env["TABLE_ARN"] == f"arn:aws:dynamodb:us-east-1:123456789012:table/{P}-Table"
    assert env["QUEUE_URL"] == f"http://127.0.0.1:9/123456789012/{P}-WorkQueue"
    assert env["QUEUE_ARN"] == f"arn:aws:sqs:us-east-1:123456789012:{P}-WorkQueue"
    assert env["QUEUE_NAME"] == f"{P}-WorkQueue"
    assert env["TOPIC_ARN"] == f"arn:aws:sns:us-east-1:123456789012:{P}-Topic"
    assert env["TOPIC_NAME"] == f"{P}-Topic"
    assert env["MACHINE_ARN"] == f"arn:aws:states:us-east-1:123456789012:stateMachine:{P}-Machine"
    assert env["MACHINE_NAME"] == f"{P}-Machine"
    assert env["SUBBED"] == f"us-east-1:123456789012:{P}-Table"
    assert env["SUBBED_LIST"] == f"{P}-WorkQueue-dev"
    assert env["JOINED"] == "a/y"
    assert "PROD_ONLY" not in env  # AWS::NoValue removes the key
    assert env["COMBINED"] == "yes"
    assert (echo.timeout, echo.memory) == (2, 128)
    assert m.functions["AuthFunction"].timeout == 5
    assert echo.layers == [(FIXTURE_TEMPLATE.parent / "layers" / "common").resolve()]
    assert echo.code_uri == (FIXTURE_TEMPLATE.parent / "functions").resolve()
    assert m.functions["AuthFunction"].env["SECRET_ARN"].startswith("arn:aws:secretsmanager:")
    # state machine: substitutions applied as text, then parsed
    sm = m.state_machines["Machine"].definition
    assert sm["States"]["Wait"]["Seconds"] == 7
    assert sm["States"]["Put"]["Parameters"]["TableName"] == f"{P}-Table"
    # queues and redrive
    q = m.queues["WorkQueue"]
    assert q.attributes["VisibilityTimeout"] == "1"
    assert q.redrive is not None and q.redrive.dead_letter_queue == "WorkDLQ" and q.redrive.max_receive_count == 2
    sub = m.subscriptions["TopicSubscription"]
    assert sub.filter_policy == {"type": ["wanted"]} and sub.raw_message_delivery
    assert m.tables["Table"].ttl_attribute == "ttl"
    # event sources
    assert m.functions["QueueFunction"].sqs_events[0].queue == "WorkQueue"
    assert m.functions["QueueFunction"].sqs_events[0].report_batch_item_failures
    st = m.functions["StreamFunction"].stream_events[0]
    assert (st.table, st.starting_position, st.batch_size) == ("Table", "TRIM_HORIZON", 10)
    not_seen = {"S": [{"anything-but": {"prefix": "seen-"}}]}
    assert st.filters == [{"eventName": ["INSERT"], "dynamodb": {"Keys": {"pk": not_seen}}}]
    # API
    api = m.api
    assert api is not None and api.stage_name == "api"
    routes = {(r.method, r.path): r for r in api.routes}
    assert routes[("ANY", "/echo/{thing}")].auth == "TokenAuth"
    assert routes[("GET", "/public")].auth == "NONE"
    assert api.authorizers["TokenAuth"].function == "AuthFunction"
    assert api.authorizers["TokenAuth"].ttl == 0
    assert api.gateway_responses["UNAUTHORIZED"].headers["Content-Type"] == "application/problem+json"
    assert api.gateway_responses["MISSING_AUTHENTICATION_TOKEN"].status == 404
    assert api.minimum_compression_size == 512
    # conditions and the report of what is not emulated
    assert "ProdOnlyQueue" not in m.queues
    assert any("ProdOnlyQueue" in s for s in m.skipped)
    report = "\n".join(m.unsupported)
    for needle in ("MethodSettings", "PointInTimeRecovery", "Dashboard", "Tracing"):
        assert needle in report
    assert "MinimumCompressionSize" not in report  # emulated by the gateway


def test_conditions_follow_parameter_overrides() -> None:
    m = load_stack_model(FIXTURE_TEMPLATE, {"Stage": "prod", "UseSecret": "no"})
    assert "ProdOnlyQueue" in m.queues
    assert "Secret" not in m.secrets
    env = m.functions["EchoFunction"].env
    assert env["PROD_ONLY"] == "prod"
    assert env["COMBINED"] == "no"
    assert m.functions["AuthFunction"].env["SECRET_ARN"] == ""


def test_physical_overrides_second_pass() -> None:
    m = load_stack_model(
        FIXTURE_TEMPLATE, physical_overrides={"Table.StreamArn": "arn:real-stream", "Secret": "arn:real-secret"}
    )
    assert m.functions["StreamFunction"].stream_events[0].stream_arn == "arn:real-stream"
    assert m.functions["AuthFunction"].env["SECRET_ARN"] == "arn:real-secret"


def test_bad_overrides_rejected() -> None:
    with pytest.raises(TemplateError):
        load_stack_model(FIXTURE_TEMPLATE, {"Stage": "qa"})
    with pytest.raises(TemplateError):
        load_stack_model(FIXTURE_TEMPLATE, {"NoSuchParameter": "1"})


def test_project_template_loads() -> None:
    m = load_stack_model(ROOT / "template.yaml", {"DeliveryDelaySeconds": "0"})
    assert m.api is not None and m.api.stage_name == "api"
    assert m.state_machine is not None
    assert all(f.layers for f in m.functions.values())
    assert {r.auth for r in m.api.routes} - {"NONE"} <= set(m.api.authorizers)
    assert any(r.auth != "NONE" for r in m.api.routes)


def _template(tmp_path: Path, text: str) -> Path:
    """A small SAM template in tmp_path, with local directories fn/, a/ and b/ for code and layers."""
    for d in ("fn", "a", "b"):
        (tmp_path / d).mkdir(exist_ok=True)
    tpl = tmp_path / "template.yaml"
    tpl.write_text("Transform: AWS::Serverless-2016-10-31\n" + text)
    return tpl


FUNCTION = """
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.handler
      Runtime: python3.13
"""


LAYERS = """
  A:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: a/}
  B:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: b/}
"""


def test_globals_merge_as_sam_does_lists_concatenated(tmp_path: Path) -> None:
    tpl = _template(
        tmp_path,
        "Globals:\n  Function:\n    Layers: [!Ref A]\n    Environment: {Variables: {G: g, O: global}}\n"
        "Resources:" + LAYERS + FUNCTION + "      Layers: [!Ref A, !Ref B]\n"
        "      Environment: {Variables: {O: own}}\n",
    )
    fn = load_stack_model(tpl).functions["Fn"]
    # SAM prepends the Globals list to the function's: nothing is de-duplicated.
    assert fn.layers == [tmp_path / "a", tmp_path / "a", tmp_path / "b"]
    assert fn.env == {"G": "g", "O": "own"}


def test_a_globals_property_sam_does_not_support_is_refused_by_name(tmp_path: Path) -> None:
    tpl = _template(tmp_path, "Globals:\n  Function:\n    NoSuchProperty: 1\nResources:" + FUNCTION)
    with pytest.raises(TemplateError, match="NoSuchProperty"):
        load_stack_model(tpl)


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("!GetAtt Queue.NoSuchAttribute", "GetAtt Queue.NoSuchAttribute"),
        ("!ImportValue shared-vpc-id", "Fn::ImportValue 'shared-vpc-id'"),
        ('!Sub "${Queue.NoSuchAttribute}/x"', "GetAtt Queue.NoSuchAttribute"),
        ('!Sub "${NoSuchThing}-x"', "NoSuchThing"),
        ("!Ref NoSuchThing", "NoSuchThing"),
        ('!Select [0, !GetAZs ""]', "Fn::GetAZs"),
        ("!If [NoSuchCondition, a, b]", "NoSuchCondition"),
    ],
)
def test_what_cannot_be_resolved_is_refused_by_name_never_a_placeholder(tmp_path: Path, value: str, named: str):
    tpl = _template(
        tmp_path,
        "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n"
        + FUNCTION
        + f"      Environment: {{Variables: {{V: {value}}}}}\n",
    )
    with pytest.raises(TemplateError, match=re.escape(named)):
        load_stack_model(tpl)


def test_language_extensions_expand_as_sam_cli_expands_them(tmp_path: Path) -> None:
    """Fn::ForEach, Fn::ToJsonString and Fn::Length under AWS::LanguageExtensions, which CloudFormation and
    SAM CLI run before the SAM transform: the local stack sees the expanded resources."""
    tpl = _template(
        tmp_path,
        "Parameters:\n  Names: {Type: CommaDelimitedList, Default: 'Orders,Payments'}\n"
        "Resources:\n"
        "  Fn::ForEach::Queues:\n"
        "    - Name\n"
        "    - !Ref Names\n"
        "    - ${Name}Queue:\n"
        "        Type: AWS::SQS::Queue\n"
        "        Properties: {QueueName: !Sub '${AWS::StackName}-${Name}', VisibilityTimeout: 60}\n"
        + FUNCTION
        + "      Environment:\n        Variables:\n"
        "          CONFIG: !ToJsonString {queue: !Ref OrdersQueue, arn: !GetAtt PaymentsQueue.Arn}\n"
        "          COUNT: !Length [a, b, c]\n",
    )
    tpl.write_text(
        tpl.read_text()
        .replace("Transform: ", "Transform: [AWS::LanguageExtensions, ", 1)
        .replace("2016-10-31\n", "2016-10-31]\n", 1)
    )
    model = load_stack_model(tpl, endpoint="http://127.0.0.1:9")
    assert {q.name for q in model.queues.values()} == {f"{P}-Orders", f"{P}-Payments"}
    assert set(model.queues) == {"OrdersQueue", "PaymentsQueue"}
    env = model.functions["Fn"].env
    assert json.loads(env["CONFIG"]) == {
        "queue": f"http://127.0.0.1:9/123456789012/{P}-Orders",
        "arn": f"arn:aws:sqs:us-east-1:123456789012:{P}-Payments",
    }
    assert env["COUNT"] == "3"


def test_for_each_without_the_language_extensions_transform_is_refused(tmp_path: Path) -> None:
    tpl = _template(
        tmp_path,
        "Resources:\n  Fn::ForEach::Queues:\n    - Name\n    - [A, B]\n"
        "    - ${Name}Queue: {Type: AWS::SQS::Queue}\n" + FUNCTION,
    )
    # CloudFormation refuses it too; the local stack must not run a stack without those queues.
    with pytest.raises(TemplateError, match="Fn::ForEach"):
        load_stack_model(tpl)


def test_the_model_is_built_from_what_the_sam_transform_deploys(tmp_path: Path) -> None:
    """SAM's own expansion: a SimpleTable is a DynamoDB table, an SQS event an event source mapping of
    SAM's defaults, a layer keeps the template's name although SAM renames its LayerVersion."""
    tpl = _template(
        tmp_path,
        "Resources:\n  Simple:\n    Type: AWS::Serverless::SimpleTable\n"
        "  Queue:\n    Type: AWS::SQS::Queue\n" + LAYERS + FUNCTION + "      Layers: [!Ref A]\n"
        "      Environment: {Variables: {TABLE: !Ref Simple}}\n"
        "      Events:\n        Work: {Type: SQS, Properties: {Queue: !GetAtt Queue.Arn}}\n",
    )
    model = load_stack_model(tpl)
    assert model.tables["Simple"].key_schema == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert model.functions["Fn"].env["TABLE"] == f"{P}-Simple"
    (source,) = model.functions["Fn"].sqs_events
    assert (source.name, source.queue, source.batch_size) == ("Work", "Queue", 10)
    assert set(model.layers) == {"A", "B"}
    assert model.functions["Fn"].layers == [tmp_path / "a"]


def test_an_output_that_cannot_be_resolved_is_reported(tmp_path: Path) -> None:
    tpl = _template(
        tmp_path,
        "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n"
        + FUNCTION
        + "Outputs:\n  Odd: {Value: !GetAtt Queue.NoSuchAttribute}\n  Url: {Value: !Ref Queue}\n",
    )
    model = load_stack_model(tpl)
    assert set(model.outputs) == {"Url"}
    assert any(u.startswith("Output Odd: GetAtt Queue.NoSuchAttribute") for u in model.unsupported)


API = """
  {name}:
    Type: AWS::Serverless::Api
    Properties: {{StageName: api}}
"""


def _api_event(name: str, path: str, api: str) -> str:
    return f"        {name}:\n          Type: Api\n          Properties: {{Path: {path}, Method: GET{api}}}\n"


def test_routes_attach_to_the_api_they_name(tmp_path: Path) -> None:
    implicit = _template(tmp_path, "Resources:" + FUNCTION + "      Events:\n" + _api_event("E", "/x", ""))
    assert [(r.path, r.api) for r in load_stack_model(implicit).routes] == [("/x", "ServerlessRestApi")]
    tmp = tmp_path / "two"
    tmp.mkdir()
    two_apis = _template(
        tmp,
        "Resources:"
        + API.format(name="One")
        + API.format(name="Two")
        + FUNCTION
        + "      Events:\n"
        + _api_event("E1", "/one", ", RestApiId: !Ref One")
        + _api_event("E2", "/two", ", RestApiId: !Ref Two"),
    )
    with pytest.raises(TemplateError, match="one REST API is emulated; the template has 2: One, Two"):
        load_stack_model(two_apis)


@pytest.mark.parametrize("api", [", RestApiId: !Ref Queue", ", RestApiId: some-api-id"])
def test_a_route_to_something_that_is_no_api_of_the_template_is_refused(tmp_path: Path, api: str) -> None:
    tpl = _template(
        tmp_path,
        "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n"
        + API.format(name="Api")
        + FUNCTION
        + "      Events:\n"
        + _api_event("E", "/x", api),
    )
    with pytest.raises(TemplateError, match="RestApiId"):
        load_stack_model(tpl)
