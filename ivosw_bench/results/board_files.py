"""The leaderboard as a folder of files (every file written atomically):

``report.md`` (Markdown tables, per-round J&F, curve, runs), ``report.csv`` (one row per group and
strategy, :data:`~.board_text.CSV_COLUMNS`), ``leaderboard.tex`` (booktabs), ``leaderboard.html``
(self-contained page), ``per_round.csv`` (J&F after each round with its CI), ``per_sequence.csv``
(every run's per-sample values on the compared samples), ``paired.csv`` (per-sample round-AUC of
each strategy and the reference), ``curve.png`` / ``curve.svg``.
"""
from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..files import atomic_write
from .board_html import METRIC_NOTES, html_page
from .board_text import (CSV_COLUMNS, csv_rows, display_label, latex, md_group_table, md_per_round,
                         group_sentence, stats_sentence)
from .curves import write_curves
from .leaderboard import Leaderboard
from .report import REPORT_FILES
from .stats import sample_metric

_GROUP_COLUMNS = ("dataset", "backend", "setting", "rounds")


def _csv_value(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if not math.isfinite(v) else repr(v)
    return v


def csv_text(columns: Sequence[str], rows: Iterable[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([_csv_value(r.get(c)) for c in columns])
    return buf.getvalue()


def _group_fields(g) -> dict:
    return {k: getattr(g, k) for k in _GROUP_COLUMNS}


PER_ROUND_COLUMNS = (*_GROUP_COLUMNS, "label", "round", "jf", "jf_low", "jf_high", "n_samples", "n_seeds")


def per_round_rows(board: Leaderboard) -> list[dict]:
    return [{**_group_fields(g), "label": e.label, "round": t, "jf": est.mean, "jf_low": est.low,
             "jf_high": est.high, "n_samples": len(g.samples), "n_seeds": len(e.runs)}
            for g in board.groups for e in g.entries for t, est in enumerate(e.per_round, 1)]


def per_sequence_rows(board: Leaderboard) -> tuple[list[str], list[dict]]:
    T = max(g.rounds for g in board.groups)
    jf_cols = [f"jf_round{t}" for t in range(1, T + 1)]
    cols = [*_GROUP_COLUMNS, "label", "seed", "run_id", "sequence", "scribble_idx", "n_frames", "n_objects",
            "round_auc", "final_jf", *jf_cols]
    rows = []
    for g in board.groups:
        keep = set(g.samples)
        for e in g.entries:
            for r in e.runs:
                samples = sorted((s for s in r["per_sample"] if (s["sequence"], s["scribble_idx"]) in keep),
                                 key=lambda s: (s["sequence"], s["scribble_idx"]))
                for s in samples:
                    row = {**_group_fields(g), "label": e.label, "seed": r["seed"], "run_id": r["run_id"]}
                    row.update({k: s.get(k) for k in ("sequence", "scribble_idx", "n_frames", "n_objects")})
                    row.update({m: sample_metric(s, m) for m in ("round_auc", "final_jf", *jf_cols)})
                    rows.append(row)
    return cols, rows


PAIRED_COLUMNS = (*_GROUP_COLUMNS, "label", "reference", "sequence", "scribble_idx", "round_auc",
                  "reference_round_auc", "diff")


def paired_rows(board: Leaderboard) -> list[dict]:
    rows = []
    for g in board.groups:
        ref = g.reference
        for e in (x for x in g.entries if ref is not None and x is not ref):
            for k in g.samples:
                a, b = e.per_sample[k], ref.per_sample[k]
                rows.append({**_group_fields(g), "label": e.label, "reference": ref.label, "sequence": k[0],
                             "scribble_idx": k[1], "round_auc": a, "reference_round_auc": b, "diff": a - b})
    return rows


def markdown(board: Leaderboard, page_dir: Path, title: str | None = None) -> str:
    n_runs = sum(len(e.runs) for g in board.groups for e in g.entries)
    out = [f"# {title or 'ivosw-bench leaderboard'}", "",
           f"{n_runs} run(s) in {len(board.groups)} group(s). {stats_sentence(board)}", ""]
    out += [f"> warning: {w}" for w in board.warnings] + ([""] if board.warnings else [])
    for g in board.groups:
        out += [f"## {g.title}", "", group_sentence(g), "", md_group_table(g), ""]
        spread = [f"{e.label} {e.seed_std:.2f} ({len(e.runs)} seeds)" for e in g.entries if e.seed_std is not None]
        if spread:
            out += [f"Round-AUC standard deviation over seeds (ddof=1): {'; '.join(spread)}.", ""]
        out += list(g.notes) + ([""] if g.notes else [])
        out += ["### J&F per round (%, mean over samples [95% CI])", "", md_per_round(g), ""]
    out += ["![Per-round J&F with 95% CI bands](curve.png)", "", "## Metrics", ""]
    out += [f"- {n}" for n in METRIC_NOTES] + ["", "## Runs", ""]
    for g in board.groups:
        for e in g.entries:
            for r in e.runs:
                seed = "" if r["seed"] is None else f" seed {r['seed']}"
                rel = Path(os.path.relpath(Path(r["path"]), page_dir)).as_posix()
                out.append(f"- {display_label(e)}{seed}: `{r['run_id']}` ({rel})")
    return "\n".join(out) + "\n"


def write_board(board: Leaderboard, out_dir: str | Path, title: str | None = None) -> dict[str, Path]:
    """Write every file of the leaderboard into ``out_dir`` (created); returns paths by kind."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seq_cols, seq_rows = per_sequence_rows(board)
    texts = {
        "md": markdown(board, out, title),
        "csv": csv_text(CSV_COLUMNS, csv_rows(board)),
        "tex": latex(board),
        "html": html_page(board, out, title),
        "per_round": csv_text(PER_ROUND_COLUMNS, per_round_rows(board)),
        "per_sequence": csv_text(seq_cols, seq_rows),
        "paired": csv_text(PAIRED_COLUMNS, paired_rows(board)),
    }
    paths = {kind: atomic_write(out / REPORT_FILES[kind], text) for kind, text in texts.items()}
    paths["png"], paths["svg"] = write_curves(board, out, title)
    return paths
