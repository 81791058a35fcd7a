"""A TCP relay between one daemon and the broker, which a test can cut and restore:
a real network partition for one daemon while the others stay connected."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading

from link.broker import free_port


class Cable:
    """127.0.0.1:port <-> the broker; `cut()` drops every connection and refuses new
    ones until `restore()`."""

    def __init__(self, broker_port: int) -> None:
        self.broker_port = broker_port
        self.port = free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self._up = threading.Event()
        self._up.set()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._listener = self._listen()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="cable")
        self._thread.start()

    def _listen(self) -> socket.socket:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(8)
        s.settimeout(0.05)
        return s

    def _serve(self) -> None:
        sel = selectors.DefaultSelector()
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, OSError):
                client = None
            if client is not None:
                if not self._up.is_set():
                    client.close()  # the cable is cut: refused
                else:
                    upstream = socket.create_connection(("127.0.0.1", self.broker_port))
                    with self._lock:
                        self._pairs.append((client, upstream))
                    for a, b in ((client, upstream), (upstream, client)):
                        a.setblocking(False)
                        sel.register(a, selectors.EVENT_READ, b)
            for key, _ in sel.select(0.0 if client else 0.01):
                src, dst = key.fileobj, key.data
                assert isinstance(src, socket.socket)
                try:
                    data = src.recv(65536)
                    if data:
                        dst.setblocking(True)
                        dst.sendall(data)
                        dst.setblocking(False)
                        continue
                except OSError:
                    pass
                self._drop(sel, src, dst)

    def _drop(self, sel: selectors.BaseSelector, a: socket.socket, b: socket.socket) -> None:
        for s in (a, b):
            with contextlib.suppress(KeyError, ValueError):
                sel.unregister(s)
            s.close()
        with self._lock:
            self._pairs = [p for p in self._pairs if a not in p]

    def cut(self) -> None:
        """Drop the daemon's connections and refuse new ones."""
        self._up.clear()
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for a, b in pairs:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def restore(self) -> None:
        """Let the daemon connect again."""
        self._up.set()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()
        self.cut()
