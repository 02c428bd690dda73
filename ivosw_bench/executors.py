"""Where independent work runs: in this process, in local worker processes, or on a Ray cluster.

    with make_executor("local", jobs=2) as ex:
        for index, result in ex.map_unordered(fn, [args0, args1, ...]):
            ...

Every executor runs ``fn(*args)`` for each task and yields ``(task index, result)`` as tasks finish;
``fn`` must be an importable top-level function and its arguments and result picklable. A task that
fails raises its exception in the caller (a user error keeps its one-line message).

- ``local``: ``jobs`` worker processes (``spawn``: safe with torch and OpenCV thread pools); with
  ``jobs=1`` the tasks run here, one after another, with no pool at all.
- ``ray``: the tasks go to a Ray cluster (``ray_address``, or a local Ray instance started here); the
  workers need the project installed and the dataset at the same path (README, "Scaling out").
  Ray is an optional extra (``pip install .[ray]``).

Worker processes run one task at a time with one thread each for torch and OpenCV
(:func:`worker_threads`), so that N workers use N cores without oversubscription.
"""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
from typing import Any, Callable, Iterator, Sequence

from .errors import RunError

EXECUTORS = ("local", "ray")


def default_jobs() -> int:
    """The machine's cores (this process's CPU affinity where the OS tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def worker_threads(n: int = 1) -> None:
    """Limit this process's torch and OpenCV thread pools (call at the start of a worker)."""
    import cv2

    cv2.setNumThreads(n)
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass


def _init_worker() -> None:
    worker_threads(1)


class Executor:
    """Base class: ``map_unordered(fn, tasks)`` yields (index, result) as tasks finish."""

    name = "base"

    def map_unordered(self, fn: Callable, tasks: Sequence[tuple]) -> Iterator[tuple[int, Any]]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the workers."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class SerialExecutor(Executor):
    """The tasks run in this process, in order."""

    name = "serial"

    def map_unordered(self, fn, tasks):
        for i, args in enumerate(tasks):
            yield i, fn(*args)


class LocalExecutor(Executor):
    """``jobs`` worker processes on this machine."""

    name = "local"

    def __init__(self, jobs: int):
        self.jobs = int(jobs)
        self.pool = cf.ProcessPoolExecutor(max_workers=self.jobs, mp_context=mp.get_context("spawn"),
                                           initializer=_init_worker)

    def map_unordered(self, fn, tasks):
        futures = {self.pool.submit(fn, *args): i for i, args in enumerate(tasks)}
        try:
            for fut in cf.as_completed(futures):
                yield futures[fut], fut.result()
        finally:
            for fut in futures:
                fut.cancel()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class RayExecutor(Executor):
    """Tasks on a Ray cluster (``address``), or on a local Ray instance started here."""

    name = "ray"

    def __init__(self, address: str | None = None, jobs: int | None = None):
        try:
            import ray
        except ImportError:
            raise RunError("--executor ray needs Ray: pip install 'ivosw-bench[ray]' (or pip install ray)") from None
        self.ray = ray
        self.started_here = not ray.is_initialized()
        if self.started_here:
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if address:
                kwargs["address"] = address
            elif jobs:
                kwargs["num_cpus"] = int(jobs)
            try:
                ray.init(**kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise RunError(f"--ray-address {address or '(local)'}: cannot start or reach Ray: "
                               f"{' '.join(str(exc).split())[:200]}") from None

    def map_unordered(self, fn, tasks):
        ray = self.ray
        remote = ray.remote(num_cpus=1)(_ray_task)
        refs = {remote.remote(fn, args): i for i, args in enumerate(tasks)}
        pending = list(refs)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    yield refs[ref], _unwrap_ray(ray, ref)
        finally:
            for ref in pending:
                ray.cancel(ref)

    def close(self) -> None:
        if self.started_here:
            self.ray.shutdown()


def _ray_task(fn, args):
    _init_worker()
    return fn(*args)


def _unwrap_ray(ray, ref):
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:  # re-raise the task's own exception (one-line errors)
        cause = exc.as_instanceof_cause()
        raise (cause.cause if getattr(cause, "cause", None) is not None else cause) from None


def make_executor(kind: str = "local", jobs: int | None = None, ray_address: str | None = None) -> Executor:
    """An executor by name; ``jobs`` None means the machine's cores; local with one job runs here."""
    if kind not in EXECUTORS:
        raise RunError(f"--executor must be one of {', '.join(EXECUTORS)}, not {kind!r}")
    if jobs is not None and jobs < 1:
        raise RunError(f"--jobs must be >= 1, not {jobs}")
    if kind == "ray":
        return RayExecutor(ray_address, jobs)
    if ray_address:
        raise RunError("--ray-address needs --executor ray")
    jobs = default_jobs() if jobs is None else jobs
    return SerialExecutor() if jobs == 1 else LocalExecutor(jobs)
