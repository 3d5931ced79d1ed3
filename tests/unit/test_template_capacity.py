"""Capacity settings of template.yaml: the stage's throttles come from parameters, sized per environment.

docs/deploy.md#capacity says what each quota on an order's path allows; these tests keep the template,
samconfig.toml and that page in step.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest

from tests.support.sam_template import ROOT, sam_template, transformed_template
from tests.unit.test_template_deploy import ISSUER, refusals

WRITE = {"ThrottlingRateLimit": "ApiWriteThrottleRateLimit", "ThrottlingBurstLimit": "ApiWriteThrottleBurstLimit"}
READ = {"ThrottlingRateLimit": "ApiReadThrottleRateLimit", "ThrottlingBurstLimit": "ApiReadThrottleBurstLimit"}
THROTTLE_PARAMETERS = [*WRITE.values(), *READ.values()]
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    return transformed_template()


def method_settings(cfn: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    (stage,) = [res for res in cfn["Resources"].values() if res["Type"] == "AWS::ApiGateway::Stage"]
    return {(s["ResourcePath"], s["HttpMethod"]): s for s in stage["Properties"]["MethodSettings"]}


def setting_path(route_path: str) -> str:
    """A method setting's ResourcePath: the route's path with each "/" written "~1"."""
    return "/" + route_path.replace("/", "~1")


def throttles_of(setting: dict[str, Any]) -> dict[str, Any]:
    return {key: setting.get(key) for key in ("ThrottlingRateLimit", "ThrottlingBurstLimit")}


def test_every_method_is_throttled_by_the_read_parameters_by_default(cfn):
    default = method_settings(cfn)[("/*", "*")]
    assert throttles_of(default) == {key: {"Ref": name} for key, name in READ.items()}
    assert default["MetricsEnabled"] is True


def test_each_write_route_has_the_write_parameters_and_no_read_route_does(cfn):
    settings = method_settings(cfn)
    routes = sam_template().routes
    writes = [r for r in routes if r.method in WRITE_METHODS]
    assert {(r.method, r.path) for r in writes} >= {("POST", "/orders"), ("POST", "/payments/pay/{orderId}")}
    for route in writes:
        setting = settings.get((setting_path(route.path), route.method))
        assert setting, f"{route.method} {route.path} has no method setting: it would get the read throttles"
        assert throttles_of(setting) == {key: {"Ref": name} for key, name in WRITE.items()}, route
        assert setting["MetricsEnabled"] is True, route  # a per-method setting replaces the "/*" one whole
    read_paths = {(setting_path(r.path), r.method) for r in routes if r.method not in WRITE_METHODS}
    assert not read_paths & set(settings), "a read route has a setting of its own"


def test_each_method_setting_names_a_route_of_the_api(cfn):
    routes = {(setting_path(r.path), r.method) for r in sam_template().routes}
    for key in method_settings(cfn):
        assert key == ("/*", "*") or key in routes, f"{key} throttles no route (a renamed path?)"


def test_throttles_are_bounded_by_api_gateways_account_quota(cfn):
    params = cfn["Parameters"]
    for name in THROTTLE_PARAMETERS:
        assert int(params[name]["MinValue"]) >= 1, name
        quota = 5000 if "Burst" in name else 10000  # per account and region, shared by every API
        assert int(params[name]["MaxValue"]) == quota, name
        assert refusals(cfn, **{name: str(quota + 1)}), name
        assert refusals(cfn, **{name: "0"}), name
    for kind in ("Write", "Read"):
        rate, burst = (int(params[f"Api{kind}Throttle{x}Limit"]["Default"]) for x in ("Rate", "Burst"))
        assert burst >= rate, kind  # a burst below the rate would refuse a steady second's requests


def _overrides(env: str) -> dict[str, str]:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    text = config[env]["deploy"]["parameters"]["parameter_overrides"]
    return dict(item.split("=", 1) for item in text.split())


def test_samconfig_sizes_the_throttles_of_each_environment(cfn):
    dev, prod = _overrides("default"), _overrides("prod")
    for name in THROTTLE_PARAMETERS:
        assert name in dev and name in prod, f"samconfig.toml leaves {name} to its default"
        assert int(prod[name]) > int(dev[name]), name
    assert refusals(cfn, **ISSUER, **{k: v for k, v in dev.items() if k in THROTTLE_PARAMETERS}) == []
    assert refusals(cfn, **ISSUER, **{k: v for k, v in prod.items() if k in THROTTLE_PARAMETERS}) == []
    for env in (dev, prod):  # an order is one POST /orders and one pay: writes never outnumber reads' allowance
        assert int(env["ApiReadThrottleRateLimit"]) >= int(env["ApiWriteThrottleRateLimit"])


def test_the_transformed_stage_takes_the_values_samconfig_gives(cfn):
    prod = {k: v for k, v in _overrides("prod").items() if k in THROTTLE_PARAMETERS}
    template = sam_template(**prod)
    settings = method_settings(template.template)
    post_orders = settings[(setting_path("/orders"), "POST")]
    assert str(template.value(post_orders["ThrottlingRateLimit"])) == prod["ApiWriteThrottleRateLimit"]
    assert str(template.value(settings[("/*", "*")]["ThrottlingBurstLimit"])) == prod["ApiReadThrottleBurstLimit"]


def test_docs_deploy_lists_each_throttle_with_its_default_and_environment_values(cfn):
    text = (ROOT / "docs" / "deploy.md").read_text()
    dev, prod = _overrides("default"), _overrides("prod")
    for name in [*THROTTLE_PARAMETERS, "StreamParallelizationFactor"]:
        default = cfn["Parameters"][name]["Default"]
        row = rf"\| `{name}` \| `{default}` \| `{dev[name]}` / `{prod[name]}` \|"
        assert re.search(row, text), f"docs/deploy.md: no row `{name}` | `{default}` | `{dev[name]}` / `{prod[name]}`"
    assert "## Capacity" in text


# ------------------------------------------------------------------ stream publishers


def test_every_stream_mapping_takes_its_parallelization_factor_from_the_parameter(cfn):
    mappings = [
        res["Properties"]
        for res in cfn["Resources"].values()
        if res["Type"] == "AWS::Lambda::EventSourceMapping" and "StartingPosition" in res["Properties"]
    ]
    assert len(mappings) == 2  # OrdersTable's and PaymentsTable's publishers
    for props in mappings:
        assert props["ParallelizationFactor"] == {"Ref": "StreamParallelizationFactor"}
        # Lambda keeps one partition key's records in order only with batch item failures reported.
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    spec = cfn["Parameters"]["StreamParallelizationFactor"]
    assert (int(spec["MinValue"]), int(spec["MaxValue"])) == (1, 10)  # Lambda's range
    assert refusals(cfn, StreamParallelizationFactor="11")
    dev, prod = _overrides("default"), _overrides("prod")
    assert int(dev["StreamParallelizationFactor"]) < int(prod["StreamParallelizationFactor"])


def test_the_event_topics_are_standard_topics(cfn):
    """The publishers' ordering rule (docs/deploy.md#capacity) is written for standard topics: a FIFO topic
    would need MessageGroupId and MessageDeduplicationId on every entry."""
    for lid in ("OrdersTopic", "PaymentsTopic"):
        assert not cfn["Resources"][lid]["Properties"].get("FifoTopic"), lid


def test_the_capacity_table_quotes_prods_throttles_and_the_delivery_batch_limit():
    """docs/deploy.md#capacity and the template agree on the figures the first bottlenecks are computed from."""
    text = (ROOT / "docs" / "deploy.md").read_text()
    capacity = text[text.index("## Capacity") :]
    prod = _overrides("prod")
    assert f"prod {int(prod['ApiWriteThrottleRateLimit']):,} rps" in capacity
    assert f"prod {int(prod['ApiReadThrottleRateLimit']):,} rps" in capacity
    assert f"prod {prod['StreamParallelizationFactor']}" in capacity
    from orders.delivery import MAX_ORDERS_PER_EXECUTION

    assert f"up to {MAX_ORDERS_PER_EXECUTION} a batch" in capacity
    assert "The first three bottlenecks" in capacity
