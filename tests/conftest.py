"""Shared fixtures: a tiny hand-made DAVIS-layout dataset and the real davis16-train folder."""
from __future__ import annotations

import json
import os
import shutil
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DAVIS16 = REPO.parent / "shared" / "data" / "davis16-train"
PALETTE = [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0] + [0] * (256 * 3 - 12)


def write_sequence(root: Path, seq: str, n_frames: int = 6, size=(64, 48), n_objects: int = 1,
                   scribble_frame: int = 2) -> None:
    """A moving square per object on a noisy background; one scribble file with a stroke per object."""
    w, h = size
    rng = np.random.default_rng(zlib.crc32(seq.encode()))  # the same data in every process
    (root / "JPEGImages/480p" / seq).mkdir(parents=True, exist_ok=True)
    (root / "Annotations/480p" / seq).mkdir(parents=True, exist_ok=True)
    (root / "Scribbles" / seq).mkdir(parents=True, exist_ok=True)
    strokes = [[] for _ in range(n_frames)]
    for t in range(n_frames):
        img = rng.integers(0, 60, (h, w, 3)).astype(np.uint8)
        mask = np.zeros((h, w), np.uint8)
        for k in range(1, n_objects + 1):
            x0, y0 = 4 + 2 * t + 22 * (k - 1), 8 + 10 * (k - 1)
            mask[y0:y0 + 14, x0:x0 + 14] = k
            img[y0:y0 + 14, x0:x0 + 14] = (200, 60 * k, 40)
            if t == scribble_frame:
                cy, cx = y0 + 7, x0 + 7
                strokes[t].append({"path": [[(cx - 4) / w, cy / h], [(cx + 4) / w, cy / h]],
                                   "object_id": k, "start_time": 0.0, "end_time": 1.0})
        if t == scribble_frame:
            strokes[t].append({"path": [[2 / w, (h - 3) / h], [(w - 3) / w, (h - 3) / h]],
                               "object_id": 0, "start_time": 1.0, "end_time": 2.0})
        Image.fromarray(img).save(root / "JPEGImages/480p" / seq / f"{t:05d}.jpg", quality=95)
        m = Image.fromarray(mask, mode="P")
        m.putpalette(PALETTE)
        m.save(root / "Annotations/480p" / seq / f"{t:05d}.png")
    (root / "Scribbles" / seq / "001.json").write_text(json.dumps({"scribbles": strokes, "sequence": seq}))


@pytest.fixture
def tiny_davis(tmp_path) -> Path:
    root = tmp_path / "tiny"
    write_sequence(root, "one", n_objects=1)
    write_sequence(root, "two", n_objects=2, n_frames=7, scribble_frame=3)
    (root / "ImageSets/2017").mkdir(parents=True)
    (root / "ImageSets/2017/train.txt").write_text("one\ntwo\n")
    (root / "ImageSets/2017/val.txt").write_text("two\n")
    return root


@pytest.fixture
def davis16() -> Path:
    if not DAVIS16.is_dir():
        pytest.skip(f"real data not present ({DAVIS16})")
    return DAVIS16


# -- helpers shared by several test modules (import them: ``from conftest import invoke``) -------
def invoke(*args):
    """The CLI in-process (exceptions propagate)."""
    from click.testing import CliRunner

    from ivosw_bench.cli import main

    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def one_line_error(result, *needles):
    """Assert exit status 2 and one line 'error: ...' containing every needle; return the line."""
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    for n in needles:
        assert str(n) in lines[0], (n, lines[0])
    return lines[0]


def stroke(points, oid):
    return {"path": points, "object_id": oid, "start_time": 0.0, "end_time": 1.0}


def scribbles_on(frame, n_frames, strokes):
    s = [[] for _ in range(n_frames)]
    s[frame] = strokes
    return {"scribbles": s, "sequence": "seq"}


def _find(*names):
    for n in names:
        p = shutil.which(n)
        if p:
            return p
    return None


@pytest.fixture
def browser():
    """Headless Chromium driven by Selenium (skipped with the reason when it is not installed)."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")
    chrome = os.environ.get("CHROMIUM") or _find("chromium", "chromium-browser", "google-chrome")
    driver_bin = os.environ.get("CHROMEDRIVER") or _find("chromedriver", "chromium-driver")
    if not chrome or not driver_bin:
        pytest.skip("no headless Chromium: apt-get install -y chromium chromium-driver "
                    f"(found browser={chrome}, driver={driver_bin})")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chrome
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,1000", "--no-first-run", "--no-default-browser-check"):
        opts.add_argument(arg)
    drv = webdriver.Chrome(service=Service(executable_path=driver_bin), options=opts)
    drv.set_page_load_timeout(30)
    yield drv
    drv.quit()
