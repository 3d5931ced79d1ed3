"""``python -m devstack chaos`` (``make chaos``): the soak's mix while AWS calls fail and workers die.

1. Starts a local stack and drives ``--orders`` orders (the soak's mix: paid, declined, cancelled before and
   after paying, cancels racing the charge) with ``--clients`` clients that retry as real clients do, while
   :mod:`loadtest.chaos` fails ``--aws-rate`` of the AWS calls (functions' and pollers'), kills ``--kill-rate``
   of the invocations mid-way and refuses ``--delivery-rate`` of the event source mappings' invocations.
2. Stops the faults and waits until nothing is in flight. Messages that ended in a DLQ meanwhile (their
   deliveries kept failing) are redriven, as an operator would once the cause is over, and counted.
3. Checks every invariant (:mod:`loadtest.invariants`) and prints the figures: requests, client retries,
   faults injected by kind, DLQ arrivals and redrives, final states, violations by order id.

Exits non-zero on any violation.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from typing import Any

from loadtest import invariants, soak
from loadtest.chaos import ChaosConfig, attach

DEFAULT_ORDERS = 2000
DEFAULT_AWS_RATE = 0.05
DEFAULT_KILL_RATE = 0.01
DEFAULT_DELIVERY_RATE = 0.01
DEFAULT_SEED = 20261126
# Functions whose workers may die: the API's, the inboxes' and the publishers' (not the authorizer, whose
# answer API Gateway caches, nor the docs).
KILLED = (
    "CreateOrderFunction",
    "CancelOrderFunction",
    "GetOrderFunction",
    "PayOrderFunction",
    "GetPaymentFunction",
    "OrdersInboxFunction",
    "PaymentsInboxFunction",
    "OrdersPublisherFunction",
    "PaymentsPublisherFunction",
)
STACK_OVERRIDES = {
    "DeliveryDelaySeconds": "1",
    # A message whose consumer died comes back after 10 s (the template's least; 60 s deployed): five
    # receives outlast the 30 s lease of a payment claim whose charger died.
    "InboxVisibilityTimeoutSeconds": "10",
    # The soak's: a charge takes a while, so cancels race it.
    "CardSandboxLatencyMs": "150",
}


def _dead_letter_queues(stack: Any) -> list[str]:
    """Queues no function polls: DLQs and on-failure destinations, where a message is one that failed."""
    polled = {sq.queue for fn in stack.model.functions.values() for sq in fn.sqs_events}
    return sorted(set(stack.model.queues) - polled)


def _redrivable(stack: Any) -> set[str]:
    return {q.redrive.dead_letter_queue for q in stack.model.queues.values() if q.redrive is not None}


def _depth(stack: Any, logical_id: str) -> int:
    attrs = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.physical_id(logical_id),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(v) for v in attrs.values())


def _faults_by_kind(injected: Counter[str]) -> list[str]:
    """``aws dynamodb PutItem 400 ThrottlingException [function]`` -> grouped lines, most frequent first."""
    by_kind: Counter[str] = Counter()
    for key, n in injected.items():
        parts = key.split()
        if parts[0] == "aws":
            by_kind[f"aws {parts[1]} {' '.join(parts[3:])}"] += n
        else:
            by_kind[key] += n
    return [f"  {n:6d}  {k}" for k, n in by_kind.most_common()]


def settle(stack: Any, timeout: float) -> str:
    """Wait until nothing is in flight; the reason when it did not happen."""
    try:
        stack.inspect.wait_idle(timeout)
    except TimeoutError as exc:
        return str(exc)
    return ""


def _announce(args: argparse.Namespace, config: ChaosConfig) -> None:
    print(
        f"chaos: {args.orders} orders, {args.clients} clients; faults: {config.aws_rate:.0%} of AWS calls "
        f"(functions and pollers), {config.kill_rate:.0%} of invocations killed, {config.delivery_rate:.0%} "
        f"of deliveries refused; seed {config.seed}",
        flush=True,
    )


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in counts.items() if v) or "none"


def run(args: argparse.Namespace) -> int:
    from devstack.stack import LocalStack, StackOptions

    config = ChaosConfig(
        seed=args.seed,
        aws_rate=args.aws_rate,
        kill_rate=args.kill_rate,
        delivery_rate=args.delivery_rate,
        kill_functions=KILLED,
    )
    started = time.monotonic()
    with LocalStack(
        args.template, StackOptions(port=0, parameter_overrides=STACK_OVERRIDES, echo=lambda line: None, watch=False)
    ) as stack:
        _announce(args, config)
        chaos = attach(stack, config)
        chaos.start()
        try:
            run = soak.Run(stack.base_url, stack.token, args.orders, args.clients, args.timeout)
            orders, stats, elapsed = soak.drive(run, settle_each=False)
        finally:
            chaos.stop()
        print("faults stopped; waiting until nothing is in flight", flush=True)
        busy = settle(stack, args.timeout)
        dlqs = _dead_letter_queues(stack)
        arrivals = {dlq: _depth(stack, dlq) for dlq in dlqs}
        redriven = {dlq: stack.redrive(dlq) for dlq, n in arrivals.items() if n and dlq in _redrivable(stack)}
        if redriven:
            print(f"redriven after the faults stopped: {redriven}", flush=True)
            busy = settle(stack, args.timeout)
        left = {dlq: n for dlq in dlqs if (n := _depth(stack, dlq))}
        violations, figures = invariants.check(stack, orders)
        if busy:
            violations.append(invariants.Violation("-", f"never quiet: {busy}"))
        violations += [invariants.Violation("-", f"{n} messages left in {dlq}") for dlq, n in left.items()]
        invocations = Counter(i.function for i in stack.invocations)
        failed_invocations = sum(1 for i in stack.invocations if "error" in i.outcome or "failed" in i.outcome)

    soak.print_traffic("chaos", orders, stats, elapsed)
    injected = chaos.counts()
    print(f"faults injected: {sum(injected.values())}")
    print("\n".join(_faults_by_kind(injected)))
    print(f"invocations: {sum(invocations.values())} ({failed_invocations} failed or partly failed)")
    print(f"DLQ arrivals: {_counts(arrivals)}; redriven: {_counts(redriven)}")
    finals = figures["final states"]
    print("final states (order/payment): " + ", ".join(f"{k}: {v}" for k, v in sorted(finals.items())))
    charges = figures["charges"]
    print(
        "card processor: "
        + (", ".join(f"{k}: {v}" for k, v in sorted(charges.items())) if isinstance(charges, Counter) else charges)
    )
    print(f"violations: {len(violations)}")
    for v in violations[:50]:
        print(f"  {v}")
    print(f"duration: {time.monotonic() - started:.0f}s")
    return 1 if violations else 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("chaos", help="the soak's mix under injected faults, then every invariant checked")
    p.add_argument("--orders", type=int, default=DEFAULT_ORDERS)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--aws-rate", type=float, default=DEFAULT_AWS_RATE, help="share of AWS calls failed")
    p.add_argument("--kill-rate", type=float, default=DEFAULT_KILL_RATE, help="share of invocations killed")
    p.add_argument("--delivery-rate", type=float, default=DEFAULT_DELIVERY_RATE, help="deliveries refused")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--template", default="template.yaml")
    p.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for the stack to be quiet")
    p.set_defaults(func=run)
