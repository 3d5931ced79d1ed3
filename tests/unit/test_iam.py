"""Least privilege, checked: every IAM statement the deployed stack would get, after the SAM transform.

template.yaml is transformed offline with the SAM translator (tests/support/sam_template.py), so no AWS
account is needed.

A statement fails the test when it
- allows `*` or `service:*` actions,
- allows actions on a service whose resources this template creates (DynamoDB, SNS, SQS, Step Functions,
  Secrets Manager, CloudWatch Logs) on `Resource: "*"`, instead of naming those resources,
- or a managed policy is attached whose name contains FullAccess, AdministratorAccess or PowerUser.
Known, justified exceptions are listed below with their reasons; anything else needs a scoped policy.

Each function's DynamoDB grants are also checked against its code (tests/support/iam_calls.py): no action
its reachable code never calls is granted (upper bound, static), and every handler test runs with its
role's DynamoDB permissions enforced, so a call the role does not allow fails that test (lower bound).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.sam_template import transformed_template

# Managed policies that may be attached, and why.
ALLOWED_MANAGED_POLICIES = {
    "AWSLambdaBasicExecutionRole": "SAM adds it to every function role: write the function's own logs.",
    "AWSXrayWriteOnlyAccess": "SAM adds it for Tracing: Active; X-Ray's write API has no resource-level permissions.",
    "AWSLambdaSQSQueueExecutionRole": "SAM adds it for SQS event sources: the poller reads and deletes messages.",
    "AWSLambdaDynamoDBExecutionRole": "SAM adds it for DynamoDB stream event sources: the poller reads the stream.",
    "AmazonAPIGatewayPushToCloudWatchLogs": "The opt-in account-level role API Gateway logs with (AWS's own policy "
    "for it; its log actions name no log group because API Gateway creates the groups).",
}
FORBIDDEN_MANAGED_POLICY_WORDS = ("FullAccess", "AdministratorAccess", "PowerUser")

# Services whose resources this template creates: granting their actions on "*" is never needed.
SCOPED_SERVICES = {"dynamodb", "sns", "sqs", "states", "secretsmanager", "logs", "kms"}

# Inline statements allowed on Resource "*": role logical id -> (actions, reason).
ALLOWED_WILDCARD_RESOURCE_STATEMENTS: dict[str, tuple[frozenset[str], str]] = {
    "DeliveryStateMachineRole": (
        frozenset(
            {
                "logs:CreateLogDelivery",
                "logs:GetLogDelivery",
                "logs:UpdateLogDelivery",
                "logs:DeleteLogDelivery",
                "logs:ListLogDeliveries",
                "logs:PutResourcePolicy",
                "logs:DescribeResourcePolicies",
                "logs:DescribeLogGroups",
            }
        ),
        "Step Functions logging to CloudWatch Logs uses vended log delivery. The Step Functions Developer Guide "
        "(IAM policies for logging to CloudWatch Logs) grants exactly these actions on Resource '*': the "
        "log-delivery actions do not support resource-level permissions.",
    ),
}
# Actions allowed on Resource "*" anywhere, and why.
ALLOWED_WILDCARD_RESOURCE_ACTIONS = {
    "xray:PutTraceSegments": "X-Ray write actions support no resource-level permissions (Resource must be '*').",
    "xray:PutTelemetryRecords": "X-Ray write actions support no resource-level permissions (Resource must be '*').",
    "xray:GetSamplingRules": "X-Ray sampling reads support no resource-level permissions.",
    "xray:GetSamplingTargets": "X-Ray sampling reads support no resource-level permissions.",
    "xray:GetSamplingStatisticSummaries": "X-Ray sampling reads support no resource-level permissions.",
}

# Both authentication modes and both environments produce different roles (conditional policies).
PARAMETER_SETS = {
    "dev-hs256": {},
    "prod-hs256": {"EnvironmentName": "prod"},
    "account-role": {"ManageApiGatewayAccount": "true"},
    "dev-jwks": {
        "AuthMode": "jwks",
        "JwksUrl": "https://issuer.example/.well-known/jwks.json",
        "JwtIssuer": "https://issuer.example",
    },
}


# ------------------------------------------------------------------ statements


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _branches(node: Any) -> list[Any]:
    """Every concrete value a node may take: both sides of each Fn::If; AWS::NoValue drops out."""
    if isinstance(node, dict) and set(node) == {"Fn::If"}:
        _, yes, no = node["Fn::If"]
        return _branches(yes) + _branches(no)
    if node == {"Ref": "AWS::NoValue"}:
        return []
    return [node]


def iam_statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(role or policy logical id, statement) for every inline statement of every IAM role and policy."""
    found = []
    for lid, res in template["Resources"].items():
        props = res.get("Properties") or {}
        documents = []
        if res["Type"] == "AWS::IAM::Role":
            for policy in _as_list(props.get("Policies") or []):
                for branch in _branches(policy):
                    documents.append(branch["PolicyDocument"])
        elif res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents.append(props["PolicyDocument"])
        for document in documents:
            for statement in _as_list(document.get("Statement") or []):
                found.extend((lid, s) for s in _branches(statement))
    return found


def managed_policy_names(template: dict[str, Any]) -> list[tuple[str, str]]:
    names = []
    for lid, res in template["Resources"].items():
        if res["Type"] != "AWS::IAM::Role":
            continue
        for arn in _as_list(res["Properties"].get("ManagedPolicyArns") or []):
            for branch in _branches(arn):
                text = json.dumps(branch) if not isinstance(branch, str) else branch
                names.append((lid, text.rsplit("/", 1)[-1].strip('"}')))
    return names


def violations(template: dict[str, Any]) -> list[str]:
    problems = []
    for lid, statement in iam_statements(template):
        problems.extend(statement_violations(lid, statement))
    for lid, name in managed_policy_names(template):
        if any(word in name for word in FORBIDDEN_MANAGED_POLICY_WORDS):
            problems.append(f"{lid}: managed policy {name} is far broader than this stack needs")
        elif name not in ALLOWED_MANAGED_POLICIES:
            problems.append(f"{lid}: managed policy {name} is not in the reviewed list (ALLOWED_MANAGED_POLICIES)")
    return problems


def statement_violations(lid: str, statement: dict[str, Any]) -> list[str]:
    if statement.get("Effect") != "Allow":
        return []
    problems = []
    actions = [a for a in _as_list(statement.get("Action") or []) if isinstance(a, str)]
    if "NotAction" in statement:
        problems.append(f"{lid}: NotAction allows everything else: {statement['NotAction']}")
    problems += [f"{lid}: wildcard action {a!r}" for a in actions if a == "*" or a.endswith(":*")]
    if "*" not in _as_list(statement.get("Resource") or []):
        return problems
    allowed_here = ALLOWED_WILDCARD_RESOURCE_STATEMENTS.get(lid)
    if allowed_here and set(actions) <= allowed_here[0]:
        return problems
    for action in actions:
        if action in ALLOWED_WILDCARD_RESOURCE_ACTIONS:
            continue
        if action.split(":", 1)[0].lower() in SCOPED_SERVICES or action == "*" or action.endswith(":*"):
            problems.append(f"{lid}: {action} on Resource '*' (name the template's resource instead)")
    return problems


# ------------------------------------------------------------------ tests


@pytest.mark.parametrize("name", list(PARAMETER_SETS))
def test_no_wildcard_permissions(name):
    template = transformed_template(**PARAMETER_SETS[name])
    assert violations(template) == []


def test_the_check_sees_every_role():
    template = transformed_template()
    roles = {lid for lid, res in template["Resources"].items() if res["Type"] == "AWS::IAM::Role"}
    functions = {lid for lid, res in template["Resources"].items() if res["Type"] == "AWS::Lambda::Function"}
    assert {f"{fn}Role" for fn in functions} <= roles
    assert "DeliveryStateMachineRole" in roles
    # The transform really produced statements to check (policy templates expanded).
    assert len(iam_statements(template)) >= len(functions)


def test_the_check_catches_a_wildcard_action():
    template = json.loads(json.dumps(transformed_template()))
    role = template["Resources"]["ListOrdersFunctionRole"]["Properties"]
    role.setdefault("Policies", []).append(
        {
            "PolicyName": "TooBroad",
            "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}]},
        }
    )
    problems = violations(template)
    assert "ListOrdersFunctionRole: wildcard action 'dynamodb:*'" in problems
    assert any("dynamodb:* on Resource '*'" in p for p in problems)


def test_the_check_catches_a_table_action_on_every_resource_and_a_full_access_policy():
    template = json.loads(json.dumps(transformed_template()))
    role = template["Resources"]["GetOrderFunctionRole"]["Properties"]
    role["Policies"].append(
        {
            "PolicyName": "AnyTable",
            "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": "*"}]},
        }
    )
    role["ManagedPolicyArns"].append("arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess")
    problems = violations(template)
    assert any("GetOrderFunctionRole: dynamodb:GetItem on Resource '*'" in p for p in problems)
    assert any("AmazonDynamoDBFullAccess" in p for p in problems)


def test_the_authorizer_reads_only_the_secret_of_this_stack():
    template = transformed_template()
    statements = [s for lid, s in iam_statements(template) if lid == "AuthorizerFunctionRole"]
    secret_statements = [s for s in statements if any("secretsmanager" in a for a in _as_list(s["Action"]))]
    assert secret_statements, "the hs256 authorizer must be allowed to read JwtSecret"
    for statement in secret_statements:
        resources = _as_list(statement["Resource"])
        assert "*" not in resources
        assert all("JwtSecret" in json.dumps(r) for r in resources), resources


def _statements_naming(template: dict[str, Any], logical_id: str) -> dict[str, list[dict[str, Any]]]:
    """Role logical id -> its statements whose resources name `logical_id`."""
    found: dict[str, list[dict[str, Any]]] = {}
    for lid, statement in iam_statements(template):
        if any(logical_id in json.dumps(r) for r in _as_list(statement.get("Resource") or [])):
            found.setdefault(lid, []).append(statement)
    return found


@pytest.mark.parametrize("name", list(PARAMETER_SETS))
def test_only_the_pay_function_reads_the_card_fingerprint_key(name):
    readers = _statements_naming(transformed_template(**PARAMETER_SETS[name]), "CardFingerprintKey")
    assert set(readers) == {"PayOrderFunctionRole"}
    for statement in readers["PayOrderFunctionRole"]:
        assert set(_as_list(statement["Action"])) <= {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}


def test_the_card_sandbox_ledger_is_read_and_appended_by_the_charging_functions_only():
    users = _statements_naming(transformed_template(), "CardSandboxTable")
    assert set(users) == {"PayOrderFunctionRole", "PaymentsInboxFunctionRole", "ReconcilerFunctionRole"}
    for statements in users.values():
        actions = {a for s in statements for a in _as_list(s["Action"])}
        assert actions == {"dynamodb:GetItem", "dynamodb:PutItem"}


# ------------------------------------------------------------------ each function's DynamoDB actions, from its code


def test_no_function_is_granted_a_dynamodb_action_its_code_never_calls():
    from tests.support.iam_calls import excess_grants

    template = transformed_template()
    functions = [lid for lid, res in template["Resources"].items() if res["Type"] == "AWS::Lambda::Function"]
    assert [p for fn in functions for p in excess_grants(template, fn)] == []


def test_the_static_reading_finds_the_calls_the_code_makes():
    from tests.support.iam_calls import granted, static_calls

    template = transformed_template()
    pay = static_calls(template, "PayOrderFunction")
    assert {"dynamodb:GetItem", "dynamodb:UpdateItem"} <= pay["own"]
    assert "dynamodb:Scan" not in pay["own"] and "dynamodb:DeleteItem" not in pay["own"]
    assert pay["idempotency"]  # the pay route imports Powertools idempotency
    assert static_calls(template, "PaymentsPublisherFunction")["idempotency"] == set()
    # Payments' functions may neither scan nor delete payments.
    for function in ("PayOrderFunction", "PaymentsInboxFunction"):
        actions = granted(template, function)["PaymentsTable"]
        assert not actions & {"dynamodb:Scan", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}, function


def test_the_check_catches_a_crud_policy():
    from tests.support.iam_calls import excess_grants

    template = json.loads(json.dumps(transformed_template()))
    role = template["Resources"]["GetPaymentFunctionRole"]["Properties"]
    role["Policies"].append(
        {
            "PolicyName": "Crud",
            "PolicyDocument": {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["dynamodb:Scan"],
                        "Resource": {"Fn::GetAtt": ["PaymentsTable", "Arn"]},
                    }
                ]
            },
        }
    )
    assert "GetPaymentFunction: dynamodb:Scan on PaymentsTable, which its code never calls" in excess_grants(
        template, "GetPaymentFunction"
    )
