"""DAVIS-layout datasets: open a folder (or a registered name), pick sequences, register them in
davisinteractive, load frames and ground truth.

davisinteractive hardcodes DAVIS-2017's sequence list in the class attributes ``Davis.dataset`` and
``Davis.sets``. :func:`registered` swaps them, for the duration of a run, for metadata computed from
the folder's own contents (``sequences.json`` when the folder has one and it agrees with the files,
davisinteractive's own DAVIS-2017 metadata for an official root, otherwise a scan of the files), so
any DAVIS-layout folder runs unchanged.
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..files import read_json
from .check import DatasetError, ensure_valid, sequence_metadata

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ.get("IVOSW_DATA_DIR", REPO_ROOT / "data"))
SYNTHETIC_NAME = "synthetic"
HUMAN_NAME = "davis16-human"
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
#: named datasets: name -> folder (the synthetic one is generated on first use; davis16-human is a
#: view made on first use: davis16-train's frames and masks with the three human scribble sets of
#: davis16-scribbles, so every sequence gives three samples)
KNOWN_DATASETS = {
    SYNTHETIC_NAME: DATA_DIR / SYNTHETIC_NAME,
    "davis16-train": SHARED_DATA / "davis16-train",
    HUMAN_NAME: DATA_DIR / HUMAN_NAME,
}


@dataclass
class Dataset:
    """A DAVIS-layout folder: metadata per sequence (davisinteractive's davis.json entry format)."""

    root: Path
    name: str
    sequences: dict[str, dict]
    subsets: dict[str, list[str]] = field(default_factory=dict)

    def select(self, subset: str | None = None, sequences: list[str] | None = None) -> list[str]:
        """The sequences of a run: a named subset, an explicit list, or all (sorted)."""
        if subset is not None and subset not in self.subsets:
            known = ", ".join(sorted(self.subsets))
            raise DatasetError(f"unknown subset '{subset}' of dataset {self.root} (known: {known})")
        pool = self.subsets[subset] if subset is not None else sorted(self.sequences)
        if sequences:
            for seq in sequences:
                if seq not in self.sequences:
                    raise DatasetError(f"unknown sequence '{seq}' in dataset {self.root} "
                                       f"({len(self.sequences)} sequences; see 'ivosw-bench data list')")
            chosen = [s for s in sequences if s in pool] if subset is not None else list(sequences)
            if not chosen:
                raise DatasetError(f"none of the sequences {sequences} is in subset '{subset}'")
            return list(dict.fromkeys(chosen))
        if not pool:
            raise DatasetError(f"dataset {self.root} has no sequences")
        return list(pool)

    def samples(self, sequences: list[str]) -> list[tuple[str, int]]:
        """(sequence, scribble_idx) pairs in davisinteractive's order."""
        return [(s, i) for s in sequences for i in range(1, self.sequences[s]["num_scribbles"] + 1)]

    def frames(self, seq: str) -> np.ndarray:
        return load_frames(self.root, seq, self.sequences[seq]["num_frames"])

    def masks(self, seq: str) -> np.ndarray:
        return load_masks(self.root, seq, self.sequences[seq]["num_frames"])


def resolve(spec: str | os.PathLike | None) -> Path:
    """A dataset argument (a path or a known name) -> folder. The synthetic default is generated."""
    spec = SYNTHETIC_NAME if spec in (None, "") else str(spec)
    if spec in KNOWN_DATASETS and not Path(spec).exists():
        root = KNOWN_DATASETS[spec]
        if spec == SYNTHETIC_NAME:
            from .synthetic import generate

            generate(root)
        elif spec == HUMAN_NAME:
            make_human_view(root, SHARED_DATA / "davis16-train", SHARED_DATA / "davis16-scribbles")
        elif not root.is_dir():
            raise DatasetError(f"dataset '{spec}' is expected at {root}, which does not exist")
        return root
    root = Path(spec).expanduser()
    if not root.is_dir():
        known = ", ".join(sorted(KNOWN_DATASETS))
        raise DatasetError(f"dataset '{spec}' is neither a folder nor a known name ({known})")
    return root


def make_human_view(root: Path, frames_root: Path, scribbles_root: Path) -> Path:
    """A DAVIS-layout folder of symbolic links: ``frames_root``'s JPEGImages and Annotations and, for
    each of its sequences, ``scribbles_root/<seq>/00N.json`` (no data is copied). Made once; a
    complete view is reused."""
    import json as _json

    from ..files import write_json

    if (root / "sequences.json").is_file():
        return root
    for need in (frames_root / "JPEGImages", scribbles_root):
        if not need.is_dir():
            raise DatasetError(f"dataset '{HUMAN_NAME}' needs {need}, which does not exist")
    names = sorted(p.name for p in (frames_root / "JPEGImages" / "480p").iterdir() if p.is_dir())
    meta = _json.loads((frames_root / "sequences.json").read_text())
    tmp = root.with_name(root.name + ".partial")
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    (tmp / "Scribbles").mkdir(parents=True)
    for sub in ("JPEGImages", "Annotations", "ImageSets"):
        (tmp / sub).symlink_to((frames_root / sub).resolve(), target_is_directory=True)
    for seq in names:
        files = sorted((scribbles_root / seq).glob("[0-9][0-9][0-9].json"))
        if not files:
            raise DatasetError(f"{scribbles_root / seq}: no scribble files for '{seq}'")
        (tmp / "Scribbles" / seq).symlink_to((scribbles_root / seq).resolve(), target_is_directory=True)
        meta[seq] = dict(meta[seq], num_scribbles=len(files))
    write_json(tmp / "sequences.json", {s: meta[s] for s in names})
    tmp.rename(root)
    return root


def _subsets(root: Path, names: list[str]) -> dict[str, list[str]]:
    subsets: dict[str, list[str]] = {"all": sorted(names)}
    image_sets = root / "ImageSets"
    if image_sets.is_dir():
        for txt in sorted(image_sets.glob("*/*.txt")):
            seqs = [line.strip() for line in txt.read_text().splitlines() if line.strip()]
            seqs = [s for s in seqs if s in names]
            key = txt.stem if txt.parent.name == "2017" else f"{txt.parent.name}-{txt.stem}"
            subsets[key] = seqs
    return subsets


def _official_metadata(names: list[str], root: Path) -> dict[str, dict] | None:
    """davisinteractive's packaged DAVIS-2017 metadata, when the folder is an official root."""
    import ivosw_bench.compat as compat

    compat.apply()
    from davisinteractive.dataset import davis as davis_module

    packaged = json.loads((Path(davis_module.__file__).parent / "davis.json").read_text())["sequences"]
    out = {}
    for seq in names:
        entry = packaged.get(seq)
        if entry is None:
            return None
        n_frames = len(list((root / "JPEGImages" / "480p" / seq).glob("*.jpg")))
        n_scrib = len(list((root / "Scribbles" / seq).glob("*.json")))
        if n_frames != entry["num_frames"] or n_scrib < entry["num_scribbles"]:
            return None
        out[seq] = dict(entry)
    return out


def open_dataset(spec: str | os.PathLike | None = None, sequences: list[str] | None = None,
                 check: bool = True, annotations: bool = True) -> Dataset:
    """Open a DAVIS-layout folder (or a known name) and compute its metadata from its contents.

    ``check`` validates the folder (all sequences, or the given ones) first and raises
    :class:`DatasetError` naming the first problem: davisinteractive would otherwise try to download
    DAVIS when a file is missing. ``annotations=False`` opens a folder without ground truth (a
    participant's copy for a remote run): its metadata must come from ``sequences.json`` or be
    davisinteractive's own DAVIS-2017 metadata, and no annotation is read.
    """
    root = resolve(spec)
    img_root = root / "JPEGImages" / "480p"
    if not img_root.is_dir():
        raise DatasetError(f"{img_root}: missing folder (not a DAVIS-layout dataset)")
    names = sorted(p.name for p in img_root.iterdir() if p.is_dir())
    if sequences:
        for seq in sequences:
            if seq not in names:
                raise DatasetError(f"unknown sequence '{seq}' in dataset {root}")
    if check:
        ensure_valid(root, sequences or None, annotations)
    meta_file = root / "sequences.json"
    metadata: dict[str, dict] | None = None
    if meta_file.is_file():
        found = read_json(meta_file, DatasetError, "sequences.json")
        metadata = {k: v for k, v in found.items() if k in names} if isinstance(found, dict) else {}
        if set(metadata) != set(names):
            metadata = None
    if metadata is None:
        metadata = _official_metadata(names, root)
    if metadata is None and not annotations:
        raise DatasetError(f"{meta_file}: missing or not covering every sequence; a folder without "
                           f"Annotations/ needs it for num_objects")
    if metadata is None:
        wanted = sequences or names
        metadata = {seq: sequence_metadata(root, seq) for seq in wanted}
    name = root.name
    return Dataset(root=root, name=name, sequences=metadata, subsets=_subsets(root, sorted(metadata)))


@contextmanager
def registered(dataset: Dataset, sequences: list[str]):
    """Make davisinteractive see ``dataset`` with ``sequences`` as its train/val/trainval subsets."""
    import ivosw_bench.compat as compat

    compat.apply()
    from davisinteractive.dataset.davis import Davis

    old = Davis.dataset, Davis.sets
    Davis.dataset = {s: dict(m, name=s) for s, m in dataset.sequences.items()}
    Davis.sets = {**{k: list(v) for k, v in dataset.subsets.items()},
                  "train": list(sequences), "val": list(sequences), "trainval": list(sequences)}
    try:
        yield
    finally:
        Davis.dataset, Davis.sets = old


def load_frames(root: Path, seq: str, n_frames: int) -> np.ndarray:
    """RGB frames [T, H, W, 3] uint8; one-line DatasetError naming a missing/unreadable file."""
    import cv2

    out = None
    for f in range(n_frames):
        path = Path(root) / "JPEGImages" / "480p" / seq / f"{f:05d}.jpg"
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise DatasetError(f"{path}: missing or unreadable frame")
        if out is None:
            out = np.empty((n_frames,) + img.shape, np.uint8)
        elif img.shape != out.shape[1:]:
            raise DatasetError(f"{path}: frame of size {img.shape[1]}x{img.shape[0]}, "
                               f"expected {out.shape[2]}x{out.shape[1]}")
        out[f] = img[..., ::-1]
    return out


def load_masks(root: Path, seq: str, n_frames: int) -> np.ndarray:
    """Ground-truth label maps [T, H, W] uint8 (palette indices)."""
    from PIL import Image

    out = None
    for f in range(n_frames):
        path = Path(root) / "Annotations" / "480p" / seq / f"{f:05d}.png"
        try:
            m = np.asarray(Image.open(path))
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{path}: missing or unreadable mask ({exc})") from exc
        if out is None:
            out = np.empty((n_frames,) + m.shape, np.uint8)
        elif m.shape != out.shape[1:]:
            raise DatasetError(f"{path}: mask of shape {m.shape}, expected {out.shape[1:]}")
        out[f] = m
    return out
