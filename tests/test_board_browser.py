"""The HTML leaderboard in a real headless Chromium: the page opens from a file with no network, its
tables sort when a header is clicked, cells and the SVG figures are there.

Needs Debian's ``chromium`` + ``chromium-driver`` and ``selenium`` (as tests/test_study_browser.py);
skipped with the reason otherwise. A screenshot goes to /tmp/leaderboard.png
(``IVOSW_BOARD_SCREENSHOT`` to change it).
"""
from __future__ import annotations

import os

import pytest

from fake_runs import make_run
from ivosw_bench.results.board_files import write_board
from ivosw_bench.results.leaderboard import build_leaderboard
from ivosw_bench.results.report import load_runs

pytestmark = pytest.mark.browser

SHOT = os.environ.get("IVOSW_BOARD_SCREENSHOT", "/tmp/leaderboard.png")
KEYS = [("bear", 1), ("boat", 1), ("car-turn", 1), ("dance-jump", 1), ("kite-walk", 1)]



def _curves(base, jitter):
    return {k: [min(1.0, base + j + 0.08 * t) for t in range(4)] for k, j in zip(KEYS, jitter)}


@pytest.fixture
def page(tmp_path):
    runs = tmp_path / "runs"
    for seed in (0, 1, 2):
        make_run(runs, "random", _curves(0.40 + 0.01 * seed, (0.0, 0.02, -0.01, 0.03, 0.01)), seed=seed)
    make_run(runs, "linspace", _curves(0.43, (0.01, -0.02, 0.04, 0.0, 0.02)))
    make_run(runs, "worst-oracle", _curves(0.39, (0.0, 0.0, 0.01, 0.0, 0.0)))
    make_run(runs, "agent", _curves(0.45, (0.0, 0.03, 0.01, -0.01, 0.02)))
    make_run(runs, "greedy-oracle", _curves(0.50, (0.02, 0.01, 0.0, 0.03, 0.02)))
    board = build_leaderboard(load_runs([runs]), n_boot=500)
    return write_board(board, tmp_path / "board", title="Browser check")["html"], board


def _column(browser, index):
    from selenium.webdriver.common.by import By

    rows = browser.find_elements(By.CSS_SELECTOR, "#table-g1 tbody tr")
    return [r.find_elements(By.TAG_NAME, "td")[index].text.split("\n")[0] for r in rows]


def test_page_opens_sorts_and_shows_figures(browser, page):
    from selenium.webdriver.common.by import By

    html, board = page
    browser.get(html.resolve().as_uri())
    assert browser.title == "Browser check"
    headers = [h.text.split("\n")[0] for h in browser.find_elements(By.CSS_SELECTOR, "#table-g1 thead th")]
    assert headers[:4] == ["#", "Strategy", "Seeds", "Round-AUC"]
    names = _column(browser, 1)
    assert names == ["greedy-oracle (ceiling)", "agent", "linspace", "random", "worst-oracle"]

    auc = browser.find_element(By.CSS_SELECTOR, "#table-g1 th[data-key=round_auc]")
    auc.click()  # numbers sort best first
    assert auc.get_attribute("aria-sort") == "descending"
    values = [float(v) for v in _column(browser, 3)]
    assert values == sorted(values, reverse=True)
    auc.click()
    assert auc.get_attribute("aria-sort") == "ascending"
    assert _column(browser, 1)[0] == "worst-oracle"
    assert [float(v) for v in _column(browser, 3)] == sorted(values)

    browser.find_element(By.CSS_SELECTOR, "#table-g1 th[data-key=strategy]").click()
    assert _column(browser, 1) == sorted(names)

    g = board.groups[0]
    agent = next(e for e in g.entries if e.label == "agent")
    row = browser.find_element(By.CSS_SELECTOR, '#table-g1 tr[data-strategy="agent"]')
    cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
    p = agent.paired
    assert cells[6] == f"{p.wins}/{p.ties}/{p.losses}"
    assert cells[3].split("\n")[0] == f"{agent.metrics['round_auc'].mean:.2f}"
    assert cells[4].startswith(f"{p.mean_diff:+.2f}")
    assert browser.find_element(By.CSS_SELECTOR, '#table-g1 tr[data-strategy="linspace"]').text.count("ref") == 3

    assert len(browser.find_elements(By.CSS_SELECTOR, "#curve-g1 polyline.curve")) == 5
    assert len(browser.find_elements(By.CSS_SELECTOR, "#curve-g1 polygon.band")) == 5
    assert len(browser.find_elements(By.CSS_SELECTOR, "#heatmap-g1 g.cell")) == 4 * len(KEYS)
    links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "ul.runs a")]
    assert links and all(link.startswith("file://") for link in links)
    assert any(link.endswith("/summary.json") for link in links)
    nav = browser.execute_script(
        "return performance.getEntriesByType('resource').map(function(e){return e.name;})")
    assert nav == []  # nothing fetched: inline CSS, JS and SVG
    browser.set_window_size(1280, 1500)
    browser.save_screenshot(SHOT)
