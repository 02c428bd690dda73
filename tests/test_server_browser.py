"""The hosted leaderboard in a real headless Chromium: ranked sessions, sorting by any column, the
unranked list, and no external asset (screenshot: /tmp/leaderboard.png)."""
from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest
import requests

import ivosw_bench.compat as compat
from ivosw_bench.data.davis_layout import open_dataset, registered
from server_helpers import ServerProcess, add_user, headers, play

pytestmark = pytest.mark.browser
compat.apply()
SHOT = os.environ.get("IVOSW_BOARD_SCREENSHOT", "/tmp/leaderboard.png")
T = 2


@pytest.fixture(scope="module")
def board_server(tmp_path_factory):
    from davisinteractive.session import DavisInteractiveSession

    from ivosw_bench.data.synthetic import generate

    root = tmp_path_factory.mktemp("board")
    served = root / "synth"
    generate(served, seed=3, n_sequences=2, n_frames=10, size=(128, 80), max_objects=2)
    db = root / "bench.sqlite3"
    keys = {n: add_user(db, n) for n in ("alice", "bob", "carol")}
    proc = ServerProcess(served, db, root / "server.log", "--max-interactions", T).start()
    ds = open_dataset(served)
    with registered(ds, sorted(ds.sequences)):
        for user, frame in (("alice", 0), ("bob", 9), ("carol", 5)):
            with DavisInteractiveSession(host=proc.url, user_key=keys[user], davis_root=str(served), subset="test-dev",
                                         max_nb_interactions=T, report_save_dir=tempfile.mkdtemp()) as sess:
                play(sess, ds, lambda seq, t, n, f=frame: [min(f, n - 1)])
    early = "finishedearly01"  # a session that finishes after one interaction: listed, not ranked
    h = headers(keys["alice"], early)
    samples = requests.get(proc.url + "/api/dataset/samples", headers=h, timeout=10).json()[0]
    from davisinteractive.third_party import mask_api

    seq, idx = samples[0]
    meta = ds.sequences[seq]
    body = {"sequence": seq, "scribble_idx": idx, "timing": 0.1, "interaction": 1,
            "pred_masks": mask_api.encode_batch_masks(np.zeros((10, 80, 128), np.uint8), nb_objects=meta["num_objects"])}
    assert requests.post(proc.url + "/api/evaluation/interaction", json=body, headers=h, timeout=30).status_code == 200
    assert requests.post(proc.url + "/api/evaluation/finish", headers=h, timeout=30).status_code == 200
    yield proc
    proc.stop()


def _labels(driver):
    from selenium.webdriver.common.by import By

    return [row.find_elements(By.TAG_NAME, "td")[1].text for row in driver.find_elements(By.CSS_SELECTOR, "table.board tbody tr")]


def test_leaderboard_page_in_chromium(browser, board_server):  # noqa: F811
    from selenium.webdriver.common.by import By

    board = requests.get(board_server.url + "/api/leaderboard", timeout=60).json()
    (group,) = board["groups"]
    assert len(group["entries"]) == 3 and len(board["unranked"]) == 1
    page = requests.get(board_server.url + "/leaderboard", timeout=60)
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert "http://" not in page.text.replace(board_server.url, "") and "https://" not in page.text

    browser.get(board_server.url + "/leaderboard")
    assert "leaderboard" in browser.title
    ranked = [e["label"] for e in group["entries"]]
    assert _labels(browser) == ranked  # ranked by round-AUC, as the JSON
    cells = browser.find_elements(By.CSS_SELECTOR, "table.board tbody tr")[0].find_elements(By.TAG_NAME, "td")
    first = group["entries"][0]
    assert cells[0].text == "1" and cells[2].text.startswith(f"{first['round_auc']['mean']:.2f} [")
    assert cells[6].text == "ref"
    header = {h.text: h for h in browser.find_elements(By.CSS_SELECTOR, "table.board th")}
    header["round-AUC [95% CI]"].click()
    assert _labels(browser) == ranked  # first click: descending
    header["round-AUC [95% CI]"].click()
    assert _labels(browser) == ranked[::-1]
    header["participant"].click()
    assert _labels(browser) == sorted(ranked, reverse=True)
    by_time = sorted(group["entries"], key=lambda e: -e["time_auc"]["mean"])
    header["time-AUC % [95% CI]"].click()
    assert _labels(browser) == [e["label"] for e in by_time]
    unranked = browser.find_elements(By.CSS_SELECTOR, "#unranked li")
    assert len(unranked) == 1 and "samples complete" in unranked[0].text
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert resources == []  # nothing loaded besides the page itself
    browser.save_screenshot(SHOT)
