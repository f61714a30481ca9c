"""Who may use the dashboard: anyone on this machine when it listens on loopback only; on any
other address, only those who give the access token (``$MOUSEGPT_TOKEN``, or ``mousegpt
dashboard --token``), and never without one."""

from __future__ import annotations

import hmac
import ipaddress
import os

import streamlit as st

TOKEN_ENV = "MOUSEGPT_TOKEN"


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` is reachable from this machine only. Empty (Streamlit's default, every
    interface) is not."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def require_access() -> None:
    """Stop the page unless this browser may see it (see the module's docstring)."""
    host = st.get_option("server.address")
    if is_loopback(host):
        return
    token = os.environ.get(TOKEN_ENV, "")
    where = host or "every network interface"
    if not token:
        st.error(f"This dashboard listens on {where} and no access token is set, so it serves nothing. Set "
                 f"{TOKEN_ENV} (or run `mousegpt dashboard --host HOST --token TOKEN`), or listen on 127.0.0.1.")
        st.stop()
    if st.session_state.get("authorised"):
        return
    entered = st.text_input("Access token", type="password", key="access-token")
    if entered and hmac.compare_digest(entered.encode(), token.encode()):
        st.session_state["authorised"] = True
        st.rerun()
    if entered:
        st.error("That is not the access token.")
    st.stop()
