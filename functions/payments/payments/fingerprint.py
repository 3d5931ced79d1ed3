"""What identifies "the same pay request" for Idempotency-Key, without keeping the card.

The whole card (number, CVV, expiry) goes into an HMAC-SHA256 under a secret only the functions hold
(Secrets Manager, CardFingerprintKey): the idempotency record can tell another card from the same one,
yet neither it nor a leaked table reveals the card (a plain hash of a 16-digit number with a known
prefix is guessed in seconds). The key is read through Powertools' parameters utility and cached for
KEY_MAX_AGE_SECONDS: after a rotation, a request repeated with a key used before the rotation is a 409.
"""

import functools
import hashlib
import hmac
import json
from typing import Any

from payments.processor import Card
from platform_core.config import aws_client, require_env

KEY_MAX_AGE_SECONDS = 300


@functools.cache
def _secrets() -> Any:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=aws_client("secretsmanager"))


class FingerprintKeyUnavailableError(Exception):
    """Secrets Manager did not answer: the request cannot be compared, so it is not run (503, retry)."""


def fingerprint_key() -> bytes:
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    try:
        value = _secrets().get(require_env("CARD_FINGERPRINT_SECRET_ARN"), max_age=KEY_MAX_AGE_SECONDS)
    except GetParameterError as exc:
        raise FingerprintKeyUnavailableError(str(exc)) from exc
    if not value:
        raise RuntimeError("the card fingerprint secret is empty")
    return value.encode() if isinstance(value, str) else bytes(value)


def card_fingerprint(card: Card, key: bytes | None = None) -> str:
    """The same for the same card however it was written (spaces, cvv/cvc, 12/30 or 12/2030)."""
    message = json.dumps([card.number, card.cvc, card.expiry.month, card.expiry.year]).encode()
    return hmac.new(key if key is not None else fingerprint_key(), message, hashlib.sha256).hexdigest()
