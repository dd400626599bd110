"""The systemd notification protocol (sd_notify(3)), without a dependency.

A datagram of ``KEY=value`` lines sent to the AF_UNIX socket named by
``$NOTIFY_SOCKET``: a path, or an abstract socket written with a leading "@".
Outside systemd the variable is unset and every call is a cheap no-op.
"""

from __future__ import annotations

import logging
import os
import socket

logger = logging.getLogger(__name__)


def notify(state: str) -> bool:
    """Send ``state`` (e.g. "READY=1", "WATCHDOG=1"); True when it was delivered.

    Never raises: a missing or broken socket must not take the daemon down.
    """
    address = os.environ.get("NOTIFY_SOCKET", "")
    if address.startswith("@"):
        address = "\0" + address[1:]
    elif not address.startswith("/"):
        if address:  # e.g. "vsock:...", which only VMs use
            logger.debug("unsupported NOTIFY_SOCKET %r; not notifying", address)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode("utf-8"))
    except OSError as exc:
        logger.debug("cannot notify systemd (%s): %s", state.split("\n", 1)[0], exc)
        return False
    return True


def watchdog_interval() -> float | None:
    """Seconds systemd allows between WATCHDOG=1 pings, or None when no watchdog is set.

    ``$WATCHDOG_PID``, when present, names the process the watchdog is meant
    for; a child that inherited the variables must not ping on its parent's behalf.
    """
    try:
        pid = os.environ.get("WATCHDOG_PID")
        if pid is not None and int(pid) != os.getpid():
            return None
        usec = int(os.environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 1_000_000 if usec > 0 else None
