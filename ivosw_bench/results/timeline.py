"""The recommended-frame timeline of one sample (the paper's Figure 5): one row per round t with the
per-frame quality curve each strategy saw after round t, the frame it chose (a dashed line and a
dot), and a thumbnail of each chosen frame with the predicted mask overlaid. PNG and SVG.

Inputs per run folder (all read-only): ``summary.json`` (``recommended_frames`` of the sample),
``quality.csv`` (the quality q_t the strategy saw: ground-truth J&F in the oracle setting, the QA
network's prediction in the wild) and ``chosen/<seq>-<idx:03d>/round<t:02d>-frame<f:05d>.png`` (the
predicted label map of the chosen frame); frames come from the dataset folder named by
``config.json`` (``JPEGImages/480p/<seq>/<f:05d>.jpg``). Older runs without ``quality.csv`` fall
back to the true per-frame J&F from ``report.csv`` (mean over objects); without chosen masks or
frames the thumbnails are left out. Every fallback is said in a note on the figure.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import LeaderboardError
from .curves import save_figure
from .report import ReportError
from .tables import read_table

QUALITY_NAME = "quality.csv"
REPORT_NAME = "report.csv"
CHOSEN_DIR = "chosen"
THUMB_W = 240
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
          "#bcbd22", "#17becf")


@dataclass
class Track:
    """One run's view of the sample: quality per round [T, n_frames], chosen frame per round,
    thumbnails per round (None where missing)."""

    label: str
    quality: np.ndarray
    source: str
    chosen: list[int]
    thumbs: list[np.ndarray | None] = field(default_factory=list)


def parse_sample(text: str) -> tuple[str, int | None]:
    """``SEQ`` or ``SEQ:IDX`` -> (sequence, scribble_idx or None)."""
    seq, sep, idx = text.partition(":")
    if not seq or (sep and not idx.isdigit()):
        raise LeaderboardError(f"--sample {text}: expected SEQ or SEQ:IDX (IDX a scribble number, e.g. bear:1)")
    return seq, int(idx) if sep else None


def resolve_sample(runs: list[dict], sequence: str, idx: int | None) -> tuple[str, int]:
    """The (sequence, scribble_idx) every run finished; one-line error naming the run that lacks it."""
    for run in runs:
        have = {(s["sequence"], s["scribble_idx"]) for s in run["per_sample"]}
        idxs = sorted(i for s, i in have if s == sequence)
        if not idxs:
            seqs = sorted({s for s, _ in have})
            raise LeaderboardError(f"{run['path']}: no finished sample of sequence '{sequence}' "
                                   f"(it has: {', '.join(seqs) or 'none'})")
        if idx is None and len(idxs) > 1:
            raise LeaderboardError(f"--sample {sequence}: {run['path']} has scribbles "
                                   f"{', '.join(map(str, idxs))}; say which with {sequence}:IDX")
        if idx is not None and idx not in idxs:
            raise LeaderboardError(f"{run['path']}: no finished sample {sequence}:{idx} "
                                   f"(it has {sequence}:{', '.join(map(str, idxs))})")
        idx = idx if idx is not None else idxs[0]
    return sequence, int(idx)


def _curves(df: pd.DataFrame, value: str, round_col: str, rounds: int, n_frames: int,
            path: Path, key: tuple[str, int]) -> np.ndarray:
    rows = df[(df["sequence"] == key[0]) & (df["scribble_idx"] == key[1])]
    per = rows.groupby([round_col, "frame"])[value].mean()
    out = np.full((rounds, n_frames), np.nan)
    for (t, f), v in per.items():
        if 1 <= t <= rounds and 0 <= f < n_frames:
            out[int(t) - 1, int(f)] = v
    if np.isnan(out).all(axis=1).any():
        t = int(np.isnan(out).all(axis=1).argmax()) + 1
        raise ReportError(f"{path}: no rows for {key[0]}:{key[1]} round {t}")
    return out


def quality_curves(run: dict, key: tuple[str, int], n_frames: int) -> tuple[np.ndarray, str]:
    """([T, n_frames] quality after each round, what it is)."""
    folder, T = Path(run["path"]), run["rounds"]
    q = folder / QUALITY_NAME
    if q.is_file():
        df = read_table(q, ("sequence", "scribble_idx", "round", "frame", "quality"))
        what = "ground-truth J&F" if run["setting"] == "oracle" else "predicted quality"
        return _curves(df, "quality", "round", T, n_frames, q, key), what
    r = folder / REPORT_NAME
    if not r.is_file():
        raise ReportError(f"{folder}: neither {QUALITY_NAME} nor {REPORT_NAME}: nothing to draw the curve from")
    df = read_table(r, ("sequence", "scribble_idx", "interaction", "object_id", "frame", "j_and_f"))
    per_obj = df.groupby(["sequence", "scribble_idx", "interaction", "frame"], as_index=False)["j_and_f"].mean()
    return _curves(per_obj, "j_and_f", "interaction", T, n_frames, r, key), "true J&F (report.csv)"


def _frame_path(run: dict, sequence: str, frame: int) -> Path | None:
    root = (run.get("config") or {}).get("dataset_root")
    return Path(root) / "JPEGImages" / "480p" / sequence / f"{frame:05d}.jpg" if root else None


def thumbnail(run: dict, key: tuple[str, int], t: int, frame: int, notes: list[str]) -> np.ndarray | None:
    """The chosen frame with its predicted mask overlaid, at most THUMB_W wide; None (and a note) when
    the mask or the frame is not there."""
    from PIL import Image

    from ..study.render import overlay, resize

    mask_path = Path(run["path"]) / CHOSEN_DIR / f"{key[0]}-{key[1]:03d}" / f"round{t:02d}-frame{frame:05d}.png"
    if not mask_path.is_file():
        notes.append(f"{run['run_id']}: no chosen masks ({CHOSEN_DIR}/ missing or incomplete): thumbnails omitted")
        return None
    frame_path = _frame_path(run, key[0], frame)
    if frame_path is None or not frame_path.is_file():
        notes.append(f"{run['run_id']}: frames not found ({frame_path or 'no dataset_root in config.json'}): "
                     f"thumbnails omitted")
        return None
    try:
        labels = np.asarray(Image.open(mask_path))
        rgb = np.asarray(Image.open(frame_path).convert("RGB"))
    except OSError as exc:
        raise ReportError(f"{mask_path}: cannot read: {' '.join(str(exc).split())}") from None
    if labels.shape != rgb.shape[:2]:
        notes.append(f"{mask_path}: size {labels.shape[::-1]} differs from the frame's {rgb.shape[1::-1]}: "
                     f"thumbnail omitted")
        return None
    return np.asarray(resize(overlay(rgb, labels), THUMB_W))


def _label(run: dict, runs: list[dict]) -> str:
    """The strategy, plus the setting where the runs mix settings, plus the seed where still needed."""
    label = run["strategy"]
    if len({r["setting"] for r in runs}) > 1:
        label += f" ({run['setting']})"
    same = [r for r in runs if r["strategy"] == run["strategy"] and r["setting"] == run["setting"]]
    return label if len(same) == 1 else f"{label} seed {run['seed']}"


def build_tracks(runs: list[dict], key: tuple[str, int]) -> tuple[list[Track], list[str]]:
    notes: list[str] = []
    tracks = []
    for run in runs:
        sample = next(s for s in run["per_sample"] if (s["sequence"], s["scribble_idx"]) == key)
        chosen = [int(f) for f in sample.get("recommended_frames") or []]
        if len(chosen) != run["rounds"]:
            raise ReportError(f"{run['path']}: summary.json has {len(chosen)} recommended frames for "
                              f"{key[0]}:{key[1]}, expected {run['rounds']}")
        quality, source = quality_curves(run, key, int(sample["n_frames"]))
        if source.startswith("true"):
            notes.append(f"{run['run_id']}: no {QUALITY_NAME}: curve is the true per-frame J&F from {REPORT_NAME}")
        run_notes: list[str] = []
        thumbs = [thumbnail(run, key, t, f, run_notes) for t, f in enumerate(chosen, 1)]
        notes += sorted(set(run_notes), key=run_notes.index)
        tracks.append(Track(_label(run, runs), quality, source, chosen, thumbs))
    return tracks, notes


def _check(runs: list[dict]) -> None:
    if not runs:
        raise LeaderboardError("no runs for the timeline")
    for field_ in ("dataset", "rounds"):
        values = {r[field_] for r in runs}
        if len(values) > 1:
            a = runs[0]
            b = next(r for r in runs if r[field_] != a[field_])
            what = "T" if field_ == "rounds" else field_
            raise LeaderboardError(f"mixed {what}: {a['path']} has {a[field_]}, {b['path']} has {b[field_]}; "
                                   f"a timeline compares runs of one sample")


def _curve_axis(ax, tracks: list[Track], t: int, n_frames: int) -> None:
    x = np.arange(n_frames)
    for i, tr in enumerate(tracks):
        c = COLORS[i % len(COLORS)]
        q = tr.quality[t - 1]
        f = tr.chosen[t - 1]
        ax.plot(x, q, color=c, linewidth=1.3)
        ax.axvline(f, color=c, linestyle="--", linewidth=1.0)
        ax.plot([f], [q[f]], marker="o", color=c, markersize=5, markeredgecolor="black", markeredgewidth=0.5)
    ax.set_xlim(-0.5, n_frames - 0.5)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel(f"round {t}", fontsize=9)
    ax.tick_params(labelsize=7)
    ax.grid(True, alpha=0.3)


def _thumb_axis(ax, track: Track, t: int, color: str) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_edgecolor(color)
        spine.set_linewidth(2)
    img = track.thumbs[t - 1]
    if img is None:
        ax.text(0.5, 0.5, "no thumbnail", ha="center", va="center", fontsize=7, color="0.4",
                transform=ax.transAxes)
    else:
        ax.imshow(img)
    ax.set_title(f"{track.label}: frame {track.chosen[t - 1]}", fontsize=7, color=color, pad=2)


def draw_timeline(tracks: list[Track], notes: list[str], key: tuple[str, int], title: str):
    """A matplotlib Figure: rows = rounds; first column the curves, then one thumbnail per run."""
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    T, S = tracks[0].quality.shape[0], len(tracks)
    n_frames = tracks[0].quality.shape[1]
    thumbs = any(img is not None for tr in tracks for img in tr.thumbs)
    ncols = 1 + (S if thumbs else 0)
    with matplotlib.rc_context({"font.size": 9}):
        fig = Figure(figsize=(6.0 + (1.8 * S if thumbs else 0), 1.45 * T + 1.3), dpi=100, layout="constrained")
        grid = fig.add_gridspec(T, ncols, width_ratios=[3.2] + [1.0] * (ncols - 1))
        for t in range(1, T + 1):
            ax = fig.add_subplot(grid[t - 1, 0])
            _curve_axis(ax, tracks, t, n_frames)
            if t == T:
                ax.set_xlabel("frame")
            for i, tr in enumerate(tracks if thumbs else []):
                _thumb_axis(fig.add_subplot(grid[t - 1, 1 + i]), tr, t, COLORS[i % len(COLORS)])
        handles = [Line2D([], [], color=COLORS[i % len(COLORS)], label=f"{tr.label}: {tr.source}")
                   for i, tr in enumerate(tracks)]
        fig.legend(handles=handles, loc="outside lower center", ncols=min(S, 3), fontsize=8, frameon=False)
        lines = [title, "curves: per-frame quality each strategy saw after round t (legend); dashed line and "
                        "dot: the frame it chose after round t (scribbled in round t+1)", *(f"note: {n}" for n in notes)]
        fig.suptitle("\n".join(lines), fontsize=9)
    return fig


def write_timeline(runs: list[dict], sample: str, out_dir: str | Path) -> dict:
    """Draw the timeline of ``sample`` (``SEQ`` or ``SEQ:IDX``) for ``runs`` into ``out_dir`` as
    ``timeline-<seq>-<idx>.png`` and ``.svg``; returns {"png", "svg", "notes"}."""
    _check(runs)
    key = resolve_sample(runs, *parse_sample(sample))
    tracks, notes = build_tracks(runs, key)
    r0 = runs[0]
    title = f"{key[0]}:{key[1]} — {r0['backend']} on {r0['dataset']}, T={r0['rounds']}"
    fig = draw_timeline(tracks, notes, key, title)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"timeline-{key[0]}-{key[1]}"
    png, svg = save_figure(fig, stem.with_suffix(".png"), stem.with_suffix(".svg"), dpi=100)
    return {"png": png, "svg": svg, "notes": notes}
