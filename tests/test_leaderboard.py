"""The leaderboard: grouping, seeds averaged within samples, reference, paired statistics, the
ceiling's headroom, refusals (different samples, unfinished runs, mixed T, duplicates) and its files."""
from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from conftest import invoke, one_line_error

from fake_runs import make_run
from ivosw_bench.errors import LeaderboardError
from ivosw_bench.results.board_files import write_board
from ivosw_bench.results.board_text import fmt_seeds, latex
from ivosw_bench.results.leaderboard import build_leaderboard
from ivosw_bench.results.metrics import round_auc
from ivosw_bench.results.report import load_run, load_runs
from ivosw_bench.results.stats import bootstrap_ci, paired_comparison
from ivosw_bench.results.time_auc import TimeTable, interp_rows, time_metrics

KEYS = [("a", 1), ("b", 1), ("c", 1), ("d", 2)]
N_BOOT = 400


def curves(base: float, slope: float = 0.1, jitter=(0.0, 0.03, -0.02, 0.05)):
    return {k: [min(1.0, base + j + slope * t) for t in range(3)] for k, j in zip(KEYS, jitter)}


RANDOM = {0: curves(0.40), 1: curves(0.44, jitter=(0.02, 0.0, 0.01, 0.0)), 2: curves(0.42, jitter=(0.0, 0.05, 0.0, -0.01))}
LINSPACE = curves(0.45, jitter=(0.01, 0.04, -0.03, 0.06))
WORST = curves(0.41, jitter=(0.0, 0.0, 0.0, 0.0))
AGENT = curves(0.50, jitter=(0.0, 0.02, 0.01, 0.03))
GREEDY = curves(0.55, jitter=(0.02, 0.04, 0.0, 0.05))


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "runs"
    for seed, c in RANDOM.items():
        make_run(r, "random", c, seed=seed)
    make_run(r, "linspace", LINSPACE)
    make_run(r, "worst-oracle", WORST)
    make_run(r, "agent", AGENT)
    make_run(r, "greedy-oracle", GREEDY)
    return r


def board_of(paths, **kw):
    kw.setdefault("n_boot", N_BOOT)
    return build_leaderboard(load_runs(paths), **kw)


def aucs(c):
    return np.array([round_auc(c[k]) for k in KEYS])




# ---- statistics of a group -----------------------------------------------------------------

def test_group_ranking_ceiling_and_reference(root):
    board = board_of([root])
    assert len(board.groups) == 1 and board.warnings == []
    g = board.groups[0]
    assert (g.dataset, g.backend, g.setting, g.rounds) == ("synthetic", "classic", "oracle", 3)
    assert g.samples == KEYS
    assert [e.label for e in g.entries] == ["greedy-oracle", "agent", "linspace", "random", "worst-oracle"]
    assert [e.rank for e in g.entries] == [None, 1, 2, 3, 4]
    assert g.entries[0].is_ceiling
    assert g.reference.label == "linspace"  # best non-learned baseline, not the (better) agent
    assert g.entries[3].seeds == [0, 1, 2]


def test_seeds_averaged_within_sample_then_bootstrapped(root):
    g = board_of([root]).groups[0]
    rnd = next(e for e in g.entries if e.label == "random")
    per_sample = np.mean([aucs(c) for c in RANDOM.values()], axis=0)
    assert [rnd.per_sample[k] for k in KEYS] == pytest.approx(per_sample.tolist())
    m = rnd.metrics["round_auc"]
    assert (m.mean, m.low, m.high) == pytest.approx(bootstrap_ci(per_sample, n_boot=N_BOOT))
    assert rnd.seed_std == pytest.approx(np.std([aucs(c).mean() for c in RANDOM.values()], ddof=1))
    final = np.mean([[c[k][-1] for k in KEYS] for c in RANDOM.values()], axis=0)
    assert rnd.metrics["final_jf"].mean == pytest.approx(final.mean())
    r1 = rnd.per_round[0]
    first = np.mean([[c[k][0] for k in KEYS] for c in RANDOM.values()], axis=0)
    assert (r1.mean, r1.low, r1.high) == pytest.approx(bootstrap_ci(first, n_boot=N_BOOT))


def test_paired_against_reference_and_headroom(root):
    g = board_of([root]).groups[0]
    by = {e.label: e for e in g.entries}
    expected = paired_comparison(aucs(AGENT), aucs(LINSPACE), n_boot=N_BOOT, n_perm=N_BOOT)
    assert by["agent"].paired == expected
    assert by["agent"].paired.wins + by["agent"].paired.ties + by["agent"].paired.losses == 4
    assert by["linspace"].paired is None
    r = np.mean([aucs(c) for c in RANDOM.values()], axis=0).mean()
    gr = aucs(GREEDY).mean()
    assert by["agent"].headroom == pytest.approx((aucs(AGENT).mean() - r) / (gr - r))
    assert by["random"].headroom == pytest.approx(0.0)
    assert by["greedy-oracle"].headroom == pytest.approx(1.0)


def test_explicit_reference_and_unknown_reference(root):
    g = board_of([root], reference="random").groups[0]
    assert g.reference.label == "random"
    assert g.reference_why == "chosen with --reference"
    with pytest.raises(LeaderboardError, match="--reference nope is not in"):
        board_of([root], reference="nope")


def test_group_without_baseline_has_no_paired_columns(tmp_path):
    make_run(tmp_path, "agent", AGENT)
    make_run(tmp_path, "human:ann", LINSPACE)
    g = board_of([tmp_path]).groups[0]
    assert g.reference is None and all(e.paired is None for e in g.entries)
    assert any("no non-learned baseline" in n for n in g.notes)


def test_groups_by_setting_backend_dataset(tmp_path):
    make_run(tmp_path, "linspace", LINSPACE)
    make_run(tmp_path, "linspace", LINSPACE, setting="wild")
    make_run(tmp_path, "agent", AGENT, setting="wild")
    make_run(tmp_path, "linspace", LINSPACE, backend="sam2")
    board = board_of([tmp_path])
    assert [(g.backend, g.setting) for g in board.groups] == [("classic", "oracle"), ("classic", "wild"),
                                                               ("sam2", "oracle")]
    assert [len(g.entries) for g in board.groups] == [1, 2, 1]


# ---- time-AUC (davisinteractive's formula) --------------------------------------------------

def test_time_metrics_by_hand():
    """A: J&F 0.2, 0.6, 1 s per interaction; B: 0.4, 0.8, 3 s. Both: J&F 0.3, 0.7 at 2 s, 4 s;
    timeout 2 x 3 = 6 s; area 0.3 + 1.0 + 1.4 = 2.7 over 6 s = 0.45; at 60 s: 0.7. A twice (B
    not drawn): 0.2, 0.6 at 1 s, 2 s; timeout 2 s: area 0.1 + 0.4 = 0.5 over 2 = 0.25."""
    table = TimeTable(keys=(("A", 1), ("B", 1)), jf_sum=np.array([[0.2, 0.6], [0.4, 0.8]]),
                      n_objects=np.array([1.0, 1.0]), timing=np.array([[1.0, 1.0], [3.0, 3.0]]))
    auc, jf60 = time_metrics(table, np.array([[1.0, 1.0], [2.0, 0.0]]))
    assert auc == pytest.approx([0.45, 0.25])
    assert jf60 == pytest.approx([0.7, 0.6])


def test_interp_rows_matches_numpy():
    rng = np.random.default_rng(5)
    xp = np.cumsum(rng.uniform(0, 30, (200, 6)), axis=1)
    xp[:, 0] = 0.0
    xp[::7, -1] = xp[::7, -2]  # the timeout can equal the last cumulative time
    fp = rng.uniform(0, 1, (200, 6))
    for x in (0.0, 25.0, 60.0, 1e4):
        assert interp_rows(x, xp, fp) == pytest.approx([np.interp(x, a, b) for a, b in zip(xp, fp)])


def test_time_auc_ci_and_fallback_without_report(tmp_path):
    make_run(tmp_path, "linspace", LINSPACE)
    make_run(tmp_path, "worst-oracle", WORST, report=False)
    g = board_of([tmp_path]).groups[0]
    by = {e.label: e for e in g.entries}
    t = by["linspace"].metrics["time_auc"]
    assert t.low <= t.mean <= t.high and t.low < t.high
    w = by["worst-oracle"].metrics["time_auc"]
    assert w.mean == pytest.approx(0.5) and w.low is None  # the summary's value, no CI


# ---- refusals and warnings --------------------------------------------------------------------

def test_same_run_twice_counted_once_with_warning(root):
    run = root / "synthetic_classic_linspace_oracle_T3_seed0"
    board = board_of([run, run, root / "synthetic_classic_random_oracle_T3_seed0"])
    assert len(board.warnings) == 1 and "given twice; counted once" in board.warnings[0]
    assert sum(len(e.runs) for e in board.groups[0].entries) == 2


def test_copied_run_counted_once(root, tmp_path):
    src = root / "synthetic_classic_random_oracle_T3_seed1"
    shutil.copytree(src, tmp_path / "copy")
    board = board_of([root, tmp_path / "copy"])
    assert any("the same config and seed as" in w for w in board.warnings)
    rnd = next(e for e in board.groups[0].entries if e.label == "random")
    assert rnd.seeds == [0, 1, 2]


def test_different_samples_refused_or_intersected(root):
    short = {k: v for k, v in AGENT.items() if k != ("c", 1)}
    other = make_run(root.parent / "other", "agent", short, seed=7)
    paths = [root / "synthetic_classic_linspace_oracle_T3_seed0", other]
    with pytest.raises(LeaderboardError) as ei:
        board_of(paths)
    msg = str(ei.value)
    assert str(other) in msg and "c:1" in msg and "--intersect" in msg and "\n" not in msg
    board = board_of(paths, intersect=True)
    assert board.groups[0].samples == [("a", 1), ("b", 1), ("d", 2)]
    assert board.groups[0].dropped == [("c", 1)]
    assert "dropped 1" in board.warnings[0] and "c:1" in board.warnings[0]


def test_unfinished_run_refused_unless_intersecting(tmp_path):
    make_run(tmp_path, "linspace", LINSPACE)
    make_run(tmp_path, "random", {k: v for k, v in RANDOM[0].items() if k != ("d", 2)}, complete=False)
    with pytest.raises(LeaderboardError, match="unfinished run \\(3/4 samples\\)"):
        board_of([tmp_path])
    board = board_of([tmp_path], intersect=True)
    assert len(board.groups[0].samples) == 3


def test_mixed_t_refused_or_chosen(tmp_path):
    make_run(tmp_path, "linspace", LINSPACE)
    make_run(tmp_path, "random", {k: v + [0.9] for k, v in RANDOM[0].items()})
    with pytest.raises(LeaderboardError, match="mixed T"):
        board_of([tmp_path])
    board = board_of([tmp_path], rounds=4)
    assert board.groups[0].rounds == 4 and [e.label for e in board.groups[0].entries] == ["random"]


def test_same_seed_different_run_refused(tmp_path):
    make_run(tmp_path, "random", RANDOM[0])
    make_run(tmp_path, "random", RANDOM[1], name="again", extra_config={"sequences": ["a", "b"]})
    with pytest.raises(LeaderboardError, match="same strategy and seed"):
        board_of([tmp_path])


def test_fmt_seeds_names_every_seed():
    assert fmt_seeds([0, 1, 2, 3, 4]) == "0-4"
    assert fmt_seeds([0, 2]) == "0,2"
    assert fmt_seeds([3, 0, 1, 2, 7, 9]) == "0-3,7,9"
    assert fmt_seeds([None]) == "-"


# ---- files ----------------------------------------------------------------------------------------

def test_files_are_reproducible_byte_for_byte(root, tmp_path):
    runs = load_runs([root])
    a = write_board(build_leaderboard(runs, n_boot=N_BOOT), tmp_path / "a", title="T")
    b = write_board(build_leaderboard(list(reversed(runs)), n_boot=N_BOOT), tmp_path / "b", title="T")
    assert set(a) == {"md", "csv", "tex", "html", "per_round", "per_sequence", "paired", "png", "svg"}
    for k in a:
        assert a[k].read_bytes() == b[k].read_bytes(), k


def test_files_content(root, tmp_path):
    board = board_of([root])
    paths = write_board(board, tmp_path / "out", title="Demo board")
    md = paths["md"].read_text()
    assert md.startswith("# Demo board")
    g = board.groups[0]
    agent = next(e for e in g.entries if e.label == "agent")
    m = agent.metrics["round_auc"]
    assert f"| 1 | agent | 0 | {m.mean:.2f} [{m.low:.2f}, {m.high:.2f}] | {agent.paired.mean_diff:+.2f} [" in md
    assert "| — | greedy-oracle (ceiling) |" in md and "Headroom" in md
    assert "Round-AUC standard deviation over seeds" in md and "random" in md

    df = pd.read_csv(paths["csv"])
    assert list(df["label"]) == ["greedy-oracle", "agent", "linspace", "random", "worst-oracle"]
    row = df.set_index("label").loc["agent"]
    assert row["round_auc"] == pytest.approx(m.mean) and row["reference"] == "linspace"
    assert row["p_value"] == pytest.approx(agent.paired.p_value)
    assert df.set_index("label").loc["random", "seeds"] == "0,1,2"

    pr = pd.read_csv(paths["per_round"])
    assert len(pr) == 5 * 3 and (pr["jf_low"] <= pr["jf"]).all() and (pr["jf"] <= pr["jf_high"]).all()
    ps = pd.read_csv(paths["per_sequence"])
    assert len(ps) == 7 * 4
    pa = pd.read_csv(paths["paired"])
    assert len(pa) == 4 * 4 and np.allclose(pa["diff"], pa["round_auc"] - pa["reference_round_auc"])

    tex = paths["tex"].read_text()
    for needle in (r"\toprule", r"\midrule", r"\bottomrule", r"\mathbf{", r"\pm", r"\textit{greedy-oracle (ceiling)}"):
        assert needle in tex, needle
    agent_line = next(ln for ln in tex.splitlines() if ln.startswith("agent &"))
    half = (m.high - m.low) / 2
    assert rf"$\mathbf{{{m.mean:.2f}}} \pm {half:.2f}$" in agent_line  # best ranked round-AUC in bold
    worst_line = next(ln for ln in tex.splitlines() if ln.startswith("worst-oracle &"))
    assert r"\mathbf" not in worst_line and "$-" in worst_line  # a negative difference, not bold
    assert any("only 4 samples" in n for n in g.notes) and "only 4 samples" in md
    html = paths["html"].read_text()
    assert 'id="table-g1"' in html and "<svg" in html and 'id="heatmap-g1"' in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in html


def test_latex_escapes_names(tmp_path):
    make_run(tmp_path, "linspace", LINSPACE)
    make_run(tmp_path, "human:a_b&c", AGENT)
    tex = latex(board_of([tmp_path]))
    assert r"human:a\_b\&c" in tex


# ---- command line ---------------------------------------------------------------------------------

def test_cli_leaderboard_writes_files(root, tmp_path):
    r = invoke("leaderboard", root, "--out", tmp_path / "board", "--n-boot", N_BOOT, "--title", "Board")
    assert r.exit_code == 0, r.output
    assert "Round-AUC" in r.output and "greedy-oracle (ceiling)" in r.output and "0-2" in r.output
    for name in ("report.md", "report.csv", "leaderboard.tex", "leaderboard.html", "curve.png", "curve.svg"):
        assert (tmp_path / "board" / name).stat().st_size > 0


def test_cli_same_run_twice(root):
    run = root / "synthetic_classic_random_oracle_T3_seed0"
    r = invoke("leaderboard", run, run, "--n-boot", N_BOOT)
    assert r.exit_code == 0, r.output
    assert r.output.count("warning:") == 1 and "given twice; counted once" in r.output
    assert "│ 1 │ random   │     0 │" in r.output


def test_cli_bad_input_one_line(root, tmp_path):
    one_line_error(invoke("leaderboard", tmp_path / "nope"), "nope", "no such run")
    (tmp_path / "empty").mkdir()
    one_line_error(invoke("leaderboard", tmp_path / "empty"), "empty", "not a run folder")
    half = tmp_path / "half"
    half.mkdir()
    shutil.copy(root / "synthetic_classic_agent_oracle_T3_seed0" / "config.json", half / "config.json")
    one_line_error(invoke("leaderboard", root, half), "half", "unfinished run")
    partial = make_run(tmp_path / "p", "random", {k: v for k, v in RANDOM[0].items() if k != ("a", 1)},
                       seed=5, complete=False)
    one_line_error(invoke("leaderboard", root, partial), str(partial), "unfinished run", "--intersect")
    longer = make_run(tmp_path / "t4", "random", {k: v + [0.9] for k, v in RANDOM[0].items()}, seed=9)
    one_line_error(invoke("leaderboard", root, longer), "mixed T", "T=3", "T=4")
    fewer = make_run(tmp_path / "f", "agent", {k: v for k, v in AGENT.items() if k[0] in "ab"}, seed=3)
    one_line_error(invoke("leaderboard", root / "synthetic_classic_agent_oracle_T3_seed0", fewer),
                   str(fewer), "c:1, d:2")
    one_line_error(invoke("leaderboard", root, "--reference", "greedy"), "--reference greedy")


def test_load_run_records_config(root):
    run = load_run(root / "synthetic_classic_linspace_oracle_T3_seed0")
    assert run["config"]["strategy"] == "linspace"


def test_real_runs_time_metrics_match_davisinteractive(tiny_davis, tmp_path):
    """Two real runs (classic backend, tiny dataset): the leaderboard's time-AUC and J&F@60s,
    recomputed from report.csv, equal what davisinteractive's summarize_report put in summary.json."""
    for strategy in ("linspace", "random"):
        r = invoke("run", "--dataset", tiny_davis, "--rounds", 2, "--out", tmp_path / "runs", "-q",
                   "--strategy", strategy)
        assert r.exit_code == 0, r.output
    runs = load_runs([tmp_path / "runs"])
    g = build_leaderboard(runs, n_boot=N_BOOT).groups[0]
    assert len(g.samples) == 2
    for e in g.entries:
        summary = e.runs[0]["metrics"]
        for m in ("time_auc", "jf_at_60s"):
            est = e.metrics[m]
            assert est.mean == pytest.approx(summary[m], abs=1e-12), (e.label, m)
            assert est.low <= est.mean + 1e-12 and est.mean <= est.high + 1e-12
        assert e.metrics["round_auc"].mean == pytest.approx(summary["round_auc"])
        assert e.metrics["final_jf"].mean == pytest.approx(summary["final_jf"])


def test_single_strategy_has_no_paired_columns(tmp_path):
    make_run(tmp_path, "linspace", LINSPACE)
    board = board_of([tmp_path])
    g = board.groups[0]
    assert g.reference is None and g.notes == ["only 4 samples: percentile bootstrap CIs are too narrow with "
                                               "so few samples (they undercover); the exact permutation "
                                               "p-value is the safer guide"]
    tex = latex(board)
    assert r"\Delta" not in tex and "linspace & 0 & $" in tex
    paths = write_board(board, tmp_path / "out")
    md = paths["md"].read_text()
    assert "| Round-AUC [95% CI] | Time-AUC" in md and "| Δ vs" not in md


def test_agent_runs_with_different_weights_files_are_different_entries(tmp_path):
    # two seeds of 'agent' whose default weights resolved to different files must not be averaged
    make_run(tmp_path, "agent", RANDOM[0], seed=0, extra_config={"strategy_provenance": {"agent_weights_sha256": "a"}})
    make_run(tmp_path, "agent", RANDOM[1], seed=1, extra_config={"strategy_provenance": {"agent_weights_sha256": "b"}})
    # a run written before the key existed and one with nothing to record are the same entry
    make_run(tmp_path, "random", RANDOM[0], seed=0)
    make_run(tmp_path, "random", RANDOM[1], seed=1, extra_config={"strategy_provenance": {}, "quality_tta": False})
    entries = board_of([tmp_path]).groups[0].entries
    assert sorted(len(e.seeds) for e in entries if e.strategy == "agent") == [1, 1]
    assert [len(e.seeds) for e in entries if e.strategy == "random"] == [2]
