"""A classical (no learned weights) interactive VOS backend: GrabCut on scribbled frames + flow propagation.

Method, all at a reduced working resolution (``work_scale``):

1. Every scribble ever given on a frame is kept. A scribbled ("annotated") frame is segmented per
   object with OpenCV GrabCut: the object's strokes are sure foreground, background strokes and the
   other objects' strokes are sure background, the previous prediction on that frame is the
   probable-foreground prior (round 1: the strokes' bounding box, enlarged). On later rounds only
   the changes connected to the new strokes are kept, so a correction repairs its own region and
   leaves the rest of the (already accepted) mask alone; a background stroke always shrinks the mask.
2. Dense DIS optical flow (forward and backward, consecutive frames) is computed once per sample.
3. From each annotated frame the soft label maps are warped frame by frame with the flow. Every step
   is re-weighted by a per-label colour model (Lab histograms of the annotated frames), slightly
   blurred (lets boundaries move) and renormalised; pixels whose forward/backward flow disagree
   (occlusions) lean more on colour.
4. Between two annotated frames the forward run of the earlier and the backward run of the later one
   are mixed linearly by temporal distance; outside the annotated span the nearest annotation rules.
   Each run stops at the neighbouring annotation, so a round costs about 2T propagation steps.
5. Soft maps are upsampled (bilinear) to full resolution; labels are their argmax.
"""
from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass

import cv2
import numpy as np

from backends.base import Backend, BackendError, Prediction
from ivosw_bench.protocol import check_object_ids, draw_stroke, stroke_pixels

_EPS = 1e-6


@dataclass(frozen=True)
class SamplePrecompute:
    """What the classic backend computes once per video: working-resolution frames, colour bins,
    forward/backward DIS flow and the pixel grid. Read-only once built."""

    small: np.ndarray                 # [T, h, w, 3] uint8 RGB at work resolution
    color_idx: np.ndarray             # [T, h, w] int32 colour-histogram bin per pixel
    flow_fw: list                     # t -> t+1, [h, w, 2] float32
    flow_bw: list                     # t+1 -> t
    grid: tuple                       # (gx, gy) float32 [h, w]


class PrecomputeCache:
    """Per-video precomputations shared between backend instances and resets (an LRU of ``size``
    videos), keyed by the sequence, the frames' content and the settings that shape them.

    Inject one cache into several backends (``ClassicBackend(cache=...)``) to share the optical flow,
    e.g. between the episodes of a training environment; a backend without one gets its own of size 1,
    so resetting to the same video does not recompute its flow."""

    def __init__(self, size: int = 1):
        self.size = max(1, int(size))
        self._items: OrderedDict = OrderedDict()
        self.hits = self.misses = 0

    def get(self, key, build):
        if key in self._items:
            self._items.move_to_end(key)
            self.hits += 1
            return self._items[key]
        self.misses += 1
        value = build()
        self._items[key] = value
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return value


def frames_key(sequence: str, frames: np.ndarray) -> tuple:
    """A cheap content key of a video: its name, shape and a digest of a strided subsample."""
    digest = hashlib.blake2b(np.ascontiguousarray(frames[:, ::7, ::11]).tobytes(), digest_size=12).hexdigest()
    return sequence, tuple(frames.shape), digest


def _normalise(p: np.ndarray) -> np.ndarray:
    """Normalise a [L, h, w] stack of non-negative scores to probabilities over L (never NaN)."""
    p = np.maximum(p, 0.0)
    s = p.sum(axis=0, keepdims=True)
    out = np.where(s > _EPS, p / np.maximum(s, _EPS), 1.0 / p.shape[0])
    return out.astype(np.float32)


class ClassicBackend(Backend):
    """Scribble GrabCut on annotated frames + DIS-flow propagation with a colour model (CPU only)."""

    name = "classic"
    description = "Classical IVOS: scribble GrabCut on annotated frames, DIS-flow + colour propagation (CPU, no weights)"
    supports_snapshot = True

    def __init__(self, work_scale: float = 0.5, flow_preset: str = "medium", stroke_px: int = 2,
                 grabcut_iters: int = 4, color_bins: int = 16, color_weight: float = 0.5,
                 blur_sigma: float = 1.0, fb_tol: float = 10.0, bbox_margin: float = 0.05, max_growth: float = 2.0,
                 verbose: bool = False, cache: PrecomputeCache | None = None):
        """
        Args:
            work_scale: resolution factor of all internal work (0.5: 854x480 -> 427x240).
            flow_preset: DIS optical-flow preset, "ultrafast", "fast" or "medium".
            stroke_px: half-thickness in working pixels of a rasterised stroke.
            grabcut_iters: GrabCut iterations on an annotated frame.
            color_bins: histogram bins per Lab channel of the colour model.
            color_weight: exponent of the colour posterior in each propagation step (0: pure warping).
            blur_sigma: Gaussian blur (working pixels) turning a label map into soft maps.
            fb_tol: forward/backward flow disagreement (working pixels) at which a warped label
                loses 63% of its weight to the colour model.
            bbox_margin: enlargement (fraction of its size) of a stroke's bounding box used as the
                GrabCut prior when there is no earlier mask for the object.
            max_growth: an object whose area grows by more than this factor in one propagation
                step (colour flooding) keeps its purely warped shape for that step.
            verbose: print timings.
            cache: per-video precomputations (flow, colour bins) to share with other instances;
                default: a private cache of one video.
        """
        if flow_preset not in ("ultrafast", "fast", "medium"):
            raise BackendError(f"unknown flow_preset '{flow_preset}' (ultrafast, fast, medium)")
        self.work_scale = float(work_scale)
        self.flow_preset = flow_preset
        self.stroke_px = int(stroke_px)
        self.grabcut_iters = int(grabcut_iters)
        self.color_bins = int(color_bins)
        self.color_weight = float(color_weight)
        self.blur_sigma = float(blur_sigma)
        self.bbox_margin = float(bbox_margin)
        self.fb_tol = float(fb_tol)
        self.max_growth = float(max_growth)
        self.verbose = verbose
        self.cache = cache if cache is not None else PrecomputeCache(1)
        self.sequence: str | None = None
        self.frames: np.ndarray | None = None

    # ------------------------------------------------------------------ sample memory
    def reset(self, sequence: str, frames: np.ndarray, n_objects: int) -> None:
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise BackendError(f"frames must be [T,H,W,3], got shape {frames.shape}")
        if n_objects < 1:
            raise BackendError(f"n_objects must be >= 1, got {n_objects}")
        self.sequence = sequence
        self.frames = frames
        self.n_objects = int(n_objects)
        T, H, W = frames.shape[:3]
        self.full_hw = (H, W)
        self.work_hw = (max(8, int(round(H * self.work_scale))), max(8, int(round(W * self.work_scale))))
        self.pre: SamplePrecompute | None = None  # built on the first interact()
        self.strokes: dict[int, list[tuple[int, np.ndarray]]] = {}  # frame -> [(object id, Nx2 px)]
        self.masks: dict[int, np.ndarray] = {}  # annotated frame -> [h, w] uint8 label map
        self.labels_small: np.ndarray | None = None  # argmax of the last fused prediction, [T, h, w] uint8
        self.round = 0

    # ------------------------------------------------------------------ per-sample state
    def snapshot(self) -> dict:
        """The per-sample memory (strokes, annotated masks, last prediction); arrays are never modified
        in place, so sharing them is safe."""
        return {"sequence": self.sequence, "strokes": {f: list(v) for f, v in self.strokes.items()},
                "masks": dict(self.masks), "labels_small": self.labels_small, "round": self.round}

    def restore(self, state: dict) -> None:
        if self.frames is None or state.get("sequence") != self.sequence:
            raise BackendError(f"cannot restore a state of '{state.get('sequence')}' into a backend reset "
                               f"for '{self.sequence}'")
        self.strokes = {f: list(v) for f, v in state["strokes"].items()}
        self.masks = dict(state["masks"])
        self.labels_small = state["labels_small"]
        self.round = state["round"]

    # ------------------------------------------------------------------ per-video precomputation
    def _precompute(self) -> SamplePrecompute:
        h, w = self.work_hw
        T = self.frames.shape[0]
        small = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in self.frames])
        lab = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2LAB) for f in small]).astype(np.int32)
        b = self.color_bins
        q = (lab * b) // 256
        color_idx = (q[..., 0] * b + q[..., 1]) * b + q[..., 2]
        preset = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
                  "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}[self.flow_preset]
        dis = cv2.DISOpticalFlow_create(preset)
        gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in small]
        flow_fw = [dis.calc(gray[t], gray[t + 1], None) for t in range(T - 1)]
        flow_bw = [dis.calc(gray[t + 1], gray[t], None) for t in range(T - 1)]
        gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
        return SamplePrecompute(small, color_idx, flow_fw, flow_bw, (gx, gy))

    def _ensure_cache(self) -> None:
        if self.pre is None:
            key = frames_key(self.sequence, self.frames) + (self.work_hw, self.flow_preset, self.color_bins)
            self.pre = self.cache.get(key, self._precompute)

    # ------------------------------------------------------------------ scribbles
    def _parse(self, scribbles: dict) -> dict[int, list[tuple[int, np.ndarray]]]:
        """Strokes of this round per frame, as (object id, Nx2 integer work-resolution points)."""
        T = self.frames.shape[0]
        per_frame = (scribbles or {}).get("scribbles") or []
        out: dict[int, list[tuple[int, np.ndarray]]] = {}
        for f, strokes in enumerate(per_frame):
            strokes = strokes or []
            check_object_ids(strokes, self.n_objects, f)
            if strokes and f >= T:
                raise BackendError(f"stroke on frame {f} but the video has {T} frames")
            for s in strokes:
                px = stroke_pixels(s.get("path"), self.work_hw, convention="centre")
                if len(px):
                    out.setdefault(f, []).append((int(s.get("object_id", 0)), px))
        return out

    def _raster(self, strokes: list[tuple[int, np.ndarray]]) -> np.ndarray:
        """[h, w] int16 seed map: -1 unlabelled, else the label of the last stroke through the pixel."""
        seeds = np.full(self.work_hw, -1, np.int16)
        for oid, px in strokes:
            m = draw_stroke(np.zeros(self.work_hw, np.uint8), px, 1, 2 * self.stroke_px + 1, self.stroke_px)
            seeds[m > 0] = oid
        return seeds

    # ------------------------------------------------------------------ annotated frame
    def _bbox_prior(self, seed_mask: np.ndarray) -> np.ndarray:
        ys, xs = np.nonzero(seed_mask)
        h, w = self.work_hw
        y0, y1, x0, x1 = ys.min(), ys.max(), xs.min(), xs.max()
        my = int(self.bbox_margin * (y1 - y0 + 1)) + 4
        mx = int(self.bbox_margin * (x1 - x0 + 1)) + 4
        box = np.zeros(self.work_hw, bool)
        box[max(0, y0 - my):min(h, y1 + my + 1), max(0, x0 - mx):min(w, x1 + mx + 1)] = True
        return box

    def _grabcut(self, img: np.ndarray, prior: np.ndarray, fg: np.ndarray, bg: np.ndarray,
                 allowed: np.ndarray) -> np.ndarray:
        """Binary GrabCut with a probable-foreground prior, sure seeds and a region outside which
        everything is sure background; falls back to the prior."""
        gc = np.where(prior, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
        gc[~allowed] = cv2.GC_BGD
        gc[bg] = cv2.GC_BGD
        gc[fg] = cv2.GC_FGD
        if not (gc == cv2.GC_BGD).any() and not (gc == cv2.GC_PR_BGD).any():
            return prior | fg
        try:
            cv2.setRNGSeed(0)  # GrabCut's k-means init uses OpenCV's global RNG: keep runs repeatable
            bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
            cv2.grabCut(img, gc, None, bgd, fgd, self.grabcut_iters, cv2.GC_INIT_WITH_MASK)
        except cv2.error:
            return (prior | fg) & ~bg
        return (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)

    def _segment_frame(self, f: int, new: list[tuple[int, np.ndarray]]) -> np.ndarray:
        """Label map of annotated frame ``f`` from all its strokes, its previous mask and the new strokes."""
        K = self.n_objects
        img = cv2.cvtColor(self.pre.small[f], cv2.COLOR_RGB2BGR)
        seeds_all = self._raster(self.strokes[f])
        seeds_new = self._raster(new)
        if f in self.masks:
            prev = self.masks[f]
        elif self.labels_small is not None:
            prev = self.labels_small[f]
        else:
            prev = np.zeros(self.work_hw, np.uint8)
        score = np.zeros((K + 1,) + self.work_hw, np.float32)
        for k in range(1, K + 1):
            fg = seeds_all == k
            prev_k = prev == k
            if not fg.any() and not prev_k.any():
                continue
            bg = (seeds_all >= 0) & (seeds_all != k)
            prior = prev_k.copy()
            new_fg = (seeds_new == k) & ~prev_k
            if new_fg.any():
                # a positive stroke outside the current mask: open a box around it (more when the
                # object has little or no mask yet)
                prior |= self._bbox_prior(new_fg if prev_k.any() else fg)
            band = max(4, int(0.04 * max(self.work_hw)))
            allowed = cv2.dilate(prior.astype(np.uint8), np.ones((2 * band + 1,) * 2, np.uint8)) > 0
            mask_k = self._grabcut(img, prior, fg, bg, allowed)
            if prev_k.any():
                # keep only the changes connected to this round's strokes
                mask_k = self._local_changes(prev_k, mask_k, seeds_all, seeds_new, new, k)
            score[k] = mask_k
        # overlaps between objects go to the object that was there before; the strokes themselves win
        claimed = score[1:].sum(0)
        for k in range(1, K + 1):
            score[k] += 0.5 * (prev == k)
        out = np.where(claimed > 0, score.argmax(0), 0).astype(np.uint8)
        valid = seeds_all >= 0
        out[valid] = seeds_all[valid]
        return out

    def _reach(self, strokes: list[tuple[int, np.ndarray]]) -> np.ndarray:
        """Pixels a correction may change: within half its extent (at least a few pixels) of a stroke."""
        reach = np.zeros(self.work_hw, np.uint8)
        for _, px in strokes:
            ext = float(np.hypot(*(px.max(0) - px.min(0))))
            r = int(np.clip(0.5 * ext, 6, 0.15 * max(self.work_hw)))
            cv2.polylines(reach, [px.reshape(-1, 1, 2)], False, 1, thickness=2 * r + 1)
        return reach > 0

    def _local_changes(self, prev_k: np.ndarray, mask_k: np.ndarray, seeds_all: np.ndarray,
                       seeds_new: np.ndarray, new: list, k: int) -> np.ndarray:
        """Apply only the GrabCut changes near and connected to this round's strokes; negative strokes
        always cut."""
        pos_new = seeds_new == k
        neg_new = (seeds_new >= 0) & (seeds_new != k)
        out = prev_k.copy()
        reach = self._reach(new)
        for region, touch, val in ((mask_k & ~prev_k & reach, pos_new, True),
                                   (prev_k & ~mask_k & reach, neg_new & prev_k, False)):
            if not touch.any():
                continue
            _, cc = cv2.connectedComponents((region | touch).astype(np.uint8), connectivity=8)
            ids = np.unique(cc[touch & (cc > 0)])
            out[np.isin(cc, ids) & (region | touch)] = val
        neg_in = neg_new & prev_k
        if neg_in.any() and (prev_k & ~out).sum() < 3 * neg_in.sum():
            # GrabCut kept the over-segmented part (similar colours): cut around the stroke
            out = self._split_by_seeds(out | neg_in, seeds_all, seeds_new, k)
        return out

    @staticmethod
    def _split_by_seeds(mask: np.ndarray, seeds_all: np.ndarray, seeds_new: np.ndarray, k: int) -> np.ndarray:
        """Cut from ``mask`` the part around this round's negative strokes.

        The robot draws a correction along the skeleton of the wrong region, so the region's
        half-width is about the mask's distance-to-border on the stroke: pixels within that radius of
        the stroke are removed, except those closer to one of the object's own strokes.
        """
        neg = (seeds_new >= 0) & (seeds_new != k)
        dt_mask = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
        on = neg & mask
        r = float(dt_mask[on].max()) + 1.0 if on.any() else 0.0
        d_neg = cv2.distanceTransform((~neg).astype(np.uint8), cv2.DIST_L2, 5)
        cut = mask & (d_neg <= r)
        pos = seeds_all == k
        if pos.any():
            d_pos = cv2.distanceTransform((~pos).astype(np.uint8), cv2.DIST_L2, 5)
            cut &= d_neg < d_pos
        return mask & ~cut

    # ------------------------------------------------------------------ propagation
    def _color_model(self) -> np.ndarray:
        """[L, bins^3] posterior P(label | colour bin) from all annotated frames (Laplace smoothed)."""
        L = self.n_objects + 1
        nb = self.color_bins ** 3
        hist = np.ones((L, nb), np.float64) * 0.5
        for f, m in self.masks.items():
            idx = self.pre.color_idx[f]
            for lab in range(L):
                hist[lab] += np.bincount(idx[m == lab], minlength=nb)
        hist /= hist.sum(axis=1, keepdims=True)  # P(colour | label)
        post = hist / np.maximum(hist.sum(axis=0, keepdims=True), _EPS)
        return post.astype(np.float32)

    def _onehot(self, m: np.ndarray) -> np.ndarray:
        L = self.n_objects + 1
        p = (m[None] == np.arange(L)[:, None, None]).astype(np.float32)
        if self.blur_sigma > 0:
            p = np.stack([cv2.GaussianBlur(c, (0, 0), self.blur_sigma) for c in p])
        return _normalise(p)

    def _propagate(self, a: int, stop: int, post: np.ndarray) -> dict[int, np.ndarray]:
        """Soft maps propagated from annotated frame ``a`` towards ``stop`` (exclusive of ``a``)."""
        gx, gy = self.pre.grid
        flow_fw, flow_bw = self.pre.flow_fw, self.pre.flow_bw
        step = 1 if stop > a else -1
        p = self._onehot(self.masks[a])
        out: dict[int, np.ndarray] = {}
        for t in range(a + step, stop + step, step):
            if step == 1:   # pixel in t samples frame t-1 at x + flow(t -> t-1)
                back, fwd = flow_bw[t - 1], flow_fw[t - 1]
            else:           # pixel in t samples frame t+1 at x + flow(t -> t+1)
                back, fwd = flow_fw[t], flow_bw[t]
            mx, my = gx + back[..., 0], gy + back[..., 1]
            hwc = np.ascontiguousarray(p.transpose(1, 2, 0))
            warped = cv2.remap(hwc, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            warped = warped.reshape(warped.shape[:2] + (-1,)).transpose(2, 0, 1)
            # forward-backward consistency: occluded / unreliable pixels lean more on colour
            fb = cv2.remap(fwd, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE) + back
            rel = np.exp(-np.sqrt((fb ** 2).sum(-1)) / self.fb_tol).astype(np.float32)
            prior = rel * warped + (1.0 - rel) / warped.shape[0]
            col = post[:, self.pre.color_idx[t]]
            # re-binarise every step (soft maps diffused step after step shrink the objects)
            lab = _normalise(prior * col ** self.color_weight).argmax(0)
            # the colour model may flood a same-coloured background: an object that grows by more
            # than max_growth in one step keeps its warped shape instead
            warped_lab = prior.argmax(0)
            for k in range(1, prior.shape[0]):
                if (lab == k).sum() > self.max_growth * (warped_lab == k).sum() + 20:
                    lab[lab == k] = 0
                    lab[warped_lab == k] = k
            p = self._onehot(lab)
            out[t] = p
        return out

    def _fuse(self) -> np.ndarray:
        T = self.frames.shape[0]
        L = self.n_objects + 1
        h, w = self.work_hw
        probs = np.zeros((L, T, h, w), np.float32)
        post = self._color_model()
        ann = sorted(self.masks)
        for i, a in enumerate(ann):
            probs[:, a] = self._onehot(self.masks[a])
            lo = ann[i - 1] if i > 0 else 0
            hi = ann[i + 1] if i + 1 < len(ann) else T - 1
            if hi > a:
                for t, p in self._propagate(a, hi - 1 if i + 1 < len(ann) else hi, post).items():
                    wgt = 1.0 if i + 1 == len(ann) else (hi - t) / (hi - a)
                    probs[:, t] += wgt * p
            if lo < a:
                for t, p in self._propagate(a, lo + 1 if i > 0 else lo, post).items():
                    wgt = 1.0 if i == 0 else (t - lo) / (a - lo)
                    probs[:, t] += wgt * p
        return probs

    # ------------------------------------------------------------------ API
    def interact(self, scribbles: dict, annotated_frame: int) -> Prediction:
        if self.frames is None:
            raise BackendError("interact() called before reset()")
        t0 = time.perf_counter()
        new = self._parse(scribbles)
        self._ensure_cache()
        t_cache = time.perf_counter() - t0
        for f, strokes in new.items():
            self.strokes.setdefault(f, []).extend(strokes)
        for f in sorted(new):
            self.masks[f] = self._segment_frame(f, new[f])
        t_seg = time.perf_counter() - t0 - t_cache
        self.round += 1
        T, (H, W) = self.frames.shape[0], self.full_hw
        L = self.n_objects + 1
        if not self.masks:
            small = np.zeros((L, T) + self.work_hw, np.float32)
            small[0] = 1.0
        else:
            small = self._fuse()
        self.labels_small = small.argmax(0).astype(np.uint8)
        t_prop = time.perf_counter() - t0 - t_cache - t_seg
        labels = np.empty((T, H, W), np.uint8 if L <= 256 else np.int32)
        for t in range(T):
            up = cv2.resize(np.ascontiguousarray(small[:, t].transpose(1, 2, 0)), (W, H),
                            interpolation=cv2.INTER_LINEAR)
            if L == 2:  # argmax of two channels (ties to 0), without numpy's generic argmax
                np.greater(up[..., 1], up[..., 0], out=labels[t], casting="unsafe")
            else:
                labels[t] = up.reshape(H, W, -1).argmax(-1)

        def full_probs() -> np.ndarray:
            out = np.empty((L, T, H, W), np.float32)
            for t in range(T):
                up = cv2.resize(np.ascontiguousarray(small[:, t].transpose(1, 2, 0)), (W, H),
                                interpolation=cv2.INTER_LINEAR).reshape(H, W, -1)
                out[:, t] = _normalise(up.transpose(2, 0, 1))
            return out

        info = {"round": self.round, "annotated_frames": sorted(self.masks),
                "seconds": round(time.perf_counter() - t0, 3), "seconds_cache": round(t_cache, 3),
                "seconds_segment": round(t_seg, 3), "seconds_propagate": round(t_prop, 3)}
        if self.verbose:
            print(f"[classic] {self.sequence} round {self.round}: {info}")
        return Prediction(labels=labels, _probs=full_probs, info=info, low_res_probs=small)
