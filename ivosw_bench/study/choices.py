"""``choices.csv``: one row per human choice, appended (and fsynced) the moment it is made.

Columns: participant, sequence, scribble_idx, round, frame, seconds, paused_seconds, clock_start,
ui, state, recorded_at.

- ``round`` is the round t whose segmentation the person looked at; the chosen ``frame`` is the
  ``recommended_frame`` of that round in rounds.csv and is scribbled by the robot in round t + 1.
- ``seconds`` runs from the moment the page reported its thumbnails loaded (``clock_start`` =
  ``page_ready``; ``shown`` when no page reported, ``prompt`` for the terminal UI) to the choice,
  minus ``paused_seconds``.
- ``state`` is a hash of what the person saw (sequence, round, annotation history, labels). On
  resume, a choice whose key and state match is replayed instead of asked again; when a key occurs
  more than once (a sample restarted with a different state), the last row is the one that counts.
"""
from __future__ import annotations

import csv
import json
import math
import os
import statistics
import threading
import time
from pathlib import Path
from typing import Iterable

from ..files import atomic_open, atomic_write

CHOICES_NAME = "choices.csv"
COLUMNS = ["participant", "sequence", "scribble_idx", "round", "frame", "seconds", "paused_seconds",
           "clock_start", "ui", "state", "recorded_at"]
TABLE_COLUMNS = ["label", "kind", "participant", "runs", "n_choices", "mean_s", "median_s", "min_s",
                 "max_s", "mean_paused_s", "round_auc", "source", "run_ids"]


def _parse(row: dict) -> dict | None:
    try:
        out = dict(row)
        out["scribble_idx"] = int(row["scribble_idx"])
        out["round"] = int(row["round"])
        out["frame"] = int(row["frame"])
        out["seconds"] = float(row["seconds"])
        out["paused_seconds"] = float(row.get("paused_seconds") or 0.0)
        return out
    except (KeyError, TypeError, ValueError):
        return None  # a line cut by a kill: ignored


def read_choices(path: str | Path) -> list[dict]:
    """All well-formed rows of a ``choices.csv`` (a run folder or the file), in file order."""
    p = Path(path)
    if p.is_dir():
        p = p / CHOICES_NAME
    if not p.is_file():
        return []
    with p.open(newline="", encoding="utf-8") as fh:
        return [r for r in (_parse(row) for row in csv.DictReader(fh)) if r is not None]


def latest_choices(rows: Iterable[dict]) -> list[dict]:
    """One row per (sequence, scribble_idx, round): the last one written."""
    last: dict[tuple, dict] = {}
    for r in rows:
        last[(r["sequence"], r["scribble_idx"], r["round"])] = r
    return list(last.values())


class ChoiceLog:
    """Appends choices to ``<run_dir>/choices.csv`` and finds earlier ones for replay on resume."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / CHOICES_NAME
        self._lock = threading.Lock()
        self.rows = read_choices(self.path)

    def lookup(self, sequence: str, scribble_idx: int, t: int, state: str) -> dict | None:
        """The last choice made for this sample and round, if the person saw the same state."""
        for r in reversed(self.rows):
            if (r["sequence"], r["scribble_idx"], r["round"]) == (sequence, scribble_idx, t):
                return r if r.get("state") == state else None
        return None

    def append(self, row: dict) -> None:
        row = {**row, "recorded_at": row.get("recorded_at") or time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            new = not self.path.exists() or self.path.stat().st_size == 0
            cut = False
            if not new:  # a line cut by a kill must not swallow the next row
                with self.path.open("rb") as fb:
                    fb.seek(-1, os.SEEK_END)
                    cut = fb.read(1) != b"\n"
            with self.path.open("a", newline="", encoding="utf-8") as fh:
                w = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
                if new:
                    w.writeheader()
                elif cut:
                    fh.write("\n")
                w.writerow(row)
                fh.flush()
                os.fsync(fh.fileno())
            parsed = _parse({k: str(v) for k, v in row.items()})
            if parsed is not None:
                self.rows.append(parsed)


# ---------------------------------------------------------------------------------------------
# seconds per choice: humans next to strategies

def _run_dirs(paths: Iterable[str | Path]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if (p / "config.json").is_file():
            out.append(p)
        elif p.is_dir():
            out.extend(sorted(q.parent for q in p.glob("*/config.json")))
        else:
            raise FileNotFoundError(f"{p}: not a run folder (no config.json) nor a folder of runs")
    return out


def _stats(xs: list[float]) -> dict:
    xs = [x for x in xs if math.isfinite(x)]
    if not xs:
        return {"n_choices": 0, "mean_s": None, "median_s": None, "min_s": None, "max_s": None}
    return {"n_choices": len(xs), "mean_s": statistics.fmean(xs), "median_s": statistics.median(xs),
            "min_s": min(xs), "max_s": max(xs)}


def _round_auc(run_dir: Path) -> float | None:
    try:
        v = json.loads((run_dir / "summary.json").read_text())["metrics"]["round_auc"]
        return float(v) if v is not None and math.isfinite(float(v)) else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def choice_time_table(run_dirs: Iterable[str | Path]) -> list[dict]:
    """Seconds per frame choice, one row per strategy label (humans: one per participant).

    ``run_dirs``: run folders, or folders of run folders. A human run (strategy ``human:<name>`` or
    a ``choices.csv`` present) contributes its per-choice seconds from choices.csv (page ready ->
    click, pauses excluded; the last row per sample and round). Any other run contributes the
    ``strategy_s`` column of rounds.csv (the strategy's recommendation latency). Rows: label, kind
    (human | strategy), participant, runs, n_choices, mean_s, median_s, min_s, max_s,
    mean_paused_s (humans), round_auc (mean over the runs' summary.json), source, run_ids.
    Humans first, then strategies, each sorted by label.
    """
    import pandas as pd

    groups: dict[str, dict] = {}
    for d in _run_dirs(run_dirs):
        cfg = json.loads((d / "config.json").read_text())
        label = str(cfg.get("strategy", d.name))
        human = label.startswith("human") or (d / CHOICES_NAME).is_file()
        g = groups.setdefault(label, {"kind": "human" if human else "strategy", "secs": [], "paused": [],
                                      "aucs": [], "run_ids": []})
        g["run_ids"].append(str(cfg.get("run_id", d.name)))
        auc = _round_auc(d)
        if auc is not None:
            g["aucs"].append(auc)
        if human:
            rows = latest_choices(read_choices(d))
            g["secs"] += [r["seconds"] for r in rows]
            g["paused"] += [r["paused_seconds"] for r in rows]
        elif (d / "rounds.csv").is_file():
            df = pd.read_csv(d / "rounds.csv")
            if "strategy_s" in df:
                g["secs"] += [float(x) for x in df["strategy_s"].dropna()]
    out = []
    for label, g in groups.items():
        row = {"label": label, "kind": g["kind"],
               "participant": label.split(":", 1)[1] if g["kind"] == "human" and ":" in label else "",
               "runs": len(g["run_ids"]), **_stats(g["secs"]),
               "mean_paused_s": statistics.fmean(g["paused"]) if g["paused"] else None,
               "round_auc": statistics.fmean(g["aucs"]) if g["aucs"] else None,
               "source": "choices.csv (page ready -> click)" if g["kind"] == "human"
               else "rounds.csv strategy_s",
               "run_ids": ",".join(g["run_ids"])}
        out.append(row)
    out.sort(key=lambda r: (r["kind"] != "human", r["label"]))
    return out


def _fmt(v, nd=2) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.{nd}f}" if abs(v) >= 0.01 or v == 0 else f"{v:.2e}"
    return str(v)


def table_markdown(rows: list[dict]) -> str:
    head = ["Who", "Kind", "Runs", "Choices", "Mean s/choice", "Median s/choice", "Round-AUC"]
    lines = ["| " + " | ".join(head) + " |", "|:---|:---|" + "---:|" * (len(head) - 2)]
    for r in rows:
        cells = [r["label"].replace("|", "\\|"), r["kind"], str(r["runs"]), str(r["n_choices"]),
                 _fmt(r["mean_s"]), _fmt(r["median_s"]), _fmt(r["round_auc"])]
        lines.append("| " + " | ".join(cells) + " |")
    note = ("Humans: seconds from the page reporting its thumbnails loaded to the click, pauses "
            "excluded (choices.csv). Strategies: recommendation latency, the `strategy_s` column of "
            "rounds.csv. Round-AUC in % (mean over runs).")
    return "# Seconds per frame choice\n\n" + "\n".join(lines) + "\n\n" + note + "\n"


def write_choice_time_table(run_dirs: Iterable[str | Path], out_dir: str | Path) -> dict[str, Path]:
    """Write ``choice_times.csv`` and ``choice_times.md`` into ``out_dir``; return their paths."""
    rows = choice_time_table(run_dirs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "choice_times.csv", "md": out / "choice_times.md"}
    with atomic_open(paths["csv"], "w") as fh:
        w = csv.DictWriter(fh, fieldnames=TABLE_COLUMNS, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in TABLE_COLUMNS})
    atomic_write(paths["md"], table_markdown(rows))
    return paths
