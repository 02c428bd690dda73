"""YouTube-VOS -> DAVIS-layout conversion on a tiny folder in YouTube-VOS's own layout."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ivosw_bench.data.check import DatasetError, check_dataset
from ivosw_bench.data.youtube_vos import convert_youtube_vos

PAL = [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0, 0, 0, 128, 128, 0, 128] + [0] * (256 * 3 - 18)
FRAMES = ["00000", "00005", "00010", "00015"]


def make_ytvos(root: Path, vid: str = "abc123", ids=(2, 5), frames=FRAMES, size=(40, 30)) -> None:
    w, h = size
    (root / "train/JPEGImages" / vid).mkdir(parents=True)
    (root / "train/Annotations" / vid).mkdir(parents=True)
    rng = np.random.default_rng(0)
    for t, name in enumerate(frames):
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(
            root / "train/JPEGImages" / vid / f"{name}.jpg")
        m = np.zeros((h, w), np.uint8)
        m[2:10, 2 + t:10 + t] = ids[0]
        if len(ids) > 1:
            m[15:25, 20:30] = ids[1]
        m[0, 0] = 255
        im = Image.fromarray(m, "P")
        im.putpalette(PAL)
        im.save(root / "train/Annotations" / vid / f"{name}.png")
    meta_path = root / "train/meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {"videos": {}}
    meta["videos"][vid] = {"objects": {str(k): {"category": "cat", "frames": list(frames)} for k in ids}}
    meta_path.write_text(json.dumps(meta))


def make_scribbles(root: Path, vid: str = "abc123", ids=(2, 5), n_frames: int = 4) -> None:
    d = root / vid
    d.mkdir(parents=True)
    scr = [[] for _ in range(n_frames)]
    scr[1] = [{"path": [[0.1, 0.2], [0.2, 0.2]], "object_id": ids[0], "start_time": 0, "end_time": 1},
              {"path": [[0.6, 0.7], [0.7, 0.7]], "object_id": ids[1], "start_time": 1, "end_time": 2},
              {"path": [[0.9, 0.1], [0.95, 0.1]], "object_id": 0, "start_time": 2, "end_time": 3}]
    (d / "001.json").write_text(json.dumps({"scribbles": scr, "sequence": vid}))


@pytest.fixture
def ytvos(tmp_path):
    src, scr = tmp_path / "ytvos", tmp_path / "scribbles"
    make_ytvos(src)
    make_ytvos(src, vid="noscribble", ids=(1,))
    make_scribbles(scr)
    return src, scr


def test_convert_layout_ids_and_scribbles(ytvos, tmp_path):
    src, scr = ytvos
    out = tmp_path / "out"
    calls = []
    meta = convert_youtube_vos(src, scr, out, progress=lambda d, t, n: calls.append((d, t, n)))
    assert list(meta) == ["abc123"] and calls == [(1, 1, "abc123")]  # only videos with scribbles
    e = meta["abc123"]
    assert (e["num_frames"], e["num_objects"], e["num_scribbles"], e["image_size"], e["year"]) == (4, 2, 1, [40, 30], 2018)
    assert sorted(p.name for p in (out / "JPEGImages/480p/abc123").iterdir()) == [f"{i:05d}.jpg" for i in range(4)]
    m = Image.open(out / "Annotations/480p/abc123/00002.png")
    assert m.mode == "P" and m.getpalette()[3:6] == [128, 0, 0]
    a = np.asarray(m)
    assert set(np.unique(a)) == {0, 1, 2, 255}
    assert a[5, 5 + 2] == 1 and a[20, 25] == 2  # 2 -> 1, 5 -> 2
    s = json.loads((out / "Scribbles/abc123/001.json").read_text())
    assert s["sequence"] == "abc123" and len(s["scribbles"]) == 4
    assert [x["object_id"] for x in s["scribbles"][1]] == [1, 2, 0]
    assert (out / "ImageSets/2017/train.txt").read_text() == "abc123\n"
    assert json.loads((out / "sequences.json").read_text())["abc123"]["set"] == "train"
    assert check_dataset(out) == []


def test_explicit_list_and_val(ytvos, tmp_path):
    src, scr = ytvos
    make_scribbles(scr, vid="noscribble", ids=(1, 1))
    out = tmp_path / "out"
    meta = convert_youtube_vos(src, scr, out, sequences=["noscribble", "abc123"], val_sequences=["noscribble"])
    assert set(meta) == {"abc123", "noscribble"} and meta["noscribble"]["set"] == "val"
    assert (out / "ImageSets/2017/val.txt").read_text() == "noscribble\n"
    assert check_dataset(out) == []


def test_errors(ytvos, tmp_path):
    src, scr = ytvos
    with pytest.raises(DatasetError, match="does not exist"):
        convert_youtube_vos(tmp_path / "nope", scr, tmp_path / "o1")
    with pytest.raises(DatasetError, match="no scribbles for video"):
        convert_youtube_vos(src, scr, tmp_path / "o2", sequences=["noscribble"])
    # frame-count mismatch between scribble file and video
    bad = tmp_path / "bad"
    make_scribbles(bad, n_frames=7)
    with pytest.raises(DatasetError, match="7 frame entries but video abc123 has 4 frames"):
        convert_youtube_vos(src, bad, tmp_path / "o3")
    # unknown object id in a scribble
    bad2 = tmp_path / "bad2"
    make_scribbles(bad2, ids=(2, 9))
    with pytest.raises(DatasetError, match="object 9"):
        convert_youtube_vos(src, bad2, tmp_path / "o4")
    # video without annotations
    (src / "train/Annotations/abc123/00010.png").unlink()
    with pytest.raises(DatasetError, match="has no annotation"):
        convert_youtube_vos(src, scr, tmp_path / "o5")
    import shutil
    shutil.rmtree(src / "train/Annotations/abc123")
    with pytest.raises(DatasetError, match="has no annotations"):
        convert_youtube_vos(src, scr, tmp_path / "o6")
