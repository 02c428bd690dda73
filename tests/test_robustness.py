"""Inputs that used to destroy data or end in a traceback, one test each, and a fuzz test that throws
random option values and random corruptions of a dataset and of a run folder at the CLI."""
from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from ivosw_bench.cli import main
from ivosw_bench.errors import StoreError, WeightsError
from ivosw_bench.session import RunConfig, RunError, run

from conftest import write_sequence


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)


def assert_clean(result, allow_ok: bool = True):
    """Exit 0, or one line 'error: ...' with exit status 2; never a traceback."""
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        f"traceback: {result.exception!r}\n{result.output}"
    if result.exit_code == 0 and allow_ok:
        return
    lines = [ln for ln in (result.stderr or result.output).strip().splitlines() if ln.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error:"), \
        (result.exit_code, result.output)


def snapshot(root: Path, skip: Path | None = None) -> dict:
    out = {}
    for p in root.rglob("*"):
        if p.is_file() and not (skip is not None and (p == skip or skip in p.parents)):
            st = p.stat()
            out[str(p)] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture
def data(tmp_path) -> Path:
    root = tmp_path / "data"
    write_sequence(root, "one", n_objects=1, n_frames=6)
    return root


def fake_run(data, out, **kw):
    cfg = RunConfig(strategy=kw.pop("strategy", "linspace"), backend="fake", dataset=str(data), rounds=2,
                    out=str(out), **kw)
    return run(cfg)


# -- run names and --overwrite ---------------------------------------------------------------------
def test_run_name_must_be_one_plain_component(data, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep")
    out = tmp_path / "runs"
    for name in ("../victim", ".", "..", "a/b", "", ".hidden", "-x"):
        with pytest.raises(RunError, match="--name must be one plain folder name"):
            fake_run(data, out, name=name, overwrite=True)
    assert (victim / "precious.txt").read_text() == "keep"


def test_overwrite_removes_only_run_folders_and_says_so(data, tmp_path):
    out = tmp_path / "runs"
    path, _ = fake_run(data, out, name="mine")
    other = out / "notarun"
    other.mkdir()
    (other / "x.txt").write_text("keep")
    with pytest.raises(StoreError, match="not a run folder of ivosw-bench"):
        fake_run(data, out, name="notarun", overwrite=True)
    assert (other / "x.txt").read_text() == "keep"
    said = []
    run(RunConfig(strategy="linspace", backend="fake", dataset=str(data), rounds=2, out=str(out), name="mine",
                  overwrite=True), log=said.append)
    assert said and "removing the run folder" in said[0] and str(path) in said[0]


def test_negative_seed_and_out_below_a_file_leave_nothing(data, tmp_path):
    out = tmp_path / "runs"
    with pytest.raises(RunError, match="--seed must be an integer"):
        fake_run(data, out, seed=-1, strategy="random")
    assert not out.exists()
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot create the run folder"):
        fake_run(data, blocker / "sub")
    assert blocker.read_text() == "x"
    r = invoke("run", "--backend", "fake", "--dataset", data, "--out", blocker, "--rounds", 2)
    assert_clean(r, allow_ok=False)


# -- resume of a damaged run -----------------------------------------------------------------------
def test_resume_stops_at_a_damaged_line_before_any_work(data, tmp_path):
    out = tmp_path / "runs"
    write_sequence(data, "two", n_objects=2, n_frames=7, scribble_frame=3)
    path, summary = fake_run(data, out)
    rounds = (path / "rounds.csv").read_text().splitlines()
    rounds[2] = rounds[2][: len(rounds[2]) // 2]  # a torn line in the middle
    (path / "rounds.csv").write_text("\n".join(rounds) + "\n")
    before = snapshot(tmp_path)
    with pytest.raises(StoreError, match=r"rounds.csv, line 3: damaged row"):
        fake_run(data, out, resume=True)
    assert snapshot(tmp_path) == before  # nothing redone, nothing written
    r = invoke("run", "--strategy", "linspace", "--backend", "fake", "--dataset", data, "--out", out,
               "--rounds", 2, "--resume")
    assert_clean(r, allow_ok=False)
    assert "line 3" in r.stderr


# -- weights files ---------------------------------------------------------------------------------
def test_qa_checkpoint_with_wrong_shapes_is_one_line(tmp_path):
    from ivosw_bench.quality.model import QAConfig, QualityModel

    good = QualityModel(QAConfig(input_size=16, crop_size=16), device="cpu").state()
    good["state_dict"]["fc.weight"] = torch.zeros(3, 7)  # right format, wrong tensor shape
    bad = tmp_path / "qa.pt"
    torch.save(good, bad)
    with pytest.raises(WeightsError, match=r"qa.pt: not a valid quality weights file \(the tensors do not fit"):
        QualityModel.load(bad, device="cpu")
    from ivosw_bench.agent.model import QNetwork, load_weights, save_weights

    agent = tmp_path / "agent.pt"
    save_weights(QNetwork(2, 8), agent)
    blob = torch.load(agent, weights_only=True)
    blob["hparams"]["hidden"] = 16
    torch.save(blob, agent)
    with pytest.raises(WeightsError, match=r"agent.pt: not a valid agent weights file \(the tensors do not fit"):
        load_weights(agent)


# -- study server ----------------------------------------------------------------------------------
def test_study_server_answers_deeply_nested_json_with_400():
    import urllib.error
    import urllib.request

    from ivosw_bench.study import WebUI

    ui = WebUI(port=0)
    ui.start()
    try:
        body = ("[" * 100_000 + "]" * 100_000).encode()
        req = urllib.request.Request(ui.url + "api/choose", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code in (400, 413)
        assert "nested" in err.value.read().decode() or err.value.code == 413
    finally:
        ui.close()


# -- data generate ---------------------------------------------------------------------------------
def test_data_generate_bad_counts_and_foreign_folders(tmp_path):
    assert_clean(invoke("data", "generate", "--out", tmp_path / "d", "--n-sequences", 0), allow_ok=False)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "mine.txt").write_text("keep")
    r = invoke("data", "generate", "--out", foreign, "--n-sequences", 1, "--frames", 4, "--size", "64x48")
    assert_clean(r, allow_ok=False)
    assert [p.name for p in foreign.iterdir()] == ["mine.txt"]


# -- the fuzz test ---------------------------------------------------------------------------------
OPTIONS = {
    "--strategy": ["random", "linspace", "worst-oracle", "agent", "nope", "human:x", "", "random:x"],
    "--backend": ["fake", "nope", "manet"],
    "--rounds": ["2", "0", "-1", "17", "x", "1"],
    "--seed": ["0", "-5", "3", str(2**40), "a"],
    "--setting": ["oracle", "wild", "bad"],
    "--name": [None, "../victim", ".", "ok", "a/b", "", ".hidden", "x" * 300],
    "--sequences": [None, "one", "nope", "one,one", ","],
    "--subset": [None, "train", "nope", "all"],
    "--agent-weights": [None, "GARBAGE", "MISSING"],
    "--quality-weights": [None, "GARBAGE", "MISSING"],
}


def _corrupt_dataset(root: Path, rng: random.Random) -> str:
    seq = root / "JPEGImages/480p/one"
    kind = rng.choice(["none", "missing-frame", "torn-jpeg", "mask-size", "broken-scribble", "empty-scribble",
                       "nested-scribble", "no-annotations", "extra-mask", "bad-palette-value"])
    if kind == "missing-frame":
        (seq / "00003.jpg").unlink()
    elif kind == "torn-jpeg":
        p = seq / "00002.jpg"
        p.write_bytes(p.read_bytes()[:100])
    elif kind == "mask-size":
        from PIL import Image

        Image.new("P", (10, 10)).save(root / "Annotations/480p/one/00001.png")
    elif kind == "broken-scribble":
        (root / "Scribbles/one/001.json").write_text('{"scribbles": [[{"path": [[0.1, ')
    elif kind == "empty-scribble":
        (root / "Scribbles/one/001.json").write_text(json.dumps({"scribbles": [[] for _ in range(6)]}))
    elif kind == "nested-scribble":
        (root / "Scribbles/one/001.json").write_text("[" * 50_000 + "]" * 50_000)
    elif kind == "no-annotations":
        shutil.rmtree(root / "Annotations")
    elif kind == "extra-mask":
        shutil.copy(root / "Annotations/480p/one/00000.png", root / "Annotations/480p/one/00009.png")
    elif kind == "bad-palette-value":
        from PIL import Image
        import numpy as np

        Image.fromarray(np.full((48, 64), 7, np.uint8), "L").save(root / "Annotations/480p/one/00004.png")
    return kind


def _corrupt_run(path: Path, rng: random.Random) -> str:
    kind = rng.choice(["rounds-line", "rounds-header", "report-torn", "config-garbage", "config-missing",
                       "summary-garbage", "quality-line", "extra-file"])
    if kind == "rounds-line":
        lines = (path / "rounds.csv").read_text().splitlines()
        lines[1] = lines[1].replace(",", ";", 3)
        (path / "rounds.csv").write_text("\n".join(lines) + "\n")
    elif kind == "rounds-header":
        (path / "rounds.csv").write_text("garbage\n")
    elif kind == "report-torn":
        p = path / "report.csv"
        p.write_text(p.read_text()[:-7])
    elif kind == "config-garbage":
        (path / "config.json").write_text("{not json")
    elif kind == "config-missing":
        (path / "config.json").unlink()
    elif kind == "summary-garbage":
        (path / "summary.json").write_text("[" * 10_000)
    elif kind == "quality-line":
        p = path / "quality.csv"
        p.write_text(p.read_text() + "one,1,1,zz,0.5\n")
    elif kind == "extra-file":
        (path / "notes.txt").write_text("mine")
    return kind


def _args(rng: random.Random, data: Path, out: Path, tmp: Path) -> list[str]:
    args = ["run", "--dataset", str(data), "--out", str(out), "-q"]
    for opt, values in OPTIONS.items():
        v = rng.choice(values) if rng.random() < 0.35 else values[0]
        if opt in ("--agent-weights", "--quality-weights") and v is not None:
            p = tmp / f"{opt[2:]}.pt"
            if v == "GARBAGE":
                p.write_bytes(os.urandom(64))
            v = str(p)
        if v is not None:
            args += [opt, v]
    for flag in ("--resume", "--overwrite"):
        if rng.random() < 0.2:
            args.append(flag)
    return args


@pytest.mark.parametrize("case", range(40))
def test_fuzz_cli_never_tracebacks_nor_touches_other_files(case, tmp_path):
    rng = random.Random(1000 + case)
    data = tmp_path / "data"
    write_sequence(data, "one", n_objects=1, n_frames=6)
    (data / "ImageSets/2017").mkdir(parents=True)
    (data / "ImageSets/2017/train.txt").write_text("one\n")
    out = tmp_path / "runs"
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep")
    if case % 3 == 1:
        _corrupt_dataset(data, rng)
    existing = None
    if case % 3 == 2:  # a finished run folder, then damaged, then resumed/overwritten/reported
        r = invoke("run", "--strategy", "linspace", "--backend", "fake", "--dataset", data, "--out", out,
                   "--rounds", 2, "--name", "ok", "-q")
        assert r.exit_code == 0, r.output
        existing = out / "ok"
        _corrupt_run(existing, rng)
        assert_clean(invoke("leaderboard", existing, "--out", tmp_path / "rep"))
    args = _args(rng, data, out, tmp_path)
    before = snapshot(tmp_path)
    result = invoke(*args)
    assert_clean(result)
    if result.exit_code != 0:  # a refused command changes nothing at all
        assert snapshot(tmp_path) == before, args
    else:  # a run may only write its own run folder (the one it names)
        run_dir = Path(result.stdout.split("run folder: ")[-1].split()[0])
        assert run_dir.parent == out, result.stdout
        outside = lambda snap: {k: v for k, v in snap.items() if not k.startswith(str(run_dir) + os.sep)}
        assert outside(snapshot(tmp_path)) == outside(before), args
    assert (victim / "precious.txt").read_text() == "keep"
