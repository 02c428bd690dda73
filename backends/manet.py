"""MANet adapter: "Memory aggregation networks for efficient interactive VOS" (Miao et al., CVPR 2020).

Runs the user's checkout of https://github.com/lightas/CVPR2020_MANet with its trained weights
(``save_step_80000.pth`` of the README's "our model" link). Settings (see ``backends/_checkout.py``
and ``backends/plumbing.py``):

    root            IVOSW_MANET_ROOT            [manet] root    the repository's top folder
    weights         IVOSW_MANET_WEIGHTS         [manet] weights the .pth file (default: <root>/save_step_80000.pth)
    device          IVOSW_MANET_DEVICE          [manet] device  cuda / cuda:N
    random_weights  IVOSW_MANET_RANDOM_WEIGHTS  no weights file: the architecture with random weights
                                                (seed option, default 0); plumbing checks only
    cpu_shims       IVOSW_MANET_CPU_SHIMS       run on the CPU with backends/cpu_shims.py (tests)

MANet needs CUDA: its ``config.py`` raises at import without it and ``networks/IntVOS.py`` calls
``.cuda()`` unconditionally. The per-round procedure follows the repository's ``test.py``:
embeddings of every frame are extracted once per sample at 480x854 (frames resized bicubically,
BGR); the round's scribbles on the annotated frame are rasterised at the embedding resolution (-1
where no stroke, else the object id); ``int_seghead`` segments the annotated frame with the previous
round's mask there, then ``prop_seghead`` propagates forward and backward frame by frame, with the
global and local memory maps (``global_map_tmp_dic``, ``local_map_dics``) kept across the rounds of a
sample. From the second frame on, the scribble label is restricted to a box around the strokes
(``rough_ROI``). Every frame's logits are upsampled to the video's size (bilinear, corners aligned)
and their argmax is both the submitted mask and the previous mask of the next step (test.py's
``prev_label_storage``). The checkout's memory tensors hold 104 frames (DAVIS's longest) and 9
interactions per sample, hence ``MAX_FRAMES`` and ``MAX_INTERACTIONS``.
"""
from __future__ import annotations

import numpy as np

from backends import _checkout as ck
from backends import plumbing
from backends.base import Backend, BackendError, Prediction

METHOD = "manet"
REPO = "CVPR2020_MANet (github.com/lightas/CVPR2020_MANet)"
MARKERS = ("config.py", "networks/IntVOS.py", "networks/deeplab.py")
WEIGHT_NAMES = ("save_step_80000.pth", "save_step_100000.pth")
CUDA_REASON = "MANet's config.py and IntVOS model call .cuda()"
WORK_HW = (480, 854)  # test.py resizes every frame to 480x854
MAX_FRAMES = 104      # frames of the checkout's memory tensors
MAX_INTERACTIONS = 9  # interactions of its local map memory (torch.zeros(104, 9) per sequence)
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


# ----------------------------------------------------------------------------------- conversions
def preprocess_frame(frame_rgb: np.ndarray, hw: tuple[int, int] = WORK_HW) -> np.ndarray:
    """RGB uint8 [H,W,3] -> MANet input [3,h,w] float32: BGR order (the checkout reads frames with
    cv2.imread), bicubic resize to 480x854, /255 and ImageNet mean/std (its ToTensor)."""
    import cv2

    bgr = np.ascontiguousarray(np.asarray(frame_rgb)[..., ::-1]).astype(np.float32)
    if bgr.shape[:2] != tuple(hw):
        bgr = cv2.resize(bgr, (hw[1], hw[0]), interpolation=cv2.INTER_CUBIC)
    x = (bgr / 255.0 - MEAN) / STD
    return np.ascontiguousarray(x.transpose(2, 0, 1)).astype(np.float32)


def scribble_label(strokes: list[dict], hw: tuple[int, int]) -> np.ndarray:
    """The round's strokes on the annotated frame -> [1,1,h,w] float32 label map at the embedding
    resolution: -1 no stroke, 0 background, k object k (davisinteractive's scribbles2mask)."""
    return ck.rasterise(strokes, hw, default=-1).astype(np.float32)[None, None]


def rough_roi(label: np.ndarray, dist: int = 20) -> np.ndarray:
    """Keep the scribble label only in the strokes' bounding box enlarged by ``dist`` pixels
    (elsewhere 0 = background), as test.py's rough_ROI does after the first round's first frame."""
    lab = np.asarray(label)
    out = np.zeros_like(lab)
    h, w = lab.shape[-2:]
    for b in range(lab.shape[0]):
        ys, xs = np.nonzero(lab[b, 0] != -1)
        if len(ys) == 0:
            continue
        y0, y1 = max(ys.min() - dist, 0), min(ys.max() + dist, h - 1)
        x0, x1 = max(xs.min() - dist, 0), min(xs.max() + dist, w - 1)
        out[b, 0, y0:y1, x0:x1] = lab[b, 0, y0:y1, x0:x1]
    return out


def upsample(logit, hw: tuple[int, int]):
    """[N, C, h, w] torch logits -> [N, C, H, W], bilinear with aligned corners (test.py)."""
    import torch.nn.functional as F

    return F.interpolate(logit, size=tuple(hw), mode="bilinear", align_corners=True)


def lazy_probs(logits_small: np.ndarray, full_hw: tuple[int, int]):
    """[T, K+1, h, w] logits -> a callable giving [K+1, T, H, W] softmax probabilities."""
    def probs():
        import torch

        out = []
        for lg in logits_small:
            p = upsample(torch.from_numpy(np.ascontiguousarray(lg))[None], full_hw)[0].softmax(0)
            out.append(p.numpy())
        return np.stack(out, axis=1).astype(np.float32)

    return probs


def check_interaction(done: int, limit: int = MAX_INTERACTIONS) -> None:
    """BackendError when a sample asks for more interactions than the checkout's memory holds."""
    if done >= limit:
        raise BackendError(f"MANet's local memory holds {limit} interactions per sample (its "
                           f"local_map_dist_dic is [104, {limit}]); interaction {done + 1} asked "
                           "for: use at most 9 rounds")


# ----------------------------------------------------------------------------------- network
def argv(knns: int = 1, max_local_distance: int = 12) -> list[str]:
    """``sys.argv`` for the checkout's argparse ``config.py`` (test.py's settings)."""
    return ["config.py", "--TEST_MODE", "True", "--MODEL_USEIntSeg", "False", "--KNNS", str(knns),
            "--MODEL_MAX_LOCAL_DISTANCE", str(max_local_distance)]


def build_network(modules, seed: int | None = None):
    """MANet's IntVOS with its DeepLab (ResNet-101) embedding from the checkout's ``modules``
    (config, networks.deeplab, networks.IntVOS); ``seed``: the random initialisation to draw."""
    import contextlib

    cfg_mod, deeplab, intvos = modules
    with plumbing.seeded(seed) if seed is not None else contextlib.nullcontext():
        fe = deeplab.DeepLab(backbone="resnet", freeze_bn=False)
        return intvos.IntVOS(cfg_mod.cfg, fe)


def load_trained(model, path) -> None:
    """test.py's load_network (keep the keys the model has), requiring a real overlap."""
    env = ck.env_name(METHOD, "weights")
    state = ck.strip_prefix(ck.load_checkpoint(path, "MANet", env))
    own = model.state_dict()
    common = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if len(common) < 0.9 * len(own):
        raise BackendError(f"weights file {path} does not fit MANet ({len(common)} of {len(own)} "
                           f"tensors match); set {env} to the right file")
    own.update(common)
    model.load_state_dict(own)


# ----------------------------------------------------------------------------------- backend
class ManetBackend(Backend):
    """MANet (CVPR 2020) from the user's checkout + weights (CUDA)."""

    name = "manet"
    description = "MANet (CVPR 2020, memory aggregation) from your CVPR2020_MANet checkout (CUDA)"
    max_interactions = MAX_INTERACTIONS

    @classmethod
    def check_setup(cls) -> None:
        root = ck.find_checkout(METHOD, None, MARKERS, REPO)
        if not plumbing.random_weights(METHOD):
            ck.find_file(METHOD, "weights", None, "MANet's trained weights", WEIGHT_NAMES, [root])
        if not plumbing.shims(METHOD).active:
            ck.select_device(METHOD, None, cuda_only=CUDA_REASON)

    @classmethod
    def notes(cls) -> str | None:
        return plumbing.notes(METHOD)

    def __init__(self, root: str | None = None, weights: str | None = None, device: str | None = None,
                 knns: int = 1, max_local_distance: int = 12, random_weights: bool | None = None,
                 seed: int = 0, cpu_shims: bool | None = None):
        self.root = ck.find_checkout(METHOD, root, MARKERS, REPO)
        self.random_weights = plumbing.random_weights(METHOD, random_weights)
        self.weights = None if self.random_weights else ck.find_file(
            METHOD, "weights", weights, "MANet's trained weights", WEIGHT_NAMES, [self.root])
        self.shims = plumbing.shims(METHOD, cpu_shims, pretend_cuda_on_import=True)
        self.device = "cpu" if self.shims.active else ck.select_device(METHOD, device, cuda_only=CUDA_REASON)
        self.knns = int(knns)
        key = (METHOD, str(self.root), ("random", int(seed)) if self.random_weights else str(self.weights),
               self.device, self.shims.active, self.knns, int(max_local_distance))
        self._shared = plumbing.shared(key, lambda: self._build(seed, max_local_distance))
        self.ckout, self.model = self._shared.ckout, self._shared.model
        import torch

        self.torch = torch
        self.frames = self.embeddings = None
        # this instance's notes (the class method speaks about the settings, for the backends table)
        self.notes = lambda: plumbing.notes(METHOD, self.random_weights, self.shims.active)

    def _build(self, seed: int, max_local_distance: int) -> plumbing.Shared:
        """Import the checkout and build the network (random or with the weights file)."""
        ckout = ck.IsolatedCheckout(self.root, METHOD)
        try:
            with self.shims.importing():
                modules = ckout.load("config", "networks.deeplab", "networks.IntVOS",
                                     argv=argv(self.knns, max_local_distance))
        except Exception as exc:  # noqa: BLE001
            raise ck.import_error("MANet", self.root, exc) from exc
        with ckout.active(), self.shims.running(), plumbing.on_device(self.device):
            model = build_network(modules, seed if self.random_weights else None)
        if not self.random_weights:
            load_trained(model, self.weights)
        return plumbing.Shared(ckout=ckout, model=model.to(self.device).eval())

    def reset(self, sequence: str, frames: np.ndarray, n_objects: int) -> None:
        frames = ck.check_frames(frames, n_objects)
        if frames.shape[0] > MAX_FRAMES:
            raise BackendError(f"MANet's memory holds at most {MAX_FRAMES} frames; the video has {frames.shape[0]}")
        if not self._same_frames(frames):
            self.embeddings = None  # else the previous sample's embeddings are still right
        self.sequence, self.frames, self.n_objects = sequence, frames, int(n_objects)
        self.global_map: dict = {}
        self.local_maps: tuple[dict, dict] = ({}, {})
        self.n_interaction = 0
        self.labels = None      # [T, H, W] uint8 torch (device): test.py's prev_label_storage
        self.logits = None      # [T, K+1, h, w] float32 numpy at the embedding resolution

    def _same_frames(self, frames: np.ndarray) -> bool:
        """Whether ``frames`` are the video already embedded (episodes replay a sample after a reset)."""
        old = getattr(self, "frames", None)
        if old is None or getattr(self, "embeddings", None) is None or old.shape != frames.shape:
            return False
        return old is frames or bool(np.array_equal(old, frames))

    def _calls(self):
        """Context of every call into the checkout."""
        import contextlib

        stack = contextlib.ExitStack()
        stack.enter_context(self.ckout.active())
        stack.enter_context(self.shims.running())
        stack.enter_context(plumbing.on_device(self.device))
        stack.enter_context(self.torch.no_grad())
        return stack

    def _embed(self):
        torch = self.torch
        embs = []
        with self._calls():
            for t0 in range(0, len(self.frames), 8):
                x = np.stack([preprocess_frame(f) for f in self.frames[t0:t0 + 8]])
                embs.append(self.model.extract_feature(torch.from_numpy(x).to(self.device)))
        self.embeddings = torch.cat(embs, 0)

    def _start(self) -> None:
        """First round of a sample: embeddings (unless kept from the same video), empty result."""
        T, H, W = self.frames.shape[:3]
        if self.embeddings is None:
            self._embed()
        _, _, eh, ew = self.embeddings.shape
        self.logits = np.zeros((T, self.n_objects + 1, eh, ew), np.float32)
        self.logits[:, 0] = 1.0
        self.labels = self.torch.zeros((T, H, W), dtype=self.torch.uint8, device=self.device)

    def interact(self, scribbles: dict, annotated_frame: int) -> Prediction:
        if self.frames is None:
            raise BackendError("call reset() before interact()")
        T = self.frames.shape[0]
        per_frame = ck.strokes_per_frame(scribbles, T)
        f0 = ck.annotated_frame(scribbles, annotated_frame)
        strokes = per_frame.get(f0, [])
        ck.check_object_ids(strokes, self.n_objects, f0)
        if self.labels is None:
            self._start()
        if not strokes:  # nothing new: keep the previous result (test.py does the same)
            return self._prediction()
        check_interaction(self.n_interaction)
        self.n_interaction += 1
        label = self.torch.from_numpy(scribble_label(strokes, self.logits.shape[2:])).to(self.device)
        with self._calls():
            self._segment(f0, label)
        return self._prediction()

    def _segment(self, f0: int, label) -> None:
        """int_seghead on the annotated frame, then prop_seghead forward and backward (test.py)."""
        torch, name, T = self.torch, self.sequence, self.frames.shape[0]
        first = self.n_interaction == 1
        gt_ids = torch.Tensor([self.n_objects])
        ref = self.embeddings[f0:f0 + 1]
        prev_round = None if first else self.labels[f0][None, None]
        out, self.local_maps = self.model.int_seghead(
            ref_frame_embedding=ref, ref_scribble_label=label, prev_round_label=prev_round,
            global_map_tmp_dic=self.global_map, local_map_dics=self.local_maps,
            interaction_num=self.n_interaction, seq_names=[name], gt_ids=gt_ids, frame_num=[f0],
            first_inter=first)
        self._store(f0, out[name])
        if first:
            label = torch.from_numpy(rough_roi(label.cpu().numpy())).to(self.device)
        for order in (range(f0 + 1, T), range(f0 - 1, -1, -1)):
            prev_emb = ref
            for t in order:
                prev_lab = self.labels[t - 1 if t > f0 else t + 1][None, None]
                cur = self.embeddings[t:t + 1]
                out, self.global_map, self.local_maps = self.model.prop_seghead(
                    ref, prev_emb, cur, label, prev_lab, normalize_nearest_neighbor_distances=True,
                    use_local_map=True, seq_names=[name], gt_ids=gt_ids, k_nearest_neighbors=self.knns,
                    global_map_tmp_dic=self.global_map, local_map_dics=self.local_maps,
                    interaction_num=self.n_interaction, start_annotated_frame=f0, frame_num=[t],
                    dynamic_seghead=self.model.dynamic_seghead)
                self._store(t, out[name])
                prev_emb = cur

    def _store(self, t: int, logit) -> None:
        """Keep frame ``t``'s logits [1, K+1, h, w] and its mask at the video's size."""
        self.logits[t] = logit[0].float().cpu().numpy()
        self.labels[t] = upsample(logit, self.frames.shape[1:3])[0].argmax(0)

    def _prediction(self) -> Prediction:
        labels = self.labels.cpu().numpy().astype(np.int64)
        return Prediction(labels=labels, _probs=lazy_probs(self.logits.copy(), self.frames.shape[1:3]),
                          info={"round": self.n_interaction})

    def close(self) -> None:
        self.embeddings = None
        self.labels = None
        self.model = self._shared = None
