"""A warm Lambda-like execution environment: ``python -m devstack.lambdas.worker``.

Protocol: one JSON object per line. stdin receives ``{"id", "event", "deadline_ms", ...}``; the real
stdout (fd 1 at start) answers ``{"id", "ok", "result"}`` or ``{"id", "ok": false, "error": {...}}``.
The function's own prints and logs go to stderr. The process exits when stdin closes.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import time
import traceback
from typing import Any, TextIO


class LambdaContext:
    def __init__(self, request_id: str, deadline_ms: int) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        region = os.environ.get("AWS_REGION", "us-east-1")
        self.invoked_function_arn = f"arn:aws:lambda:{region}:123456789012:function:{self.function_name}"
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _error(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "stackTrace": traceback.format_exception(exc)[-8:],
    }


def _is_refusal(exc: BaseException) -> bool:
    """A TOKEN authorizer's "no": API Gateway's protocol is to raise exactly Exception("Unauthorized") (a 401)."""
    return type(exc) is Exception and exc.args == ("Unauthorized",)


def _send(out: TextIO, msg: dict[str, Any]) -> None:
    out.write(json.dumps(msg) + "\n")
    out.flush()


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the engine decides when we stop
    # Keep the protocol channel private; everything the function prints goes to stderr.
    proto = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    handler_spec = os.environ.get("_HANDLER", "")
    handler: Any = None
    init_error: dict[str, Any] | None = None
    started = time.monotonic()
    try:
        module_name, _, func_name = handler_spec.rpartition(".")
        module = importlib.import_module(module_name)
        handler = getattr(module, func_name)
    except Exception as exc:  # reported on every invocation, like Lambda's Runtime.ImportModuleError
        traceback.print_exc()
        init_error = _error(exc, "Runtime.ImportModuleError")
    _send(proto, {"ready": True, "init_ms": int((time.monotonic() - started) * 1000), "init_error": init_error})
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        rid = req.get("id", "")
        if init_error is not None:
            _send(proto, {"id": rid, "ok": False, "error": init_error})
            continue
        ctx = LambdaContext(rid, int(req.get("deadline_ms", time.time() * 1000 + 3000)))
        os.environ["_X_AMZN_TRACE_ID"] = f"Root=1-{int(time.time()):08x}-{rid.replace('-', '')[:24]}"
        try:
            result = handler(req.get("event"), ctx)
        except Exception as exc:
            if not _is_refusal(exc):  # a refused token is an answer, logged by the authorizer itself
                print(
                    json.dumps({"errorMessage": str(exc), "errorType": type(exc).__name__, "requestId": rid}),
                    file=sys.stderr,
                )
                traceback.print_exc()
            _send(proto, {"id": rid, "ok": False, "error": _error(exc)})
            continue
        try:
            _send(proto, {"id": rid, "ok": True, "result": result})
        except (TypeError, ValueError) as exc:
            _send(proto, {"id": rid, "ok": False, "error": _error(exc, "Runtime.MarshalError")})
        sys.stderr.flush()


if __name__ == "__main__":
    main()
