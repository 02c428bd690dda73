"""A few rounds of one backend on one sample, measured and checked (tests, ``benchmarks/gpu_check.py``).

    report = check_backend(backend, dataset, "dog-agility", rounds=3)
    for r in report.rounds: print(r.line())

Round 1 uses the sample's first scribble; each later round davisinteractive's robot scribbles the
frame with the worst J&F among those not annotated yet (ties: the first). Each round records the
backend's seconds, J&F against ground truth, the prediction's shapes, the object ids present, the
probability range, the process's resident memory and, on CUDA, the peak GPU memory of the round, and
:func:`mask_problems` (empty when the prediction keeps the Backend contract: labels ``[T,H,W]`` in
``0..K`` for every frame, probabilities ``[K+1,T,H,W]`` finite and summing to 1).
"""
from __future__ import annotations

import resource
import time
from dataclasses import dataclass, field

import numpy as np


@dataclass
class RoundCheck:
    round: int
    frame: int
    seconds: float
    jf: float
    labels_shape: tuple
    probs_shape: tuple | None
    ids: list[int]
    fg_frames: int
    prob_range: tuple[float, float] | None
    rss_mb: float
    gpu_peak_mb: float | None
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        gpu = f", GPU peak {self.gpu_peak_mb:.0f} MB" if self.gpu_peak_mb is not None else ""
        pr = (f", probs {self.probs_shape} in [{self.prob_range[0]:.3f}, {self.prob_range[1]:.3f}]"
              if self.probs_shape else ", no probs")
        sanity = "ok" if not self.problems else "; ".join(self.problems)
        return (f"round {self.round} frame {self.frame}: {self.seconds:.1f} s, J&F {self.jf:.3f}, labels "
                f"{self.labels_shape} ids {self.ids}, {self.fg_frames} frames with an object{pr}, "
                f"RSS {self.rss_mb:.0f} MB{gpu}; masks {sanity}")


@dataclass
class BackendCheck:
    backend: str
    sequence: str
    frames_shape: tuple
    n_objects: int
    rounds: list[RoundCheck]

    @property
    def ok(self) -> bool:
        return all(not r.problems for r in self.rounds)


def mask_problems(pred, n_frames: int, height: int, width: int, n_objects: int) -> list[str]:
    """What breaks the Backend contract in ``pred`` (empty list when nothing)."""
    out = []
    labels = np.asarray(pred.labels)
    if labels.shape != (n_frames, height, width):
        return [f"labels of shape {labels.shape}, expected {(n_frames, height, width)}"]
    if not np.issubdtype(labels.dtype, np.integer):
        out.append(f"labels of dtype {labels.dtype}")
    if labels.min() < 0 or labels.max() > n_objects:
        out.append(f"labels in [{labels.min()}, {labels.max()}], expected [0, {n_objects}]")
    if pred.has_probs:
        p = np.asarray(pred.probs)
        if p.shape != (n_objects + 1, n_frames, height, width):
            out.append(f"probs of shape {p.shape}, expected {(n_objects + 1, n_frames, height, width)}")
        elif not np.isfinite(p).all():
            out.append("probs not finite")
        elif not np.allclose(p.sum(0), 1.0, atol=1e-3):
            out.append("probs do not sum to 1 over labels")
    return out


def rss_mb() -> float:
    """Resident memory of this process now (Linux), else its peak."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _on_cuda(backend) -> bool:
    return str(getattr(backend, "device", "cpu")).startswith("cuda")


def _measure(backend, call):
    import torch

    cuda = _on_cuda(backend)
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    out = call()
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else None
    return out, seconds, peak


def _round_check(t, frame, outcome, seconds, peak, shape, n_objects) -> RoundCheck:
    pred = outcome.probs
    T, H, W = shape
    labels = np.asarray(pred.labels)
    probs = np.asarray(pred.probs) if pred.has_probs else None
    return RoundCheck(
        round=t, frame=frame, seconds=seconds, jf=outcome.jf, labels_shape=tuple(labels.shape),
        probs_shape=None if probs is None else tuple(probs.shape), ids=sorted(int(i) for i in np.unique(labels)),
        fg_frames=int((labels.reshape(len(labels), -1) > 0).any(1).sum()),
        prob_range=None if probs is None else (float(probs.min()), float(probs.max())),
        rss_mb=rss_mb(), gpu_peak_mb=peak, problems=mask_problems(pred, T, H, W, n_objects))


def next_frame(jf_frames: np.ndarray, annotated: list[int]) -> int:
    """The worst frame not annotated yet (all frames when every one is)."""
    free = [f for f in range(len(jf_frames)) if f not in annotated] or list(range(len(jf_frames)))
    return int(min(free, key=lambda f: (jf_frames[f], f)))


def check_backend(backend, dataset, sequence: str, rounds: int = 3, length: int | None = None,
                  on_round=None) -> BackendCheck:
    """Run ``backend`` for ``rounds`` rounds on ``sequence`` of ``dataset`` (optionally a window of
    ``length`` frames around its first scribble); ``on_round(RoundCheck)`` after each round."""
    from .episode import Episode, load_sample

    frames, gt, scribble = load_sample(dataset, sequence, length=length)
    n_obj = int(dataset.sequences[sequence]["num_objects"])
    ep = Episode(backend, sequence, frames, gt, n_obj, scribble, keep_outputs=True)
    shape = frames.shape[:3]
    done: list[RoundCheck] = []
    annotated = [ep.initial_frame]
    outcome, seconds, peak = _measure(backend, ep.reset)
    for t in range(1, rounds + 1):
        if t > 1:
            frame = next_frame(outcome.jf_frames, annotated)
            annotated.append(frame)
            outcome, seconds, peak = _measure(backend, lambda f=frame: ep.step(f))
        done.append(_round_check(t, annotated[-1], outcome, seconds, peak, shape, n_obj))
        if on_round:
            on_round(done[-1])
    return BackendCheck(getattr(backend, "name", type(backend).__name__), sequence, tuple(frames.shape),
                        n_obj, done)
