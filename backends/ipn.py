"""IPN adapter: "Fast User-Guided VOS by Interaction-and-Propagation Networks" (Oh et al., CVPR 2019).

Runs the user's checkout of the IPN code used by the CVPR 2021 frame-recommendation paper,
https://github.com/zyy-cn/IPN (training code built on the official demo
https://github.com/seoungwugoh/ivs-demo; the demo checkout works too: both provide
``interaction_net.Inet`` and ``propagation_net.Pnet``). Settings (see ``backends/_checkout.py``):

    root     IVOSW_IPN_ROOT      [ipn] root      the repository's top folder
    weights  IVOSW_IPN_WEIGHTS   [ipn] weights   folder with I_e290.pth and P_e290.pth
                                                 (default: <root> or <root>/weights)

IPN runs on CUDA when present, else on the CPU (the checkout itself decides: its ``ToCudaVariable``
moves tensors to CUDA whenever CUDA is available). Its encoders call
``torchvision.models.resnet50(pretrained=True)``; the adapter builds them without downloading the
ImageNet weights, since the checkpoint replaces every parameter (loaded strictly).

Per round, for each object k (as ``model.Run`` of zyy-cn/IPN, without its training loss):

* positive map = the round's strokes of k, negative map = the round's background strokes (id 0)
  where the previous result of k is > 0.5 (so none in round 1; other objects' strokes are not used);
  both rasterised at full resolution and dilated (3x3 cross, 2 iterations);
* the interaction net refines k on the annotated frame (previous result there, or 0.5 in round 1);
* the propagation net runs forward then backward, stopping at the nearest earlier annotated frames;
  the new result is mixed with the previous one linearly in the distance to those frames;
* per-object memory: the previous results [T,H,W] and the aggregated reference feature.

Probabilities: background = prod(1 - p_k), then logit and softmax over {bg, objects} as the checkout;
labels are their argmax.
"""
from __future__ import annotations

import contextlib

import numpy as np

from backends import _checkout as ck
from backends.base import Backend, BackendError, Prediction

METHOD = "ipn"
REPO = "IPN (github.com/zyy-cn/IPN or github.com/seoungwugoh/ivs-demo)"
MARKERS = ("interaction_net.py", "propagation_net.py")
I_NAME, P_NAME = "I_e290.pth", "P_e290.pth"


# ----------------------------------------------------------------------------------- conversions
def scribble_maps(strokes: list[dict], obj_id: int, prev_prob: np.ndarray | None,
                  hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(positive, negative) float32 [H,W] maps of object ``obj_id`` (see the module doc)."""
    import cv2

    lab = ck.rasterise(strokes, hw, default=-1, keep=(0, obj_id))
    pos = lab == obj_id
    neg = lab == 0
    if prev_prob is None:
        neg[:] = False
    else:
        neg &= np.asarray(prev_prob) > 0.5
    kernel = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    neg_d = cv2.dilate(neg.astype(np.uint8), kernel, iterations=2) > 0
    pos_d = cv2.dilate(pos.astype(np.uint8), kernel, iterations=2) > 0
    neg_d &= ~pos_d  # a pixel reached by both is positive (later label wins in the checkout)
    return pos_d.astype(np.float32), neg_d.astype(np.float32)


def blend_weights(target: int, previous: list[int], n_frames: int) -> tuple[int, int, np.ndarray]:
    """(left end, right end, weight per frame) of a round on ``target`` given earlier annotated frames:
    the new result counts fully up to the target and fades linearly to 0 at the nearest earlier
    annotated frame on each side (weight 1 everywhere on a side without one)."""
    left = [p for p in previous if p < target]
    right = [p for p in previous if p > target]
    lo = max(left) if left else 0
    hi = min(right) if right else n_frames - 1
    w = np.ones(n_frames, np.float64)
    if right:
        f = np.arange(target + 1, n_frames)
        w[target + 1:] = np.maximum(0.0, 1.0 - (f - target) / (hi - target))
    if left:
        f = np.arange(0, target)
        w[:target] = np.maximum(0.0, 1.0 - (target - f) / (target - lo))
    return lo, hi, w


def fuse(obj_probs: np.ndarray) -> np.ndarray:
    """[K, T, H, W] per-object probabilities -> [K+1, T, H, W] (bg = prod(1-p), logit, softmax)."""
    p = np.clip(np.asarray(obj_probs, np.float32), 0.0, 1.0)
    em = np.concatenate([np.prod(1 - p, axis=0, keepdims=True), p], axis=0)
    em = np.clip(em, 1e-7, 1 - 1e-7)
    return ck.softmax_np(np.log(em / (1 - em)), axis=0)


# ----------------------------------------------------------------------------------- backend
@contextlib.contextmanager
def _no_imagenet_download():
    """Build torchvision ResNets without fetching ImageNet weights (the checkpoint overrides them)."""
    import torchvision.models as tvm

    orig = tvm.resnet50

    def resnet50(*args, pretrained=None, weights=None, **kw):
        return orig(weights=None, **kw)

    tvm.resnet50 = resnet50
    try:
        yield
    finally:
        tvm.resnet50 = orig


def _find_weights(folder=None, i_weights=None, p_weights=None, root=None):
    """(interaction, propagation) weights: explicit files (i_weights / p_weights settings), else the
    folder of the ``weights`` setting, else <root> or <root>/weights."""
    paths = {}
    for key, opt, name, what in (("i_weights", i_weights, I_NAME, "IPN's interaction weights"),
                                 ("p_weights", p_weights, P_NAME, "IPN's propagation weights")):
        if ck.setting(METHOD, key, opt)[0] is not None:
            paths[key] = ck.find_file(METHOD, key, opt, what, (name,))
    if len(paths) < 2:
        dirs = [root, root / "weights"] if root is not None else []
        d = ck.find_file(METHOD, "weights", folder, f"the folder holding {I_NAME} and {P_NAME}",
                         (I_NAME, P_NAME), dirs)
        d = d.parent
        for key, name in (("i_weights", I_NAME), ("p_weights", P_NAME)):
            if key not in paths:
                if not (d / name).is_file():
                    raise ck.BackendUnavailable(f"weights file {d / name} not found; set "
                                                f"{ck.env_name(METHOD, 'weights')} to the folder with "
                                                f"{I_NAME} and {P_NAME}")
                paths[key] = d / name
    return paths["i_weights"], paths["p_weights"]


class IPNBackend(Backend):
    """IPN (CVPR 2019) from the user's checkout + weights (CUDA or CPU)."""

    name = "ipn"
    description = "IPN (CVPR 2019, interaction + propagation nets) from your zyy-cn/IPN checkout"

    @classmethod
    def check_setup(cls) -> None:
        root = ck.find_checkout(METHOD, None, MARKERS, REPO)
        _find_weights(None, root=root)
        ck.select_device(METHOD, None)

    def __init__(self, root: str | None = None, weights: str | None = None, i_weights: str | None = None,
                 p_weights: str | None = None):
        self.root = ck.find_checkout(METHOD, root, MARKERS, REPO)
        self.i_path, self.p_path = _find_weights(weights, i_weights, p_weights, root=self.root)
        self.device = "cuda" if ck.cuda_available() else "cpu"  # the checkout's own rule
        self.ckout = ck.IsolatedCheckout(self.root, METHOD)
        try:
            inet_mod, pnet_mod = self.ckout.load("interaction_net", "propagation_net")
        except Exception as exc:  # noqa: BLE001
            raise ck.import_error("IPN", self.root, exc) from exc
        import torch

        self.torch = torch
        with self.ckout.active(), _no_imagenet_download():
            inet, pnet = inet_mod.Inet(), pnet_mod.Pnet()
        for net, path, env in ((inet, self.i_path, "i_weights"), (pnet, self.p_path, "p_weights")):
            state = ck.strip_prefix(ck.load_checkpoint(path, "IPN", ck.env_name(METHOD, env)))
            ck.load_weights_into(net, state, path, "IPN", ck.env_name(METHOD, env))
        self.inet = inet.to(self.device).eval()
        self.pnet = pnet.to(self.device).eval()
        self.frames = None

    def reset(self, sequence: str, frames: np.ndarray, n_objects: int) -> None:
        frames = ck.check_frames(frames, n_objects)
        self.sequence, self.frames, self.n_objects = sequence, frames, int(n_objects)
        T, H, W = frames.shape[:3]
        self.E = -np.ones((self.n_objects, T, H, W), np.float32)  # per-object results (-1: none yet)
        self.refs: list = [None] * self.n_objects  # aggregated reference feature per object
        self.targets: list[int] = []

    def _frame(self, t: int):
        x = self.torch.from_numpy(np.ascontiguousarray(self.frames[t].transpose(2, 0, 1))).float() / 255.0
        return x[None].to(self.device)

    def interact(self, scribbles: dict, annotated_frame: int) -> Prediction:
        if self.frames is None:
            raise BackendError("call reset() before interact()")
        torch = self.torch
        T, H, W = self.frames.shape[:3]
        per_frame = ck.strokes_per_frame(scribbles, T)
        target = ck.annotated_frame(scribbles, annotated_frame)
        strokes = per_frame.get(target, [])
        ck.check_object_ids(strokes, self.n_objects, target)
        lo, hi, weight = blend_weights(target, self.targets, T)
        dev = self.device
        gm = torch.zeros((1, H, W), device=dev)
        lw = [1, 0, 0, 0, 0]
        frames_t = {}

        def frame(t):
            if t not in frames_t:
                frames_t[t] = self._frame(t)
            return frames_t[t]

        with self.ckout.active(), torch.no_grad():
            for k in range(self.n_objects):
                prev = self.E[k].copy()
                cur = torch.from_numpy(self.E[k]).to(dev)  # [T,H,W], updated in place
                prev_t = torch.from_numpy(prev).to(dev)
                prev_prob = None if (prev[target] < 0).all() else prev[target]
                pos, neg = scribble_maps(strokes, k + 1, prev_prob, (H, W))
                em, _, ref = self.inet(frame(target), cur[target][None], torch.from_numpy(pos)[None].to(dev),
                                       torch.from_numpy(neg)[None].to(dev), gm, lw)
                cur[target] = em[0]
                next_ref = None
                for n in range(target + 1, hi + 1):
                    em, _, next_ref = self.pnet(ref, self.refs[k], frame(n), prev_t[n][None], cur[n - 1][None], gm, lw)
                    cur[n] = em[0]
                for n in range(target - 1, lo - 1, -1):
                    em, _, next_ref = self.pnet(ref, self.refs[k], frame(n), prev_t[n][None], cur[n + 1][None], gm, lw)
                    cur[n] = em[0]
                w = torch.from_numpy(weight.astype(np.float32)).to(dev)[:, None, None]
                cur = w * cur + (1 - w) * prev_t
                self.E[k] = cur.cpu().numpy()
                if next_ref is None:  # single-frame video: the aggregate is the new reference
                    next_ref = ref if self.refs[k] is None else self.pnet.SEFA(ref, self.refs[k])
                self.refs[k] = next_ref
        self.targets.append(target)
        return self._prediction()

    def _prediction(self) -> Prediction:
        E = np.clip(self.E, 0.0, 1.0)  # frames never reached keep -1 -> probability 0
        probs = fuse(E)
        labels = probs.argmax(0).astype(np.int64)
        return Prediction(labels=labels, _probs=probs, info={"round": len(self.targets)})

    def close(self) -> None:
        self.inet = self.pnet = None
