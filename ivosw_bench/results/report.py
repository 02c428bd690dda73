"""Run folders as the reports read them, and the report files of a set of runs.

A *run folder* holds a ``summary.json`` written by the run store (schema in :func:`load_run`), with
``config.json``, ``rounds.csv`` and davisinteractive's ``report.csv`` beside it. :func:`load_run`
and :func:`load_runs` read them (one-line :class:`ReportError` naming the file on bad input);
:func:`write_report` writes the leaderboard of a set of runs as files (see
:mod:`ivosw_bench.results.leaderboard` for the statistics, :mod:`.board_files` for the files,
:mod:`.board_text`, :mod:`.board_html` and :mod:`.curves` for the formats) and :func:`rich_table`
gives it for the terminal.

Units are kept as in ``summary.json``: ``round_auc`` is in percent (0..100), every other
J&F-like value (``time_auc``, ``jf_at_60s``, ``final_jf``, ``per_round_jf``) is a fraction
(0..1). CSV files keep these units; tables and plots show J&F values as percentages.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Sequence

__all__ = ["ReportError", "load_run", "load_runs", "write_report", "rich_table", "REPORT_FILES"]

SUMMARY_NAME = "summary.json"
CONFIG_NAME = "config.json"

#: Keys a summary must carry (top level) and inside ``metrics``.
REQUIRED_KEYS = ("run_id", "strategy", "backend", "dataset", "setting", "rounds", "seed", "metrics")
REQUIRED_METRICS = ("round_auc", "per_round_jf")

#: what :func:`write_report` writes, by key
REPORT_FILES = {
    "md": "report.md", "csv": "report.csv", "tex": "leaderboard.tex", "html": "leaderboard.html",
    "per_round": "per_round.csv", "per_sequence": "per_sequence.csv", "paired": "paired.csv",
    "png": "curve.png", "svg": "curve.svg",
}


from ..errors import ReportError  # noqa: E402 (defined low, re-exported here)


# --------------------------------------------------------------------------------------
# loading


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def load_run(path: str | Path) -> dict:
    """Load one run from a run folder or a ``summary.json`` path.

    Returns the summary dict with ``"path"`` (the run folder, a :class:`Path`) added and
    a few optional fields defaulted (``complete`` -> True, ``per_sample`` -> [],
    ``n_samples`` -> ``len(per_sample)``). Raises :class:`ReportError` with a one-line
    message naming the path when the file is missing, is not valid JSON, or lacks a
    required key (``run_id, strategy, backend, dataset, setting, rounds, seed, metrics``,
    ``metrics.round_auc``, ``metrics.per_round_jf``).
    """
    p = Path(path)
    if not p.exists():
        raise ReportError(f"{p}: no such run folder or file")
    if p.is_dir():
        folder, file = p, p / SUMMARY_NAME
    else:
        folder, file = p.parent, p
    if not file.is_file():
        if not folder.exists():
            raise ReportError(f"{p}: no such run folder or file")
        if (folder / CONFIG_NAME).is_file():
            raise ReportError(f"{folder}: unfinished run (no {SUMMARY_NAME} yet: no sample finished); "
                              f"continue it with --resume")
        raise ReportError(f"{file}: missing (not a run folder?)")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{file}: cannot read: {_one_line(exc)}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{file}: broken JSON: {_one_line(exc)}") from None
    except RecursionError:
        raise ReportError(f"{file}: broken JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise ReportError(f"{file}: expected a JSON object, got {type(data).__name__}")

    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise ReportError(f"{file}: missing key(s): {', '.join(missing)}")
    metrics = data["metrics"]
    if not isinstance(metrics, dict):
        raise ReportError(f"{file}: 'metrics' must be an object, got {type(metrics).__name__}")
    missing = [f"metrics.{k}" for k in REQUIRED_METRICS if k not in metrics]
    if missing:
        raise ReportError(f"{file}: missing key(s): {', '.join(missing)}")

    for k in ("strategy", "backend", "dataset", "setting"):
        if not isinstance(data[k], str) or not data[k]:
            raise ReportError(f"{file}: '{k}' must be a non-empty string, got {data[k]!r}")
    if not isinstance(data["rounds"], int) or isinstance(data["rounds"], bool) or data["rounds"] < 1:
        raise ReportError(f"{file}: 'rounds' must be a positive integer, got {data['rounds']!r}")
    if data["seed"] is not None and not (isinstance(data["seed"], int) and not isinstance(data["seed"], bool)):
        raise ReportError(f"{file}: 'seed' must be an integer or null, got {data['seed']!r}")
    if metrics["round_auc"] is not None and not _is_num(metrics["round_auc"]):
        raise ReportError(f"{file}: 'metrics.round_auc' must be a number or null")
    prj = metrics["per_round_jf"]
    if prj is None:
        prj = metrics["per_round_jf"] = []
    if not isinstance(prj, list) or not all(v is None or _is_num(v) for v in prj):
        raise ReportError(f"{file}: 'metrics.per_round_jf' must be a list of numbers")
    per_sample = data.get("per_sample")
    if per_sample is None:
        per_sample = data["per_sample"] = []
    if not isinstance(per_sample, list) or not all(isinstance(s, dict) for s in per_sample):
        raise ReportError(f"{file}: 'per_sample' must be a list of objects")
    for i, s in enumerate(per_sample):
        if not isinstance(s.get("sequence"), str) or not _is_int(s.get("scribble_idx")):
            raise ReportError(f"{file}: per_sample[{i}] needs a 'sequence' and an integer 'scribble_idx'")
    if "seconds_per_round" in metrics and not isinstance(metrics["seconds_per_round"], (dict, type(None))):
        raise ReportError(f"{file}: 'metrics.seconds_per_round' must be an object")

    data.setdefault("complete", True)
    if data.get("n_samples") is None:
        data["n_samples"] = len(per_sample)
    data["path"] = folder
    data["config"] = _load_config(folder)
    return data


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _load_config(folder: Path) -> dict | None:
    """The run's ``config.json`` (None when the folder has none: older or hand-made runs)."""
    file = folder / CONFIG_NAME
    if not file.is_file():
        return None
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{file}: cannot read: {_one_line(exc)}") from None
    if not isinstance(config, dict):
        raise ReportError(f"{file}: expected a JSON object, got {type(config).__name__}")
    return config


def load_runs(paths: Iterable[str | Path]) -> list[dict]:
    """Load several runs. A folder that is not itself a run (no ``summary.json``, no
    ``config.json``) is treated as a results root: every run folder directly below it is loaded
    (sorted by name). Raises :class:`ReportError` on the first bad or unfinished run, or if a
    root holds no run."""
    runs: list[dict] = []
    for path in paths:
        p = Path(path)
        if p.is_dir() and not (p / SUMMARY_NAME).exists() and not (p / CONFIG_NAME).exists():
            found = sorted({f.parent for pat in (SUMMARY_NAME, CONFIG_NAME) for f in p.glob(f"*/{pat}")})
            if not found:
                raise ReportError(f"{p}: not a run folder (no {SUMMARY_NAME} in it or in its subfolders)")
            runs.extend(load_run(f) for f in found)
        else:
            runs.append(load_run(p))
    return runs


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


# --------------------------------------------------------------------------------------
# outputs


def rich_table(runs: Sequence[dict], title: str | None = None, **options):
    """The leaderboard of ``runs`` for a ``rich`` console (one table per group). ``options`` go to
    :func:`ivosw_bench.results.leaderboard.build_leaderboard`."""
    from .board_text import rich_tables
    from .leaderboard import build_leaderboard

    return rich_tables(build_leaderboard(runs, **options), title=title)


def write_report(runs: Sequence[dict], out_dir: str | Path, title: str | None = None,
                 **options) -> dict[str, Path]:
    """Write the leaderboard of ``runs`` into ``out_dir`` (created if needed); returns the paths
    keyed as in :data:`REPORT_FILES`. ``options`` go to
    :func:`~ivosw_bench.results.leaderboard.build_leaderboard` (``reference``, ``intersect``,
    ``rounds``, ``n_boot``, ``seed``, ``level``)."""
    from .leaderboard import build_leaderboard
    from .board_files import write_board

    return write_board(build_leaderboard(runs, **options), out_dir, title=title)


