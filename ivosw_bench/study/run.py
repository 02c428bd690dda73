"""``run_study``: a normal run whose strategy is a person (``human:<participant>``)."""
from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Callable

from .choices import latest_choices, read_choices
from ..errors import StudyError
from ..protocol import run_id
from .strategy import HumanStrategy, check_participant, make_ui
from .ui import StudyUI


def study_run_id(dataset_name: str, backend: str, participant: str, setting: str, rounds: int, seed: int) -> str:
    """The run folder name: the session's default with ``human:<p>`` written ``human-<p>``."""
    return run_id(dataset_name, backend, f"human:{participant}", setting, rounds, seed)


def _choice_stats(run_dir: Path) -> dict:
    rows = latest_choices(read_choices(run_dir))
    secs = [r["seconds"] for r in rows]
    return {"n_choices": len(rows), "mean_s": statistics.fmean(secs) if secs else None,
            "median_s": statistics.median(secs) if secs else None}


def run_study(dataset: str | None = None, sequences: list[str] | str | None = None,
              subset: str | None = None, *, participant: str, backend: str = "classic", rounds: int = 8,
              ui: str | StudyUI = "web", port: int = 0, open_browser: bool = True,
              show_quality: bool = False, out: str | Path = "runs", resume: bool = False,
              setting: str = "oracle", seed: int = 0, ask_last_round: bool = False,
              linger: float | None = None, progress: Callable | None = None,
              echo: Callable[[str], None] | None = None) -> tuple[Path, dict]:
    """Run the human-selection study for one participant; return (run folder, summary).

    A normal run (``ivosw_bench.session.run``) with strategy ``human:<participant>`` in the run folder
    ``<out>/<dataset>_<backend>_human-<participant>_<setting>_T<rounds>_seed<seed>``, plus
    ``choices.csv`` (seconds per choice). ``ui`` is ``"web"`` (a page on 127.0.0.1:``port``; 0 picks a
    free port; its URL is printed), ``"terminal"`` (contact sheet PNG + stdin), or a UI object (the
    caller starts and closes it). An existing run of the participant is refused unless ``resume``:
    then finished samples are kept, the unfinished sample restarts, and the choices already made in
    it are replayed without asking when the person would see the same state. ``linger``: seconds to
    keep the page up after the end so an open tab shows the end screen (default 5 for an own web
    UI). The setting defaults to ``oracle`` (the wild setting needs the QA network); the person
    never sees ground truth, and sees per-frame quality only with ``show_quality``.
    """
    from ..data.davis_layout import open_dataset
    from ..session import RunConfig, run

    echo = echo or (lambda msg: print(msg, file=sys.stderr, flush=True))
    participant = check_participant(participant)
    if isinstance(sequences, str):
        sequences = [s.strip() for s in sequences.split(",") if s.strip()] or None
    ds = open_dataset(dataset, sequences=sequences)
    run_folder = study_run_id(ds.name, backend, participant, setting, rounds, seed)
    run_dir = Path(out) / run_folder
    if (run_dir / "config.json").exists() and not resume:
        state = "finished" if (run_dir / "summary.json").exists() and _complete(run_dir) else "unfinished"
        raise StudyError(f"participant '{participant}' already has a {state} study run at {run_dir}; "
                         f"pass --resume to continue it, or use another --participant")
    cfg = RunConfig(strategy=f"human:{participant}", backend=backend, dataset=dataset, subset=subset,
                    sequences=sequences, rounds=rounds, seed=seed, setting=setting, out=str(out),
                    name=run_folder, resume=resume,
                    strategy_options={"show_quality": bool(show_quality), "ask_last_round": bool(ask_last_round)})
    own = isinstance(ui, str)
    the_ui = make_ui(ui, run_dir=run_dir, port=port, open_browser=open_browser) if own else ui
    the_ui.set_participant(participant)
    the_ui.start()
    if the_ui.url:
        echo(f"study for participant '{participant}': open {the_ui.url} in a browser on this machine")
    def human(folder: Path) -> HumanStrategy:
        return HumanStrategy(seed=seed, rounds=rounds, participant=participant, show_quality=show_quality,
                             ask_last_round=ask_last_round, run_dir=folder, ui=the_ui)

    try:
        path, summary = run(cfg, progress=progress, strategy=human)
    except BaseException as exc:
        msg = " ".join(str(exc).split()) or type(exc).__name__
        the_ui.stop(f"The study stopped ({msg}).")
        if own:
            the_ui.close()
        raise
    stats = _choice_stats(path)
    info = {**stats, "run_dir": str(path), "n_samples": summary.get("n_samples"),
            "complete": summary.get("complete"),
            "message": f"study complete: {stats['n_choices']} choices, run folder {path}"}
    the_ui.finish(info)
    if the_ui.url:  # the terminal UI prints it itself
        echo(info["message"])
    if own:
        wait = linger if linger is not None else (5.0 if the_ui.url else 0.0)
        if wait > 0:
            the_ui.wait_until_seen(wait)
        the_ui.close()
    return path, summary


def _complete(run_dir: Path) -> bool:
    import json

    try:
        return bool(json.loads((run_dir / "summary.json").read_text()).get("complete"))
    except (OSError, ValueError):
        return False
