"""The hosted leaderboard as one self-contained HTML page: inline CSS and script, no external asset
(the server also sends a Content-Security-Policy that forbids loading any). Columns sort on click;
the numbers are those of ``api/leaderboard`` (round-AUC in %, the others shown in %)."""
from __future__ import annotations

from html import escape

CSP = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right}
td{white-space:nowrap}
th{cursor:pointer;background:#f4f4f4;user-select:none}th.sorted-asc:after{content:" \\25B2"}
th.sorted-desc:after{content:" \\25BC"}td.l,th.l{text-align:left}.note{color:#8a5a00}.small{color:#666;font-size:12px}
"""

_SCRIPT = """
document.querySelectorAll('table.board').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var desc = !th.classList.contains('sorted-desc');
      table.querySelectorAll('th').forEach(function (h) { h.classList.remove('sorted-asc', 'sorted-desc'); });
      th.classList.add(desc ? 'sorted-desc' : 'sorted-asc');
      rows.sort(function (a, b) {
        var x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
        var nx = parseFloat(x), ny = parseFloat(y), c;
        if (!isNaN(nx) && !isNaN(ny)) { c = nx - ny; } else { c = String(x).localeCompare(String(y)); }
        return desc ? -c : c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""

#: (column title, how to get the sort value, how to show it)
_COLUMNS = ("rank", "participant", "round-AUC [95% CI]", "time-AUC % [95% CI]", "J&F@60s % [95% CI]",
            "final J&F % [95% CI]", "Δ round-AUC vs #1 [95% CI]", "p", "W/T/L", "ranks (time-AUC, J&F@60s)",
            "finished")


def _ci(est: dict, scale: float = 1.0) -> str:
    if est["mean"] is None:
        return "—"
    text = f"{est['mean'] * scale:.2f}"
    if est["low"] is not None:
        text += f" [{est['low'] * scale:.2f}, {est['high'] * scale:.2f}]"
    return text


def _cell(value, shown: str, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f'<td{attr} data-v="{escape(str(value), quote=True)}">{escape(shown)}</td>'


def _row(e: dict) -> str:
    p = e["paired"]
    diff = "ref" if p is None else f"{p['mean_diff']:+.2f} [{p['low']:+.2f}, {p['high']:+.2f}]"
    cells = [
        _cell(e["ranks"]["round_auc"], str(e["ranks"]["round_auc"])),
        _cell(e["label"], e["label"], "l"),
        _cell(e["round_auc"]["mean"], _ci(e["round_auc"])),
        _cell(e["time_auc"]["mean"], _ci(e["time_auc"], 100)),
        _cell(e["jf_at_60s"]["mean"], _ci(e["jf_at_60s"], 100)),
        _cell(e["final_jf"]["mean"], _ci(e["final_jf"], 100)),
        _cell(0.0 if p is None else p["mean_diff"], diff),
        _cell(-1 if p is None else p["p_value"], "ref" if p is None else f"{p['p_value']:.3f}"),
        _cell(0 if p is None else p["wins"], "ref" if p is None else f"{p['wins']}/{p['ties']}/{p['losses']}"),
        _cell(e["ranks"]["time_auc"], f"{e['ranks']['time_auc']}, {e['ranks']['jf_at_60s']}"),
        _cell(e["finished"] or "", e["finished"] or "", "l"),
    ]
    return "<tr>" + "".join(cells) + "</tr>"


def _group(g: dict) -> str:
    head = "".join(f'<th class="{"l" if c in ("participant", "finished") else ""}">{escape(c)}</th>'
                   for c in _COLUMNS)
    rows = "\n".join(_row(e) for e in g["entries"])
    notes = "".join(f'<p class="note">{escape(n)}</p>' for n in g["notes"])
    return (f'<h2>{escape(g["dataset"])} <span class="small">({escape(g["fingerprint"])})</span>, '
            f'T = {g["rounds"]}, {g["n_samples"]} samples</h2>{notes}'
            f'<table class="board"><thead><tr>{head}</tr></thead><tbody>\n{rows}\n</tbody></table>')


def _unranked(items: list[dict]) -> str:
    if not items:
        return ""
    rows = "".join(f'<li>{escape(u["user"])} #{escape(u["session"])} on {escape(u["dataset"])} '
                   f'(T = {u["rounds"]}): {escape(u["reason"])}</li>' for u in items)
    return f'<h2>Finished, not ranked</h2><ul id="unranked">{rows}</ul>'


def render(board: dict, title: str = "ivosw-bench leaderboard") -> str:
    groups = "\n".join(_group(g) for g in board["groups"]) or '<p id="empty">No finished session yet.</p>'
    level = round(board["level"] * 100)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style></head>
<body><h1>{escape(title)}</h1>
<p class="small">Finished sessions ranked by round-AUC per dataset and T (click a column to sort). Round-AUC:
trapezoid of [0, J&amp;F<sub>1</sub>, ..., J&amp;F<sub>T</sub>] / T x 100; time-AUC and J&amp;F@60s:
davisinteractive's summary of the session. Brackets: {level}% percentile bootstrap CIs over samples
({board['n_boot']} resamples, seed {board['seed']}); Δ, p and W/T/L: paired against the entry ranked first
(sign-flip permutation p-value, not corrected for multiple comparisons). Timing is measured by the client.
JSON: <a href="api/leaderboard">api/leaderboard</a>.</p>
{groups}
{_unranked(board["unranked"])}
<script>{_SCRIPT}</script></body></html>
"""
