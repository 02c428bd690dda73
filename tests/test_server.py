"""The benchmark server end to end: a real ``ivosw-bench serve`` subprocess on a free loopback port,
davisinteractive's own unmodified client, raw HTTP for bad requests, 8 concurrent clients, and the
SQLite store checked after each."""
from __future__ import annotations

import json
import sqlite3
import tempfile
import threading
import time
import zlib

import numpy as np
import pandas as pd
import pytest
import requests

import ivosw_bench.compat as compat
from ivosw_bench.data.davis_layout import open_dataset, registered
from server_helpers import ServerProcess, add_user, headers, play

compat.apply()

T = 3


def candidates(seq: str, t: int, n: int):
    """Every kind of next_scribble_frame_candidates: one frame, several (the robot takes the worst of
    them), none (the worst of all frames)."""
    return [[n - 1], [0, n // 2, n - 1], None][(t - 1) % 3]


def strokes(record: dict) -> dict:
    """The scribbles received, without the robot's wall-clock stroke times."""
    return {k: [[[{f: v for f, v in st.items() if f not in ("start_time", "end_time")} for st in frame]
                 for frame in scr["scribbles"]] for scr in v] for k, v in record.items()}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from ivosw_bench.data.synthetic import generate
    from ivosw_bench.server.serve import participant_folder

    root = tmp_path_factory.mktemp("served")
    served = root / "synth"
    generate(served, seed=3, n_sequences=3, n_frames=10, size=(128, 80), max_objects=2)
    participant = participant_folder(str(served), str(root / "participant"))
    return {"served": served, "participant": participant, "root": root}


@pytest.fixture(scope="module")
def server(data):
    db = data["root"] / "bench.sqlite3"
    keys = {name: add_user(db, name) for name in ("alice", "bob")}
    proc = ServerProcess(data["served"], db, data["root"] / "server.log", "--max-interactions", T).start()
    yield {"url": proc.url, "db": db, "keys": keys, "proc": proc, **data}
    proc.stop()


def _db(server) -> sqlite3.Connection:
    return sqlite3.connect(server["db"])


def remote_session(server, user="alice", tmp=None):
    from davisinteractive.session import DavisInteractiveSession

    return DavisInteractiveSession(host=server["url"], user_key=server["keys"][user],
                                   davis_root=str(server["participant"]), subset="test-dev",
                                   max_nb_interactions=T, report_save_dir=tmp or tempfile.mkdtemp())


# ------------------------------------------------------------------------------------------------
def test_davisinteractive_client_summary_equals_local(server, tmp_path):
    """davisinteractive's own client against the server: the same report, scribbles and global
    summary as its local service on the same data (timing-dependent figures excepted)."""
    from davisinteractive.evaluation.service import EvaluationService
    from davisinteractive.session import DavisInteractiveSession

    served = open_dataset(server["served"])
    seqs = sorted(served.sequences)
    got_remote, got_local = {}, {}
    with registered(served, seqs):
        with remote_session(server, tmp=str(tmp_path / "r")) as sess:
            remote = play(sess, served, candidates, got_remote)
            remote_report = sess.get_report()
            key = sess.session_key
        with DavisInteractiveSession(host="localhost", davis_root=str(server["served"]), subset="train",
                                     max_nb_interactions=T, report_save_dir=str(tmp_path / "l")) as sess:
            local = play(sess, served, candidates, got_local)
            local_report = sess.get_report()
        # the server's summary is davisinteractive's summarize_report of its report (timing included)
        again = EvaluationService("train", davis_root=str(server["served"]), max_i=T).summarize_report(remote_report)
    assert strokes(got_remote) == strokes(got_local) and len(got_remote) == 3  # the robot drew the same
    cols = ["sequence", "scribble_idx", "interaction", "object_id", "frame"]
    a = compat.clean_report(remote_report).sort_values(cols).reset_index(drop=True)
    b = compat.clean_report(local_report).sort_values(cols).reset_index(drop=True)
    assert len(a) == len(b) > 0
    pd.testing.assert_frame_equal(a[cols], b[cols])
    for c in ("jaccard", "contour", "j_and_f"):
        np.testing.assert_allclose(a[c], b[c], rtol=0, atol=1e-12)
    assert remote["curve"]["J_AND_F"] == pytest.approx(local["curve"]["J_AND_F"], abs=1e-9)
    assert remote["metric_at_threshold"]["threshold"] == local["metric_at_threshold"]["threshold"]
    assert remote["auc"] == pytest.approx(again["auc"], abs=1e-9)
    assert remote["curve"]["time"] == pytest.approx(again["curve"]["time"], abs=1e-9)
    assert remote["session_key"] == key
    with _db(server) as con:
        stored = json.loads(con.execute("SELECT summary FROM sessions WHERE key = ?", (key,)).fetchone()[0])
        n = con.execute("SELECT COUNT(*) FROM interactions WHERE session = ?", (key,)).fetchone()[0]
    assert stored["auc"] == remote["auc"] and n == 3 * T


def test_resumed_session_is_the_same_session(server, tmp_path):
    """A client that starts again with the same Session-Key continues the session: what was counted
    stays, replayed interactions are answered from the store and not counted twice."""
    from ivosw_bench.server.client import adopt_session

    served = open_dataset(server["participant"], annotations=False)
    seqs = sorted(served.sequences)
    first: dict = {}
    with registered(served, seqs):
        sess = remote_session(server, tmp=str(tmp_path / "a"))
        key = sess.session_key
        with sess:
            sess.samples = sorted(tuple(s) for s in sess.samples)
            for _ in range(2):  # two interactions of the first sample, then the client dies
                sess.next()
                seq, scr, new = sess.get_scribbles(only_last=True)
                first.setdefault(seq, []).append(scr)
                from backends.fake import FakeBackend
                if new:
                    backend = FakeBackend()
                    backend.reset(seq, served.frames(seq), served.sequences[seq]["num_objects"])
                sess.submit_masks(backend.interact(scr, 0).labels,
                                  next_scribble_frame_candidates=candidates(seq, sess.interaction_nb, 10))
        sess = remote_session(server, tmp=str(tmp_path / "b"))
        adopt_session(sess, key)
        with sess:
            sess.samples = sorted(tuple(s) for s in sess.samples)
            record: dict = {}
            summary = play(sess, served, candidates, record)
    assert summary["session_key"] == key
    seq0 = sorted(served.sequences)[0]
    assert record[(seq0, 1)][:2] == first[seq0]  # the replays got the stored scribbles (times included)
    with _db(server) as con:
        n = con.execute("SELECT COUNT(*) FROM interactions WHERE session = ?", (key,)).fetchone()[0]
        rows = con.execute("SELECT COUNT(*) FROM report_rows WHERE session = ?", (key,)).fetchone()[0]
    meta = served.sequences
    assert n == 3 * T
    assert rows == T * sum(meta[s]["num_frames"] * meta[s]["num_objects"] for s in meta)


# ------------------------------------------------------------------------------------------------
def _open(server, user="alice") -> str:
    key = f"test{time.monotonic_ns()}"
    r = requests.get(server["url"] + "/api/dataset/samples", headers=headers(server["keys"][user], key), timeout=10)
    assert r.status_code == 200, r.text
    samples, max_t, max_i = r.json()
    assert max_t is None and max_i == T and len(samples) == 3
    return key


def _body(server, seq="synth-001", interaction=1, masks=None, **extra) -> dict:
    from davisinteractive.third_party import mask_api

    ds = open_dataset(server["served"])
    meta = ds.sequences[seq]
    if masks is None:
        w, h = meta["image_size"]
        masks = np.zeros((meta["num_frames"], h, w), np.uint8)
        masks[:, 10:30, 20:50] = 1
    body = {"sequence": seq, "scribble_idx": 1, "timing": 0.5, "interaction": interaction,
            "pred_masks": mask_api.encode_batch_masks(masks, nb_objects=meta["num_objects"])}
    body.update(extra)
    return body


def _post(server, session, body=None, data=None, user="alice", **kw):
    return requests.post(server["url"] + "/api/evaluation/interaction", json=body, data=data,
                         headers=headers(server["keys"][user], session), timeout=60, **kw)


def _error(r, status, name=None, *needles):
    assert r.status_code == status, (r.status_code, r.text[:300])
    body = r.json()
    assert set(body) == {"error", "message"} and isinstance(body["message"], list), body
    if name:
        assert body["error"] == name, body
    for n in needles:
        assert n in body["message"][0], (n, body)
    if status == 400:  # davisinteractive's client rebuilds the exception with eval(error)(*message)
        exc = eval(body["error"])(*body["message"])
        assert isinstance(exc, (ValueError, RuntimeError))
    return body


def test_bad_requests_get_4xx_json_and_leave_the_database_consistent(server):
    url, alice = server["url"], server["keys"]["alice"]
    sess = _open(server)
    good = _body(server)
    _error(requests.get(url + "/api/evaluation/report", headers={"Session-Key": sess}, timeout=10), 401, "Unauthorized")
    _error(requests.post(url + "/api/evaluation/interaction", json=good,
                         headers=headers("ivb_0123456789abcdef_" + "A" * 43, sess), timeout=10), 401)
    _error(requests.get(url + "/api/dataset/samples", headers=headers("not a key", sess), timeout=10), 401)
    _error(_post(server, sess, good, user="bob"), 403, "Forbidden")
    _error(requests.get(url + "/api/evaluation/report", headers=headers(server["keys"]["bob"], sess), timeout=10), 403)
    _error(_post(server, "nosuchsession123", good), 404, "NotFound")
    _error(requests.get(url + "/api/dataset/samples", headers=headers(alice, "bad key!"), timeout=10), 400, "ValueError")

    broken = json.loads(json.dumps(good))
    broken["pred_masks"]["frames"][0][0]["counts"] = "~~~~"
    _error(_post(server, sess, broken), 400, "ValueError", "alphabet")
    broken["pred_masks"]["frames"][0][0]["counts"] = "0`"  # ends inside a value
    _error(_post(server, sess, broken), 400, "ValueError", "truncated")
    from davisinteractive.third_party import mask_api
    larger = mask_api.encode_mask(np.zeros((81, 128), np.uint8), nb_objects=1)["objects"][0]["counts"]
    broken["pred_masks"]["frames"][0][0]["counts"] = larger  # more pixels than the mask has
    _error(_post(server, sess, broken), 400, "ValueError", "pixels")
    wrong = json.loads(json.dumps(good))
    wrong["pred_masks"]["size"][1] += 1
    _error(_post(server, sess, wrong), 400, "ValueError", "shape")
    wrong = json.loads(json.dumps(good))
    wrong["pred_masks"]["frames"] = wrong["pred_masks"]["frames"][:-1]
    _error(_post(server, sess, wrong), 400, "ValueError")
    _error(_post(server, sess, dict(good, sequence="nosuch")), 400, "ValueError", "invalid")
    _error(requests.get(url + "/api/dataset/scribbles/nosuch/001", headers=headers(alice, sess), timeout=10),
           400, "ValueError", "Invalid sequence")
    _error(_post(server, sess, dict(good, interaction=2)), 400, "RuntimeError", "previous interaction 1")
    _error(_post(server, sess, dict(good, interaction=T + 1)), 400, "ValueError", "maximum number of interactions")
    _error(_post(server, sess, dict(good, interaction=0)), 400, "ValueError")
    _error(_post(server, sess, dict(good, timing=-1.0)), 400, "ValueError", "timing")
    _error(_post(server, sess, dict(good, next_scribble_frame_candidates=[99, -1])), 400, "ValueError", "no valid frame")
    _error(_post(server, sess, dict(good, extra=1)), 400, "ValueError", "unknown fields")
    _error(_post(server, sess, data=b"\xff not json"), 400, "ValueError", "not JSON")
    _error(_post(server, sess, data=b"[" * 200000 + b"]" * 200000), 400, "ValueError", "nested too deeply")
    big = b"x" * (100 * 2**20)
    _error(_post(server, sess, data=big), 413, "PayloadTooLarge")
    _error(_post(server, sess, data=iter([b"{" + b" " * 2**20] * 40)), 413, "PayloadTooLarge")  # chunked
    _error(requests.post(url + "/api/evaluation/finish", headers=headers(alice, sess), timeout=10), 409, "Conflict")
    _error(requests.delete(url + "/api/healthcheck", timeout=10), 405)
    _error(requests.get(url + "/nothing", timeout=10), 404)

    # concurrent submissions of interaction 1 with different masks: one is counted, the others get 409
    bodies = []
    for i in range(6):
        masks = np.zeros((10, 80, 128), np.uint8)
        masks[:, i:i + 20, 5:40] = 1
        bodies.append(_body(server, masks=masks))
    barrier, results = threading.Barrier(len(bodies)), [None] * len(bodies)

    def submit(i):
        barrier.wait()
        results[i] = _post(server, sess, bodies[i])

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(len(bodies))]
    [t.start() for t in threads]
    [t.join(60) for t in threads]
    codes = sorted(r.status_code for r in results)
    assert codes == [200] + [409] * (len(bodies) - 1), codes
    winner = next(i for i, r in enumerate(results) if r.status_code == 200)
    replay = _post(server, sess, bodies[winner])  # the same masks again: answered from the store
    assert replay.status_code == 200 and replay.json() == results[winner].json()
    with _db(server) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("PRAGMA foreign_key_check").fetchall() == []
        n = con.execute("SELECT COUNT(*) FROM interactions WHERE session = ?", (sess,)).fetchone()[0]
        rows = con.execute("SELECT COUNT(*) FROM report_rows WHERE session = ?", (sess,)).fetchone()[0]
        kept = con.execute("SELECT masks FROM interactions WHERE session = ?", (sess,)).fetchone()[0]
    assert json.loads(zlib.decompress(kept)) == json.loads(json.dumps(bodies[winner]["pred_masks"]))  # the submission
    meta = open_dataset(server["served"]).sequences["synth-001"]
    assert n == 1 and rows == meta["num_frames"] * meta["num_objects"]
    r = requests.get(url + "/api/evaluation/report", headers=headers(alice, sess), timeout=10)
    assert len(r.json()["jaccard"]) == rows and set(r.json()) >= {"session_id", "j_and_f", "timing"}


def test_davisinteractive_client_rebuilds_errors(server):
    """What the unmodified client raises for the server's answers."""
    from davisinteractive.connector.remote import RemoteConnector

    served = open_dataset(server["served"])
    with registered(served, sorted(served.sequences)):
        conn = RemoteConnector(server["keys"]["alice"], f"rebuild{time.monotonic_ns()}", server["url"])
        samples, _, max_i = conn.get_samples("test-dev", None, None)
        assert sorted(map(tuple, samples)) == served.samples(sorted(served.sequences)) and max_i == T
        masks = np.zeros((10, 80, 128), np.uint8)
        with pytest.raises(ValueError, match="higher than the maximum"):
            conn.post_predicted_masks("synth-000", 1, masks, 0.1, T + 1)
        with pytest.raises(RuntimeError, match="previous interaction"):
            conn.post_predicted_masks("synth-000", 1, masks, 0.1, 2)
        stranger = RemoteConnector(server["keys"]["bob"], conn.session_key, server["url"])
        with pytest.raises(Exception, match="Forbidden"):
            stranger.get_report()


# ------------------------------------------------------------------------------------------------
def test_eight_concurrent_clients_lose_no_interaction(server, tmp_path, capsys):
    """8 davisinteractive clients at once: every interaction is counted once (checked in the
    database); latency of the interaction endpoint vs the evaluation time is printed."""
    served = open_dataset(server["participant"], annotations=False)
    seqs = sorted(served.sequences)
    latencies: list[float] = []
    keys, errors = [None] * 8, []

    def client(i):
        try:
            sess = remote_session(server, user="alice" if i % 2 else "bob", tmp=str(tmp_path / str(i)))
            keys[i] = sess.session_key
            original = sess.connector.post_predicted_masks

            def timed(*a, **k):
                t0 = time.perf_counter()
                out = original(*a, **k)
                latencies.append(time.perf_counter() - t0)
                return out

            sess.connector.post_predicted_masks = timed
            with sess:
                play(sess, served, candidates)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    with registered(served, seqs):
        threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
        [t.start() for t in threads]
        [t.join(300) for t in threads]
    assert not errors, errors
    meta = served.sequences
    per_session_rows = T * sum(meta[s]["num_frames"] * meta[s]["num_objects"] for s in meta)
    with _db(server) as con:
        for key in keys:
            n = con.execute("SELECT COUNT(*) FROM interactions WHERE session = ?", (key,)).fetchone()[0]
            rows = con.execute("SELECT COUNT(*) FROM report_rows WHERE session = ?", (key,)).fetchone()[0]
            finished = con.execute("SELECT finished FROM sessions WHERE key = ?", (key,)).fetchone()[0]
            assert (n, rows) == (3 * T, per_session_rows) and finished is not None
        marks = ",".join("?" * len(keys))
        evals = [e for (e,) in con.execute(f"SELECT eval_s FROM interactions WHERE session IN ({marks})", keys)]
    assert len(latencies) == 8 * 3 * T
    ratio = np.percentile(latencies, [50, 90, 99]) / np.median(evals)
    with capsys.disabled():
        print(f"\n[load] 8 clients, {len(latencies)} interactions; latency p50/p90/p99 = "
              f"{' / '.join(f'{v * 1000:.0f}' for v in np.percentile(latencies, [50, 90, 99]))} ms = "
              f"{' / '.join(f'{r:.1f}' for r in ratio)} x the median evaluation ({np.median(evals) * 1000:.1f} ms)")


# ------------------------------------------------------------------------------------------------
def test_hosted_leaderboard_json(server):
    board = requests.get(server["url"] + "/api/leaderboard", timeout=60).json()
    group = next(g for g in board["groups"] if g["rounds"] == T)
    assert group["n_samples"] == 3 and len(group["entries"]) >= 2
    ranks = [e["ranks"]["round_auc"] for e in group["entries"]]
    assert ranks == sorted(ranks) and ranks[0] == 1
    means = [e["round_auc"]["mean"] for e in group["entries"]]
    assert means == sorted(means, reverse=True)
    first, second = group["entries"][:2]
    assert first["paired"] is None and second["paired"]["reference"] == first["label"]
    for e in group["entries"]:
        for m in ("round_auc", "time_auc", "jf_at_60s", "final_jf"):
            assert e[m]["low"] <= e[m]["mean"] + 1e-9 and e[m]["mean"] <= e[m]["high"] + 1e-9, (m, e[m])
    assert board["unranked"] == [] or all("samples complete" in u["reason"] for u in board["unranked"])
