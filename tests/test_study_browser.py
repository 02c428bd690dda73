"""End to end in a real headless Chromium: a person (Selenium) clicks and types through the study page.

Needs Debian's ``chromium`` + ``chromium-driver`` (or Chrome + chromedriver on PATH) and the
``selenium`` package; skipped with the reason otherwise. The page is screenshot to /tmp/study.png
(choosing) and /tmp/study_end.png (end screen).
"""
from __future__ import annotations

import os
import threading

import pytest

from ivosw_bench.study import WebUI, read_choices, run_study

pytestmark = pytest.mark.browser

SHOT = os.environ.get("IVOSW_STUDY_SCREENSHOT", "/tmp/study.png")



@pytest.fixture
def synthetic(tmp_path):
    from ivosw_bench.data.synthetic import generate

    root = tmp_path / "synth"
    generate(root, seed=3, n_sequences=2, n_frames=12, size=(160, 96), max_objects=2)
    return root


def test_browser_study_end_to_end(browser, synthetic, tmp_path, monkeypatch):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    ui = WebUI(port=0)
    ui.start()
    result, errors = {}, []

    def study():
        try:
            result["run"] = run_study(dataset=str(synthetic), participant="eve", rounds=3, ui=ui,
                                      out=str(tmp_path / "runs"))
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=study, daemon=True)
    worker.start()
    wait = WebDriverWait(browser, 60, poll_frequency=0.05)
    js_round = "return (S.status === 'choosing' && S.round && S.readySent) ? S.round.id : null;"
    try:
        browser.get(ui.url)
        chosen, seen = [], set()
        n_choices = 2 * 2  # 2 samples x (rounds - 1) choices
        for k in range(n_choices):
            rid = wait.until(lambda d: (lambda r: r if r and r not in seen else False)(d.execute_script(js_round)))
            seen.add(rid)
            n = len(browser.find_elements(By.CSS_SELECTOR, "#strip .thumb"))
            assert n == 12
            counter = browser.find_element(By.ID, "c-round").text
            assert counter.startswith(f"choice {k % 2 + 1}/2"), counter
            if k % 2 == 0:  # mouse: click a thumbnail, check the preview follows, click the button
                target = [7, 2][k // 2]
                browser.find_element(By.ID, f"thumb-{target}").click()
                wait.until(lambda d: d.find_element(By.ID, "preview").get_attribute("src")
                           .endswith(f"/full/{target}.jpg"))
                assert "sel" in browser.find_element(By.ID, f"thumb-{target}").get_attribute("class")
                if k == 0:
                    browser.save_screenshot(SHOT)
                browser.find_element(By.ID, "submit").click()
            else:  # a reloaded (or closed and reopened) tab shows the same round; then the keyboard
                browser.refresh()
                wait.until(lambda d: d.execute_script(js_round) == rid)
                body = browser.find_element(By.TAG_NAME, "body")
                body.send_keys(Keys.HOME)
                body.send_keys(Keys.ARROW_RIGHT)
                body.send_keys(Keys.ARROW_RIGHT)
                body.send_keys(Keys.SPACE)
                wait.until(lambda d: d.execute_script("return S.paused"))
                assert browser.find_element(By.ID, "sc-title").text == "Paused"
                body.send_keys(Keys.SPACE)
                wait.until(lambda d: not d.execute_script("return S.paused"))
                target = 2
                assert browser.execute_script("return S.sel") == target
                body.send_keys(Keys.ENTER)
            chosen.append(target)
        wait.until(lambda d: d.find_element(By.ID, "sc-title").text.startswith("Study complete"))
        end_text = browser.find_element(By.ID, "screen").text
        browser.save_screenshot(SHOT.replace(".png", "_end.png"))
    finally:
        worker.join(60)
        ui.close()
    assert not errors, errors
    path, summary = result["run"]
    assert "eve" in end_text and str(path) in end_text
    assert summary["complete"] and summary["strategy"] == "human:eve"
    got = [f for s in summary["per_sample"] for f in s["recommended_frames"][:2]]
    assert got == chosen == [7, 2, 2, 2]
    rows = read_choices(path)
    assert [r["frame"] for r in rows] == chosen
    assert all(r["clock_start"] == "page_ready" and r["seconds"] > 0 for r in rows)
    assert rows[1]["paused_seconds"] > 0 and rows[0]["paused_seconds"] == 0


def test_thumbnails_keep_the_frame_aspect_ratio(browser, tmp_path):
    """82 frames in a 1400x1000 window: every thumbnail shows the whole frame at its aspect ratio
    (the grid scrolls instead of squeezing the thumbnails into strips)."""
    from ivosw_bench.data.synthetic import generate

    root = tmp_path / "long"
    generate(root, seed=1, n_sequences=1, n_frames=82, size=(214, 120), max_objects=1)
    browser.set_window_size(1400, 1000)
    ui = WebUI(port=0)
    ui.start()
    errors = []

    def study():
        try:
            run_study(dataset=str(root), participant="ratio", rounds=2, ui=ui, out=str(tmp_path / "runs"))
        except BaseException as exc:  # the UI is stopped below: StudyAborted is expected
            errors.append(exc)

    from selenium.webdriver.support.ui import WebDriverWait

    worker = threading.Thread(target=study, daemon=True)
    worker.start()
    try:
        browser.get(ui.url)
        WebDriverWait(browser, 60, poll_frequency=0.05).until(
            lambda d: d.execute_script("return S.status === 'choosing' && S.readySent"))
        boxes = browser.execute_script("""
            return Array.from(document.querySelectorAll('#strip .thumb')).map(b => {
              const i = b.querySelector('img').getBoundingClientRect(), r = b.getBoundingClientRect();
              return [i.width, i.height, r.height, b.clientHeight, i.height];
            });""")
        browser.save_screenshot(SHOT.replace(".png", "_thumbs.png"))
    finally:
        ui.stop("test over")
        worker.join(60)
        ui.close()
    assert len(boxes) == 82
    for w, h, outer, inner, _ in boxes:
        assert h > 0 and abs(w / h - 214 / 120) < 0.04 * (214 / 120), (w, h)
        assert inner + 1 >= h, (inner, h)  # the button shows the whole image (nothing clipped)
