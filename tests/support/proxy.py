"""A TCP proxy that can partition a client from its server, for tests of session expiry.

``PartitionProxy`` listens on 127.0.0.1 and forwards each connection to the target. While
``partitioned`` is set, bytes in both directions are dropped (new connections are accepted
but go nowhere): to the client the server has gone silent, to the server the client has. A
session expires on the server, the client times out and reconnects, and once the partition
heals it learns its session is gone, as after a real network partition.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Self

BUFFER_BYTES = 65536
JOIN_TIMEOUT_S = 5.0


class PartitionProxy:
    """Forward 127.0.0.1:<port> to ``target``; drop everything while ``partitioned``."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.partitioned = False
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False
        self._accept_thread = threading.Thread(
            target=self._accept, name="proxy-accept", daemon=True
        )
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
                for source, sink in ((client, upstream), (upstream, client)):
                    thread = threading.Thread(
                        target=self._pump, args=(source, sink), name="proxy-pump", daemon=True
                    )
                    self._threads.append(thread)
                    thread.start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(BUFFER_BYTES)
                if not data:
                    break
                if not self.partitioned:
                    sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)

    def drop_connections(self) -> None:
        """Reset every proxied connection now (both ends see the connection drop)."""
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

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
