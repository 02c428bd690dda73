"""Training and evaluation of the QA network on the chunks written by :mod:`.samples`.

    train_quality("/tmp/qa-data", "weights/quality-classic.pt", val_sequences=HELDOUT_DAVIS16)
    eval_quality("weights/quality-classic.pt", "/tmp/qa-data", sequences=HELDOUT_DAVIS16)

Training: MSE between sigmoid output and true J&F, Adam with cosine learning-rate decay, seeded
(torch, numpy, sampling order), batch augmentation (random horizontal flip, small per-sample
brightness/contrast jitter of the RGB channels; ``augment="strong"`` adds vertical flips, channel
permutation, grayscale and a random similarity warp of the crop). The J&F distribution is skewed to high values
(paper, sec. 4), so by default each epoch draws ``samples_per_epoch`` samples with replacement,
weighted by 1/sqrt(count of the sample's J&F decile bin): low-quality predictions are seen more often
without discarding the many good ones.

After every epoch: the validation PCC / MSE are computed, a CSV row is appended to ``log_csv``
(TensorBoard too when asked and installed), and the full training state (network, optimiser, epoch,
history) is written to ``<out>.state.pt`` so that ``resume=True`` continues from the last finished
epoch. The deliverable ``<out>`` is a model checkpoint (see
:class:`~ivosw_bench.quality.model.QualityModel`) with its config (depth, input/crop size,
normalisation, ``empty_quality``) and ``meta`` (training/validation sequences, data, epochs, metrics,
wall time, selected epoch). ``select="best"`` keeps the epoch with the best validation PCC (the
validation set then chooses the epoch: say so when reporting held-out numbers), ``"last"`` the last.
"""
from __future__ import annotations

import csv
import json
import math
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from ..files import atomic_open
from .base import QualityError
from .model import QAConfig, QualityModel, build_net, forward, pick_device, predict, to_input
from .samples import chunk_files, from_backend, load_chunks


def metrics(pred: np.ndarray, true: np.ndarray) -> dict:
    """Pearson correlation and mean squared error (the paper's Table 3)."""
    pred, true = np.asarray(pred, np.float64), np.asarray(true, np.float64)
    n = int(len(pred))
    if n < 2 or pred.std() == 0 or true.std() == 0:
        pcc = float("nan")
    else:
        pcc = float(np.corrcoef(pred, true)[0, 1])
    mse = float(np.mean((pred - true) ** 2)) if n else float("nan")
    return {"pcc": pcc, "mse": mse, "n": n}


def _split(data: dict, val_sequences, val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    names = list(data["sequences"])
    if val_sequences is not None:
        val = [s for s in names if s in set(val_sequences)]
    else:
        rng = np.random.default_rng(seed)
        n_val = int(round(val_fraction * len(names)))
        val = sorted(rng.choice(sorted(names), size=n_val, replace=False).tolist()) if n_val else []
    train = [s for s in names if s not in set(val)]
    if not train:
        raise QualityError("no training sequences left after the validation split")
    return sorted(train), sorted(val)


def _augment(x, gen, strength: str = "basic", image: str = "rgb"):
    """On a normalised batch [B, 4, s, s] (in place where possible).

    With ``image="edges"`` (channels: grey, d/dx, d/dy) a horizontal flip negates d/dx, a vertical one
    d/dy, and the brightness offset only touches the grey level (gain scales all three).

    ``basic``: random horizontal flip, RGB brightness/contrast jitter (+-10 %).
    ``strong`` (for few training videos: pushes the network to judge the mask against the image
    instead of recognising the video): also vertical flip, RGB channel permutation, grayscale
    (p = 0.2), stronger jitter (+-25 %), and a random similarity warp of the crop (scale 0.87-1.15,
    shift +-8 %: a jittered 1.5x box) applied identically to RGB and probability.
    """
    import torch
    import torch.nn.functional as F

    b = x.shape[0]
    edges = image == "edges"
    flip = torch.rand(b, generator=gen) < 0.5
    if flip.any():
        x[flip] = x[flip].flip(-1)
        if edges:
            x[flip, 1] = -x[flip, 1]
    amp = 0.5 if strength == "strong" else 0.2
    gain = 1.0 + amp * (torch.rand(b, 1, 1, 1, generator=gen) - 0.5)
    bias = amp * (torch.rand(b, 1, 1, 1, generator=gen) - 0.5)
    if strength == "strong":
        vflip = torch.rand(b, generator=gen) < 0.5
        if vflip.any():
            x[vflip] = x[vflip].flip(-2)
            if edges:
                x[vflip, 2] = -x[vflip, 2]
        perm = torch.rand(b, generator=gen) < 0.5
        if perm.any() and not edges:
            x[perm, :3] = x[perm][:, torch.randperm(3, generator=gen)]
        gray = torch.rand(b, generator=gen) < 0.2
        if gray.any() and not edges:
            x[gray, :3] = x[gray, :3].mean(1, keepdim=True).expand(-1, 3, -1, -1)
        scale = 0.87 + 0.28 * torch.rand(b, generator=gen)
        shift = 0.16 * (torch.rand(b, 2, generator=gen) - 0.5)
        theta = torch.zeros(b, 2, 3)
        theta[:, 0, 0] = scale
        theta[:, 1, 1] = scale
        theta[:, :, 2] = shift
        grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if edges:
        x[:, :3] = x[:, :3] * gain.to(x.device)
        x[:, :1] = x[:, :1] + bias.to(x.device)
    else:
        x[:, :3] = x[:, :3] * gain.to(x.device) + bias.to(x.device)
    return x


def _weights(jf: np.ndarray, balance: bool) -> np.ndarray:
    if not balance:
        return np.ones(len(jf), np.float64)
    bins = np.clip((jf * 10).astype(int), 0, 9)
    counts = np.bincount(bins, minlength=10).astype(np.float64)
    w = 1.0 / np.sqrt(np.maximum(counts[bins], 1.0))
    return w / w.sum()


def _with_empty(pred: np.ndarray, true: np.ndarray, empty_jf: np.ndarray, empty_q: float):
    return (np.concatenate([pred, np.full(len(empty_jf), empty_q, np.float32)]),
            np.concatenate([true, empty_jf]))


@dataclass
class QATrainConfig:
    """Every option of QA-network training; the CLI (``train-quality``) and the library share it.

    Defaults are the shipped recipe (``weights/quality-classic.json``): ResNet-18 at 96 px, edge
    channels, crop geometry, balanced sampling."""

    depth: int = 18
    input_size: int = 96
    epochs: int = 6
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    augment: str = "basic"          # basic / strong / none (see _augment)
    geometry: bool = True           # crop size relative to the image joins the features (needs boxes)
    image: str = "edges"            # rgb / edges (see model.to_input)
    corrupt_fraction: float | None = None  # share of corrupted-GT draws per epoch (None: their share)
    val_sequences: list[str] | None = None  # None: val_fraction of the sequences at random
    val_fraction: float = 0.2
    train_sequences: list[str] | None = None
    samples_per_epoch: int | None = None  # None: the number of training samples
    balance: bool = True            # oversample rare J&F values
    select: str = "last"            # last / best (best: the validation set chooses the epoch)
    resume: bool = True
    fp16: bool = False              # store the final weights in half precision
    tensorboard: bool = False
    device: str = "auto"
    threads: int | None = None
    time_budget_s: float | None = None
    val_max_samples: int | None = 2000  # cap of the per-epoch validation (a seeded subset)
    log_csv: str | None = None      # default: <out stem>.log.csv

    def check(self) -> None:
        """QualityError (one line naming the option) on a bad value."""
        choices = {"select": ("last", "best"), "augment": ("basic", "strong", "none"), "image": ("rgb", "edges")}
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise QualityError(f"--{key} must be one of {', '.join(allowed)}, not {getattr(self, key)!r}")
        if self.depth not in (18, 34, 50):
            raise QualityError(f"--depth must be 18, 34 or 50, not {self.depth}")
        for key in ("input_size", "epochs", "batch_size"):
            if getattr(self, key) < 1:
                raise QualityError(f"--{key.replace('_', '-')} must be >= 1, not {getattr(self, key)}")
        if self.corrupt_fraction is not None and not 0 <= self.corrupt_fraction <= 1:
            raise QualityError(f"--corrupt-fraction must be in [0, 1], not {self.corrupt_fraction}")


@dataclass
class _Split:
    """Training and validation arrays of one run (validation: backend chunks only)."""

    train_seqs: list[str]
    val_seqs: list[str]
    tr_crops: np.ndarray
    tr_jf: np.ndarray
    tr_real: np.ndarray
    tr_geom: np.ndarray | None
    va_crops: np.ndarray
    va_jf: np.ndarray
    va_geom: np.ndarray | None
    tr_empty: np.ndarray
    va_empty: np.ndarray
    metas: list


def _empty_jf(data_dir, sequences) -> np.ndarray:
    """True J&F of the empty predictions stored in the chunks of ``sequences``."""
    out = []
    for f in chunk_files(data_dir):
        if f.name.split("__")[0] in sequences:
            with np.load(f) as z:
                out.append(z["empty_jf"])
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def _load_split(cfg: QATrainConfig, data_dir) -> _Split:
    data = load_chunks(data_dir, sequences=cfg.train_sequences)
    separate = cfg.train_sequences is not None and cfg.val_sequences is not None
    val_data = load_chunks(data_dir, sequences=cfg.val_sequences) if separate else None
    if cfg.geometry and (data["geometry"] is None or (val_data is not None and val_data["geometry"] is None)):
        raise QualityError(f"{data_dir}: chunks without boxes (written by an older qa-samples): "
                           f"regenerate them or train with --no-geometry")
    train_seqs, val_seqs = _split(data, cfg.val_sequences, cfg.val_fraction, cfg.seed)
    in_train = np.isin(np.asarray(data["sequences"])[data["seq"]], train_seqs)
    if val_data is None:  # validation from the same chunks, backend predictions only
        val_data, val_sel = data, np.isin(np.asarray(data["sequences"])[data["seq"]], val_seqs) & from_backend(data)
    else:
        val_sel = from_backend(val_data)
    geom = (lambda d, sel: d["geometry"][sel]) if cfg.geometry else (lambda d, sel: None)
    return _Split(train_seqs, val_seqs, data["crops"][in_train], data["jf"][in_train],
                  from_backend(data)[in_train], geom(data, in_train), val_data["crops"][val_sel],
                  val_data["jf"][val_sel], geom(val_data, val_sel), _empty_jf(data_dir, train_seqs),
                  _empty_jf(data_dir, val_seqs), data["metas"])


def _draw_weights(cfg: QATrainConfig, sp: _Split) -> np.ndarray:
    """Per-sample draw probabilities: balanced by J&F decile; corrupted GT gets corrupt_fraction."""
    weights = _weights(sp.tr_jf, cfg.balance)
    frac, real = cfg.corrupt_fraction, sp.tr_real
    if frac is not None and real.any() and (~real).any():
        weights = np.where(real, weights / weights[real].sum() * (1 - frac), weights / weights[~real].sum() * frac)
    return weights


def _epoch_order(cfg: QATrainConfig, epoch: int, n: int, weights: np.ndarray, n_per_epoch: int) -> np.ndarray:
    rng = np.random.default_rng([cfg.seed, epoch])
    if cfg.balance or cfg.corrupt_fraction is not None:
        return rng.choice(n, size=n_per_epoch, replace=True, p=weights)
    return rng.permutation(n)[:n_per_epoch]


class _Log:
    """Per-epoch rows to ``log_csv`` (and TensorBoard when asked and installed)."""

    def __init__(self, path: Path, tensorboard: bool, tb_dir: Path):
        self.path, self.writer = path, None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(tb_dir))
            except ImportError:
                self.writer = None

    def row(self, row: dict) -> None:
        new_file = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(row))
            if new_file:
                w.writeheader()
            w.writerow(row)
        if self.writer is not None:
            for k, v in row.items():
                if k != "epoch":
                    self.writer.add_scalar(k, v, row["epoch"])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class _QATrainer:
    """The training loop of :func:`train_quality` (network, optimiser, schedule, resumable state)."""

    def __init__(self, cfg: QATrainConfig, sp: _Split, qa: QAConfig, out: Path):
        import torch

        self.cfg, self.sp, self.qa = cfg, sp, qa
        self.dev = pick_device(cfg.device)
        self.state_path = out.with_name(out.name + ".state.pt")
        torch.manual_seed(cfg.seed)
        self.net = build_net(cfg.depth, qa.geometry).to(self.dev)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.n_per_epoch = int(cfg.samples_per_epoch or len(sp.tr_jf))
        self.steps = max(1, math.ceil(self.n_per_epoch / cfg.batch_size))
        total = cfg.epochs * self.steps
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(1.0, s / total))))
        self.history: list[dict] = []
        self.start_epoch = 0
        self.best = {"epoch": -1, "pcc": -np.inf, "state": None}
        self.weights = _draw_weights(cfg, sp)
        idx = np.arange(len(sp.va_jf))
        if cfg.val_max_samples and len(idx) > cfg.val_max_samples:
            idx = np.sort(np.random.default_rng(cfg.seed + 1).choice(idx, cfg.val_max_samples, replace=False))
        self.val_idx = idx

    def resume(self) -> bool:
        import torch

        if not self.state_path.exists():
            return False
        st = torch.load(self.state_path, map_location="cpu", weights_only=False)
        if st["config"] != asdict(self.qa) or st.get("train_sequences") != self.sp.train_seqs:
            raise QualityError(f"{self.state_path}: training state of another configuration or split; "
                               f"delete it or pass --no-resume")
        self.net.load_state_dict(st["net"])
        self.opt.load_state_dict(st["opt"])
        self.sched.load_state_dict(st["sched"])
        self.start_epoch, self.history = st["epoch"], st["history"]
        self.best = st.get("best", self.best)
        return True

    def epoch(self, epoch: int, on_step) -> dict:
        """Train one epoch; returns its log row (with validation PCC / MSE)."""
        import torch

        cfg, sp = self.cfg, self.sp
        t0 = time.perf_counter()
        gen = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        order = _epoch_order(cfg, epoch, len(sp.tr_jf), self.weights, self.n_per_epoch)
        crops, jf = torch.from_numpy(sp.tr_crops), torch.from_numpy(sp.tr_jf.astype(np.float32))
        geom = torch.from_numpy(sp.tr_geom) if cfg.geometry else None
        self.net.train()
        total, count = 0.0, 0
        for s in range(self.steps):
            idx = torch.from_numpy(order[s * cfg.batch_size:(s + 1) * cfg.batch_size])
            if len(idx) == 0:
                continue
            x = to_input(crops[idx], self.qa, self.dev)
            if cfg.augment != "none":
                x = _augment(x, gen, cfg.augment, cfg.image)
            g = geom[idx].to(self.dev) if geom is not None else None
            loss = torch.nn.functional.mse_loss(torch.sigmoid(forward(self.net, x, g)).squeeze(1),
                                                jf[idx].to(self.dev))
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.sched.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
            on_step(f"epoch {epoch + 1}/{cfg.epochs} loss {total / count:.4f}")
        row = {"epoch": epoch + 1, "train_mse": total / max(count, 1), "lr": self.sched.get_last_lr()[0],
               "seconds": round(time.perf_counter() - t0, 1)}
        if len(self.val_idx):
            g = sp.va_geom[self.val_idx] if cfg.geometry else None
            m = metrics(predict(self.net, sp.va_crops[self.val_idx], self.qa, self.dev, g, 128), sp.va_jf[self.val_idx])
            row.update(val_pcc=m["pcc"], val_mse=m["mse"], val_n=m["n"])
        self.history.append(row)
        self._keep_best(row)
        return row

    def _keep_best(self, row: dict) -> None:
        vp = row.get("val_pcc", float("nan"))
        if self.best["state"] is None or (np.isfinite(vp) and vp > self.best["pcc"]):
            self.best = {"epoch": row["epoch"], "pcc": vp if np.isfinite(vp) else -np.inf,
                         "state": {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()}}

    def save_state(self, epoch: int) -> None:
        import torch

        st = {"config": asdict(self.qa), "train_sequences": self.sp.train_seqs, "net": self.net.state_dict(),
              "opt": self.opt.state_dict(), "sched": self.sched.state_dict(), "epoch": epoch,
              "history": self.history, "best": self.best}
        with atomic_open(self.state_path, "wb") as fh:
            torch.save(st, fh)

    def select(self) -> int:
        """Load the selected epoch's weights (``select``); returns its number."""
        if self.cfg.select == "best" and self.best["state"] is not None:
            self.net.load_state_dict(self.best["state"])
            return self.best["epoch"]
        return self.history[-1]["epoch"] if self.history else 0

    def final_metrics(self) -> dict:
        sp = self.sp
        if not len(sp.va_jf):
            return {}
        pv = predict(self.net, sp.va_crops, self.qa, self.dev, sp.va_geom, 128)
        return {"objects_with_pixels": metrics(pv, sp.va_jf),
                "all": metrics(*_with_empty(pv, sp.va_jf, sp.va_empty, self.qa.empty_quality)),
                "n_empty": int(len(sp.va_empty))}


def _meta(cfg: QATrainConfig, sp: _Split, data_dir, trainer: _QATrainer, chosen: int, final: dict,
          wall: float, command: str | None) -> dict:
    import torch

    hyper = {k: v for k, v in asdict(cfg).items() if k not in ("val_sequences", "train_sequences", "log_csv")}
    hyper.update(n_train_corrupt=int((~sp.tr_real).sum()), samples_per_epoch=trainer.n_per_epoch,
                 device=str(trainer.dev), threads=torch.get_num_threads())
    return {"trained_on": {"data_dir": str(Path(data_dir).resolve()), "train_sequences": sp.train_seqs,
                           "val_sequences": sp.val_seqs, "n_train": int(len(sp.tr_jf)), "n_val": int(len(sp.va_jf)),
                           "n_train_empty": int(len(sp.tr_empty)),
                           "backends": sorted({m["backend"] for m in sp.metas}),
                           "policies": sorted({m["policy"] for m in sp.metas}),
                           "train_jf_mean": float(sp.tr_jf.mean()), "train_jf_std": float(sp.tr_jf.std())},
            "hyper": hyper, "history": trainer.history, "selected_epoch": chosen, "val_metrics": final,
            "wall_s": round(wall, 1), "command": command,
            "machine": platform.processor() or platform.machine(), "torch": torch.__version__}


def train_quality(data_dir, out_checkpoint, cfg: QATrainConfig | None = None, progress: bool = True,
                  command: str | None = None) -> dict:
    """Train the QA network on the chunks of ``data_dir`` into ``out_checkpoint``; returns the
    checkpoint's ``meta`` (metrics, epochs, sequences...).

    The resumable training state goes to ``<out>.state.pt`` and the per-epoch log to ``<out stem>.log.csv``
    (write ``out`` to a scratch folder and copy it). Objects with no predicted pixel get the constant
    ``empty_quality`` = mean true J&F of the training chunks' empty predictions.
    """
    import torch

    cfg = cfg or QATrainConfig()
    cfg.check()
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    t_start = time.perf_counter()
    out = Path(out_checkpoint)
    sp = _load_split(cfg, data_dir)
    empty_q = float(sp.tr_empty.mean()) if len(sp.tr_empty) else 0.0
    qa = QAConfig(depth=cfg.depth, input_size=cfg.input_size, crop_size=int(sp.tr_crops.shape[1]),
                  empty_quality=empty_q, geometry=bool(cfg.geometry), image=cfg.image)
    trainer = _QATrainer(cfg, sp, qa, out)
    log_csv = Path(cfg.log_csv) if cfg.log_csv else out.with_name(out.stem + ".log.csv")
    if not (cfg.resume and trainer.resume()) and log_csv.exists():
        log_csv.unlink()
    log = _Log(log_csv, cfg.tensorboard, out.with_name(out.stem + ".tb"))
    bar = None
    if progress:
        from ..progress import make_bar

        bar = make_bar("train-quality")
        bar.start()
        task = bar.add_task("", total=(cfg.epochs - trainer.start_epoch) * trainer.steps)
    on_step = (lambda d: bar.update(task, advance=1, description=d)) if bar is not None else (lambda d: None)
    try:
        for epoch in range(trainer.start_epoch, cfg.epochs):
            if cfg.time_budget_s is not None and time.perf_counter() - t_start > cfg.time_budget_s \
                    and epoch > trainer.start_epoch:
                break
            row = trainer.epoch(epoch, on_step)
            log.row(row)
            if bar is not None:
                bar.console.print(f"epoch {epoch + 1}: " + ", ".join(
                    f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))
            trainer.save_state(epoch + 1)
    finally:
        if bar is not None:
            bar.stop()
        log.close()
    chosen = trainer.select()
    meta = _meta(cfg, sp, data_dir, trainer, chosen, trainer.final_metrics(), time.perf_counter() - t_start,
                 command)
    QualityModel(qa, trainer.net, meta=meta, device=str(trainer.dev)).save(out, fp16=cfg.fp16)
    return meta


def within_round(pred, true, chunk, rnd, obj) -> dict:
    """What a Worst strategy sees: per (chunk, round, object) group of frames, the PCC between predicted
    and true J&F across frames (mean over groups), and the true J&F of the frame picked by the
    predicted argmin vs the true worst frame and the group mean (a random pick)."""
    keys = np.stack([chunk, rnd, obj], 1)
    _, inv = np.unique(keys, axis=0, return_inverse=True)
    inv = inv.ravel()
    pccs, picked, worst, mean = [], [], [], []
    for g in range(inv.max() + 1 if len(inv) else 0):
        sel = inv == g
        p, t = pred[sel], true[sel]
        if len(p) < 3:
            continue
        if p.std() > 0 and t.std() > 0:
            pccs.append(np.corrcoef(p, t)[0, 1])
        picked.append(t[np.argmin(p)])
        worst.append(t.min())
        mean.append(t.mean())
    f = lambda v: float(np.mean(v)) if len(v) else float("nan")  # noqa: E731
    return {"mean_pcc": f(pccs), "groups": len(picked), "true_jf_of_predicted_worst": f(picked),
            "true_jf_of_true_worst": f(worst), "true_jf_mean_frame": f(mean)}


def eval_quality(checkpoint=None, data_dir=None, sequences: Iterable[str] | None = None,
                 dataset=None, backend: str = "classic", policies=("worst-oracle",), rounds: int = 8,
                 device: str = "auto", progress: bool = True) -> dict:
    """PCC and MSE of a checkpoint's predictions against the true J&F, per backend and overall.

    Either ``data_dir`` (chunks of :mod:`.samples`, optionally only ``sequences``) or ``dataset`` +
    ``sequences`` + ``backend``: the chunks are then generated into a temporary folder first.
    ``objects_with_pixels`` counts only (frame, object) pairs with a predicted box; ``all`` also the
    empty predictions (predicted ``empty_quality``). The top-level pcc/mse/n are ``all``.
    """
    import tempfile

    from .samples import generate_samples

    model = QualityModel.load(checkpoint, device=device)
    tmp = None
    if data_dir is None:
        if dataset is None:
            raise ValueError("eval_quality needs data_dir or dataset")
        tmp = tempfile.TemporaryDirectory(prefix="qa-eval-")
        data_dir = tmp.name
        generate_samples(dataset, data_dir, sequences=list(sequences) if sequences else None,
                         backend=backend, policies=policies, rounds=rounds,
                         size=model.cfg.crop_size, progress=progress)
    try:
        data = load_chunks(data_dir, sequences=sequences)
        real = from_backend(data)  # corrupted-GT chunks are training material, not an evaluation
        if not real.any():
            raise QualityError(f"{data_dir}: no backend chunks to evaluate (only corrupted ground truth)")
        for k in ("crops", "jf", "frame", "obj", "round", "seq", "chunk", "geometry"):
            if data[k] is not None:
                data[k] = data[k][real]
        if model.cfg.geometry and data["geometry"] is None:
            raise QualityError(f"{data_dir}: chunks without boxes (written by an older qa-samples), but "
                               f"{checkpoint or 'the shipped network'} needs the crop geometry: regenerate them")
        pred = model.predict_crops(data["crops"], data["geometry"])
        sample_backend = np.asarray([m["backend"] for m in data["metas"]])[data["chunk"]]
        empties: dict[str, list] = {}
        for f in chunk_files(data_dir):
            seq = f.name.split("__")[0]
            if sequences is None or seq in set(sequences):
                with np.load(f) as z:
                    be = json.loads(str(z["meta"]))["backend"]
                    if be != "corrupt":
                        empties.setdefault(be, []).append(z["empty_jf"])
        result: dict = {"checkpoint": str(checkpoint or "shipped"), "sequences": data["sequences"],
                        "per_backend": {}}
        for be in sorted(set(sample_backend)):
            sel = sample_backend == be
            e = np.concatenate(empties.get(be, [np.zeros(0, np.float32)]))
            result["per_backend"][be] = {
                "objects_with_pixels": metrics(pred[sel], data["jf"][sel]),
                "all": metrics(*_with_empty(pred[sel], data["jf"][sel], e, model.cfg.empty_quality))}
        e_all = np.concatenate([np.concatenate(v) for v in empties.values()]) if empties else np.zeros(0)
        result["objects_with_pixels"] = metrics(pred, data["jf"])
        result.update(metrics(*_with_empty(pred, data["jf"], e_all.astype(np.float32), model.cfg.empty_quality)))
        per_seq = {}
        names = np.asarray(data["sequences"])
        for i, s in enumerate(names):
            sel = data["seq"] == i
            per_seq[str(s)] = metrics(pred[sel], data["jf"][sel])
        result["per_sequence"] = per_seq
        result["within_round"] = within_round(pred, data["jf"], data["chunk"], data["round"], data["obj"])
        return result
    finally:
        if tmp is not None:
            tmp.cleanup()
