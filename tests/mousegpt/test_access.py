"""Who may reach the servers: loopback is open, anything else needs the access token."""

import subprocess
import sys

import pytest
from fastapi import HTTPException
from starlette.requests import Request

from mousegpt.access import is_loopback, token_matches, token_sha256


@pytest.mark.parametrize(
    "host, loopback",
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("", False),
        (None, False),
        ("192.168.1.5", False),
        ("lab-server", False),
    ],
)
def test_loopback_addresses(host, loopback):
    assert is_loopback(host) is loopback


def test_a_token_is_kept_as_its_hash_and_compared_whole():
    kept = token_sha256("correct horse")
    assert kept != "correct horse" and len(kept) == 64
    assert token_matches("correct horse", kept)
    assert not token_matches("correct hors", kept) and not token_matches("", kept)


def _request(authorization: str | None) -> Request:
    headers = [(b"authorization", authorization.encode())] if authorization is not None else []
    return Request(
        {"type": "http", "method": "GET", "path": "/search", "headers": headers, "query_string": b""}
    )


def test_the_serve_api_asks_for_its_token(monkeypatch):
    import serve.app

    monkeypatch.setattr(serve.app, "_token_sha256", None)
    serve.app._authorised(_request(None))  # no token set: open (it listens on loopback)
    monkeypatch.setattr(serve.app, "_token_sha256", token_sha256("s3cret"))
    serve.app._authorised(_request("Bearer s3cret"))
    for header in (None, "Bearer wrong", "Basic s3cret", "s3cret"):
        with pytest.raises(HTTPException) as refused:
            serve.app._authorised(_request(header))
        assert refused.value.status_code == 401 and refused.value.headers == {"WWW-Authenticate": "Bearer"}


def test_the_builder_takes_the_token_from_the_environment(monkeypatch):
    from serve.app import build_app

    monkeypatch.setenv("MOUSEGPT_TOKEN", "from-env")
    app = build_app({"workspace": "ws", "model": "kinematic", "replicas": 1})
    assert app._bound_deployment.init_args[2] == token_sha256("from-env")


@pytest.mark.parametrize("command", ["serve", "dashboard"])
def test_servers_refuse_to_listen_on_the_network_without_a_token(command, tmp_path):
    env = {k: v for k, v in __import__("os").environ.items() if k != "MOUSEGPT_TOKEN"}
    result = subprocess.run(
        [sys.executable, "-m", "mousegpt.cli", command, "--host", "0.0.0.0", "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: --host 0.0.0.0: the ") and "give --token (or set MOUSEGPT_TOKEN)" in line


def test_the_local_ray_token_goes_only_to_a_head_on_this_machine(tmp_path, monkeypatch):
    from jobs.submit import auth_headers

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("local-head-token\n")
    assert auth_headers("http://127.0.0.1:8265") == {"Authorization": "Bearer local-head-token"}
    assert auth_headers("http://cluster.example.org:8265") == {}  # another machine's head never gets it
    monkeypatch.setenv("RAY_AUTH_TOKEN", "given-for-the-cluster")
    assert auth_headers("http://cluster.example.org:8265") == {
        "Authorization": "Bearer given-for-the-cluster"
    }
