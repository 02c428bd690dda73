"""The round loop end to end on a tiny dataset with the built-in backend: store, summary, resume."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ivosw_bench.errors import WeightsError
from ivosw_bench.results.metrics import round_auc
from ivosw_bench.results.store import StoreError
from ivosw_bench.session import RunConfig, RunError, run

TIMING_KEYS = ("time_auc", "jf_at_60s", "seconds_per_round", "davis_curve")


def deterministic(summary: dict) -> dict:
    s = json.loads(json.dumps(summary))
    for key in TIMING_KEYS:
        s["metrics"].pop(key, None)
    return s


def test_run_writes_store_and_summary(tiny_davis, tmp_path):
    path, summary = run(RunConfig(strategy="linspace", dataset=str(tiny_davis), rounds=3, out=str(tmp_path)))
    assert {p.name for p in path.iterdir()} >= {"config.json", "rounds.csv", "report.csv", "summary.json"}
    rounds = pd.read_csv(path / "rounds.csv")
    assert len(rounds) == 2 * 3
    m = summary["metrics"]
    assert summary["complete"] and summary["n_samples"] == 2
    for key in ("round_auc", "time_auc", "jf_at_60s", "final_jf"):
        assert m[key] is not None and np.isfinite(m[key]), key
    assert set(m["seconds_per_round"]) == {"backend", "quality", "strategy", "eval", "total"}
    assert len(m["per_round_jf"]) == 3
    assert m["round_auc"] == pytest.approx(round_auc(m["per_round_jf"]))
    # the frame recommended in round t is the frame annotated in round t + 1
    for _, g in rounds.groupby("sequence"):
        g = g.sort_values("round")
        assert g["annotated_frame"].to_list()[1:] == g["recommended_frame"].to_list()[:-1]
    # per-round J&F of a sample equals davisinteractive's report averaged per object then frame
    report = pd.read_csv(path / "report.csv")
    r = report[(report["sequence"] == "two") & (report["interaction"] == 2)]
    expect = r.groupby("object_id")["j_and_f"].mean().mean()
    got = rounds[(rounds["sequence"] == "two") & (rounds["round"] == 2)]["jf"].item()
    assert got == pytest.approx(expect)
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["versions"]["davisinteractive"] == "1.0.4" and cfg["sequences"] == ["one", "two"]


def test_worst_oracle_never_repeats_and_subset(tiny_davis, tmp_path):
    path, summary = run(RunConfig(strategy="worst-oracle", dataset=str(tiny_davis), subset="val",
                                  rounds=4, out=str(tmp_path)))
    assert [s["sequence"] for s in summary["per_sample"]] == ["two"]
    frames = summary["per_sample"][0]["annotated_frames"]
    assert len(set(frames)) == len(frames)


class Interrupt(Exception):
    pass


def test_resume_gives_the_same_summary(tiny_davis, tmp_path):
    cfg = dict(strategy="random", dataset=str(tiny_davis), rounds=3, seed=4)
    _, full = run(RunConfig(out=str(tmp_path / "a"), **cfg))
    seen = []

    def kill_after_4(event, **info):
        if event == "round":
            seen.append(info)
            if len(seen) == 4:  # in the middle of the second sample
                raise Interrupt

    with pytest.raises(Interrupt):
        run(RunConfig(out=str(tmp_path / "b"), **cfg), progress=kill_after_4)
    partial = json.loads((tmp_path / "b" / full["run_id"] / "summary.json").read_text()) \
        if (tmp_path / "b" / full["run_id"] / "summary.json").exists() else None
    assert partial is None or not partial["complete"]
    with pytest.raises(StoreError, match="--resume"):
        run(RunConfig(out=str(tmp_path / "b"), **cfg))
    with pytest.raises(StoreError, match="seed"):
        run(RunConfig(out=str(tmp_path / "b"), resume=True, **{**cfg, "seed": 5}, name=full["run_id"]))
    _, resumed = run(RunConfig(out=str(tmp_path / "b"), resume=True, **cfg))
    assert deterministic(resumed) == deterministic(full)
    assert resumed["metrics"]["time_auc"] is not None


def test_wild_setting_uses_the_qa_network_and_refuses_oracle_strategies(tiny_davis, tmp_path):
    with pytest.raises(RunError, match="ground truth"):
        run(RunConfig(strategy="worst-oracle", setting="wild", dataset=str(tiny_davis), out=str(tmp_path)))
    with pytest.raises(WeightsError, match="nope.pt"):
        run(RunConfig(strategy="worst-predicted", setting="wild", dataset=str(tiny_davis), out=str(tmp_path),
                      quality_weights=str(tmp_path / "nope.pt")))
    from ivosw_bench.quality.model import default_weights

    if not default_weights().exists():
        pytest.skip("shipped QA weights absent")
    path, summary = run(RunConfig(strategy="worst-predicted", setting="wild", dataset=str(tiny_davis),
                                  rounds=2, out=str(tmp_path)))
    assert summary["setting"] == "wild" and summary["complete"]
    assert json.loads((path / "config.json").read_text())["setting"] == "wild"


def test_bad_rounds(tiny_davis, tmp_path):
    with pytest.raises(RunError, match="--rounds"):
        run(RunConfig(rounds=0, dataset=str(tiny_davis), out=str(tmp_path)))


@pytest.mark.realdata
def test_real_davis16_sequence_two_rounds(davis16, tmp_path):
    """The harness on real 480p video (the shortest davis16-train sequence, 25 frames)."""
    path, summary = run(RunConfig(strategy="worst-oracle", dataset=str(davis16), sequences=["dog-agility"],
                                  rounds=2, out=str(tmp_path)))
    m = summary["metrics"]
    assert summary["complete"] and len(m["per_round_jf"]) == 2
    assert 0.05 < m["per_round_jf"][0] <= 1 and m["time_auc"] is not None
    rounds = pd.read_csv(path / "rounds.csv")
    assert rounds["n_frames"].tolist() == [25, 25]


def test_scribbles_selects_sets_and_names_the_run(tiny_davis, tmp_path):
    from ivosw_bench.session import select_scribbles

    samples = [("a", 1), ("a", 2), ("a", 3), ("b", 1), ("b", 2), ("b", 3)]
    assert select_scribbles(samples, None, "D") == samples
    assert select_scribbles(samples, [3], "D") == [("a", 3), ("b", 3)]
    with pytest.raises(RunError, match=r"D: sequence 'a' has no scribble set 4 \(--scribbles; it has 1, 2, 3\)"):
        select_scribbles(samples, [1, 4], "D")
    path, summary = run(RunConfig(strategy="linspace", dataset=str(tiny_davis), rounds=2, out=str(tmp_path),
                                  scribbles=[1]))
    assert path.name.endswith("_s1") and summary["n_samples"] == 2
    assert json.loads((path / "config.json").read_text())["scribbles"] == [1]
    with pytest.raises(RunError, match="has no scribble set 2"):
        run(RunConfig(strategy="linspace", dataset=str(tiny_davis), rounds=2, out=str(tmp_path / "x"), scribbles=[2]))
    assert not (tmp_path / "x").exists()  # nothing written on a bad option


def test_resume_of_a_run_written_before_quality_tta_existed(tiny_davis, tmp_path):
    cfg = RunConfig(strategy="linspace", dataset=str(tiny_davis), rounds=2, out=str(tmp_path), name="old")
    path, first = run(cfg)
    config = json.loads((path / "config.json").read_text())
    assert config["quality_tta"] is False
    del config["quality_tta"]
    (path / "config.json").write_text(json.dumps(config))
    _, again = run(RunConfig(**{**cfg.__dict__, "resume": True}))
    assert again["metrics"]["round_auc"] == first["metrics"]["round_auc"]
    with pytest.raises(StoreError, match="quality_tta"):
        run(RunConfig(**{**cfg.__dict__, "resume": True, "quality_tta": True}))


def test_config_records_the_agent_weights_a_default_resolved_to(tiny_davis, tmp_path):
    import hashlib

    from ivosw_bench.agent.strategy import DEFAULT_WEIGHTS

    if not DEFAULT_WEIGHTS.is_file():
        pytest.skip("no shipped agent weights")
    path, _ = run(RunConfig(strategy="agent", dataset=str(tiny_davis), rounds=2, out=str(tmp_path)))
    prov = json.loads((path / "config.json").read_text())["strategy_provenance"]
    assert prov["agent_weights"] == str(DEFAULT_WEIGHTS.resolve())
    assert prov["agent_weights_sha256"] == hashlib.sha256(DEFAULT_WEIGHTS.read_bytes()).hexdigest()
    path, _ = run(RunConfig(strategy="linspace", dataset=str(tiny_davis), rounds=2, out=str(tmp_path)))
    assert json.loads((path / "config.json").read_text())["strategy_provenance"] == {}
