"""Which DynamoDB actions a function's role grants (after the SAM transform), and which its code calls.

- `granted(template, function)`: {table logical id: actions} from the inline statements of the function's
  role in the transformed template.
- `static_calls(template, function)`: the DynamoDB actions the code reachable from the function's handler
  can call: every `client.<operation>(...)` of the function's CodeUri and layers (botocore's operation
  names, so `put_item` is `dynamodb:PutItem`), plus what Powertools' DynamoDB idempotency layer calls when
  the code imports it. An action granted but never called is more than the function needs.
- `IamEnforcer`: while a handler runs in the unit tests, every DynamoDB call it makes must be granted on
  that table; a call the role does not allow fails the test (what AWS would answer with AccessDenied).
"""

from __future__ import annotations

import ast
import functools
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import botocore.client
import botocore.session
from botocore import xform_name

ROOT = Path(__file__).resolve().parents[2]

# What aws_lambda_powertools.utilities.idempotency's DynamoDBPersistenceLayer calls (get, save in progress,
# save success, delete on a failed handler). Its table is the one IDEMPOTENCY_TABLE_NAME names.
POWERTOOLS_IDEMPOTENCY_ACTIONS = frozenset(
    {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
)
IDEMPOTENCY_ENV = "IDEMPOTENCY_TABLE_NAME"


@functools.cache
def _dynamodb_operations() -> dict[str, str]:
    """python method name -> IAM action, for every DynamoDB data-plane and control-plane operation."""
    model = botocore.session.get_session().get_service_model("dynamodb")
    return {xform_name(op): f"dynamodb:{op}" for op in model.operation_names}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _referenced_resources(node: Any) -> set[str]:
    """Logical ids a Resource expression names (Ref, GetAtt, or ${Name} in Fn::Sub)."""
    text = json.dumps(node)
    found = set()
    for key in ('"Ref": "', '"Fn::GetAtt": ["'):
        for part in text.split(key)[1:]:
            found.add(part.split('"', 1)[0].split(".")[0])
    found |= set(re.findall(r"\$\{([A-Za-z0-9]+)[.}]", text))
    return found


def _branches(node: Any) -> list[Any]:
    """Every concrete value a node may take: both sides of each Fn::If; AWS::NoValue drops out."""
    if isinstance(node, dict) and set(node) == {"Fn::If"}:
        _, yes, no = node["Fn::If"]
        return _branches(yes) + _branches(no)
    return [] if node == {"Ref": "AWS::NoValue"} else [node]


def _role_statements(template: dict[str, Any], function: str) -> list[dict[str, Any]]:
    role = template["Resources"][f"{function}Role"]["Properties"]
    statements = []
    for policy in (p for item in _as_list(role.get("Policies") or []) for p in _branches(item)):
        for statement in _as_list(policy["PolicyDocument"].get("Statement") or []):
            statements.extend(_branches(statement))
    return statements


def granted(template: dict[str, Any], function: str) -> dict[str, set[str]]:
    """{table logical id: DynamoDB actions its role allows on it} (index ARNs count for their table)."""
    tables = {lid for lid, res in template["Resources"].items() if res["Type"] == "AWS::DynamoDB::Table"}
    out: dict[str, set[str]] = {}
    for statement in _role_statements(template, function):
        if statement.get("Effect") != "Allow":
            continue
        actions = {a for a in _as_list(statement.get("Action") or []) if a.startswith("dynamodb:")}
        for resource in _as_list(statement.get("Resource") or []):
            for table in _referenced_resources(resource) & tables:
                out.setdefault(table, set()).update(actions)
    return out


def _code_dirs(template: dict[str, Any], function: str) -> list[Path]:
    """The function's CodeUri and its layers' ContentUri (the test transform keeps them as S3 keys)."""
    props = template["Resources"][function]["Properties"]
    dirs = [ROOT / props["Code"]["S3Key"]]
    for layer in props.get("Layers") or []:
        layer_id = layer["Ref"]
        dirs.append(ROOT / template["Resources"][layer_id]["Properties"]["Content"]["S3Key"])
    return dirs


def _module_file(module: str, dirs: list[Path]) -> Path | None:
    for base in dirs:
        for candidate in (base / (module.replace(".", "/") + ".py"), base / module.replace(".", "/") / "__init__.py"):
            if candidate.exists():
                return candidate
    return None


def _imports(tree: ast.AST, module: str) -> Iterator[str]:
    package = module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def static_calls(template: dict[str, Any], function: str) -> dict[str, set[str]]:
    """{"own": actions the project's code calls, "idempotency": Powertools' actions if it is imported}."""
    dirs = _code_dirs(template, function)
    handler = template["Resources"][function]["Properties"]["Handler"]
    operations = _dynamodb_operations()
    seen: set[str] = set()
    todo = [handler.rpartition(".")[0]]
    own: set[str] = set()
    uses_idempotency = False
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        path = _module_file(module, dirs)
        if path is None:
            uses_idempotency |= module.startswith("aws_lambda_powertools.utilities.idempotency")
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in operations:
                own.add(operations[node.func.attr])
        todo.extend(_imports(tree, module))
    return {"own": own, "idempotency": set(POWERTOOLS_IDEMPOTENCY_ACTIONS) if uses_idempotency else set()}


def idempotency_tables(template: dict[str, Any], function: str) -> set[str]:
    variables = template["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {})
    return _referenced_resources(variables.get(IDEMPOTENCY_ENV)) if IDEMPOTENCY_ENV in variables else set()


def excess_grants(template: dict[str, Any], function: str) -> list[str]:
    """Actions the role grants on a table that the function's code never calls there."""
    calls = static_calls(template, function)
    idempotency = idempotency_tables(template, function)
    problems = []
    for table, actions in sorted(granted(template, function).items()):
        needed = calls["idempotency"] if table in idempotency else calls["own"]
        problems += [f"{function}: {a} on {table}, which its code never calls" for a in sorted(actions - needed)]
    return problems


class IamEnforcer:
    """Fails a handler test whose function makes a DynamoDB call its role does not allow on that table."""

    def __init__(self, template: dict[str, Any], table_names: dict[str, str]) -> None:
        self.template = template
        self.table_by_name = {name: lid for lid, name in table_names.items()}
        self.violations: list[str] = []
        self.calls: list[tuple[str, str, str]] = []  # (function, action, table logical id)

    @contextmanager
    def running(self, function: str) -> Iterator[None]:
        allowed = granted(self.template, function)
        thread = threading.get_ident()
        original = botocore.client.BaseClient._make_api_call
        enforcer = self

        def checked(client: Any, operation: str, params: dict[str, Any]) -> Any:
            if threading.get_ident() == thread and client.meta.service_model.service_name == "dynamodb":
                table = enforcer.table_by_name.get(str(params.get("TableName", "")).rsplit("/", 1)[-1])
                action = f"dynamodb:{operation}"
                if table is not None:
                    enforcer.calls.append((function, action, table))
                    if action not in allowed.get(table, set()):
                        enforcer.violations.append(f"{function}: {action} on {table} is not granted")
            return original(client, operation, params)

        botocore.client.BaseClient._make_api_call = checked  # type: ignore[method-assign]
        try:
            yield
        finally:
            botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign]
        if self.violations:
            found, self.violations = self.violations, []
            raise AssertionError("the role would refuse these calls (AccessDenied on AWS): " + "; ".join(found))
