"""RunStore: one folder per run, written after every round so that a killed run resumes.

    <out>/<run_id>/config.json    everything needed to reproduce the run (+ versions, git commit)
    <out>/<run_id>/rounds.csv     one row per (sample, round): frames, J, F, J&F, seconds per stage
    <out>/<run_id>/report.csv     davisinteractive's raw per-frame, per-object report
    <out>/<run_id>/summary.json   metrics (see results.metrics); ``complete`` false until the end

Files are replaced atomically (write + rename), so a kill never leaves a half-written file. On
resume, samples that did not finish all their rounds are dropped and run again from their start
(backends and robot are deterministic, so the finished run equals an uninterrupted one).
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd

ROUND_COLUMNS = ["sequence", "scribble_idx", "round", "annotated_frame", "recommended_frame",
                 "n_frames", "n_objects", "jaccard", "contour", "jf", "davis_timing",
                 "backend_s", "quality_s", "strategy_s", "eval_s"]
#: config keys that must match for --resume to continue a run
RESUME_KEYS = ("strategy", "backend", "dataset_root", "sequences", "setting", "rounds", "seed",
               "strategy_options", "backend_options", "quality_weights")


class StoreError(RuntimeError):
    """A run folder cannot be created/resumed (one-line message naming the folder)."""


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as fp:
        fp.write(text)
        fp.flush()
        os.fsync(fp.fileno())
    os.replace(tmp, path)


class RunStore:
    def __init__(self, path: Path, config: dict, rounds: pd.DataFrame, report: pd.DataFrame):
        self.path = Path(path)
        self.config = config
        self.rounds = rounds
        self.report = report

    # -- opening ---------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: Path, config: dict, resume: bool = False, overwrite: bool = False) -> "RunStore":
        path = Path(path)
        cfg_file = path / "config.json"
        if path.exists() and overwrite:
            shutil.rmtree(path)
        if cfg_file.exists():
            if not resume:
                raise StoreError(f"run folder {path} already exists; pass --resume to continue it "
                                 f"or --overwrite to start it again")
            return cls.open(path, expect=config)
        if path.exists() and any(path.iterdir()) and not resume:
            raise StoreError(f"{path} exists and is not a run folder; choose another --out/--name")
        path.mkdir(parents=True, exist_ok=True)
        store = cls(path, config, pd.DataFrame(columns=ROUND_COLUMNS), pd.DataFrame())
        _atomic_write(cfg_file, json.dumps(config, indent=2, sort_keys=True))
        return store

    @classmethod
    def open(cls, path: Path, expect: dict | None = None) -> "RunStore":
        path = Path(path)
        cfg_file = path / "config.json"
        try:
            config = json.loads(cfg_file.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise StoreError(f"{cfg_file}: cannot read run config ({exc})") from exc
        if expect is not None:
            for key in RESUME_KEYS:
                if config.get(key) != expect.get(key):
                    raise StoreError(f"cannot resume {path}: its {key} is {config.get(key)!r}, "
                                     f"this command asks for {expect.get(key)!r}")
        rounds = (pd.read_csv(path / "rounds.csv") if (path / "rounds.csv").exists()
                  else pd.DataFrame(columns=ROUND_COLUMNS))
        report = pd.read_csv(path / "report.csv") if (path / "report.csv").exists() else pd.DataFrame()
        store = cls(path, config, rounds, report)
        store._drop_unfinished()
        return store

    # -- state -----------------------------------------------------------------------------------
    def finished_samples(self) -> set[tuple[str, int]]:
        T = int(self.config["rounds"])
        if not len(self.rounds):
            return set()
        counts = self.rounds.groupby(["sequence", "scribble_idx"])["round"].nunique()
        return {(str(s), int(i)) for (s, i), n in counts.items() if n >= T}

    def _drop_unfinished(self) -> None:
        done = self.finished_samples()

        def keep(df: pd.DataFrame) -> pd.DataFrame:
            if not len(df):
                return df
            mask = [(str(s), int(i)) in done for s, i in zip(df["sequence"], df["scribble_idx"])]
            return df[mask].reset_index(drop=True)

        self.rounds, self.report = keep(self.rounds), keep(self.report)

    # -- writing ---------------------------------------------------------------------------------
    def add_round(self, row: dict, report_rows: pd.DataFrame) -> None:
        self.rounds = pd.concat([self.rounds, pd.DataFrame([row], columns=ROUND_COLUMNS)],
                                ignore_index=True) if len(self.rounds) else pd.DataFrame(
                                    [row], columns=ROUND_COLUMNS)
        report_rows = report_rows.drop(columns=[c for c in ("session_id",) if c in report_rows])
        self.report = (pd.concat([self.report, report_rows], ignore_index=True) if len(self.report)
                       else report_rows.reset_index(drop=True))
        _atomic_write(self.path / "rounds.csv", self.rounds.to_csv(index=False))
        _atomic_write(self.path / "report.csv", self.report.to_csv(index=False))

    def write_summary(self, summary: dict) -> Path:
        out = self.path / "summary.json"
        _atomic_write(out, json.dumps(summary, indent=2))
        return out
