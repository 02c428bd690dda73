"""ivosw-bench command line: parse options, call the library, print. No logic lives here."""
from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

out_console = Console()
if not out_console.is_terminal:  # logs and CI: wide enough for the leaderboard table
    out_console = Console(width=160)
err_console = Console(stderr=True)


def _error(message: str, status: int = 2) -> None:
    from .errors import one_line

    err_console.print(f"[bold red]error:[/] {escape(one_line(message))}", highlight=False, soft_wrap=True)
    sys.exit(status)


class _Group(click.Group):
    """Turns the library's user-facing errors and click's usage errors into one line on stderr and
    exit status 2 (never a traceback for bad input)."""

    def invoke(self, ctx):
        from .errors import user_errors

        try:
            return super().invoke(ctx)
        except user_errors() as exc:
            _error(str(exc))

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            _error(exc.format_message() + hint, 2)
        except click.ClickException as exc:
            _error(exc.format_message(), exc.exit_code)
        except click.Abort:
            err_console.print("aborted")
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


def _log(message: str) -> None:
    err_console.print(escape(message), highlight=False, soft_wrap=True)


def _csv(value: str | None) -> list[str] | None:
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items or None


def _ints(value: str) -> list[int]:
    try:
        return [int(v) for v in _csv(value) or []]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got '{value}'")


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ivosw-bench")
def main():
    """ivosw-bench: which frame should the user annotate next?

    Runs frame-recommendation strategies against interactive VOS backends on the DAVIS interactive
    protocol (davisinteractive 1.0.4) and reports how much each improves segmentation per round.
    """


def _run_options(f):
    options = [
        click.option("--backend", default="classic", show_default=True, help="backend name (see 'ivosw-bench backends')"),
        click.option("--dataset", default=None, help="DAVIS-layout folder or a known name (default: the embedded synthetic data)"),
        click.option("--subset", default=None, help="named subset of the dataset (ImageSets/2017/<name>.txt, or 'all')"),
        click.option("--sequences", default=None, help="comma-separated sequence names (default: all of the subset)"),
        click.option("--scribbles", default=None, metavar="I,J",
                     help="comma-separated scribble set numbers to play (default: every set of each sequence)"),
        click.option("--rounds", default=8, show_default=True, type=int, help="interaction rounds per sample (T)"),
        click.option("--setting", default=None, type=click.Choice(["oracle", "wild"]),
                     help="what strategies may see: oracle = GT per-frame J&F, wild = predicted quality "
                          "[default: oracle; wild with --host]"),
        click.option("--agent-weights", default=None, type=click.Path(dir_okay=False),
                     help="weights of the 'agent' strategy (default: weights/agent-classic.pt)"),
        click.option("--candidates", default=None, type=click.IntRange(min=1),
                     help="frames greedy-oracle tries each round, evenly spaced (default: every frame)"),
        click.option("--quality-weights", default=None, type=click.Path(dir_okay=False),
                     help="QA network checkpoint for the wild setting (default: weights/quality-classic.pt)"),
        click.option("--qa-tta", is_flag=True,
                     help="wild: average the QA network over each crop and its mirror image (twice its work)"),
        click.option("--out", default="runs", show_default=True, type=click.Path(file_okay=False), help="folder of run folders"),
        click.option("--resume", is_flag=True, help="continue an existing run folder (a killed run)"),
        click.option("--overwrite", is_flag=True, help="delete an existing run folder and start again"),
        click.option("--executor", default="local", show_default=True, type=click.Choice(["local", "ray"]),
                     help="where samples run: local processes, or a Ray cluster (pip install 'ivosw-bench[ray]')"),
        click.option("--ray-address", default=None,
                     help="Ray cluster address (e.g. 10.0.0.5:6379) for --executor ray (default: a local Ray)"),
        click.option("--quiet", "-q", is_flag=True, help="no progress bar"),
        click.option("--host", default=None, metavar="URL",
                     help="run against a benchmark server (ivosw-bench serve) at this URL; the dataset folder "
                          "needs images, scribbles and sequences.json only"),
        click.option("--user-key", default=None, envvar="IVOSW_USER_KEY",
                     help="your key on the server (or the environment variable IVOSW_USER_KEY)"),
        click.option("--timeout", default=120.0, show_default=True, type=float,
                     help="seconds to wait for the server's answer"),
    ]
    for opt in reversed(options):
        f = opt(f)
    return f


def _scribble_sets(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        sets = sorted({int(x) for x in _csv(text)})
    except ValueError:
        raise click.BadParameter(f"expected comma-separated numbers such as 1,3, not {text!r}",
                                 param_hint="--scribbles") from None
    if not sets or sets[0] < 1:
        raise click.BadParameter(f"scribble set numbers start at 1, not {text!r}", param_hint="--scribbles")
    return sets


def _base_config(**kw):
    from .session import RunConfig

    setting = kw["setting"] or ("wild" if kw["host"] else "oracle")
    return RunConfig(backend=kw["backend"], dataset=kw["dataset"], subset=kw["subset"],
                     sequences=_csv(kw["sequences"]), scribbles=_scribble_sets(kw["scribbles"]),
                     rounds=kw["rounds"], setting=setting,
                     host=kw["host"], user_key=kw["user_key"], timeout=kw["timeout"],
                     out=kw["out"], resume=kw["resume"], overwrite=kw["overwrite"],
                     quality_weights=kw["quality_weights"], quality_tta=kw["qa_tta"],
                     strategy_options={k: kw[k] for k in ("agent_weights", "candidates") if kw[k] is not None})


@main.command()
@click.option("--strategy", default="random", show_default=True, help="strategy name (see 'ivosw-bench strategies')")
@click.option("--seed", default=0, show_default=True, type=int, help="seed of stochastic strategies")
@click.option("--name", default=None, help="run folder name (default: derived from the options)")
@click.option("--jobs", default=1, show_default=True, type=click.IntRange(min=1),
              help="samples played in parallel (local worker processes)")
@_run_options
def run(strategy, seed, name, quiet, jobs, executor, ray_address, **kw):
    """Run one strategy with one backend over a dataset and write a run folder."""
    import dataclasses

    from .progress import run_progress
    from .results.report import load_run, rich_table
    from .session import run as run_session

    cfg = dataclasses.replace(_base_config(**kw), strategy=strategy, seed=seed, name=name)
    with run_progress(not quiet) as progress:
        path, _ = run_session(cfg, progress=progress, log=_log, jobs=jobs, executor=executor,
                              ray_address=ray_address)
    out_console.print(rich_table([load_run(path)], title=f"run {path.name}"))
    out_console.print(f"run folder: {path}")


@main.command()
@click.option("--strategies", default="random,linspace,worst-oracle", show_default=True,
              help="comma-separated strategy names")
@click.option("--seeds", default="0,1,2", show_default=True, help="seeds for stochastic strategies (e.g. random)")
@click.option("--report-dir", default=None, type=click.Path(file_okay=False),
              help="where the leaderboard files go (report.md/csv, leaderboard.html/tex, curve.png/svg)")
@click.option("--jobs", default=None, type=click.IntRange(min=1),
              help="samples played in parallel, across all runs [default: the machine's cores]")
@_run_options
def compare(strategies, seeds, report_dir, quiet, jobs, executor, ray_address, **kw):
    """Run several strategies on the same backend and data; write one table and one plot."""
    from .compare import compare as compare_runs
    from .progress import run_progress
    from .results.report import rich_table

    with run_progress(not quiet) as progress:
        _, files, runs = compare_runs(_base_config(**kw), _csv(strategies) or [], _ints(seeds),
                                      report_dir=report_dir, progress=progress, jobs=jobs, executor=executor,
                                      ray_address=ray_address, log=_log)
    out_console.print(rich_table(runs))
    for kind, path in files.items():
        out_console.print(f"{kind}: {path}")


@main.command()
@click.option("--dataset", required=True, type=click.Path(),
              help="DAVIS-layout folder with its ground truth (Annotations/); served as davisinteractive's test-dev")
@click.option("--db", default="ivosw-server.sqlite3", show_default=True, type=click.Path(dir_okay=False),
              help="SQLite database of users, sessions, interactions and summaries (created when missing)")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="address to listen on (anything but loopback is announced with a warning)")
@click.option("--port", default=8000, show_default=True, type=int, help="port (0: a free one, printed)")
@click.option("--max-interactions", default=8, show_default=True, type=int,
              help="interactions per sample of new sessions (davisinteractive's max_i, <= 16)")
@click.option("--max-body-mb", default=32.0, show_default=True, type=float, help="largest request body, MiB")
@click.option("--session-time", default=None, type=float,
              help="seconds a session may take from its start (default: no limit)")
@click.option("--eval-workers", default=2, show_default=True, type=int, help="evaluations run at once")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
def serve(**options):
    """Serve a benchmark: davisinteractive's remote protocol with the ground truth kept here, user keys,
    durable sessions (SQLite) and a hosted leaderboard (/leaderboard)."""
    from .server.serve import ServeConfig
    from .server.serve import serve as run_server

    def warn(message):
        _warn([message])

    run_server(ServeConfig(**options), echo=lambda m: err_console.print(escape(m), highlight=False, soft_wrap=True),
               warn=warn)


@main.group(cls=_Group)
def server():
    """Benchmark server administration: users and keys, the participants' copy of the dataset."""


_DB_OPTION = click.option("--db", default="ivosw-server.sqlite3", show_default=True, type=click.Path(dir_okay=False),
                          help="the server's database")


@server.command("add-user")
@click.argument("name")
@_DB_OPTION
def server_add_user(name, db):
    """Add a user and print their key (once: only its hash is stored)."""
    from .server.serve import add_user

    key = add_user(db, name)
    err_console.print(f"user {escape(name)} added to {escape(db)}; the key is shown once, give it to them now:",
                      highlight=False)
    click.echo(key)


@server.command("users")
@_DB_OPTION
def server_users(db):
    """The users of a server's database with their sessions."""
    from .server.serve import list_users

    table = Table(title=f"users of {db}")
    for col in ("name", "sessions", "finished"):
        table.add_column(col)
    for u in list_users(db):
        table.add_row(escape(u["name"]), str(u["sessions"]), str(u["finished"]))
    out_console.print(table)


@server.command("client-data")
@click.option("--dataset", required=True, type=click.Path(), help="the served dataset")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="new folder for participants")
def server_client_data(dataset, out):
    """Copy what participants need (frames, scribbles, sequences.json; no Annotations/) to a folder."""
    from .server.serve import participant_folder

    path = participant_folder(dataset, out)
    out_console.print(f"participants' folder: {path} (no ground truth)")


@main.command("train-agent")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="training folder (checkpoints, selection, curves, summary)")
@click.option("--preset", default=None, type=click.Choice(["ceiling", "paper"]),
              help="ceiling: rich state, free actions, whole videos, warm start from look-ahead data [default]; "
                   "paper: the paper's recipe (pure RL on 25-frame windows)")
@click.option("--lookahead", "lookahead_dir", default=None, type=click.Path(exists=True, file_okay=False),
              help="look-ahead data from 'ivosw-bench lookahead' (warm start, offline DQN)")
@click.option("--dataset", default=None, help="DAVIS-layout folder or known name [default: davis16-human]")
@click.option("--holdout", default=None, help="comma-separated sequences never used (the test fold)")
@click.option("--val-sequences", default=None, help="comma-separated training sequences that choose the checkpoint "
              "[default: every 5th training sequence]")
@click.option("--setting", default=None, type=click.Choice(["oracle", "wild"]),
              help="the state's quality: ground-truth J&F, or the QA network's prediction [default: oracle]")
@click.option("--quality-weights", default=None, type=click.Path(dir_okay=False), help="QA checkpoint (wild)")
@click.option("--backend", default=None, help="backend of the environment [default: classic]")
@click.option("--env-scale", type=float, default=None, help="video scale of the environment [default: 0.5]")
@click.option("--steps", "total_steps", type=int, default=None, help="online environment steps [default: 0]")
@click.option("--lr", type=float, default=None, help="Adam learning rate of the online DQN")
@click.option("--seed", type=int, default=None, help="[default: 0]")
@click.option("--jobs", type=click.IntRange(min=1), default=None, help="processes for the random baseline")
@click.option("--cache-dir", default=None, type=click.Path(file_okay=False), help="episode cache")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="any AgentTrainConfig option (JSON value), e.g. --set state=paper --set action_space=all")
@click.option("--export", default=None, type=click.Path(dir_okay=False),
              help="copy the selected policy here (.pt) with a .json beside it, e.g. weights/agent-classic.pt")
@click.option("-q", "--quiet", is_flag=True, help="no progress messages")
def train_agent(out, preset, overrides, export, quiet, holdout, val_sequences, **options):
    """Train the frame recommender: warm start from the look-ahead ceiling, double DQN, checkpoint
    selection on validation sequences (Yin et al. CVPR 2021, plus this project's additions)."""
    from .agent.train import config_from_options, export_weights
    from .agent.train import train_agent as train

    options.update(holdout=_csv(holdout), val_sequences=_csv(val_sequences))
    cfg = config_from_options(options, overrides, preset)
    summary = train(cfg, out, progress=not quiet,
                    log=None if quiet else (lambda m: err_console.print(m, highlight=False)))
    sel = summary["selected"]
    out_console.print(f"{out}: selected checkpoint '{sel['checkpoint']}', validation round-AUC "
                      f"{sel['val_round_auc']:.2f} (Linspace {sel['linspace_round_auc']:.2f}), {summary['wall_s']:.0f} s")
    if export:
        for path in export_weights(out, export, command=" ".join(["ivosw-bench"] + sys.argv[1:])):
            out_console.print(f"wrote {path}")


@main.command("agent-ensemble")
@click.argument("members", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="the ensemble's weights file (.pt)")
@click.option("--note", default=None, help="free text kept in the record (e.g. how the ensemble validated)")
def agent_ensemble(members, out, note):
    """Save several agent weights files (e.g. seeds) as one ensemble: each network's Q values are
    standardised over the video's frames and averaged before the argmax (use it as --agent-weights).
    Writes OUT and a .json record beside it (members' training summaries when found beside them)."""
    import json

    from .agent.model import save_ensemble
    from .files import write_json

    meta = save_ensemble(members, out, {"command": " ".join(["ivosw-bench"] + sys.argv[1:])})
    rows = []
    for m in meta["members"]:
        row = {"path": m["path"], "seed": (m.get("config") or {}).get("seed")}
        summary = Path(m["path"]).parent / "summary.json"
        if summary.is_file():
            done = json.loads(summary.read_text())
            row.update(selected=done.get("selected"), wall_s=done.get("wall_s"),
                       train_sequences=done.get("train_sequences"), val_sequences=done.get("val_sequences"))
        rows.append(row)
    record = {"weights": Path(out).name, **{k: v for k, v in meta.items() if k != "members"},
              "note": note, "config": meta["members"][0].get("config"), "members": rows}
    write_json(Path(out).with_suffix(".json"), record)
    out_console.print(f"wrote {out} ({len(members)} members) and {Path(out).with_suffix('.json')}")


def _warn(messages) -> None:
    for msg in messages:
        err_console.print(f"[yellow]warning:[/] {escape(msg)}", highlight=False, soft_wrap=True)


@main.command("lookahead")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="folder of look-ahead files (resumable)")
@click.option("--dataset", default="davis16-human", show_default=True, help="DAVIS-layout folder or a known name")
@click.option("--sequences", default=None, help="comma-separated sequences (default: all)")
@click.option("--backend", default="classic", show_default=True)
@click.option("--env-scale", default=0.5, show_default=True, type=click.FloatRange(0.05, 1.0),
              help="video scale of the environment")
@click.option("--rounds", default=8, show_default=True, type=click.IntRange(2, 16))
@click.option("--stride", default=2, show_default=True, type=click.IntRange(min=1), help="try every stride-th frame")
@click.option("--policies", default="greedy", show_default=True, help="greedy, linspace, random (comma-separated)")
@click.option("--quality-weights", default="default", show_default=True,
              help="QA checkpoint for the wild-setting state ('default': shipped; 'none': skip)")
@click.option("--jobs", default=None, type=click.IntRange(min=1), help="[default: the machine's cores]")
@click.option("-q", "--quiet", is_flag=True)
def lookahead_cmd(out, dataset, sequences, backend, env_scale, rounds, stride, policies, quality_weights, jobs, quiet):
    """Look-ahead data: at each state of real episodes, the next-round J&F of annotating each frame."""
    from .agent.lookahead import POLICIES, LookaheadConfig, generate
    from .progress import run_progress

    pols = _csv(policies) or []
    bad = [p for p in pols if p not in POLICIES]
    if bad or not pols:
        raise click.BadParameter(f"--policies must be among {', '.join(POLICIES)}, not {policies!r}")
    cfg = LookaheadConfig(dataset=dataset, sequences=_csv(sequences), backend=backend, env_scale=env_scale,
                          rounds=rounds, stride=stride, policies=pols,
                          quality_weights=None if quality_weights.lower() == "none" else quality_weights)
    with run_progress(not quiet) as progress:
        files = generate(cfg, out, jobs=jobs, progress=progress)
    out_console.print(f"{len(files)} look-ahead files in {out}")


@main.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path())
@click.option("--out", default=None, type=click.Path(file_okay=False),
              help="write report.md/csv, leaderboard.tex/html, per_round/per_sequence/paired.csv and "
                   "curve.png/svg into this folder (default: only print the table)")
@click.option("--reference", default=None,
              help="strategy every other one is compared with (default: the best non-learned baseline of each group)")
@click.option("--intersect", is_flag=True,
              help="compare on the samples every run covers (saying which were dropped) instead of refusing")
@click.option("--rounds", type=int, default=None, help="use only the runs with this T")
@click.option("--title", default=None)
@click.option("--n-boot", default=10000, show_default=True, type=int,
              help="bootstrap resamples (and permutations when 2^n is larger)")
@click.option("--seed", default=0, show_default=True, type=int, help="seed of the resampling")
def leaderboard(runs, out, reference, intersect, rounds, title, n_boot, seed):
    """Rank strategies with paired statistics: run folders (or folders of runs) grouped by
    dataset, backend, setting and T; 95% bootstrap CIs over samples; differences against a reference."""
    from .results.board_files import write_board
    from .results.board_text import rich_tables
    from .results.leaderboard import build_leaderboard
    from .results.report import load_runs

    board = build_leaderboard(load_runs(runs), reference=reference, intersect=intersect, rounds=rounds,
                              n_boot=n_boot, seed=seed)
    _warn(board.warnings)
    out_console.print(rich_tables(board, title=title))
    if out:
        for kind, path in write_board(board, out, title=title).items():
            out_console.print(f"{kind}: {path}")


@main.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path())
@click.option("--sample", required=True, metavar="SEQ[:IDX]",
              help="the sample to draw: a sequence, with its scribble number when it has several (bear:1)")
@click.option("--out", default="reports/timeline", show_default=True, type=click.Path(file_okay=False),
              help="folder for timeline-<seq>-<idx>.png/svg")
def timeline(runs, sample, out):
    """The recommended-frame timeline of one sample: per round, the quality curve each strategy saw,
    the frame it chose, and the chosen frames with their masks."""
    from .results.report import load_runs
    from .results.timeline import write_timeline

    files = write_timeline(load_runs(runs), sample, out)
    _warn(files.pop("notes"))
    for kind, path in files.items():
        out_console.print(f"{kind}: {path}")


@main.group(cls=_Group)
def data():
    """Datasets: check a folder, list its sequences, generate the synthetic default."""


@data.command("check")
@click.argument("root", type=click.Path())
@click.option("--sequences", default=None, help="comma-separated sequences to check (default: all)")
def data_check(root, sequences):
    """Validate a DAVIS-layout folder and name every problem."""
    from .data.check import check_dataset

    problems = check_dataset(root, _csv(sequences))
    for p in problems:
        out_console.print(escape(str(p)), highlight=False, soft_wrap=True)
    if problems:
        err_console.print(f"[bold red]{len(problems)} problem(s)[/] in {root}")
        sys.exit(1)
    out_console.print(f"[green]ok[/]: {root} is a valid DAVIS-layout dataset")


@data.command("list")
@click.argument("dataset", required=False)
def data_list(dataset):
    """Sequences of a dataset (folder or known name) with frames, objects, size and subsets."""
    from .data.davis_layout import open_dataset

    ds = open_dataset(dataset, check=False)
    table = Table(title=f"{ds.name} ({ds.root})")
    for col in ("sequence", "frames", "objects", "size", "scribbles"):
        table.add_column(col)
    for seq, m in sorted(ds.sequences.items()):
        table.add_row(seq, str(m["num_frames"]), str(m["num_objects"]), "x".join(map(str, m["image_size"])),
                      str(m["num_scribbles"]))
    out_console.print(table)
    out_console.print("subsets: " + ", ".join(f"{k} ({len(v)})" for k, v in sorted(ds.subsets.items())))


@data.command("generate")
@click.option("--out", default=None, type=click.Path(file_okay=False),
              help="target folder (default: the embedded synthetic dataset's folder)")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--n-sequences", default=4, show_default=True, type=int)
@click.option("--frames", default=30, show_default=True, type=int)
@click.option("--size", default="432x240", show_default=True, help="WxH")
def data_generate(out, seed, n_sequences, frames, size):
    """Generate a synthetic DAVIS-layout dataset (deterministic from the seed)."""
    from .data.davis_layout import KNOWN_DATASETS, SYNTHETIC_NAME
    from .data.synthetic import generate

    try:
        w, h = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"--size must be WxH, got '{size}'")
    root = Path(out) if out else KNOWN_DATASETS[SYNTHETIC_NAME]
    generate(root, seed=seed, n_sequences=n_sequences, n_frames=frames, size=(w, h))
    out_console.print(f"synthetic dataset at {root}")


@data.command("youtube-vos")
@click.option("--src", required=True, type=click.Path(), help="YouTube-VOS root (train/JPEGImages, train/Annotations, train/meta.json)")
@click.option("--scribbles", required=True, type=click.Path(), help="folder of <video>/001.json scribbles")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="new DAVIS-layout folder")
@click.option("--sequence", "sequences", multiple=True, help="convert only these videos (repeatable)")
@click.option("--val", "val_sequences", multiple=True, help="videos of a val.txt subset (repeatable)")
@click.option("--split", default="train", show_default=True)
def data_youtube_vos(src, scribbles, out, sequences, val_sequences, split):
    """Convert YouTube-VOS + scribbles into a DAVIS-like layout (the paper's 50-sequence subset)."""
    from .data.youtube_vos import convert_youtube_vos
    from .progress import run_progress

    with run_progress() as progress:
        def step(done, total, video):
            if done == 0 or "task" not in step.__dict__:
                step.task = True
                progress("step", total=total, name="youtube-vos", description=video)
            progress("step", description=video)

        convert_youtube_vos(src, scribbles, out, sequences=list(sequences) or None, progress=step,
                            split=split, val_sequences=list(val_sequences) or None)
    out_console.print(f"DAVIS-layout dataset at {out}; check it with: ivosw-bench data check {out}")


@main.command()
def backends():
    """Installed backends, whether each can run here, and how (e.g. with random weights)."""
    from .registry import backend_table

    table = Table(title="backends (entry-point group ivosw_bench.backends)")
    cols = ("name", "usable", "missing", "notes", "description")
    for col in cols:
        table.add_column(col)
    for row in backend_table():
        table.add_row(*(escape(row[k]) for k in cols))
    out_console.print(table)


@main.command()
def strategies():
    """Installed strategies."""
    from .registry import strategy_class, strategy_names

    table = Table(title="strategies (entry-point group ivosw_bench.strategies)")
    for col in ("name", "needs ground truth", "description"):
        table.add_column(col)
    for name in strategy_names():
        cls = strategy_class(name)
        table.add_row(name, "yes" if cls.needs_oracle else "no", cls.description)
    out_console.print(table)


@main.command()
@click.option("--participant", required=True, help="participant name (letters, digits, _ - .); the run's strategy is human:<name>")
@click.option("--ui", default="web", show_default=True, type=click.Choice(["web", "terminal"]),
              help="web page on 127.0.0.1, or a contact sheet PNG + a frame number typed on stdin")
@click.option("--port", default=0, show_default=True, type=int, help="port of the web UI on 127.0.0.1 (0 = a free port)")
@click.option("--no-browser", is_flag=True, help="print the URL but do not open a browser")
@click.option("--show-quality", is_flag=True, help="show the per-frame quality numbers to the participant")
@click.option("--backend", default="classic", show_default=True, help="backend name (see 'ivosw-bench backends')")
@click.option("--dataset", default=None, help="DAVIS-layout folder or a known name (default: the embedded synthetic data)")
@click.option("--subset", default=None, help="named subset of the dataset")
@click.option("--sequences", default=None, help="comma-separated sequence names")
@click.option("--rounds", default=8, show_default=True, type=int, help="interaction rounds per sample (T)")
@click.option("--out", default="runs", show_default=True, type=click.Path(file_okay=False), help="folder of run folders")
@click.option("--resume", is_flag=True, help="continue this participant's run where it stopped")
def study(participant, ui, port, no_browser, show_quality, backend, dataset, subset, sequences, rounds, out, resume):
    """Human-selection study: a person picks the frame to annotate in every round (each choice timed)."""
    from .results.report import load_run, rich_table
    from .study import run_study

    path, _ = run_study(dataset=dataset, sequences=_csv(sequences), subset=subset, participant=participant,
                        backend=backend, rounds=rounds, ui=ui, port=port, open_browser=not no_browser,
                        show_quality=show_quality, out=out, resume=resume,
                        echo=lambda msg: err_console.print(msg, highlight=False, soft_wrap=True))
    out_console.print(rich_table([load_run(path)], title=f"study {path.name}"))
    out_console.print(f"run folder: {path} (seconds per choice: {path / 'choices.csv'})")


@main.command("choice-times")
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--out", default=None, type=click.Path(file_okay=False),
              help="folder for choice_times.csv/.md (default: reports/choice_times)")
def choice_times(runs, out):
    """Seconds per frame choice: each study participant next to each strategy's latency."""
    from .study import choice_time_table, write_choice_time_table

    table = Table(title="seconds per frame choice")
    for col in ("who", "kind", "runs", "choices", "mean s", "median s", "round-AUC"):
        table.add_column(col, justify="left" if col in ("who", "kind") else "right")
    fmt = lambda v: "—" if v is None else f"{v:.3g}"
    for r in choice_time_table(runs):
        table.add_row(r["label"], r["kind"], str(r["runs"]), str(r["n_choices"]), fmt(r["mean_s"]),
                      fmt(r["median_s"]), fmt(r["round_auc"]))
    out_console.print(table)
    for kind, path in write_choice_time_table(runs, out or Path("reports") / "choice_times").items():
        out_console.print(f"{kind}: {path}")


@main.command("qa-samples")
@click.option("--dataset", default="davis16-train", show_default=True, help="DAVIS-layout folder or a known name")
@click.option("--sequences", default=None, help="comma-separated sequences (default: all)")
@click.option("--backend", default="classic", show_default=True)
@click.option("--policies", default="worst-oracle,random,linspace", show_default=True,
              help="frame-choice policies, one episode each: worst-oracle, random, linspace, mix")
@click.option("--rounds", default=8, show_default=True, type=int)
@click.option("--size", default=128, show_default=True, type=int, help="crop size stored on disk")
@click.option("--frame-stride", default=1, show_default=True, type=int)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--shard", default="0/1", show_default=True, help="i/n: this process's share of the chunks")
@click.option("--jobs", default=1, show_default=True, type=click.IntRange(min=1), help="chunks made in parallel")
@click.option("--out", default="/tmp/qa-data", show_default=True, type=click.Path(file_okay=False))
@click.option("-q", "--quiet", is_flag=True)
def qa_samples(dataset, sequences, backend, policies, rounds, size, frame_stride, seed, shard, jobs, out, quiet):
    """Generate (resumably) QA training samples: crops + true J&F of a backend's predictions."""
    from .quality.samples import generate_samples

    i, n = (int(v) for v in shard.split("/"))
    files = generate_samples(dataset, out, sequences=_csv(sequences), backend=backend,
                             policies=_csv(policies), rounds=rounds, size=size, frame_stride=frame_stride,
                             seed=seed, shard=(i, n), progress=not quiet, jobs=jobs)
    out_console.print(f"{len(files)} chunks in {out}")


@main.command("qa-corrupt")
@click.option("--dataset", default="davis16-train", show_default=True, help="DAVIS-layout folder or a known name")
@click.option("--sequences", default=None, help="comma-separated training sequences (default: all; leave your held-out ones out)")
@click.option("--per-frame", default=10, show_default=True, type=int, help="corrupted masks per object and frame")
@click.option("--size", default=128, show_default=True, type=int, help="crop size stored on disk")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--shard", default="0/1", show_default=True, help="i/n: this process's share of the sequences")
@click.option("--out", default="/tmp/qa-data", show_default=True, type=click.Path(file_okay=False))
@click.option("-q", "--quiet", is_flag=True)
def qa_corrupt(dataset, sequences, per_frame, size, seed, shard, out, quiet):
    """Generate (resumably) QA samples from corrupted ground truth: masks of every quality, exact labels."""
    from .quality.corrupt import generate_corrupted

    i, n = (int(v) for v in shard.split("/"))
    files = generate_corrupted(dataset, out, sequences=_csv(sequences), per_frame=per_frame, size=size,
                               seed=seed, shard=(i, n), progress=not quiet)
    out_console.print(f"{len(files)} corrupted-GT chunks in {out}")


@main.command("train-quality")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--out", default="runs/qa/quality.pt", show_default=True, help="checkpoint to write (+ .state.pt, .log.csv beside it)")
@click.option("--depth", type=click.Choice(["18", "34", "50"]), default="18", show_default=True)
@click.option("--input-size", default=96, show_default=True, type=int)
@click.option("--epochs", default=6, show_default=True, type=int)
@click.option("--batch-size", default=64, show_default=True, type=int)
@click.option("--lr", default=1e-3, show_default=True, type=float)
@click.option("--weight-decay", default=1e-4, show_default=True, type=float)
@click.option("--augment", type=click.Choice(["basic", "strong", "none"]), default="basic", show_default=True)
@click.option("--geometry/--no-geometry", default=True, show_default=True,
              help="give the network the crop's size relative to the image (needs chunks with boxes)")
@click.option("--image", type=click.Choice(["rgb", "edges"]), default="edges", show_default=True,
              help="image channels: RGB, or grey level + Sobel gradients (generalises better to unseen videos)")
@click.option("--corrupt-fraction", default=None, type=click.FloatRange(0, 1),
              help="share of corrupted-GT samples in each epoch (default: their share of the data)")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--val-sequences", default=None, help="comma-separated held-out sequences (default: --val-fraction of them at random)")
@click.option("--val-fraction", default=0.2, show_default=True, type=float)
@click.option("--samples-per-epoch", default=None, type=int, help="default: the number of training samples")
@click.option("--balance/--no-balance", default=True, show_default=True, help="oversample rare J&F values")
@click.option("--select", type=click.Choice(["last", "best"]), default="last", show_default=True)
@click.option("--resume/--no-resume", default=True, show_default=True)
@click.option("--fp16", is_flag=True, help="store the final weights in half precision")
@click.option("--tensorboard", is_flag=True)
@click.option("--device", default="auto", show_default=True)
@click.option("-q", "--quiet", is_flag=True)
def train_quality_cmd(data_dir, out, depth, input_size, epochs, batch_size, lr, weight_decay, augment, geometry,
                      image, corrupt_fraction, seed,
                      val_sequences, val_fraction, samples_per_epoch, balance, select, resume, fp16, tensorboard,
                      device, quiet):
    """Train the QA network (ResNet + head -> J&F) on chunks written by 'qa-samples' and 'qa-corrupt'.

    Validation uses only backend chunks (corrupted-GT chunks of validation sequences are left out)."""
    from .quality.train import QATrainConfig, train_quality

    cfg = QATrainConfig(depth=int(depth), input_size=input_size, epochs=epochs, batch_size=batch_size, lr=lr,
                        weight_decay=weight_decay, augment=augment, geometry=geometry, image=image,
                        corrupt_fraction=corrupt_fraction, seed=seed, val_sequences=_csv(val_sequences),
                        val_fraction=val_fraction, samples_per_epoch=samples_per_epoch, balance=balance,
                        select=select, resume=resume, fp16=fp16, tensorboard=tensorboard, device=device)
    meta = train_quality(data_dir, out, cfg, progress=not quiet, command=" ".join(sys.argv))
    m = meta["val_metrics"].get("all", {})
    out_console.print(f"{out}: epoch {meta['selected_epoch']}, validation PCC {m.get('pcc', float('nan')):.3f} "
                      f"MSE {m.get('mse', float('nan')):.4f} (n={m.get('n', 0)}), {meta['wall_s']:.0f} s")


@main.command("eval-quality")
@click.option("--weights", default=None, help="checkpoint (default: the shipped weights/quality-classic.pt)")
@click.option("--data", "data_dir", default=None, type=click.Path(exists=True, file_okay=False),
              help="chunks from 'qa-samples' (else generated from --dataset/--sequences/--backend)")
@click.option("--dataset", default=None)
@click.option("--sequences", default=None)
@click.option("--backend", default="classic", show_default=True)
@click.option("--rounds", default=8, show_default=True, type=int)
@click.option("--device", default="auto", show_default=True)
@click.option("-q", "--quiet", is_flag=True)
def eval_quality_cmd(weights, data_dir, dataset, sequences, backend, rounds, device, quiet):
    """PCC and MSE of the QA network against true J&F (the paper's Table 3)."""
    from .quality.train import eval_quality

    res = eval_quality(weights, data_dir, sequences=_csv(sequences), dataset=dataset, backend=backend,
                       rounds=rounds, device=device, progress=not quiet)
    table = Table(title="QA network vs true J&F")
    for col in ("backend", "PCC", "MSE", "n"):
        table.add_column(col)
    for be, m in res["per_backend"].items():
        a = m["all"]
        table.add_row(be, f"{a['pcc']:.3f}", f"{a['mse']:.4f}", str(a["n"]))
    table.add_row("all", f"{res['pcc']:.3f}", f"{res['mse']:.4f}", str(res["n"]))
    out_console.print(table)


if __name__ == "__main__":  # pragma: no cover
    main()
