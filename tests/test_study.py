"""Human-selection study mode without a browser: the web UI driven by plain HTTP, the terminal UI
by a monkeypatched stdin, resume, participants, the seconds-per-choice table."""
from __future__ import annotations

import io
import json
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pytest

from ivosw_bench.session import RunConfig, run
from ivosw_bench.study import (HumanStrategy, StudyAborted, StudyError, TerminalUI, WebUI, choice_time_table,
                               read_choices, run_study, write_choice_time_table)
from ivosw_bench.study.render import davis_palette, overlay


# -- a participant made of HTTP requests ---------------------------------------------------------
def http(url, body=None, headers=None, method=None):
    """(status, parsed JSON or bytes) of a request; 4xx/5xx do not raise."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    h = {"Content-Type": "application/json"} if body is not None else {}
    h.update(headers or {})
    req = urllib.request.Request(url, data=data, headers=h, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, raw, ctype = r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        status, raw, ctype = e.code, e.read(), e.headers.get("Content-Type", "")
    return status, (json.loads(raw) if "json" in ctype else raw)


class Participant(threading.Thread):
    """Polls the page state and answers every round with ``pick(round) -> frame``.

    ``on_round(participant, round)`` runs before the choice (for refused-request checks);
    ``stop_at``: close the UI when that many rounds were answered and the next one appears."""

    def __init__(self, ui: WebUI, pick, on_round=None, stop_at=None):
        super().__init__(daemon=True)
        self.ui, self.pick, self.on_round, self.stop_at = ui, pick, on_round, stop_at
        self.rounds, self.answers, self.errors = [], [], []
        self.stop_flag = threading.Event()

    def run(self):
        try:
            while not self.stop_flag.is_set():
                status, st = http(self.ui.url + "api/state")
                assert status == 200
                if st["status"] == "choosing" and (not self.rounds or st["round"]["id"] != self.rounds[-1]["id"]):
                    rnd = st["round"]
                    if self.stop_at is not None and len(self.rounds) == self.stop_at:
                        self.ui.close()  # the server is killed while a choice is awaited
                        return
                    self.rounds.append(rnd)
                    # the page loads its thumbnails, then reports ready
                    for i in range(rnd["n_frames"]):
                        s, img = http(f"{self.ui.url}img/{rnd['id']}/thumb/{i}.jpg")
                        assert s == 200 and img[:2] == b"\xff\xd8"
                    assert http(self.ui.url + "api/ready", {"round_id": rnd["id"]})[0] == 200
                    if self.on_round:
                        self.on_round(self, rnd)
                    frame = self.pick(rnd)
                    s, res = http(self.ui.url + "api/choose", {"round_id": rnd["id"], "frame": frame})
                    assert s == 200, res
                    self.answers.append((rnd["sequence"], rnd["t"], frame))
                elif st["status"] in ("done", "stopped"):
                    return
                time.sleep(0.01)
        except BaseException as exc:  # reported by the test
            self.errors.append(exc)


def last_frame(rnd):
    return rnd["n_frames"] - 1


def web_study(tiny_davis, tmp_path, participant="alice", pick=last_frame, on_round=None, stop_at=None,
              **kw):
    ui = WebUI(port=0)
    ui.start()
    p = Participant(ui, pick, on_round, stop_at)
    p.start()
    try:
        result = run_study(dataset=str(tiny_davis), participant=participant, rounds=kw.pop("rounds", 2),
                           ui=ui, out=str(tmp_path / "runs"), **kw)
    finally:
        p.stop_flag.set()
        p.join(10)
        ui.close()
    assert not p.errors, p.errors
    return result, p, ui


# -- web UI ---------------------------------------------------------------------------------------
def test_web_study_records_choices_and_refuses_bad_requests(tiny_davis, tmp_path):
    checks = {}

    def refused_requests(p, rnd):
        url, rid = p.ui.url, rnd["id"]
        if checks:
            return
        checks["range"] = http(url + "api/choose", {"round_id": rid, "frame": rnd["n_frames"]})
        checks["negative"] = http(url + "api/choose", {"round_id": rid, "frame": -1})
        checks["not_int"] = http(url + "api/choose", {"round_id": rid, "frame": "2"})
        checks["stale"] = http(url + "api/choose", {"round_id": "0123456789abcdef", "frame": 0})
        checks["evil_host"] = http(url + "api/state", headers={"Host": "evil.com"})
        checks["evil_host_post"] = http(url + "api/choose", {"round_id": rid, "frame": 0},
                                        headers={"Host": "evil.com"})
        checks["cross_origin"] = http(url + "api/choose", {"round_id": rid, "frame": 0},
                                      headers={"Origin": "http://evil.com"})
        checks["not_json"] = http(url + "api/choose", b"frame=1",
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
        checks["img_range"] = http(f"{url}img/{rid}/thumb/{rnd['n_frames']}.jpg")
        checks["img_stale"] = http(f"{url}img/0123456789abcdef/thumb/0.jpg")
        checks["page"] = http(url)
        checks["state"] = rnd
        # pause stops the clock and blocks choosing
        assert http(url + "api/pause", {"round_id": rid, "paused": True})[1]["paused"] is True
        checks["while_paused"] = http(url + "api/choose", {"round_id": rid, "frame": 0})
        time.sleep(0.3)
        assert http(url + "api/pause", {"round_id": rid, "paused": False})[1]["paused"] is False

    (path, summary), p, ui = web_study(tiny_davis, tmp_path, on_round=refused_requests)

    for key in ("range", "negative", "not_int"):
        assert checks[key][0] == 400, key
    assert "out of range" in checks["range"][1]["error"]
    assert checks["stale"][0] == 409 and "stale" in checks["stale"][1]["error"]
    assert checks["evil_host"][0] == 403 and "evil.com" in checks["evil_host"][1]["error"]
    assert checks["evil_host_post"][0] == 403 and checks["cross_origin"][0] == 403
    assert checks["not_json"][0] == 415
    assert checks["img_range"][0] == 404 and checks["img_stale"][0] == 410
    assert checks["while_paused"][0] == 409 and "paused" in checks["while_paused"][1]["error"]
    assert checks["page"][0] == 200 and b"ivosw-bench" in checks["page"][1]
    assert checks["state"]["quality"] is None  # no quality numbers unless show_quality

    # rounds=2: one choice per sample (the last round's choice is never scribbled, so not asked)
    assert [a[1] for a in p.answers] == [1, 1]
    assert path.name == "tiny_classic_human-alice_oracle_T2_seed0"
    assert summary["complete"] and summary["strategy"] == "human:alice"
    for s in summary["per_sample"]:
        assert s["recommended_frames"][0] == s["n_frames"] - 1
        assert s["annotated_frames"][1] == s["n_frames"] - 1  # the robot scribbled the chosen frame
    rows = read_choices(path)
    assert [(r["sequence"], r["round"], r["frame"]) for r in rows] == [("one", 1, 5), ("two", 1, 6)]
    assert all(r["participant"] == "alice" and r["clock_start"] == "page_ready" and r["seconds"] >= 0
               for r in rows)
    assert rows[0]["paused_seconds"] >= 0.25 and rows[1]["paused_seconds"] == 0
    rounds = pd.read_csv(path / "rounds.csv")
    assert len(rounds) == 4 and (rounds["strategy_s"] >= 0).all()
    assert ui.done_info["n_choices"] == 2


def test_show_quality_sends_quality(tiny_davis, tmp_path):
    (_, summary), p, _ = web_study(tiny_davis, tmp_path, participant="q1", show_quality=True,
                                   sequences=["one"], pick=lambda r: int(np.argmin(r["quality"])))
    q = p.rounds[0]["quality"]
    assert len(q) == 6 and all(0 <= v <= 1 for v in q)
    assert summary["per_sample"][0]["recommended_frames"][0] == int(np.argmin(q))


def test_resume_after_the_server_is_stopped_mid_study(tiny_davis, tmp_path):
    picks = {"one": [4, 0], "two": [1, 5]}

    def pick(rnd):
        return picks[rnd["sequence"]][rnd["t"] - 1]

    # rounds=3: two choices per sample; the server dies when the 4th choice is awaited
    with pytest.raises(StudyAborted, match="--resume"):
        web_study(tiny_davis, tmp_path, pick=pick, rounds=3, stop_at=3)
    run_dir = tmp_path / "runs" / "tiny_classic_human-alice_oracle_T3_seed0"
    assert [(r["sequence"], r["round"]) for r in read_choices(run_dir)] == [("one", 1), ("one", 2), ("two", 1)]
    with pytest.raises(StudyError, match="unfinished.*--resume"):
        run_study(dataset=str(tiny_davis), participant="alice", rounds=3, ui=TerminalUI(run_dir),
                  out=str(tmp_path / "runs"))

    (path, summary), p, _ = web_study(tiny_davis, tmp_path, pick=pick, rounds=3, resume=True)
    # sample 'one' was kept; in 'two' round 1 was replayed from choices.csv, only round 2 was asked
    assert p.answers == [("two", 2, 5)]
    assert p.rounds[0]["sample_no"] == 2 and p.rounds[0]["n_samples"] == 2
    assert summary["complete"]
    got = {s["sequence"]: s["recommended_frames"][:2] for s in summary["per_sample"]}
    assert got == picks
    assert len(read_choices(path)) == 4


# -- terminal UI ----------------------------------------------------------------------------------
def test_terminal_ui_validates_and_reasks(tiny_davis, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("abc\n99\n3\n\n1\n"))
    path, summary = run_study(dataset=str(tiny_davis), participant="tom", rounds=2, ui="terminal",
                              out=str(tmp_path / "runs"))
    out = capsys.readouterr().out
    assert "'abc' is not a frame number" in out and "frame 99 is out of range" in out
    assert "not a frame number" in out.split("frame 3 chosen")[1]  # the empty line, in sample 'two'
    assert [s["recommended_frames"][0] for s in summary["per_sample"]] == [3, 1]
    sheet = path / "contact_sheet.png"
    assert sheet.is_file() and sheet.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = read_choices(path)
    assert [r["frame"] for r in rows] == [3, 1] and {r["ui"] for r in rows} == {"terminal"}


def test_terminal_pause_and_closed_stdin(tiny_davis, tmp_path, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("p\n\n2\n"))  # pause, resume, answer; then EOF
    with pytest.raises(StudyAborted, match="stdin closed"):
        run_study(dataset=str(tiny_davis), participant="tom", rounds=2, ui="terminal", out=str(tmp_path))
    rows = read_choices(tmp_path / "tiny_classic_human-tom_oracle_T2_seed0")
    assert [(r["sequence"], r["frame"]) for r in rows] == [("one", 2)]


# -- participants, session mapping, tables ---------------------------------------------------------
def test_participants_get_their_own_runs(tiny_davis, tmp_path, monkeypatch):
    out = str(tmp_path / "runs")
    monkeypatch.setattr("sys.stdin", io.StringIO("1\n2\n"))
    a, _ = run_study(dataset=str(tiny_davis), participant="alice", rounds=2, ui="terminal", out=out)
    monkeypatch.setattr("sys.stdin", io.StringIO("4\n5\n"))
    b, sb = run_study(dataset=str(tiny_davis), participant="bob", rounds=2, ui="terminal", out=out)
    assert a != b and "alice" in a.name and "bob" in b.name
    assert [r["frame"] for r in read_choices(a)] == [1, 2]
    with pytest.raises(StudyError, match="'alice' already has a finished"):
        run_study(dataset=str(tiny_davis), participant="alice", rounds=2, ui="terminal", out=out)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # a finished run resumes without asking
    again, s = run_study(dataset=str(tiny_davis), participant="alice", rounds=2, ui="terminal", out=out,
                         resume=True)
    assert again == a and s["complete"] and [r["frame"] for r in read_choices(a)] == [1, 2]
    for bad in ("", "../x", "a b", "human:x", 3):
        with pytest.raises(StudyError, match="participant"):
            run_study(dataset=str(tiny_davis), participant=bad, ui="terminal", out=out)


def test_session_takes_a_strategy_factory(tiny_davis, tmp_path, monkeypatch):
    """ivosw_bench.session.run with strategy 'human:carol' built by a factory for the run folder."""
    monkeypatch.setattr("sys.stdin", io.StringIO("0\n"))

    def carol(run_dir):
        return HumanStrategy(participant="carol", rounds=2, run_dir=run_dir, ui=TerminalUI(run_dir))

    cfg = RunConfig(strategy="human:carol", dataset=str(tiny_davis), sequences=["one"], rounds=2,
                    out=str(tmp_path), name="carol-run")
    path, summary = run(cfg, strategy=carol)
    assert summary["strategy"] == "human:carol" and summary["per_sample"][0]["recommended_frames"][0] == 0
    assert read_choices(path)[0]["participant"] == "carol"


def test_choice_time_table(tiny_davis, tmp_path, monkeypatch):
    out = tmp_path / "runs"
    monkeypatch.setattr("sys.stdin", io.StringIO("1\n2\n"))
    run_study(dataset=str(tiny_davis), participant="alice", rounds=2, ui="terminal", out=str(out))
    for strategy in ("random", "linspace"):
        run(RunConfig(strategy=strategy, dataset=str(tiny_davis), rounds=2, out=str(out)))
    rows = choice_time_table([out])
    assert [r["label"] for r in rows] == ["human:alice", "linspace", "random"]
    human, lin = rows[0], rows[1]
    assert human["kind"] == "human" and human["participant"] == "alice" and human["n_choices"] == 2
    assert lin["kind"] == "strategy" and lin["n_choices"] == 4 and lin["mean_s"] < 1.0
    for r in rows:
        assert r["median_s"] is not None and r["round_auc"] is not None
    files = write_choice_time_table([out], tmp_path / "report")
    assert files["csv"].read_text().splitlines()[0].startswith("label,kind,participant")
    assert "human:alice" in files["md"].read_text()


def test_overlay_uses_the_davis_palette():
    pal = davis_palette()
    assert tuple(pal[1]) == (128, 0, 0) and tuple(pal[2]) == (0, 128, 0) and tuple(pal[3]) == (128, 128, 0)
    frame = np.full((9, 9, 3), 100, np.uint8)
    labels = np.zeros((9, 9), np.int64)
    labels[2:7, 2:7] = 1
    out = overlay(frame, labels)
    assert tuple(out[0, 0]) == (100, 100, 100)                   # background untouched
    assert tuple(out[4, 4]) == (114, 50, 50)                      # alpha 0.5 blend with (128, 0, 0)
    assert tuple(out[2, 4]) == (128, 0, 0)                        # contour drawn opaque


def test_choice_log_replays_only_the_same_state(tmp_path):
    from ivosw_bench.study import ChoiceLog

    log = ChoiceLog(tmp_path)
    base = {"participant": "a", "sequence": "s", "scribble_idx": 1, "round": 2, "seconds": "1.5",
            "paused_seconds": "0", "clock_start": "page_ready", "ui": "web"}
    log.append({**base, "frame": 3, "state": "old"})
    log.append({**base, "frame": 4, "state": "new"})
    with (tmp_path / "choices.csv").open("a") as fh:
        fh.write("a,s,1,3,not-a-number")  # a line cut by a kill is ignored
    again = ChoiceLog(tmp_path)
    assert len(again.rows) == 2
    assert again.lookup("s", 1, 2, "new")["frame"] == 4
    assert again.lookup("s", 1, 2, "old") is None  # only the last choice of a key counts
    assert again.lookup("s", 1, 3, "new") is None
    again.append({**base, "round": 3, "frame": 5, "state": "x"})
    assert [r["frame"] for r in ChoiceLog(tmp_path).rows] == [3, 4, 5]


def test_run_study_owns_its_web_ui_and_prints_the_url(tiny_davis, tmp_path):
    messages, answers = [], []

    def echo(msg):
        messages.append(msg)
        if "open http" in msg:  # the URL is printed before the first round: a participant opens it
            url = msg.split("open ", 1)[1].split()[0]
            ui = type("U", (), {"url": url, "close": lambda self: None})()
            p = Participant(ui, lambda r: 2)
            p.start()
            answers.append(p)

    path, summary = run_study(dataset=str(tiny_davis), sequences="one", participant="dan", rounds=2,
                              ui="web", port=0, open_browser=False, linger=0.5, out=str(tmp_path), echo=echo)
    assert messages[0].startswith("study for participant 'dan': open http://127.0.0.1:")
    answers[0].join(10)
    assert not answers[0].errors and answers[0].answers == [("one", 1, 2)]
    assert summary["per_sample"][0]["recommended_frames"][0] == 2
    url = messages[0].split("open ", 1)[1].split()[0]
    with pytest.raises(urllib.error.URLError):  # the server is gone after the study
        urllib.request.urlopen(url + "api/state", timeout=2)
