"""The local gateway evaluates an authorizer's policy as IAM does for execute-api:Invoke."""

from __future__ import annotations

from devstack.gateway.routes import policy_allows

API = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/api"


def _policy(effect: str, resource: str) -> dict[str, object]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": [resource]}],
    }


def test_a_wildcard_matches_any_character_of_a_path_newlines_included() -> None:
    # IAM's * matches every character; an order id with an encoded newline (%0A) is still the user's own
    # route (a 404 from the function), never a 403 from the gateway.
    for path in ("orders/01ABC", "orders/a\nb", "orders/\r\n", "orders/é\u202e"):
        assert policy_allows(_policy("Allow", f"{API}/*/*"), f"{API}/GET/{path}"), repr(path)


def test_an_explicit_deny_wins_and_nothing_is_allowed_by_default() -> None:
    allow_all = _policy("Allow", f"{API}/*/*")
    deny_one = {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": f"{API}/DELETE/*"}
    both = {"Statement": [*allow_all["Statement"], deny_one]}  # type: ignore[misc]
    assert not policy_allows(both, f"{API}/DELETE/orders/a\nb")
    assert policy_allows(both, f"{API}/GET/orders/a\nb")
    assert not policy_allows(_policy("Allow", f"{API}/GET/orders"), f"{API}/GET/orders/x")
    assert not policy_allows({}, f"{API}/GET/orders")
