"""MANet adapter: "Memory aggregation networks for efficient interactive VOS" (Miao et al., CVPR 2020).

Runs the user's checkout of https://github.com/lightas/CVPR2020_MANet with its trained weights
(``save_step_80000.pth`` of the README's "our model" link). Settings (see ``backends/_checkout.py``):

    root     IVOSW_MANET_ROOT      [manet] root      the repository's top folder
    weights  IVOSW_MANET_WEIGHTS   [manet] weights   the .pth file (default: <root>/save_step_80000.pth)
    device   IVOSW_MANET_DEVICE    [manet] device    cuda / cuda:N

MANet needs CUDA: its ``config.py`` raises at import without it and ``networks/IntVOS.py`` calls
``.cuda()`` unconditionally. The per-round procedure follows the repository's ``test.py``:
embeddings of every frame are extracted once per sample at 480x854; the round's scribbles on the
annotated frame are rasterised at the embedding resolution (-1 where no stroke, else the object id);
``int_seghead`` segments the annotated frame with the previous round's mask there, then
``prop_seghead`` propagates forward and backward frame by frame, with the global and local memory
maps (``global_map_tmp_dic``, ``local_map_dics``) kept across the rounds of a sample. From the
second frame on, the scribble label is restricted to a box around the strokes (``rough_ROI``).
The checkout's memory tensors hold 104 frames (DAVIS's longest), hence ``max_frames``.
"""
from __future__ import annotations

import numpy as np

from backends import _checkout as ck
from backends.base import Backend, BackendError, Prediction

METHOD = "manet"
REPO = "CVPR2020_MANet (github.com/lightas/CVPR2020_MANet)"
MARKERS = ("config.py", "networks/IntVOS.py", "networks/deeplab.py")
WEIGHT_NAMES = ("save_step_80000.pth", "save_step_100000.pth")
CUDA_REASON = "MANet's config.py and IntVOS model call .cuda()"
WORK_HW = (480, 854)  # test.py resizes every frame to 480x854
MAX_FRAMES = 104      # size of the checkout's memory tensors
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


def outputs(logits_small: np.ndarray, full_hw: tuple[int, int]) -> tuple[np.ndarray, callable]:
    """[T, K+1, h, w] per-frame logits -> (labels [T,H,W], lazy probs [K+1,T,H,W])."""
    import cv2

    T, L = logits_small.shape[:2]
    H, W = full_hw

    def up(x):  # [C, h, w] -> [C, H, W] bilinear
        return np.stack([cv2.resize(c, (W, H), interpolation=cv2.INTER_LINEAR) for c in x])

    labels = np.stack([up(logits_small[t]).argmax(0) for t in range(T)]).astype(np.int64)

    def probs():
        return np.stack([ck.softmax_np(up(logits_small[t]), 0) for t in range(T)], axis=1)

    return labels, probs


# ----------------------------------------------------------------------------------- backend
class ManetBackend(Backend):
    """MANet (CVPR 2020) from the user's checkout + weights (CUDA)."""

    name = "manet"
    description = "MANet (CVPR 2020, memory aggregation) from your CVPR2020_MANet checkout (CUDA)"

    @classmethod
    def check_setup(cls) -> None:
        root = ck.find_checkout(METHOD, None, MARKERS, REPO)
        ck.find_file(METHOD, "weights", None, "MANet's trained weights", WEIGHT_NAMES, [root])
        ck.select_device(METHOD, None, cuda_only=CUDA_REASON)

    def __init__(self, root: str | None = None, weights: str | None = None, device: str | None = None,
                 knns: int = 1, max_local_distance: int = 12, verbose: bool = False):
        self.root = ck.find_checkout(METHOD, root, MARKERS, REPO)
        self.weights = ck.find_file(METHOD, "weights", weights, "MANet's trained weights", WEIGHT_NAMES, [self.root])
        self.device = ck.select_device(METHOD, device, cuda_only=CUDA_REASON)
        self.knns = int(knns)
        self.verbose = verbose
        argv = ["config.py", "--TEST_MODE", "True", "--MODEL_USEIntSeg", "False", "--KNNS", str(knns),
                "--MODEL_MAX_LOCAL_DISTANCE", str(max_local_distance)]
        self.ckout = ck.IsolatedCheckout(self.root, METHOD)
        try:
            cfg_mod, deeplab, intvos = self.ckout.load("config", "networks.deeplab", "networks.IntVOS", argv=argv)
        except Exception as exc:  # noqa: BLE001
            raise ck.import_error("MANet", self.root, exc) from exc
        import torch

        self.torch = torch
        self.cfg = cfg_mod.cfg
        with self.ckout.active():
            fe = deeplab.DeepLab(backbone="resnet", freeze_bn=False)
            model = intvos.IntVOS(self.cfg, fe)
        state = ck.load_checkpoint(self.weights, "MANet", ck.env_name(METHOD, "weights"))
        # test.py's load_network keeps only the keys the model has; require a real overlap
        own = model.state_dict()
        common = {k: v for k, v in ck.strip_prefix(state).items() if k in own and own[k].shape == v.shape}
        if len(common) < 0.9 * len(own):
            raise BackendError(f"weights file {self.weights} does not fit MANet ({len(common)} of {len(own)} "
                               f"tensors match); set {ck.env_name(METHOD, 'weights')} to the right file")
        own.update(common)
        model.load_state_dict(own)
        self.model = model.to(self.device).eval()
        self.frames = None

    def reset(self, sequence: str, frames: np.ndarray, n_objects: int) -> None:
        frames = ck.check_frames(frames, n_objects)
        if frames.shape[0] > MAX_FRAMES:
            raise BackendError(f"MANet's memory holds at most {MAX_FRAMES} frames; the video has {frames.shape[0]}")
        self.sequence, self.frames, self.n_objects = sequence, frames, int(n_objects)
        self.embeddings = None
        self.global_map: dict = {}
        self.local_maps: tuple[dict, dict] = ({}, {})
        self.n_interaction = 0
        self.prev_label = None  # [T, h, w] labels at the embedding resolution (torch, device)
        self.logits = None      # [T, K+1, h, w] float32 numpy

    def _embed(self):
        torch = self.torch
        embs = []
        with self.ckout.active(), torch.no_grad():
            for t0 in range(0, len(self.frames), 8):
                x = np.stack([preprocess_frame(f) for f in self.frames[t0:t0 + 8]])
                embs.append(self.model.extract_feature(torch.from_numpy(x).to(self.device)))
        self.embeddings = torch.cat(embs, 0)

    def interact(self, scribbles: dict, annotated_frame: int) -> Prediction:
        if self.frames is None:
            raise BackendError("call reset() before interact()")
        torch, F = self.torch, self.torch.nn.functional
        T, H, W = self.frames.shape[:3]
        per_frame = ck.strokes_per_frame(scribbles, T)
        f0 = ck.annotated_frame(scribbles, annotated_frame)
        strokes = per_frame.get(f0, [])
        ck.check_object_ids(strokes, self.n_objects, f0)
        if self.embeddings is None:
            self._embed()
        emb = self.embeddings
        _, _, eh, ew = emb.shape
        if self.logits is None:
            self.logits = np.zeros((T, self.n_objects + 1, eh, ew), np.float32)
            self.logits[:, 0] = 1.0
        if not strokes:  # nothing new: keep the previous result (test.py does the same)
            return self._prediction()
        self.n_interaction += 1
        first = self.n_interaction == 1
        name = self.sequence
        gt_ids = torch.Tensor([self.n_objects])
        label = torch.from_numpy(scribble_label(strokes, (eh, ew))).to(self.device)
        with self.ckout.active(), torch.no_grad():
            ref = emb[f0:f0 + 1]
            prev_round = None if first else self.prev_label[f0][None, None].float()
            out, self.local_maps = self.model.int_seghead(
                ref_frame_embedding=ref, ref_scribble_label=label, prev_round_label=prev_round,
                global_map_tmp_dic=self.global_map, local_map_dics=self.local_maps,
                interaction_num=self.n_interaction, seq_names=[name], gt_ids=gt_ids, frame_num=[f0],
                first_inter=first)
            logit = out[name]
            if self.prev_label is None:
                self.prev_label = torch.zeros((T, eh, ew), dtype=torch.long, device=self.device)
            self._store(f0, logit)
            if first:
                label = torch.from_numpy(rough_roi(label.cpu().numpy())).to(self.device)
            for order in (range(f0 + 1, T), range(f0 - 1, -1, -1)):
                prev_lab = self.prev_label[f0][None, None]
                prev_emb = ref
                for t in order:
                    cur = emb[t:t + 1]
                    out, self.global_map, self.local_maps = self.model.prop_seghead(
                        ref, prev_emb, cur, label, prev_lab, normalize_nearest_neighbor_distances=True,
                        use_local_map=True, seq_names=[name], gt_ids=gt_ids, k_nearest_neighbors=self.knns,
                        global_map_tmp_dic=self.global_map, local_map_dics=self.local_maps,
                        interaction_num=self.n_interaction, start_annotated_frame=f0, frame_num=[t],
                        dynamic_seghead=self.model.dynamic_seghead)
                    self._store(t, out[name])
                    prev_lab = self.prev_label[t][None, None]
                    prev_emb = cur
        return self._prediction()

    def _store(self, t: int, logit) -> None:
        # logit: [1, K+1, h, w] at the embedding resolution
        self.logits[t] = logit[0].float().cpu().numpy()
        self.prev_label[t] = logit[0].argmax(0)

    def _prediction(self) -> Prediction:
        labels, probs = outputs(self.logits, self.frames.shape[1:3])
        return Prediction(labels=labels, _probs=probs, info={"round": self.n_interaction})

    def close(self) -> None:
        self.embeddings = None
        self.model = None
