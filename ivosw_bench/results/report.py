"""Reports over finished (or partial) benchmark runs.

A *run folder* holds a ``summary.json`` written by the run store (see the schema in
:func:`load_run`). This module loads such folders, groups runs that differ only in their
seed, and renders a leaderboard as a ``rich`` table or as a folder of files
(``report.md``, ``report.csv``, ``per_round.csv``, ``per_sequence.csv``, ``curve.png``,
``curve.svg``).

Units are kept as in ``summary.json``: ``round_auc`` is in percent (0..100), every other
J&F-like value (``time_auc``, ``jf_at_60s``, ``final_jf``, ``per_round_jf``, ``jf_round1``)
is a fraction (0..1). The CSV files keep these units; the Markdown/rich tables and the
plot show J&F values as percentages.

Everything written is deterministic: rows are ordered by round-AUC (ties by label), no
timestamps are added and the SVG gets fixed element ids and no date.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..errors import ReportError

__all__ = [
    "ReportError",
    "RunGroup",
    "load_run",
    "load_runs",
    "label",
    "labels",
    "group_seeds",
    "summary_rows",
    "summary_columns",
    "rich_table",
    "write_report",
    "METRIC_DEFINITIONS",
]

SUMMARY_NAME = "summary.json"

#: Keys a summary must carry (top level) and inside ``metrics``.
REQUIRED_KEYS = ("run_id", "strategy", "backend", "dataset", "setting", "rounds", "seed", "metrics")
REQUIRED_METRICS = ("round_auc", "per_round_jf")

#: Config fields that may appear in a label when they differ among the runs shown.
_LABEL_FIELDS = ("backend", "dataset", "setting", "rounds")

#: The columns of :func:`summary_rows`, in order.
summary_columns = (
    "label", "strategy", "backend", "dataset", "setting", "rounds", "n_samples", "n_seeds",
    "round_auc", "round_auc_std", "time_auc", "jf_at_60s", "jf_round1", "final_jf",
    "s_per_round", "backend_s", "quality_s", "strategy_s", "eval_s",
    "seeds", "complete",
)

METRIC_DEFINITIONS = (
    "**Round-AUC** (0-100): area under the per-round mean J&F curve with J&F = 0 at round 0, "
    "`trapz([0, JF_1..JF_T], dx=1) / T * 100` (the paper's metric; depends only on rounds).",
    "**Time-AUC** (shown in %): davisinteractive's `summarize_report` AUC of J&F over "
    "annotation time; **J&F@60s**: davisinteractive's J&F at the 60 s time threshold.",
    "**J&F R1 / Final J&F**: per-round mean J&F after round 1 / after the last round T; "
    "**s/round**: mean wall-clock seconds per round (backend + quality + strategy + eval).",
)

_CAPTION = (
    "Round-AUC = area under per-round J&F (0 at round 0) x100, by rounds; "
    "Time-AUC = davisinteractive AUC of J&F over annotation time."
)



# --------------------------------------------------------------------------------------
# loading


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _num_or_none(x: Any) -> float | None:
    """A finite float, or None for null / NaN / inf / non-numbers."""
    if _is_num(x) and math.isfinite(float(x)):
        return float(x)
    return None


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
    if p.is_dir():
        folder, file = p, p / SUMMARY_NAME
    else:
        folder, file = p.parent, p
    if not file.is_file():
        if not folder.exists():
            raise ReportError(f"{p}: no such run folder or file")
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
    if "seconds_per_round" in metrics and not isinstance(metrics["seconds_per_round"], (dict, type(None))):
        raise ReportError(f"{file}: 'metrics.seconds_per_round' must be an object")

    data.setdefault("complete", True)
    if data.get("n_samples") is None:
        data["n_samples"] = len(per_sample)
    data["path"] = folder
    return data


def load_runs(paths: Iterable[str | Path]) -> list[dict]:
    """Load several runs. A path that is a folder without ``summary.json`` is treated as a
    results root: every ``*/summary.json`` directly below it is loaded (sorted by name).
    Raises :class:`ReportError` on the first bad run, or if a root holds no run."""
    runs: list[dict] = []
    for path in paths:
        p = Path(path)
        if p.is_dir() and not (p / SUMMARY_NAME).exists():
            found = sorted(p.glob(f"*/{SUMMARY_NAME}"))
            if not found:
                raise ReportError(f"{p}: no {SUMMARY_NAME} in it or in its subfolders")
            runs.extend(load_run(f) for f in found)
        else:
            runs.append(load_run(p))
    return runs


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


# --------------------------------------------------------------------------------------
# labels and grouping


def _config_key(run: dict) -> tuple:
    return tuple(run[k] for k in ("strategy", "backend", "dataset", "setting", "rounds"))


def _label_parts(run: dict, fields: Sequence[str]) -> list[str]:
    return [f"T={run['rounds']}" if f == "rounds" else str(run[f]) for f in fields]


def _fmt_label(strategy: str, parts: list[str]) -> str:
    return f"{strategy} ({', '.join(parts)})" if parts else strategy


def _differing(runs: Sequence[dict]) -> list[str]:
    return [f for f in _LABEL_FIELDS if len({r[f] for r in runs}) > 1]


def labels(runs: Sequence[dict]) -> list[str]:
    """One label per run, in order: the strategy, plus backend/dataset/setting/``T=rounds``
    only where these differ among ``runs``, plus ``seed N`` only where still ambiguous,
    plus the run_id as a last resort (the same config and seed run twice)."""
    runs = list(runs)
    fields = _differing(runs)
    base = [_label_parts(r, fields) for r in runs]
    out = [_fmt_label(r["strategy"], b) for r, b in zip(runs, base)]
    dup = {x for x in out if out.count(x) > 1}
    out = [
        _fmt_label(r["strategy"], b + [f"seed {r['seed']}"]) if o in dup else o
        for r, b, o in zip(runs, base, out)
    ]
    dup = {x for x in out if out.count(x) > 1}
    return [f"{o} [{r['run_id']}]" if o in dup else o for r, o in zip(runs, out)]


def label(run: dict, runs: Sequence[dict] | None = None) -> str:
    """Label of ``run`` among ``runs`` (see :func:`labels`); alone it is just the strategy."""
    if not runs:
        return labels([run])[0]
    for i, r in enumerate(runs):
        if r is run:
            return labels(runs)[i]
    raise ValueError("run is not one of runs")


@dataclass
class RunGroup:
    """Runs that share strategy, backend, dataset, setting and rounds (seeds differ).

    ``per_round_*`` are per round 1..T (fractions); ``per_round_std`` is None for a
    single-seed group. Statistics over seeds ignore runs lacking a value (null metrics
    of incomplete runs); std uses ddof=1 and needs at least 2 values.
    """

    label: str
    runs: list[dict]
    strategy: str = ""
    backend: str = ""
    dataset: str = ""
    setting: str = ""
    rounds: int = 0
    stats: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    per_round_mean: list[float] = field(default_factory=list)
    per_round_std: list[float] | None = None
    per_round_min: list[float] = field(default_factory=list)
    per_round_max: list[float] = field(default_factory=list)

    @property
    def n_seeds(self) -> int:
        return len(self.runs)

    @property
    def seeds(self) -> list:
        return [r["seed"] for r in self.runs]

    @property
    def complete(self) -> bool:
        return all(bool(r.get("complete", True)) for r in self.runs)

    def mean(self, metric: str) -> float | None:
        return self.stats.get(metric, (None, None))[0]

    def std(self, metric: str) -> float | None:
        return self.stats.get(metric, (None, None))[1]


def _mean_std(values: Iterable[Any]) -> tuple[float | None, float | None]:
    vals = [v for v in (_num_or_none(x) for x in values) if v is not None]
    if not vals:
        return None, None
    m = math.fsum(vals) / len(vals)
    if len(vals) < 2:
        return m, None
    var = math.fsum((v - m) ** 2 for v in vals) / (len(vals) - 1)
    return m, math.sqrt(var)


def _run_metric(run: dict, name: str) -> float | None:
    m = run["metrics"]
    prj = m.get("per_round_jf") or []
    if name == "jf_round1":
        return _num_or_none(prj[0]) if prj else None
    if name == "final_jf":
        v = _num_or_none(m.get("final_jf"))
        if v is None and prj and len(prj) == run["rounds"]:
            v = _num_or_none(prj[-1])
        return v
    if name.startswith("sec_"):
        spr = m.get("seconds_per_round") or {}
        return _num_or_none(spr.get(name[4:]))
    return _num_or_none(m.get(name))


_GROUP_METRICS = (
    "round_auc", "time_auc", "jf_at_60s", "jf_round1", "final_jf",
    "sec_total", "sec_backend", "sec_quality", "sec_strategy", "sec_eval",
)


def _build_group(lab: str, runs: list[dict]) -> RunGroup:
    r0 = runs[0]
    g = RunGroup(label=lab, runs=runs, strategy=r0["strategy"], backend=r0["backend"],
                 dataset=r0["dataset"], setting=r0["setting"], rounds=r0["rounds"])
    g.stats = {k: _mean_std(_run_metric(r, k) for r in runs) for k in _GROUP_METRICS}
    n_rounds = max((len(r["metrics"]["per_round_jf"]) for r in runs), default=0)
    means, stds, mins, maxs = [], [], [], []
    for t in range(n_rounds):
        col = [_num_or_none(r["metrics"]["per_round_jf"][t])
               for r in runs if t < len(r["metrics"]["per_round_jf"])]
        col = [v for v in col if v is not None]
        m, s = _mean_std(col)
        means.append(math.nan if m is None else m)
        stds.append(math.nan if s is None else s)
        mins.append(min(col) if col else math.nan)
        maxs.append(max(col) if col else math.nan)
    g.per_round_mean, g.per_round_min, g.per_round_max = means, mins, maxs
    g.per_round_std = stds if len(runs) >= 2 else None
    return g


def _sort_key(g: RunGroup) -> tuple:
    auc = g.mean("round_auc")
    return (auc is None, -(auc or 0.0), g.label)


def group_seeds(runs: Sequence[dict], group: bool = True) -> list[RunGroup]:
    """Group runs that differ only in their seed, sorted by mean round-AUC (descending,
    missing last, ties by label). Seeds within a group are in ascending order.

    With ``group=False`` every run is its own group (labels then carry ``seed N`` where
    needed). Group labels name the strategy plus the config fields that differ among
    ``runs``. A config run twice with the same seed lands twice in its group (counted
    in ``n_seeds``).
    """
    runs = list(runs)
    if not runs:
        return []
    if not group:
        return sorted((_build_group(lab, [r]) for lab, r in zip(labels(runs), runs)), key=_sort_key)
    buckets: dict[tuple, list[dict]] = {}
    for r in runs:
        buckets.setdefault(_config_key(r), []).append(r)
    fields = _differing(runs)
    out = []
    for members in buckets.values():
        members.sort(key=lambda r: (r["seed"] is None, r["seed"] if r["seed"] is not None else 0,
                                    str(r["run_id"])))
        r0 = members[0]
        out.append(_build_group(_fmt_label(r0["strategy"], _label_parts(r0, fields)), members))
    return sorted(out, key=_sort_key)


def _as_groups(runs: Sequence[dict] | Sequence[RunGroup], group: bool) -> list[RunGroup]:
    runs = list(runs)
    if runs and all(isinstance(r, RunGroup) for r in runs):
        return sorted(runs, key=_sort_key)  # type: ignore[arg-type]
    return group_seeds(runs, group=group)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# tables


def summary_rows(runs: Sequence[dict], group: bool = True) -> list[dict]:
    """One row per seed group (or per run with ``group=False``), best round-AUC first.

    Values are means over seeds in the units of ``summary.json`` (``round_auc`` in %,
    J&F fractions 0..1, seconds per round); ``round_auc_std`` is the std over seeds
    (ddof=1) or None for a single seed. ``n_samples`` is the per-run sample count (the
    smallest when the seeds disagree, e.g. an incomplete run). Extra columns: ``seeds``
    (comma-separated) and ``complete`` (all runs complete).
    """
    rows = []
    for g in _as_groups(runs, group):
        rows.append({
            "label": g.label,
            "strategy": g.strategy,
            "backend": g.backend,
            "dataset": g.dataset,
            "setting": g.setting,
            "rounds": g.rounds,
            "n_samples": min(int(r.get("n_samples") or 0) for r in g.runs),
            "n_seeds": g.n_seeds,
            "round_auc": g.mean("round_auc"),
            "round_auc_std": g.std("round_auc"),
            "time_auc": g.mean("time_auc"),
            "jf_at_60s": g.mean("jf_at_60s"),
            "jf_round1": g.mean("jf_round1"),
            "final_jf": g.mean("final_jf"),
            "s_per_round": g.mean("sec_total"),
            "backend_s": g.mean("sec_backend"),
            "quality_s": g.mean("sec_quality"),
            "strategy_s": g.mean("sec_strategy"),
            "eval_s": g.mean("sec_eval"),
            "seeds": ",".join("" if s is None else str(s) for s in g.seeds),
            "complete": g.complete,
        })
    return rows


def _pct(x: float | None, nd: int = 1) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{100.0 * x:.{nd}f}"


def _fmt_auc(g: RunGroup) -> str:
    m, s = g.stats["round_auc"]
    if m is None:
        return "—"
    return f"{m:.2f} ± {s:.2f}" if s is not None else f"{m:.2f}"


def _fmt_s(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def _display_label(g: RunGroup) -> str:
    return g.label if g.complete else f"{g.label} *"


def _samples_cell(g: RunGroup) -> str:
    n = min(int(r.get("n_samples") or 0) for r in g.runs)
    totals = [r.get("n_samples_total") for r in g.runs]
    if all(isinstance(t, int) for t in totals) and min(totals) != n:  # type: ignore[type-var]
        return f"{n}/{min(totals)}"  # type: ignore[type-var]
    return str(n)


_TABLE_HEADERS = ("#", "Run", "Seeds", "Samples", "T", "Round-AUC", "Time-AUC %",
                  "J&F@60s %", "J&F R1 %", "Final J&F %", "s/round")


def _table_cells(i: int, g: RunGroup) -> list[str]:
    return [
        str(i), _display_label(g), str(g.n_seeds), _samples_cell(g), str(g.rounds),
        _fmt_auc(g), _pct(g.mean("time_auc")), _pct(g.mean("jf_at_60s")),
        _pct(g.mean("jf_round1")), _pct(g.mean("final_jf")), _fmt_s(g.mean("sec_total")),
    ]


def rich_table(runs: Sequence[dict], title: str | None = None, group: bool = True):
    """A ``rich.table.Table`` leaderboard (best round-AUC first). Round-AUC is shown as
    ``mean ± std`` over seeds for groups, J&F values in %, seconds with 2 decimals;
    ``*`` marks groups holding an incomplete run."""
    from rich.table import Table

    groups = _as_groups(runs, group)
    caption = _CAPTION
    if any(not g.complete for g in groups):
        caption += " * = incomplete run (partial samples)."
    if any(g.n_seeds > 1 for g in groups):
        caption += " ± = std over seeds (ddof=1)."
    table = Table(title=title, caption=caption)
    for h in _TABLE_HEADERS:
        justify = "left" if h == "Run" else "right"
        table.add_column(h, justify=justify, no_wrap=(h == "Round-AUC"))
    for i, g in enumerate(groups, 1):
        table.add_row(*_table_cells(i, g))
    return table


def _md_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("|", "\\|")


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: Sequence[int] = (1,)) -> str:
    lines = ["| " + " | ".join(_md_escape(h) for h in headers) + " |",
             "|" + "|".join(":---" if j in left else "---:" for j in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(_md_escape(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# files


def _csv_value(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if not math.isfinite(v) else repr(v)
    return v


def _write_csv(path: Path, columns: Sequence[str], rows: Iterable[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(columns)
        for r in rows:
            w.writerow([_csv_value(r.get(c)) for c in columns])


_BAND = "min–max over seeds"


def _plot(groups: list[RunGroup], out_dir: Path, title: str | None) -> tuple[Path, Path]:
    # Figure + savefig without pyplot: no global backend switch, nothing to leak; PNG is
    # rendered by Agg, SVG by the svg backend.
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    n = len(groups)
    outside = n > 6
    width = 10.5 if outside else 8.0
    markers = "osD^v<>pPX*h"
    linestyles = ("-", "--", ":", "-.")
    with matplotlib.rc_context({"svg.hashsalt": "ivosw-bench", "font.size": 10}):
        fig = Figure(figsize=(width, 5.0), dpi=150, layout="constrained")
        ax = fig.add_subplot()
        colors = matplotlib.colormaps["tab10"].colors
        any_band = False
        max_t = 1
        for i, g in enumerate(groups):
            y = [100.0 * v for v in g.per_round_mean]
            if not y:
                continue
            x = list(range(1, len(y) + 1))
            max_t = max(max_t, len(y))
            color = colors[i % len(colors)]
            auc = _fmt_auc(g)
            seeds = f", {g.n_seeds} seeds" if g.n_seeds > 1 else ""
            inc = ", incomplete" if not g.complete else ""
            ax.plot(x, y, marker=markers[i % len(markers)], linestyle=linestyles[(i // 10) % 4],
                    color=color, linewidth=1.8, markersize=5,
                    label=f"{g.label}{seeds}{inc} — AUC {auc}", zorder=3)
            if g.n_seeds > 1:
                lo = [100.0 * v for v in g.per_round_min]
                hi = [100.0 * v for v in g.per_round_max]
                ax.fill_between(x, lo, hi, color=color, alpha=0.15, linewidth=0, zorder=2)
                any_band = True
        ax.set_xlabel("interaction round")
        ax.set_ylabel("mean J&F (%)")
        ax.set_xlim(0.7, max_t + 0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.35)
        ax.set_title(title or "Per-round J&F (round-AUC in legend)")
        handles, labs = ax.get_legend_handles_labels()
        if any_band:
            from matplotlib.patches import Patch

            handles.append(Patch(facecolor="0.5", alpha=0.3, linewidth=0))
            labs.append(f"shaded: {_BAND}")
        if handles:
            if outside:
                fig.legend(handles, labs, loc="outside right upper", fontsize=8, frameon=False)
            else:
                ax.legend(handles, labs, loc="best", fontsize=8, framealpha=0.9)
        png, svg = out_dir / "curve.png", out_dir / "curve.svg"
        fig.savefig(png, dpi=150, format="png")
        fig.savefig(svg, format="svg", metadata={"Date": None})
    return png, svg


def _markdown(groups: list[RunGroup], title: str | None) -> str:
    out = [f"# {title or 'ivosw-bench report'}", ""]
    runs = [r for g in groups for r in g.runs]
    cfg = {f: sorted({str(r[f]) for r in runs}) for f in ("backend", "dataset", "setting")}
    out.append(
        f"{len(runs)} run(s) in {len(groups)} group(s); "
        + "; ".join(f"{k}: {', '.join(v)}" for k, v in cfg.items()) + "."
    )
    out += ["", "## Leaderboard", ""]
    out.append(_md_table(_TABLE_HEADERS, [_table_cells(i, g) for i, g in enumerate(groups, 1)]))
    notes = []
    if any(g.n_seeds > 1 for g in groups):
        notes.append("Groups are runs differing only in seed: values are means over seeds, "
                     "Round-AUC is `mean ± std` (ddof=1).")
    if any(not g.complete for g in groups):
        notes.append("`*` = a run of the group is incomplete (metrics over finished samples only).")
    if notes:
        out += ["", " ".join(notes)]
    out += ["", "## Metrics", ""]
    out += [f"- {line}" for line in METRIC_DEFINITIONS]
    max_t = max((len(g.per_round_mean) for g in groups), default=0)
    out += ["", "## J&F per round (%, mean over seeds)", ""]
    rows = [[_display_label(g)] + [_pct(g.per_round_mean[t]) if t < len(g.per_round_mean) else ""
                                   for t in range(max_t)] for g in groups]
    out.append(_md_table(["Run"] + [f"R{t + 1}" for t in range(max_t)], rows, left=(0,)))
    band = f" Shaded band: {_BAND}." if any(g.n_seeds > 1 for g in groups) else ""
    out += ["", "## Curve", "", f"![Per-round J&F](curve.png){band}", "", "## Runs", ""]
    for g in groups:
        for r in g.runs:
            seed = "" if r["seed"] is None else f" seed {r['seed']}"
            state = "" if r.get("complete", True) else " (incomplete)"
            out.append(f"- {_md_escape(g.label)}{seed}: `{r['run_id']}`{state}")
    return "\n".join(out) + "\n"


def write_report(runs: Sequence[dict], out_dir: str | Path, title: str | None = None,
                 group: bool = True) -> dict[str, Path]:
    """Write the report files into ``out_dir`` (created if needed) and return their paths
    keyed ``md, csv, per_round, per_sequence, png, svg``.

    ``per_round.csv``: label, round, jf, jf_std, jf_min, jf_max, n_seeds (J&F fractions;
    std empty for one seed). ``per_sequence.csv``: label, seed, run_id, sequence,
    scribble_idx, n_frames, n_objects, round_auc, final_jf, jf_round1..jf_roundT (T = the
    largest rounds among the runs; shorter runs leave the tail empty).
    """
    groups = _as_groups(runs, group)
    if not groups:
        raise ReportError("no runs to report")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "md": out / "report.md",
        "csv": out / "report.csv",
        "per_round": out / "per_round.csv",
        "per_sequence": out / "per_sequence.csv",
    }
    paths["md"].write_text(_markdown(groups, title), encoding="utf-8")
    _write_csv(paths["csv"], summary_columns, summary_rows(groups))

    pr_rows = []
    for g in groups:
        for t, m in enumerate(g.per_round_mean):
            pr_rows.append({"label": g.label, "round": t + 1, "jf": m,
                            "jf_std": g.per_round_std[t] if g.per_round_std else None,
                            "jf_min": g.per_round_min[t], "jf_max": g.per_round_max[t],
                            "n_seeds": g.n_seeds})
    _write_csv(paths["per_round"], ("label", "round", "jf", "jf_std", "jf_min", "jf_max", "n_seeds"),
               pr_rows)

    max_t = max(g.rounds for g in groups)
    jf_cols = [f"jf_round{t + 1}" for t in range(max_t)]
    ps_rows = []
    for g in groups:
        for r in g.runs:
            for s in r.get("per_sample") or []:
                row = {"label": g.label, "seed": r["seed"], "run_id": r["run_id"]}
                for k in ("sequence", "scribble_idx", "n_frames", "n_objects", "round_auc", "final_jf"):
                    row[k] = s.get(k)
                prj = s.get("per_round_jf") or []
                for t, c in enumerate(jf_cols):
                    row[c] = _num_or_none(prj[t]) if t < len(prj) else None
                ps_rows.append(row)
    _write_csv(paths["per_sequence"],
               ["label", "seed", "run_id", "sequence", "scribble_idx", "n_frames", "n_objects",
                "round_auc", "final_jf", *jf_cols], ps_rows)

    paths["png"], paths["svg"] = _plot(groups, out, title)
    return paths
