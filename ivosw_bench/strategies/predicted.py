"""Worst-predicted: the Worst baseline on the *predicted* quality of the Wild setting."""
from __future__ import annotations

from .baselines import WorstStrategy


class WorstPredictedStrategy(WorstStrategy):
    """Argmin of ``state.quality`` among frames not yet annotated (``state.unannotated()``; ties: the
    earliest). In the wild setting ``state.quality`` comes from the learned QA network, so no ground
    truth reaches this choice."""

    name = "worst-predicted"
    needs_oracle = False
    description = "frame with the lowest predicted quality (QA network) among unannotated frames"
