"""``ivosw-bench run --host``: the harness's own round loop against a server, with a participant's
folder that holds no ground truth."""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from ivosw_bench.cli import main
from ivosw_bench.errors import RemoteError, RunError
from ivosw_bench.results.store import RunStore
from ivosw_bench.session import RunConfig, run
from server_helpers import REPO, ServerProcess, add_user

T = 3


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from ivosw_bench.data.synthetic import generate
    from ivosw_bench.server.serve import participant_folder

    root = tmp_path_factory.mktemp("remote")
    served = root / "synth"
    generate(served, seed=3, n_sequences=2, n_frames=8, size=(128, 80), max_objects=2)
    participant = participant_folder(str(served), str(root / "participant"))
    db = root / "bench.sqlite3"
    key = add_user(db, "dana")
    proc = ServerProcess(served, db, root / "server.log", "--max-interactions", T).start()
    yield {"url": proc.url, "db": db, "key": key, "served": served, "participant": participant, "root": root}
    proc.stop()


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def remote(server, tmp_path, **kw) -> RunConfig:
    base = dict(strategy="linspace", backend="fake", setting="wild", rounds=T, dataset=str(server["participant"]),
                host=server["url"], user_key=server["key"], out=str(tmp_path / "remote"))
    base.update(kw)
    return RunConfig(**base)


def local(server, tmp_path, **kw) -> RunConfig:
    base = dict(strategy="linspace", backend="fake", setting="wild", rounds=T, dataset=str(server["served"]),
                out=str(tmp_path / "local"))
    base.update(kw)
    return RunConfig(**base)


def _session_rows(server, session_key):
    import sqlite3

    with sqlite3.connect(server["db"]) as con:
        n = con.execute("SELECT COUNT(*) FROM interactions WHERE session = ?", (session_key,)).fetchone()[0]
        summary = con.execute("SELECT summary FROM sessions WHERE key = ?", (session_key,)).fetchone()[0]
    return n, json.loads(summary) if summary else None


def test_remote_run_with_classic_backend_equals_local(server, tmp_path):
    r = invoke("run", "--host", server["url"], "--user-key", server["key"], "--dataset", server["participant"],
               "--backend", "classic", "--strategy", "linspace", "--rounds", T, "--out", tmp_path / "remote",
               "--name", "classic", "-q")
    assert r.exit_code == 0, r.output
    path = tmp_path / "remote" / "classic"
    summary = json.loads((path / "summary.json").read_text())
    _, expected = run(local(server, tmp_path, backend="classic"))
    assert summary["complete"] and summary["metrics"]["round_auc"] == pytest.approx(expected["metrics"]["round_auc"],
                                                                                    abs=1e-12)
    for a, b in zip(summary["per_sample"], expected["per_sample"]):
        assert a["per_round_jf"] == pytest.approx(b["per_round_jf"], abs=1e-12)
        assert a["recommended_frames"] == b["recommended_frames"]
    config = json.loads((path / "config.json").read_text())
    assert config["host"] == server["url"] and server["key"] not in (path / "config.json").read_text()
    key = json.loads((path / "server.json").read_text())["session_key"]
    n, stored = _session_rows(server, key)
    assert n == 2 * T and dict(stored, session_key=key) == json.loads((path / "server_summary.json").read_text())
    assert summary["metrics"]["time_auc"] == stored["auc"]


def test_hosted_board_has_the_cli_leaderboard_statistics(server, tmp_path):
    """The same session seen by ``ivosw-bench leaderboard`` (its run folder) and by the server's
    /api/leaderboard: the same round-AUC, final J&F, time-AUC and J&F@60s with the same CIs."""
    import requests

    from ivosw_bench.results.leaderboard import build_leaderboard
    from ivosw_bench.results.report import load_run

    path, _ = run(remote(server, tmp_path, strategy="random", seed=4))
    key = json.loads((path / "server.json").read_text())["session_key"]
    cli_entry = build_leaderboard([load_run(path)]).groups[0].entries[0]
    board = requests.get(server["url"] + "/api/leaderboard", timeout=60).json()
    hosted = next(e for g in board["groups"] for e in g["entries"] if e["session"] == key[:8])
    for metric in ("round_auc", "final_jf", "time_auc", "jf_at_60s"):
        est = cli_entry.metrics[metric]
        got = hosted[metric]
        assert (got["mean"], got["low"], got["high"]) == pytest.approx((est.mean, est.low, est.high), abs=1e-9), metric
    for t, est in enumerate(cli_entry.per_round):
        assert hosted["per_round_jf"][t]["mean"] == pytest.approx(est.mean, abs=1e-12)


class Killed(BaseException):
    """The client process dies (nothing of it catches this)."""


def test_killed_client_resumes_its_server_session(server, tmp_path, monkeypatch):
    """The client dies after the server counted an interaction it never stored; --resume continues
    the same server session (replays answered from the store) and ends as an uninterrupted run."""
    calls = {"n": 0}
    original = RunStore.add_round

    def dying(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == T + 2:  # second sample, round 2: counted by the server, lost here
            raise Killed("client killed")
        return original(self, *a, **k)

    monkeypatch.setattr(RunStore, "add_round", dying)
    with pytest.raises(Killed):
        run(remote(server, tmp_path, name="resumed"))
    monkeypatch.setattr(RunStore, "add_round", original)
    path = tmp_path / "remote" / "resumed"
    key = json.loads((path / "server.json").read_text())["session_key"]
    assert _session_rows(server, key)[0] == T + 2
    _, summary = run(remote(server, tmp_path, name="resumed", resume=True))
    _, expected = run(local(server, tmp_path))
    n, stored = _session_rows(server, key)
    assert n == 2 * T and stored is not None  # nothing counted twice, the session finished
    assert summary["complete"] and summary["metrics"]["round_auc"] == pytest.approx(expected["metrics"]["round_auc"],
                                                                                    abs=1e-12)


AUDIT = textwrap.dedent("""
    import atexit, json, os, sys
    out, args = sys.argv[1], sys.argv[2:]
    seen = []

    def hook(event, a):
        if event in ("open", "os.listdir", "os.scandir") and a and isinstance(a[0], (str, bytes, os.PathLike)):
            seen.append(os.path.abspath(os.fsdecode(a[0])))

    sys.addaudithook(hook)
    atexit.register(lambda: open(out, "w").write(json.dumps(seen)))
    from ivosw_bench.cli import main
    main(args)
""")


def _strace_works() -> bool:
    if not shutil.which("strace"):
        return False
    probe = subprocess.run(["strace", "-f", "-qq", "--seccomp-bpf", "-e", "trace=openat", "-o", "/dev/null", "true"],
                           capture_output=True)
    return probe.returncode == 0


def test_remote_client_never_opens_ground_truth(server, tmp_path):
    """The wild setting against a server: the client process never opens (nor lists) a ground-truth
    file, seen by a Python audit hook on every open/listdir/scandir and, where strace works, by the
    kernel's open calls (frames are read by OpenCV in C, which only strace sees)."""
    script = tmp_path / "audited.py"
    script.write_text(AUDIT)
    seen_file, trace = tmp_path / "opened.json", tmp_path / "trace.txt"
    cmd = [sys.executable, str(script), str(seen_file), "run", "--host", server["url"], "--user-key", server["key"],
           "--dataset", str(server["participant"]), "--backend", "fake", "--strategy", "linspace",
           "--rounds", str(T), "--out", str(tmp_path / "runs"), "-q"]
    traced = _strace_works()
    if traced:
        cmd = ["strace", "-f", "-qq", "--seccomp-bpf", "-e", "trace=open,openat,openat2", "-o", str(trace)] + cmd
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    served = str(server["served"].resolve())
    opened = json.loads(seen_file.read_text())
    assert any(p.startswith(str(server["participant"])) for p in opened)  # the hook saw the client's reads
    ground_truth = [p for p in opened if "Annotations" in p or p.startswith(served)]
    assert ground_truth == []
    if traced:
        lines = trace.read_text().splitlines()
        paths = [ln.split('"')[1] for ln in lines if '"' in ln]
        assert any(p.endswith(".jpg") for p in paths)  # OpenCV's frame reads are seen
        assert [p for p in paths if "Annotations" in p or p.startswith(served)] == []


# ------------------------------------------------------------------------------------------------
def one_line_error(result, *needles):
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    for n in needles:
        assert str(n) in lines[0], (n, lines[0])


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_remote_errors_are_one_line(server, tmp_path):
    base = ["run", "--dataset", server["participant"], "--backend", "fake", "--rounds", T, "--out", tmp_path, "-q"]
    key = ["--user-key", server["key"]]
    one_line_error(invoke(*base, "--host", f"http://127.0.0.1:{_closed_port()}", *key), "cannot connect",
                   "connection refused")
    one_line_error(invoke(*base, "--host", server["url"], "--user-key", "ivb_nope"), "401", "User-Key")
    one_line_error(invoke(*base, "--host", server["url"], *key, "--strategy", "worst-oracle"), "needs ground truth",
                   server["url"])
    one_line_error(invoke(*base, "--host", server["url"], *key, "--setting", "oracle"), "--setting wild")
    more = ["run", "--dataset", server["participant"], "--backend", "fake", "--rounds", T + 1, "--out", tmp_path]
    one_line_error(invoke(*more, "--host", server["url"], *key), f"--rounds {T}")
    one_line_error(invoke(*base, "--host", server["url"], *key, "--sequences", "synth-000"), "server decides")
    one_line_error(invoke(*base, "--host", "localhost", *key), "--host must be the server's URL")
    one_line_error(invoke(*base, "--host", server["url"]), "--user-key")
    assert not any(tmp_path.iterdir())  # nothing written by any refused run
    no_gt = ["run", "--dataset", server["participant"], "--backend", "fake", "--rounds", T, "--out", tmp_path, "-q"]
    one_line_error(invoke(*no_gt), "Annotations")  # a local run needs the ground truth


def test_silent_server_times_out_in_one_line(tmp_path):
    from ivosw_bench.server.client import connect

    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(RemoteError, match="no answer within 0.5 s"):
            connect(url, "ivb_x", timeout=0.5)
        one_line_error(invoke("run", "--host", url, "--user-key", "k", "--backend", "fake", "--timeout", 0.5,
                              "--out", tmp_path, "-q"), "no answer within 0.5 s")


def test_resume_needs_the_same_server(server, tmp_path):
    out = str(tmp_path / "runs")
    run(local(server, tmp_path, name="pinned", out=out))
    with pytest.raises(RunError, match="ran against the local service"):
        run(remote(server, tmp_path, name="pinned", out=out, dataset=str(server["served"]), resume=True))


def test_compare_against_the_server(server, tmp_path):
    import sqlite3

    r = invoke("compare", "--host", server["url"], "--user-key", server["key"], "--dataset", server["participant"],
               "--backend", "fake", "--strategies", "linspace", "--seeds", "0", "--rounds", T,
               "--out", tmp_path / "runs", "--report-dir", tmp_path / "report", "-q")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "report" / "leaderboard.html").is_file()
    keys = [json.loads(p.read_text())["session_key"] for p in sorted((tmp_path / "runs").glob("*/server.json"))]
    assert len(keys) == 1
    with sqlite3.connect(server["db"]) as con:
        for key in keys:
            n, finished = con.execute("SELECT (SELECT COUNT(*) FROM interactions WHERE session = ?), finished "
                                      "FROM sessions WHERE key = ?", (key, key)).fetchone()
            assert n == 2 * T and finished is not None


def test_connector_answers_become_one_line_errors(server):
    """What davisinteractive's connector raises (or only logs) becomes one RemoteError line with the
    server's message; anything else passes through untouched."""
    from davisinteractive.connector.remote import RemoteConnector

    from ivosw_bench.server.client import remote_calls

    conn = RemoteConnector(server["key"], "notopenedyet1", server["url"])
    with pytest.raises(RemoteError, match="refused: NotFound: no such session"):
        with remote_calls(server["url"], 10):
            conn.get_report()
    conn.get_samples("test-dev", None, None)
    with pytest.raises(RemoteError, match="refused: ValueError: Invalid sequence: nosuch"):
        with remote_calls(server["url"], 10):
            conn.get_scribble("nosuch", 1)
    with pytest.raises(ZeroDivisionError):
        with remote_calls(server["url"], 10):
            1 / 0
