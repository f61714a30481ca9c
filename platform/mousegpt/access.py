"""Who may reach a server of this platform (the dashboard, the Serve API): anyone on this
machine when it listens on loopback only; on any other address, only a client that gives the
access token, and such a server never starts without one.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

TOKEN_ENV = "MOUSEGPT_TOKEN"
"""Environment variable holding the access token (so that it is not on a command line)."""


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` is reachable from this machine only. Empty (every interface) is not,
    nor is a host name other than ``localhost`` (it may resolve to anything).
    """
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def token_sha256(token: str) -> str:
    """What a server keeps of its token."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(given: str, expected_sha256: str) -> bool:
    """Whether ``given`` is the token whose SHA-256 is ``expected_sha256`` (constant-time)."""
    return hmac.compare_digest(token_sha256(given), expected_sha256)
