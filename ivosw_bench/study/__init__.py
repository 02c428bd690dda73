"""Human-selection study mode: a person chooses the frame to annotate, timed, as a normal run.

- :class:`HumanStrategy` (entry point ``human``; used as ``human:<participant>``)
- :func:`run_study` (library entry point of ``ivosw-bench study``)
- :class:`WebUI` (page on 127.0.0.1) and :class:`TerminalUI` (contact sheet PNG + stdin)
- :func:`choice_time_table` / :func:`write_choice_time_table`: seconds per choice per participant
  next to each strategy's recommendation latency
"""
from .choices import ChoiceLog, choice_time_table, read_choices, write_choice_time_table
from .run import run_study, study_run_id
from .strategy import HumanStrategy, StudyAborted, StudyError, make_ui
from .ui import Choice, ChoiceRequest

__all__ = ["HumanStrategy", "run_study", "study_run_id", "choice_time_table", "write_choice_time_table",
           "read_choices", "ChoiceLog", "Choice", "ChoiceRequest", "StudyError", "StudyAborted",
           "make_ui", "WebUI", "TerminalUI"]


def __getattr__(name):  # the UIs are imported on first use
    if name == "WebUI":
        from .web import WebUI

        return WebUI
    if name == "TerminalUI":
        from .terminal import TerminalUI

        return TerminalUI
    raise AttributeError(name)
