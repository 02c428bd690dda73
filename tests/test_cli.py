"""The CLI: help, listing, and one-line errors for bad input (each names the thing)."""
from __future__ import annotations

import json

import numpy as np

from conftest import invoke, one_line_error
from PIL import Image





def test_help_lists_commands():
    r = invoke("--help")
    assert r.exit_code == 0
    for cmd in ("run", "compare", "leaderboard", "timeline", "data", "backends", "strategies"):
        assert cmd in r.output


def test_backends_and_strategies_listed():
    assert "classic" in invoke("backends").output
    out = invoke("strategies").output
    for name in ("random", "linspace", "worst-oracle"):
        assert name in out


def run_args(root, tmp_path, *extra):
    return ("run", "--dataset", root, "--rounds", 2, "--out", tmp_path / "runs", "-q", *extra)


def test_unknown_strategy_and_backend(tiny_davis, tmp_path):
    one_line_error(invoke(*run_args(tiny_davis, tmp_path, "--strategy", "nope")), "strategy", "nope")
    one_line_error(invoke(*run_args(tiny_davis, tmp_path, "--backend", "nope")), "backend", "nope")


def test_unknown_sequence_and_subset(tiny_davis, tmp_path):
    one_line_error(invoke(*run_args(tiny_davis, tmp_path, "--sequences", "one,ghost")), "ghost")
    one_line_error(invoke(*run_args(tiny_davis, tmp_path, "--subset", "nosuch")), "nosuch")


def test_missing_dataset(tmp_path):
    one_line_error(invoke(*run_args(tmp_path / "absent", tmp_path)), "absent")


def test_missing_frame(tiny_davis, tmp_path):
    (tiny_davis / "JPEGImages/480p/one/00003.jpg").unlink()
    one_line_error(invoke(*run_args(tiny_davis, tmp_path)), "00003.jpg")


def test_mask_of_wrong_size(tiny_davis, tmp_path):
    path = tiny_davis / "Annotations/480p/two/00001.png"
    Image.fromarray(np.zeros((10, 20), np.uint8), mode="P").save(path)
    one_line_error(invoke(*run_args(tiny_davis, tmp_path)), "00001.png", "size")


def test_broken_scribble_json(tiny_davis, tmp_path):
    path = tiny_davis / "Scribbles/two/001.json"
    path.write_text(path.read_text()[:-7])
    one_line_error(invoke(*run_args(tiny_davis, tmp_path)), "001.json")


def test_nothing_lost_on_bad_input(tiny_davis, tmp_path):
    """A run that fails on bad input leaves the data untouched and creates no half run folder."""
    before = sorted(p.name for p in (tiny_davis / "JPEGImages/480p/one").iterdir())
    (tiny_davis / "Scribbles/one/001.json").write_text("{not json")
    one_line_error(invoke(*run_args(tiny_davis, tmp_path)), "001.json")
    assert sorted(p.name for p in (tiny_davis / "JPEGImages/480p/one").iterdir()) == before
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_data_check_names_every_problem(tiny_davis):
    (tiny_davis / "JPEGImages/480p/one/00002.jpg").unlink()
    (tiny_davis / "Scribbles/two/001.json").write_text("[")
    r = invoke("data", "check", tiny_davis)
    assert r.exit_code == 1
    assert "00002.jpg" in r.output and "001.json" in r.output


def test_leaderboard_of_missing_run(tmp_path):
    one_line_error(invoke("leaderboard", tmp_path / "nope"), "nope")


def test_run_and_leaderboard(tiny_davis, tmp_path):
    r = invoke(*run_args(tiny_davis, tmp_path, "--strategy", "linspace"))
    assert r.exit_code == 0, r.output
    run_dir = next((tmp_path / "runs").iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["complete"]
    r = invoke("leaderboard", run_dir, "--out", tmp_path / "rep", "--n-boot", 200)
    assert r.exit_code == 0, r.output
    assert (tmp_path / "rep" / "curve.png").stat().st_size > 0
    assert (tmp_path / "rep" / "report.md").read_text().count("linspace") >= 1


def test_unusable_backend_or_weights_leave_no_run_folder(tiny_davis, tmp_path):
    one_line_error(invoke(*run_args(tiny_davis, tmp_path, "--strategy", "agent", "--agent-weights",
                                    tmp_path / "missing.pt")), "missing.pt")
    one_line_error(invoke(*run_args(tiny_davis, tmp_path, "--backend", "manet")), "manet")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
