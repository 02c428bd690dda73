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
from typing import Callable, Iterator, Union

import numpy as np
import pandas as pd

from . import compat, evaluation, protocol
from .data.davis_layout import Dataset, open_dataset, registered
from .errors import BackendError, RunError
from .episode import Lookahead
from .quality.base import QualityEstimator
from .quality.oracle import make_estimator
from .registry import backend_class, make_backend, make_strategy, strategy_class, strategy_options
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
    scribbles: list[int] | None = None  # scribble set numbers to play (None: every set of each sequence)
    rounds: int = 8
    seed: int = 0
    setting: str = "oracle"
    out: str = "runs"
    name: str | None = None
    resume: bool = False
    overwrite: bool = False
    quality_weights: str | None = None  # QA network checkpoint of the wild setting (None: shipped)
    quality_tta: bool = False       # wild: average the QA network over each crop and its mirror image
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
    estimator = make_estimator(cfg.setting, cfg.quality_weights, cfg.quality_tta)  # a missing QA checkpoint fails here
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
    run_id = protocol.run_id(safe, cfg.backend, cfg.strategy, cfg.setting, cfg.rounds, cfg.seed)
    return run_id + ("_s" + "-".join(map(str, cfg.scribbles)) if cfg.scribbles else "")


def run_config(cfg: RunConfig, dataset: Dataset, sequences: list[str], n_samples: int, run_id: str) -> dict:
    """config.json of a run: the options plus what reproduces it (dataset root, versions, commit)."""
    config = dict(dataclasses.asdict(cfg), run_id=run_id, dataset_name=dataset.name,
                  dataset_root=str(dataset.root.resolve()), sequences=sequences, n_samples=n_samples,
                  versions=_versions(), git_commit=_git_commit(), robot_seed=compat.ROBOT_SEED)
    for key in ("out", "name", "resume", "overwrite", "dataset", "user_key", "timeout"):
        config.pop(key)
    return config


def select_scribbles(samples: list[tuple[str, int]], sets: list[int] | None, where) -> list[tuple[str, int]]:
    """The samples whose scribble set is in ``sets`` (all when None); RunError naming the dataset
    when a set is missing from a selected sequence."""
    if sets is None:
        return samples
    have: dict[str, set] = {}
    for seq, idx in samples:
        have.setdefault(seq, set()).add(idx)
    for seq, idxs in have.items():
        missing = sorted(set(sets) - idxs)
        if missing:
            raise RunError(f"{where}: sequence '{seq}' has no scribble set {', '.join(map(str, missing))} "
                              f"(--scribbles; it has {', '.join(map(str, sorted(idxs)))})")
    return [(seq, idx) for seq, idx in samples if idx in sets]


@dataclass
class RunPlan:
    """A run decided and its folder opened: what remains is to play ``todo`` and summarise."""

    cfg: RunConfig
    dataset: Dataset
    sequences: list[str]
    samples: list[tuple[str, int]]
    store: RunStore
    estimator: QualityEstimator

    @property
    def todo(self) -> list[tuple[str, int]]:
        done = self.store.finished_samples()
        return [s for s in self.samples if s not in done]


def _build_strategy(cfg: RunConfig) -> Strategy:
    options = dict(cfg.strategy_options)
    if "setting" in strategy_options(strategy_class(cfg.strategy)):
        options.setdefault("setting", cfg.setting)  # e.g. the agent's default weights differ per setting
    return make_strategy(cfg.strategy, seed=cfg.seed, rounds=cfg.rounds, **options)


def prepare(cfg: RunConfig, log: Callable[[str], None] | None = None, check_parts: bool = True) -> RunPlan:
    """Check every option (building the backend and strategy once, then releasing them, unless
    ``check_parts`` is False because the caller builds them) and create or reopen the run folder.
    Nothing is written when an option is wrong."""
    compat.apply()
    estimator = check_options(cfg)
    remote = client.connect(cfg.host, cfg.user_key, cfg.timeout) if cfg.host is not None else None
    dataset = open_dataset(cfg.dataset, sequences=cfg.sequences, annotations=remote is None)
    if remote is not None:
        cfg = dataclasses.replace(cfg, host=remote.url)
        sequences = client.check_plan(remote, dataset, cfg.rounds)
    else:
        sequences = dataset.select(cfg.subset, cfg.sequences)
    samples = select_scribbles(dataset.samples(sequences), cfg.scribbles, dataset.root)
    run_id = cfg.name or default_run_id(cfg, dataset.name)
    if check_parts:
        make_backend(cfg.backend, **cfg.backend_options).close()
        _build_strategy(cfg).close()
    config = run_config(cfg, dataset, sequences, len(samples), run_id)
    config["backend_notes"] = backend_class(cfg.backend).notes()  # e.g. random weights
    config["strategy_provenance"] = strategy_class(cfg.strategy).provenance(cfg.strategy_options, cfg.setting)
    store = RunStore.create(Path(cfg.out) / run_id, config, resume=cfg.resume, overwrite=cfg.overwrite, log=log)
    return RunPlan(cfg, dataset, sequences, samples, store, estimator)


def finish(plan: RunPlan, global_summary: dict | None = None) -> tuple[Path, dict]:
    """Write the run's summary.json; return (run folder, summary). A remote run takes time-AUC and
    J&F@60s from the server's ``global_summary`` (no local ground truth to recompute them)."""
    store = plan.store
    complete = store.finished_samples() >= set(plan.samples)
    if plan.cfg.host is None:
        summary = summarize(store.config, store.rounds, store.report, plan.dataset, plan.sequences, complete)
    else:
        summary = client.with_server_summary(summarize(store.config, store.rounds, None, plan.dataset,
                                                       plan.sequences, complete), global_summary, store.path)
    store.write_summary(summary)
    return store.path, summary


def run(cfg: RunConfig, progress: Callable | None = None, strategy: StrategySpec = None,
        log: Callable[[str], None] | None = None, jobs: int = 1, executor: str = "local",
        ray_address: str | None = None) -> tuple[Path, dict]:
    """Run (or resume) one strategy on one backend over a dataset; return (run folder, summary).

    ``strategy``: a ready strategy, or a factory called with the run folder (default: built from
    ``cfg.strategy`` and ``cfg.strategy_options``); a given strategy runs here, one sample after
    another. Otherwise ``jobs`` > 1 (or ``executor="ray"``) plays the samples in parallel
    (:func:`run_all`). ``progress(event, **info)`` is called with ``"start"`` (total rounds) and
    ``"round"`` events; ``log`` receives one-line notices (e.g. what ``--overwrite`` removes).
    Everything that can be wrong with the options is checked before the run folder is created.
    """
    if strategy is None and (jobs != 1 or executor != "local"):
        return run_all([cfg], progress=progress, log=log, jobs=jobs, executor=executor,
                       ray_address=ray_address)[0]
    compat.apply()
    check_options(cfg)
    backend = make_backend(cfg.backend, **cfg.backend_options)
    built = loop = None
    try:
        if strategy is None:
            strategy = built = _build_strategy(cfg)
        plan = prepare(cfg, log, check_parts=False)
        client.check_same_host(plan.store.config, plan.cfg.host, plan.store.path)
        if not isinstance(strategy, Strategy):
            strategy = built = strategy(plan.store.path)
        if strategy.name != cfg.strategy.partition(":")[0]:
            raise RunError(f"the strategy given to the run is '{strategy.name}' but its config says "
                           f"'{cfg.strategy}'")
        todo = plan.todo
        if progress:
            progress("start", total=len(plan.samples) * cfg.rounds,
                     done=(len(plan.samples) - len(todo)) * cfg.rounds, run_id=plan.store.path.name)
        loop = RoundLoop(plan.cfg, plan.dataset, backend, strategy, plan.estimator)
        if plan.cfg.host is not None:  # the session's end (finish) is the server's: always reached
            loop.session_key = client.session_key(plan.store.path, plan.cfg.host, cfg.resume)
            with client.remote_calls(plan.cfg.host, cfg.timeout):
                _store_records(loop.records(plan.sequences, todo, always=True), plan.store, progress)
        else:
            _store_records(loop.records(plan.sequences, todo), plan.store, progress)
    finally:
        backend.close()
        if built is not None:
            built.close()
    return finish(plan, loop.global_summary if loop is not None else None)


def _store_records(records, store: RunStore, progress) -> None:
    for record in records:
        store.add_round(record.row, record.report_rows, record.quality, record.chosen_labels)
        if progress:
            progress("round", sequence=record.row["sequence"], scribble_idx=record.row["scribble_idx"],
                     round=record.row["round"], jf=record.row["jf"], frame=record.row["recommended_frame"])


def run_all(cfgs: list[RunConfig], progress: Callable | None = None, log: Callable[[str], None] | None = None,
            jobs: int | None = None, executor: str = "local", ray_address: str | None = None) -> list[tuple[Path, dict]]:
    """Several runs (e.g. a comparison) with their samples played in parallel: every (run, sample)
    is one task of the executor (``jobs`` local processes, default the machine's cores; or Ray).
    Each run's samples are written in the dataset's order, so its folder and summary equal a serial
    run's (timing columns excepted). Returns (run folder, summary) per config."""
    from .executors import make_executor

    if any(cfg.host is not None for cfg in cfgs):  # a server session is one davisinteractive session
        if jobs not in (None, 1) or executor != "local":
            raise RunError("--host runs one server session at a time: --jobs 1 and the local executor")
        return [run(cfg, progress=progress, log=log) for cfg in cfgs]
    plans = [prepare(cfg, log) for cfg in cfgs]
    tasks = [(i, sample) for i, plan in enumerate(plans) for sample in plan.todo]
    if progress:
        total = sum(len(p.samples) for p in plans) * cfgs[0].rounds if cfgs else 0
        progress("start", total=total, done=total - len(tasks) * (cfgs[0].rounds if cfgs else 0),
                 run_id=f"{len(plans)} run(s), {len(tasks)} sample(s)")
    writer = _OrderedWriter(plans, tasks)
    with make_executor(executor, jobs, ray_address) as ex:
        work = [(_task_config(plans[i]), sample) for i, sample in tasks]
        for k, records in ex.map_unordered(play_sample, work):
            writer.put(k, records)
            if progress:
                row = records[-1].row
                progress("sample", sequence=row["sequence"], scribble_idx=row["scribble_idx"],
                         rounds=len(records), jf=row["jf"])
    return [writer.finished.get(i) or finish(plan) for i, plan in enumerate(plans)]


class _OrderedWriter:
    """Writes each run's finished samples in the run's own sample order (results arrive unordered),
    and a run's summary as soon as its last sample is written (not when the whole comparison ends)."""

    def __init__(self, plans: list[RunPlan], tasks: list[tuple[int, tuple[str, int]]]):
        self.plans, self.tasks = plans, tasks
        self.pending: dict[int, list] = {}
        self.next = {i: [k for k, (j, _) in enumerate(tasks) if j == i] for i in range(len(plans))}
        self.finished: dict[int, tuple[Path, dict]] = {}

    def put(self, k: int, records: list) -> None:
        self.pending[k] = records
        i = self.tasks[k][0]
        order = self.next[i]
        while order and order[0] in self.pending:
            for rec in self.pending.pop(order.pop(0)):
                self.plans[i].store.add_round(rec.row, rec.report_rows, rec.quality, rec.chosen_labels)
        if not order and i not in self.finished:
            self.finished[i] = finish(self.plans[i])


def _task_config(plan: RunPlan) -> dict:
    """What a worker needs to play samples of a run: the options (dataset root resolved) and sequences."""
    cfg = dataclasses.asdict(plan.cfg)
    cfg["dataset"] = str(plan.dataset.root.resolve())
    cfg["sequences"] = list(plan.sequences)
    cfg["subset"] = None
    return cfg


_WORKER_PARTS: dict = {}  # per process: config digest -> (dataset, backend, strategy, estimator)


def play_sample(task_cfg: dict, sample: tuple[str, int]) -> list["RoundRecord"]:
    """Worker entry point: play one sample of a run (no run folder); returns its round records.
    The backend, strategy and estimator are built once per process and configuration."""
    import json

    compat.apply()
    key = json.dumps(task_cfg, sort_keys=True, default=str)
    if key not in _WORKER_PARTS:
        cfg = RunConfig(**task_cfg)
        dataset = open_dataset(cfg.dataset, sequences=cfg.sequences, check=False)
        _WORKER_PARTS.clear()  # one configuration at a time: release the previous backend's memory
        _WORKER_PARTS[key] = (cfg, dataset, make_backend(cfg.backend, **cfg.backend_options), _build_strategy(cfg),
                              make_estimator(cfg.setting, cfg.quality_weights, cfg.quality_tta))
    cfg, dataset, backend, strategy, estimator = _WORKER_PARTS[key]
    loop = RoundLoop(cfg, dataset, backend, strategy, estimator)
    return list(loop.records(cfg.sequences, [tuple(sample)]))


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

    def records(self, sequences: list[str], samples: list[tuple[str, int]],
                always: bool = False) -> Iterator["RoundRecord"]:
        """Play ``samples`` round by round (davisinteractive's local service, or the server of a remote
        run), yielding each round's record as soon as it is submitted. ``always``: open the session even
        with nothing to play (a server session must be finished)."""
        if not samples and not always:
            return
        with registered(self.dataset, sequences), tempfile.TemporaryDirectory(prefix="davis-") as tmp:
            with self._session(tmp) as sess:
                sess.samples = list(samples)
                sample = None
                while sess.next():
                    seq, scribbles, new_sample = sess.get_scribbles(only_last=True)
                    if new_sample:
                        _, scribble_idx = sess.samples[sess.sample_idx]
                        sample = self.start_sample(seq, scribble_idx, scribbles)
                    yield self.play_round(sess, sample, sess.interaction_nb + 1, scribbles)
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
