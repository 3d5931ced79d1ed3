"""A first `sam deploy` that succeeds and behaves (issue 12), checked on the SAM-transformed template.

What CloudFormation refuses up front (parameter constraints and `Rules`) is evaluated here the way
CloudFormation evaluates it, so each refusal is pinned without an AWS account.
"""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

import pytest

from tests.support.sam_template import ROOT, transformed_template

HTTPS_JWKS = "https://issuer.example/.well-known/jwks.json"
# What every deploy must name (the TokensNeedAnIssuer rule), as samconfig.toml's environments do.
ISSUER = {"JwtIssuer": "order-platform-test"}


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    return transformed_template()


# ------------------------------------------------------------------ CloudFormation's up-front checks


# The rule-specific intrinsic functions CloudFormation allows in Rules (those this template uses).
_RULE_FUNCTIONS: dict[str, Any] = {
    "Ref": lambda arg, ev, values: values[arg],
    "Fn::Equals": lambda arg, ev, values: str(ev(arg[0])) == str(ev(arg[1])),
    "Fn::Not": lambda arg, ev, values: not ev(arg[0]),
    "Fn::And": lambda arg, ev, values: all(ev(a) for a in arg),
    "Fn::Or": lambda arg, ev, values: any(ev(a) for a in arg),
    "Fn::Contains": lambda arg, ev, values: str(ev(arg[1])) in [str(ev(a)) for a in arg[0]],
}


def _rule_value(node: Any, values: dict[str, str]) -> Any:
    if isinstance(node, dict) and len(node) == 1:
        ((fn, arg),) = node.items()
        assert fn in _RULE_FUNCTIONS, f"rule function {fn} is not evaluated by this test: extend _RULE_FUNCTIONS"
        return _RULE_FUNCTIONS[fn](arg, lambda n: _rule_value(n, values), values)
    return node


def _parameter_refusals(name: str, spec: dict[str, Any], value: str) -> list[str]:
    problems = []
    if "AllowedValues" in spec and value not in [str(v) for v in spec["AllowedValues"]]:
        problems.append(f"{name}: {value!r} not in AllowedValues")
    if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
        problems.append(f"{name}: {value!r} does not match AllowedPattern")
    if spec["Type"] == "Number":
        number = float(value)
        if "MinValue" in spec and number < float(spec["MinValue"]):
            problems.append(f"{name}: {value} < MinValue")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            problems.append(f"{name}: {value} > MaxValue")
    return problems


def refusals(template: dict[str, Any], **overrides: str) -> list[str]:
    """Why CloudFormation would refuse to create a change set with these parameter values ([] = accepted)."""
    parameters = template["Parameters"]
    unknown = set(overrides) - set(parameters)
    assert not unknown, f"no such parameters: {unknown}"
    values = {name: str(overrides.get(name, spec.get("Default", ""))) for name, spec in parameters.items()}
    problems = [p for name, spec in parameters.items() for p in _parameter_refusals(name, spec, values[name])]
    for rule_name, rule in (template.get("Rules") or {}).items():
        if "RuleCondition" in rule and not _rule_value(rule["RuleCondition"], values):
            continue
        for assertion in rule["Assertions"]:
            if not _rule_value(assertion["Assert"], values):
                problems.append(f"{rule_name}: {assertion.get('AssertDescription', '')}")
    return problems


def test_the_defaults_deploy_once_they_name_the_issuer(cfn):
    problems = refusals(cfn)
    assert problems and all("JwtIssuer" in p for p in problems), problems
    assert refusals(cfn, **ISSUER) == []


@pytest.mark.parametrize("mode", ["hs256", "jwks"])
def test_no_deploy_leaves_the_issuer_unchecked(cfn, mode):
    """The authorizer checks iss only when JwtIssuer is set: CloudFormation refuses a deploy without it."""
    jwks = {"JwksUrl": HTTPS_JWKS, "JwtAudience": "client-id"} if mode == "jwks" else {}
    problems = refusals(cfn, AuthMode=mode, **jwks)
    assert problems and all("JwtIssuer" in p for p in problems), problems
    assert refusals(cfn, AuthMode=mode, **jwks, **ISSUER) == []
    for env in ("default", "prod"):
        assert _overrides(env).get("JwtIssuer"), f"samconfig.toml [{env}] leaves JwtIssuer empty"


@pytest.mark.parametrize(
    ("overrides", "refused_by"),
    [
        ({"AuthMode": "jwks"}, "JwksUrl"),
        ({"AuthMode": "jwks", "JwtIssuer": "https://issuer.example"}, "JwksUrl"),
        ({"AuthMode": "jwks", "JwksUrl": HTTPS_JWKS}, "JwtIssuer"),
        ({"AuthMode": "jwks", "JwksUrl": "http://issuer.example/jwks.json", "JwtIssuer": "x"}, "JwksUrl"),
        ({"AuthMode": "jwks", "JwksUrl": "https://", "JwtIssuer": "x"}, "JwksUrl"),
        ({"JwksUrl": "ftp://issuer.example/jwks"}, "JwksUrl"),
    ],
)
def test_jwks_mode_without_an_https_jwks_url_and_an_issuer_is_refused(cfn, overrides, refused_by):
    problems = refusals(cfn, **overrides)
    assert problems, f"{overrides} would deploy and answer 502 on every protected route"
    assert any(refused_by in p for p in problems), problems


def test_a_complete_jwks_configuration_deploys(cfn):
    # The audience (a Rule of its own where the template has one) is given when the template asks for it.
    audience = {"JwtAudience": "client-id"} if "JwtAudience" in cfn["Parameters"] else {}
    ok = {"AuthMode": "jwks", "JwksUrl": HTTPS_JWKS, "JwtIssuer": "https://issuer.example", **audience}
    assert refusals(cfn, **ok) == []


def test_prod_requires_an_alarm_email(cfn):
    problems = refusals(cfn, EnvironmentName="prod", **ISSUER)
    assert problems and all("AlarmEmail" in p for p in problems), problems
    assert refusals(cfn, EnvironmentName="prod", AlarmEmail="oncall@example.com", **ISSUER) == []
    assert refusals(cfn, AlarmEmail="not an address", **ISSUER)
    assert refusals(cfn, EnvironmentName="dev", **ISSUER) == []


def _consumer_timeouts(cfn: dict[str, Any]) -> dict[str, int]:
    """Timeout of every function fed by an SQS queue whose visibility timeout is InboxVisibilityTimeoutSeconds."""
    inbox_arns = [
        {"Fn::GetAtt": [lid, "Arn"]}
        for lid, res in cfn["Resources"].items()
        if res["Type"] == "AWS::SQS::Queue"
        and res["Properties"].get("VisibilityTimeout") == {"Ref": "InboxVisibilityTimeoutSeconds"}
    ]
    assert inbox_arns
    found = {}
    for res in cfn["Resources"].values():
        if res["Type"] == "AWS::Lambda::EventSourceMapping" and res["Properties"]["EventSourceArn"] in inbox_arns:
            fn = res["Properties"]["FunctionName"]["Ref"]
            found[fn] = int(cfn["Resources"][fn]["Properties"].get("Timeout", 3))
    assert found
    return found


def test_inbox_visibility_timeout_is_bounded_by_what_lambda_and_sqs_accept(cfn):
    spec = cfn["Parameters"]["InboxVisibilityTimeoutSeconds"]
    longest = max(_consumer_timeouts(cfn).values())
    # Lambda refuses an SQS event source whose queue's visibility timeout is below the function timeout.
    assert int(spec["MinValue"]) >= longest
    assert refusals(cfn, InboxVisibilityTimeoutSeconds=str(longest - 1))
    assert refusals(cfn, InboxVisibilityTimeoutSeconds=str(longest), **ISSUER) == []
    # SQS: at most 12 hours.
    assert int(spec["MaxValue"]) <= 43200
    assert refusals(cfn, InboxVisibilityTimeoutSeconds="43201")
    assert int(spec["Default"]) >= 6 * longest  # AWS's recommendation, and the documented default


def test_inbox_max_receive_count_is_bounded_by_what_sqs_accepts(cfn):
    assert refusals(cfn, InboxMaxReceiveCount="0")
    assert refusals(cfn, InboxMaxReceiveCount="1001")
    assert refusals(cfn, InboxMaxReceiveCount="1000", **ISSUER) == []


# ------------------------------------------------------------------ samconfig.toml


def _samconfig() -> dict[str, Any]:
    return tomllib.loads((ROOT / "samconfig.toml").read_text())


def _overrides(env: str) -> dict[str, str]:
    text = _samconfig()[env]["deploy"]["parameters"].get("parameter_overrides", "")
    return dict(item.split("=", 1) for item in text.split())


def test_the_dev_config_deploys_and_prod_is_refused_until_it_names_an_alarm_email(cfn):
    assert refusals(cfn, **_overrides("default")) == []
    prod = _overrides("prod")
    if "AlarmEmail" not in prod:  # docs/deploy.md: the first-time checklist adds it
        problems = refusals(cfn, **prod)
        assert problems and all("AlarmEmail" in p for p in problems), problems
        prod["AlarmEmail"] = "oncall@example.com"
    assert refusals(cfn, **prod) == []


def test_a_redeploy_without_changes_does_not_fail():
    for env in ("default", "prod"):
        assert _samconfig()[env]["deploy"]["parameters"]["fail_on_empty_changeset"] is False, env


# ------------------------------------------------------------------ tables


def test_tables_are_retained_except_when_their_first_create_rolls_back(cfn):
    tables = {lid: res for lid, res in cfn["Resources"].items() if res["Type"] == "AWS::DynamoDB::Table"}
    retained = {lid for lid, res in tables.items() if res.get("DeletionPolicy") not in (None, "Delete")}
    assert retained >= {"OrdersTable", "PaymentsTable"}
    for lid in retained:
        # "Retain" would keep the tables of a failed first create; the retry then fails on their names.
        assert tables[lid]["DeletionPolicy"] == "RetainExceptOnCreate", lid
        assert tables[lid]["UpdateReplacePolicy"] == "Retain", lid


# ------------------------------------------------------------------ API stages and gateway responses


def test_the_api_has_only_its_api_stage(cfn):
    stages = [res for res in cfn["Resources"].values() if res["Type"] == "AWS::ApiGateway::Stage"]
    assert [s["Properties"]["StageName"] for s in stages] == ["api"]
    # A Deployment with a StageName creates that stage too (SAM's "Stage" stage without OpenApiVersion).
    for lid, res in cfn["Resources"].items():
        if res["Type"] == "AWS::ApiGateway::Deployment":
            assert "StageName" not in res["Properties"], f"{lid} creates stage {res['Properties']['StageName']}"


# The gateway's own errors the contract names, with the response type API Gateway uses for each.
CONTRACT_GATEWAY_CODES = {
    "UNAUTHORIZED": 401,
    "ACCESS_DENIED": 403,
    "MISSING_AUTHENTICATION_TOKEN": 404,  # an unknown route
    "REQUEST_TOO_LARGE": 413,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "THROTTLED": 429,
    "INTEGRATION_TIMEOUT": 504,
    # The authorizer could not verify (its Secrets Manager call kept failing): AWS failing is 503, never 500.
    "AUTHORIZER_FAILURE": 503,
}
# Types the contract does not name keep API Gateway's own status codes.
OTHER_AWS_CODES = {
    "WAF_FILTERED": 403,
    "INVALID_API_KEY": 403,
    "QUOTA_EXCEEDED": 429,
    "BAD_REQUEST_BODY": 400,
    "INTEGRATION_FAILURE": 504,
}


def gateway_responses(cfn: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (api,) = [res for res in cfn["Resources"].values() if res["Type"] == "AWS::ApiGateway::RestApi"]
    responses: dict[str, dict[str, Any]] = api["Properties"]["Body"]["x-amazon-apigateway-gateway-responses"]
    return responses


def test_gateway_responses_keep_each_status_code(cfn):
    responses = gateway_responses(cfn)
    for kind in ("DEFAULT_4XX", "DEFAULT_5XX"):
        # A StatusCode here would become the status of every 4XX/5XX type the template does not name.
        assert responses[kind].get("statusCode") is None, kind
        assert responses[kind]["responseParameters"]["gatewayresponse.header.Content-Type"] == (
            "'application/problem+json'"
        )
    for kind, code in CONTRACT_GATEWAY_CODES.items():
        assert kind in responses, f"the contract names {code}: {kind} needs its problem+json response"
        assert responses[kind]["statusCode"] == str(code), kind
        body = responses[kind]["responseTemplates"]["application/json"]
        assert f'"status": {code}' in body, kind
    assert set(responses) == {*CONTRACT_GATEWAY_CODES, "DEFAULT_4XX", "DEFAULT_5XX"}


# ------------------------------------------------------------------ the account-level API Gateway logging role


def _condition_value(cfn: dict[str, Any], name: str, **overrides: str) -> bool:
    values = {p: str(overrides.get(p, spec.get("Default", ""))) for p, spec in cfn["Parameters"].items()}
    return bool(_rule_value(cfn["Conditions"][name], values))


def test_the_api_gateway_account_setting_is_opt_in_and_outlives_the_stack(cfn):
    account = cfn["Resources"]["ApiGatewayAccount"]
    role = cfn["Resources"]["ApiGatewayCloudWatchLogsRole"]
    assert account["Type"] == "AWS::ApiGateway::Account"
    assert account["Condition"] == role["Condition"]
    condition = account["Condition"]
    assert _condition_value(cfn, condition) is False  # off by default: per region, last writer wins
    assert _condition_value(cfn, condition, ManageApiGatewayAccount="true") is True
    assert account["Properties"]["CloudWatchRoleArn"] == {"Fn::GetAtt": ["ApiGatewayCloudWatchLogsRole", "Arn"]}
    # Other APIs of the account and region log through this role: deleting the stack must not break them.
    for res in (account, role):
        assert res["DeletionPolicy"] == "Retain" and res["UpdateReplacePolicy"] == "Retain"
    trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "apigateway.amazonaws.com"}]
    (managed,) = role["Properties"]["ManagedPolicyArns"]
    assert json.dumps(managed).endswith('service-role/AmazonAPIGatewayPushToCloudWatchLogs"}')


def test_the_api_is_created_after_the_account_setting_when_the_stack_owns_it(cfn):
    (api_id,) = [lid for lid, res in cfn["Resources"].items() if res["Type"] == "AWS::ApiGateway::RestApi"]
    depends = cfn["Resources"][api_id].get("DependsOn")
    handles = [depends] if isinstance(depends, str) else depends or []
    assert any(
        "ApiGatewayAccount" in json.dumps(cfn["Resources"][h].get("Metadata", {}))
        and "Condition" not in cfn["Resources"][h]
        for h in handles
    ), "the stage would race the account setting it needs"


def test_the_readme_deploy_section_has_the_get_account_preflight():
    readme = (ROOT / "README.md").read_text()
    deploy = readme.split("## Deploy", 1)[1].split("\n## ", 1)[0]
    assert "aws apigateway get-account" in deploy
    assert "ManageApiGatewayAccount=true" in deploy


# ------------------------------------------------------------------ stream publishers: a poison record costs a page


def test_stream_publishers_give_up_on_a_poison_record_into_an_alarmed_queue(cfn):
    mappings = {
        lid: res["Properties"]
        for lid, res in cfn["Resources"].items()
        if res["Type"] == "AWS::Lambda::EventSourceMapping"
        and "StreamArn" in json.dumps(res["Properties"]["EventSourceArn"])
    }
    assert len(mappings) == 2
    alarmed = {
        json.dumps(alarm["Properties"].get("Dimensions"))
        for alarm in cfn["Resources"].values()
        if alarm["Type"] == "AWS::CloudWatch::Alarm"
        and alarm["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
        and alarm["Properties"]["Threshold"] == 0
        and alarm["Properties"]["ComparisonOperator"] == "GreaterThanThreshold"
    }
    operations = (ROOT / "docs" / "operations.md").read_text()
    for lid, props in mappings.items():
        # -1 (the default) retries until the record leaves the stream after 24 hours, blocking its shard.
        assert 0 <= props["MaximumRetryAttempts"] <= 100, lid
        assert 60 <= props["MaximumRecordAgeInSeconds"] <= 24 * 3600, lid
        assert props["BisectBatchOnFunctionError"] is True, lid
        destination = props["DestinationConfig"]["OnFailure"]["Destination"]
        queue = destination["Fn::GetAtt"][0]
        assert cfn["Resources"][queue]["Type"] == "AWS::SQS::Queue", lid
        assert json.dumps([{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}]) in alarmed, queue
        # The publisher may send to it (SAM adds the statement for DestinationConfig).
        function = props["FunctionName"]["Ref"]
        policies = json.dumps(cfn["Resources"][f"{function}Role"]["Properties"]["Policies"])
        assert '"sqs:SendMessage"' in policies and queue in policies, function
        assert f"`{queue}`" in operations


def test_replay_and_the_event_dlq_redrive_are_make_targets_and_documented():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^replay:", makefile, re.MULTILINE) and "tools.ops replay" in makefile
    assert re.search(r"^redrive-events:", makefile, re.MULTILINE) and "tools.ops redrive-events" in makefile
    operations = (ROOT / "docs" / "operations.md").read_text()
    assert "python -m tools.ops --stack" in operations and "redrive-events" in operations
    # The SNS subscription DLQ cannot be moved by start-message-move-task: the docs must not say it can.
    event_dlq = operations.split('<a id="event-delivery-dlq"></a>', 1)[1].split("<a id=", 1)[0]
    assert "start-message-move-task" not in event_dlq or "cannot" in event_dlq


# ------------------------------------------------------------------ event topics: encrypted, one publisher


def _event_topics(cfn: dict[str, Any]) -> dict[str, str]:
    """{topic: its publisher function}: the function whose EVENTS_TOPIC_ARN names the topic."""
    found = {}
    for lid, res in cfn["Resources"].items():
        if res["Type"] == "AWS::Lambda::Function":
            topic = res["Properties"].get("Environment", {}).get("Variables", {}).get("EVENTS_TOPIC_ARN")
            if topic:
                found[topic["Ref"]] = lid
    assert set(found) == {"OrdersTopic", "PaymentsTopic"}
    return found


def _statements(cfn: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return [s for p in cfn["Resources"][role]["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]


def _actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


def test_event_topics_and_their_inboxes_are_encrypted_with_a_key_sns_may_use(cfn):
    for topic, publisher in _event_topics(cfn).items():
        key_ref = cfn["Resources"][topic]["Properties"]["KmsMasterKeyId"]
        key = cfn["Resources"][key_ref["Ref"]]
        assert key["Type"] == "AWS::KMS::Key" and key["Properties"]["EnableKeyRotation"] is True
        key_arn = {"Fn::GetAtt": [key_ref["Ref"], "Arn"]}
        for_sns = [
            s for s in key["Properties"]["KeyPolicy"]["Statement"] if s["Principal"] == {"Service": "sns.amazonaws.com"}
        ]
        assert for_sns and {"kms:GenerateDataKey*", "kms:Decrypt"} <= set().union(*map(_actions, for_sns)), topic
        # The publisher gets a data key for the encrypted topic.
        kms = [s for s in _statements(cfn, f"{publisher}Role") if s.get("Resource") == key_arn]
        assert {"kms:GenerateDataKey", "kms:Decrypt"} <= set().union(*map(_actions, kms)), publisher
        # Every queue subscribed to the topic uses the same key, and its consumer may decrypt.
        subscribed = [
            res["Properties"]["Endpoint"]["Fn::GetAtt"][0]
            for res in cfn["Resources"].values()
            if res["Type"] == "AWS::SNS::Subscription" and res["Properties"]["TopicArn"] == {"Ref": topic}
        ]
        assert subscribed, topic
        for queue in subscribed:
            assert cfn["Resources"][queue]["Properties"]["KmsMasterKeyId"] == key_ref, queue
            consumers = [
                res["Properties"]["FunctionName"]["Ref"]
                for res in cfn["Resources"].values()
                if res["Type"] == "AWS::Lambda::EventSourceMapping"
                and res["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [queue, "Arn"]}
            ]
            for consumer in consumers:
                decrypt = [s for s in _statements(cfn, f"{consumer}Role") if s.get("Resource") == key_arn]
                assert "kms:Decrypt" in set().union(*map(_actions, decrypt)), consumer


def test_only_the_publishers_role_may_publish_to_its_topic(cfn):
    policies = {
        topic["Ref"]: res["Properties"]["PolicyDocument"]["Statement"]
        for res in cfn["Resources"].values()
        if res["Type"] == "AWS::SNS::TopicPolicy"
        for topic in res["Properties"]["Topics"]
    }
    for topic, publisher in _event_topics(cfn).items():
        role_arn = {"Fn::GetAtt": [f"{publisher}Role", "Arn"]}
        statements = policies[topic]
        deny = [s for s in statements if s["Effect"] == "Deny" and "sns:Publish" in _actions(s)]
        # A Deny is needed: an Allow alone adds to what IAM policies of the account already allow.
        assert any(
            s["Principal"] == "*" and s["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": role_arn}} for s in deny
        ), topic
        allows = [s for s in statements if s["Effect"] == "Allow" and "sns:Publish" in _actions(s)]
        assert allows and all(s["Principal"] == {"AWS": role_arn} for s in allows), topic


def test_the_dashboards_alarm_widget_lists_every_alarm(cfn):
    """docs/operations.md: the Alarms widget shows every alarm of the stack; start there."""
    (dashboard,) = [res for res in cfn["Resources"].values() if res["Type"] == "AWS::CloudWatch::Dashboard"]
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    alarms = [lid for lid, res in cfn["Resources"].items() if res["Type"] == "AWS::CloudWatch::Alarm"]
    assert [a for a in alarms if f"${{{a}.Arn}}" not in body] == []
