"""The benchmark server as an ASGI application (Starlette), served by uvicorn (``serve.py``).

Each request is authenticated, its body read up to the size limit (413 as soon as the declared or
received size passes it, before parsing), and its work run in a worker thread: evaluations through a
limiter of ``eval_workers`` threads (they are CPU-bound), everything else in the default pool. One
request at a time per session may submit or finish (a second one meanwhile gets 409), so a session's
interactions are evaluated in order; the database re-checks the order inside the commit. Every
error is a JSON body ``{"error", "message"}``; an unexpected failure is logged here and answered
503, never with a traceback (davisinteractive's client aborts on 500).
"""
from __future__ import annotations

import contextlib
import logging

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.routing import Route

from . import protocol as p
from .board import BoardCache
from .page import CSP, render
from .service import BenchmarkService

log = logging.getLogger("ivosw_bench.server")
_HTTP_NAMES = {404: "NotFound", 405: "MethodNotAllowed", 413: "PayloadTooLarge"}


def error_response(exc: p.ApiError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 once it is (or is declared) larger than ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isascii() or not declared.isdigit():
            raise p.bad_value("malformed Content-Length header")
        if int(declared) > limit:
            raise p.too_large(f"request body of {int(declared)} bytes is over the limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise p.too_large(f"request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class SessionGuard:
    """At most one submitting request per session at a time (the event loop runs one coroutine at a
    time, so the check and the mark are atomic)."""

    def __init__(self):
        self.busy: set[str] = set()

    @contextlib.contextmanager
    def exclusive(self, key: str):
        if key in self.busy:
            raise p.conflict("another request of this session is being evaluated; submit one interaction at a time")
        self.busy.add(key)
        try:
            yield
        finally:
            self.busy.discard(key)


def create_app(service: BenchmarkService, eval_workers: int = 2, board: BoardCache | None = None) -> Starlette:
    """The ASGI application over ``service``."""
    limiter = anyio.CapacityLimiter(max(1, int(eval_workers)))
    guard = SessionGuard()
    board = board or BoardCache(service.db)

    async def run(fn, *args, heavy: bool = False):
        return await anyio.to_thread.run_sync(fn, *args, limiter=limiter if heavy else None)

    async def authorized(request: Request, create: bool = False):
        def work():
            user = service.user(request.headers)
            return user, service.session(request.headers, user, create)
        return await run(work)

    async def health(request: Request):
        return JSONResponse(service.health())

    async def info(request: Request):
        user = await run(service.user, request.headers)
        return JSONResponse(service.info(user))

    async def samples(request: Request):
        _, sess = await authorized(request, create=True)
        return JSONResponse(service.samples(sess))

    async def scribble(request: Request):
        await authorized(request)
        params = request.path_params
        return JSONResponse(await run(service.scribble, params["sequence"], params["scribble_idx"]))

    async def interaction(request: Request):
        user, sess = await authorized(request)
        body = await read_body(request, service.limits.max_body_bytes)
        with guard.exclusive(sess.key):
            return JSONResponse(await run(service.interaction, user, sess, body, heavy=True))

    async def report(request: Request):
        _, sess = await authorized(request)
        return JSONResponse(await run(service.report, sess))

    async def finish(request: Request):
        _, sess = await authorized(request)
        await read_body(request, service.limits.max_body_bytes)
        with guard.exclusive(sess.key):
            return JSONResponse(await run(service.finish, sess, heavy=True))

    async def board_json(request: Request):
        return JSONResponse(await run(board.get, heavy=True))

    async def board_html(request: Request):
        page = render(await run(board.get, heavy=True))
        return HTMLResponse(page, headers={"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"})

    async def index(request: Request):
        return RedirectResponse(p.LEADERBOARD_HTML.lstrip("/"))

    routes = [
        Route("/", index, methods=["GET"]),
        Route(p.HEALTHCHECK, health, methods=["GET"]),
        Route(p.INFO, info, methods=["GET"]),
        Route(p.SAMPLES, samples, methods=["GET"]),
        Route(p.SCRIBBLE, scribble, methods=["GET"]),
        Route(p.INTERACTION, interaction, methods=["POST"]),
        Route(p.REPORT, report, methods=["GET"]),
        Route(p.FINISH, finish, methods=["POST"]),
        Route(p.LEADERBOARD_JSON, board_json, methods=["GET"]),
        Route(p.LEADERBOARD_HTML, board_html, methods=["GET"]),
    ]
    handlers = {p.ApiError: _api_error, HTTPException: _http_error, Exception: _internal_error}
    return Starlette(debug=False, routes=routes, exception_handlers=handlers)


async def _api_error(request: Request, exc: p.ApiError):
    return error_response(exc)


async def _http_error(request: Request, exc: HTTPException):
    name = _HTTP_NAMES.get(exc.status_code, "HTTPError")
    return JSONResponse({"error": name, "message": [str(exc.detail)]}, status_code=exc.status_code)


async def _internal_error(request: Request, exc: Exception):
    log.error("internal error on %s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    return JSONResponse({"error": "ServiceUnavailable", "message": ["internal error; see the server's log"]},
                        status_code=503)
