"""HumanStrategy: a person picks the next frame to annotate, from a web page or a terminal.

Used as strategy ``human:<participant>`` (entry point ``human``; the text after ``:`` becomes the
``participant`` option). ``recommend(state)`` shows the current segmentation of every frame (labels
over RGB, never ground truth; per-frame quality only with ``show_quality``) and blocks until the
person chooses. Each choice is appended to ``<run folder>/choices.csv`` (see :mod:`.choices`).

The user interface and the run folder are constructor options (:func:`ivosw_bench.study.run_study`
passes both, building the strategy for the run folder the session creates); by default the strategy
opens a web UI on a free port and keeps no choices.csv.
"""
from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import StudyAborted, StudyError  # noqa: F401 (re-exported)
from ..strategies.base import RoundState, SampleInfo, Strategy
from .choices import ChoiceLog
from .ui import ChoiceRequest, StudyUI

PARTICIPANT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")


def check_participant(participant: Any) -> str:
    if not isinstance(participant, str) or not PARTICIPANT_RE.match(participant):
        raise StudyError(f"--participant must be 1-40 letters, digits, '_', '-' or '.', starting with a "
                         f"letter or digit (got {participant!r}); e.g. 'human:alice'")
    return participant


def state_hash(sequence: str, scribble_idx: int, t: int, history: np.ndarray, annotated: list[int],
               labels: np.ndarray) -> str:
    h = hashlib.blake2b(digest_size=12)
    h.update(json.dumps([sequence, int(scribble_idx), int(t), [int(a) for a in annotated],
                         [int(x) for x in np.asarray(history).ravel()], list(np.shape(labels))]).encode())
    h.update(np.ascontiguousarray(np.asarray(labels), dtype=np.uint8).tobytes())
    return h.hexdigest()


def _finished_samples(run_dir: Path, rounds: int) -> int:
    try:
        import pandas as pd

        df = pd.read_csv(run_dir / "rounds.csv")
        return int((df.groupby(["sequence", "scribble_idx"])["round"].nunique() >= rounds).sum())
    except Exception:  # no rounds yet
        return 0


class HumanStrategy(Strategy):
    """A person chooses the frame (web page or terminal); every choice is timed and logged."""

    name = "human"
    name_argument = "participant"  # ``human:alice`` -> participant="alice"
    description = "a person picks the frame from overlaid thumbnails (ivosw-bench study)"

    def __init__(self, seed: int = 0, rounds: int = 8, participant: str | None = None,
                 show_quality: bool = False, ask_last_round: bool = False, run_dir=None,
                 ui: StudyUI | str | None = None, port: int = 0, open_browser: bool = True) -> None:
        super().__init__(seed, rounds)
        self.participant = check_participant(participant)
        self.show_quality = bool(show_quality)
        self.ask_last_round = bool(ask_last_round)
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.log = ChoiceLog(self.run_dir) if self.run_dir is not None else None
        self._own_ui = ui is None or isinstance(ui, str)
        if self._own_ui:
            ui = make_ui(ui or "web", run_dir=self.run_dir, port=port, open_browser=open_browser)
        self.ui: StudyUI = ui
        self._started = not self._own_ui
        self._sample_no = None
        self.n_samples = None
        self.asked = 0     # choices asked of the person in this process
        self.replayed = 0  # choices taken from choices.csv (resume) without asking

    # -- per sample -------------------------------------------------------------------------------
    def reset(self, sample: SampleInfo) -> None:
        super().reset(sample)
        if self._sample_no is None:
            done = 0
            if self.run_dir is not None:
                done = _finished_samples(self.run_dir, self.rounds)
                try:
                    self.n_samples = int(json.loads((self.run_dir / "config.json").read_text())["n_samples"])
                except (OSError, ValueError, KeyError):
                    self.n_samples = None
            self._sample_no = done
        self._sample_no += 1

    def n_choices(self) -> int:
        return self.rounds if self.ask_last_round else max(0, self.rounds - 1)

    # -- per round --------------------------------------------------------------------------------
    def recommend(self, state: RoundState) -> int:
        sample = self.sample
        if state.t >= self.rounds and not self.ask_last_round:
            # the last round's choice is scribbled after the final evaluation: never used, not asked
            return int(state.unannotated()[0])
        labels = np.asarray(state.prediction().labels)
        frames = np.asarray(state.frames())
        key = state_hash(sample.sequence, sample.scribble_idx, state.t, state.history, state.annotated, labels)
        if self.log is not None:
            old = self.log.lookup(sample.sequence, sample.scribble_idx, state.t, key)
            if old is not None and 0 <= old["frame"] < state.n_frames:
                self.replayed += 1
                self.ui.busy(f"resuming: round {state.t} of {sample.sequence} was already chosen "
                             f"(frame {old['frame']})")
                return int(old["frame"])
        if not self._started:
            self.ui.start()
            self._started = True
            if self.ui.url:
                print(f"ivosw-bench study: participant {self.participant}, open {self.ui.url}",
                      file=sys.stderr, flush=True)
        request = ChoiceRequest(
            participant=self.participant, sequence=sample.sequence, scribble_idx=sample.scribble_idx,
            sample_no=self._sample_no or 1, n_samples=self.n_samples, t=state.t, rounds=self.rounds,
            choice_no=state.t, n_choices=self.n_choices(), n_frames=state.n_frames, frames=frames,
            labels=labels, history=np.asarray(state.history).copy(), annotated=list(state.annotated),
            quality=np.asarray(state.quality, np.float64).copy() if self.show_quality else None)
        choice = self.ui.ask(request)
        frame = int(choice.frame)
        if not 0 <= frame < state.n_frames:  # the UIs validate; this guards third-party UIs
            raise StudyError(f"the {self.ui.name} UI returned frame {frame} (valid: 0..{state.n_frames - 1})")
        self.asked += 1
        if self.log is not None:
            self.log.append({
                "participant": self.participant, "sequence": sample.sequence,
                "scribble_idx": sample.scribble_idx, "round": state.t, "frame": frame,
                "seconds": f"{choice.seconds:.4f}", "paused_seconds": f"{choice.paused_seconds:.4f}",
                "clock_start": choice.clock_start, "ui": self.ui.name, "state": key})
        self.ui.busy(f"the robot scribbles frame {frame}; the backend updates the masks")
        return frame

    def close(self) -> None:
        if self._own_ui:
            self.ui.close()


def make_ui(kind: str, run_dir: Path | None = None, port: int = 0, open_browser: bool = True, **kw) -> StudyUI:
    if kind == "web":
        from .web import WebUI

        return WebUI(port=port, open_browser=open_browser, **kw)
    if kind == "terminal":
        from .terminal import TerminalUI

        return TerminalUI(run_dir=run_dir, **kw)
    raise StudyError(f"--ui must be 'web' or 'terminal', not {kind!r}")
