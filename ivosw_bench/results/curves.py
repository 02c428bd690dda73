"""The per-round J&F curve of a leaderboard (``curve.png`` / ``curve.svg``): one panel per group, a
line per strategy (mean over samples of the seed-averaged J&F after round t) and its 95% bootstrap
CI over samples as a shaded band. Deterministic: fixed SVG ids, no date; written atomically.
"""
from __future__ import annotations

from pathlib import Path

from ..files import atomic_open
from .leaderboard import BoardGroup, Leaderboard
from .report import REPORT_FILES

MARKERS = "osD^v<>pPX*h"
LINESTYLES = ("-", "--", ":", "-.")


def _panel(ax, group: BoardGroup, level: float) -> None:
    import matplotlib
    from matplotlib.ticker import MaxNLocator

    colors = matplotlib.colormaps["tab10"].colors
    for i, e in enumerate(group.entries):
        x = list(range(1, len(e.per_round) + 1))
        y = [100.0 * est.mean for est in e.per_round]
        color = colors[i % len(colors)]
        auc = e.metrics["round_auc"]
        ax.plot(x, y, marker=MARKERS[i % len(MARKERS)], linestyle=LINESTYLES[(i // 10) % 4], color=color,
                linewidth=1.8, markersize=5, zorder=3,
                label=f"{e.label}{' (ceiling)' if e.is_ceiling else ''} — AUC {auc.mean:.2f} "
                      f"[{auc.low:.2f}, {auc.high:.2f}]")
        ax.fill_between(x, [100.0 * est.low for est in e.per_round], [100.0 * est.high for est in e.per_round],
                        color=color, alpha=0.15, linewidth=0, zorder=2)
    ax.set_xlabel("interaction round")
    ax.set_ylabel("mean J&F (%)")
    ax.set_xlim(0.7, group.rounds + 0.3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.35)
    ax.set_title(f"{group.title} ({len(group.samples)} samples; bands: {level:.0%} bootstrap CI)", fontsize=10)
    ax.legend(loc="lower right", fontsize=8, framealpha=0.9)


def write_curves(board: Leaderboard, out_dir: Path, title: str | None = None) -> tuple[Path, Path]:
    """``curve.png`` and ``curve.svg`` in ``out_dir``; returns their paths."""
    import matplotlib
    from matplotlib.figure import Figure

    n = len(board.groups)
    with matplotlib.rc_context({"font.size": 10}):
        fig = Figure(figsize=(8.0, 5.0 * n), dpi=150, layout="constrained")
        axes = fig.subplots(n, 1, squeeze=False)[:, 0]
        for ax, group in zip(axes, board.groups):
            _panel(ax, group, board.level)
        if title:
            fig.suptitle(title)
    out = Path(out_dir)
    return save_figure(fig, out / REPORT_FILES["png"], out / REPORT_FILES["svg"], dpi=150)


def save_figure(fig, png: Path, svg: Path, dpi: int) -> tuple[Path, Path]:
    """``fig`` as PNG and SVG, atomically and reproducibly (fixed SVG ids, no dates)."""
    import matplotlib

    with matplotlib.rc_context({"svg.hashsalt": "ivosw-bench"}):
        with atomic_open(png, "wb") as fh:
            fig.savefig(fh, dpi=dpi, format="png", metadata={"Software": None})
        with atomic_open(svg, "wb") as fh:
            fig.savefig(fh, format="svg", metadata={"Date": None})
    return png, svg
