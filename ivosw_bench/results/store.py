"""RunStore: one folder per run, written after every round so that a killed run resumes.

    <out>/<run_id>/config.json    everything needed to reproduce the run (+ versions, git commit)
    <out>/<run_id>/rounds.csv     one row per (sample, round): frames, J, F, J&F, seconds per stage
    <out>/<run_id>/report.csv     davisinteractive's raw per-frame, per-object report
    <out>/<run_id>/quality.csv    per (sample, round, frame): the quality q_t the strategy saw
    <out>/<run_id>/chosen/<seq>-<idx:03d>/round<t:02d>-frame<f:05d>.png
                                  the predicted label map of the frame recommended after round t
    <out>/<run_id>/summary.json   metrics (see results.metrics); ``complete`` false until the end

The columns of every table are declared once here. Files are replaced atomically
(:mod:`ivosw_bench.files`), so a kill never leaves a half-written file. On resume the tables are read
strictly (a damaged line stops the resume with one line naming it, before any work), and samples that
did not finish all their rounds are dropped and run again from their start (backends and robot are
deterministic, so the finished run equals an uninterrupted one).
"""
from __future__ import annotations

import csv
import io
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import StoreError
from ..files import atomic_open, atomic_write, write_json

CONFIG_NAME = "config.json"
SUMMARY_NAME = "summary.json"
CHOSEN_DIR = "chosen"
#: table -> [(column, type)]; the type parses a stored cell (str, int or float)
SCHEMA: dict[str, list[tuple[str, type]]] = {
    "rounds.csv": [("sequence", str), ("scribble_idx", int), ("round", int), ("annotated_frame", int),
                   ("recommended_frame", int), ("n_frames", int), ("n_objects", int), ("jaccard", float),
                   ("contour", float), ("jf", float), ("davis_timing", float), ("backend_s", float),
                   ("quality_s", float), ("strategy_s", float), ("eval_s", float)],
    "report.csv": [("sequence", str), ("scribble_idx", int), ("interaction", int), ("object_id", int),
                   ("frame", int), ("jaccard", float), ("contour", float), ("j_and_f", float),
                   ("timing", float)],
    "quality.csv": [("sequence", str), ("scribble_idx", int), ("round", int), ("frame", int),
                    ("quality", float)],
}
ROUND_COLUMNS = [c for c, _ in SCHEMA["rounds.csv"]]
REPORT_COLUMNS = [c for c, _ in SCHEMA["report.csv"]]
QUALITY_COLUMNS = [c for c, _ in SCHEMA["quality.csv"]]
#: config keys that must match for --resume to continue a run
RESUME_KEYS = ("strategy", "backend", "dataset_root", "sequences", "scribbles", "setting", "rounds", "seed",
               "strategy_options", "backend_options", "quality_weights", "quality_tta")
#: the value of a resume key in a config.json written before the key existed
RESUME_DEFAULTS = {"quality_tta": False}
#: keys that make a config.json one of ours (``--overwrite`` only removes such folders)
RUN_MARKER_KEYS = ("run_id", "strategy", "backend", "rounds", "setting")


def chosen_path(run_dir: Path, sequence: str, scribble_idx: int, round_: int, frame: int) -> Path:
    return Path(run_dir) / CHOSEN_DIR / f"{sequence}-{int(scribble_idx):03d}" / f"round{round_:02d}-frame{frame:05d}.png"


def is_run_folder(path: Path) -> bool:
    """Whether ``path`` holds a config.json written by this project."""
    try:
        config = json.loads((Path(path) / CONFIG_NAME).read_text())
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(config, dict) and all(k in config for k in RUN_MARKER_KEYS)


class _Table:
    """One CSV table of the store: rows kept as text lines, written whole and atomically."""

    def __init__(self, path: Path, name: str):
        self.path, self.name = path, name
        self.columns = [c for c, _ in SCHEMA[name]]
        self.types = [t for _, t in SCHEMA[name]]
        self.rows: list[list] = []

    def read(self) -> None:
        """Read strictly: the header must be ours and every line must parse (StoreError naming it)."""
        if not self.path.exists():
            return
        try:
            text = self.path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise StoreError(f"{self.path}: cannot read ({exc})") from None
        reader = csv.reader(io.StringIO(text))
        header = next(reader, None)
        if header != self.columns:
            raise StoreError(f"{self.path}, line 1: not the header of a {self.name} table "
                             f"(expected {','.join(self.columns)})")
        for row in reader:
            self.rows.append(self._parse(row, reader.line_num))

    def _parse(self, row: list[str], line: int) -> list:
        if len(row) != len(self.columns):
            raise StoreError(f"{self.path}, line {line}: damaged row ({len(row)} fields, expected "
                             f"{len(self.columns)}); fix or delete the line, or start the run again with --overwrite")
        out = []
        for col, typ, cell in zip(self.columns, self.types, row):
            try:
                value = typ(cell)
                if typ is int and str(value) != cell.strip():
                    raise ValueError(cell)
            except ValueError:
                raise StoreError(f"{self.path}, line {line}: damaged row (column {col} = {cell!r} is not "
                                 f"{typ.__name__}); fix or delete the line, or start the run again with "
                                 f"--overwrite") from None
            out.append(value)
        return out

    def append(self, rows: list[list]) -> None:
        self.rows.extend(rows)

    def keep(self, samples: set[tuple[str, int]]) -> None:
        self.rows = [r for r in self.rows if (r[0], r[1]) in samples]

    def write(self) -> None:
        with atomic_open(self.path, "w") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(self.columns)
            w.writerows(self.rows)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=self.columns)


class RunStore:
    def __init__(self, path: Path, config: dict):
        self.path = Path(path)
        self.config = config
        self.tables = {name: _Table(self.path / name, name) for name in SCHEMA}

    @property
    def rounds(self) -> pd.DataFrame:
        return self.tables["rounds.csv"].frame()

    @property
    def report(self) -> pd.DataFrame:
        return self.tables["report.csv"].frame()

    # -- opening ---------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: Path, config: dict, resume: bool = False, overwrite: bool = False,
               log=None) -> "RunStore":
        """A new run folder at ``path``, or the existing one with ``resume``. ``overwrite`` removes an
        existing folder only when it is a run of this project (``log`` is told what it removes)."""
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise StoreError(f"{path} exists and is not a folder; choose another --out/--name")
        if overwrite and path.exists():
            if not is_run_folder(path):
                raise StoreError(f"{path} is not a run folder of ivosw-bench (no {CONFIG_NAME} of a run "
                                 f"inside); --overwrite only removes run folders")
            if log:
                n = sum(1 for p in path.rglob("*") if p.is_file())
                log(f"--overwrite: removing the run folder {path} ({n} files)")
            shutil.rmtree(path)
        if (path / CONFIG_NAME).exists():
            if not resume:
                raise StoreError(f"run folder {path} already exists; pass --resume to continue it "
                                 f"or --overwrite to start it again")
            return cls.open(path, expect=config)
        if path.exists() and any(path.iterdir()):
            raise StoreError(f"{path} exists and is not a run folder; choose another --out/--name")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the run folder {path}: {exc.strerror or exc}") from None
        store = cls(path, config)
        write_json(path / CONFIG_NAME, config, sort_keys=True)
        for table in store.tables.values():
            table.write()
        return store

    @classmethod
    def open(cls, path: Path, expect: dict | None = None) -> "RunStore":
        """An existing run folder, read strictly; ``expect`` (a new config) must match on RESUME_KEYS."""
        path = Path(path)
        cfg_file = path / CONFIG_NAME
        try:
            config = json.loads(cfg_file.read_text())
        except (OSError, ValueError, RecursionError) as exc:
            raise StoreError(f"{cfg_file}: cannot read run config ({exc})") from None
        if not isinstance(config, dict) or "rounds" not in config:
            raise StoreError(f"{cfg_file}: not the config of an ivosw-bench run")
        if expect is not None:
            for key in RESUME_KEYS:
                if config.get(key, RESUME_DEFAULTS.get(key)) != expect.get(key, RESUME_DEFAULTS.get(key)):
                    raise StoreError(f"cannot resume {path}: its {key} is {config.get(key)!r}, "
                                     f"this command asks for {expect.get(key)!r}")
        store = cls(path, config)
        for table in store.tables.values():
            table.read()
        store._drop_unfinished()
        return store

    # -- state -----------------------------------------------------------------------------------
    def finished_samples(self) -> set[tuple[str, int]]:
        T = int(self.config["rounds"])
        rounds: dict[tuple[str, int], set[int]] = {}
        for r in self.tables["rounds.csv"].rows:
            rounds.setdefault((r[0], r[1]), set()).add(r[2])
        return {s for s, done in rounds.items() if len(done) >= T}

    def _drop_unfinished(self) -> None:
        done = self.finished_samples()
        for table in self.tables.values():
            table.keep(done)

    # -- writing ---------------------------------------------------------------------------------
    def add_round(self, row: dict, report_rows: pd.DataFrame, quality: np.ndarray | None = None,
                  chosen_labels: np.ndarray | None = None) -> None:
        """Store one round: its row, davisinteractive's report rows, the quality vector the strategy
        saw and the predicted labels of the recommended frame."""
        seq, idx, t = row["sequence"], int(row["scribble_idx"]), int(row["round"])
        self.tables["rounds.csv"].append([[_cell(row[c]) for c in ROUND_COLUMNS]])
        rep = report_rows.reindex(columns=REPORT_COLUMNS)
        self.tables["report.csv"].append([[_cell(v) for v in r] for r in rep.itertuples(index=False)])
        if quality is not None:
            self.tables["quality.csv"].append([[seq, idx, t, f, float(q)] for f, q in enumerate(quality)])
        if chosen_labels is not None:
            _write_label_png(chosen_path(self.path, seq, idx, t, int(row["recommended_frame"])), chosen_labels)
        for table in self.tables.values():
            table.write()

    def write_summary(self, summary: dict) -> Path:
        return write_json(self.path / SUMMARY_NAME, summary)


def _cell(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        v = float(v)
        return v if math.isfinite(v) else float("nan")
    return v


def _write_label_png(path: Path, labels: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    Image.fromarray(np.asarray(labels).astype(np.uint8), mode="L").save(buf, format="PNG")
    atomic_write(path, buf.getvalue())
