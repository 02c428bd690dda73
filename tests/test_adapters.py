"""Third-party adapters (MANet, ATNet, IPN, SAM 2): settings, errors, isolated imports, conversions.

No real checkout or weights are needed: checkouts are faked in tmp_path; SAM 2 runs end to end with a
tiny randomly initialised model on the CPU (skipped when the sam2 package is not installed).
"""
from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

from backends import _checkout as ck
from backends.base import BackendError, BackendUnavailable, validate_prediction
from conftest import scribbles_on, stroke

ENV_KEYS = [f"IVOSW_{m}_{k}" for m in ("MANET", "ATNET", "IPN", "SAM2")
            for k in ("ROOT", "WEIGHTS", "DEVICE", "CHECKPOINT", "CONFIG", "I_WEIGHTS", "P_WEIGHTS",
                      "RANDOM_WEIGHTS", "CPU_SHIMS")]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for k in ENV_KEYS:
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("IVOSW_BACKENDS_CONFIG", "")
    monkeypatch.setattr(ck, "DEFAULT_CONFIG", tmp_path / "no-such-config.toml")


def write(path, text=""):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path




# ------------------------------------------------------------------------------------- helpers
def test_isolated_import_two_checkouts_same_module_name(tmp_path):
    for name, value in (("a", 1), ("b", 2)):
        write(tmp_path / name / "networks/__init__.py")
        write(tmp_path / name / "networks/net.py", f"from networks import helper\nVALUE = {value} + helper.X\n")
        write(tmp_path / name / "networks/helper.py", "X = 10\n")
    sentinel = type(sys)("networks")
    sys.modules["networks"] = sentinel  # e.g. an unrelated installed package
    try:
        a = ck.IsolatedCheckout(tmp_path / "a", "a")
        b = ck.IsolatedCheckout(tmp_path / "b", "b")
        (na,) = a.load("networks.net")
        (nb,) = b.load("networks.net")
        assert (na.VALUE, nb.VALUE) == (11, 12)
        assert na is not nb and a["networks.helper"] is not b["networks.helper"]
        assert sys.modules["networks"] is sentinel  # restored, not clobbered
        assert "networks.net" not in sys.modules and "networks.helper" not in sys.modules
        assert str(tmp_path / "a") not in sys.path
        with a.active():  # lazy imports at call time see the checkout's own modules
            import networks.net as again
            assert again is na
        assert sys.modules["networks"] is sentinel
    finally:
        sys.modules.pop("networks", None)
    assert not any(k == "networks" or k.startswith("networks.") for k in sys.modules)


def test_settings_option_env_config(tmp_path, monkeypatch):
    cfg = write(tmp_path / "b.toml", '[manet]\nroot = "/from/config"\n')
    monkeypatch.setenv("IVOSW_BACKENDS_CONFIG", str(cfg))
    assert ck.setting("manet", "root") == ("/from/config", f"{cfg} [manet] root")
    monkeypatch.setenv("IVOSW_MANET_ROOT", "/from/env")
    assert ck.setting("manet", "root") == ("/from/env", "IVOSW_MANET_ROOT")
    assert ck.setting("manet", "root", "/opt") == ("/opt", "option")
    write(cfg, "[manet\n")
    with pytest.raises(BackendError, match="not valid TOML"):
        ck.load_config()


def test_rasterise_and_stroke_helpers():
    lab = ck.rasterise([stroke([[0.0, 0.0], [1.0, 0.0]], 2), stroke([[0.5, 1.0]], 0)], (5, 9))
    assert lab.shape == (5, 9) and (lab[0] == 2).all() and lab[4, 4] == 0 and (lab[1:4] == -1).all()
    s = scribbles_on(2, 4, [stroke([[0.1, 0.1]], 1)])
    assert ck.annotated_frame(s) == 2 and list(ck.strokes_per_frame(s)) == [2]
    with pytest.raises(BackendError, match="no stroke"):
        ck.annotated_frame(scribbles_on(0, 3, []))
    p = ck.probs_from_object_probs(np.array([[[[0.9]]], [[[0.2]]]]))
    assert p.shape == (3, 1, 1, 1) and np.allclose(p.sum(0), 1)


def test_corrupt_weights_file(tmp_path):
    bad = write(tmp_path / "w.pth", "not a checkpoint")
    with pytest.raises(BackendError, match="not a readable PyTorch checkpoint.*set IVOSW_X_WEIGHTS"):
        ck.load_checkpoint(bad, "X", "IVOSW_X_WEIGHTS")


def test_device_selection(monkeypatch):
    monkeypatch.setattr(ck, "cuda_available", lambda: False)
    assert ck.select_device("ipn") == "cpu"
    with pytest.raises(BackendUnavailable, match=r"needs CUDA \(op\)"):
        ck.select_device("manet", cuda_only="op")
    with pytest.raises(BackendUnavailable, match="CUDA is not available"):
        ck.select_device("ipn", "cuda")


# ------------------------------------------------------------------------------------- MANet
def fake_manet(tmp_path):
    root = tmp_path / "CVPR2020_MANet"
    for f in ("config.py", "networks/IntVOS.py", "networks/deeplab.py", "networks/__init__.py"):
        write(root / f)
    return root


def test_manet_errors(tmp_path, monkeypatch):
    from backends.manet import ManetBackend

    monkeypatch.setattr(ck, "cuda_available", lambda: False)
    assert "set IVOSW_MANET_ROOT" in ManetBackend.availability()
    with pytest.raises(BackendUnavailable, match="set IVOSW_MANET_ROOT"):
        ManetBackend()
    monkeypatch.setenv("IVOSW_MANET_ROOT", str(tmp_path / "missing"))
    assert "does not exist" in ManetBackend.availability()
    root = fake_manet(tmp_path)
    monkeypatch.setenv("IVOSW_MANET_ROOT", str(root))
    monkeypatch.setenv("IVOSW_MANET_WEIGHTS", str(tmp_path / "nope.pth"))
    msg = ManetBackend.availability()
    assert msg.startswith("weights file") and "not found" in msg and "IVOSW_MANET_WEIGHTS" in msg
    write(root / "save_step_80000.pth", "x")
    monkeypatch.delenv("IVOSW_MANET_WEIGHTS")
    assert ManetBackend.availability().startswith("needs CUDA (MANet")
    with pytest.raises(BackendUnavailable, match="needs CUDA"):
        ManetBackend()


def test_manet_conversions():
    from backends import manet

    s = [stroke([[0.1, 0.5], [0.4, 0.5]], 1), stroke([[0.8, 0.1], [0.8, 0.9]], 0)]
    lab = manet.scribble_label(s, (120, 214))
    assert lab.shape == (1, 1, 120, 214) and set(np.unique(lab)) == {-1, 0, 1}
    roi = manet.rough_roi(np.where(np.arange(40)[None, None, None, :] == 5, 1.0, -1.0) * np.ones((1, 1, 30, 40)), dist=3)
    assert roi[0, 0, 10, 5] == 1 and roi[0, 0, 10, 30] == 0 and roi[0, 0, 10, 7] == -1
    x = manet.preprocess_frame(np.zeros((48, 64, 3), np.uint8))
    assert x.shape == (3, 480, 854) and x.dtype == np.float32
    probs = manet.lazy_probs(np.random.default_rng(0).normal(size=(3, 2, 12, 16)).astype(np.float32), (48, 64))
    assert probs().shape == (2, 3, 48, 64)
    manet.check_interaction(8)
    with pytest.raises(BackendError, match="9 interactions"):
        manet.check_interaction(9)


# ------------------------------------------------------------------------------------- ATNet
def test_atnet_errors(tmp_path, monkeypatch):
    from backends.atnet import ATNetBackend

    monkeypatch.setattr(ck, "cuda_available", lambda: True)
    assert "set IVOSW_ATNET_ROOT" in ATNetBackend.availability()
    root = tmp_path / "IVOS-ATNet"
    for f in ("networks/atnet.py", "networks/ltm_transfer.py", "libs/utils.py"):
        write(root / f)
    monkeypatch.setenv("IVOSW_ATNET_ROOT", str(root))
    assert "ATNet-checkpoint.pth not found" in ATNetBackend.availability()
    write(root / "ATNet-checkpoint.pth", "x")
    assert "correlation_package.zip" in ATNetBackend.availability()
    monkeypatch.setattr(ck, "cuda_available", lambda: False)
    assert ATNetBackend.availability().startswith("needs CUDA (ATNet")


def test_atnet_conversions():
    from backends import atnet

    assert atnet.pad_info(480, 854) == ((16, 16), (5, 5))
    assert atnet.pad_info(64, 64) == ((16, 16), (16, 16))
    prev = np.zeros((40, 60), np.int64)
    prev[5:20, 5:30] = 1
    s = [stroke([[0.2, 0.3], [0.3, 0.3]], 1), stroke([[0.25, 0.2], [0.3, 0.2]], 2), stroke([[0.9, 0.9]], 0)]
    m1 = atnet.scribble_maps(s, 1, np.zeros_like(prev), first_round=True)
    assert m1.shape == (3, 40, 60) and np.allclose(m1[0], 0.5) and m1[1].max() > 0 and (m1[2] == 0).all()
    m2 = atnet.scribble_maps(s, 1, prev, first_round=False)
    assert (m2[0] == (prev == 1)).all() and m2[2].max() > 0 and (m2[2][prev != 1] == 0).all()
    assert atnet.propagation_order([5], 5, 8) == [5, 4, 3, 2, 1, 0, 5, 6, 7]
    order = atnet.propagation_order([2, 9, 5], 5, 12)
    assert order[0] == 5 and min(order) == 3 and max(order) == 8
    assert atnet.blend_alpha(4, 5, [2, 5], backward=True) == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert atnet.blend_alpha(6, 5, [2, 5], backward=False) == 1.0
    p = np.array([[[0.9, 0.5]], [[0.1, 0.7]]])  # K=2, H=1, W=2
    assert atnet.combine(p).tolist() == [[1, 0]]


# ------------------------------------------------------------------------------------- IPN
FAKE_INET = """
import torch, torch.nn as nn
from utils_ipn import ToCudaVariable
class Inet(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(1.0))
    def forward(self, tf, tm, tp, tn, gm, loss_weight):
        if torch.all(tm == -1):
            tm = 0.5 * torch.ones(gm.size())
        em = torch.clamp(tm + self.w * (tp - tn), 0, 1)
        return em, torch.zeros(1), tf.mean() * torch.ones(1, 4)
"""
FAKE_PNET = """
import torch, torch.nn as nn
from utils_ipn import ToCudaVariable
class SEFA(nn.Module):
    def forward(self, a, b):
        return 0.5 * (a + b)
class Pnet(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(1.0))
        self.SEFA = SEFA()
    def forward(self, c_ref, p_ref, tf, tm, tx, gm, loss_weight, a_ref=None):
        a = c_ref if p_ref is None else self.SEFA(c_ref, p_ref)
        return self.w * tx, torch.zeros(1), a
"""


def fake_ipn(tmp_path, name="IPN"):
    import torch

    root = tmp_path / name
    write(root / "interaction_net.py", FAKE_INET)
    write(root / "propagation_net.py", FAKE_PNET)
    write(root / "utils_ipn.py", "def ToCudaVariable(xs):\n    return xs\n")
    for fname in ("I_e290.pth", "P_e290.pth"):
        torch.save({"module.w": torch.tensor(1.0)}, root / "weights" / fname) if (root / "weights").mkdir(exist_ok=True) is None else None
    return root


def test_ipn_errors(tmp_path, monkeypatch):
    from backends.ipn import IPNBackend

    assert "set IVOSW_IPN_ROOT" in IPNBackend.availability()
    root = fake_ipn(tmp_path)
    monkeypatch.setenv("IVOSW_IPN_ROOT", str(root))
    assert IPNBackend.availability() is None
    monkeypatch.setenv("IVOSW_IPN_WEIGHTS", str(tmp_path / "nowhere"))
    assert IPNBackend.availability().startswith("weights file") and "IVOSW_IPN_WEIGHTS" in IPNBackend.availability()
    bad = tmp_path / "bad"
    write(bad / "I_e290.pth", "garbage")
    write(bad / "P_e290.pth", "garbage")
    monkeypatch.setenv("IVOSW_IPN_WEIGHTS", str(bad))
    with pytest.raises(BackendError, match="not a readable PyTorch checkpoint"):
        IPNBackend()


def test_ipn_conversions():
    from backends import ipn

    s = [stroke([[0.2, 0.5], [0.4, 0.5]], 1), stroke([[0.7, 0.5], [0.9, 0.5]], 0), stroke([[0.5, 0.1]], 2)]
    pos, neg = ipn.scribble_maps(s, 1, None, (20, 30))
    assert pos.shape == (20, 30) and pos.sum() > 0 and neg.sum() == 0  # round 1: no negatives
    prev = np.ones((20, 30), np.float32)
    pos, neg = ipn.scribble_maps(s, 1, prev, (20, 30))
    assert neg.sum() > 0 and not (pos.astype(bool) & neg.astype(bool)).any()
    pos2, neg2 = ipn.scribble_maps(s, 2, prev, (20, 30))
    assert pos2.sum() > 0 and neg2[:, :15].sum() == 0  # object 1's stroke is not negative for 2
    lo, hi, w = ipn.blend_weights(6, [], 10)
    assert (lo, hi) == (0, 9) and (w == 1).all()
    lo, hi, w = ipn.blend_weights(6, [2, 8], 10)
    assert (lo, hi) == (2, 8) and w[6] == 1 and w[7] == 0.5 and w[8] == 0 and w[9] == 0 and w[4] == 0.5
    p = ipn.fuse(np.random.default_rng(0).random((2, 3, 4, 5)))
    assert p.shape == (3, 3, 4, 5) and np.allclose(p.sum(0), 1, atol=1e-5)


def test_ipn_end_to_end_with_fake_checkout(tmp_path, monkeypatch):
    """The adapter's loop (interaction, propagation both ways, blending, memory) on a fake checkout;
    a second fake checkout with the same module names loads beside it without clashing."""
    from backends.ipn import IPNBackend

    monkeypatch.setattr(ck, "cuda_available", lambda: False)
    root = fake_ipn(tmp_path)
    be = IPNBackend(root=str(root))
    other = IPNBackend(root=str(fake_ipn(tmp_path, "IPN2")))
    assert be.inet.__class__ is not other.inet.__class__
    assert "interaction_net" not in sys.modules and "utils_ipn" not in sys.modules
    T, H, W = 6, 24, 32
    frames = np.random.default_rng(0).integers(0, 255, (T, H, W, 3), dtype=np.uint8)
    be.reset("seq", frames, 2)
    r1 = scribbles_on(3, T, [stroke([[0.2, 0.5], [0.4, 0.5]], 1), stroke([[0.7, 0.5], [0.9, 0.5]], 2)])
    p1 = validate_prediction(be.interact(r1, 3), T, H, W, 2, "ipn")
    assert p1.probs.shape == (3, T, H, W)
    assert (p1.labels[:, 12, 9] == 1).all() and (p1.labels[:, 12, 25] == 2).all()  # propagated to all frames
    r2 = scribbles_on(0, T, [stroke([[0.2, 0.5], [0.4, 0.5]], 0)])  # remove object 1 on frame 0
    p2 = be.interact(r2, 0)
    assert be.targets == [3, 0] and be.refs[0] is not None
    assert p2.labels[0, 12, 9] == 0 and p2.labels[3, 12, 9] == 1  # annotated frame 3 kept (blending)
    assert (p2.labels[:, 12, 25] == 2).all()


# ------------------------------------------------------------------------------------- SAM 2
def test_sam2_conversions():
    from backends import sam2_backend as sb

    pts = sb.sample_along([[0, 0], [1, 0]], 4, (11, 21))
    assert pts.shape == (4, 2) and np.allclose(pts[:, 1], 0) and np.allclose(pts[:, 0], [2.5, 7.5, 12.5, 17.5])
    pr = sb.strokes_to_prompts([stroke([[0.1, 0.1], [0.2, 0.1]], 1), stroke([[0.8, 0.8], [0.9, 0.8]], 0)], 2, (10, 10), 5, 3)
    assert pr[1][1].tolist() == [1] * 5 + [0] * 3 and pr[2][1].tolist() == [0] * 6
    labels, probs = sb.outputs(np.array([[[[2.0, -1.0]]], [[[1.0, -3.0]]]]))
    assert labels.tolist() == [[[1, 0]]] and probs().shape == (3, 1, 1, 2)


def test_sam2_errors(monkeypatch, tmp_path):
    pytest.importorskip("sam2", reason="sam2 is not installed (SAM2_BUILD_CUDA=0 pip install --no-build-isolation sam2)")
    from backends.sam2_backend import SAM2Backend

    assert "set IVOSW_SAM2_CHECKPOINT" in SAM2Backend.availability()
    monkeypatch.setenv("IVOSW_SAM2_CHECKPOINT", str(tmp_path / "x.pt"))
    assert "not found" in SAM2Backend.availability()
    write(tmp_path / "x.pt", "junk")
    assert "set IVOSW_SAM2_CONFIG" in SAM2Backend.availability()
    monkeypatch.setenv("IVOSW_SAM2_CONFIG", "configs/sam2.1/sam2.1_hiera_t.yaml")
    assert SAM2Backend.availability() is None
    with pytest.raises(BackendError, match="not a readable PyTorch checkpoint"):
        SAM2Backend(device="cpu")


def test_sam2_end_to_end_tiny_random_model():
    pytest.importorskip("sam2", reason="sam2 is not installed (SAM2_BUILD_CUDA=0 pip install --no-build-isolation sam2)")
    from backends.sam2_backend import SAM2Backend, tiny_random_predictor

    be = SAM2Backend(predictor=tiny_random_predictor(image_size=128, seed=0))
    T, H, W = 4, 48, 64
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (T, H, W, 3), dtype=np.uint8)
    be.reset("seq", frames, 2)
    r1 = scribbles_on(1, T, [stroke([[0.2, 0.3], [0.4, 0.3]], 1), stroke([[0.9, 0.9], [0.95, 0.95]], 0)])
    p1 = validate_prediction(be.interact(r1, 1), T, H, W, 2, "sam2")
    assert p1.info["tracked_objects"] == [1] and p1.probs.shape == (3, T, H, W)
    assert np.isfinite(p1.probs).all()
    tracked = be.predictor._get_obj_num(be.state)
    assert tracked == 1
    # every frame received a propagated mask for object 1 (not the -20 placeholder)
    assert (be.logits[0].reshape(T, -1).astype(np.float32) != -20.0).any(axis=1).all()
    assert (be.logits[1] == -20.0).all()
    r2 = scribbles_on(3, T, [stroke([[0.6, 0.6], [0.7, 0.6]], 2), stroke([[0.3, 0.3]], 1)])
    p2 = validate_prediction(be.interact(r2, 3), T, H, W, 2, "sam2")
    assert p2.info["tracked_objects"] == [1, 2] and p2.info["prompt_frames"] == [1, 3]
    # memory across rounds: the frame-1 clicks are still in SAM 2's state, frame-3 clicks were added
    inputs = be.state["point_inputs_per_obj"]
    idx1 = be.state["obj_id_to_idx"][1]
    assert set(inputs[idx1]) == {1, 3}
    assert inputs[idx1][1]["point_labels"].shape[1] == 5 + 3
    assert (be.logits[1].reshape(T, -1).astype(np.float32) != -20.0).any(axis=1).all()
    be.close()
