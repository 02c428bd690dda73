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
from dataclasses import asdict
from pathlib import Path
from typing import Iterable

import numpy as np

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


def train_quality(data_dir, out_checkpoint, depth: int = 18, input_size: int = 96, epochs: int = 6,
                  batch_size: int = 64, lr: float = 1e-3, weight_decay: float = 1e-4, seed: int = 0,
                  val_sequences: Iterable[str] | None = None, val_fraction: float = 0.2,
                  train_sequences: Iterable[str] | None = None, samples_per_epoch: int | None = None,
                  balance: bool = True, resume: bool = True, log_csv=None, tensorboard: bool = False,
                  device: str = "auto", select: str = "last", threads: int | None = None,
                  time_budget_s: float | None = None, progress: bool = True, command: str | None = None,
                  val_max_samples: int | None = 2000, fp16: bool = False,
                  augment: str = "basic", geometry: bool = False,
                  corrupt_fraction: float | None = None, image: str = "rgb") -> dict:
    """Train the QA network; returns the final checkpoint's ``meta`` (metrics, epochs, sequences...).

    ``geometry`` gives the network the crops' size relative to the image (see
    :class:`~ivosw_bench.quality.model.GeometryQANet`; needs chunks with boxes).
    ``image``: ``"rgb"`` or ``"edges"`` (see :func:`~ivosw_bench.quality.model.to_input`).
    ``corrupt_fraction`` sets the share of corrupted-GT samples (:mod:`.corrupt`) in each epoch's draws
    (default: their share of the data).
    ``val_max_samples`` caps the per-epoch validation (a seeded subset); the final metrics are computed
    on the whole validation set of the selected epoch. ``fp16`` stores the final weights in half
    precision (loaded back as float32). The resumable training state goes to ``<out>.state.pt`` and the
    log to ``<out stem>.log.csv`` (unless ``log_csv``): write ``out`` to a scratch folder and copy it.
    """
    import torch

    if select not in ("last", "best"):
        raise ValueError("select must be 'last' or 'best'")
    if augment not in ("basic", "strong", "none"):
        raise ValueError("augment must be 'basic', 'strong' or 'none'")
    if threads:
        torch.set_num_threads(int(threads))
    t_start = time.perf_counter()
    out = Path(out_checkpoint)
    state_path = out.with_name(out.name + ".state.pt")
    log_csv = Path(log_csv) if log_csv else out.with_name(out.stem + ".log.csv")
    dev = pick_device(device)

    data = load_chunks(data_dir, sequences=train_sequences)
    if train_sequences is not None and val_sequences is not None:
        data_val_extra = load_chunks(data_dir, sequences=val_sequences)
    else:
        data_val_extra = None
    if geometry and (data["geometry"] is None or (data_val_extra is not None and data_val_extra["geometry"] is None)):
        raise QualityError(f"{data_dir}: chunks without boxes (written by an older qa-samples): "
                           f"regenerate them or train with --no-geometry")
    train_seqs, val_seqs = _split(data, val_sequences, val_fraction, seed)
    seq_names = np.asarray(data["sequences"])
    in_train = np.isin(seq_names[data["seq"]], train_seqs)
    tr_crops, tr_jf = data["crops"][in_train], data["jf"][in_train]
    tr_real = from_backend(data)[in_train]
    tr_geom = data["geometry"][in_train] if geometry else None
    if data_val_extra is not None:
        real = from_backend(data_val_extra)
        va_crops, va_jf = data_val_extra["crops"][real], data_val_extra["jf"][real]
        va_geom = data_val_extra["geometry"][real] if geometry else None
        va_empty = data_val_extra["empty_jf"]
    else:
        in_val = np.isin(seq_names[data["seq"]], val_seqs) & from_backend(data)
        va_crops, va_jf = data["crops"][in_val], data["jf"][in_val]
        va_geom = data["geometry"][in_val] if geometry else None
        va_empty = None  # empties are stored per chunk: collected below
    # empty predictions: constant quality = mean true J&F of the empty predictions of the training chunks
    tr_empty, va_empty_l = [], []
    for f in chunk_files(data_dir):
        seq = f.name.split("__")[0]
        if seq in train_seqs or seq in val_seqs:
            with np.load(f) as z:
                (tr_empty if seq in train_seqs else va_empty_l).append(z["empty_jf"])
    tr_empty = np.concatenate(tr_empty) if tr_empty else np.zeros(0, np.float32)
    if data_val_extra is None:
        va_empty = np.concatenate(va_empty_l) if va_empty_l else np.zeros(0, np.float32)
    empty_q = float(tr_empty.mean()) if len(tr_empty) else 0.0

    crop_size = int(tr_crops.shape[1])
    cfg = QAConfig(depth=depth, input_size=input_size, crop_size=crop_size, empty_quality=empty_q,
                   geometry=bool(geometry), image=image)
    torch.manual_seed(seed)
    net = build_net(depth, cfg.geometry).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    n_per_epoch = int(samples_per_epoch or len(tr_jf))
    steps_per_epoch = max(1, math.ceil(n_per_epoch / batch_size))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(1.0, s / (epochs * steps_per_epoch)))))
    history: list[dict] = []
    start_epoch = 0
    best = {"epoch": -1, "pcc": -np.inf, "state": None}
    if resume and state_path.exists():
        st = torch.load(state_path, map_location="cpu", weights_only=False)
        if st["config"] != asdict(cfg) or st.get("train_sequences") != train_seqs:
            raise QualityError(f"{state_path}: training state of another configuration or split; "
                             f"delete it or pass --no-resume")
        net.load_state_dict(st["net"])
        opt.load_state_dict(st["opt"])
        sched.load_state_dict(st["sched"])
        start_epoch, history = st["epoch"], st["history"]
        best = st.get("best", best)
    elif log_csv.exists():
        log_csv.unlink()

    writer = None
    if tensorboard:
        try:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(out.with_name(out.stem + ".tb")))
        except ImportError:
            writer = None

    weights = _weights(tr_jf, balance)
    if corrupt_fraction is not None and tr_real.any() and (~tr_real).any():
        # each source keeps its own (balanced) distribution; corrupted GT gets corrupt_fraction of the draws
        weights = np.where(tr_real, weights / weights[tr_real].sum() * (1 - corrupt_fraction),
                           weights / weights[~tr_real].sum() * corrupt_fraction)
    val_rng = np.random.default_rng(seed + 1)
    val_idx = np.arange(len(va_jf))
    if val_max_samples and len(val_idx) > val_max_samples:
        val_idx = np.sort(val_rng.choice(val_idx, val_max_samples, replace=False))
    tr_crops_t = torch.from_numpy(tr_crops)
    tr_jf_t = torch.from_numpy(tr_jf.astype(np.float32))
    tr_geom_t = torch.from_numpy(tr_geom) if geometry else None

    bar = None
    if progress:
        from ..progress import make_bar

        bar = make_bar("train-quality")
        bar.start()
        task = bar.add_task("", total=(epochs - start_epoch) * steps_per_epoch)
    try:
        for epoch in range(start_epoch, epochs):
            if time_budget_s is not None and time.perf_counter() - t_start > time_budget_s and epoch > start_epoch:
                break
            t0 = time.perf_counter()
            gen = torch.Generator().manual_seed(seed * 1000 + epoch)
            rng = np.random.default_rng([seed, epoch])
            if balance or corrupt_fraction is not None:
                order = rng.choice(len(tr_jf), size=n_per_epoch, replace=True, p=weights)
            else:
                order = rng.permutation(len(tr_jf))[:n_per_epoch]
            net.train()
            total, count = 0.0, 0
            for s in range(steps_per_epoch):
                idx = torch.from_numpy(order[s * batch_size:(s + 1) * batch_size])
                if len(idx) == 0:
                    continue
                x = to_input(tr_crops_t[idx], cfg, dev)
                if augment != "none":
                    x = _augment(x, gen, augment, image)
                y = tr_jf_t[idx].to(dev)
                g = tr_geom_t[idx].to(dev) if geometry else None
                loss = torch.nn.functional.mse_loss(torch.sigmoid(forward(net, x, g)).squeeze(1), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                total += float(loss.detach()) * len(idx)
                count += len(idx)
                if bar is not None:
                    bar.update(task, advance=1, description=f"epoch {epoch + 1}/{epochs} loss {total / count:.4f}")
            row = {"epoch": epoch + 1, "train_mse": total / max(count, 1), "lr": sched.get_last_lr()[0],
                   "seconds": round(time.perf_counter() - t0, 1)}
            if len(val_idx):
                pv = predict(net, va_crops[val_idx], cfg, dev, va_geom[val_idx] if geometry else None, 128)
                m = metrics(pv, va_jf[val_idx])
                row.update(val_pcc=m["pcc"], val_mse=m["mse"], val_n=m["n"])
            history.append(row)
            new_file = not log_csv.exists()
            log_csv.parent.mkdir(parents=True, exist_ok=True)
            with log_csv.open("a", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=list(row))
                if new_file:
                    w.writeheader()
                w.writerow(row)
            if writer is not None:
                for k, v in row.items():
                    if k != "epoch":
                        writer.add_scalar(k, v, epoch + 1)
            if bar is not None:
                bar.console.print(f"epoch {epoch + 1}: " + ", ".join(
                    f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))
            vp = row.get("val_pcc", float("nan"))
            if best["state"] is None or (np.isfinite(vp) and vp > best["pcc"]):
                best = {"epoch": epoch + 1, "pcc": vp if np.isfinite(vp) else -np.inf,
                        "state": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}}
            st = {"config": asdict(cfg), "train_sequences": train_seqs, "net": net.state_dict(),
                  "opt": opt.state_dict(), "sched": sched.state_dict(), "epoch": epoch + 1,
                  "history": history, "best": best}
            tmp = state_path.with_name(state_path.name + ".tmp")
            torch.save(st, tmp)
            tmp.replace(state_path)
    finally:
        if bar is not None:
            bar.stop()
        if writer is not None:
            writer.close()

    if select == "best" and best["state"] is not None:
        net.load_state_dict(best["state"])
        chosen = best["epoch"]
    else:
        chosen = history[-1]["epoch"] if history else 0
    final = {}
    if len(va_jf):
        pv = predict(net, va_crops, cfg, dev, va_geom, 128)
        final = {"objects_with_pixels": metrics(pv, va_jf),
                 "all": metrics(*_with_empty(pv, va_jf, va_empty, empty_q)),
                 "n_empty": int(len(va_empty))}
    meta = {"trained_on": {"data_dir": str(Path(data_dir).resolve()), "train_sequences": train_seqs,
                           "val_sequences": val_seqs, "n_train": int(len(tr_jf)), "n_val": int(len(va_jf)),
                           "n_train_empty": int(len(tr_empty)),
                           "backends": sorted({m["backend"] for m in data["metas"]}),
                           "policies": sorted({m["policy"] for m in data["metas"]}),
                           "train_jf_mean": float(tr_jf.mean()), "train_jf_std": float(tr_jf.std())},
            "hyper": {"depth": depth, "input_size": input_size, "epochs": epochs, "batch_size": batch_size,
                      "lr": lr, "weight_decay": weight_decay, "seed": seed, "balance": balance, "augment": augment,
                      "geometry": bool(geometry), "image": image, "corrupt_fraction": corrupt_fraction,
                      "n_train_corrupt": int((~tr_real).sum()),
                      "samples_per_epoch": n_per_epoch, "select": select, "device": str(dev),
                      "threads": torch.get_num_threads()},
            "history": history, "selected_epoch": chosen, "val_metrics": final,
            "wall_s": round(time.perf_counter() - t_start, 1), "command": command,
            "machine": platform.processor() or platform.machine(), "torch": torch.__version__}
    model = QualityModel(cfg, net, meta=meta, device=str(dev))
    model.save(out, fp16=fp16)
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
