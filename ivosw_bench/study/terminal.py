"""``--ui terminal``: a contact sheet PNG in the run folder, a frame number read from stdin."""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from ..files import atomic_open
from .render import contact_sheet
from ..errors import StudyAborted
from .ui import Choice, ChoiceRequest, StudyUI

SHEET_NAME = "contact_sheet.png"


class TerminalUI(StudyUI):
    """Writes ``<run folder>/contact_sheet.png`` (numbered overlay thumbnails; ``*N`` = annotated N
    times) and asks for a frame number on stdin; re-asks on invalid input; ``p`` pauses the clock."""

    name = "terminal"
    url = None

    def __init__(self, run_dir: str | Path | None = None, stdin=None, stdout=None, thumb_width: int = 160):
        self.run_dir = Path(run_dir) if run_dir is not None else Path(tempfile.mkdtemp(prefix="ivosw-study-"))
        self._stdin, self._stdout = stdin, stdout
        self.thumb_width = thumb_width
        self.sheet_path = self.run_dir / SHEET_NAME

    @property
    def stdin(self):
        return self._stdin or sys.stdin  # looked up at call time (tests monkeypatch sys.stdin)

    @property
    def stdout(self):
        return self._stdout or sys.stdout

    def _say(self, text: str) -> None:
        print(text, file=self.stdout, flush=True)

    def _read(self) -> str:
        line = self.stdin.readline()
        if line == "":
            raise StudyAborted("stdin closed while waiting for a frame number; "
                               "continue later with --resume")
        return line.strip()

    def start(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)

    def ask(self, req: ChoiceRequest) -> Choice:
        self.start()
        title = (f"{req.participant} | sample {req.sample_no}/{req.n_samples or '?'} {req.sequence} "
                 f"#{req.scribble_idx} | choice {req.choice_no}/{req.n_choices} (round {req.t}/{req.rounds})")
        sheet = contact_sheet(req.frames, req.labels, history=req.history, quality=req.quality,
                              thumb_w=self.thumb_width, title=title)
        with atomic_open(self.sheet_path, "wb") as fh:
            sheet.save(fh, format="PNG")
        last = req.n_frames - 1
        self._say(f"\n{title}\ncontact sheet: {self.sheet_path}\n"
                  f"annotated so far: {', '.join(map(str, req.annotated))}")
        paused = 0.0
        start = time.monotonic()
        while True:
            self._say(f"frame to annotate next [0-{last}] (p = pause): ")
            text = self._read()
            if text.lower() in ("p", "pause"):
                t0 = time.monotonic()
                self._say("paused: the clock is stopped. Press Enter to continue.")
                self._read()
                paused += time.monotonic() - t0
                continue
            try:
                frame = int(text)
            except ValueError:
                self._say(f"'{text}' is not a frame number; type an integer from 0 to {last}.")
                continue
            if not 0 <= frame <= last:
                self._say(f"frame {frame} is out of range; type an integer from 0 to {last}.")
                continue
            seconds = time.monotonic() - start - paused
            self._say(f"frame {frame} chosen ({seconds:.1f} s)")
            return Choice(frame=frame, seconds=seconds, paused_seconds=paused, clock_start="prompt")

    def busy(self, message: str) -> None:
        self._say(message)

    def finish(self, info: dict) -> None:
        self._say(info.get("message", "study finished"))

    def stop(self, message: str) -> None:
        self._say(message)

    def close(self) -> None:
        pass
