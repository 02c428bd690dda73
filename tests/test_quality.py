"""The learned quality (QA) network: crop geometry, model, data generation, training, Wild estimator."""
from __future__ import annotations

import dataclasses

import json

import numpy as np
import pytest

from backends.base import Prediction
from ivosw_bench.quality.model import (QAConfig, QualityModel, build_net, crop_box, default_weights,
                                       object_crops, to_input)
from ivosw_bench.strategies.base import RoundState, SampleInfo


# -- geometry --------------------------------------------------------------------------------------
def test_crop_box_enlarges_1p5_about_centre():
    m = np.zeros((100, 200), bool)
    m[40:60, 80:120] = True  # 20 x 40 box centred at (50, 100)
    assert crop_box(m) == (35, 65, 70, 130)  # 30 x 60


def test_crop_box_clips_to_image_and_empty_is_none():
    m = np.zeros((50, 60), bool)
    m[0:10, 50:60] = True
    y0, y1, x0, x1 = crop_box(m)
    assert (y0, x1) == (0, 60) and y1 == 13 and x0 == 47
    assert crop_box(np.zeros((5, 5), bool)) is None


def test_object_crops_marks_empty_objects():
    frames = np.random.default_rng(0).integers(0, 255, (3, 40, 50, 3), dtype=np.uint8)
    labels = np.zeros((3, 40, 50), np.int64)
    labels[0, 5:15, 5:15] = 1
    labels[1, 20:30, 20:40] = 2
    labels[2, 0:40, 0:50] = 1
    crops, index, empty = object_crops(frames, labels=labels, size=16, n_objects=2)
    assert crops.shape == (3, 16, 16, 4) and crops.dtype == np.uint8
    assert index.tolist() == [[0, 0], [1, 1], [2, 0]]
    assert empty.tolist() == [[False, True], [True, False], [False, True]]
    assert crops[2, ..., 3].min() == 255  # one-hot prob of a full-frame object


# -- network ---------------------------------------------------------------------------------------
def test_model_forward_depth18_four_channels():
    import torch

    net = build_net(18)
    assert net.conv1.in_channels == 4
    x = to_input(np.zeros((2, 40, 40, 4), np.uint8), QAConfig(input_size=32, crop_size=40))
    assert x.shape == (2, 4, 32, 32)
    assert net(x).shape == (2, 1)
    with pytest.raises(ValueError):
        build_net(20)
    del torch


def _toy_video(T=5, K=2, H=48, W=64, seed=0):
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 255, (T, H, W, 3), dtype=np.uint8)
    labels = np.zeros((T, H, W), np.int64)
    for t in range(T):
        labels[t, 5 + t:20 + t, 5:25] = 1
        if t != 2:
            labels[t, 25:40, 30 + t:50 + t] = 2
    probs = np.stack([(labels == k).astype(np.float32) * 0.8 + 0.1 for k in range(K + 1)])
    probs /= probs.sum(0, keepdims=True)
    gt = labels.copy()
    gt[:, :, :8] = 0
    return frames, labels, probs, gt


def test_predict_video_shapes_range_and_empty_rule():
    frames, labels, probs, _ = _toy_video()
    model = QualityModel(QAConfig(input_size=32, crop_size=32, empty_quality=0.125), device="cpu")
    q, q_obj = model.predict_video(frames, probs=probs, labels=labels)
    assert q.shape == (5,) and q_obj.shape == (5, 2)
    assert np.all((q >= 0) & (q <= 1)) and np.isfinite(q).all()
    assert q_obj[2, 1] == pytest.approx(0.125)  # object 2 has no pixel in frame 2
    q2, _ = model.predict_video(frames, labels=labels, n_objects=2)  # one-hot labels only
    assert q2.shape == (5,)


# -- data, training, evaluation --------------------------------------------------------------------
@pytest.fixture
def tiny_samples(tiny_davis, tmp_path):
    from ivosw_bench.quality.samples import generate_samples, load_chunks

    out = tmp_path / "qa"
    files = generate_samples(tiny_davis, out, policies=("worst-oracle", "random"), rounds=2, size=32,
                             progress=False)
    assert len(files) == 4
    mtimes = [f.stat().st_mtime_ns for f in files]
    assert generate_samples(tiny_davis, out, policies=("worst-oracle", "random"), rounds=2, size=32,
                            progress=False) == files  # resumable: nothing redone
    assert [f.stat().st_mtime_ns for f in files] == mtimes
    d = load_chunks(out)
    assert d["crops"].shape[1:] == (32, 32, 4) and d["crops"].dtype == np.uint8
    assert len(d["jf"]) == len(d["crops"]) and np.all((d["jf"] >= 0) & (d["jf"] <= 1))
    return out


def test_train_eval_checkpoint_resume(tiny_samples, tmp_path):
    from ivosw_bench.quality.train import QATrainConfig, eval_quality, train_quality

    ck = tmp_path / "qa.pt"
    cfg = QATrainConfig(depth=18, input_size=32, epochs=1, batch_size=16, val_sequences=["two"], seed=0,
                        geometry=False, image="rgb")
    meta = train_quality(tiny_samples, ck, cfg, progress=False)
    assert ck.exists() and len(meta["history"]) == 1
    assert meta["trained_on"]["train_sequences"] == ["one"]
    res = eval_quality(ck, tiny_samples, sequences=["two"], progress=False)
    assert np.isfinite(res["mse"]) and res["n"] > 0
    assert np.isfinite(res["pcc"]) or np.isnan(res["pcc"])  # constant predictions give no PCC
    assert "classic" in res["per_backend"]

    # checkpoint round trip: save / load gives identical predictions
    frames, labels, probs, _ = _toy_video()
    m1 = QualityModel.load(ck, device="cpu")
    m1.save(tmp_path / "copy.pt")
    m2 = QualityModel.load(tmp_path / "copy.pt", device="cpu")
    np.testing.assert_array_equal(m1.predict_video(frames, probs=probs)[1], m2.predict_video(frames, probs=probs)[1])

    # resume continues from the saved epoch
    meta2 = train_quality(tiny_samples, ck, dataclasses.replace(cfg, epochs=2, resume=True), progress=False)
    assert [h["epoch"] for h in meta2["history"]] == [1, 2]
    assert meta2["history"][0] == meta["history"][0]
    log = (tmp_path / "qa.log.csv").read_text().splitlines()
    assert len(log) == 3 and log[0].startswith("epoch")


def test_crop_geometry_is_box_size_over_diagonal():
    from ivosw_bench.quality.model import crop_geometry

    g = crop_geometry(np.array([[0, 480, 0, 854], [10, 58, 100, 148]]), 480, 854)
    diag = np.hypot(480, 854)
    np.testing.assert_allclose(g[0], [np.log(480 / diag) / 2 + 1, np.log(854 / diag) / 2 + 1], rtol=1e-6)
    assert g[1, 0] == pytest.approx(g[1, 1]) and g[1, 0] < g[0, 0]  # 48 x 48 box: equal and smaller


def test_geometry_net_needs_geometry_and_uses_it():
    import torch

    from ivosw_bench.quality.model import GeometryQANet

    torch.manual_seed(0)
    cfg = QAConfig(input_size=32, crop_size=32, geometry=True)
    model = QualityModel(cfg, device="cpu")
    assert isinstance(model.net, GeometryQANet) and model.net.trunk.conv1.in_channels == 4
    crops = np.random.default_rng(0).integers(0, 255, (3, 32, 32, 4), dtype=np.uint8)
    with pytest.raises(Exception, match="geometry"):
        model.predict_crops(crops)
    a = model.predict_crops(crops, np.zeros((3, 2), np.float32))
    b = model.predict_crops(crops, np.ones((3, 2), np.float32))
    assert a.shape == (3,) and not np.allclose(a, b)  # the box size changes the prediction
    frames, labels, probs, _ = _toy_video()
    q, q_obj = model.predict_video(frames, probs=probs)
    assert q.shape == (5,) and np.isfinite(q_obj).all()


def test_edges_image_mode_and_its_flip_augmentation():
    import torch

    from ivosw_bench.quality.base import QualityError
    from ivosw_bench.quality.train import _augment

    ramp = np.zeros((1, 16, 16, 4), np.uint8)
    ramp[0, :, :, :3] = (np.arange(16) * 16)[None, :, None]  # brighter to the right
    cfg = QAConfig(input_size=16, crop_size=16, image="edges")
    x = to_input(ramp, cfg)
    assert x.shape == (1, 4, 16, 16)
    assert x[0, 1, 4:12, 4:12].min() > 0 and x[0, 2, 4:12, 4:12].abs().max() < 1e-5  # d/dx > 0, d/dy = 0
    # augmenting a flipped crop must equal the features of the flipped image
    flipped = to_input(np.ascontiguousarray(ramp[:, :, ::-1]), cfg)
    # a seed whose first draw (the flip decision) flips sample 0
    seed = next(s for s in range(100) if torch.rand(1, generator=torch.Generator().manual_seed(s))[0] < 0.5)
    y = _augment(x.clone(), torch.Generator().manual_seed(seed), "basic", "edges")
    assert torch.sign(y[0, 1, 4:12, 4:12]).eq(torch.sign(flipped[0, 1, 4:12, 4:12])).all()
    with pytest.raises(QualityError, match="image mode"):
        to_input(ramp, QAConfig(input_size=16, crop_size=16, image="hsv"))


def test_corrupt_mask_varies_is_seeded_and_keeps_the_clean_mask():
    from ivosw_bench.quality.corrupt import corrupt_mask, soften

    masks = np.zeros((6, 60, 80), bool)
    for t in range(6):
        masks[t, 20:40, 10 + 5 * t:40 + 5 * t] = True
    outs = [corrupt_mask(masks, 3, np.random.default_rng(i)) for i in range(20)]
    again = [corrupt_mask(masks, 3, np.random.default_rng(i)) for i in range(20)]
    assert all(np.array_equal(a, b) for a, b in zip(outs, again))
    ious = [(o & masks[3]).sum() / max(1, (o | masks[3]).sum()) for o in outs]
    assert min(ious) < 0.9 and len({round(i, 3) for i in ious}) > 5
    assert np.array_equal(corrupt_mask(masks, 3, np.random.default_rng(0), p_clean=1.0), masks[3])
    p = soften(masks[3], np.random.default_rng(0))
    assert p.dtype == np.float32 and 0 <= p.min() and p.max() <= 1


def test_corrupted_gt_chunks_train_with_geometry_and_stay_out_of_evaluation(tiny_samples, tmp_path):
    from ivosw_bench.data.davis_layout import open_dataset
    from ivosw_bench.quality.corrupt import corrupt_chunk, generate_corrupted
    from ivosw_bench.quality.samples import from_backend, load_chunks
    from ivosw_bench.quality.train import QATrainConfig, eval_quality, train_quality

    files = generate_corrupted(tiny_samples.parent / "tiny", tiny_samples, sequences=["one", "two"], per_frame=2,
                               size=32, progress=False)
    assert [f.name for f in files] == ["one__corrupt__s0.npz", "two__corrupt__s0.npz"]
    d = load_chunks(tiny_samples)
    real = from_backend(d)
    assert real.any() and (~real).any() and d["geometry"].shape == (len(d["jf"]), 2)
    assert np.all((d["jf"] >= 0) & (d["jf"] <= 1)) and d["jf"][~real].std() > 0

    # labels are davisinteractive's J&F: uncorrupted (only softened) masks score about 1
    ds = open_dataset(tiny_samples.parent / "tiny", check=False)
    clean = corrupt_chunk(ds, "one", per_frame=1, size=32, p_clean=1.0)
    assert len(clean["jf"]) == len(ds.frames("one")) and clean["jf"].min() > 0.8

    ck = tmp_path / "geo.pt"
    meta = train_quality(tiny_samples, ck, QATrainConfig(input_size=32, epochs=1, batch_size=16,
                                                         val_sequences=["two"], geometry=True), progress=False)
    two = load_chunks(tiny_samples, sequences=["two"])
    assert meta["trained_on"]["n_val"] == int(from_backend(two).sum())  # no corrupted GT in validation
    res = eval_quality(ck, tiny_samples, sequences=["two"], progress=False)
    assert list(res["per_backend"]) == ["classic"] and res["objects_with_pixels"]["n"] == meta["trained_on"]["n_val"]
    assert QualityModel.load(ck, device="cpu").cfg.geometry


# -- Wild setting ----------------------------------------------------------------------------------
def test_learned_quality_and_worst_predicted_ignore_ground_truth():
    import torch

    from ivosw_bench.quality.learned import LearnedQuality
    from ivosw_bench.strategies.predicted import WorstPredictedStrategy

    torch.manual_seed(0)
    frames, labels, probs, gt = _toy_video(T=6)
    est = LearnedQuality(model=QualityModel(QAConfig(input_size=32, crop_size=32), device="cpu"))
    assert est.name == "learned" and not est.uses_ground_truth
    pred = Prediction(labels=labels, _probs=lambda: probs)
    scrambled = np.random.default_rng(1).permutation(gt.ravel()).reshape(gt.shape)
    outs = []
    for g in (gt, scrambled, None):
        est.reset("toy", frames, 2, gt=g)
        q = est.estimate(frames, pred)
        strat = WorstPredictedStrategy()
        strat.reset(SampleInfo("toy", 1, 6, 2, 0))
        hist = np.array([1, 0, 0, 1, 0, 0])
        choice = strat.recommend(RoundState(t=2, n_frames=6, quality=q, history=hist, annotated=[0, 3]))
        outs.append((q, choice))
        assert not hasattr(est, "gt")
    for q, c in outs[1:]:
        np.testing.assert_array_equal(q, outs[0][0])
        assert c == outs[0][1]


def test_learned_quality_reuses_unchanged_frames():
    import torch

    from ivosw_bench.quality.learned import LearnedQuality

    torch.manual_seed(0)
    frames, labels, probs, _ = _toy_video(T=6)
    low = probs[:, :, ::2, ::2].copy()  # working-resolution probabilities, as the classic backend gives
    model = QualityModel(QAConfig(input_size=32, crop_size=32, empty_quality=0.125), device="cpu")
    fresh, reuse = LearnedQuality(model=model, reuse=False), LearnedQuality(model=model)
    for est in (fresh, reuse):
        est.reset("toy", frames, 2)
    labels2, low2 = labels.copy(), low.copy()
    labels2[4, 30:34, 10:14] = 1  # the next round changes frame 4 only
    low2[:, 4] = np.roll(low2[:, 4], 1, axis=1)
    for lab, lo in ((labels, low), (labels2, low2), (labels, low)):
        pred = Prediction(labels=lab, low_res_probs=lo)
        np.testing.assert_allclose(reuse.estimate(frames, pred), fresh.estimate(frames, pred), atol=1e-6)
        np.testing.assert_allclose(reuse.last_objects, fresh.last_objects, atol=1e-6)
    assert fresh.frames_computed == 18 and reuse.frames_computed == 7  # 6, then frame 4, then nothing new
    reuse.reset("toy", frames, 2)
    assert reuse.frames_computed == 0 and not reuse._memo


def test_predict_video_frame_ids_read_in_place():
    import torch

    torch.manual_seed(0)
    frames, labels, probs, _ = _toy_video(T=6)
    low = probs[:, :, ::2, ::2].copy()
    model = QualityModel(QAConfig(input_size=32, crop_size=32, empty_quality=0.125), device="cpu")
    q_all, obj_all = model.predict_video(frames, labels=labels, low_res_probs=low, n_objects=2)
    ids = [5, 1, 3]
    q_ids, obj_ids = model.predict_video(frames, labels=labels, low_res_probs=low, n_objects=2, frame_ids=ids)
    assert q_ids.shape == (3,) and obj_ids.shape == (3, 2)
    np.testing.assert_allclose(obj_ids, obj_all[ids], atol=1e-6)
    np.testing.assert_allclose(q_ids, q_all[ids], atol=1e-6)


def test_worst_predicted_excludes_annotated_frames():
    from ivosw_bench.strategies.predicted import WorstPredictedStrategy

    s = WorstPredictedStrategy()
    assert s.name == "worst-predicted" and not s.needs_oracle
    q = np.array([0.1, 0.5, 0.05, 0.9, 0.3])
    hist = np.array([0, 0, 2, 0, 0])
    assert s.recommend(RoundState(t=3, n_frames=5, quality=q, history=hist, annotated=[2, 2])) == 0
    hist = np.array([1, 0, 1, 0, 0])
    assert s.recommend(RoundState(t=3, n_frames=5, quality=q, history=hist, annotated=[2, 0])) == 4


def test_shipped_weights_if_present():
    path = default_weights()
    if not path.is_file():
        pytest.skip(f"{path} not present")
    assert path.stat().st_size < 50 * 2**20
    model = QualityModel.load(path, device="cpu")
    assert model.cfg.depth in (18, 34, 50)
    frames, labels, probs, _ = _toy_video()
    q, q_obj = model.predict_video(frames, probs=probs)
    assert q.shape == (5,) and q_obj.shape == (5, 2)
    assert np.all((q >= 0) & (q <= 1))
    # the training record beside the weights describes exactly this file
    import hashlib

    record = json.loads(path.with_suffix(".json").read_text())
    assert record["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert record["config"]["geometry"] == model.cfg.geometry and record["config"]["image"] == model.cfg.image
    assert 0 <= record["held_out"]["pcc"] <= 1 and record["held_out"]["n"] > 0


def test_chunk_files_skip_chunks_being_written(tmp_path):
    from ivosw_bench.quality.samples import chunk_files, write_chunk

    write_chunk(tmp_path / "a__random__s0.npz", {"jf": np.zeros(2, np.float32)})
    (tmp_path / "b__random__s0.npz.partial").write_bytes(b"half")
    (tmp_path / "c__random__s0.npz.tmp.npz").write_bytes(b"half")  # an older version's temporary name
    assert [f.name for f in chunk_files(tmp_path)] == ["a__random__s0.npz"]


def test_chunks_without_boxes_give_one_line_errors(tmp_path):
    from ivosw_bench.quality.base import QualityError
    from ivosw_bench.quality.samples import write_chunk
    from ivosw_bench.quality.train import QATrainConfig, eval_quality, train_quality

    for seq in ("a", "b"):  # the format of chunks written before boxes were stored
        meta = {"sequence": seq, "policy": "random", "backend": "classic", "n_frames": 4, "n_objects": 1}
        write_chunk(tmp_path / f"{seq}__random__s0.npz", {
            "crops": np.zeros((4, 16, 16, 4), np.uint8), "jf": np.full(4, 0.5, np.float32),
            "frame": np.arange(4, dtype=np.int16), "obj": np.zeros(4, np.int16), "round": np.ones(4, np.int16),
            "empty_jf": np.zeros(0, np.float32), "meta": np.array(json.dumps(meta))})
    with pytest.raises(QualityError, match="without boxes.*--no-geometry"):
        train_quality(tmp_path, tmp_path / "q.pt", QATrainConfig(input_size=16, epochs=1, val_sequences=["b"]),
                      progress=False)
    ck = tmp_path / "geo.pt"
    QualityModel(QAConfig(input_size=16, crop_size=16, geometry=True), device="cpu").save(ck)
    with pytest.raises(QualityError, match=f"{tmp_path}.*without boxes"):
        eval_quality(ck, tmp_path, sequences=["b"], progress=False)
    # without geometry the old chunks still train
    meta = train_quality(tmp_path, tmp_path / "q.pt", QATrainConfig(input_size=16, epochs=1, val_sequences=["b"],
                                                                    geometry=False), progress=False)
    assert meta["trained_on"]["n_train"] == 4


def test_tta_averages_each_crop_with_its_mirror_image(tmp_path):
    from ivosw_bench.quality.learned import LearnedQuality
    from ivosw_bench.quality.oracle import make_estimator

    import torch

    torch.manual_seed(0)
    model = QualityModel(QAConfig(input_size=32, crop_size=32, image="edges"), device="cpu")
    crops = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 4), dtype=np.uint8)
    plain = model.predict_crops(crops)
    mirror = model.predict_crops(np.ascontiguousarray(crops[:, :, ::-1]))
    model.tta = True
    both = model.predict_crops(crops)
    assert np.allclose(both, 0.5 * (plain + mirror), atol=1e-6) and not np.allclose(plain, mirror)
    assert np.allclose(model.predict_crops(np.ascontiguousarray(crops[:, :, ::-1])), both, atol=1e-6)  # mirror-invariant
    ck = tmp_path / "q.pt"
    QualityModel(QAConfig(input_size=16, crop_size=16), device="cpu").save(ck)
    assert make_estimator("wild", str(ck), tta=True).model.tta and not make_estimator("wild", str(ck)).model.tta
    assert not LearnedQuality(weights=ck).model.tta
