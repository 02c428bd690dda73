"""Parallel runs (local processes, a local Ray instance) write exactly what a serial run writes."""
from __future__ import annotations

import csv
import json

import pytest

from ivosw_bench.errors import RunError
from ivosw_bench.executors import SerialExecutor, make_executor
from ivosw_bench.session import RunConfig, run_all

from conftest import write_sequence

TIMING = {"davis_timing", "backend_s", "quality_s", "strategy_s", "eval_s", "timing"}


@pytest.fixture
def four(tmp_path):
    root = tmp_path / "four"
    for i, n in enumerate((6, 7, 8, 6)):
        write_sequence(root, f"s{i}", n_objects=1 + i % 2, n_frames=n, scribble_frame=2)
    return root


def table(path, name):
    with open(path / name) as fh:
        return [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(fh)]


def deterministic(summary):
    s = json.loads(json.dumps(summary))
    for key in ("time_auc", "jf_at_60s", "seconds_per_round", "davis_curve"):
        s["metrics"].pop(key, None)
    return s


def configs(data, out):
    return [RunConfig(strategy=s, backend="fake", dataset=str(data), rounds=3, seed=seed, out=str(out))
            for s, seed in (("random", 0), ("random", 1), ("linspace", 0))]


def assert_same_runs(a, b):
    for (pa, sa), (pb, sb) in zip(a, b):
        assert pa.name == pb.name
        for name in ("rounds.csv", "report.csv", "quality.csv"):
            assert table(pa, name) == table(pb, name), name
        assert deterministic(sa) == deterministic(sb)
        assert sorted(p.name for p in (pa / "chosen").rglob("*.png")) == sorted(p.name for p in (pb / "chosen").rglob("*.png"))


def test_local_processes_equal_a_serial_run(four, tmp_path):
    serial = run_all(configs(four, tmp_path / "serial"), jobs=1)
    parallel = run_all(configs(four, tmp_path / "parallel"), jobs=2)
    assert all(s["complete"] and s["n_samples"] == 4 for _, s in serial)
    assert_same_runs(serial, parallel)


def test_a_finished_run_gets_its_summary_before_the_comparison_ends(four, tmp_path):
    cfgs = configs(four, tmp_path / "serial")
    seen = []

    def progress(event, **info):
        if event == "sample":  # the serial executor plays run 0's four samples first
            seen.append(len(list((tmp_path / "serial").glob("*/summary.json"))))

    run_all(cfgs, progress=progress, jobs=1)
    assert seen[:4] == [0, 0, 0, 1]  # run 0's summary is written with its last sample, not at the end


def test_ray_equals_a_serial_run(four, tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'ivosw-bench[ray]'")
    serial = run_all(configs(four, tmp_path / "serial"), jobs=1)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        on_ray = run_all(configs(four, tmp_path / "ray"), executor="ray")
    finally:
        ray.shutdown()
    assert_same_runs(serial, on_ray)


def test_executor_options_are_checked():
    with pytest.raises(RunError, match="--jobs must be >= 1"):
        make_executor("local", 0)
    with pytest.raises(RunError, match="--ray-address needs --executor ray"):
        make_executor("local", 2, "1.2.3.4:6379")
    with pytest.raises(RunError, match="--executor must be one of"):
        make_executor("slurm")
    assert isinstance(make_executor("local", 1), SerialExecutor)


def test_a_failing_task_reports_its_own_error(four, tmp_path):
    (four / "JPEGImages/480p/s2/00003.jpg").write_bytes(b"broken")  # found by the check before any work
    from ivosw_bench.errors import DatasetError

    with pytest.raises(DatasetError, match="00003.jpg"):
        run_all(configs(four, tmp_path / "x"), jobs=2)
    assert not (tmp_path / "x").exists()
