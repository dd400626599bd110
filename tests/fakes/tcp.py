"""A TCP relay in front of a real server, for the failure contract (tests/contract.py).

Usage::

    relay = Relay(("127.0.0.1", dovecot_port))   # listens on 127.0.0.1, port 0
    box = ImapMailbox(..., port=relay.port)       # talks to Dovecot through it
    relay.answer_with(garbage_imap)               # cut every connection; new ones get garbage
    relay.stop()                                  # cut every connection; the port is closed

The server behind stays as it is (one Dovecot serves a whole test module); only the
way to it breaks. :func:`garbage_imap` and :func:`garbage_http` speak just enough of
their protocol to get a client past its greeting and login, then answer what no
parser reads.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable

Handler = Callable[[socket.socket], None]


class Relay:
    """Relays each connection to ``upstream`` until told to answer on its own or stop."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)  # accept() wakes up to notice stop()
        self.port: int = self._listener.getsockname()[1]
        self._handler: Handler | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="relay", daemon=True)
        self._thread.start()

    def answer_with(self, handler: Handler) -> None:
        """From now on every connection is ``handler``'s, not the server's."""
        with self._lock:
            self._handler = handler
        self.cut()

    def cut(self) -> None:
        """Close every open connection (as a server restart or an idle timeout does)."""
        with self._lock:
            conns, self._open = self._open, set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def stop(self) -> None:
        """Close the listening port and every connection: nothing answers there any more."""
        self._stopped.set()
        self._thread.join(5)
        self._listener.close()
        self.cut()

    # -- inside ----------------------------------------------------------------------
    def _track(self, conn: socket.socket) -> bool:
        with self._lock:
            if self._stopped.is_set():
                conn.close()
                return False
            self._open.add(conn)
            return True

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            if not self._track(conn):
                return
            with self._lock:
                handler = self._handler
            if handler is not None:
                threading.Thread(target=self._serve, args=(handler, conn), daemon=True).start()
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                conn.close()
                continue
            upstream.settimeout(None)
            if not self._track(upstream):
                conn.close()
                return
            for src, dst in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=_pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _serve(handler: Handler, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            handler(conn)


def _pump(src: socket.socket, dst: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := src.recv(65536):
            dst.sendall(data)
    for sock in (src, dst):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _lines(conn: socket.socket) -> Callable[[], bytes | None]:
    """A reader of CRLF-ended lines from ``conn`` (None once it closes)."""
    buffer = b""

    def line() -> bytes | None:
        nonlocal buffer
        while b"\r\n" not in buffer:
            chunk = conn.recv(4096)
            if not chunk:
                return None
            buffer += chunk
        head, buffer = buffer.split(b"\r\n", 1)
        return head

    return line


def garbage_imap(conn: socket.socket) -> None:
    """An IMAP server that greets, takes any login, and then answers every command with an
    untagged response that ends inside a quoted string (no parser reads it)."""
    read = _lines(conn)
    conn.sendall(b"* OK ready\r\n")
    while (line := read()) is not None:
        tag, _, rest = line.partition(b" ")
        command = rest.split(b" ", 1)[0].upper()
        if command == b"CAPABILITY":
            conn.sendall(b"* CAPABILITY IMAP4rev1 LIST-STATUS SPECIAL-USE UIDPLUS\r\n"
                         + tag + b" OK done\r\n")
        elif command in {b"LOGIN", b"AUTHENTICATE"}:
            conn.sendall(tag + b" OK logged in\r\n")
        elif command == b"LOGOUT":
            conn.sendall(b"* BYE\r\n" + tag + b" OK bye\r\n")
            return
        else:
            conn.sendall(b'* LIST (\\HasNoChildren) "/" "INBOX\r\n' + tag + b" OK done\r\n")


GARBAGE_XML = (b'<?xml version="1.0" encoding="utf-8"?>\n<d:multistatus xmlns:d="DAV:">'
               b"<d:response><d:href>/alex/</d:href><d:propstat><d:prop>&nbsp;<html>"
               b"<body>Sign in to the Wi-Fi</d:multistatus>")


def garbage_http(body: bytes = GARBAGE_XML) -> Handler:
    """An HTTP server that answers every request ``207 Multi-Status`` with ``body`` (by
    default XML cut short: what a captive portal or a broken proxy gives a WebDAV client)."""

    def serve(conn: socket.socket) -> None:
        data = b""
        while True:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, data = data.split(b"\r\n\r\n", 1)
            length = 0
            for header in head.split(b"\r\n")[1:]:
                name, _, value = header.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip() or 0)
            while len(data) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            data = data[length:]
            conn.sendall(b"HTTP/1.1 207 Multi-Status\r\nContent-Type: application/xml; "
                         b"charset=utf-8\r\nContent-Length: " + str(len(body)).encode()
                         + b"\r\n\r\n" + body)

    return serve
