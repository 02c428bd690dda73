"""ATNet adapter: "Interactive VOS Using Global and Local Transfer Modules" (Heo et al., ECCV 2020).

Runs the user's checkout of https://github.com/yuk6heo/IVOS-ATNet with its network parameters
(``ATNet-checkpoint.pth``). Settings (see ``backends/_checkout.py``):

    root            IVOSW_ATNET_ROOT            [atnet] root     the repository's top folder
    weights         IVOSW_ATNET_WEIGHTS         [atnet] weights  default: <root>/ATNet-checkpoint.pth
    device          IVOSW_ATNET_DEVICE          [atnet] device
    random_weights  IVOSW_ATNET_RANDOM_WEIGHTS  no weights file: the architecture with random weights
                                                (seed option, default 0); plumbing checks only
    cpu_shims       IVOSW_ATNET_CPU_SHIMS       run on the CPU with backends/cpu_shims.py (tests)

ATNet needs CUDA: ``networks/atnet.py`` imports FlowNet2's CUDA correlation package (unzip and build
``networks/correlation_package.zip`` as the README says) and ``networks/ltm_transfer.py`` calls
``.cuda()``. Its encoders ask for ImageNet ResNet-50 weights from download.pytorch.org when they are
built; the adapter builds them without that download (the checkpoint replaces every parameter).
The round follows the repository's ``eval_davis-framework.py``:

* frames are RGB, /255, ImageNet mean/std, reflect-padded to a multiple of 32 (always adding padding);
* per object k the A-Net input is [image, 3 maps]: round 1 ``[0.5, positive, 0]``, later rounds
  ``[previous mask == k, positive, negative]``; positive = strokes of k on the annotated frame (all
  rounds' strokes there), negative = strokes of other ids restricted to the previous mask of k; each
  map dilated with a 5x5 ellipse and Gaussian-blurred (5x5, sigma 6). Strokes are drawn as the
  checkout's ``scribble_to_image``: points ``round(x * W)``, davisinteractive's Bresenham lines, then
  pixel index - 1 (so 0 wraps to the last row/column, a single pixel, as numpy's index -1);
* ``grid_sample`` (T-Net's local transfer) with corner-aligned sampling, as PyTorch <= 1.2 did;
* T-Net propagates backward then forward from the annotated frame up to 99% of the way to the nearest
  other annotated frame, blending with the earlier result linearly in the distance (alpha >= 0.5);
* labels: per pixel the object with the highest probability if above 0.8, else background.
"""
from __future__ import annotations

import contextlib
import io

import numpy as np

from backends import _checkout as ck
from backends import plumbing
from backends.base import Backend, BackendError, Prediction

METHOD = "atnet"
REPO = "IVOS-ATNet (github.com/yuk6heo/IVOS-ATNet)"
MARKERS = ("networks/atnet.py", "networks/ltm_transfer.py", "libs/utils.py")
WEIGHT_NAMES = ("ATNet-checkpoint.pth",)
CUDA_REASON = "ATNet's correlation package and local transfer module are CUDA-only"
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
PROPAGATION_PROPORTION = 0.99
THRESHOLD = 0.8
SMALLEST_ALPHA = 0.5


# ----------------------------------------------------------------------------------- conversions
def pad_info(h: int, w: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """((top, bottom), (left, right)) reflect padding to the next multiple of 32 above h and w."""
    def one(n):
        total = 32 - n % 32
        return total // 2, total // 2 + total % 2
    return one(h), one(w)


def pad(x: np.ndarray, info) -> np.ndarray:
    """Reflect-pad the last two axes of ``x``."""
    widths = [(0, 0)] * (x.ndim - 2) + [tuple(info[0]), tuple(info[1])]
    return np.pad(x, widths, mode="reflect")


def preprocess_frame(frame_rgb: np.ndarray, info) -> np.ndarray:
    """RGB uint8 [H,W,3] -> [3, Hp, Wp] float32 normalised and padded."""
    x = (np.asarray(frame_rgb, np.float32) / 255.0 - MEAN) / STD
    return pad(np.ascontiguousarray(x.transpose(2, 0, 1)), info).astype(np.float32)


def bresenham(points: np.ndarray) -> np.ndarray:
    """davisinteractive's ``utils.operations.bresenham``: the integer points of the polyline through
    ``points`` [N, 2] (x, y), each segment drawn from its first point (ties as that function)."""
    pts = np.asarray(points, np.int64).reshape(-1, 2)
    if len(pts) < 2:
        return pts
    out = []
    for (x0, y0), (x1, y1) in zip(pts[:-1], pts[1:]):
        dx, dy = x1 - x0, y1 - y0
        sx, sy = (1 if dx > 0 else -1), (1 if dy > 0 else -1)
        dx, dy = abs(dx), abs(dy)
        steep = dx <= dy
        if steep:
            dx, dy = dy, dx
        seg = np.empty((dx + 1, 2), np.int64)
        err, off = 2 * dy - dx, 0
        for i in range(dx + 1):
            seg[i] = (x0 + off * sx, y0 + i * sy) if steep else (x0 + i * sx, y0 + off * sy)
            if err >= 0:
                off += 1
                err -= 2 * dx
            err += 2 * dy
        out.append(seg)
    return np.concatenate(out)


def _stroke_mask(strokes: list[dict], hw: tuple[int, int], positive: bool, obj_id: int) -> np.ndarray:
    """Binary [H,W] mask of the strokes of ``obj_id`` (positive) or of the other ids (negative), as
    the checkout's scribble_to_image: ``round(x * W)``, Bresenham, then index - 1 (0 -> last)."""
    h, w = hw
    m = np.zeros(hw, np.uint8)
    for s in strokes:
        if (int(s.get("object_id", 0)) == obj_id) != positive:
            continue
        pts = np.asarray(s.get("path") or [], np.float64).reshape(-1, 2)
        if not len(pts):
            continue
        px = bresenham(np.round(np.clip(pts, 0, 1) * np.array([w, h])).astype(np.int64))
        m[px[:, 1] - 1, px[:, 0] - 1] = 1  # numpy wraps index -1 to the last row/column
    return m


def _post(m: np.ndarray, dilation: int) -> np.ndarray:
    import cv2

    fg = m.astype(np.float64)
    if m.max() == 1:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (dilation, dilation))
        fg = cv2.dilate(m.astype(np.uint8), kernel=k).astype(np.float64)
    return cv2.GaussianBlur(fg, ksize=(5, 5), sigmaX=6.0)


def scribble_maps(strokes: list[dict], obj_id: int, prev_mask: np.ndarray, first_round: bool,
                  dilation: int = 5) -> np.ndarray:
    """[3, H, W] float32 A-Net interaction maps of object ``obj_id`` (see the module doc)."""
    hw = prev_mask.shape
    pos = _post(_stroke_mask(strokes, hw, True, obj_id), dilation)
    neg = _post(_stroke_mask(strokes, hw, False, obj_id), dilation)
    neg[prev_mask != obj_id] = 0
    if first_round:
        return np.stack([np.full(hw, 0.5), pos - neg, np.zeros(hw)]).astype(np.float32)
    return np.stack([(prev_mask == obj_id).astype(np.float64), pos, neg]).astype(np.float32)


def propagation_order(annotated: list[int], now: int, n_frames: int,
                      proportion: float = PROPAGATION_PROPORTION) -> list[int]:
    """Frames to visit: ``now`` down to the left limit, then ``now`` up to the right limit; the limits
    stop short of the nearest other annotated frames (``proportion`` of the way)."""
    others = sorted(a for a in annotated if a != now)
    left = [a for a in others if a < now]
    right = [a for a in others if a > now]
    start = left[-1] + 1 if left else 0
    end = right[0] - 1 if right else n_frames - 1
    if proportion != 1.0:
        if left:
            start = now - int((now - start) * proportion + 0.5)
        if right:
            end = now + int((end - now) * proportion + 0.5)
    return list(range(now, start - 1, -1)) + list(range(now, end + 1))


def blend_alpha(frame: int, now: int, annotated: list[int], backward: bool) -> float:
    """Weight of the new propagation at ``frame`` (1 with no annotated frame beyond it)."""
    ann = np.asarray(annotated)
    beyond = ann[ann < now] if backward else ann[ann > now]
    if len(beyond) == 0:
        return 1.0
    edge = beyond.max() if backward else beyond.min()
    frac = (frame - edge) / (now - edge)
    return SMALLEST_ALPHA + (1 - SMALLEST_ALPHA) * float(frac)


def combine(obj_probs: np.ndarray, th: float = THRESHOLD) -> np.ndarray:
    """[K, ..., H, W] per-object probabilities -> labels: argmax object if its probability > th."""
    p = np.asarray(obj_probs)
    best = p.argmax(0)
    top = np.take_along_axis(p, best[None], 0)[0]
    return np.where(top > th, best + 1, 0).astype(np.int64)


# ----------------------------------------------------------------------------------- network
@contextlib.contextmanager
def no_imagenet_download(ckout: ck.IsolatedCheckout):
    """Build the checkout's SE-ResNet-50 encoders without fetching ImageNet weights from
    download.pytorch.org (``ResNet._load_pretrained_model``); the checkpoint replaces them."""
    resnet = ckout.modules.get("networks.deeplab.backbone.resnet")
    cls = getattr(resnet, "ResNet", None)
    if cls is None or not hasattr(cls, "_load_pretrained_model"):
        yield
        return
    orig = cls._load_pretrained_model
    cls._load_pretrained_model = lambda self: None
    try:
        yield
    finally:
        cls._load_pretrained_model = orig


@contextlib.contextmanager
def grid_sample_as_in_torch_1_2():
    """``F.grid_sample`` with ``align_corners=True`` unless the caller says otherwise, as in PyTorch
    <= 1.2, which ATNet was written and trained with: its ltm_transfer.py normalises the sampling grid
    by ``W - 1`` (corner-aligned) and calls grid_sample without ``align_corners``, whose default
    became False in PyTorch 1.3 (a warning each call), shifting every warped pixel."""
    import torch.nn.functional as F

    orig = F.grid_sample

    def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
        return orig(input, grid, mode=mode, padding_mode=padding_mode,
                    align_corners=True if align_corners is None else align_corners)

    F.grid_sample = grid_sample
    try:
        yield
    finally:
        F.grid_sample = orig


def build_network(ckout: ck.IsolatedCheckout, atnet_module, seed: int | None = None):
    """ATNet's network from the checkout (no download); ``seed``: the random initialisation to draw."""
    with ckout.active(), no_imagenet_download(ckout), contextlib.redirect_stdout(io.StringIO()), \
            (plumbing.seeded(seed) if seed is not None else contextlib.nullcontext()):
        return atnet_module.ATnet()


# ----------------------------------------------------------------------------------- backend
class ATNetBackend(Backend):
    """ATNet (ECCV 2020) from the user's checkout + weights (CUDA)."""

    name = "atnet"
    description = "ATNet (ECCV 2020, global/local transfer) from your IVOS-ATNet checkout (CUDA)"

    @classmethod
    def _check_built(cls, root, compiled: bool = True) -> None:
        """The correlation package unzipped in the checkout and (unless CPU shims stand in for it)
        its compiled ``correlation_cuda`` importable."""
        import importlib.util

        pkg = root / "networks" / "correlation_package"
        if not (pkg / "correlation.py").is_file():
            raise ck.BackendUnavailable(f"unzip and build {root}/networks/correlation_package.zip "
                                        "(IVOS-ATNet README, step 2)")
        if compiled and importlib.util.find_spec("correlation_cuda") is None:
            raise ck.BackendUnavailable(f"build {pkg} (IVOS-ATNet README, step 2; see weights/README.md): "
                                        "the module correlation_cuda is not installed")

    @classmethod
    def check_setup(cls) -> None:
        root = ck.find_checkout(METHOD, None, MARKERS, REPO)
        if not plumbing.random_weights(METHOD):
            ck.find_file(METHOD, "weights", None, "ATNet's network parameters", WEIGHT_NAMES, [root])
        shims = plumbing.shims(METHOD)
        if not shims.active:
            ck.select_device(METHOD, None, cuda_only=CUDA_REASON)
        cls._check_built(root, compiled=not shims.active)

    @classmethod
    def notes(cls) -> str | None:
        return plumbing.notes(METHOD)

    def __init__(self, root: str | None = None, weights: str | None = None, device: str | None = None,
                 threshold: float = THRESHOLD, proportion: float = PROPAGATION_PROPORTION,
                 random_weights: bool | None = None, seed: int = 0, cpu_shims: bool | None = None):
        self.root = ck.find_checkout(METHOD, root, MARKERS, REPO)
        self.random_weights = plumbing.random_weights(METHOD, random_weights)
        self.weights = None if self.random_weights else ck.find_file(
            METHOD, "weights", weights, "ATNet's network parameters", WEIGHT_NAMES, [self.root])
        self.shims = plumbing.shims(METHOD, cpu_shims, correlation_op=True)
        self.device = "cpu" if self.shims.active else ck.select_device(METHOD, device, cuda_only=CUDA_REASON)
        self._check_built(self.root, compiled=not self.shims.active)
        self.threshold, self.proportion = float(threshold), float(proportion)
        key = (METHOD, str(self.root), ("random", int(seed)) if self.random_weights else str(self.weights),
               self.device, self.shims.active)
        self._shared = plumbing.shared(key, lambda: self._build(seed))
        self.ckout, self.net = self._shared.ckout, self._shared.model
        import torch

        self.torch = torch
        self.frames = None
        # this instance's notes (the class method speaks about the settings, for the backends table)
        self.notes = lambda: plumbing.notes(METHOD, self.random_weights, self.shims.active)

    def _build(self, seed: int) -> plumbing.Shared:
        """Import the checkout and build the network (random or with the weights file)."""
        ckout = ck.IsolatedCheckout(self.root, METHOD)
        try:
            with self.shims.importing():
                (atnet,) = ckout.load("networks.atnet")
        except Exception as exc:  # noqa: BLE001
            raise ck.import_error("ATNet", self.root, exc) from exc
        with self.shims.running(), plumbing.on_device(self.device):  # ltm_transfer's .cuda() at build
            net = build_network(ckout, atnet, seed if self.random_weights else None)
        if not self.random_weights:
            env = ck.env_name(METHOD, "weights")
            state = ck.strip_prefix(ck.load_checkpoint(self.weights, "ATNet", env))
            ck.load_weights_into(net, state, self.weights, "ATNet", env)
        return plumbing.Shared(ckout=ckout, model=net.to(self.device).eval())

    def reset(self, sequence: str, frames: np.ndarray, n_objects: int) -> None:
        frames = ck.check_frames(frames, n_objects)
        self.sequence, self.frames, self.n_objects = sequence, frames, int(n_objects)
        T, H, W = frames.shape[:3]
        self.info = pad_info(H, W)
        hp, wp = H + sum(self.info[0]), W + sum(self.info[1])
        self.final = np.zeros((T, H, W), np.int64)
        self.obj_probs = self.torch.zeros((T, self.n_objects, hp, wp), device=self.device)
        self.anno6: list = []
        self.anno3: list = []
        self.annotated: list[int] = []
        self.strokes: dict[int, list[dict]] = {}

    def _image(self, t: int):
        x = self.torch.from_numpy(preprocess_frame(self.frames[t], self.info)).to(self.device)
        return x[None].expand(self.n_objects, -1, -1, -1)

    def interact(self, scribbles: dict, annotated_frame: int) -> Prediction:
        if self.frames is None:
            raise BackendError("call reset() before interact()")
        torch = self.torch
        T, H, W = self.frames.shape[:3]
        new = ck.strokes_per_frame(scribbles, T)
        now = ck.annotated_frame(scribbles, annotated_frame)
        for f, s in new.items():
            ck.check_object_ids(s, self.n_objects, f)
            self.strokes.setdefault(f, []).extend(s)
        self.annotated.append(now)
        first = len(self.annotated) == 1
        strokes = self.strokes.get(now, [])
        maps = np.stack([scribble_maps(strokes, k, self.final[now], first) for k in range(1, self.n_objects + 1)])
        maps_t = torch.from_numpy(pad(maps, self.info)).to(self.device)
        order = propagation_order(self.annotated, now, T, self.proportion)
        (ht, hb), (wl, wr) = self.info
        with self.ckout.active(), self.shims.running(), plumbing.on_device(self.device), torch.no_grad(), \
                grid_sample_as_in_torch_1_2():
            seen_now, backward = 0, True
            for t in order:
                img = self._image(t)
                if t == now:
                    seen_now += 1
                    if seen_now == 2:
                        backward, adjacent = False, True
                        continue
                    logit, anno6 = self.net.forward_ANet(torch.cat([img, maps_t], 1))
                    prob_anno = torch.sigmoid(logit)
                    anno3, _, _, r2_anno = self.net.encoder_3ch.forward(img)
                    self.anno6.append(anno6)
                    self.anno3.append(anno3)
                    self.obj_probs[t] = prob_anno[:, 0]
                    adjacent = True
                    continue
                if adjacent:
                    r2_prev, mask_prev = r2_anno, prob_anno
                else:
                    mask_prev = prob_prop
                adjacent = False
                logit, r2_prev = self.net.forward_TNet(self.anno3, img, self.anno6, r2_prev, mask_prev)
                prob_prop = torch.sigmoid(logit)
                a = blend_alpha(t, now, self.annotated, backward)
                self.obj_probs[t] = a * prob_prop[:, 0] + (1 - a) * self.obj_probs[t]
        lo, hi = min(order), max(order)
        crop = self.obj_probs[lo:hi + 1, :, ht:ht + H, wl:wl + W].permute(1, 0, 2, 3).cpu().numpy()
        self.final[lo:hi + 1] = combine(crop, self.threshold)
        return self._prediction()

    def _prediction(self) -> Prediction:
        (ht, _), (wl, _) = self.info
        T, H, W = self.final.shape

        snapshot = self.obj_probs.clone()
        holder = {"p": snapshot}

        def lazy():
            p = holder["p"][:, :, ht:ht + H, wl:wl + W].permute(1, 0, 2, 3).cpu().numpy()
            return ck.probs_from_object_probs(p)

        return Prediction(labels=self.final.copy(), _probs=lazy, info={"round": len(self.annotated)})

    def close(self) -> None:
        self.net = self._shared = None
        self.obj_probs = None
