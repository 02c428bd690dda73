"""Load on the benchmark server: N concurrent davisinteractive clients, interaction latency vs the
evaluation time itself.

    .venv/bin/python benchmarks/server_load.py [--dataset davis16-train] [--sequences bear,boat,...]
                                               [--clients 1,8] [--rounds 2]

Serves the chosen sequences (a folder of links to the dataset's) with ``ivosw-bench serve`` on a free
loopback port, runs each number of clients at once through davisinteractive's own client (fake
backend masks, one candidate frame per round), and prints per run: interactions counted in the
database (must be clients x samples x rounds), the latency of ``POST api/evaluation/interaction`` as
the client sees it (request sent -> answer; the client's own RLE encoding excluded) at p50/p90/p99,
and those as ratios to the median evaluation time the server measured (davisinteractive's J, F and
robot on the submission). Writes benchmarks/results/server_load.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from server_helpers import ServerProcess, add_user, play  # noqa: E402

import ivosw_bench.compat as compat  # noqa: E402
from ivosw_bench.data.davis_layout import open_dataset, registered, resolve  # noqa: E402
from ivosw_bench.files import write_json  # noqa: E402


def linked_dataset(src: Path, sequences: list[str], dst: Path) -> Path:
    """A DAVIS-layout folder holding ``sequences`` of ``src`` as links."""
    for part in ("JPEGImages/480p", "Annotations/480p", "Scribbles"):
        (dst / part).mkdir(parents=True)
        for seq in sequences:
            (dst / part / seq).symlink_to((src / part / seq).resolve())
    meta = open_dataset(src, sequences=sequences, check=False).sequences
    write_json(dst / "sequences.json", {s: meta[s] for s in sequences})
    return dst


def timed_posts(latencies: list[float]):
    """Time every POST to the interaction endpoint (the client's requests.Session.post)."""
    original = requests.Session.post

    def post(self, url, *a, **k):
        t0 = time.perf_counter()
        out = original(self, url, *a, **k)
        if url.endswith("api/evaluation/interaction"):
            latencies.append(time.perf_counter() - t0)
        return out

    requests.Session.post = post


def load(server: ServerProcess, keys: list[str], dataset, root: Path, rounds: int) -> tuple[list[str], list[float]]:
    from davisinteractive.session import DavisInteractiveSession

    sessions, errors = [None] * len(keys), []

    def client(i):
        try:
            with DavisInteractiveSession(host=server.url, user_key=keys[i], davis_root=str(root), subset="test-dev",
                                         max_nb_interactions=rounds, report_save_dir=tempfile.mkdtemp()) as sess:
                sessions[i] = sess.session_key
                play(sess, dataset, lambda seq, t, n: [(t * 37) % n])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(keys))]
    [t.start() for t in threads]
    [t.join() for t in threads]
    if errors:
        raise errors[0]
    return sessions


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="davis16-train")
    ap.add_argument("--sequences", default="bear,boat,car-turn,dance-jump", help="comma-separated, or 'all'")
    ap.add_argument("--clients", default="1,8")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "server_load.json"))
    args = ap.parse_args()
    compat.apply()
    src = resolve(args.dataset)
    seqs = None if args.sequences == "all" else args.sequences.split(",")
    results = []
    latencies: list[float] = []
    timed_posts(latencies)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        served = linked_dataset(src, seqs, tmp / "served") if seqs else src
        dataset = open_dataset(served)
        db = tmp / "bench.sqlite3"
        n_max = max(int(c) for c in args.clients.split(","))
        keys = [add_user(db, f"user{i}") for i in range(n_max)]
        server = ServerProcess(served, db, tmp / "server.log", "--max-interactions", args.rounds).start()
        try:
            with registered(dataset, sorted(dataset.sequences)):
                for n in (int(c) for c in args.clients.split(",")):
                    latencies.clear()
                    t0 = time.perf_counter()
                    sessions = load(server, keys[:n], dataset, served, args.rounds)
                    wall = time.perf_counter() - t0
                    results.append(measure(db, sessions, list(latencies), n, len(dataset.samples(sorted(dataset.sequences))),
                                           args.rounds, wall))
                    print(json.dumps(results[-1]))
        finally:
            server.stop()
    write_json(args.out, {"dataset": args.dataset, "sequences": seqs, "rounds": args.rounds, "runs": results,
                          "machine": platform.platform(), "python": platform.python_version()})
    print(f"wrote {args.out}")


def measure(db: Path, sessions: list[str], latencies: list[float], n: int, samples: int, rounds: int,
            wall: float) -> dict:
    marks = ",".join("?" * len(sessions))
    with sqlite3.connect(db) as con:
        counted = con.execute(f"SELECT COUNT(*) FROM interactions WHERE session IN ({marks})", sessions).fetchone()[0]
        evals = [e for (e,) in con.execute(f"SELECT eval_s FROM interactions WHERE session IN ({marks})", sessions)]
    eval_median = float(np.median(evals))
    pct = np.percentile(latencies, [50, 90, 99])
    return {"clients": n, "interactions_expected": n * samples * rounds, "interactions_counted": counted,
            "wall_s": round(wall, 2), "eval_median_s": round(eval_median, 4),
            "latency_s": dict(zip(("p50", "p90", "p99"), (round(float(v), 4) for v in pct))),
            "latency_over_eval": dict(zip(("p50", "p90", "p99"), (round(float(v / eval_median), 2) for v in pct)))}


if __name__ == "__main__":
    main()
