"""A broken server for the suite's tests: a proxy that swaps every pair of replies.

``ReplySwappingProxy`` listens on 127.0.0.1 and forwards each connection to a real server.
Client to server, bytes pass unchanged. Server to client, the first frame (the handshake
answer) passes; after it, frames are taken two by two and the second of each pair is sent
before the first: a server that answers out of order. A lone frame waits for its partner,
which comes soon enough: a client with one request in flight pings while it waits, and the
ping's reply is the partner (so it overtakes the reply the client waits for). What is left
when the server closes goes as it is (a four-letter word's answer, which is not framed).

Threads, two per connection; ``close`` shuts every socket and joins them (bounded).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Self

BUFFER_BYTES = 65536
JOIN_TIMEOUT_S = 5.0
LENGTH_BYTES = 4


class ReplySwappingProxy:
    """Forward 127.0.0.1:<port> to ``target``, swapping each pair of server frames."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.swapped = 0  # pairs sent in swapped order, over all connections
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False
        self._accept_thread = threading.Thread(target=self._accept, name="swap-accept", daemon=True)
        self._accept_thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._closed:
                    client.close()
                    upstream.close()
                    return
                self._sockets += [client, upstream]
                for target, args in (
                    (self._forward, (client, upstream)),
                    (self._swap, (upstream, client)),
                ):
                    thread = threading.Thread(target=target, args=args, daemon=True)
                    self._threads.append(thread)
                    thread.start()

    @staticmethod
    def _forward(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(BUFFER_BYTES):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)

    def _swap(self, source: socket.socket, sink: socket.socket) -> None:
        buffered = b""
        handshake_done = False
        held: bytes | None = None
        try:
            while data := source.recv(BUFFER_BYTES):
                buffered += data
                while len(buffered) >= LENGTH_BYTES:
                    size = LENGTH_BYTES + int.from_bytes(buffered[:LENGTH_BYTES], "big")
                    if len(buffered) < size:
                        break
                    frame, buffered = buffered[:size], buffered[size:]
                    if not handshake_done:
                        handshake_done = True
                        sink.sendall(frame)
                    elif held is None:
                        held = frame
                    else:
                        sink.sendall(frame + held)
                        held = None
                        with self._lock:
                            self.swapped += 1
            sink.sendall((held or b"") + buffered)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            sockets = list(self._sockets)
            threads = list(self._threads)
        # shutdown wakes the thread blocked in accept(); close alone does not on Linux.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._accept_thread.join(JOIN_TIMEOUT_S)
        for thread in threads:
            thread.join(JOIN_TIMEOUT_S)
