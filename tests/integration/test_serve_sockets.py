"""The API processes' listening sockets (``ketnoi serve --workers N``): one per process on a shared port, with
Nagle's algorithm off on every connection they accept. Real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import pickle
import socket
from collections.abc import Awaitable, Callable

import pytest

from ketnoi.serve import ReusePortListener, check_port_free
from tests.support.live_server import free_port

pytestmark = pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="SO_REUSEPORT is Linux/BSD only")


def test_each_process_listens_on_its_own_socket_and_connections_reach_both_without_nagle() -> None:
    port = free_port()
    listener = ReusePortListener("127.0.0.1", port, 64)
    # as each API process receives it from the supervisor: unpickled there, it binds and listens
    sockets = [pickle.loads(pickle.dumps(listener)) for _ in range(2)]
    accepted = [0, 0]
    nodelay: list[int] = []

    async def main() -> None:
        def on_connection(index: int) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
            async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                accepted[index] += 1
                nodelay.append(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                writer.close()
            return handle

        servers = [await asyncio.start_server(on_connection(i), sock=sock) for i, sock in enumerate(sockets)]
        for _ in range(64):  # the kernel spreads connections by their address: 64 all on one side is 2**-63
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            await reader.read()
            writer.close()
        for server in servers:
            server.close()
            await server.wait_closed()

    try:
        asyncio.run(main())
    finally:
        for sock in sockets:
            sock.close()
    assert sum(accepted) == 64 and min(accepted) > 0, accepted
    # TCP_NODELAY on every accepted connection: asyncio sets it only on sockets that say they are TCP
    assert len(nodelay) == 64 and all(nodelay), nodelay


def test_a_port_already_taken_is_refused_before_any_process_starts() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        with pytest.raises(OSError):
            check_port_free("127.0.0.1", taken.getsockname()[1])


def test_a_port_another_server_listens_on_with_reuse_port_is_refused_too() -> None:
    """Another ``ketnoi serve --workers N`` already on the port: joining its group would split its traffic."""
    port = free_port()
    other = pickle.loads(pickle.dumps(ReusePortListener("127.0.0.1", port, 8)))
    try:
        with pytest.raises(OSError):
            check_port_free("127.0.0.1", port)
    finally:
        other.close()
    check_port_free("127.0.0.1", port)  # free again once it has gone
