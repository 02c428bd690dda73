"""Server-side pictures for the human study: segmentation overlays, JPEG thumbnails, contact sheets.

The overlay is what the participant judges: the backend's labels coloured with the DAVIS palette,
alpha-blended over the RGB frame, with the object contours drawn opaque so that thin or small
objects stay visible. No ground truth is ever drawn.
"""
from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ALPHA = 0.5


@lru_cache(maxsize=1)
def davis_palette() -> np.ndarray:
    """The DAVIS / PASCAL-VOC palette as a [256, 3] uint8 array (1 = (128, 0, 0), 2 = (0, 128, 0)...)."""
    from ..data.synthetic import DAVIS_PALETTE

    return np.frombuffer(DAVIS_PALETTE, np.uint8).reshape(256, 3).copy()


def _contours(labels: np.ndarray) -> np.ndarray:
    """Boolean mask of pixels whose 4-neighbourhood holds another label (and that are not background)."""
    edge = np.zeros(labels.shape, bool)
    dv = labels[1:, :] != labels[:-1, :]
    dh = labels[:, 1:] != labels[:, :-1]
    edge[1:, :] |= dv
    edge[:-1, :] |= dv
    edge[:, 1:] |= dh
    edge[:, :-1] |= dh
    return edge & (labels > 0)


def overlay(frame: np.ndarray, labels: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """RGB uint8 [H, W, 3]: ``labels`` ([H, W] int, 0 = background) coloured and blended over ``frame``."""
    frame = np.asarray(frame)
    if frame.ndim == 2:
        frame = np.repeat(frame[..., None], 3, axis=2)
    frame = frame[..., :3].astype(np.float32)
    labels = np.asarray(labels)
    pal = davis_palette().astype(np.float32)
    colours = pal[np.clip(labels, 0, 255).astype(np.intp)]
    fg = (labels > 0)[..., None]
    out = np.where(fg, (1.0 - alpha) * frame + alpha * colours, frame)
    edge = _contours(labels)
    out[edge] = colours[edge]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def resize(img: np.ndarray, max_w: int, max_h: int | None = None) -> Image.Image:
    """PIL image of ``img`` scaled down (never up) to fit ``max_w`` x ``max_h``."""
    pil = Image.fromarray(img)
    w, h = pil.size
    max_h = max_h or max_w * 10
    scale = min(1.0, max_w / w, max_h / h)
    if scale < 1.0:
        pil = pil.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BILINEAR)
    return pil


def jpeg(img: Image.Image, quality: int = 85) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def overlay_jpeg(frame: np.ndarray, labels: np.ndarray, max_w: int, max_h: int | None = None,
                 quality: int = 85) -> bytes:
    """JPEG of the overlay scaled to fit ``max_w`` x ``max_h``; scales frame (bilinear) and labels
    (nearest) first so that thumbnails of 480p videos cost a few milliseconds each."""
    frame, labels = np.asarray(frame), np.asarray(labels)
    small = resize(frame, max_w, max_h)
    if small.size != (frame.shape[1], frame.shape[0]):
        lab = Image.fromarray(np.clip(labels, 0, 255).astype(np.uint8)).resize(small.size, Image.NEAREST)
        frame, labels = np.asarray(small), np.asarray(lab)
    return jpeg(Image.fromarray(overlay(frame, labels)), quality)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def contact_sheet(frames: np.ndarray, labels: np.ndarray, history: np.ndarray | None = None,
                  quality: np.ndarray | None = None, thumb_w: int = 160, columns: int | None = None,
                  title: str = "") -> Image.Image:
    """A grid of numbered overlay thumbnails (frame index top-left; ``*N`` = annotated N times;
    ``q=..`` only when ``quality`` is given)."""
    n = len(frames)
    columns = columns or min(n, 8)
    rows = (n + columns - 1) // columns
    thumbs = [resize(overlay(frames[i], labels[i]), thumb_w) for i in range(n)]
    tw, th = thumbs[0].size
    pad, head = 6, (28 if title else 0)
    sheet = Image.new("RGB", (columns * (tw + pad) + pad, head + rows * (th + pad) + pad), (24, 24, 28))
    draw = ImageDraw.Draw(sheet)
    font, small = _font(18), _font(13)
    if title:
        draw.text((pad, 5), title, fill=(235, 235, 235), font=font)
    for i, im in enumerate(thumbs):
        x = pad + (i % columns) * (tw + pad)
        y = head + pad + (i // columns) * (th + pad)
        sheet.paste(im, (x, y))
        tag = str(i)
        if history is not None and history[i]:
            tag += f" *{int(history[i])}"
        box = draw.textbbox((x + 3, y + 2), tag, font=font)
        draw.rectangle((box[0] - 3, box[1] - 2, box[2] + 3, box[3] + 2), fill=(0, 0, 0))
        draw.text((x + 3, y + 2), tag, fill=(255, 220, 60) if history is not None and history[i]
                  else (255, 255, 255), font=font)
        if quality is not None:
            q = f"q={float(quality[i]):.2f}"
            qb = draw.textbbox((x + 3, y + th - 18), q, font=small)
            draw.rectangle((qb[0] - 2, qb[1] - 1, qb[2] + 2, qb[3] + 1), fill=(0, 0, 0))
            draw.text((x + 3, y + th - 18), q, fill=(160, 230, 160), font=small)
    return sheet
