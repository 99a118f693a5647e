"""The guarded HTTP listener on real sockets: every request head on a connection has its deadline, not only
the first one, while well-behaved keep-alive clients (bodies in pieces, pipelined and chunked requests) are
served."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import BinaryIO

import pytest
from aiohttp import web

from watchkeeper.core.listener import GuardedSite, ListenerLimits, runner_options

DEADLINE_S = 0.6


@pytest.fixture
def port() -> Iterator[int]:
    """An aiohttp app that echoes the body length, behind the guard, on its own event loop."""

    async def echo(request: web.Request) -> web.Response:
        return web.Response(text=str(len(await request.read())))

    ready: list[int] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/echo", echo)
        limits = ListenerLimits(max_connections=16, header_read_timeout_s=DEADLINE_S, idle_timeout_s=30)
        runner = web.AppRunner(app, **runner_options(limits))
        await runner.setup()
        site = GuardedSite(runner, "127.0.0.1", 0, limits)
        ready.append(await site.start())
        await stop.wait()
        await site.stop()
        await runner.cleanup()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not ready and time.monotonic() < deadline:
        time.sleep(0.01)
    yield ready[0]
    loop.call_soon_threadsafe(stop.set)
    thread.join(10)


def request(body: bytes) -> bytes:
    return b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def read_response(reader: BinaryIO) -> bytes:
    """The body of the next response (bytes of a following one stay in the reader's buffer)."""
    length = 0
    while (line := reader.readline()) not in (b"\r\n", b""):
        if line.lower().startswith(b"content-length"):
            length = int(line.split(b":")[1])
    if not line:
        raise ConnectionError("closed")
    return reader.read(length)


def closed_within(s: socket.socket, seconds: float) -> bool:
    s.settimeout(seconds)
    try:
        return s.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


def test_a_slow_second_request_head_is_cut_off(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as s, s.makefile("rb") as r:
        s.sendall(request(b"hello"))
        assert read_response(r) == b"5"
        time.sleep(DEADLINE_S * 1.5)  # idle between requests is the keep-alive timeout's, not the head's
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # ...and the rest never comes
        assert closed_within(s, DEADLINE_S * 5)


def test_keep_alive_clients_are_served(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as s, s.makefile("rb") as r:
        whole = request(b"x" * 50_000)
        for start in range(0, len(whole), 7_000):  # the body in pieces, slower than the head deadline
            s.sendall(whole[start : start + 7_000])
            time.sleep(DEADLINE_S / 4)
        assert read_response(r) == b"50000"
        s.sendall(request(b"ab") + request(b"abc"))  # pipelined
        assert read_response(r) == b"2" and read_response(r) == b"3"
        s.sendall(
            b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"4\r\nwiki\r\n5\r\npedia\r\n0\r\n\r\n"
        )
        assert read_response(r) == b"9"
        time.sleep(DEADLINE_S * 1.5)
        s.sendall(request(b"still here"))
        assert read_response(r) == b"10"
