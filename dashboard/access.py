"""The dashboard's gate (``mousegpt.access``): on an address other than loopback, a browser
must give the access token (``$MOUSEGPT_TOKEN``, or ``mousegpt dashboard --token``) first."""

from __future__ import annotations

import os

import streamlit as st

from mousegpt.access import TOKEN_ENV, is_loopback, token_matches, token_sha256


def require_access() -> None:
    """Stop the page unless this browser may see it (see the module's docstring)."""
    host = st.get_option("server.address")
    if is_loopback(host):
        return
    token = os.environ.get(TOKEN_ENV, "")
    where = host or "every network interface"
    if not token:
        st.error(
            f"This dashboard listens on {where} and no access token is set, so it serves nothing. Set "
            f"{TOKEN_ENV} (or run `mousegpt dashboard --host HOST --token TOKEN`), or listen on 127.0.0.1."
        )
        st.stop()
    if st.session_state.get("authorised"):
        return
    entered = st.text_input("Access token", type="password", key="access-token")
    if entered and token_matches(entered, token_sha256(token)):
        st.session_state["authorised"] = True
        st.rerun()
    if entered:
        st.error("That is not the access token.")
    st.stop()
