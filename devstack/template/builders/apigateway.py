"""AWS::ApiGateway: the REST API's OpenAPI body (routes, authorizers, gateway responses), its stage,
and the Lambda permissions that name it."""

from __future__ import annotations

from typing import Any

from devstack.template.builders.base import Build, PendingRoute
from devstack.template.model import (
    ApiModel,
    ApiRoute,
    AuthorizerModel,
    GatewayResponse,
    TemplateError,
)
from devstack.template.resolver import as_bool, as_int, strip_quotes

_INTEGRATION = "x-amazon-apigateway-integration"
_AUTHORIZER = "x-amazon-apigateway-authorizer"
_ANY_METHOD = "x-amazon-apigateway-any-method"
_HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", _ANY_METHOD}


def _authorizer(b: Build, lid: str, name: str, scheme: dict[str, Any]) -> AuthorizerModel:
    spec = scheme.get(_AUTHORIZER) or {}
    kind = str(spec.get("type", "")).upper()
    if kind != "TOKEN":
        b.unsupported.append(f"{lid}: authorizer {name} of type {kind or 'unknown'} (only TOKEN)")
    return AuthorizerModel(
        name=name,
        function=str(spec.get("authorizerUri", "")),  # the URI until _link_routes names the function
        payload_type=kind,
        identity_header=str(scheme.get("name", "Authorization")),
        ttl=as_int(spec.get("authorizerResultTtlInSeconds"), 300),
    )


def _gateway_response(g: dict[str, Any]) -> GatewayResponse:
    prefix = "gatewayresponse.header."
    parameters = g.get("responseParameters") or {}
    headers = {k[len(prefix) :]: strip_quotes(v) for k, v in parameters.items() if k.startswith(prefix)}
    templates = g.get("responseTemplates") or {}
    body = templates.get("application/json") or next(iter(templates.values()), "")
    return GatewayResponse(status=as_int(g.get("statusCode"), 0), headers=headers, body=str(body))


def _api_routes(b: Build, lid: str, body: dict[str, Any]) -> None:
    for path, operations in (body.get("paths") or {}).items():
        for method, operation in (operations or {}).items():
            if method not in _HTTP_METHODS:
                continue
            verb = "ANY" if method == _ANY_METHOD else method.upper()
            integration = operation.get(_INTEGRATION) or {}
            if integration.get("type") != "aws_proxy":
                b.unsupported.append(f"{lid}: {verb} {path}: {integration.get('type')} integration (only aws_proxy)")
                continue
            security = operation.get("security") or body.get("security") or [{"NONE": []}]
            auth = next(iter(security[0]), "NONE") if security else "NONE"
            route = ApiRoute(method=verb, path=str(path), function="", auth=str(auth), api=lid)
            b.routes.append(PendingRoute(route, str(integration.get("uri", ""))))


_API_FEATURES_NOT_EMULATED = ("BinaryMediaTypes", "EndpointConfiguration", "Policy", "ApiKeySourceType")
_BODY_FEATURES_NOT_EMULATED = ("x-amazon-apigateway-request-validators", "x-amazon-apigateway-policy")


def build_rest_api(b: Build, lid: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
    body = props.get("Body")
    if not isinstance(body, dict):
        raise TemplateError(f"{lid}: an API without an inline OpenAPI body (Body) is not emulated")
    schemes = (body.get("components") or {}).get("securitySchemes") or body.get("securityDefinitions") or {}
    b.apis[lid] = ApiModel(
        logical_id=lid,
        stage_name="",  # the Stage's (_link_routes)
        routes=[],
        authorizers={n: _authorizer(b, lid, n, s) for n, s in schemes.items() if _AUTHORIZER in s},
        gateway_responses={
            name: _gateway_response(g) for name, g in (body.get("x-amazon-apigateway-gateway-responses") or {}).items()
        },
        minimum_compression_size=(
            as_int(props["MinimumCompressionSize"], 0) if "MinimumCompressionSize" in props else None
        ),
    )
    _api_routes(b, lid, body)
    b.report(lid, props, _API_FEATURES_NOT_EMULATED)
    b.report(lid, body, _BODY_FEATURES_NOT_EMULATED)


_STAGE_FEATURES_NOT_EMULATED = ("AccessLogSetting", "CacheClusterEnabled", "CanarySetting", "Variables")


def build_stage(b: Build, lid: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
    api = raw.get("RestApiId")
    if not (isinstance(api, dict) and isinstance(api.get("Ref"), str)):
        raise TemplateError(f"{lid}: RestApiId must be a Ref to an API of the template")
    b.stages[api["Ref"]] = str(props.get("StageName", ""))
    if as_bool(props.get("TracingEnabled")):
        b.unsupported.append(f"{lid}: TracingEnabled (no X-Ray locally)")
    if props.get("MethodSettings"):
        b.unsupported.append(f"{lid}: MethodSettings (throttling, metrics)")
    b.report(lid, props, _STAGE_FEATURES_NOT_EMULATED)


_API_TYPES = ("AWS::ApiGateway::RestApi",)


def build_permission(b: Build, lid: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
    """An Api event whose RestApiId is no API of the template leaves only this permission behind (SAM
    assumes such an API lives elsewhere): its route would exist nowhere locally, so it is refused."""
    source = raw.get("SourceArn")
    variables = source["Fn::Sub"][1] if isinstance(source, dict) and isinstance(source.get("Fn::Sub"), list) else {}
    api = variables.get("__ApiId__") if isinstance(variables, dict) else None
    if api is None or raw.get("Principal") != "apigateway.amazonaws.com":
        return
    target = api.get("Ref") if isinstance(api, dict) else None
    if not (isinstance(target, str) and b.r.is_resource(target) and b.r.rtype(target) in _API_TYPES):
        raise TemplateError(f"{lid}: RestApiId {api!r} is not an API of the template (not emulated)")
