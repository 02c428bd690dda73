"""The dataset a server holds: a validated DAVIS-layout folder with its ground truth, served as
davisinteractive's ``test-dev`` subset (the only subset its remote client accepts).

The server registers the folder in davisinteractive (``Davis.dataset`` / ``Davis.sets``) for as long
as it runs, the equivalent of :func:`ivosw_bench.data.davis_layout.registered` for a run. Ground
truth is loaded through one lock (davisinteractive's loader keeps a small cache that is not made for
threads) and kept for the most recent sequences.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path

from ..data.davis_layout import Dataset, open_dataset, registered
from ..errors import DatasetError, ServerError

SUBSET = "test-dev"


@dataclass(frozen=True)
class ServedDataset:
    """What a server evaluates: the folder, its samples in order, and a fingerprint of its metadata
    (a session started on one dataset cannot continue on another)."""

    data: Dataset
    sequences: tuple[str, ...]
    samples: tuple[tuple[str, int], ...]
    fingerprint: str

    @property
    def name(self) -> str:
        return self.data.name

    def meta(self, sequence: str) -> dict:
        return self.data.sequences[sequence]

    def shape(self, sequence: str) -> tuple[int, int, int]:
        """(frames, H, W) of a sequence's masks."""
        m = self.meta(sequence)
        w, h = m["image_size"]
        return int(m["num_frames"]), int(h), int(w)

    def public_metadata(self) -> dict[str, dict]:
        """What a participant's folder must agree with (no ground truth in it)."""
        keys = ("num_frames", "num_objects", "num_scribbles", "image_size")
        return {s: {k: self.meta(s)[k] for k in keys} for s in self.sequences}


def open_served(path) -> ServedDataset:
    """Open and validate the dataset a server serves (ground truth required)."""
    if path is None or not Path(path).is_dir():
        raise ServerError(f"--dataset {path}: not a folder (a DAVIS-layout dataset with Annotations/)")
    try:
        data = open_dataset(str(path), check=True)
    except DatasetError as exc:
        raise ServerError(f"--dataset {path}: {exc}") from None
    sequences = tuple(sorted(data.sequences))
    samples = tuple(data.samples(list(sequences)))
    if not samples:
        raise ServerError(f"--dataset {path}: no sample (no scribble file in any sequence)")
    meta = {s: {k: data.sequences[s][k] for k in ("num_frames", "num_objects", "num_scribbles", "image_size")}
            for s in sequences}
    fingerprint = hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:16]
    return ServedDataset(data, sequences, samples, fingerprint)


@contextlib.contextmanager
def served(dataset: ServedDataset):
    """davisinteractive sees ``dataset`` (its sequences as ``test-dev``) inside this block."""
    from davisinteractive.dataset.davis import Davis

    with registered(dataset.data, list(dataset.sequences)):
        Davis.sets[SUBSET] = list(dataset.sequences)
        yield


def ground_truth(dataset: ServedDataset):
    """A davisinteractive ``Davis`` of the folder whose ``load_annotations`` is safe across threads."""
    from davisinteractive.dataset.davis import Davis

    lock = threading.Lock()

    class LockedDavis(Davis):
        def load_annotations(self, sequence, dtype=int):
            with lock:
                return super().load_annotations(sequence, dtype=dtype)

    return LockedDavis(davis_root=str(dataset.data.root))
