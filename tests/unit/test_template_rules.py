"""JWKS mode requires an audience (issue 10): the template's Rules refuse a deployment without one, before
any resource exists. Evaluated on the SAM-transformed template with issue 12's Rules evaluator."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.sam_template import transformed_template
from tests.unit.test_template_deploy import ISSUER, refusals

JWKS = {
    "AuthMode": "jwks",
    "JwksUrl": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc/.well-known/jwks.json",
    "JwtIssuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc",
}


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    return transformed_template()


def test_jwks_without_an_audience_is_refused(cfn: dict[str, Any]) -> None:
    """A token the same issuer minted for another API would be accepted: the deploy is refused."""
    problems = refusals(cfn, **JWKS)
    assert problems and all("JwtAudience" in p for p in problems), problems


@pytest.mark.parametrize(
    "audience",
    [{"JwtAudience": "my-app-client"}, {"JwtAllowedClientIds": "client-1,client-2"}],
    ids=["audience", "cognito client ids"],
)
def test_jwks_with_an_audience_or_client_ids_deploys(cfn: dict[str, Any], audience: dict[str, str]) -> None:
    assert refusals(cfn, **JWKS, **audience) == []


def test_jwks_with_both_an_audience_and_client_ids_is_refused(cfn: dict[str, Any]) -> None:
    problems = refusals(cfn, **JWKS, JwtAudience="my-app-client", JwtAllowedClientIds="client-1")
    assert problems and all("not both" in p for p in problems), problems


def test_hs256_needs_no_audience(cfn: dict[str, Any]) -> None:
    assert refusals(cfn, **ISSUER) == []


def test_the_authorizer_gets_the_audience_settings(cfn: dict[str, Any]) -> None:
    variables = cfn["Resources"]["AuthorizerFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["JWT_AUDIENCE"] == {"Ref": "JwtAudience"}
    assert variables["JWT_ALLOWED_CLIENT_IDS"] == {"Ref": "JwtAllowedClientIds"}
