"""What a study UI is shown and answers: the request for one frame choice, the choice, and the
:class:`StudyUI` protocol that the web page (:mod:`.web`) and the terminal (:mod:`.terminal`)
implement. A low module of the study package: the UIs and the human strategy import it, it imports
none of them.
"""
from __future__ import annotations

from dataclasses import dataclass
import numpy as np


@dataclass
class ChoiceRequest:
    """What the person is shown for one choice (no ground truth)."""

    participant: str
    sequence: str
    scribble_idx: int
    sample_no: int          # 1-based, counting samples finished before a resume
    n_samples: int | None
    t: int                  # the round whose result is shown
    rounds: int
    choice_no: int          # 1-based within the sample
    n_choices: int          # choices asked per sample
    n_frames: int
    frames: np.ndarray      # [T, H, W, 3] uint8
    labels: np.ndarray      # [T, H, W] int
    history: np.ndarray     # times each frame was annotated
    annotated: list[int]
    quality: np.ndarray | None  # only with show_quality


@dataclass
class Choice:
    frame: int
    seconds: float
    paused_seconds: float = 0.0
    clock_start: str = "page_ready"


class StudyUI:
    """Base class of the study's user interfaces: everything the study calls is declared here.

    ``url`` is the page to open (None for a UI without one). Subclasses implement :meth:`ask` (show a
    request, block until the person chooses) and whatever of the rest they need."""

    name: str = "ui"
    url: str | None = None

    def start(self) -> None:
        """Begin showing (e.g. start the server)."""

    def set_participant(self, participant: str) -> None:
        """The person the UI serves (shown on the page)."""

    def ask(self, request: ChoiceRequest) -> Choice:
        raise NotImplementedError(f"study UI '{self.name}' does not implement ask()")

    def busy(self, message: str) -> None:
        """Between choices: what the harness is doing."""

    def finish(self, info: dict) -> None:
        """The study ended normally (``info["message"]`` says how)."""

    def stop(self, message: str) -> None:
        """The study stopped early (an error); a waiting :meth:`ask` raises StudyAborted."""

    def wait_until_seen(self, timeout: float) -> bool:
        """Wait (up to ``timeout`` s) until the person saw the end screen; True when seen."""
        return True

    def close(self) -> None:
        """Release the UI (stop the server)."""
