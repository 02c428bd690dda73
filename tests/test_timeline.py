"""The recommended-frame timeline on hand-built run folders: quality.csv and chosen masks when the run
has them, the true J&F from report.csv and no thumbnails when it does not, one-line errors."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from fake_runs import make_run, write_chosen, write_frames, write_quality
from ivosw_bench.cli import main
from ivosw_bench.errors import LeaderboardError
from ivosw_bench.results.report import load_run, load_runs
from ivosw_bench.results.timeline import build_tracks, parse_sample, write_timeline

N_FRAMES = 6
CURVES = {("a", 1): [0.3, 0.5, 0.6], ("b", 1): [0.4, 0.6, 0.7]}
REC = {"linspace": [2, 4, 5], "worst-oracle": [1, 3, 0], "random": [5, 5, 2]}


@pytest.fixture
def setup(tmp_path):
    data = tmp_path / "data"
    for seq in ("a", "b"):
        write_frames(data, seq, N_FRAMES)
    root = tmp_path / "runs"
    quality = {}
    for s, strategy in enumerate(("linspace", "worst-oracle")):
        rec = {k: REC[strategy] for k in CURVES}
        run = make_run(root, strategy, CURVES, recommended=rec, dataset_root=str(data), n_frames=N_FRAMES)
        quality[strategy] = {k: np.linspace(0.1, 0.9, 3 * N_FRAMES).reshape(3, N_FRAMES) * (1 - 0.1 * s)
                             for k in CURVES}
        write_quality(run, quality[strategy])
        for seq, idx in CURVES:
            write_chosen(run, seq, idx, REC[strategy])
    make_run(root, "random", CURVES, recommended={k: REC["random"] for k in CURVES}, dataset_root=str(data),
             n_frames=N_FRAMES)  # an older run: no quality.csv, no chosen/
    return root, quality


def test_tracks_read_quality_chosen_frames_and_thumbnails(setup):
    root, quality = setup
    runs = [load_run(root / f"synthetic_classic_{s}_oracle_T3_seed0") for s in ("linspace", "worst-oracle")]
    tracks, notes = build_tracks(runs, ("a", 1))
    assert notes == []
    assert [t.label for t in tracks] == ["linspace", "worst-oracle"]
    np.testing.assert_allclose(tracks[1].quality, quality["worst-oracle"][("a", 1)])
    assert tracks[0].chosen == REC["linspace"] and tracks[0].source == "ground-truth J&F"
    thumb = tracks[0].thumbs[0]
    assert thumb.shape == (48, 64, 3)
    frame_grey = 40 + 20 * REC["linspace"][0]
    inside, outside = thumb[20, 30].astype(int), thumb[45, 5].astype(int)
    assert abs(outside - frame_grey).max() <= 3  # background untouched
    assert inside[0] > inside[1] + 30  # object 1 tinted with the DAVIS red


def test_older_run_falls_back_to_true_jf_without_thumbnails(setup):
    root, _ = setup
    run = load_run(root / "synthetic_classic_random_oracle_T3_seed0")
    tracks, notes = build_tracks([run], ("b", 1))
    assert tracks[0].source == "true J&F (report.csv)"
    np.testing.assert_allclose(tracks[0].quality, np.repeat(np.array(CURVES[("b", 1)])[:, None], N_FRAMES, 1))
    assert all(t is None for t in tracks[0].thumbs)
    assert any("no quality.csv" in n for n in notes) and any("thumbnails omitted" in n for n in notes)


def test_write_timeline_png_and_svg(setup, tmp_path):
    root, _ = setup
    files = write_timeline(load_runs([root]), "a:1", tmp_path / "tl")
    png = Image.open(files["png"])
    assert files["png"].name == "timeline-a-1.png" and png.size[0] > 900 and png.size[1] > 400
    svg = files["svg"].read_text()
    assert svg.lstrip().startswith("<?xml") and "<image" in svg  # the thumbnails are embedded
    assert any("random" in n for n in files["notes"])
    again = write_timeline(load_runs([root]), "a", tmp_path / "tl2")
    assert again["svg"].read_bytes() == files["svg"].read_bytes()


def test_missing_frames_leave_thumbnails_out(setup, tmp_path):
    root, _ = setup
    import shutil

    shutil.rmtree(tmp_path / "data" / "JPEGImages" / "480p" / "a")
    run = load_run(root / "synthetic_classic_linspace_oracle_T3_seed0")
    tracks, notes = build_tracks([run], ("a", 1))
    assert all(t is None for t in tracks[0].thumbs) and "frames not found" in notes[0]


def test_sample_errors(setup, tmp_path):
    root, _ = setup
    runs = load_runs([root])
    with pytest.raises(LeaderboardError, match="no finished sample of sequence 'zz'"):
        write_timeline(runs, "zz", tmp_path / "x")
    with pytest.raises(LeaderboardError, match="no finished sample a:3"):
        write_timeline(runs, "a:3", tmp_path / "x")
    with pytest.raises(LeaderboardError, match="SEQ:IDX"):
        parse_sample("a:x")
    two = make_run(tmp_path / "two", "agent", {("a", 1): [0.1, 0.2, 0.3], ("a", 2): [0.1, 0.2, 0.3]})
    with pytest.raises(LeaderboardError, match="has scribbles 1, 2; say which"):
        write_timeline([load_run(two)], "a", tmp_path / "x")
    longer = make_run(tmp_path / "t4", "agent", {("a", 1): [0.1, 0.2, 0.3, 0.4]})
    with pytest.raises(LeaderboardError, match="mixed T"):
        write_timeline(runs + [load_run(longer)], "a", tmp_path / "x")


def test_cli_timeline(setup, tmp_path):
    root, _ = setup
    r = CliRunner().invoke(main, ["timeline", str(root), "--sample", "b:1", "--out", str(tmp_path / "tl")],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert (tmp_path / "tl" / "timeline-b-1.png").is_file() and (tmp_path / "tl" / "timeline-b-1.svg").is_file()
    assert "warning:" in r.output and "no quality.csv" in r.output
    r = CliRunner().invoke(main, ["timeline", str(root), "--sample", "nope"], catch_exceptions=False)
    assert r.exit_code == 2 and r.output.startswith("error:") and len(r.output.strip().splitlines()) == 1
