"""The Starlette app of `gaitloop serve`: the live page, the sessions page, their JSON API and
the display WebSocket. Nothing here talks to a board directly: all of that is the Hub's."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from gaitloop.errors import GaitloopError
from gaitloop.web import audit
from gaitloop.web import models as MD
from gaitloop.web import sessions as S
from gaitloop.web.hub import Client, Hub

STATIC = Path(__file__).parent / "static"
COOKIE = "gaitloop_token"
log = logging.getLogger("gaitloop.serve")

#: the report folder's files a page may download, by suffix
MEDIA = {".html": "text/html", ".png": "image/png", ".csv": "text/csv"}
#: how long a start/stop of a recording may take in the stream process before the page says so
RECORD_REQUEST_S = 20.0
#: a model push: the transfer (~18 KB in 512-byte chunks), END's self-test and the trial wait
MODEL_REQUEST_S = 180.0
#: HTTP status of a model push's outcome
MODEL_STATUS = {"active": 200, "refused": 400, "failed": 502, "rolled back": 502}


def _authorized(token: str | None, query: Any, cookies: dict[str, str]) -> bool:
    if token is None:
        return True
    given = query.get("token") or cookies.get(COOKIE) or ""
    return hmac.compare_digest(given.encode(), token.encode())


def _same_origin_json(request: Request) -> bool:
    """Another site's page cannot send a board write: a JSON body needs a CORS preflight, which
    this server never grants, and a browser's Origin must be this server's."""
    origin = request.headers.get("origin")
    return request.headers.get("content-type", "").split(";")[0] == "application/json" and (
        origin is None or origin.split("://", 1)[-1] == request.headers.get("host"))


async def _write_request(request: Request) -> dict[str, Any] | Response:
    """The JSON object of a board-write request from this server's own page, or the error
    response to send instead (403 for another origin or content type, 400 for a bad body)."""
    if not _same_origin_json(request):
        return JSONResponse({"error": "refused: a JSON request from this server's own page is required"}, 403)
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return JSONResponse({"error": "a JSON object is required"}, 400)
    return body


def _who(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    return {"name": str(body.get("who") or "")[:80] or None,
            "client": request.client.host if request.client else None,
            "agent": request.headers.get("user-agent", "")[:120]}


def create_app(hub: Hub, token: str | None = None) -> Starlette:
    """The app; `token` (when bound beyond loopback) is required on every request and socket:
    `?token=` once sets a cookie that the page's later requests and its WebSocket carry."""
    folder = hub.sessions_dir

    async def page(name: str, request: Request) -> Response:
        resp = FileResponse(STATIC / name, media_type="text/html")
        if token is not None and request.query_params.get("token"):
            resp.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return resp

    async def live(request: Request) -> Response:
        return await page("live.html", request)

    async def sessions_page(request: Request) -> Response:
        return await page("sessions.html", request)

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        p = STATIC / name
        if "/" in name or not p.is_file():
            return PlainTextResponse("not found", 404)
        return FileResponse(p)

    async def record(request: Request) -> Response:
        what = request.path_params["what"]
        if what not in ("start", "stop"):
            return PlainTextResponse("not found", 404)
        try:
            # closing a recording flushes and fsyncs it: on a busy disk that alone can take
            # seconds, and a clinician would rather wait than see "TimeoutError" for a recording
            # that was saved anyway
            result = await hub.request(what, timeout=RECORD_REQUEST_S)
        except (RuntimeError, OSError, GaitloopError, TimeoutError) as exc:
            return JSONResponse({"error": str(exc) or type(exc).__name__}, 503)
        log.info("recording %s: %s", what, result.get("file"))
        return JSONResponse(result)

    async def board_info(request: Request) -> Response:
        """What the board runs (its update INFO: calibration, model, templates, versions)."""
        try:
            info = await hub.request("board_info", {"link": int(request.path_params["link"])}, timeout=10.0)
        except (RuntimeError, TimeoutError, ValueError) as exc:
            return JSONResponse({"error": str(exc) or type(exc).__name__}, 503)
        return JSONResponse(info)

    async def push_calibration(request: Request) -> Response:
        """Write a calibration to one board. The page's dialog names the board and what is
        written; its confirmation (`confirm` = the board's name) is required, and every attempt
        is logged (audit.py) with who, when, what and the result."""
        body = await _write_request(request)
        if isinstance(body, Response):
            return body
        link = request.path_params["link"]
        who = _who(request, body)
        cal = body.get("calibration")
        what = {"action": "push calibration", "link": int(link), "board": body.get("confirm"),
                "name": body.get("name"), "calibration": cal}
        if not body.get("confirm"):
            audit.log_write(folder, who, what, "refused: not confirmed on the page")
            return JSONResponse({"error": "not confirmed: the page must confirm the board"}, 400)
        args = {"link": int(link), "calibration": cal, "name": body.get("name"), "confirm": body.get("confirm")}
        try:
            out = await hub.request("push_calibration", args, timeout=120.0)
        except (RuntimeError, TimeoutError) as exc:
            msg = str(exc) or type(exc).__name__
            audit.log_write(folder, who, what, f"failed: {msg}")
            return JSONResponse({"error": msg}, 409 if msg.startswith("not confirmed") else 502)
        what.update(port=out["port"], file=out["file"], sha256=(out.get("calibration") or {}).get("sha256"),
                    version=(out.get("calibration") or {}).get("version"))
        audit.log_write(folder, who, what, "ok", {"done": out["done"]})
        return JSONResponse(out)

    async def api_models(_request: Request) -> Response:
        """The models a page may push, each with its card (web/models.py)."""
        return JSONResponse(await asyncio.to_thread(MD.catalog, folder))

    async def push_model(request: Request) -> Response:
        """Push one model of the list to one board over its live link (the stream process's).
        `model` is an id of /api/models, `sha256` the hash its card showed, `confirm` the
        board's name (the page's dialog). Every attempt is logged with the board, the file,
        its hash and the outcome (active / failed / rolled back / refused)."""
        body = await _write_request(request)
        if isinstance(body, Response):
            return body
        link = int(request.path_params["link"])
        who = _who(request, body)
        mid = str(body.get("model") or "")
        what = {"action": "push model", "link": link, "board": body.get("confirm"), "model": mid,
                "sha256": body.get("sha256")}

        def refuse(msg: str, code: int = 400) -> Response:
            audit.log_write(folder, who, what, f"refused: {msg}")
            return JSONResponse({"outcome": "refused", "error": msg}, code)

        if not body.get("confirm"):
            return refuse("not confirmed: the page must confirm the board")
        try:
            path = MD.resolve(folder, mid)
        except FileNotFoundError:
            return refuse(f"{mid or 'no model'}: not a model this server offers (see /api/models)", 404)
        what.update(file=str(path))
        card = await asyncio.to_thread(MD.card, mid, path)
        what.update(size=card["size"], version=card.get("version"))
        if card["error"]:
            return refuse(card["error"])
        args = {"link": link, "path": str(path), "sha256": body.get("sha256"), "confirm": body.get("confirm")}
        try:
            out = await hub.request("push_model", args, timeout=MODEL_REQUEST_S)
        except (RuntimeError, TimeoutError) as exc:
            msg = str(exc) or type(exc).__name__
            audit.log_write(folder, who, what, f"failed: {msg}")
            return JSONResponse({"outcome": "failed", "error": msg}, 502)
        outcome = out["outcome"]
        what.update(port=out.get("port"), sha256=out.get("sha256") or what["sha256"])
        detail = {k: out[k] for k in ("done", "model", "before", "confirmed") if out.get(k) is not None}
        audit.log_write(folder, who, what, outcome + (f": {out['error']}" if out.get("error") else ""), detail)
        return JSONResponse(out, MODEL_STATUS.get(outcome, 502))

    async def api_status(_request: Request) -> Response:
        """Display health: frames built by the stream process, dropped on the way to this
        process (pipe_drops), received here, and per page frames sent and dropped."""
        ws_ = hub.worker_stats
        return JSONResponse({"frames": hub.frames, "error": hub.error, "stream_pid": hub.pid,
                             "built": ws_.get("frames"), "pipe_drops": ws_.get("dropped"),
                             "clients": [{"sent": c.sent, "drops": c.drops} for c in list(hub.clients)],
                             "recording": hub.recording["file"] if hub.recording else None})

    async def api_sessions(_request: Request) -> Response:
        rows = await asyncio.to_thread(S.list_sessions, folder)
        return JSONResponse({"folder": str(folder), "sessions": rows,
                             "recording": hub.recording["file"] if hub.recording else None})

    async def api_report(request: Request) -> Response:
        name = request.path_params["name"]
        if hub.recording and hub.recording["file"] == name:
            return JSONResponse({"error": "still recording: stop the recording first"}, 409)
        try:
            files = await asyncio.to_thread(S.build_report, folder, name)
        except FileNotFoundError:
            return JSONResponse({"error": f"no recording {name}"}, 404)
        except GaitloopError as exc:
            return JSONResponse({"error": str(exc)}, 422)
        return JSONResponse({"name": name, "files": files})

    async def report_file(request: Request) -> Response:
        name, file = request.path_params["name"], request.path_params["file"]
        try:
            S.session_path(folder, name)
        except FileNotFoundError:
            return PlainTextResponse("not found", 404)
        p = S.report_dir(folder, name) / file
        if "/" in file or p.suffix not in MEDIA or not p.is_file():
            return PlainTextResponse("not found", 404)
        disp = "inline" if request.query_params.get("inline") else "attachment"
        return FileResponse(p, media_type=MEDIA[p.suffix],
                            headers={"Content-Disposition": f'{disp}; filename="{name[:-10]}-{file}"'})

    async def ws(websocket: WebSocket) -> None:
        if not _authorized(token, websocket.query_params, websocket.cookies):
            await websocket.close(code=1008)
            return
        await websocket.accept()
        client = Client()
        hub.clients.add(client)
        try:
            while True:
                try:
                    text = await asyncio.wait_for(client.queue.get(), 5.0)
                except TimeoutError:
                    text = '{"type":"idle"}'  # the page learns the link is quiet, not dead
                # this page's drop count, added to the shared JSON text (an object: ends in })
                # ... and when this page's task took it from its queue (the bench's breakdown)
                await websocket.send_text(f'{text[:-1]},"drops":{client.drops},"sent":{time.time():.4f}}}')
                client.sent += 1
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            hub.clients.discard(client)

    @asynccontextmanager
    async def lifespan(_app: Starlette):  # type: ignore[no-untyped-def]
        hub.start(asyncio.get_running_loop())
        try:
            yield
        finally:
            await asyncio.to_thread(hub.stop)

    app = Starlette(routes=[
        Route("/", live),
        Route("/sessions", sessions_page),
        Route("/static/{name}", static),
        Route("/api/record/{what}", record, methods=["POST"]),
        Route("/api/status", api_status),
        Route("/api/boards/{link:int}/info", board_info),
        Route("/api/boards/{link:int}/calibration", push_calibration, methods=["POST"]),
        Route("/api/boards/{link:int}/model", push_model, methods=["POST"]),
        Route("/api/models", api_models),
        Route("/api/sessions", api_sessions),
        Route("/api/sessions/{name}/report", api_report, methods=["POST"]),
        Route("/files/{name}/{file}", report_file),
        WebSocketRoute("/ws", ws),
    ], lifespan=lifespan)

    if token is not None:
        from starlette.middleware.base import BaseHTTPMiddleware

        async def check(request: Request, call_next):  # type: ignore[no-untyped-def]
            if not _authorized(token, request.query_params, request.cookies):
                return PlainTextResponse("a token is required: open the URL printed by `gaitloop serve`", 401)
            return await call_next(request)

        app.add_middleware(BaseHTTPMiddleware, dispatch=check)
    return app
