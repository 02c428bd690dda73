"""MANet and ATNet adapters on fake checkouts (tests/fake_checkouts.py): CPU shims, random weights,
and the bugs that running the real upstream code revealed, each pinned without the upstream code.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from backends import _checkout as ck
from backends.base import BackendError, validate_prediction
from conftest import scribbles_on, stroke
from fake_checkouts import fake_atnet, fake_manet

ENV_KEYS = [f"IVOSW_{m}_{k}" for m in ("MANET", "ATNET", "IPN")
            for k in ("ROOT", "WEIGHTS", "DEVICE", "RANDOM_WEIGHTS", "CPU_SHIMS")]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for k in ENV_KEYS:
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("IVOSW_BACKENDS_CONFIG", "")
    monkeypatch.setattr(ck, "DEFAULT_CONFIG", tmp_path / "no-such-config.toml")
    monkeypatch.setattr(ck, "cuda_available", lambda: False)




def frames(T=5, H=48, W=64):
    return np.random.default_rng(0).integers(0, 255, (T, H, W, 3), dtype=np.uint8)


# ------------------------------------------------------------------------------------- MANet
def manet_backend(tmp_path, **kw):
    from backends.manet import ManetBackend

    return ManetBackend(root=str(fake_manet(tmp_path)), random_weights=True, cpu_shims=True, **kw)


def test_manet_random_weights_and_cpu_shims_from_settings(tmp_path, monkeypatch):
    from backends.manet import ManetBackend

    monkeypatch.setenv("IVOSW_MANET_ROOT", str(fake_manet(tmp_path)))
    assert "weights" in ManetBackend.availability() and ManetBackend.notes() is None
    monkeypatch.setenv("IVOSW_MANET_RANDOM_WEIGHTS", "1")
    assert ManetBackend.availability().startswith("needs CUDA")
    monkeypatch.setenv("IVOSW_MANET_CPU_SHIMS", "true")
    assert ManetBackend.availability() is None
    assert "random weights" in ManetBackend.notes() and "CPU stand-ins" in ManetBackend.notes()
    be = ManetBackend()
    assert be.weights is None and be.device == "cpu"
    assert torch.cuda.is_available() is False  # the import-time pretence is over


def test_manet_random_weights_are_seeded(tmp_path):
    a = manet_backend(tmp_path, seed=1).model.state_dict()
    b = manet_backend(tmp_path, seed=1).model.state_dict()
    c = manet_backend(tmp_path, seed=2).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_manet_rounds_and_previous_mask_at_video_size(tmp_path):
    """test.py keeps each frame's mask at the video's size (prev_label_storage) and feeds it back as
    the previous mask; the adapter used to keep it at the embedding's 120x214."""
    be = manet_backend(tmp_path)
    intvos = be.ckout["networks.IntVOS"]
    intvos.CALLS.clear()
    T, H, W = 5, 48, 64
    be.reset("seq", frames(T, H, W), 2)
    r1 = scribbles_on(2, T, [stroke([[0.2, 0.5], [0.4, 0.5]], 1), stroke([[0.7, 0.5], [0.9, 0.5]], 2)])
    p1 = validate_prediction(be.interact(r1, 2), T, H, W, 2, "manet")
    assert p1.probs.shape == (3, T, H, W) and np.allclose(p1.probs.sum(0), 1, atol=1e-5)
    assert (p1.labels[:, 24, 19] == 1).all() and (p1.labels[:, 24, 51] == 2).all()
    assert (p1.labels == p1.probs.argmax(0)).all()
    r2 = scribbles_on(0, T, [stroke([[0.2, 0.5], [0.4, 0.5]], 0)])
    p2 = be.interact(r2, 0)
    assert p2.labels[0, 24, 19] == 0 and p2.info["round"] == 2
    kinds = [c[0] for c in intvos.CALLS]
    assert kinds == ["embed", "int"] + ["prop"] * 4 + ["int"] + ["prop"] * 4
    assert intvos.CALLS[6][3] == (1, 1, H, W)  # previous round's mask on the annotated frame
    assert all(c[3] == (1, 1, H, W) for c in intvos.CALLS if c[0] == "prop")
    unchanged = be.interact(scribbles_on(3, T, []), 3)  # nothing to correct: the result stays
    assert (unchanged.labels == p2.labels).all() and be.n_interaction == 2


def test_manet_stops_before_its_memory_overflows(tmp_path):
    """The checkout's local memory has 9 interaction slots: a 10th round raised an IndexError deep in
    prop_seghead; now a one-line BackendError before the model is called."""
    be = manet_backend(tmp_path)
    intvos = be.ckout["networks.IntVOS"]
    T = 3
    be.reset("seq", frames(T, 16, 24), 1)
    for r in range(9):
        be.interact(scribbles_on(r % T, T, [stroke([[0.3, 0.5], [0.5, 0.5]], 1)]), r % T)
    calls = len(intvos.CALLS)
    with pytest.raises(BackendError, match=r"holds 9 interactions per sample.*interaction 10"):
        be.interact(scribbles_on(0, T, [stroke([[0.3, 0.5]], 1)]), 0)
    assert len(intvos.CALLS) == calls
    be.reset("seq", frames(T, 16, 24), 1)  # a new sample starts again from zero
    be.interact(scribbles_on(1, T, [stroke([[0.3, 0.5]], 1)]), 1)


def test_manet_probs_upsampled_like_test_py():
    from backends import manet

    small = np.random.default_rng(0).normal(size=(2, 3, 12, 16)).astype(np.float32)
    p = manet.lazy_probs(small, (48, 64))()
    assert p.shape == (3, 2, 48, 64) and np.allclose(p.sum(0), 1, atol=1e-5)
    up = manet.upsample(torch.from_numpy(small[:1]), (48, 64))[0].numpy()
    assert np.allclose(up[:, 0, 0], small[0, :, 0, 0]) and np.allclose(up[:, -1, -1], small[0, :, -1, -1])


def test_manet_backends_share_one_network_and_keep_embeddings_of_the_same_video(tmp_path):
    """Agent training builds a backend per training window (each held a ResNet-101) and replays a
    sample after every reset (each re-extracted every frame's embedding)."""
    a, b = manet_backend(tmp_path), manet_backend(tmp_path)
    assert a.model is b.model and a.ckout is b.ckout
    assert manet_backend(tmp_path, seed=1).model is not a.model
    calls = a.ckout["networks.IntVOS"].CALLS
    calls.clear()
    video, T = frames(4, 16, 24), 4
    r1 = scribbles_on(1, T, [stroke([[0.3, 0.5], [0.5, 0.5]], 1)])
    a.reset("seq", video, 1)
    first = a.interact(r1, 1).labels
    a.reset("seq", video.copy(), 1)
    again = a.interact(r1, 1).labels
    assert (first == again).all() and [c[0] for c in calls].count("embed") == 1
    b.reset("other", video[::-1].copy(), 1)  # another video in the other backend: its own state
    b.interact(r1, 1)
    assert [c[0] for c in calls].count("embed") == 2 and a.n_interaction == 1
    a.reset("seq", video[:3], 1)
    a.interact(scribbles_on(1, 3, [stroke([[0.3, 0.5]], 1)]), 1)
    assert [c[0] for c in calls].count("embed") == 3


# ------------------------------------------------------------------------------------- ATNet
def atnet_backend(root, **kw):
    from backends.atnet import ATNetBackend

    return ATNetBackend(root=str(root), cpu_shims=True, **kw)


def test_atnet_builds_without_downloading_imagenet_weights(tmp_path, capsys):
    """ATNet's encoders call model_zoo.load_url for ImageNet ResNet-50 weights when built; without a
    network (the GPU machines, CI) the adapter failed with a URLError before loading its checkpoint."""
    from backends import atnet

    root = fake_atnet(tmp_path)
    be = atnet_backend(root, random_weights=True, seed=3)
    assert be.weights is None and be.device == "cpu"
    resnet = be.ckout["networks.deeplab.backbone.resnet"].ResNet
    with pytest.raises(OSError, match="download.pytorch.org"):
        resnet(pretrained=True)  # the checkout's own behaviour is back after building
    path = tmp_path / "ATNet-checkpoint.pth"
    torch.save({"module." + k: v for k, v in be.net.state_dict().items()}, path)
    loaded = atnet_backend(root, weights=str(path))
    assert all(torch.equal(loaded.net.state_dict()[k], v) for k, v in be.net.state_dict().items())
    assert "Constructing ATnet" not in capsys.readouterr().out
    assert atnet.ATNetBackend.notes() is None


def test_atnet_rounds_with_correlation_stand_in(tmp_path):
    be = atnet_backend(fake_atnet(tmp_path), random_weights=True)
    net_mod = be.ckout["networks.atnet"]
    net_mod.CALLS.clear()
    T, H, W = 6, 48, 64
    be.reset("seq", frames(T, H, W), 2)
    r1 = scribbles_on(2, T, [stroke([[0.2, 0.5], [0.4, 0.5]], 1), stroke([[0.7, 0.5], [0.9, 0.5]], 2)])
    p1 = validate_prediction(be.interact(r1, 2), T, H, W, 2, "atnet")
    assert (p1.labels[:, 24, 19] == 1).all() and (p1.labels[:, 24, 51] == 2).all()
    assert p1.probs.shape == (3, T, H, W)
    tnet = [c for c in net_mod.CALLS if c[0] == "tnet"]
    assert len(tnet) == T - 1 and tnet[0][2][1] == 25  # the stand-in's 5x5 displacements
    assert all(c[3] for c in tnet)  # the identity warp is the identity: corner-aligned grid_sample
    r2 = scribbles_on(5, T, [stroke([[0.7, 0.5], [0.9, 0.5]], 0)])
    p2 = be.interact(r2, 5)
    assert p2.labels[5, 24, 51] == 0 and p2.labels[2, 24, 51] == 2 and len(be.anno6) == 2


def test_grid_sample_defaults_to_corner_alignment_inside_atnet_calls():
    """ATNet (PyTorch 1.2) normalises its warp grid by W - 1; PyTorch >= 1.3 defaults grid_sample to
    align_corners=False, so its identity warp blurred and shifted the previous mask."""
    import torch.nn.functional as F

    from backends.atnet import grid_sample_as_in_torch_1_2

    x = torch.arange(20.0).reshape(1, 1, 4, 5)
    ys, xs = torch.meshgrid(torch.arange(4.0), torch.arange(5.0), indexing="ij")
    grid = torch.stack([2 * xs / 4 - 1, 2 * ys / 3 - 1], -1)[None]
    orig = F.grid_sample
    assert not torch.allclose(F.grid_sample(x, grid, align_corners=False), x)
    with grid_sample_as_in_torch_1_2():
        assert torch.allclose(F.grid_sample(x, grid, padding_mode="border"), x)
        assert not torch.allclose(F.grid_sample(x, grid, align_corners=False), x)  # explicit wins
    assert F.grid_sample is orig


def upstream_stroke_mask(strokes, hw, obj_id, positive):
    """IVOS-ATNet libs/utils.py scribble_to_image, the mask part, with davisinteractive's bresenham."""
    from davisinteractive.utils.operations import bresenham

    from ivosw_bench import compat

    compat.apply()
    h, w = hw
    mask = np.zeros([h, w])
    for s in strokes:
        points = np.round(np.array(s["path"]) * np.array((w, h))).astype(int)
        pts = bresenham(points) if len(points) > 1 else points
        if (s["object_id"] == obj_id) == positive:
            mask[pts[:, 1] - 1, pts[:, 0] - 1] = 1
    return mask.astype(np.uint8)


def test_atnet_stroke_masks_match_the_checkout_rule():
    """A stroke touching the left or top border (x or y rounding to 0) maps to index -1: the checkout
    marks one pixel of the last column/row; the adapter wrapped the point before drawing and drew a
    line across the whole frame."""
    from backends import atnet

    hw = (40, 100)
    edge = [stroke([[0.0, 0.5], [0.03, 0.5]], 1)]
    m = atnet._stroke_mask(edge, hw, True, 1)
    assert m.sum() == 4 and m[19, 99] == 1 and m[19, :3].all()
    assert (m == upstream_stroke_mask(edge, hw, 1, True)).all()
    rng = np.random.default_rng(0)
    for _ in range(40):
        strokes = [stroke(np.clip(rng.normal(0.5, 0.4, (rng.integers(1, 6), 2)), 0, 1).tolist(),
                          int(rng.integers(0, 3))) for _ in range(3)]
        for positive in (True, False):
            got = atnet._stroke_mask(strokes, hw, positive, 1)
            assert (got == upstream_stroke_mask(strokes, hw, 1, positive)).all()


def test_bresenham_is_davisinteractives():
    from davisinteractive.utils.operations import bresenham

    from backends import atnet
    from ivosw_bench import compat

    compat.apply()
    rng = np.random.default_rng(1)
    for _ in range(200):
        pts = rng.integers(-3, 30, (int(rng.integers(1, 5)), 2))
        assert np.array_equal(atnet.bresenham(pts), bresenham(pts))


def test_atnet_needs_its_compiled_correlation_unless_shimmed(tmp_path, monkeypatch):
    """`ivosw-bench backends` said yes on a CUDA machine where the correlation package was unzipped
    but never built; construction then failed on `import correlation_cuda`."""
    from backends.atnet import ATNetBackend

    monkeypatch.setattr(ck, "cuda_available", lambda: True)
    monkeypatch.setenv("IVOSW_ATNET_ROOT", str(fake_atnet(tmp_path)))
    monkeypatch.setenv("IVOSW_ATNET_RANDOM_WEIGHTS", "1")
    assert "correlation_cuda is not installed" in ATNetBackend.availability()
    monkeypatch.setenv("IVOSW_ATNET_CPU_SHIMS", "1")
    assert ATNetBackend.availability() is None


# ------------------------------------------------------------------------------------- GPU check
def load_gpu_check():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"
    spec = importlib.util.spec_from_file_location("gpu_check", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_gpu_check_plans_random_weights_and_refuses_shims(tmp_path, monkeypatch):
    gpu_check = load_gpu_check()
    monkeypatch.setattr(ck, "cuda_available", lambda: True)
    monkeypatch.setenv("IVOSW_MANET_ROOT", str(fake_manet(tmp_path)))
    options, how = gpu_check.plan("manet")
    assert options == {} and how.startswith("random weights of the right architecture")
    assert ck.flag_setting("manet", "random_weights")
    (tmp_path / "w.pth").write_bytes(b"x")
    monkeypatch.setenv("IVOSW_MANET_WEIGHTS", str(tmp_path / "w.pth"))
    monkeypatch.delenv("IVOSW_MANET_RANDOM_WEIGHTS")
    assert gpu_check.plan("manet") == ({}, "your weights")
    monkeypatch.setenv("IVOSW_MANET_CPU_SHIMS", "1")
    options, why = gpu_check.plan("manet")
    assert options is None and "IVOSW_MANET_CPU_SHIMS" in why
    options, why = gpu_check.plan("ipn")
    assert options is None and "IVOSW_IPN_ROOT" in why


def test_a_run_records_that_it_used_random_weights(tmp_path, monkeypatch, tiny_davis):
    """`ivosw-bench run --backend manet` with random weights: the session loop runs the adapter and
    config.json says the weights were random (the results are not MANet's)."""
    import json

    from ivosw_bench.session import RunConfig, run

    monkeypatch.setenv("IVOSW_MANET_ROOT", str(fake_manet(tmp_path)))
    monkeypatch.setenv("IVOSW_MANET_RANDOM_WEIGHTS", "1")
    monkeypatch.setenv("IVOSW_MANET_CPU_SHIMS", "1")
    path, summary = run(RunConfig(strategy="linspace", backend="manet", dataset=str(tiny_davis), rounds=2,
                                  out=str(tmp_path / "runs")))
    config = json.loads((path / "config.json").read_text())
    assert config["backend"] == "manet" and "random weights" in config["backend_notes"]
    assert len(summary["per_sample"]) == 2
    monkeypatch.delenv("IVOSW_MANET_RANDOM_WEIGHTS")
    be = manet_backend(tmp_path)  # random weights by option: the instance says so, the settings do not
    from backends.manet import ManetBackend

    assert ManetBackend.notes().startswith("CPU stand-ins") and be.notes().startswith("random weights")


def test_gpu_check_round_report_runs_through(tmp_path, monkeypatch, tiny_davis, capsys):
    """check_one's flow and printout, with the classic backend posing as a CUDA one (no GPU here)."""
    import ivosw_bench.registry as registry
    from ivosw_bench.data.davis_layout import open_dataset

    gpu_check = load_gpu_check()
    for fn in ("reset_peak_memory_stats", "synchronize", "empty_cache"):
        monkeypatch.setattr(torch.cuda, fn, lambda *a, **k: None)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda *a, **k: 3 * 2**20)
    real = registry.make_backend

    def posing(name, **options):
        backend = real("classic")
        backend.device = "cuda:0"
        return backend

    monkeypatch.setattr(registry, "make_backend", posing)
    ds = open_dataset(tiny_davis, check=False)
    assert gpu_check.check_one("manet", {}, "random weights (plumbing only)", ds, "two", 2)
    out = capsys.readouterr().out
    assert "built in" in out and "round 2 frame" in out and "GPU peak 3 MB" in out
    assert "later rounds" in out and "(random weights)" in out
