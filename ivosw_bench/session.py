"""The round loop: davisinteractive session -> backend -> quality -> strategy -> submit_masks.

For each sample (sequence, scribble) and round t = 1..T::

    scribbles = session.get_scribbles(only_last=True)          # initial, then the robot's
    prediction = backend.interact(scribbles, annotated_frame)    # validated against the contract
    q_t = quality.estimate(frames, prediction)                   # oracle: GT J&F; wild: QA net
    a_t = strategy.recommend(RoundState(t, q_t, h_t, ...))       # chosen BEFORE submitting
    session.submit_masks(labels, next_scribble_frame_candidates=[a_t])  # evaluates, robot scribbles a_t

Every round is written to the run store at once; ``resume`` continues a killed run.
"""
from __future__ import annotations

import dataclasses
import json
import platform
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from . import compat
from .data.check import DatasetError
from .data.davis_layout import open_dataset, registered
from .quality.oracle import make_estimator
from .registry import make_backend, make_strategy, strategy_class
from .results.metrics import round_scores, summarize
from .results.store import RunStore
from .strategies.base import RoundState, SampleInfo
from backends.base import BackendError, validate_prediction

SETTINGS = ("oracle", "wild")


class RunError(ValueError):
    """A run cannot start (bad option); one-line message naming the option."""


@dataclass
class RunConfig:
    strategy: str = "random"
    backend: str = "classic"
    dataset: str | None = None  # a folder or a known name; None = the embedded synthetic data
    subset: str | None = None
    sequences: list[str] | None = None
    rounds: int = 8
    seed: int = 0
    setting: str = "oracle"
    out: str = "runs"
    name: str | None = None
    resume: bool = False
    overwrite: bool = False
    quality_weights: str | None = None  # QA network checkpoint of the wild setting (None: shipped)
    strategy_options: dict = field(default_factory=dict)
    backend_options: dict = field(default_factory=dict)


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for pkg in ("ivosw-bench", "davisinteractive", "numpy", "networkx", "pandas", "scikit-image",
                "opencv-python-headless", "torch"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                              cwd=Path(__file__).resolve().parent).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def scribbled_frames(scribbles: dict) -> list[int]:
    return [i for i, strokes in enumerate(scribbles.get("scribbles", [])) if strokes]


def check_options(cfg: RunConfig):
    """Validate the options; return the quality estimator (building it checks its weights)."""
    if cfg.setting not in SETTINGS:
        raise RunError(f"--setting must be one of {', '.join(SETTINGS)}, not '{cfg.setting}'")
    if not 1 <= cfg.rounds <= 16:
        raise RunError(f"--rounds must be in 1..16 (davisinteractive's limit), not {cfg.rounds}")
    cls = strategy_class(cfg.strategy)  # unknown strategy -> RegistryError
    if cls.needs_oracle and cfg.setting == "wild":
        raise RunError(f"strategy '{cfg.strategy}' needs ground truth and cannot run in the wild setting")
    return make_estimator(cfg.setting, cfg.quality_weights)  # a missing QA checkpoint fails here


def run(cfg: RunConfig, progress: Callable | None = None) -> tuple[Path, dict]:
    """Run (or resume) one strategy on one backend over a dataset; return (run folder, summary).

    ``progress(event, **info)`` is called with ``"start"`` (total rounds) and ``"round"`` events.
    """
    compat.apply()
    estimator = check_options(cfg)
    dataset = open_dataset(cfg.dataset, sequences=cfg.sequences)
    sequences = dataset.select(cfg.subset, cfg.sequences)
    samples = dataset.samples(sequences)
    run_id = cfg.name or (f"{dataset.name}_{cfg.backend}_{cfg.strategy.replace(':', '-')}_{cfg.setting}"
                          f"_T{cfg.rounds}_seed{cfg.seed}")
    config = dict(dataclasses.asdict(cfg), run_id=run_id, dataset_name=dataset.name,
                  dataset_root=str(dataset.root.resolve()), sequences=sequences, n_samples=len(samples),
                  versions=_versions(), git_commit=_git_commit(), robot_seed=compat.ROBOT_SEED)
    for key in ("out", "name", "resume", "overwrite", "dataset"):
        config.pop(key)
    # build backend and strategy before the run folder exists: a missing checkout or weights file
    # must not leave a half-created run behind
    backend = make_backend(cfg.backend, **cfg.backend_options)
    config["backend_notes"] = getattr(backend, "notes", lambda: None)()  # e.g. random weights
    wants_dir = getattr(strategy_class(cfg.strategy), "wants_run_dir", False)
    strategy_opts = dict(seed=cfg.seed, rounds=cfg.rounds, **cfg.strategy_options)
    strategy = None if wants_dir else make_strategy(cfg.strategy, **strategy_opts)
    try:
        store = RunStore.create(Path(cfg.out) / run_id, config, resume=cfg.resume, overwrite=cfg.overwrite)
        if strategy is None:  # e.g. the human study keeps its choices in the run folder
            strategy = make_strategy(cfg.strategy, run_dir=store.path, **strategy_opts)
        done = store.finished_samples()
        todo = [s for s in samples if s not in done]
        if progress:
            progress("start", total=len(samples) * cfg.rounds, done=len(done) * cfg.rounds, run_id=run_id)
        if todo:
            _loop(cfg, dataset, sequences, todo, store, progress, backend, strategy, estimator)
    finally:
        backend.close()
        if strategy is not None:
            getattr(strategy, "close", lambda: None)()
    rounds_df = pd.read_csv(store.path / "rounds.csv")
    report = pd.read_csv(store.path / "report.csv")
    complete = store.finished_samples() >= set(samples)
    summary = summarize(store.config, rounds_df, report, dataset, sequences, complete)
    store.write_summary(summary)
    return store.path, summary


def _loop(cfg, dataset, sequences, todo, store: RunStore, progress, backend, strategy, estimator) -> None:
    from davisinteractive.session import DavisInteractiveSession

    T = cfg.rounds
    with registered(dataset, sequences), tempfile.TemporaryDirectory(prefix="davis-") as tmp:
        with DavisInteractiveSession(host="localhost", davis_root=str(dataset.root), subset="train",
                                     max_nb_interactions=T, max_time=None, report_save_dir=tmp,
                                     user_key="ivosw-bench") as sess:
            sess.samples = list(todo)
            frames = gt = None
            history = annotated = None
            while sess.next():
                seq, scribbles, new_sample = sess.get_scribbles(only_last=True)
                _, scribble_idx = sess.samples[sess.sample_idx]
                t = sess.interaction_nb + 1
                meta = dataset.sequences[seq]
                n_obj, n_frames = meta["num_objects"], meta["num_frames"]
                if new_sample:
                    frames, gt = dataset.frames(seq), dataset.masks(seq)
                    backend.reset(seq, frames, n_obj)
                    estimator.reset(seq, frames, n_obj, gt=gt if estimator.uses_ground_truth else None)
                    strategy.reset(SampleInfo(seq, scribble_idx, n_frames, n_obj, cfg.seed))
                    history = np.zeros(n_frames, np.int64)
                    annotated = []
                marked = scribbled_frames(scribbles)
                if t == 1:
                    if not marked:
                        raise DatasetError(f"{dataset.root / 'Scribbles' / seq / f'{scribble_idx:03d}.json'}: "
                                           f"the initial scribble has no strokes")
                    frame_t = marked[0]
                else:
                    # the robot scribbles the recommended frame; it draws nothing when the prediction
                    # there is already right, and the round then passes without a correction
                    frame_t = choice
                for f in set(marked) | {frame_t}:
                    history[f] += 1
                annotated.append(frame_t)
                t0 = time.perf_counter()
                pred = backend.interact(scribbles, frame_t)
                pred = validate_prediction(pred, n_frames, frames.shape[1], frames.shape[2], n_obj,
                                           cfg.backend)
                t1 = time.perf_counter()
                q = np.asarray(estimator.estimate(frames, pred), np.float64)
                if q.shape != (n_frames,) or not np.isfinite(q).all():
                    raise BackendError(f"quality estimator '{estimator.name}' returned an invalid "
                                       f"quality vector for {seq} round {t}")
                t2 = time.perf_counter()
                state = RoundState(t=t, n_frames=n_frames, quality=q.copy(), history=history.copy(),
                                   annotated=list(annotated), frames=lambda fr=frames: fr,
                                   prediction=lambda p=pred: p)
                choice = strategy.recommend(state)
                choice = int(choice) if isinstance(choice, (int, np.integer)) else choice
                if not (isinstance(choice, int) and 0 <= choice < n_frames):
                    raise BackendError(f"strategy '{cfg.strategy}' recommended frame {choice!r} for "
                                       f"{seq} (valid: 0..{n_frames - 1})")
                t3 = time.perf_counter()
                sess.submit_masks(pred.labels.astype(np.int64), next_scribble_frame_candidates=[int(choice)])
                t4 = time.perf_counter()
                rep = sess.get_report()
                rows = rep[(rep["sequence"] == seq) & (rep["scribble_idx"].astype(int) == scribble_idx)
                           & (rep["interaction"].astype(int) == t)]
                rows = compat.clean_report(rows)
                j, f, jf = round_scores(rows)
                store.add_round({
                    "sequence": seq, "scribble_idx": scribble_idx, "round": t,
                    "annotated_frame": frame_t, "recommended_frame": int(choice),
                    "n_frames": n_frames, "n_objects": n_obj, "jaccard": j, "contour": f, "jf": jf,
                    "davis_timing": float(rows["timing"].iloc[0]), "backend_s": t1 - t0,
                    "quality_s": t2 - t1, "strategy_s": t3 - t2, "eval_s": t4 - t3,
                }, rows)
                if progress:
                    progress("round", sequence=seq, scribble_idx=scribble_idx, round=t, jf=jf,
                             frame=int(choice))


def load_config(path: Path) -> dict:
    return json.loads((Path(path) / "config.json").read_text())
