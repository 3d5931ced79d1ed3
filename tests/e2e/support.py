"""Plain-HTTP helpers for the end-to-end tests: a client per user, polling, card fixtures.

Nothing here talks to AWS or to a table: the same helpers run against the local stack and
against a deployed stack (``API_URL``).
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import jwt
import requests

T = TypeVar("T")

# Generous: normal completion is sub-second locally, a cold deployed stack takes a few seconds.
TIMEOUT = 30.0
HTTP_TIMEOUT = 30.0

GOOD_CARD = {"number": "4242 4242 4242 4242", "cvt": 123, "expiry": "12/30"}
DECLINED_CARD = {"number": "4000000000000002", "cvt": 123, "expiry": "12/30"}
NO_FUNDS_CARD = {"number": "4000000000009995", "cvt": 123, "expiry": "12/30"}
EXPIRED_CARD = {"number": "4242424242424242", "cvt": 123, "expiry": "01/20"}

ORDER_STATUSES = {"created", "confirmed", "declined", "cancelled", "delivered"}
PAYMENT_STATUSES = {"pending", "processing", "paid", "declined", "voided", "refunding", "refunded"}


class ConditionNotMetError(AssertionError):
    """Raised by :func:`eventually` when the condition never held; carries the last value seen."""


def eventually(
    fn: Callable[[], T],
    until: Callable[[T], bool] = bool,
    *,
    timeout: float = TIMEOUT,
    interval: float = 0.02,
    what: str = "condition",
) -> T:
    """Call ``fn`` until ``until(value)`` holds and return that value.

    Never asserts on elapsed time: ``timeout`` only bounds how long a broken system is
    waited for, and then the test fails with the last value seen.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = fn()
        if until(last):
            return last
        if time.monotonic() >= deadline:
            raise ConditionNotMetError(f"{what} did not hold within {timeout}s; last value: {_show(last)}")
        time.sleep(interval)


def _show(value: Any) -> str:
    if isinstance(value, requests.Response):
        return f"HTTP {value.status_code} {value.text[:500]}"
    return repr(value)[:800]


def pay_body(card: Mapping[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    details = dict(GOOD_CARD if card is None else card)
    details.update(overrides)
    return {"creditCardDetails": details}


def unique_user(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def parse_time(value: str) -> datetime:
    """An ISO 8601 UTC timestamp (``Z`` or ``+00:00``)."""
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None and parsed.utcoffset() == UTC.utcoffset(None), value
    return parsed


def is_problem(response: requests.Response, status: int) -> dict[str, Any]:
    """Assert an RFC 9457 problem response with ``status`` and return its body."""
    assert response.status_code == status, _show(response)
    assert response.headers.get("Content-Type", "").startswith("application/problem+json"), response.headers
    body = response.json()
    assert body.get("status") == status, body
    assert isinstance(body.get("title"), str) and body["title"], body
    assert "type" in body, body
    assert "Traceback" not in response.text, response.text
    return body


@dataclass
class Client:
    """Requests to the API as one user (``token`` is the value of the Authorization header)."""

    base_url: str
    authorization: str | None
    user: str | None = None
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    def on(self, session: requests.Session) -> Client:
        """The same user over another connection (one per thread, when requests race)."""
        return dataclasses.replace(self, session=session)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> requests.Response:
        """``body`` is sent as written when it is a str or bytes, as JSON otherwise (None: no body)."""
        all_headers: dict[str, str] = {}
        if self.authorization is not None:
            all_headers["Authorization"] = self.authorization
        data = body if body is None or isinstance(body, str | bytes) else json.dumps(body)
        if data is not None:
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        return self.session.request(
            method,
            self.base_url + path,
            headers=all_headers,
            data=data,
            params=params,
            timeout=HTTP_TIMEOUT,
        )

    def close(self) -> None:
        self.session.close()

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.request("POST", path, body=body, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.request("DELETE", path, **kw)

    # ---------------------------------------------------------------- orders
    def create_order(self, bill: float = 2000, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
        r = self.post("/orders", {"bill": bill}, headers=headers)
        assert r.status_code == 201, _show(r)
        order: dict[str, Any] = r.json()["data"]
        return order

    def order(self, order_id: str) -> dict[str, Any]:
        r = self.get(f"/orders/{order_id}")
        assert r.status_code == 200, _show(r)
        data: dict[str, Any] = r.json()["data"]
        return data

    def wait_order(self, order_id: str, status: str | set[str], timeout: float = TIMEOUT) -> dict[str, Any]:
        """Wait until the order has ``status`` (or one of a set: a loaded machine may pass one state unseen)."""
        wanted = {status} if isinstance(status, str) else status
        return eventually(
            lambda: self.order(order_id),
            lambda o: o["status"] in wanted,
            timeout=timeout,
            what=f"order {order_id} {' or '.join(sorted(wanted))}",
        )

    # ---------------------------------------------------------------- payments
    def payment_response(self, order_id: str) -> requests.Response:
        return self.get(f"/payments/{order_id}")

    def payment(self, order_id: str) -> dict[str, Any]:
        r = self.payment_response(order_id)
        assert r.status_code == 200, _show(r)
        data: dict[str, Any] = r.json()["data"]
        return data

    def wait_payment(self, order_id: str, status: str = "pending", timeout: float = TIMEOUT) -> dict[str, Any]:
        """Wait until the payment exists (``404`` until then) with ``status``."""
        r = eventually(
            lambda: self.payment_response(order_id),
            lambda r: r.status_code == 200 and r.json()["data"]["status"] == status,
            timeout=timeout,
            what=f"payment {order_id} {status}",
        )
        data: dict[str, Any] = r.json()["data"]
        return data

    def pay(
        self, order_id: str, card: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None
    ) -> requests.Response:
        return self.post(f"/payments/pay/{order_id}", pay_body(card), headers=headers)

    def order_with_pending_payment(self, bill: float = 2000) -> dict[str, Any]:
        order = self.create_order(bill)
        self.wait_payment(order["id"], "pending")
        return order

    def pages(self, collection: str, limit: int | None = None) -> Iterator[requests.Response]:
        """Every page of ``/orders`` or ``/payments``, following ``nextToken``."""
        params: dict[str, Any] = {} if limit is None else {"limit": limit}
        for _ in range(1000):
            r = self.get(f"/{collection}", params=params)
            assert r.status_code == 200, _show(r)
            yield r
            token = r.json()["nextToken"]
            if token is None:
                return
            params = {**params, "nextToken": token}
        raise AssertionError("pagination did not end")

    def all_items(self, collection: str, limit: int | None = None) -> list[dict[str, Any]]:
        return [item for page in self.pages(collection, limit) for item in page.json()["data"]]


def hs256(secret: str, claims: Mapping[str, Any], headers: Mapping[str, Any] | None = None) -> str:
    return jwt.encode(dict(claims), secret, algorithm="HS256", headers=dict(headers or {}))


def unsigned(claims: Mapping[str, Any]) -> str:
    """An ``alg: none`` token (header.payload. with an empty signature)."""
    return jwt.encode(dict(claims), None, algorithm="none")
