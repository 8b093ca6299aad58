"""Bound beyond loopback, every request and the WebSocket need the token: a real uvicorn server
on the app (a Hub streaming from no board: the auth path needs none)."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request

import pytest
import uvicorn
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from gaitloop.web.app import create_app
from gaitloop.web.hub import Hub
from tests.web.test_browser import free_port

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def server(tmp_path):
    hub = Hub([], tmp_path)
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(hub, token="s3cret"), host="127.0.0.1", port=port,
                                        log_level="warning", ws="websockets-sansio"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    end = time.monotonic() + 20
    while not srv.started and time.monotonic() < end:
        time.sleep(0.05)
    assert srv.started
    yield f"127.0.0.1:{port}"
    srv.should_exit = True
    th.join(10)


def status(url: str, headers: dict | None = None) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as r:
            return r.status, dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers)


def test_token_required_on_pages_api_and_websocket(server):
    for path in ("/", "/sessions", "/api/sessions", "/api/status", "/static/live.js"):
        assert status(f"http://{server}{path}")[0] == 401, path
        assert status(f"http://{server}{path}?token=wrong")[0] == 401, path
    code, headers = status(f"http://{server}/?token=s3cret")
    assert code == 200 and "gaitloop_token=s3cret" in headers.get("set-cookie", "")
    assert status(f"http://{server}/api/status", {"Cookie": "gaitloop_token=s3cret"})[0] == 200
    with pytest.raises(InvalidStatus) as err:  # closed before the handshake: HTTP 403
        connect(f"ws://{server}/ws", open_timeout=5)
    assert err.value.response.status_code == 403
    with connect(f"ws://{server}/ws", additional_headers={"Cookie": "gaitloop_token=s3cret"}, open_timeout=5) as ws:
        import json

        assert json.loads(ws.recv(timeout=5))["type"] == "frame"
