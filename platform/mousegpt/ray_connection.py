"""Connecting to Ray: an embedded local instance, or a running cluster."""

from __future__ import annotations

import logging
import os
import socket

from mousegpt.errors import MouseGPTError

LOOPBACK_NODE_IP = "127.0.0.2"
"""Node address of the embedded Ray. Ray replaces 127.0.0.1 with the machine's network
address ("remotely reachable"); another loopback address keeps all of a laptop's Ray
traffic on the loopback interface."""


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail at once when nothing listens at ``HOST:PORT`` (``ray.init`` would retry for minutes)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise MouseGPTError(f"--address {address!r}: expected auto, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise MouseGPTError(
            f"cannot start or reach the Ray cluster at {address} ({exc.strerror or exc})"
        ) from None


def connect(address: str | None = None) -> None:
    """An embedded local Ray when ``address`` is None; else ``auto``, ``HOST:PORT`` or ``ray://host:10001``.

    Does nothing when this process is already connected (tests share one Ray).
    """
    import ray

    if ray.is_initialized():
        return
    if address and address != "auto":
        _check_reachable(address)
    kwargs = dict(logging_level=logging.WARNING, include_dashboard=False)
    try:
        if address:
            ray.init(address=address, **kwargs)
        elif os.environ.get("RAY_ADDRESS"):  # inside a Ray job: its cluster
            ray.init(**kwargs)
        else:
            # address="local": a Ray of our own, never a cluster some earlier `ray start` left
            # on record in /tmp/ray (a stopped one would be waited for, then fail).
            ray.init(address="local", _node_ip_address=LOOPBACK_NODE_IP, **kwargs)
    except Exception as exc:  # ConnectionError, RuntimeError, ValueError... depending on the address
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise MouseGPTError(
            f"cannot start or reach {where} "
            f"({str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__})"
        ) from None
