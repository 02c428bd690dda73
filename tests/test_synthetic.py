"""The embedded synthetic dataset: layout, determinism, scene properties, robot scribbles."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ivosw_bench.data import synthetic
from ivosw_bench.data.check import check_dataset, sequence_metadata
from ivosw_bench.errors import DatasetError

SMALL = dict(seed=0, n_sequences=3, n_frames=12, size=(160, 96), max_objects=3)


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _masks(root: Path, seq: str) -> np.ndarray:
    d = root / "Annotations" / "480p" / seq
    return np.stack([np.array(Image.open(p)) for p in sorted(d.glob("*.png"))])


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth") / "small"
    synthetic.generate(root, **SMALL)
    return root


@pytest.fixture(scope="module")
def default(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth") / "default"
    synthetic.generate(root)
    return root


def test_layout_and_counts(small):
    meta = json.loads((small / "sequences.json").read_text())
    names = [f"synth-{i:03d}" for i in range(3)]
    assert list(meta) == names
    assert (small / "ImageSets/2017/train.txt").read_text().split() == names
    assert "seed=0" in (small / "README.txt").read_text()
    for name in names:
        entry = meta[name]
        assert entry["num_frames"] == 12 and entry["image_size"] == [160, 96]
        assert entry["num_scribbles"] == 1 and entry["set"] == "train"
        jpgs = sorted((small / "JPEGImages/480p" / name).iterdir())
        pngs = sorted((small / "Annotations/480p" / name).iterdir())
        assert [p.name for p in jpgs] == [f"{i:05d}.jpg" for i in range(12)]
        assert [p.name for p in pngs] == [f"{i:05d}.png" for i in range(12)]
        with Image.open(jpgs[0]) as im:
            assert (im.format, im.mode, im.size) == ("JPEG", "RGB", (160, 96))
        with Image.open(pngs[0]) as im:
            assert (im.format, im.mode, im.size) == ("PNG", "P", (160, 96))
            pal = im.getpalette()[:12]
        assert pal == [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0]
        assert sequence_metadata(small, name) == entry


def test_check_dataset_is_clean(small):
    assert check_dataset(small) == []


def test_deterministic(small, tmp_path):
    again = tmp_path / "again"
    synthetic.generate(again, **SMALL)
    assert _hashes(again) == _hashes(small)
    other = tmp_path / "other"
    synthetic.generate(other, **{**SMALL, "seed": 1})
    h0, h1 = _hashes(small), _hashes(other)
    jpgs = [k for k in h0 if k.endswith(".jpg")]
    assert all(h0[k] != h1.get(k) for k in jpgs)


def test_object_counts_and_label_maps(small):
    meta = json.loads((small / "sequences.json").read_text())
    counts = [e["num_objects"] for e in meta.values()]
    assert sorted(counts) == [1, 2, 3]
    for name, entry in meta.items():
        masks = _masks(small, name)
        assert masks.dtype == np.uint8
        assert set(np.unique(masks)) <= set(range(entry["num_objects"] + 1))
        for k in range(1, entry["num_objects"] + 1):
            assert (masks == k).any()


def test_object_leaves_and_reenters(small):
    info = json.loads((small / "synthetic.json").read_text())
    obj = next(o for o in info["sequences"]["synth-000"]["objects"] if o["leaves_and_reenters"])
    masks = _masks(small, "synth-000")
    present = [(masks[f] == obj["id"]).any() for f in range(len(masks))]
    absent = [f for f, p in enumerate(present) if not p]
    assert absent == obj["absent_frames"] and absent
    assert present[0] and present[-1]  # visible, gone, visible again
    assert absent == list(range(absent[0], absent[-1] + 1))


def test_occlusion(small):
    info = json.loads((small / "synthetic.json").read_text())
    seen = 0
    for name, seq in info["sequences"].items():
        masks = _masks(small, name)
        for obj in seq["objects"]:
            for f in obj["occluded_frames"]:
                # the occluded object touches another object: its mask ends where the other begins
                m = masks[f] == obj["id"]
                grown = np.zeros_like(m)
                grown[1:] |= m[:-1]; grown[:-1] |= m[1:]; grown[:, 1:] |= m[:, :-1]; grown[:, :-1] |= m[:, 1:]
                others = (masks[f] > 0) & (masks[f] != obj["id"])
                assert (grown & others).any(), (name, obj["id"], f)
                seen += 1
    assert seen > 0


def test_scribbles(small):
    meta = json.loads((small / "sequences.json").read_text())
    for name, entry in meta.items():
        data = json.loads((small / "Scribbles" / name / "001.json").read_text())
        assert data["sequence"] == name
        assert data["generated_by"] == "ivosw-bench synthetic robot"
        assert len(data["scribbles"]) == entry["num_frames"]
        frames = [f for f, s in enumerate(data["scribbles"]) if s]
        assert frames == [data["annotated_frame"]]
        f = frames[0]
        strokes = data["scribbles"][f]
        ids = {s["object_id"] for s in strokes}
        assert set(range(1, entry["num_objects"] + 1)) <= ids
        mask = _masks(small, name)[f]
        h, w = mask.shape
        for s in strokes:  # positive strokes lie on their object
            pts = np.asarray(s["path"]) * [w, h]
            x = np.clip(pts[:, 0].astype(int), 0, w - 1)
            y = np.clip(pts[:, 1].astype(int), 0, h - 1)
            assert np.mean(mask[y, x] == s["object_id"]) > 0.9


def test_default_dataset(default):
    meta = json.loads((default / "sequences.json").read_text())
    assert len(meta) == 4
    counts = [e["num_objects"] for e in meta.values()]
    assert 1 in counts and max(counts) >= 2 and max(counts) <= 3
    assert all(e["num_frames"] == 30 and e["image_size"] == [432, 240] for e in meta.values())
    info = json.loads((default / "synthetic.json").read_text())
    assert any(o["leaves_and_reenters"] and o["absent_frames"]
               for s in info["sequences"].values() for o in s["objects"])
    assert any(o["occluded_frames"] for s in info["sequences"].values() for o in s["objects"])
    assert check_dataset(default) == []


def test_existing_root_is_reused_or_refused(small, tmp_path):
    stamp = {p: p.stat().st_mtime_ns for p in small.rglob("*") if p.is_file()}
    meta = synthetic.generate(small, **SMALL)
    assert meta == json.loads((small / "sequences.json").read_text())
    assert {p: p.stat().st_mtime_ns for p in small.rglob("*") if p.is_file()} == stamp
    with pytest.raises(DatasetError, match=str(small)):
        synthetic.generate(small, **{**SMALL, "seed": 5})
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "x.txt").write_text("mine")
    with pytest.raises(DatasetError, match="foreign"):
        synthetic.generate(foreign, **SMALL)
    assert (foreign / "x.txt").read_text() == "mine" and len(list(foreign.iterdir())) == 1
    with pytest.raises(DatasetError, match="--n-sequences must be >= 1"):
        synthetic.generate(tmp_path / "none", **{**SMALL, "n_sequences": 0})
    assert not (tmp_path / "none").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    synthetic.generate(empty, **{**SMALL, "n_sequences": 1})
    assert check_dataset(empty) == []


def test_interrupted_generation_leaves_nothing(tmp_path):
    def stop(done, total, name):
        raise KeyboardInterrupt

    root = tmp_path / "data"
    with pytest.raises(KeyboardInterrupt):
        synthetic.generate(root, **{**SMALL, "n_sequences": 2}, progress=stop)
    assert not root.exists()
    assert os.listdir(tmp_path) == []
