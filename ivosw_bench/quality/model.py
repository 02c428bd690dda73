"""The quality-assessment (QA) network of the Wild setting (paper, section 3.2).

For each object k in each frame t of a backend's prediction:

1. the object's predicted foreground is ``labels[t] == k`` (``labels`` = the backend's labels, or the
   argmax of ``probs`` when only probabilities are given; for K = 1 this is ``prob_1 > 0.5``);
2. its tight box is enlarged 1.5x about its centre (each side) and clipped to the image
   (:func:`crop_box`);
3. the RGB frame and the object's probability map ``probs[k, t]`` (one-hot labels when the backend
   gives none) are cropped to that box and resized to ``input_size`` x ``input_size``
   (bilinear; the aspect ratio is not kept);
4. the 4-channel crop (RGB normalised with the ImageNet mean/std, probability mapped to [-1, 1]) goes
   through a torchvision ResNet (18/34/50, random init, first convolution with 4 input channels) and a
   fully connected layer to one output, squashed by a sigmoid into [0, 1]: the predicted J&F of that
   object in that frame.

Frame quality = mean over objects.

**Crop geometry** (``QAConfig.geometry``, this project's addition to the paper's network). Resizing
the box to a fixed size throws away how large the object is in the image, yet J&F depends on it:
davisinteractive's boundary F-measure tolerates ``ceil(0.008 * image diagonal)`` pixels, so the
same blobby mask scores far better on a large object than on a small one. With ``geometry=True`` the
box's height and width relative to the image diagonal (:func:`crop_geometry`) join the pooled ResNet
features, and a two-layer head (``512 + 2 -> 128 -> 1``, ReLU) replaces the single FC layer.

**Empty predictions.** When an object has no predicted pixel in a frame there is no box, so the network
is not run: the object's quality is the checkpoint's constant ``empty_quality``, the mean true J&F of
the empty predictions seen while generating the training data (0.0 when there were none). On
DAVIS-style data this is close to 0 (an object predicted absent while present scores J = F = 0); it is
1 only for the rare frames where the object is really absent, which the estimator cannot tell apart
without ground truth.

Crops are stored as uint8 ``[S, S, 4]`` (RGB + round(255 * prob)) both in the training data and at
inference, so that training and inference see exactly the same quantisation.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import weights
from ..files import atomic_open
from .base import QualityError

DEPTHS = (18, 34, 50)
RGB_MEAN = (0.485, 0.456, 0.406)
RGB_STD = (0.229, 0.224, 0.225)
ENLARGE = 1.5


def default_weights() -> Path:
    """The shipped weights of the built-in backend: ``<repo>/weights/quality-classic.pt``."""
    return weights.default_weights("quality")


# -- geometry --------------------------------------------------------------------------------------
def crop_box(mask: np.ndarray, enlarge: float = ENLARGE) -> tuple[int, int, int, int] | None:
    """(y0, y1, x0, x1), half-open, of ``mask``'s tight box enlarged ``enlarge`` x about its centre and
    clipped to the image; ``None`` when the mask is empty (no box)."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    cy, cx = 0.5 * (y0 + y1), 0.5 * (x0 + x1)
    hh, hw = 0.5 * enlarge * (y1 - y0), 0.5 * enlarge * (x1 - x0)
    ny0, ny1 = int(np.floor(cy - hh)), int(np.ceil(cy + hh))
    nx0, nx1 = int(np.floor(cx - hw)), int(np.ceil(cx + hw))
    return max(0, ny0), min(h, ny1), max(0, nx0), min(w, nx1)


def crop_object(frame: np.ndarray, prob: np.ndarray, box: tuple[int, int, int, int],
                size: int, prob_crop: np.ndarray | None = None) -> np.ndarray:
    """uint8 [size, size, 4]: RGB crop + round(255 * prob) crop, bilinear resize (``prob_crop``: the
    probability channel already cropped, then ``prob`` is not read)."""
    import cv2

    y0, y1, x0, x1 = box
    rgb = cv2.resize(np.ascontiguousarray(frame[y0:y1, x0:x1]), (size, size), interpolation=cv2.INTER_LINEAR)
    if prob_crop is not None:
        return np.concatenate([rgb, prob_crop[..., None]], axis=-1)
    p = prob[y0:y1, x0:x1]
    if p.dtype != np.uint8:
        p = np.clip(np.rint(p * 255.0), 0, 255).astype(np.uint8)
    p = cv2.resize(np.ascontiguousarray(p), (size, size), interpolation=cv2.INTER_LINEAR)
    return np.concatenate([rgb, p[..., None]], axis=-1)


def low_res_prob_crop(small: np.ndarray, k: int, box: tuple[int, int, int, int], full_hw: tuple[int, int],
                      size: int) -> np.ndarray:
    """uint8 [size, size] crop of object ``k``'s probability, read from the working-resolution
    probabilities ``small`` [K+1, h, w] of one frame (normalised over labels) instead of their
    full-resolution upsampling: one bilinear resampling maps each crop pixel to the place the
    full-resolution path would have sampled. Differs from :func:`crop_object`'s channel by the
    difference between one bilinear resampling and two (measured in ``benchmarks/qa_latency.py``)."""
    import cv2

    H, W = full_hw
    h, w = small.shape[1:]
    p = small[k] / np.maximum(small.sum(axis=0), 1e-6)
    y0, y1, x0, x1 = box
    sx, sy = w / W, h / H          # full-resolution -> working-resolution pixel scale
    bx, by = (x1 - x0) / size, (y1 - y0) / size  # crop pixel -> full-resolution pixel scale
    # crop pixel j -> full x = (j + .5) bx - .5 + x0 -> small u = (x + .5) sx - .5
    m = np.array([[bx * sx, 0.0, (0.5 * bx - 0.5 + x0 + 0.5) * sx - 0.5],
                  [0.0, by * sy, (0.5 * by - 0.5 + y0 + 0.5) * sy - 0.5]], np.float64)
    out = cv2.warpAffine(p.astype(np.float32), m, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_REPLICATE)
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


def object_crops(frames: np.ndarray, labels: np.ndarray | None = None, probs: np.ndarray | None = None,
                 size: int = 128, n_objects: int | None = None, frame_ids=None, return_boxes: bool = False,
                 low_res_probs: np.ndarray | None = None):
    """All (frame, object) crops of a prediction.

    ``frames`` [T, H, W, 3] uint8; ``labels`` [T, H, W] int and/or ``probs`` [K+1, T, H, W] float
    (labels default to argmax(probs); probs default to one-hot labels). With ``low_res_probs``
    ([K+1, T, h, w], a backend's working-resolution probabilities) the probability channel is read
    from them (:func:`low_res_prob_crop`) and ``probs`` is not needed.
    Returns ``(crops [N, size, size, 4] uint8, index [N, 2] (t, k-1), empty bool [T, K])`` where the N
    crops are the non-empty (t, k) pairs in order and ``empty[t, k-1]`` marks objects with no pixel.
    """
    if labels is None and probs is None:
        raise ValueError("object_crops needs labels or probs")
    T = len(frames)
    if n_objects is None:
        n_objects = probs.shape[0] - 1 if probs is not None else int(np.max(labels))
    K = n_objects
    frame_ids = range(T) if frame_ids is None else frame_ids
    crops, index, boxes = [], [], []
    empty = np.zeros((T, K), bool)
    for t in frame_ids:
        lab = np.asarray(labels[t]) if labels is not None else np.asarray(probs[:, t]).argmax(0)
        for k in range(1, K + 1):
            mask = lab == k
            box = crop_box(mask)
            if box is None:
                empty[t, k - 1] = True
                continue
            prob = prob_crop = None
            if low_res_probs is not None:
                prob_crop = low_res_prob_crop(low_res_probs[:, t], k, box, lab.shape, size)
            else:
                prob = np.asarray(probs[k, t]) if probs is not None else mask.astype(np.uint8) * 255
            crops.append(crop_object(frames[t], prob, box, size, prob_crop=prob_crop))
            index.append((t, k - 1))
            boxes.append(box)
    arr = np.stack(crops) if crops else np.zeros((0, size, size, 4), np.uint8)
    index = np.asarray(index, np.int64).reshape(-1, 2)
    if return_boxes:
        return arr, index, empty, np.asarray(boxes, np.int64).reshape(-1, 4)
    return arr, index, empty


def crop_geometry(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """float32 [N, 2] of boxes [N, 4] (y0, y1, x0, x1): ``log(side / image diagonal) / 2 + 1`` for
    the height and the width (about -1 for a tiny box, 0.8 for one filling the image)."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    diag = float(np.hypot(height, width))
    hw = np.stack([b[:, 1] - b[:, 0], b[:, 3] - b[:, 2]], axis=1)
    return (np.log(np.maximum(hw, 1.0) / diag) / 2.0 + 1.0).astype(np.float32)


# -- network ---------------------------------------------------------------------------------------
@dataclass
class QAConfig:
    depth: int = 18
    input_size: int = 128
    crop_size: int = 128  # size crops are cut at (training data); resized to input_size by to_input
    enlarge: float = ENLARGE
    rgb_mean: tuple = RGB_MEAN
    rgb_std: tuple = RGB_STD
    empty_quality: float = 0.0
    geometry: bool = False  # crop geometry (box size / image diagonal) joins the features
    image: str = "rgb"  # "rgb" or "edges" (grey level + Sobel gradients): what the 3 image channels carry
    extra: dict = field(default_factory=dict)


N_GEOMETRY = 2


def _resnet4(depth: int, num_classes: int):
    import torchvision

    if depth not in DEPTHS:
        raise ValueError(f"depth must be one of {DEPTHS}, not {depth}")
    net = getattr(torchvision.models, f"resnet{depth}")(weights=None, num_classes=num_classes)
    net.conv1 = nn.Conv2d(4, 64, kernel_size=7, stride=2, padding=3, bias=False)
    nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
    return net


def build_net(depth: int = 18, geometry: bool = False):
    """torchvision ResNet-``depth`` (random init) with a 4-channel first convolution and a 1-output FC;
    with ``geometry`` a :class:`GeometryQANet` (ResNet features + crop geometry -> MLP head)."""
    if not geometry:
        return _resnet4(depth, 1)
    return GeometryQANet(depth)


class GeometryQANet(nn.Module):
    """ResNet trunk (pooled features) + crop geometry -> Linear(F + 2, 128) -> ReLU -> Linear(128, 1)."""

    def __init__(self, depth: int = 18, hidden: int = 128):
        super().__init__()
        self.trunk = _resnet4(depth, 1)
        n_feat = self.trunk.fc.in_features
        self.trunk.fc = nn.Identity()
        self.head = nn.Sequential(nn.Linear(n_feat + N_GEOMETRY, hidden), nn.ReLU(inplace=True),
                                  nn.Linear(hidden, 1))

    def forward(self, x, geom=None):
        if geom is None:
            raise ValueError("this QA network needs the crop geometry (box size / image diagonal)")
        return self.head(torch.cat([self.trunk(x), geom.to(x.dtype)], dim=1))


def forward(net, x, geom=None):
    """The network's raw output for inputs ``x`` (and the crop geometry when the network takes it)."""
    return net(x, geom) if isinstance(net, GeometryQANet) else net(x)


IMAGE_MODES = ("rgb", "edges")


def to_input(crops, cfg: QAConfig, device=None):
    """uint8 crops [N, S, S, 4] (numpy or tensor) -> normalised float tensor [N, 4, s, s] at cfg.input_size.

    ``cfg.image == "rgb"``: RGB with the ImageNet mean/std; ``"edges"``: the grey level and its
    horizontal and vertical Sobel gradients (computed after resizing) in place of RGB, which keeps the
    boundaries the mask must follow and drops the colours by which a network trained on few videos
    recognises the video. The probability channel is mapped to [-1, 1] in both."""
    if cfg.image not in IMAGE_MODES:
        raise QualityError(f"unknown QA image mode '{cfg.image}' (known: {', '.join(IMAGE_MODES)})")
    import torch.nn.functional as F

    x = torch.as_tensor(crops)
    if device is not None:
        x = x.to(device)
    x = x.permute(0, 3, 1, 2).float().div_(255.0)
    if x.shape[-1] != cfg.input_size or x.shape[-2] != cfg.input_size:
        x = F.interpolate(x, size=(cfg.input_size, cfg.input_size), mode="bilinear", align_corners=False,
                          antialias=True)
    if cfg.image == "edges":
        gray = x[:, :3].mean(1, keepdim=True)
        k = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], device=x.device)
        gx = F.conv2d(F.pad(gray, (1, 1, 1, 1), mode="replicate"), k.view(1, 1, 3, 3))
        gy = F.conv2d(F.pad(gray, (1, 1, 1, 1), mode="replicate"), k.t().reshape(1, 1, 3, 3))
        return torch.cat([(gray - 0.45) / 0.25, gx * 2.0, gy * 2.0, (x[:, 3:] - 0.5) / 0.5], 1)
    mean = torch.tensor(list(cfg.rgb_mean) + [0.5], device=x.device).view(1, 4, 1, 1)
    std = torch.tensor(list(cfg.rgb_std) + [0.5], device=x.device).view(1, 4, 1, 1)
    return (x - mean) / std


PRECISIONS = ("auto", "fp32", "bf16")


def resolve_precision(precision: str, device) -> str:
    """``auto``: bfloat16 on a CPU whose oneDNN supports it (about 1.8x faster here, |dq| <= 0.01,
    ``benchmarks/qa_latency.py``), else float32."""
    if precision not in PRECISIONS:
        raise QualityError(f"QA precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision != "auto":
        return precision
    cpu_bf16 = torch.device(device).type == "cpu" and torch.backends.mkldnn.is_available() and \
        bool(getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)())
    return "bf16" if cpu_bf16 else "fp32"


def predict(net, crops: np.ndarray, cfg: QAConfig, device, geometry: np.ndarray | None = None,
            batch_size: int = 64, precision: str = "fp32") -> np.ndarray:
    """sigmoid(net) in [0, 1] of uint8 crops [N, S, S, 4] in batches (eval mode, no gradients;
    ``precision="bf16"``: the network under bfloat16 autocast)."""
    import contextlib

    out = np.zeros(len(crops), np.float32)
    net.eval()
    dev = torch.device(device)
    cast = torch.autocast(dev.type, dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
    with torch.inference_mode(), cast:
        for i in range(0, len(crops), batch_size):
            x = to_input(crops[i:i + batch_size], cfg, device)
            g = None
            if geometry is not None:
                g = torch.as_tensor(np.asarray(geometry[i:i + batch_size], np.float32), device=x.device)
            out[i:i + batch_size] = torch.sigmoid(forward(net, x, g)).squeeze(1).float().cpu().numpy()
    return out


def pick_device(device: str = "auto"):

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class QualityModel:
    """A QA network with its configuration; ``predict_video`` gives per-frame and per-object quality."""

    def __init__(self, cfg: QAConfig | None = None, net=None, meta: dict | None = None, device: str = "auto",
                 precision: str = "fp32"):
        self.cfg = cfg or QAConfig()
        self.device = pick_device(device)
        self.precision = resolve_precision(precision, self.device)
        self.tta = False  # predict_crops: mean over each crop and its mirror image
        self.net = (net or build_net(self.cfg.depth, self.cfg.geometry)).to(self.device)
        if self.device.type == "cpu":  # the crops arrive channels-last (NHWC): oneDNN's fast layout, ~10% faster
            self.net = self.net.to(memory_format=torch.channels_last)
        self.net.eval()
        self.meta = meta or {}

    # -- persistence -------------------------------------------------------------------------------
    def state(self, fp16: bool = False) -> dict:
        sd = {k: (v.detach().half() if fp16 and v.is_floating_point() else v.detach()).cpu()
              for k, v in self.net.state_dict().items()}
        return {"format": "ivosw-qa-1", "config": asdict(self.cfg), "state_dict": sd, "meta": self.meta}

    def save(self, path, fp16: bool = False) -> Path:

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path, "wb") as fh:
            torch.save(self.state(fp16), fh)
        return path

    @classmethod
    def from_state(cls, ckpt: dict, device: str = "auto", path="checkpoint", precision: str = "fp32") -> "QualityModel":
        try:
            cfgd = dict(ckpt["config"])
            cfgd["rgb_mean"], cfgd["rgb_std"] = tuple(cfgd["rgb_mean"]), tuple(cfgd["rgb_std"])
            cfg = QAConfig(**cfgd)
            net = build_net(cfg.depth, cfg.geometry)
        except (TypeError, ValueError, KeyError) as exc:
            raise weights.WeightsError(f"{path}: not a valid quality weights file (its config does not "
                                       f"describe a QA network: {type(exc).__name__}: {exc})") from None
        weights.load_state(net, ckpt["state_dict"], path, "quality")
        return cls(cfg, net, meta=ckpt.get("meta", {}), device=device, precision=precision)

    @classmethod
    def load(cls, path=None, device: str = "auto", precision: str = "fp32") -> "QualityModel":
        """Load a checkpoint from a local path (default: the shipped ``weights/quality-classic.pt``);
        :class:`~ivosw_bench.errors.WeightsError` naming the file when it is missing or does not fit."""
        path = weights.resolve_weights("quality", path)
        ckpt = weights.read_checkpoint(path, "quality", required=("config", "state_dict"))
        return cls.from_state(ckpt, device=device, path=path, precision=precision)

    # -- inference ---------------------------------------------------------------------------------
    def predict_crops(self, crops: np.ndarray, geometry: np.ndarray | None = None,
                      batch_size: int = 64) -> np.ndarray:
        """Predicted J&F in [0, 1] of uint8 crops [N, S, S, 4] (and their :func:`crop_geometry` [N, 2]
        when ``cfg.geometry``)."""
        if self.cfg.geometry and geometry is None:
            raise QualityError("this quality network needs the crops' geometry (box size / image diagonal)")
        out = predict(self.net, crops, self.cfg, self.device, geometry, batch_size, self.precision)
        if self.tta:  # the mirror image: the gradients' sign follows in to_input
            mirror = np.ascontiguousarray(np.asarray(crops)[:, :, ::-1])
            out = 0.5 * (out + predict(self.net, mirror, self.cfg, self.device, geometry, batch_size, self.precision))
        return out

    def predict_video(self, frames: np.ndarray, probs: np.ndarray | None = None,
                      labels: np.ndarray | None = None, n_objects: int | None = None,
                      batch_size: int = 64, low_res_probs: np.ndarray | None = None,
                      frame_ids=None) -> tuple[np.ndarray, np.ndarray]:
        """(q [T], q_objects [T, K]) for a whole video: frames [T, H, W, 3] uint8, probs [K+1, T, H, W]
        (or a backend's ``low_res_probs``) and/or labels [T, H, W]. Objects with no predicted pixel get
        ``cfg.empty_quality``. With ``frame_ids`` only those frames are estimated, read in place (no
        copy of the video), and the rows are theirs, in their order."""
        crops, index, empty, boxes = object_crops(frames, labels=labels, probs=probs, size=self.cfg.crop_size,
                                                  n_objects=n_objects, return_boxes=True,
                                                  low_res_probs=low_res_probs, frame_ids=frame_ids)
        q_obj = np.full(empty.shape, self.cfg.empty_quality, np.float32)
        if len(crops):
            geom = crop_geometry(boxes, frames.shape[1], frames.shape[2])
            q_obj[index[:, 0], index[:, 1]] = self.predict_crops(crops, geom, batch_size)
        if frame_ids is not None:
            q_obj = q_obj[np.asarray(frame_ids, np.int64)]
        return self.frame_quality(q_obj), q_obj

    def frame_quality(self, q_obj: np.ndarray) -> np.ndarray:
        """float32 [T] per-frame quality from per-object quality [T, K]: the mean over objects (the
        checkpoint's ``empty_quality`` for a video without objects)."""
        if not q_obj.shape[1]:
            return np.full(len(q_obj), self.cfg.empty_quality, np.float32)
        return q_obj.mean(axis=1).astype(np.float32)
