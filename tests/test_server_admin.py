"""Server administration: user keys (shown once, stored hashed, compared in constant time), the
participants' folder, and ``serve``'s one-line refusals and safe defaults."""
from __future__ import annotations

import sqlite3

import pytest
from click.testing import CliRunner

from ivosw_bench.cli import main
from ivosw_bench.data.check import check_dataset
from ivosw_bench.data.davis_layout import open_dataset
from ivosw_bench.errors import ServerError
from ivosw_bench.server import keys


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def one_line_error(result, *needles):
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    for n in needles:
        assert str(n) in lines[0], (n, lines[0])


def test_add_user_prints_the_key_once_and_stores_only_its_hash(tmp_path):
    db = tmp_path / "bench.sqlite3"
    r = invoke("server", "add-user", "alice", "--db", db)
    assert r.exit_code == 0, r.output
    key = r.stdout.strip().splitlines()[-1]
    key_id, secret = keys.split_key(key)
    raw = db.read_bytes() + (tmp_path / "bench.sqlite3-wal").read_bytes() if (tmp_path / "bench.sqlite3-wal").exists() \
        else db.read_bytes()
    assert secret.encode() not in raw and key.encode() not in raw
    with sqlite3.connect(db) as con:
        stored = con.execute("SELECT key_id, key_hash FROM users WHERE name = 'alice'").fetchone()
        mode = con.execute("PRAGMA journal_mode").fetchone()[0]
    assert stored == (key_id, keys.secret_hash(secret)) and mode == "wal"
    one_line_error(invoke("server", "add-user", "alice", "--db", db), "already exists")
    one_line_error(invoke("server", "add-user", "../x", "--db", db), "user name")
    assert "alice" in invoke("server", "users", "--db", db).output
    one_line_error(invoke("server", "users", "--db", tmp_path / "none.db"), "no such database")
    one_line_error(invoke("server", "add-user", "bob", "--db", tmp_path), "is a directory")


def test_keys_compare_in_constant_time(monkeypatch):
    new = keys.new_key()
    calls = []
    real = keys.hmac.compare_digest
    monkeypatch.setattr(keys.hmac, "compare_digest", lambda a, b: calls.append((a, b)) or real(a, b))
    _, secret = keys.split_key(new.key)
    assert keys.matches(secret, new.key_hash)
    assert not keys.matches(secret[:-1] + ("A" if secret[-1] != "A" else "B"), new.key_hash)
    assert not keys.matches(secret, None) and not keys.matches(None, new.key_hash)
    assert len(calls) == 4  # every check, a missing user included, goes through compare_digest
    assert keys.split_key("ivb_nothex_x") is None and keys.split_key(None) is None


def test_participant_folder_has_no_ground_truth(tiny_davis, tmp_path):
    out = tmp_path / "participant"
    r = invoke("server", "client-data", "--dataset", tiny_davis, "--out", out)
    assert r.exit_code == 0, r.output
    assert not (out / "Annotations").exists() and (out / "sequences.json").is_file()
    assert check_dataset(out, annotations=False) == []
    assert any("Annotations" in p.path for p in check_dataset(out))
    ds = open_dataset(out, annotations=False)
    assert ds.sequences["two"]["num_objects"] == 2 and ds.frames("one").shape == (6, 48, 64, 3)
    (out / "sequences.json").unlink()
    with pytest.raises(Exception, match="sequences.json"):
        open_dataset(out, annotations=False)
    one_line_error(invoke("server", "client-data", "--dataset", tiny_davis, "--out", tiny_davis), "not empty")


@pytest.mark.parametrize("options, needle", [
    (["--port", "70000"], "--port"), (["--max-interactions", "17"], "--max-interactions"),
    (["--max-body-mb", "0"], "--max-body-mb"), (["--session-time", "-1"], "--session-time"),
    (["--eval-workers", "0"], "--eval-workers"),
])
def test_serve_refuses_bad_options_in_one_line(tiny_davis, tmp_path, options, needle):
    one_line_error(invoke("serve", "--dataset", tiny_davis, "--db", tmp_path / "x.db", *options), needle)


def test_serve_refuses_bad_data_and_busy_port(tiny_davis, tmp_path):
    import socket

    one_line_error(invoke("serve", "--dataset", tmp_path / "nope", "--db", tmp_path / "x.db"), "--dataset")
    (tiny_davis / "Annotations/480p/one/00003.png").unlink()
    one_line_error(invoke("serve", "--dataset", tiny_davis, "--db", tmp_path / "x.db"), "00003.png")
    one_line_error(invoke("server", "client-data", "--dataset", tmp_path, "--out", tmp_path / "p"), "--dataset")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        from ivosw_bench.server.serve import bind

        with pytest.raises(ServerError, match="cannot listen"):
            bind("127.0.0.1", port)


def test_serve_binds_loopback_by_default_and_warns_otherwise(tiny_davis, tmp_path, monkeypatch):
    from ivosw_bench.server import serve as serve_module

    assert serve_module.ServeConfig(dataset="x").host == "127.0.0.1"
    assert serve_module.is_loopback("127.0.0.1") and serve_module.is_loopback("::1")
    assert not serve_module.is_loopback("0.0.0.0") and not serve_module.is_loopback("example.org")
    bound = []

    def fake_bind(host, port):
        bound.append(host)
        raise ServerError("stopped before listening")

    monkeypatch.setattr(serve_module, "bind", fake_bind)
    r = invoke("serve", "--dataset", tiny_davis, "--db", tmp_path / "x.db", "--host", "0.0.0.0")
    assert bound == ["0.0.0.0"] and "warning:" in r.output and "beyond this machine" in r.output
    r = invoke("serve", "--dataset", tiny_davis, "--db", tmp_path / "y.db")
    assert bound[-1] == "127.0.0.1" and "warning" not in r.output


def test_app_has_no_debug_pages(tiny_davis, tmp_path):
    """An unexpected failure is a 503 JSON without a traceback; no docs or debug routes exist."""
    import asyncio

    from ivosw_bench.server.serve import ServeConfig, build_app

    app, _ = build_app(ServeConfig(dataset=str(tiny_davis), db=str(tmp_path / "x.db")))
    assert app.debug is False
    paths = {getattr(r, "path", None) for r in app.routes}
    assert not paths & {"/docs", "/redoc", "/openapi.json"}

    async def call(path):
        sent = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(), "query_string": b"",
                 "headers": [], "scheme": "http", "server": ("127.0.0.1", 1), "client": ("127.0.0.1", 2),
                 "root_path": "", "http_version": "1.1"}
        try:
            await app(scope, receive, send)
        except RuntimeError:
            pass  # Starlette re-raises after answering, for the server to log
        return sent

    def broken(self):
        raise RuntimeError("boom")

    from ivosw_bench.server import service as service_module

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(service_module.BenchmarkService, "health", broken)
        sent = asyncio.run(call("/api/healthcheck"))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert start["status"] == 503 and b"ServiceUnavailable" in body and b"Traceback" not in body and b"boom" not in body


def test_session_time_limit(tiny_davis, tmp_path, monkeypatch):
    """--session-time: past it a session takes no new interaction (409); replays and reports still work."""
    import time

    import ivosw_bench.compat as compat
    from ivosw_bench.server import protocol
    from ivosw_bench.server.dataset import open_served
    from ivosw_bench.server.db import Database
    from ivosw_bench.server.service import BenchmarkService, Limits

    compat.apply()
    db = Database(tmp_path / "x.db")
    new = keys.new_key()
    db.add_user("eve", new.key_id, new.key_hash)
    service = BenchmarkService(open_served(tiny_davis), db, Limits(session_time=60.0))
    h = {"user-key": new.key, "session-key": "timed-session-1"}
    user = service.user(h)
    sess = service.session(h, user, create=True)
    body = b'{"sequence": "one", "scribble_idx": 1, "interaction": 1, "timing": 0.1, "pred_masks": {"size": [1, 1, 1], "frames": [[]]}}'
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 61.0)
    with pytest.raises(protocol.ApiError, match="time limit of 60 s is over") as err:
        service.interaction(user, sess, body)
    assert err.value.status == 409 and service.report(sess)["sequence"] == []
