"""SAM 2 adapter: Meta's Segment Anything 2 video predictor driven by davisinteractive scribbles.

Needs the ``sam2`` package (``SAM2_BUILD_CUDA=0 pip install --no-build-isolation sam2`` keeps the
installed torch; the optional CUDA extension only fills small holes) and a checkpoint. Settings (see
``backends/_checkout.py``):

    checkpoint  IVOSW_SAM2_CHECKPOINT  [sam2] checkpoint  e.g. sam2.1_hiera_tiny.pt
    config      IVOSW_SAM2_CONFIG      [sam2] config      a model YAML (path, or a config shipped in the
                                                          sam2 package such as
                                                          configs/sam2.1/sam2.1_hiera_t.yaml);
                                                          default: inferred from the checkpoint name
    device      IVOSW_SAM2_DEVICE      [sam2] device      default cuda when present, else cpu

Scribbles -> prompts (the rule): on the annotated frame, for every object k, points sampled evenly by
arc length along each stroke of k are positive clicks (``points_per_stroke``, default 5) and points
along every other stroke -- background (id 0) or another object -- are negative clicks
(``negative_points_per_stroke``, default 3). Prompts accumulate: each round's clicks are added to all
earlier clicks of the same frame and object, and earlier frames keep theirs (SAM 2's conditioning
memory). An object enters the tracker with its first positive click. After each round the video is
propagated forward and backward from the annotated frame. Labels: the object with the highest mask
logit where that logit is > 0, else background; probabilities: sigmoid per object, background =
prod(1 - p), normalised.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from backends import _checkout as ck
from backends.base import Backend, BackendError, BackendUnavailable, Prediction

METHOD = "sam2"
CONFIG_BY_CHECKPOINT = {
    "sam2.1_hiera_tiny": "configs/sam2.1/sam2.1_hiera_t.yaml",
    "sam2.1_hiera_small": "configs/sam2.1/sam2.1_hiera_s.yaml",
    "sam2.1_hiera_base_plus": "configs/sam2.1/sam2.1_hiera_b+.yaml",
    "sam2.1_hiera_large": "configs/sam2.1/sam2.1_hiera_l.yaml",
    "sam2_hiera_tiny": "configs/sam2/sam2_hiera_t.yaml",
    "sam2_hiera_small": "configs/sam2/sam2_hiera_s.yaml",
    "sam2_hiera_base_plus": "configs/sam2/sam2_hiera_b+.yaml",
    "sam2_hiera_large": "configs/sam2/sam2_hiera_l.yaml",
}
# the overrides build_sam2_video_predictor applies for inference
VIDEO_OVERRIDES = {
    "sam_mask_decoder_extra_args": {"dynamic_multimask_via_stability": True,
                                    "dynamic_multimask_stability_delta": 0.05,
                                    "dynamic_multimask_stability_thresh": 0.98},
    "binarize_mask_from_pts_for_mem_enc": True,
    "fill_hole_area": 8,
}
INSTALL_HINT = "pip install sam2 (SAM2_BUILD_CUDA=0 pip install --no-build-isolation sam2 keeps torch)"


# ----------------------------------------------------------------------------------- conversions
def sample_along(path, n: int, hw: tuple[int, int]) -> np.ndarray:
    """``n`` points evenly spaced by arc length along a normalised stroke, in pixels (x, y) float32."""
    h, w = hw
    pts = np.asarray(path, np.float64).reshape(-1, 2)
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) == 0 or n < 1:
        return np.zeros((0, 2), np.float32)
    pts = np.clip(pts, 0, 1) * np.array([w - 1, h - 1])
    if len(pts) == 1:
        return pts[:1].astype(np.float32)
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    if cum[-1] <= 0:
        return pts[:1].astype(np.float32)
    at = (np.arange(n) + 0.5) / n * cum[-1] if n > 1 else np.array([cum[-1] / 2])
    x = np.interp(at, cum, pts[:, 0])
    y = np.interp(at, cum, pts[:, 1])
    return np.stack([x, y], 1).astype(np.float32)


def strokes_to_prompts(strokes: list[dict], n_objects: int, hw: tuple[int, int], n_pos: int = 5,
                       n_neg: int = 3) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """``{object id: (points [N,2] pixel xy float32, labels [N] int32 1/0)}`` for the strokes of one
    frame (objects 1..K; an object with no point at all is left out)."""
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    sampled = [(int(s.get("object_id", 0)), s.get("path") or []) for s in strokes]
    for k in range(1, n_objects + 1):
        pts, labs = [], []
        for oid, path in sampled:
            p = sample_along(path, n_pos if oid == k else n_neg, hw)
            pts.append(p)
            labs.append(np.full(len(p), 1 if oid == k else 0, np.int32))
        if pts:
            P, L = np.concatenate(pts), np.concatenate(labs)
            if len(P):
                out[k] = (P, L)
    return out


def outputs(logits: np.ndarray) -> tuple[np.ndarray, callable]:
    """[K, T, H, W] mask logits -> (labels [T,H,W], lazy probs [K+1,T,H,W])."""
    best = logits.argmax(0)
    top = np.take_along_axis(logits, best[None], 0)[0]
    labels = np.where(top > 0, best + 1, 0).astype(np.int64)

    def probs():
        return ck.probs_from_object_probs(1.0 / (1.0 + np.exp(-logits.astype(np.float32))))

    return labels, probs


# ----------------------------------------------------------------------------------- model building
def _package_dir() -> Path:
    try:
        import sam2
    except Exception as exc:  # noqa: BLE001
        raise BackendUnavailable(INSTALL_HINT) from exc
    return Path(sam2.__file__).parent


def resolve_config(config: str | None, checkpoint: Path | None) -> Path:
    value, where = ck.setting(METHOD, "config", config)
    env = ck.env_name(METHOD, "config")
    if value is None:
        stem = checkpoint.stem if checkpoint is not None else ""
        if stem not in CONFIG_BY_CHECKPOINT:
            raise BackendUnavailable(f"set {env} to the model YAML of checkpoint {checkpoint} "
                                     "(e.g. configs/sam2.1/sam2.1_hiera_t.yaml)")
        value, where = CONFIG_BY_CHECKPOINT[stem], "checkpoint name"
    p = Path(str(value)).expanduser()
    if not p.is_file():
        p2 = _package_dir() / str(value)
        if not p2.is_file():
            raise BackendUnavailable(f"SAM 2 config {value} (from {where}) not found as a file or in the "
                                     f"sam2 package; set {env}")
        p = p2
    return p


def build_predictor(cfg, device: str = "cpu", state: dict | None = None, ckpt_path=None):
    """A SAM2VideoPredictor from an OmegaConf model config (inference overrides applied)."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    cfg.model._target_ = "sam2.sam2_video_predictor.SAM2VideoPredictor"
    for k, v in VIDEO_OVERRIDES.items():
        if isinstance(v, dict):
            sub = cfg.model.get(k) or OmegaConf.create({})
            for kk, vv in v.items():
                sub[kk] = vv
            cfg.model[k] = sub
        else:
            cfg.model[k] = v
    OmegaConf.resolve(cfg)
    model = instantiate(cfg.model, _recursive_=True)
    if state is not None:
        env = ck.env_name(METHOD, "checkpoint")
        ck.load_weights_into(model, state, ckpt_path, "SAM 2 (config/checkpoint mismatch?)", env)
    return model.to(device).eval()


def tiny_random_predictor(image_size: int = 128, seed: int = 0, device: str = "cpu"):
    """A randomly initialised, very small SAM 2 video predictor (tests and smoke runs; no quality)."""
    from omegaconf import OmegaConf

    import torch

    cfg = OmegaConf.load(_package_dir() / "configs/sam2.1/sam2.1_hiera_t.yaml")
    s = int(image_size)
    if s % 32:
        raise BackendError("image_size must be a multiple of 32")
    m = cfg.model
    m.image_size = s
    m.memory_attention.num_layers = 1
    m.memory_attention.layer.self_attention.feat_sizes = [s // 16, s // 16]
    m.memory_attention.layer.cross_attention.feat_sizes = [s // 16, s // 16]
    trunk = m.image_encoder.trunk
    trunk.embed_dim, trunk.num_heads = 16, 1
    trunk.stages, trunk.global_att_blocks, trunk.window_spec = [1, 1, 1, 1], [], [4, 4, 4, 4]
    m.image_encoder.neck.backbone_channel_list = [128, 64, 32, 16]
    torch.manual_seed(seed)
    return build_predictor(cfg, device=device)


# ----------------------------------------------------------------------------------- backend
class SAM2Backend(Backend):
    """SAM 2 video predictor with scribbles turned into positive/negative clicks."""

    name = "sam2"
    description = "SAM 2 video predictor; scribbles -> clicks sampled along strokes (needs the sam2 package + a checkpoint)"

    @classmethod
    def check_setup(cls) -> None:
        _package_dir()
        ckpt = ck.find_file(METHOD, "checkpoint", None, "a SAM 2 checkpoint (e.g. sam2.1_hiera_tiny.pt)")
        resolve_config(None, ckpt)

    def __init__(self, checkpoint: str | None = None, config: str | None = None, device: str | None = None,
                 points_per_stroke: int = 5, negative_points_per_stroke: int = 3,
                 offload_video_to_cpu: bool = False, predictor=None):
        """``predictor``: an already built SAM2VideoPredictor (then checkpoint/config are not read)."""
        _package_dir()
        self.n_pos, self.n_neg = int(points_per_stroke), int(negative_points_per_stroke)
        self.offload = bool(offload_video_to_cpu)
        if predictor is not None:
            self.predictor = predictor
            self.device = str(next(predictor.parameters()).device)
        else:
            self.device = ck.select_device(METHOD, device)
            env = ck.env_name(METHOD, "checkpoint")
            self.checkpoint = ck.find_file(METHOD, "checkpoint", checkpoint,
                                           "a SAM 2 checkpoint (e.g. sam2.1_hiera_tiny.pt)")
            self.config = resolve_config(config, self.checkpoint)
            from omegaconf import OmegaConf

            try:
                cfg = OmegaConf.load(self.config)
            except Exception as exc:  # noqa: BLE001
                raise BackendError(f"SAM 2 config {self.config} is not readable YAML ({exc}); set "
                                   f"{ck.env_name(METHOD, 'config')}") from exc
            if "model" not in cfg:
                raise BackendError(f"SAM 2 config {self.config} has no 'model' section; set "
                                   f"{ck.env_name(METHOD, 'config')} to a SAM 2 model YAML")
            state = ck.load_checkpoint(self.checkpoint, "SAM 2", env)
            self.predictor = build_predictor(cfg, self.device, state, self.checkpoint)
        self._tmp: str | None = None
        self.state = None
        self.frames = None

    def _cleanup(self) -> None:
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        self.state = None

    def reset(self, sequence: str, frames: np.ndarray, n_objects: int) -> None:
        from PIL import Image

        frames = ck.check_frames(frames, n_objects)
        self._cleanup()
        self.sequence, self.frames, self.n_objects = sequence, frames, int(n_objects)
        T, H, W = frames.shape[:3]
        # SAM 2's init_state reads a folder of <index>.jpg frames
        self._tmp = tempfile.mkdtemp(prefix="ivosw-sam2-")
        for t in range(T):
            Image.fromarray(frames[t]).save(Path(self._tmp) / f"{t:05d}.jpg", quality=95)
        self.prompts: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}  # (frame, obj) -> all clicks
        self.logits = np.full((self.n_objects, T, H, W), -20.0, np.float16)
        self.rounds = 0

    def _autocast(self):
        """SAM 2 stores its memory features in bfloat16 and relies on autocast to mix them with float32
        weights (the official demos use CUDA autocast); on the CPU the same is done with CPU autocast."""
        import contextlib

        import torch

        if self.device.startswith("cuda"):
            return torch.autocast("cuda", dtype=torch.bfloat16)
        if self.device == "cpu":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _init_state(self):
        import torch

        with torch.inference_mode(), self._autocast():
            self.state = self.predictor.init_state(self._tmp, offload_video_to_cpu=self.offload)

    def interact(self, scribbles: dict, annotated_frame: int) -> Prediction:
        if self.frames is None:
            raise BackendError("call reset() before interact()")
        import torch

        T, H, W = self.frames.shape[:3]
        per_frame = ck.strokes_per_frame(scribbles, T)
        f0 = ck.annotated_frame(scribbles, annotated_frame)
        changed: set[tuple[int, int]] = set()
        for f, strokes in per_frame.items():
            ck.check_object_ids(strokes, self.n_objects, f)
            for k, (pts, labs) in strokes_to_prompts(strokes, self.n_objects, (H, W), self.n_pos, self.n_neg).items():
                old = self.prompts.get((f, k))
                if old is not None:
                    pts, labs = np.concatenate([old[0], pts]), np.concatenate([old[1], labs])
                self.prompts[(f, k)] = (pts, labs)
                changed.add((f, k))
        if self.state is None:
            self._init_state()
        tracked = {k for (_, k), (_, labs) in self.prompts.items() if (labs == 1).any()}
        self.rounds += 1
        with torch.inference_mode(), self._autocast():
            for (f, k), (pts, labs) in sorted(self.prompts.items()):
                if k not in tracked:
                    continue
                if (f, k) in changed or k not in self.state["obj_id_to_idx"]:
                    self.predictor.add_new_points_or_box(self.state, frame_idx=f, obj_id=k, points=pts,
                                                         labels=labs, clear_old_points=True)
            if tracked:
                for reverse in (False, True):
                    for t, obj_ids, mask_logits in self.predictor.propagate_in_video(
                            self.state, start_frame_idx=f0, reverse=reverse):
                        ml = mask_logits[:, 0].float().cpu().numpy()
                        for i, k in enumerate(obj_ids):
                            self.logits[int(k) - 1, t] = np.clip(ml[i], -60000, 60000)
        labels, probs = outputs(self.logits.astype(np.float32))
        return Prediction(labels=labels, _probs=probs,
                          info={"round": self.rounds, "tracked_objects": sorted(tracked),
                                "prompt_frames": sorted({f for f, _ in self.prompts})})

    def close(self) -> None:
        self._cleanup()
        self.predictor = None
