"""The REST API's routes as API Gateway matches them (greedy and plain path parameters, ANY), and the
authorizer policies that allow a method ARN."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from devstack.template import ApiRoute


@dataclass
class CompiledRoute:
    route: ApiRoute
    segments: list[str]
    greedy: bool

    @property
    def specificity(self) -> tuple[int, int, int]:
        static = sum(1 for s in self.segments if not s.startswith("{"))
        return (0 if self.greedy else 1, len(self.segments), static)

    def match(self, parts: list[str]) -> dict[str, str] | None:
        params: dict[str, str] = {}
        segs = self.segments
        if self.greedy:
            if len(parts) < len(segs):
                return None
        elif len(parts) != len(segs):
            return None
        for i, seg in enumerate(segs):
            if seg.startswith("{") and seg.endswith("+}"):
                params[seg[1:-2]] = "/".join(unquote(p) for p in parts[i:])
                return params
            if seg.startswith("{") and seg.endswith("}"):
                if parts[i] == "":
                    return None
                params[seg[1:-1]] = unquote(parts[i])
            elif unquote(parts[i]) != seg:
                return None
        return params


def _split(path: str) -> list[str]:
    path = path.strip("/")
    return path.split("/") if path else []


def _compile(route: ApiRoute) -> CompiledRoute:
    segs = _split(route.path)
    return CompiledRoute(route, segs, bool(segs) and segs[-1].endswith("+}"))


def _pattern(resource: str) -> re.Pattern[str]:
    # IAM's * and ? match any character, a newline too (an id with %0A is still under the user's route).
    return re.compile(re.escape(resource).replace(r"\*", ".*").replace(r"\?", "."), re.DOTALL)


def policy_allows(policy: Any, method_arn: str) -> bool:
    """IAM evaluation for execute-api:Invoke: an explicit Deny wins, else some Allow must match."""
    if not isinstance(policy, dict):
        return False
    stmts = policy.get("Statement") or []
    if isinstance(stmts, dict):
        stmts = [stmts]
    allowed = False
    for st in stmts:
        if not isinstance(st, dict):
            continue
        actions = st.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if not any(_pattern(str(a).lower()).fullmatch("execute-api:invoke") for a in actions):
            continue
        resources = st.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        if not any(_pattern(str(r)).fullmatch(method_arn) for r in resources):
            continue
        effect = str(st.get("Effect", "")).lower()
        if effect == "deny":
            return False
        if effect == "allow":
            allowed = True
    return allowed


@dataclass(frozen=True)
class _Matched:
    """A request matched to its route: the path parameters and the path's parts after the stage (as sent)."""

    route: ApiRoute
    method: str
    params: dict[str, str]
    parts: list[str]
    # API Gateway routes `/docs/` to the /docs resource but passes the path as sent, slash included.
    trailing_slash: bool = False

    @property
    def path(self) -> str:
        path = "/" + "/".join(unquote(p) for p in self.parts)
        return path + "/" if self.trailing_slash and self.parts else path
