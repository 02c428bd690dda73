"""Rich progress bars for long library calls (the library reports events; this draws them)."""
from __future__ import annotations

from contextlib import contextmanager

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

console = Console(stderr=True)


def make_bar(label: str = "{task.fields[run]}") -> Progress:
    """The project's progress bar: label, bar, n/m, description, elapsed, remaining."""
    return Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.description}"), TimeElapsedColumn(), TimeRemainingColumn(),
                    console=console, transient=False)


@contextmanager
def run_progress(enabled: bool = True):
    """Yields a ``progress(event, **info)`` callback for :func:`ivosw_bench.session.run`."""
    if not enabled:
        yield None
        return
    bar = make_bar()
    state: dict = {}

    def callback(event: str, **info) -> None:
        if event == "start":
            state["task"] = bar.add_task("", total=info["total"], completed=info["done"],
                                         run=info["run_id"][-48:])
        elif event == "sample":
            bar.update(state["task"], advance=info["rounds"],
                       description=f"{info['sequence']} #{info['scribble_idx']} done, final J&F {info['jf']:.3f}")
        elif event == "round":
            bar.update(state["task"], advance=1,
                       description=f"{info['sequence']} #{info['scribble_idx']} round {info['round']} "
                                   f"J&F {info['jf']:.3f} -> frame {info['frame']}")
        elif event == "step":  # generic: total / advance / description
            if "total" in info:
                state["task"] = bar.add_task(info.get("description", ""), total=info["total"],
                                             run=info.get("name", ""))
            else:
                bar.update(state["task"], advance=info.get("advance", 1),
                           description=info.get("description", ""))

    with bar:
        yield callback
