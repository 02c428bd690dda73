"""The leaderboard as one self-contained HTML page (no network: inline CSS and JavaScript, SVG drawn
here): per group a sortable table, the per-round J&F curves with their CI bands, a per-sequence heat
map of the round-AUC differences against the reference, and links to each run's files.

Links are relative to the page's folder, so the page works where it is written (and in a copy of
the whole tree). The output depends only on the leaderboard and the paths: byte-for-byte
reproducible.
"""
from __future__ import annotations

import html
import os
from pathlib import Path

from .board_text import Column, columns, display_label, fmt_ci, group_sentence, stats_sentence
from .leaderboard import BoardGroup, Entry, Leaderboard, sample_name

__all__ = ["html_page"]

#: matplotlib's tab10, so the page and curve.png use the same colours
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")
RUN_FILES = ("config.json", "summary.json", "rounds.csv", "report.csv", "quality.csv")
METRIC_NOTES = (
    "Round-AUC (0-100): area under the per-round mean J&F curve with J&F = 0 at round 0, "
    "trapezoid([0, JF_1..JF_T]) / T x 100 (the paper's metric; depends only on rounds).",
    "Time-AUC and J&F@60s: davisinteractive's summarize_report (J&F over cumulative annotation time, "
    "normalised by its timeout; J&F at 60 s), recomputed from each run's report.csv for every resample.",
    "Final J&F: mean J&F after the last round T. s/round: wall-clock seconds per round.",
)

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px auto;max-width:1440px;
 padding:0 16px;color:#1b1b1b;background:#fff}
h1{font-size:22px;margin:0 0 6px}h2{font-size:18px;margin:32px 0 4px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
p.meta,p.note{color:#555;margin:4px 0}.warn{background:#fff4e0;border-left:4px solid #f0a030;padding:6px 10px;margin:6px 0}
table.board{border-collapse:collapse;margin:10px 0;font-variant-numeric:tabular-nums}
table.board th,table.board td{padding:4px 9px;border-bottom:1px solid #e4e4e4;white-space:nowrap}
table.board th{background:#f4f6f8;cursor:pointer;user-select:none;text-align:right;position:sticky;top:0}
table.board th.text,table.board td.text{text-align:left}table.board td{text-align:right}
table.board th:hover{background:#e6ebf0}table.board th[aria-sort=ascending]::after{content:' \\25B2'}
table.board th[aria-sort=descending]::after{content:' \\25BC'}
table.board tr.ceiling td{font-style:italic;color:#444;background:#fafafa}table.board tr.ref td{background:#f2f8ff}
.ci{color:#777;font-size:12px}.scroll{overflow-x:auto}.figs>div{max-width:100%;overflow-x:auto}.figs p.note{max-width:600px}.figs{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}
.legend{list-style:none;padding:0;margin:4px 0;font-size:12px}.legend li{display:inline-block;margin-right:14px}
.sw{display:inline-block;width:18px;height:4px;vertical-align:middle;margin-right:5px}
svg text{font-family:system-ui,sans-serif}ul.runs{font-size:13px}ul.runs a{margin-left:6px}
code{font-size:12px;background:#f4f4f4;padding:1px 3px}
"""

_JS = """
(function(){
function val(td,type){var v=td.getAttribute('data-value');if(v===null||v===''){return null;}
 return type==='text'?v:parseFloat(v);}
function sortTable(th){var table=th.closest('table');var body=table.tBodies[0];
 var idx=Array.prototype.indexOf.call(th.parentNode.children,th);var type=th.getAttribute('data-type');
 var cur=th.getAttribute('aria-sort');
 var dir=cur==='descending'?'ascending':cur==='ascending'?'descending':(type==='text'?'ascending':'descending');
 var rows=Array.prototype.slice.call(body.rows);
 rows.sort(function(a,b){var x=val(a.cells[idx],type),y=val(b.cells[idx],type);
  if(x===null&&y===null){return 0;}if(x===null){return 1;}if(y===null){return -1;}
  var c=type==='text'?(x<y?-1:x>y?1:0):x-y;return dir==='ascending'?c:-c;});
 rows.forEach(function(r){body.appendChild(r);});
 Array.prototype.forEach.call(th.parentNode.children,function(h){h.removeAttribute('aria-sort');});
 th.setAttribute('aria-sort',dir);}
document.querySelectorAll('table.board th').forEach(function(th){
 th.addEventListener('click',function(){sortTable(th);});
 th.addEventListener('keydown',function(ev){if(ev.key==='Enter'||ev.key===' '){ev.preventDefault();sortTable(th);}});});
})();
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _num_attr(value: float | str | None) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else repr(float(value))


def _color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


# --------------------------------------------------------------------------------------
# table


def _cell(col: Column, group: BoardGroup, entry: Entry) -> str:
    text = col.text(group, entry, "\n")
    head, _, ci = text.partition("\n")
    inner = _e(head) + (f'<br><span class="ci">{_e(ci)}</span>' if ci else "")
    cls = "" if col.numeric else _TEXT_CLASS
    return f'<td{cls} data-value="{_e(_num_attr(col.value(group, entry)))}">{inner}</td>'


_TEXT_CLASS = ' class="text"'


def _header(text: str) -> str:
    head, sep, _ = text.partition(" [95% CI]")
    return _e(head) + ('<br><span class="ci">95% CI</span>' if sep else "")


def _table(group: BoardGroup, gid: str) -> str:
    cols = columns(group)
    head = "".join(
        f'<th tabindex="0" data-key="{c.key}" data-type="{"number" if c.numeric else "text"}"'
        f'{"" if c.numeric else _TEXT_CLASS}>{_header(c.header)}</th>' for c in cols)
    rows = []
    for e in group.entries:
        cls = "ceiling" if e.is_ceiling else "ref" if group.reference is e else ""
        rows.append(f'<tr class="{cls}" data-strategy="{_e(e.label)}">' +
                    "".join(_cell(c, group, e) for c in cols) + "</tr>")
    return (f'<div class="scroll"><table class="board" id="table-{gid}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


# --------------------------------------------------------------------------------------
# SVG: per-round curves with CI bands


def _ticks(lo: float, hi: float, step: float) -> list[float]:
    start = step * (lo // step)
    out, v = [], start
    while v <= hi + 1e-9:
        if v >= lo - 1e-9:
            out.append(round(v, 6))
        v += step
    return out


def _curve_svg(group: BoardGroup, gid: str) -> str:
    W, H, ml, mr, mt, mb = 620, 340, 52, 16, 14, 42
    lows = [100 * est.low for e in group.entries for est in e.per_round]
    highs = [100 * est.high for e in group.entries for est in e.per_round]
    y0, y1 = 5 * (min(lows) // 5), 5 * (max(highs) // 5 + 1)
    T = group.rounds
    px = lambda t: ml + (t - 1) * (W - ml - mr) / max(T - 1, 1)
    py = lambda v: mt + (y1 - v) * (H - mt - mb) / (y1 - y0)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" id="curve-{gid}" width="{W}" height="{H}" '
           f'viewBox="0 0 {W} {H}" role="img" aria-label="per-round J&amp;F with confidence bands">',
           f'<rect x="{ml}" y="{mt}" width="{W - ml - mr}" height="{H - mt - mb}" fill="#fff" stroke="#bbb"/>']
    step = 5 if y1 - y0 <= 40 else 10
    for v in _ticks(y0, y1, step):
        out.append(f'<line x1="{ml}" x2="{W - mr}" y1="{py(v):.1f}" y2="{py(v):.1f}" stroke="#eee"/>'
                   f'<text x="{ml - 6}" y="{py(v) + 4:.1f}" font-size="11" text-anchor="end">{v:g}</text>')
    for t in range(1, T + 1):
        out.append(f'<text x="{px(t):.1f}" y="{H - mb + 16}" font-size="11" text-anchor="middle">{t}</text>')
    out.append(f'<text x="{(ml + W - mr) / 2:.0f}" y="{H - 6}" font-size="12" text-anchor="middle">interaction round</text>'
               f'<text x="14" y="{(mt + H - mb) / 2:.0f}" font-size="12" text-anchor="middle" '
               f'transform="rotate(-90 14 {(mt + H - mb) / 2:.0f})">mean J&amp;F (%)</text>')
    for i, e in enumerate(group.entries):
        c = _color(i)
        top = [f"{px(t):.1f},{py(100 * est.high):.1f}" for t, est in enumerate(e.per_round, 1)]
        bottom = [f"{px(t):.1f},{py(100 * est.low):.1f}" for t, est in reversed(list(enumerate(e.per_round, 1)))]
        out.append(f'<polygon class="band" points="{" ".join(top + bottom)}" fill="{c}" fill-opacity="0.15" stroke="none"/>')
    for i, e in enumerate(group.entries):
        c = _color(i)
        pts = " ".join(f"{px(t):.1f},{py(100 * est.mean):.1f}" for t, est in enumerate(e.per_round, 1))
        dash = ' stroke-dasharray="5,3"' if e.is_ceiling else ""
        out.append(f'<polyline class="curve" data-strategy="{_e(e.label)}" points="{pts}" fill="none" '
                   f'stroke="{c}" stroke-width="2"{dash}><title>{_e(display_label(e))}</title></polyline>')
        for t, est in enumerate(e.per_round, 1):
            out.append(f'<circle cx="{px(t):.1f}" cy="{py(100 * est.mean):.1f}" r="2.6" fill="{c}">'
                       f'<title>{_e(e.label)}, round {t}: {_e(fmt_ci(est, 1, 100.0))}</title></circle>')
    out.append("</svg>")
    legend = "".join(f'<li><span class="sw" style="background:{_color(i)}"></span>{_e(display_label(e))}</li>'
                     for i, e in enumerate(group.entries))
    return "".join(out) + f'<ul class="legend">{legend}</ul>'


# --------------------------------------------------------------------------------------
# SVG: heat map of per-sequence differences


def _diverging(x: float) -> str:
    """-1 -> red, 0 -> light grey, +1 -> blue."""
    lo, mid, hi = (178, 24, 43), (247, 247, 247), (33, 102, 172)
    a = min(1.0, abs(x))
    end = hi if x > 0 else lo
    return "#%02x%02x%02x" % tuple(round(m + (e - m) * a) for m, e in zip(mid, end))


def _heatmap_svg(group: BoardGroup, gid: str) -> str:
    ref = group.reference
    rows = [e for e in group.entries if e is not ref]
    if ref is None or not rows:
        return '<p class="note">No reference in this group: no heat map.</p>'
    diffs = {(e.label, k): e.per_sample[k] - ref.per_sample[k] for e in rows for k in group.samples}
    scale = max((abs(v) for v in diffs.values()), default=0.0) or 1.0
    cw, ch, left, top = 58, 24, 150, 96
    W, H = left + cw * len(group.samples) + 90, top + ch * len(rows) + 4
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" id="heatmap-{gid}" width="{W}" height="{H}" '
           f'viewBox="0 0 {W} {H}" role="img" aria-label="round-AUC difference per sample">']
    for j, k in enumerate(group.samples):
        x = left + cw * j + cw / 2
        out.append(f'<text x="{x:.1f}" y="{top - 6}" font-size="11" transform="rotate(-45 {x:.1f} {top - 6})">'
                   f'{_e(sample_name(k))}</text>')
    for i, e in enumerate(rows):
        y = top + ch * i
        out.append(f'<text x="{left - 6}" y="{y + ch / 2 + 4:.1f}" font-size="12" text-anchor="end">'
                   f'{_e(display_label(e))}</text>')
        for j, k in enumerate(group.samples):
            d = diffs[(e.label, k)]
            x = left + cw * j
            tip = (f"{e.label} vs {ref.label} on {sample_name(k)}: {d:+.2f} "
                   f"({e.per_sample[k]:.2f} vs {ref.per_sample[k]:.2f})")
            ink = "#fff" if abs(d) / scale > 0.6 else "#222"
            out.append(f'<g class="cell" data-strategy="{_e(e.label)}" data-sample="{_e(sample_name(k))}" '
                       f'data-value="{d!r}"><title>{_e(tip)}</title>'
                       f'<rect x="{x}" y="{y}" width="{cw - 2}" height="{ch - 2}" fill="{_diverging(d / scale)}"/>'
                       f'<text x="{x + cw / 2 - 1:.1f}" y="{y + ch / 2 + 3:.1f}" font-size="11" '
                       f'text-anchor="middle" fill="{ink}">{d:+.1f}</text></g>')
    out.append("</svg>")
    return "".join(out) + (f'<p class="note">Round-AUC of the strategy minus {_e(ref.label)} on each sample; '
                           f'blue: better, red: worse (full colour at ±{scale:.1f}).</p>')


# --------------------------------------------------------------------------------------
# runs and page


def _run_links(group: BoardGroup, page_dir: Path) -> str:
    items = []
    for e in group.entries:
        for r in e.runs:
            folder = Path(r["path"])
            links = "".join(
                f'<a href="{_e(Path(os.path.relpath(folder / name, page_dir)).as_posix())}">{name}</a>'
                for name in RUN_FILES if (folder / name).is_file())
            seed = "" if r["seed"] is None else f" seed {r['seed']}"
            items.append(f'<li>{_e(e.label)}{_e(seed)}: <code>{_e(r["run_id"])}</code>{links}</li>')
    return f'<ul class="runs">{"".join(items)}</ul>'


def _section(group: BoardGroup, index: int, page_dir: Path) -> str:
    gid = f"g{index}"
    notes = "".join(f'<p class="note">{_e(n)}</p>' for n in group.notes)
    dropped = (f'<p class="warn">Dropped {len(group.dropped)} sample(s) not covered by every run: '
               f'{_e(", ".join(sample_name(k) for k in group.dropped))}</p>' if group.dropped else "")
    per_round = "".join(
        f"<li>{_e(display_label(e))}: " + ", ".join(f"R{t} {_e(fmt_ci(est, 1, 100.0))}"
                                                   for t, est in enumerate(e.per_round, 1)) + "</li>"
        for e in group.entries)
    return (f'<section id="{gid}" data-group="{_e(group.slug)}"><h2>{_e(group.title)}</h2>'
            f'<p class="meta">{_e(group_sentence(group))}</p>{dropped}{notes}'
            f'{_table(group, gid)}<div class="figs"><div><h3>J&amp;F per round (bands: CI over samples)</h3>'
            f'{_curve_svg(group, gid)}</div><div><h3>Round-AUC difference per sample</h3>'
            f'{_heatmap_svg(group, gid)}</div></div>'
            f'<details><summary>J&amp;F per round, numbers (%)</summary><ul>{per_round}</ul></details>'
            f'<h3>Runs and their files</h3>{_run_links(group, page_dir)}</section>')


def html_page(board: Leaderboard, page_dir: Path, title: str | None = None) -> str:
    """The page's text; ``page_dir`` is where it will be written (for relative links)."""
    title = title or "ivosw-bench leaderboard"
    n_runs = sum(len(e.runs) for g in board.groups for e in g.entries)
    warnings = "".join(f'<p class="warn">warning: {_e(w)}</p>' for w in board.warnings)
    sections = "".join(_section(g, i, Path(page_dir)) for i, g in enumerate(board.groups, 1))
    notes = "".join(f"<li>{_e(n)}</li>" for n in METRIC_NOTES)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{_e(title)}</title>"
            f"<style>{_CSS}</style></head><body><h1>{_e(title)}</h1>"
            f'<p class="meta">{n_runs} run(s) in {len(board.groups)} group(s). {_e(stats_sentence(board))} '
            f"Click a column header to sort.</p>{warnings}{sections}"
            f"<h2>Metrics</h2><ul>{notes}</ul><script>{_JS}</script></body></html>\n")

