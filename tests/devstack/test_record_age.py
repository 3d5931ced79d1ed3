"""MaximumRecordAgeInSeconds: the stream poller sends records older than that to the on-failure destination."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

from devstack.events.pollers import Wiring
from devstack.events.streams import StreamPoller, _Shard, record_age
from devstack.template import FunctionModel, StreamEventSource, TableModel


def _record(seconds_ago: float, seq: str) -> dict[str, Any]:
    created = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds_ago)
    return {"eventID": seq, "dynamodb": {"SequenceNumber": seq, "ApproximateCreationDateTime": created}}


def test_record_age_reads_the_creation_time():
    now = time.time()
    assert 119 < record_age(_record(120, "1"), now) < 130
    assert record_age({"dynamodb": {}}, now) == 0.0


def test_records_older_than_the_maximum_age_are_dropped_to_the_destination(tmp_path):
    source = StreamEventSource(name="Stream", table="T", stream_arn="arn:stream", maximum_record_age=60)
    fn = FunctionModel(
        logical_id="Publisher",
        name="p",
        arn="arn:fn",
        code_uri=tmp_path,
        handler="h.handler",
        runtime="python3.13",
        timeout=3,
        memory=128,
        env={},
        layers=[],
    )
    table = TableModel("T", "t", "arn:table", [], [], "PAY_PER_REQUEST", "NEW_AND_OLD_IMAGES", None, [], [], None)
    invoked: list[Any] = []
    notes: list[str] = []
    wiring = Wiring(
        endpoint="http://127.0.0.1:9",
        invoke=lambda lid, event: invoked.append(event),  # type: ignore[arg-type,return-value]
        record=lambda f, t, ms, outcome, corr: notes.append(outcome),
        stop=threading.Event(),
    )
    poller = StreamPoller(fn, source, table, wiring)
    shard = _Shard("shard-1", None, pending=[_record(3600, "1"), _record(90, "2"), _record(5, "3")])
    poller._expire(shard)
    assert [r["eventID"] for r in shard.pending] == ["3"]
    assert notes == ["dropped 2 records older than 60 s"]
    assert invoked == []
