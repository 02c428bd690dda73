"""The leaderboard as text a reviewer can paste: a ``rich`` table per group for the terminal,
Markdown, CSV rows and a LaTeX (booktabs) table. The columns are declared once
(:func:`columns`) and shared with the HTML page.

Display units: round-AUC and its differences in AUC points (0-100); J&F-like values in % (the
CSV keeps ``summary.json`` units: round-AUC in %, J&F fractions). Intervals are 95% percentile
bootstrap CIs over samples, shown ``mean [low, high]``; LaTeX shows ``mean ± half-width``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

from .leaderboard import BoardGroup, Entry, Estimate, Leaderboard, sample_name

# --------------------------------------------------------------------------------------
# numbers


def fmt_num(x: float | None, nd: int = 2, scale: float = 1.0, sign: bool = False) -> str:
    if x is None or not math.isfinite(x):
        return "—"
    return f"{x * scale:{'+' if sign else ''}.{nd}f}"


def fmt_ci(est: Estimate | None, nd: int = 2, scale: float = 1.0, sign: bool = False,
           sep: str = " ") -> str:
    """``mean [low, high]`` (or the mean alone without a CI, ``—`` without a mean)."""
    if est is None or est.mean is None:
        return "—"
    text = fmt_num(est.mean, nd, scale, sign)
    if est.low is None or est.high is None:
        return text
    return f"{text}{sep}[{fmt_num(est.low, nd, scale, sign)}, {fmt_num(est.high, nd, scale, sign)}]"


def fmt_p(p: float | None) -> str:
    if p is None:
        return "—"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def fmt_seeds(seeds: Sequence) -> str:
    """Seeds named, consecutive runs of three or more shortened: ``0-4``, ``0,2``, ``-`` for None."""
    vals = sorted(s for s in seeds if s is not None)
    parts, i = [], 0
    while i < len(vals):
        j = i
        while j + 1 < len(vals) and vals[j + 1] == vals[j] + 1:
            j += 1
        parts += [f"{vals[i]}-{vals[j]}"] if j - i >= 2 else [str(v) for v in vals[i:j + 1]]
        i = j + 1
    return ",".join(parts) + (",-" if None in seeds and vals else "-" if None in seeds else "")


def display_label(entry: Entry) -> str:
    return f"{entry.label} (ceiling)" if entry.is_ceiling else entry.label


def _diff(entry: Entry) -> Estimate | None:
    p = entry.paired
    return None if p is None else Estimate(p.mean_diff, p.ci_low, p.ci_high)


# --------------------------------------------------------------------------------------
# columns


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    text: Callable[[BoardGroup, Entry, str], str]    # (group, entry, CI separator) -> cell
    value: Callable[[BoardGroup, Entry], float | str | None]  # sort value
    numeric: bool = True


def _is_ref(g: BoardGroup, e: Entry) -> bool:
    return g.reference is e


def _paired_text(fn: Callable[[Entry], str]) -> Callable[[BoardGroup, Entry, str], str]:
    return lambda g, e, sep: "ref" if _is_ref(g, e) else ("—" if e.paired is None else fn(e))


def columns(group: BoardGroup) -> list[Column]:
    """The table columns of ``group``: the paired ones only where the group has a reference,
    Headroom only where it has a ceiling and random."""
    ref = group.reference.label if group.reference else "ref"
    cols = [
        Column("rank", "#", lambda g, e, s: str(e.rank) if e.rank else "—",
               lambda g, e: e.rank if e.rank else 0),
        Column("strategy", "Strategy", lambda g, e, s: display_label(e), lambda g, e: e.label, numeric=False),
        Column("seeds", "Seeds", lambda g, e, s: fmt_seeds(e.seeds), lambda g, e: len(e.runs)),
        Column("round_auc", "Round-AUC [95% CI]",
               lambda g, e, s: fmt_ci(e.metrics["round_auc"], 2, sep=s),
               lambda g, e: e.metrics["round_auc"].mean),
    ]
    paired = [
        Column("diff", f"Δ vs {ref} [95% CI]",
               lambda g, e, s: "ref" if _is_ref(g, e) else fmt_ci(_diff(e), 2, sign=True, sep=s),
               lambda g, e: 0.0 if _is_ref(g, e) else (e.paired.mean_diff if e.paired else None)),
        Column("p", "p", _paired_text(lambda e: fmt_p(e.paired.p_value)),
               lambda g, e: e.paired.p_value if e.paired else None),
        Column("wtl", "W/T/L", _paired_text(lambda e: f"{e.paired.wins}/{e.paired.ties}/{e.paired.losses}"),
               lambda g, e: (e.paired.wins - e.paired.losses) if e.paired else None),
    ]
    cols += paired if group.reference is not None else []
    if any(e.headroom is not None for e in group.entries):
        cols.append(Column("headroom", "Headroom %", lambda g, e, s: fmt_num(e.headroom, 0, 100.0),
                           lambda g, e: e.headroom))
    for key, header in (("time_auc", "Time-AUC %"), ("jf_at_60s", "J&F@60s %"), ("final_jf", "Final J&F %")):
        cols.append(Column(key, f"{header} [95% CI]",
                           (lambda k: lambda g, e, s: fmt_ci(e.metrics[k], 1, 100.0, sep=s))(key),
                           (lambda k: lambda g, e: e.metrics[k].mean)(key)))
    cols.append(Column("s_per_round", "s/round", lambda g, e, s: fmt_num(e.seconds_per_round, 2),
                       lambda g, e: e.seconds_per_round))
    return cols


def stats_sentence(board: Leaderboard) -> str:
    n = board.n_boot
    return (f"Intervals: {board.level:.0%} percentile bootstrap over samples ({n} resamples, seed "
            f"{board.seed}; the seeds of a strategy are averaged within a sample first). Δ: mean paired "
            f"difference in round-AUC against the reference on the same samples, with its paired bootstrap "
            f"CI; p: two-sided paired sign-flip permutation test (exact over all 2^n sign vectors when "
            f"2^n <= {n}), not corrected for multiple comparisons; W/T/L: samples where the strategy's "
            f"round-AUC is above / equal to / below the reference's.")


def group_sentence(group: BoardGroup) -> str:
    ref = group.reference
    how = "none" if ref is None else f"{ref.label} ({group.reference_why})"
    text = f"{len(group.samples)} sample(s): {', '.join(sample_name(k) for k in group.samples)}. Reference: {how}."
    if any(e.headroom is not None for e in group.entries):
        text += " Headroom: (S - random) / (greedy-oracle - random) on round-AUC."
    return text


# --------------------------------------------------------------------------------------
# terminal


def rich_tables(board: Leaderboard, title: str | None = None):
    """One ``rich`` table per group, stacked (a ``rich.console.Group``)."""
    from rich.console import Group
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    parts = []
    for i, g in enumerate(board.groups):
        heading = g.title if not title else (f"{title}: {g.title}" if len(board.groups) > 1 else title)
        table = Table(title=escape(heading), caption=escape(group_sentence(g)), caption_justify="left")
        cols = columns(g)
        for c in cols:
            table.add_column(escape(c.header.replace(" [95% CI]", "\n[95% CI]")),
                             justify="right" if c.numeric else "left", no_wrap=c.key != "strategy")
        for e in g.entries:
            table.add_row(*(Text(c.text(g, e, "\n")) for c in cols),
                          style="italic" if e.is_ceiling else None)
        parts.append(table)
    parts.append(Text(stats_sentence(board), style="dim"))
    return Group(*parts)


# --------------------------------------------------------------------------------------
# Markdown


def md_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("|", "\\|")


def md_table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: Sequence[int] = (1,)) -> str:
    lines = ["| " + " | ".join(md_escape(h) for h in headers) + " |",
             "|" + "|".join(":---" if j in left else "---:" for j in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(md_escape(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def md_group_table(group: BoardGroup) -> str:
    cols = columns(group)
    rows = [[c.text(group, e, " ") for c in cols] for e in group.entries]
    return md_table([c.header for c in cols], rows, left=(1,))


def md_per_round(group: BoardGroup) -> str:
    headers = ["Strategy"] + [f"R{t}" for t in range(1, group.rounds + 1)]
    rows = [[display_label(e)] + [fmt_ci(est, 1, 100.0) for est in e.per_round] for e in group.entries]
    return md_table(headers, rows, left=(0,))


# --------------------------------------------------------------------------------------
# CSV

CSV_COLUMNS = (
    "dataset", "backend", "setting", "rounds", "rank", "label", "strategy", "role", "seeds", "n_seeds",
    "n_samples", "round_auc", "round_auc_low", "round_auc_high", "round_auc_seed_std",
    "time_auc", "time_auc_low", "time_auc_high", "jf_at_60s", "jf_at_60s_low", "jf_at_60s_high",
    "final_jf", "final_jf_low", "final_jf_high", "reference", "diff", "diff_low", "diff_high",
    "p_value", "wins", "ties", "losses", "headroom", "s_per_round", "run_ids",
)


def csv_rows(board: Leaderboard) -> list[dict]:
    """One row per (group, strategy) in :data:`CSV_COLUMNS`, ``summary.json`` units."""
    rows = []
    for g in board.groups:
        for e in g.entries:
            row = {"dataset": g.dataset, "backend": g.backend, "setting": g.setting, "rounds": g.rounds,
                   "rank": e.rank, "label": e.label, "strategy": e.strategy, "role": e.role,
                   "seeds": ",".join("" if s is None else str(s) for s in e.seeds), "n_seeds": len(e.runs),
                   "n_samples": len(g.samples), "round_auc_seed_std": e.seed_std,
                   "reference": g.reference.label if g.reference else None, "headroom": e.headroom,
                   "s_per_round": e.seconds_per_round, "run_ids": " ".join(str(r["run_id"]) for r in e.runs)}
            for m, est in e.metrics.items():
                row.update({m: est.mean, f"{m}_low": est.low, f"{m}_high": est.high})
            if e.paired is not None:
                p = e.paired
                row.update(diff=p.mean_diff, diff_low=p.ci_low, diff_high=p.ci_high, p_value=p.p_value,
                           wins=p.wins, ties=p.ties, losses=p.losses)
            rows.append(row)
    return rows


# --------------------------------------------------------------------------------------
# LaTeX


def tex_escape(s: str) -> str:
    repl = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
            "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
    return "".join(repl.get(ch, ch) for ch in s)


def _tex_pm(est: Estimate | None, nd: int, scale: float = 1.0, sign: bool = False, bold: bool = False) -> str:
    """``$mean \\pm half$`` in math mode (a true minus sign), the mean in bold when ``bold``."""
    if est is None or est.mean is None:
        return "--"
    num = fmt_num(est.mean, nd, scale, sign)
    num = rf"\mathbf{{{num}}}" if bold else num
    if est.low is None or est.high is None:
        return f"${num}$"
    half = (est.high - est.low) / 2 * scale
    return rf"${num} \pm {half:.{nd}f}$"


def _best(entries: list[Entry], value: Callable[[Entry], float | None]) -> float | None:
    vals = [v for v in (value(e) for e in entries) if v is not None]
    return max(vals) if vals else None


def _tex_rows(group: BoardGroup) -> list[str]:
    ranked = group.ranked
    metric_cols = [("round_auc", 2, 1.0), ("time_auc", 1, 100.0), ("jf_at_60s", 1, 100.0), ("final_jf", 1, 100.0)]
    best = {m: _best(ranked, lambda e, m=m: e.metrics[m].mean) for m, _, _ in metric_cols}
    # the reference's own difference is 0: a difference is bold only when it beats the reference
    best_diff = _best([e for e in ranked if e.paired], lambda e: e.paired.mean_diff)
    best_diff = best_diff if best_diff is not None and best_diff > 0 else None
    show_head = any(e.headroom is not None for e in group.entries)
    best_head = _best(ranked, lambda e: e.headroom)
    lines = []
    for e in group.entries:
        name = tex_escape(display_label(e))
        cells = [rf"\textit{{{name}}}" if e.is_ceiling else name, tex_escape(fmt_seeds(e.seeds)).replace("-", "--")]
        cells.append(_tex_pm(e.metrics["round_auc"], 2, bold=not e.is_ceiling and e.metrics["round_auc"].mean == best["round_auc"]))
        if group.reference is None:
            pass
        elif group.reference is e:
            cells += ["ref", "", ""]
        elif e.paired is None:
            cells += ["--", "--", "--"]
        else:
            p = e.paired
            cells += [_tex_pm(Estimate(p.mean_diff, p.ci_low, p.ci_high), 2, sign=True,
                              bold=not e.is_ceiling and p.mean_diff == best_diff),
                      fmt_p(p.p_value).replace("<", "$<$"), f"{p.wins}/{p.ties}/{p.losses}"]
        if show_head:
            h = fmt_num(e.headroom, 0, 100.0)
            cells.append(rf"\textbf{{{h}}}" if not e.is_ceiling and e.headroom is not None and e.headroom == best_head
                         else h.replace("—", "--"))
        for m, nd, scale in metric_cols[1:]:
            cells.append(_tex_pm(e.metrics[m], nd, scale, bold=not e.is_ceiling and e.metrics[m].mean == best[m]
                                 and e.metrics[m].mean is not None))
        lines.append(" & ".join(cells) + r" \\")
        if e.is_ceiling:
            lines.append(r"\midrule")
    return lines


def latex(board: Leaderboard) -> str:
    """One booktabs ``table`` per group; best (ranked) value of each column in bold; ``±`` is the
    half-width of the 95% bootstrap CI. Needs ``\\usepackage{booktabs}``."""
    note = tex_escape(stats_sentence(board)).replace("Δ", "Delta")
    out = [f"% ivosw-bench leaderboard; needs \\usepackage{{booktabs}}. {note}"]
    for g in board.groups:
        show_head = any(e.headroom is not None for e in g.entries)
        ref = tex_escape(g.reference.label) if g.reference else "ref"
        heads = ["Strategy", "Seeds", "Round-AUC"]
        heads += [rf"$\Delta$ vs.\ {ref}", "$p$", "W/T/L"] if g.reference is not None else []
        heads += ["Headroom (\\%)"] if show_head else []
        heads += ["Time-AUC (\\%)", "J\\&F@60s (\\%)", "Final J\\&F (\\%)"]
        caption = (f"{tex_escape(g.title)}; {len(g.samples)} samples. Mean $\\pm$ half-width of the "
                   f"{board.level:.0%} bootstrap CI over samples".replace("%", "\\%"))
        if g.reference is not None:
            caption += (f"; $\\Delta$: paired difference in round-AUC against {ref}; $p$: paired sign-flip "
                        f"permutation test")
        caption += "; best in bold."
        out += ["", r"\begin{table}[t]", r"\centering", rf"\caption{{{caption}}}",
                rf"\label{{tab:{g.slug.replace('_', '-')}}}",
                r"\begin{tabular}{ll" + "r" * (len(heads) - 2) + "}", r"\toprule",
                " & ".join(heads) + r" \\", r"\midrule", *_tex_rows(g), r"\bottomrule", r"\end{tabular}",
                r"\end{table}"]
    return "\n".join(out) + "\n"
