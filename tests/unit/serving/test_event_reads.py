"""A streamed answer's reads (serving.upstream.EventReads) end once: a relay that ran to the
end keeps its connection for the next request, and a later close (the response's own, when
the client has gone) neither closes that connection nor fails; one never read closes it."""

from __future__ import annotations

import asyncio

from engines.http_client import EngineClient
from serving.upstream import EventReads
from tests.unit.engines.test_http_client import fake_engine, streams_three_events


async def test_reads_to_the_end_keep_the_connection_and_a_second_close_is_a_no_op() -> None:
    async with fake_engine(streams_three_events) as (fake, base), EngineClient() as client:
        for _ in range(2):
            reads = EventReads(await client.open(base + "/a", b"{}"), 5.0, 5.0)
            events = []
            while batch := await reads.next():
                events.extend(batch)
            assert events == [b"data: 1\n\n", b"data: 2\n\n", b"data: [DONE]\n\n"]
            reads.close(keep=True)
            reads.close()  # what the response does when it ends, after the relay's own
    assert fake.connections == 1


async def test_reads_never_started_close_the_connection() -> None:
    """A client that left before the relay began: the engine must hear of it."""
    async with fake_engine(streams_three_events) as (fake, base), EngineClient() as client:
        reads = EventReads(await client.open(base + "/a", b"{}"), 5.0, 5.0)
        reads.close()
        await asyncio.wait_for(fake.closed.wait(), 2.0)
        await client.post(base + "/a", b"{}")
    assert fake.connections == 2
