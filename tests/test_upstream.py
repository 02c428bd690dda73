"""The real MANet and ATNet code, end to end on the CPU: 3 rounds on a davis16-train sequence.

    IVOSW_MANET_ROOT=~/src/CVPR2020_MANet IVOSW_ATNET_ROOT=~/src/IVOS-ATNet pytest -m upstream -s

Each adapter is built from the user's checkout with random weights of the right architecture
(``random_weights``) and the CPU stand-ins of ``backends/cpu_shims.py`` (``cpu_shims``) for the
checkouts' CUDA-only code; then davisinteractive's robot drives 3 rounds on a window of
``IVOSW_UPSTREAM_FRAMES`` frames (default 6; ``all`` for the whole video) of
``IVOSW_UPSTREAM_SEQUENCE`` (default dog-agility) around its first scribble, at the video's 480p. Each
round's prediction must keep the Backend contract (labels [T,H,W] in 0..K for every frame,
probabilities [K+1,T,H,W] summing to 1) and the process must not grow by more than 1 GB from round 2
to round 3. Per-round lines (seconds, shapes, ids, memory) are printed (``-s`` shows them). Skipped,
with the reason, when a checkout is not set. Deselected by default (marker ``upstream``).
"""
from __future__ import annotations

import os

import pytest

pytestmark = [pytest.mark.upstream, pytest.mark.realdata]

CHECKOUTS = {"manet": "IVOSW_MANET_ROOT", "atnet": "IVOSW_ATNET_ROOT"}
REPOS = {"manet": "github.com/lightas/CVPR2020_MANet", "atnet": "github.com/yuk6heo/IVOS-ATNet"}
GROWTH_MB = 1024


def window_length() -> int | None:
    value = os.environ.get("IVOSW_UPSTREAM_FRAMES", "6")
    return None if value == "all" else int(value)


@pytest.mark.parametrize("name", sorted(CHECKOUTS))
def test_upstream_adapter_three_rounds_on_cpu(name, davis16):
    env = CHECKOUTS[name]
    root = os.environ.get(env)
    if not root:
        pytest.skip(f"{env} is not set: point it at a checkout of {REPOS[name]} (see weights/README.md)")
    from ivosw_bench.backend_check import check_backend
    from ivosw_bench.data.davis_layout import open_dataset
    from ivosw_bench.registry import backend_class

    sequence = os.environ.get("IVOSW_UPSTREAM_SEQUENCE", "dog-agility")
    dataset = open_dataset(davis16, sequences=[sequence], check=False)
    backend = backend_class(name)(root=root, random_weights=True, cpu_shims=True, seed=0)
    assert backend.device == "cpu" and backend.weights is None
    report = check_backend(backend, dataset, sequence, rounds=3, length=window_length(),
                           on_round=lambda r: print(f"{name} {sequence}: {r.line()}", flush=True))
    T, H, W, _ = report.frames_shape
    assert len(report.rounds) == 3 and report.ok, [r.problems for r in report.rounds]
    for r in report.rounds:
        assert r.labels_shape == (T, H, W) and r.probs_shape == (report.n_objects + 1, T, H, W)
        assert set(r.ids) <= set(range(report.n_objects + 1))
    assert report.rounds[2].rss_mb - report.rounds[1].rss_mb < GROWTH_MB
    backend.close()
