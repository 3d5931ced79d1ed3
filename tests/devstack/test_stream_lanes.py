"""The stream poller honours ParallelizationFactor and partial batch responses as Lambda does: a shard's
records are dealt to lanes by partition key, a lane whose batch reports a failure retries from that record
while the other lanes go on, and one key's records always arrive in stream order."""

from __future__ import annotations

import threading
from typing import Any

from devstack.events.pollers import Wiring
from devstack.events.streams import StreamPoller, _Shard
from devstack.lambdas.pool import InvokeResult
from devstack.template import FunctionModel, StreamEventSource, TableModel


def _record(user: str, seq: int) -> dict[str, Any]:
    keys = {"userId": {"S": user}, "orderId": {"S": f"o{seq}"}}
    return {"eventID": f"e{seq}", "eventName": "INSERT", "dynamodb": {"Keys": keys, "SequenceNumber": f"{seq:05d}"}}


class OneRead:
    """A stream client whose shard holds ``records`` (read once) and nothing more."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:  # noqa: N803 - boto3's names
        out, self.records = self.records, []
        return {"Records": out, "NextShardIterator": ShardIterator}


def _poller(tmp_path: Any, factor: int, invoke: Any) -> StreamPoller:
    source = StreamEventSource(
        name="Stream", table="T", stream_arn="arn:stream", batch_size=10, report_batch_item_failures=True,
        parallelization_factor=factor,
    )  # fmt: skip
    fn = FunctionModel("Publisher", "p", "arn:fn", tmp_path, "h.handler", "python3.13", 3, 128, {}, [])
    keys = [{"AttributeName": "userId", "KeyType": "HASH"}, {"AttributeName": "orderId", "KeyType": "RANGE"}]
    table = TableModel("T", "t", "arn:table", keys, [], "PAY_PER_REQUEST", "NEW_AND_OLD_IMAGES", None, [], [], None)
    wiring = Wiring("http://127.0.0.1:9", invoke, lambda *args: None, threading.Event())
    return StreamPoller(fn, source, table, wiring)


def _shard(factor: int) -> _Shard:
    shard = _Shard("shard-1", "it", window=10)
    if factor > 1:
        shard.lanes = [_Shard("shard-1", None, window=10) for _ in range(factor)]
    return shard


def test_a_failing_users_lane_retries_from_its_failed_record_while_other_users_go_on(tmp_path):
    batches: list[list[str]] = []
    lock = threading.Lock()
    failing_once = {"00005"}  # bob's second record fails on its first delivery

    def invoke(lid: str, event: dict[str, Any]) -> InvokeResult:
        seqs = [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
        with lock:
            batches.append(seqs)
            failed = [s for s in seqs if s in failing_once]
            failing_once.difference_update(failed)
        return InvokeResult(True, {"batchItemFailures": [{"itemIdentifier": s} for s in failed]}, None, 1.0, "r")

    users = ["alice", "bob", "carol", "dave"]
    records = [_record(users[n % 4], n) for n in range(12)]  # bob: 1, 5, 9
    poller = _poller(tmp_path, 4, invoke)
    poller.streams = OneRead(records)
    shard = _shard(4)
    poller.shards = {"shard-1": shard}
    while poller._poll_shard(shard):
        pass
    user_of = {r["dynamodb"]["SequenceNumber"]: r["dynamodb"]["Keys"]["userId"]["S"] for r in records}
    # Each batch holds one lane's keys; bob's lane was retried from his failed record on.
    bob = [[s for s in batch if user_of[s] == "bob"] for batch in batches]
    bob = [b for b in bob if b]
    assert bob == [["00001", "00005", "00009"], ["00005", "00009"]]
    # Every record was delivered, and each user's records in stream order, never one before an earlier one.
    delivered: dict[str, list[str]] = {}
    for batch in batches:
        for s in batch:
            delivered.setdefault(user_of[s], []).append(s)
    for user, seqs in delivered.items():
        firsts = list(dict.fromkeys(seqs))
        assert firsts == sorted(firsts), user
    assert {s for seqs in delivered.values() for s in seqs} == set(user_of)
    poller.lanes_pool.shutdown()  # type: ignore[union-attr]


def test_lanes_run_their_batches_at_the_same_time(tmp_path):
    started = threading.Barrier(2, timeout=10)  # two batches of one shard must be in flight together

    def invoke(lid: str, event: dict[str, Any]) -> InvokeResult:
        started.wait()
        return InvokeResult(True, {"batchItemFailures": []}, None, 1.0, "r")

    poller = _poller(tmp_path, 2, invoke)
    records = [_record(user, n) for n, user in enumerate(["alice", "bob"] * 3)]
    shard = _shard(2)
    lanes = {id(poller._lane_of(shard.lanes, r)) for r in records}
    assert len(lanes) == 2, "alice and bob hash to one lane: pick other users"
    poller.streams = OneRead(records)
    poller.shards = {"shard-1": shard}
    assert poller._poll_shard(shard)  # a Barrier that breaks (one batch alone) raises here
    assert not any(lane.pending for lane in shard.lanes)
    poller.lanes_pool.shutdown()  # type: ignore[union-attr]


def test_factor_one_keeps_one_sequence_per_shard(tmp_path):
    batches: list[list[str]] = []

    def invoke(lid: str, event: dict[str, Any]) -> InvokeResult:
        batches.append([r["dynamodb"]["SequenceNumber"] for r in event["Records"]])
        return InvokeResult(True, {"batchItemFailures": []}, None, 1.0, "r")

    poller = _poller(tmp_path, 1, invoke)
    assert poller.lanes_pool is None
    poller.streams = OneRead([_record(u, n) for n, u in enumerate(["alice", "bob"] * 6)])
    shard = _shard(1)
    poller.shards = {"shard-1": shard}
    while poller._poll_shard(shard):
        pass
    assert batches == [[f"{n:05d}" for n in range(10)], ["00010", "00011"]]
