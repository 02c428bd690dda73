"""The round loop: davisinteractive session -> backend -> quality -> strategy -> submit_masks.

For each sample (sequence, scribble) and round t = 1..T, :func:`play_round` does::

    prediction = backend.interact(scribbles, annotated_frame)    # validated against the contract
    q_t = quality.estimate(frames, prediction)                   # oracle: GT J&F; wild: QA net
    a_t = strategy.recommend(RoundState(t, q_t, h_t, ...))       # chosen BEFORE submitting
    session.submit_masks(labels, next_scribble_frame_candidates=[a_t])  # evaluates, robot scribbles a_t

and returns the round's record, which :func:`run` writes to the run store at once (``resume``
continues a killed run). What a sample has accumulated (annotation history, annotated frames, the
frame awaiting the robot's scribble) lives in its :class:`SampleState`, never in loop variables.
With ``host`` the same loop talks to a benchmark server (``ivosw-bench serve``) through
davisinteractive's remote connector; see :mod:`ivosw_bench.server.client`.
"""
from __future__ import annotations

import dataclasses
import platform
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Callable, Union

import numpy as np
import pandas as pd

from . import compat, evaluation, protocol
from .data.davis_layout import Dataset, open_dataset, registered
from .errors import BackendError, RunError
from .episode import Lookahead
from .quality.base import QualityEstimator
from .quality.oracle import make_estimator
from .registry import make_backend, make_strategy, strategy_class
from .results.metrics import round_scores, summarize
from .results.store import RunStore
from .server import client
from .strategies.base import RoundState, SampleInfo, Strategy
from backends.base import Backend, Prediction, validate_prediction

SETTINGS = ("oracle", "wild")
MAX_ROUNDS = 16  # davisinteractive's limit
RUN_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=@-]{0,199}$")
#: a strategy, or a factory that builds it from the run folder (e.g. the study's human strategy)
StrategySpec = Union[Strategy, Callable[[Path], Strategy], None]


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
    host: str | None = None         # a benchmark server's URL (None: davisinteractive's local service)
    user_key: str | None = None     # the key the server gave this user (never written to the run folder)
    timeout: float = 120.0          # seconds to wait for the server's answer


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


def check_run_name(name: str) -> str:
    """A run name is one plain path component (no separators, not ``.`` or ``..``, no leading dot)."""
    if not isinstance(name, str) or not RUN_NAME_RE.match(name) or name in (".", ".."):
        raise RunError(f"--name must be one plain folder name (letters, digits, '.', '_', '-', '+', '=', "
                       f"'@'; not starting with '.' or '-'), not {name!r}")
    return name


def check_options(cfg: RunConfig) -> QualityEstimator:
    """Validate the options; return the quality estimator (building it checks its weights)."""
    if cfg.setting not in SETTINGS:
        raise RunError(f"--setting must be one of {', '.join(SETTINGS)}, not '{cfg.setting}'")
    if not isinstance(cfg.rounds, int) or not 1 <= cfg.rounds <= MAX_ROUNDS:
        raise RunError(f"--rounds must be in 1..{MAX_ROUNDS} (davisinteractive's limit), not {cfg.rounds}")
    if not isinstance(cfg.seed, int) or not 0 <= cfg.seed < 2**32:
        raise RunError(f"--seed must be an integer in 0..{2**32 - 1}, not {cfg.seed}")
    if cfg.name is not None:
        check_run_name(cfg.name)
    cls = strategy_class(cfg.strategy)  # unknown strategy -> RegistryError
    if cfg.host is not None:
        _check_remote(cfg, cls)
    if (cls.needs_oracle or cls.needs_lookahead) and cfg.setting == "wild":
        raise RunError(f"strategy '{cfg.strategy}' needs ground truth and cannot run in the wild setting")
    estimator = make_estimator(cfg.setting, cfg.quality_weights)  # a missing QA checkpoint fails here
    if cfg.host is not None and estimator.uses_ground_truth:
        raise RunError(f"quality estimator '{estimator.name}' needs ground truth, which stays on the server at {cfg.host}")
    return estimator


def _check_remote(cfg: RunConfig, cls) -> None:
    """Against a server the ground truth stays there: nothing that needs it can run."""
    if cls.needs_oracle or cls.needs_lookahead:
        raise RunError(f"strategy '{cfg.strategy}' needs ground truth, which stays on the server at {cfg.host}")
    if cfg.setting != "wild":
        raise RunError(f"--setting {cfg.setting} needs ground truth, which stays on the server at {cfg.host}; "
                       f"use --setting wild")
    if cfg.subset is not None or cfg.sequences:
        raise RunError("--subset/--sequences: the server decides which samples a session evaluates")
    if not isinstance(cfg.timeout, (int, float)) or not cfg.timeout > 0:
        raise RunError(f"--timeout must be a positive number of seconds, not {cfg.timeout}")


def default_run_id(cfg: RunConfig, dataset_name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._+=@-]", "-", dataset_name).lstrip(".-") or "dataset"
    return protocol.run_id(safe, cfg.backend, cfg.strategy, cfg.setting, cfg.rounds, cfg.seed)


def run_config(cfg: RunConfig, dataset: Dataset, sequences: list[str], n_samples: int, run_id: str) -> dict:
    """config.json of a run: the options plus what reproduces it (dataset root, versions, commit)."""
    config = dict(dataclasses.asdict(cfg), run_id=run_id, dataset_name=dataset.name,
                  dataset_root=str(dataset.root.resolve()), sequences=sequences, n_samples=n_samples,
                  versions=_versions(), git_commit=_git_commit(), robot_seed=compat.ROBOT_SEED)
    for key in ("out", "name", "resume", "overwrite", "dataset", "user_key", "timeout"):
        config.pop(key)
    return config


def run(cfg: RunConfig, progress: Callable | None = None, strategy: StrategySpec = None,
        log: Callable[[str], None] | None = None) -> tuple[Path, dict]:
    """Run (or resume) one strategy on one backend over a dataset; return (run folder, summary).

    ``strategy``: a ready strategy, or a factory called with the run folder (default: built from
    ``cfg.strategy`` and ``cfg.strategy_options``). ``progress(event, **info)`` is called with
    ``"start"`` (total rounds) and ``"round"`` events; ``log`` receives one-line notices (e.g. what
    ``--overwrite`` removes). Everything that can be wrong with the options is checked before the run
    folder is created.
    """
    compat.apply()
    estimator = check_options(cfg)
    remote = client.connect(cfg.host, cfg.user_key, cfg.timeout) if cfg.host is not None else None
    dataset = open_dataset(cfg.dataset, sequences=cfg.sequences, annotations=remote is None)
    if remote is not None:
        cfg = dataclasses.replace(cfg, host=remote.url)
        sequences = client.check_plan(remote, dataset, cfg.rounds)
    else:
        sequences = dataset.select(cfg.subset, cfg.sequences)
    samples = dataset.samples(sequences)
    run_id = cfg.name or default_run_id(cfg, dataset.name)
    config = run_config(cfg, dataset, sequences, len(samples), run_id)
    backend = make_backend(cfg.backend, **cfg.backend_options)
    built = None
    try:
        if strategy is None:
            strategy = built = make_strategy(cfg.strategy, seed=cfg.seed, rounds=cfg.rounds,
                                             **cfg.strategy_options)
        store = RunStore.create(Path(cfg.out) / run_id, config, resume=cfg.resume, overwrite=cfg.overwrite,
                                log=log)
        client.check_same_host(store.config, cfg.host, store.path)
        if not isinstance(strategy, Strategy):
            strategy = built = strategy(store.path)
        if strategy.name != cfg.strategy.partition(":")[0]:
            raise RunError(f"the strategy given to the run is '{strategy.name}' but its config says "
                           f"'{cfg.strategy}'")
        done = store.finished_samples()
        todo = [s for s in samples if s not in done]
        if progress:
            progress("start", total=len(samples) * cfg.rounds, done=len(done) * cfg.rounds, run_id=run_id)
        loop = RoundLoop(cfg, dataset, backend, strategy, estimator)
        if remote is not None:  # the session's end (finish) is the server's: always reached
            loop.session_key = client.session_key(store.path, cfg.host, cfg.resume)
            with client.remote_calls(cfg.host, cfg.timeout):
                loop.run(sequences, todo, store, progress)
        elif todo:
            loop.run(sequences, todo, store, progress)
    finally:
        backend.close()
        if built is not None:
            built.close()
    complete = store.finished_samples() >= set(samples)
    if remote is None:
        summary = summarize(store.config, store.rounds, store.report, dataset, sequences, complete)
    else:  # time-AUC and J&F@60s: the server's summary (no local ground truth to recompute them)
        summary = client.with_server_summary(summarize(store.config, store.rounds, None, dataset, sequences,
                                                       complete), loop.global_summary, store.path)
    store.write_summary(summary)
    return store.path, summary


# ------------------------------------------------------------------------------------------ rounds
@dataclass
class SampleState:
    """One sample in progress: its data and what the protocol has counted so far."""

    info: SampleInfo
    frames: np.ndarray
    gt: np.ndarray | None            # only when a ground-truth user (oracle quality, look-ahead) needs it
    initial_frame: int
    history: np.ndarray              # h_t: times each frame was annotated
    annotated: list[int] = field(default_factory=list)
    pending: int | None = None       # the frame recommended last round, awaiting the robot's scribble

    def annotated_frame(self, t: int) -> int:
        """The frame round t's scribble is on: the initial scribble's, then the last recommendation."""
        return self.initial_frame if t == 1 else int(self.pending)


@dataclass
class RoundRecord:
    """What one round produced, as stored."""

    row: dict
    report_rows: pd.DataFrame
    quality: np.ndarray
    chosen_labels: np.ndarray


class RoundLoop:
    """The per-round protocol of one run: a backend, a quality estimator and a strategy."""

    def __init__(self, cfg: RunConfig, dataset: Dataset, backend: Backend, strategy: Strategy,
                 estimator: QualityEstimator):
        self.cfg, self.dataset = cfg, dataset
        self.backend, self.strategy, self.estimator = backend, strategy, estimator
        self.lookahead: Lookahead | None = None
        self.session_key: str | None = None   # the server session to continue (remote runs)
        self.global_summary: dict | None = None

    def run(self, sequences: list[str], todo: list[tuple[str, int]], store: RunStore, progress) -> None:
        with registered(self.dataset, sequences), tempfile.TemporaryDirectory(prefix="davis-") as tmp:
            with self._session(tmp) as sess:
                sess.samples = list(todo)
                sample = None
                while sess.next():
                    seq, scribbles, new_sample = sess.get_scribbles(only_last=True)
                    if new_sample:
                        _, scribble_idx = sess.samples[sess.sample_idx]
                        sample = self.start_sample(seq, scribble_idx, scribbles)
                    record = self.play_round(sess, sample, sess.interaction_nb + 1, scribbles)
                    store.add_round(record.row, record.report_rows, record.quality, record.chosen_labels)
                    if progress:
                        progress("round", sequence=seq, scribble_idx=sample.info.scribble_idx,
                                 round=record.row["round"], jf=record.row["jf"],
                                 frame=record.row["recommended_frame"])
                self.global_summary = sess.global_summary

    def _session(self, report_dir: str):
        """davisinteractive's session: its local service, or the server at ``cfg.host`` (continuing the
        server session ``self.session_key``)."""
        from davisinteractive.session import DavisInteractiveSession

        if self.cfg.host is None:
            return DavisInteractiveSession(host="localhost", davis_root=str(self.dataset.root), subset="train",
                                           max_nb_interactions=self.cfg.rounds, max_time=None,
                                           report_save_dir=report_dir, user_key="ivosw-bench")
        sess = DavisInteractiveSession(host=self.cfg.host, user_key=self.cfg.user_key, davis_root=str(self.dataset.root),
                                       subset="test-dev", max_nb_interactions=self.cfg.rounds, max_time=None,
                                       report_save_dir=report_dir)
        client.adopt_session(sess, self.session_key)
        return sess

    def start_sample(self, seq: str, scribble_idx: int, scribbles: dict) -> SampleState:
        meta = self.dataset.sequences[seq]
        n_obj, n_frames = meta["num_objects"], meta["num_frames"]
        where = str(protocol.scribble_path(self.dataset.root, seq, scribble_idx))
        initial = protocol.first_scribbled_frame(scribbles, where=where)
        frames = self.dataset.frames(seq)
        wants_gt = self.estimator.uses_ground_truth or self.strategy.needs_lookahead
        gt = self.dataset.masks(seq) if wants_gt else None
        info = SampleInfo(seq, scribble_idx, n_frames, n_obj, self.cfg.seed)
        self.backend.reset(seq, frames, n_obj)
        self.estimator.reset(seq, frames, n_obj, gt=gt if self.estimator.uses_ground_truth else None)
        self.strategy.reset(info)
        if self.strategy.needs_lookahead:
            self.lookahead = Lookahead(self.backend, seq, gt, n_obj, frames)
        return SampleState(info, frames, gt, initial, np.zeros(n_frames, np.int64))

    def play_round(self, sess, sample: SampleState, t: int, scribbles: dict) -> RoundRecord:
        """One round of one sample; returns what is stored."""
        info = sample.info
        frame_t = sample.annotated_frame(t)
        protocol.count_annotation(sample.history, scribbles, frame_t)
        sample.annotated.append(frame_t)
        t0 = time.perf_counter()
        pred = self._interact(scribbles, frame_t, sample)
        t1 = time.perf_counter()
        q = self._quality(sample, pred, t)
        t2 = time.perf_counter()
        choice = self._recommend(sample, pred, q, t)
        t3 = time.perf_counter()
        with evaluation.submission(pred.labels, *(self.estimator.true_jf(pred) or (None, None))):
            sess.submit_masks(pred.labels, next_scribble_frame_candidates=[choice])
        t4 = time.perf_counter()
        sample.pending = choice
        rows = _report_rows(sess, info.sequence, info.scribble_idx, t)
        j, f, jf = round_scores(rows)
        row = {"sequence": info.sequence, "scribble_idx": info.scribble_idx, "round": t,
               "annotated_frame": frame_t, "recommended_frame": choice, "n_frames": info.n_frames,
               "n_objects": info.n_objects, "jaccard": j, "contour": f, "jf": jf,
               "davis_timing": float(rows["timing"].iloc[0]), "backend_s": t1 - t0,
               "quality_s": t2 - t1, "strategy_s": t3 - t2, "eval_s": t4 - t3}
        return RoundRecord(row, rows, q, pred.labels[choice])

    def _interact(self, scribbles: dict, frame: int, sample: SampleState) -> Prediction:
        info = sample.info
        pred = validate_prediction(self.backend.interact(scribbles, frame), info.n_frames,
                                   sample.frames.shape[1], sample.frames.shape[2], info.n_objects, self.cfg.backend)
        if self.lookahead is not None:
            self.lookahead.after_round(scribbles, frame, pred.labels)
        return pred

    def _quality(self, sample: SampleState, pred: Prediction, t: int) -> np.ndarray:
        q = np.asarray(self.estimator.estimate(sample.frames, pred), np.float64)
        if q.shape != (sample.info.n_frames,) or not np.isfinite(q).all():
            raise BackendError(f"quality estimator '{self.estimator.name}' returned an invalid quality "
                               f"vector for {sample.info.sequence} round {t}")
        return q

    def _recommend(self, sample: SampleState, pred: Prediction, q: np.ndarray, t: int) -> int:
        state = RoundState(t=t, n_frames=sample.info.n_frames, quality=q.copy(), history=sample.history.copy(),
                           annotated=list(sample.annotated), rounds=self.cfg.rounds,
                           frames=lambda fr=sample.frames: fr, prediction=lambda p=pred: p,
                           lookahead=self.lookahead)
        choice = self.strategy.recommend(state)
        if isinstance(choice, (bool, np.bool_)) or not isinstance(choice, (int, np.integer)) \
                or not 0 <= int(choice) < sample.info.n_frames:
            raise BackendError(f"strategy '{self.cfg.strategy}' recommended frame {choice!r} for "
                               f"{sample.info.sequence} (valid: 0..{sample.info.n_frames - 1})")
        return int(choice)


def _report_rows(sess, seq: str, scribble_idx: int, t: int) -> pd.DataFrame:
    """davisinteractive's report rows of one round of one sample (numeric columns cast)."""
    rep = sess.get_report()
    rows = rep[(rep["sequence"] == seq) & (rep["scribble_idx"].astype(int) == scribble_idx)
               & (rep["interaction"].astype(int) == t)]
    return compat.clean_report(rows)
