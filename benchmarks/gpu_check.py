"""GPU check of the third-party adapters: each available one, a few rounds on one sequence, on CUDA.

    benchmarks/gpu_check.sh [SEQUENCE]          # the wrapper: time limit, venv, defaults
    python benchmarks/gpu_check.py --dataset davis16-train --sequence dog-agility --rounds 2

For each of MANet, ATNet, IPN and SAM 2: its checkout/weights come from the usual settings
(``IVOSW_<METHOD>_ROOT``, ``..._WEIGHTS``, ... or ``~/.config/ivosw-bench/backends.toml``; MANet and
ATNet checkouts also from ``upstream/CVPR2020_MANet`` and ``upstream/IVOS-ATNet`` in this working
tree). MANet and ATNet run with the user's weights where set and otherwise with random weights of the
right architecture (``random_weights``: plumbing only, said in the output). Nothing is substituted:
the checkouts' own CUDA code runs (``cpu_shims`` is refused), so ATNet needs its correlation package
built as its README says. Prints, per adapter and round, seconds, peak GPU memory and J&F, plus the
masks' sanity; exit status 1 when an adapter that could run failed or broke the Backend contract.
No network is used.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ADAPTERS = ("manet", "atnet", "ipn", "sam2")
RANDOM_OK = ("manet", "atnet")  # adapters with a random-weights mode
LOCAL_CHECKOUTS = {"manet": REPO / "upstream" / "CVPR2020_MANet", "atnet": REPO / "upstream" / "IVOS-ATNet"}


def say(msg: str) -> None:
    print(msg, flush=True)


def use_local_checkouts() -> None:
    """``upstream/<repo>`` in the working tree when the root setting is not given otherwise."""
    from backends import _checkout as ck

    for method, folder in LOCAL_CHECKOUTS.items():
        if ck.setting(method, "root")[0] is None and folder.is_dir():
            os.environ[ck.env_name(method, "root")] = str(folder)


def plan(name: str) -> tuple[dict | None, str]:
    """(constructor options, how it will run) or (None, why it is skipped)."""
    from backends import _checkout as ck
    from ivosw_bench.registry import backend_class

    if ck.flag_setting(name, "cpu_shims"):
        return None, f"{ck.env_name(name, 'cpu_shims')} is set: unset it, this check runs the real CUDA code"
    cls = backend_class(name)
    missing = cls.availability()
    if missing is None:
        random = name in RANDOM_OK and ck.flag_setting(name, "random_weights")
        return {}, "random weights (plumbing only)" if random else "your weights"
    if name in RANDOM_OK:
        os.environ[ck.env_name(name, "random_weights")] = "1"
        missing_random = cls.availability()
        if missing_random is None:
            return {}, "random weights of the right architecture (no weights set: plumbing only, masks are meaningless)"
        del os.environ[ck.env_name(name, "random_weights")]
        return None, missing_random
    return None, missing


def check_one(name: str, options: dict, how: str, dataset, sequence: str, rounds: int) -> bool:
    import torch

    from ivosw_bench.backend_check import check_backend
    from ivosw_bench.registry import make_backend

    say(f"== {name}: {how}")
    t0 = time.perf_counter()
    torch.cuda.reset_peak_memory_stats()
    backend = make_backend(name, **options)
    device = str(getattr(backend, "device", "?"))
    say(f"   built in {time.perf_counter() - t0:.1f} s on {device}, model "
        f"{torch.cuda.max_memory_allocated() / 2**20:.0f} MB on the GPU")
    if getattr(getattr(backend, "shims", None), "active", False) or not device.startswith("cuda"):
        say(f"   FAILED: {name} is not on CUDA without substitutions")
        return False
    report = check_backend(backend, dataset, sequence, rounds=rounds, on_round=lambda r: say("   " + r.line()))
    backend.close()
    torch.cuda.empty_cache()
    later = [r.seconds for r in report.rounds[1:]] or [report.rounds[0].seconds]
    peak = max((r.gpu_peak_mb or 0) for r in report.rounds)
    say(f"   {name}: {report.frames_shape[0]} frames, {report.n_objects} object(s); round 1 "
        f"{report.rounds[0].seconds:.2f} s, later rounds {sum(later) / len(later):.2f} s/round, peak GPU "
        f"{peak:.0f} MB, final J&F {report.rounds[-1].jf:.3f}" + ("" if "your" in how else " (random weights)")
        + ("" if report.ok else " -- MASKS BREAK THE CONTRACT"))
    return report.ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default=os.environ.get("IVOSW_GPU_CHECK_DATASET", "davis16-train"))
    ap.add_argument("--sequence", default="dog-agility")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--adapters", default=",".join(ADAPTERS))
    args = ap.parse_args()
    import torch

    from backends.base import BackendUnavailable
    from ivosw_bench import compat
    from ivosw_bench.data.davis_layout import open_dataset

    if not torch.cuda.is_available():
        say("no CUDA device here: this check needs a GPU (tests/test_upstream.py runs the same adapters on the CPU)")
        return 2
    compat.apply()
    say(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    dataset = open_dataset(args.dataset, sequences=[args.sequence], check=False)
    use_local_checkouts()
    failed = []
    for name in args.adapters.split(","):
        try:
            options, how = plan(name)
            if options is None:
                say(f"== {name}: skipped: {how}")
                continue
            if not check_one(name, options, how, dataset, args.sequence, args.rounds):
                failed.append(name)
        except BackendUnavailable as exc:
            say(f"   {name} skipped: {exc}")
        except Exception as exc:  # noqa: BLE001 - report every adapter, then fail
            failed.append(name)
            say(f"   {name} FAILED: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}")
            traceback.print_exc(limit=3)
    say("failed: " + ", ".join(failed) if failed else "all adapters that could run passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
