"""``--ui web``: the study page on 127.0.0.1, served by the standard library's threading HTTP server.

Routes (JSON bodies; errors are ``{"error": "..."}`` with a 4xx status):

    GET  /                              the page (HTML; CSS and JS under /static/)
    GET  /api/state                     status (waiting | choosing | busy | done | stopped) + round
    GET  /img/<round_id>/thumb/<i>.jpg  overlay thumbnail of frame i (server-side, Pillow JPEG)
    GET  /img/<round_id>/full/<i>.jpg   larger overlay preview of frame i
    POST /api/ready   {round_id}            the page has loaded its thumbnails: the clock starts
    POST /api/pause   {round_id, paused}    stop / restart the clock
    POST /api/choose  {round_id, frame}     the choice; 400 bad frame, 409 stale round or paused

Only loopback clients are served, and only with a ``Host`` of ``127.0.0.1:<port>`` or
``localhost:<port>`` (a DNS-rebinding page cannot reach it); POSTs must be JSON and, when the
browser sends an ``Origin``, come from this server's own origin.
"""
from __future__ import annotations

import json
import re
import secrets
import threading
import time
import webbrowser
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .page import CSS, HTML, JS
from .render import overlay_jpeg
from ..errors import StudyAborted, StudyError
from .ui import Choice, ChoiceRequest, StudyUI

LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}
_IMG = re.compile(r"^/img/([0-9a-f]{1,64})/(thumb|full)/(\d{1,6})\.jpg$")
MAX_BODY = 4096


class HTTPError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class _Round:
    id: str
    req: ChoiceRequest
    published: float
    ready_at: float | None = None
    paused_since: float | None = None
    paused_total: float = 0.0
    choice: Choice | None = None
    cache: dict = field(default_factory=dict)

    def paused_seconds(self, now: float) -> float:
        return self.paused_total + (now - self.paused_since if self.paused_since is not None else 0.0)


def _has_gui_browser() -> bool:
    """Open a browser only where a graphical one can start: on a headless Linux box
    ``webbrowser`` would fall back to a console browser (lynx, w3m) and take over the terminal."""
    import os
    import sys

    return (sys.platform in ("darwin", "win32") or bool(os.environ.get("BROWSER"))
            or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class WebUI(StudyUI):
    """The web study UI. ``start()`` binds 127.0.0.1:``port`` (0 = a free port) and sets ``url``."""

    name = "web"

    def __init__(self, port: int = 0, open_browser: bool = False, thumb_width: int = 192,
                 preview_width: int = 854, preview_height: int = 480, host: str = "127.0.0.1"):
        if host not in ("127.0.0.1", "localhost"):
            raise StudyError(f"the study page is served on 127.0.0.1 only, not {host!r}")
        if not 0 <= int(port) <= 65535:
            raise StudyError(f"--port must be in 0..65535, not {port}")
        self.port, self.open_browser = int(port), open_browser
        self.thumb_width, self.preview_size = thumb_width, (preview_width, preview_height)
        self.url: str | None = None
        self._cond = threading.Condition()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.status = "waiting"
        self.message = "The backend computes the first segmentation."
        self.participant = ""
        self.round: _Round | None = None
        self.done_info: dict | None = None
        self.done_seen = threading.Event()
        self.closed = False
        self.refused: list[tuple[int, str]] = []  # (status, message) of refused requests, for logs/tests

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        if self._server is not None:
            return
        try:
            self._server = _Server(("127.0.0.1", self.port), _handler(self))
        except OSError as exc:
            raise StudyError(f"cannot serve the study page on 127.0.0.1:{self.port}: {exc.strerror or exc}") from exc
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self._thread = threading.Thread(target=self._server.serve_forever, name="ivosw-study-web",
                                        kwargs={"poll_interval": 0.2}, daemon=True)
        self._thread.start()
        if self.open_browser and _has_gui_browser():
            try:
                webbrowser.open(self.url)
            except Exception:  # no browser here: the URL is printed anyway
                pass

    def close(self) -> None:
        """Stop serving; a choice still awaited raises :class:`StudyAborted` (the run can resume)."""
        with self._cond:
            self.closed = True
            self._cond.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    # -- called by HumanStrategy / run_study (the session thread) ----------------------------------
    def ask(self, req: ChoiceRequest) -> Choice:
        self.start()
        with self._cond:
            if self.closed:
                raise StudyAborted("the study server was stopped; run the study again with --resume")
            rnd = _Round(id=secrets.token_hex(8), req=req, published=time.monotonic())
            self.round, self.status, self.participant = rnd, "choosing", req.participant
            self.message = ""
            self._cond.notify_all()
            while rnd.choice is None:
                if self.closed or self.status == "stopped":
                    raise StudyAborted("the study server was stopped while a choice was awaited; run the "
                                       "study again with --resume to continue where it stopped")
                self._cond.wait(0.25)  # wakes up regularly so that Ctrl-C reaches the main thread
            return rnd.choice

    def busy(self, message: str) -> None:
        with self._cond:
            self.status, self.message = "busy", message
            self._cond.notify_all()

    def set_participant(self, participant: str) -> None:
        self.participant = participant

    def finish(self, info: dict) -> None:
        with self._cond:
            self.status, self.done_info, self.round = "done", dict(info), None
            self.message = info.get("message", "")
            self._cond.notify_all()

    def stop(self, message: str) -> None:
        """Show ``message`` as the end of the study; a choice being awaited raises StudyAborted."""
        with self._cond:
            self.status, self.message, self.round = "stopped", message, None
            self._cond.notify_all()

    def wait_until_seen(self, timeout: float) -> bool:
        """Wait until a page fetched the end state (so an open tab shows the end screen)."""
        return self.done_seen.wait(timeout)

    # -- request handling (server threads) ----------------------------------------------------------
    def state(self) -> dict:
        with self._cond:
            out = {"status": self.status, "message": self.message, "participant": self.participant}
            rnd = self.round
            if self.status == "choosing" and rnd is not None:
                r, now = rnd.req, time.monotonic()
                h, w = r.frames.shape[1:3]
                tw = min(self.thumb_width, w)
                out["round"] = {
                    "id": rnd.id, "sequence": r.sequence, "scribble_idx": r.scribble_idx,
                    "sample_no": r.sample_no, "n_samples": r.n_samples, "t": r.t, "rounds": r.rounds,
                    "choice_no": r.choice_no, "n_choices": r.n_choices, "n_frames": r.n_frames,
                    "history": [int(x) for x in r.history], "annotated": [int(a) for a in r.annotated],
                    "quality": None if r.quality is None else [round(float(q), 4) for q in r.quality],
                    "thumb_size": [tw, max(1, round(h * tw / w))], "paused": rnd.paused_since is not None,
                    "ready": rnd.ready_at is not None,
                    "paused_seconds": round(rnd.paused_seconds(now), 3)}
            if self.status == "done":
                out["done"] = self.done_info
                self.done_seen.set()
            return out

    def _current(self, round_id) -> _Round:
        rnd = self.round
        if self.status != "choosing" or rnd is None:
            raise HTTPError(409, f"no choice is awaited now (status: {self.status}); reload the page")
        if not isinstance(round_id, str) or round_id != rnd.id:
            raise HTTPError(409, "stale round: that round is over (or another tab chose); reload the page")
        return rnd

    def image(self, round_id: str, kind: str, index: int) -> bytes:
        with self._cond:
            rnd = self.round
            if rnd is None or round_id != rnd.id:
                raise HTTPError(410, "stale round: these thumbnails belong to a finished round")
        r = rnd.req
        if not 0 <= index < r.n_frames:
            raise HTTPError(404, f"frame {index} out of range 0..{r.n_frames - 1}")
        key = (kind, index)
        data = rnd.cache.get(key)
        if data is None:
            if kind == "thumb":
                data = overlay_jpeg(r.frames[index], r.labels[index], self.thumb_width, quality=80)
            else:
                data = overlay_jpeg(r.frames[index], r.labels[index], *self.preview_size, quality=90)
            rnd.cache[key] = data
        return data

    def post(self, path: str, body: dict) -> dict:
        now = time.monotonic()
        with self._cond:
            if path == "/api/ready":
                rnd = self._current(body.get("round_id"))
                if rnd.ready_at is None:
                    rnd.ready_at = now
                return {"ok": True, "ready": True}
            if path == "/api/pause":
                rnd = self._current(body.get("round_id"))
                want = body.get("paused")
                if not isinstance(want, bool):
                    raise HTTPError(400, "'paused' must be true or false")
                if want and rnd.paused_since is None:
                    rnd.paused_since = now
                elif not want and rnd.paused_since is not None:
                    rnd.paused_total += now - rnd.paused_since
                    rnd.paused_since = None
                return {"ok": True, "paused": rnd.paused_since is not None,
                        "paused_seconds": round(rnd.paused_seconds(now), 3)}
            if path == "/api/choose":
                rnd = self._current(body.get("round_id"))
                frame, n = body.get("frame"), rnd.req.n_frames
                if isinstance(frame, bool) or not isinstance(frame, int):
                    raise HTTPError(400, f"'frame' must be an integer 0..{n - 1}, got {frame!r}")
                if not 0 <= frame < n:
                    raise HTTPError(400, f"frame {frame} out of range: this video has frames 0..{n - 1}")
                if rnd.paused_since is not None:
                    raise HTTPError(409, "the study is paused: resume before choosing")
                start = rnd.ready_at if rnd.ready_at is not None else rnd.published
                seconds = max(0.0, now - start - rnd.paused_total)
                rnd.choice = Choice(frame=frame, seconds=seconds, paused_seconds=rnd.paused_total,
                                    clock_start="page_ready" if rnd.ready_at is not None else "shown")
                self.status, self.message = "busy", f"frame {frame} chosen"
                self._cond.notify_all()
                return {"ok": True, "frame": frame, "seconds": seconds}
        raise HTTPError(404, f"no such endpoint: POST {path}")


_STATIC = {"/": ("text/html; charset=utf-8", HTML),
           "/index.html": ("text/html; charset=utf-8", HTML),
           "/static/study.css": ("text/css; charset=utf-8", CSS),
           "/static/study.js": ("text/javascript; charset=utf-8", JS)}
_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def _handler(ui: WebUI):
    class Handler(BaseHTTPRequestHandler):
        server_version = "ivosw-study"
        sys_version = ""

        def log_message(self, format, *args):  # quiet: the session's output is what matters
            pass

        # -- guards ---------------------------------------------------------------------------------
        def _check_origin(self) -> None:
            client = self.client_address[0]
            if client not in LOOPBACK:
                raise HTTPError(403, f"refused: remote address {client} (the study is served to this machine only)")
            host = (self.headers.get("Host") or "").strip().lower()
            allowed = {f"127.0.0.1:{ui.port}", f"localhost:{ui.port}"}
            if host not in allowed:
                raise HTTPError(403, f"refused: Host {host or '(none)'!r} is not this study server "
                                     f"(use http://127.0.0.1:{ui.port}/)")

        def _send(self, status: int, ctype: str, data: bytes, cache: str = "no-store") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", cache)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Referrer-Policy", "no-referrer")
            if ctype.startswith("text/html"):
                self.send_header("Content-Security-Policy", _CSP)
                self.send_header("X-Frame-Options", "DENY")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _json(self, status: int, obj: dict) -> None:
            self._send(status, "application/json", json.dumps(obj).encode())

        def _fail(self, exc: HTTPError) -> None:
            ui.refused.append((exc.status, exc.message))
            self._json(exc.status, {"error": exc.message, "status": exc.status})

        # -- methods --------------------------------------------------------------------------------
        def do_GET(self):
            try:
                self._check_origin()
                path = self.path.split("?", 1)[0]
                if path in _STATIC:
                    ctype, text = _STATIC[path]
                    return self._send(200, ctype, text.encode())
                if path == "/api/state":
                    return self._json(200, ui.state())
                m = _IMG.match(path)
                if m:
                    data = ui.image(m.group(1), m.group(2), int(m.group(3)))
                    return self._send(200, "image/jpeg", data, cache="private, max-age=3600")
                if path == "/favicon.ico":
                    return self._send(204, "image/x-icon", b"")
                raise HTTPError(404, f"no such page: {path}")
            except HTTPError as exc:
                self._fail(exc)
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_HEAD = do_GET

        def do_POST(self):
            try:
                self._check_origin()
                origin = self.headers.get("Origin")
                if origin is not None and origin.lower() not in (f"http://127.0.0.1:{ui.port}",
                                                                 f"http://localhost:{ui.port}"):
                    raise HTTPError(403, f"refused: cross-origin request from {origin}")
                ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
                if ctype != "application/json":
                    raise HTTPError(415, "send JSON (Content-Type: application/json)")
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    raise HTTPError(400, "bad Content-Length") from None
                if not 0 < length <= MAX_BODY:
                    raise HTTPError(413 if length > MAX_BODY else 400, "empty or oversized request body")
                try:
                    body = json.loads(self.rfile.read(length))
                except (ValueError, UnicodeDecodeError):
                    raise HTTPError(400, "the request body is not valid JSON") from None
                except RecursionError:  # deeply nested arrays/objects
                    raise HTTPError(400, "the request body is nested too deeply") from None
                if not isinstance(body, dict):
                    raise HTTPError(400, "the request body must be a JSON object")
                self._json(200, ui.post(self.path.split("?", 1)[0], body))
            except HTTPError as exc:
                self._fail(exc)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def _not_allowed(self):
            try:
                self._check_origin()
                raise HTTPError(405, f"method {self.command} not allowed")
            except HTTPError as exc:
                self._fail(exc)

        do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed

    return Handler
