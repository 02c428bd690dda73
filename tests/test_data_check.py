"""Dataset validation: every kind of breakage is named with its path; the real folder is clean."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ivosw_bench.data import synthetic
from ivosw_bench.data.check import DatasetError, Problem, check_dataset, ensure_valid, sequence_metadata

REAL = Path(__file__).resolve().parents[2] / "shared/data/davis16-train"
T, W, H = 10, 128, 96
SEQ = "synth-000"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pristine") / "data"
    synthetic.generate(root, seed=3, n_sequences=2, n_frames=T, size=(W, H), max_objects=2)
    return root


@pytest.fixture
def root(pristine, tmp_path) -> Path:
    dst = tmp_path / "data"
    shutil.copytree(pristine, dst)
    return dst


def _img(root, name="00003.jpg", seq=SEQ):
    return root / "JPEGImages" / "480p" / seq / name


def _ann(root, name="00003.png", seq=SEQ):
    return root / "Annotations" / "480p" / seq / name


def _scr(root, name="001.json", seq=SEQ):
    return root / "Scribbles" / seq / name


def _find(problems, path, *words):
    """The problems about ``path`` whose message contains every word."""
    return [p for p in problems if p.path == str(path) and all(w in p.message for w in words)]


def test_valid_folder_has_no_problems(root):
    assert check_dataset(root) == []
    assert check_dataset(root, [SEQ]) == []
    ensure_valid(root)


def test_problem_str():
    assert str(Problem("/a/b.png", "bad")) == "/a/b.png: bad"


def test_missing_root(tmp_path):
    problems = check_dataset(tmp_path / "nope")
    assert len(problems) == 1 and "nope" in str(problems[0])


def test_missing_top_folders(tmp_path):
    problems = check_dataset(tmp_path)
    assert _find(problems, tmp_path / "JPEGImages" / "480p", "missing")
    assert _find(problems, tmp_path / "Annotations" / "480p", "missing")


def test_deleted_frame(root):
    _img(root).unlink()
    problems = check_dataset(root)
    assert _find(problems, _img(root), "missing frame")
    assert len(problems) == 1
    assert "00003.jpg: missing frame" in str(problems[0])


def test_mask_of_wrong_size(root):
    Image.open(_ann(root)).resize((100, 50)).save(_ann(root))
    problems = check_dataset(root)
    assert _find(problems, _ann(root), f"wrong size 100x50, expected {W}x{H}")


def test_missing_annotation(root):
    _ann(root).unlink()
    assert _find(check_dataset(root), _ann(root), "missing annotation")


def test_rgb_mask(root):
    Image.open(_ann(root)).convert("RGB").save(_ann(root))
    assert _find(check_dataset(root), _ann(root), "mode RGB")


def test_corrupt_jpeg(root):
    data = _img(root).read_bytes()
    _img(root).write_bytes(data[: len(data) // 2])  # truncated
    _img(root, "00004.jpg").write_bytes(b"not a jpeg at all")
    problems = check_dataset(root)
    assert _find(problems, _img(root), "unreadable image")
    assert _find(problems, _img(root, "00004.jpg"), "unreadable image")


def test_frame_of_other_size(root):
    Image.open(_img(root)).resize((64, 48)).save(_img(root), quality=90)
    assert _find(check_dataset(root), _img(root), f"wrong size 64x48, expected {W}x{H}")


def test_broken_scribble_json(root):
    text = _scr(root).read_text()
    _scr(root).write_text(text[:40] + "}" + text[40:])
    problems = check_dataset(root)
    hits = _find(problems, _scr(root), "invalid JSON", "line 1 column 41")
    assert hits, problems


def test_scribble_with_wrong_number_of_frames(root):
    data = json.loads(_scr(root).read_text())
    data["scribbles"] = data["scribbles"][:-1]
    _scr(root).write_text(json.dumps(data))
    assert _find(check_dataset(root), _scr(root), f"{T - 1} frame entries, expected {T}")


def test_scribble_object_id_out_of_range(root):
    data = json.loads(_scr(root).read_text())
    f = data["annotated_frame"]
    n = len(data["scribbles"][f])
    stroke = data["scribbles"][f][0]
    data["scribbles"][f].append(dict(stroke, object_id=9))
    data["scribbles"][f].append(dict(stroke, object_id="1"))
    _scr(root).write_text(json.dumps(data))
    problems = check_dataset(root)
    assert _find(problems, _scr(root), f"frame {f} stroke {n}:", "object_id", "out of range 0..")
    assert _find(problems, _scr(root), f"frame {f} stroke {n + 1}:", "not an integer")
    assert len(problems) == 2


def test_scribble_wrong_sequence_and_bad_path(root):
    data = json.loads(_scr(root).read_text())
    data["sequence"] = "other"
    f = data["annotated_frame"]
    n = len(data["scribbles"][f])
    stroke = data["scribbles"][f][0]
    data["scribbles"][f].append(dict(stroke, path=[[0.5, 0.5], [3]]))
    data["scribbles"][f].append(dict(stroke, path=[[20.0, 30.0]]))  # pixels, not normalised
    _scr(root).write_text(json.dumps(data))
    problems = check_dataset(root)
    assert _find(problems, _scr(root), "\"sequence\" is 'other'")
    assert _find(problems, _scr(root), f"stroke {n}:", "[x, y] pair")
    assert _find(problems, _scr(root), f"stroke {n + 1}:", "normalised")
    assert len(problems) == 3


def test_scribble_numbering(root):
    shutil.copy(_scr(root), _scr(root, "003.json"))
    assert _find(check_dataset(root), _scr(root, "002.json"), "missing scribble file")
    _scr(root, "003.json").unlink()
    _scr(root).unlink()
    assert _find(check_dataset(root), _scr(root).parent, "no scribble files")


def test_unknown_sequence_requested(root):
    problems = check_dataset(root, [SEQ, "no-such-seq"])
    assert len(problems) == 1
    assert "no-such-seq" in problems[0].path and "unknown sequence" in problems[0].message


def test_sequences_json_disagrees(root):
    meta_path = root / "sequences.json"
    meta = json.loads(meta_path.read_text())
    meta[SEQ]["num_frames"] = T + 5
    meta[SEQ]["image_size"] = [H, W]
    meta["ghost"] = dict(meta[SEQ], name="ghost")
    meta_path.write_text(json.dumps(meta))
    problems = check_dataset(root)
    assert _find(problems, meta_path, SEQ, "num_frames", str(T))
    assert _find(problems, meta_path, SEQ, "image_size", f"{W}x{H}")
    assert _find(problems, meta_path, "'ghost'")
    assert len(problems) == 3


def test_imagesets_name_unknown_sequence(root):
    txt = root / "ImageSets" / "2017" / "val.txt"
    txt.write_text(f"{SEQ}\nbear\n")
    assert _find(check_dataset(root), txt, "line 2", "'bear'")


def test_mask_values(root):
    arr = np.array(Image.open(_ann(root)))
    arr[0, 0] = 7
    m = Image.fromarray(arr, "L").convert("P")
    m.putpalette(synthetic.DAVIS_PALETTE)
    m.save(_ann(root))
    problems = check_dataset(root)
    folder = _ann(root).parent
    assert _find(problems, folder, "never appear", "00003.png")
    void = np.where(arr == 7, 255, arr).astype(np.uint8)
    Image.fromarray(void, "L").save(_ann(root))
    assert check_dataset(root) == []  # 255 (void) is allowed


def test_no_object_anywhere(root):
    for p in _ann(root).parent.glob("*.png"):
        Image.fromarray(np.zeros((H, W), np.uint8), "L").save(p)
    problems = check_dataset(root, [SEQ])
    assert _find(problems, _ann(root).parent, "no object")


def test_many_problems_all_reported(root):
    _img(root).unlink()
    Image.open(_ann(root, "00005.png")).convert("RGB").save(_ann(root, "00005.png"))
    _img(root, "00001.jpg", seq="synth-001").write_bytes(b"junk")
    _scr(root, seq="synth-001").write_text("{not json")
    problems = check_dataset(root)
    assert _find(problems, _img(root), "missing frame")
    assert _find(problems, _ann(root, "00005.png"), "mode RGB")
    assert _find(problems, _img(root, "00001.jpg", seq="synth-001"), "unreadable")
    assert _find(problems, _scr(root, seq="synth-001"), "invalid JSON")
    assert len(problems) == 4, problems
    with pytest.raises(DatasetError) as err:
        ensure_valid(root)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(str(problems[0]))
    assert f"(and 3 more problems; run 'ivosw-bench data check {root}')" in msg
    assert isinstance(err.value, ValueError)


def test_ensure_valid_single_problem(root):
    _img(root).unlink()
    with pytest.raises(DatasetError, match="missing frame$"):
        ensure_valid(root)


def test_sequence_metadata(root):
    meta = json.loads((root / "sequences.json").read_text())
    for seq, entry in meta.items():
        assert sequence_metadata(root, seq) == entry
    with pytest.raises(DatasetError):
        sequence_metadata(root, "no-such-seq")


@pytest.mark.realdata
@pytest.mark.skipif(not REAL.is_dir(), reason=f"real data folder {REAL} is absent")
def test_real_folder_is_clean():
    start = time.perf_counter()
    problems = check_dataset(REAL)
    elapsed = time.perf_counter() - start
    assert problems == [], "\n".join(map(str, problems))
    assert elapsed < 30
    meta = json.loads((REAL / "sequences.json").read_text())
    got = sequence_metadata(REAL, "bear")
    assert {k: got[k] for k in ("num_frames", "num_objects", "image_size", "num_scribbles")} == \
        {k: meta["bear"][k] for k in ("num_frames", "num_objects", "image_size", "num_scribbles")}
