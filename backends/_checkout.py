"""Shared helpers of the third-party adapters (MANet, ATNet, IPN, SAM 2).

* **Settings**: every adapter setting (checkout folder, weights file, device) is looked up in this
  order: the constructor option, the environment variable (``IVOSW_<METHOD>_<KEY>``), the backends
  config file (TOML; ``$IVOSW_BACKENDS_CONFIG`` or ``~/.config/ivosw-bench/backends.toml``), e.g.::

      [manet]
      root = "/home/me/src/CVPR2020_MANet"
      weights = "/home/me/weights/manet/save_step_80000.pth"

* **Isolated imports**: research checkouts use the same top-level module names (``networks``,
  ``utils``, ``config``, ``libs``). :class:`IsolatedCheckout` imports a checkout with its folder on
  ``sys.path`` only while importing, then moves every module it loaded from that folder out of
  ``sys.modules`` into a private table (and puts back whatever was there before), so two adapters -- or
  an adapter and an installed package named ``utils`` -- never see each other's modules. Code that
  imports lazily at call time runs inside :meth:`IsolatedCheckout.active`.
* **Scribbles**: davisinteractive stroke dicts -> pixel label maps at any resolution.
* **Device selection** and **checkpoint loading** with one-line errors.
"""
from __future__ import annotations

import contextlib
import importlib
import os
import sys
import threading
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from backends.base import BackendError, BackendUnavailable
from ivosw_bench.protocol import (annotated_frame, check_object_ids, rasterise,  # noqa: F401 (re-exported)
                                  stroke_pixels, strokes_per_frame)

CONFIG_ENV = "IVOSW_BACKENDS_CONFIG"
DEFAULT_CONFIG = Path("~/.config/ivosw-bench/backends.toml")
_IMPORT_LOCK = threading.RLock()


# ------------------------------------------------------------------------------------- settings
def config_path() -> Path:
    """The backends config file in use (it need not exist)."""
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG).expanduser()


def load_config(path: str | os.PathLike | None = None) -> dict:
    """The backends config file as a dict ({} when absent); BackendError naming a broken file."""
    p = Path(path).expanduser() if path else config_path()
    if not p.is_file():
        if path is not None or os.environ.get(CONFIG_ENV):
            raise BackendError(f"backends config file {p} not found (set {CONFIG_ENV} to an existing TOML file)")
        return {}
    try:
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        with open(p, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, ValueError) as exc:
        raise BackendError(f"backends config file {p} is not valid TOML: {' '.join(str(exc).split())}") from exc
    return data


def setting(method: str, key: str, option: Any = None) -> tuple[Any, str | None]:
    """``(value, where)`` of one setting: constructor option, then ``IVOSW_<METHOD>_<KEY>``, then
    ``[<method>] <key>`` of the config file; ``(None, None)`` when unset."""
    if option not in (None, ""):
        return option, "option"
    env = f"IVOSW_{method.upper()}_{key.upper()}"
    if os.environ.get(env):
        return os.environ[env], env
    try:
        section = load_config().get(method.lower()) or {}
    except BackendError:
        section = {}
    if isinstance(section, dict) and section.get(key) not in (None, ""):
        return section[key], f"{config_path()} [{method.lower()}] {key}"
    return None, None


def env_name(method: str, key: str) -> str:
    return f"IVOSW_{method.upper()}_{key.upper()}"


def flag_setting(method: str, key: str, option: Any = None) -> bool:
    """A yes/no setting (bool, or text 1/true/yes/on, 0/false/no/off); unset is False."""
    value, where = setting(method, key, option)
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        raise BackendError(f"{key} (from {where}) must be 1/true/yes/on or 0/false/no/off, got {value!r}")
    return text in ("1", "true", "yes", "on")


def find_checkout(method: str, option: Any, markers: Sequence[str], repo_hint: str) -> Path:
    """The user's checkout of ``method``: a folder holding every file in ``markers``.

    Raises :class:`BackendUnavailable` with one line that says what to set.
    """
    value, where = setting(method, "root", option)
    env = env_name(method, "root")
    if value is None:
        raise BackendUnavailable(f"set {env} (or root= / [{method.lower()}] root in {config_path()}) "
                                 f"to your {repo_hint} checkout")
    root = Path(str(value)).expanduser()
    if not root.is_dir():
        raise BackendUnavailable(f"{repo_hint} checkout {root} (from {where}) does not exist; set {env} "
                                 "to the folder you cloned")
    missing = [m for m in markers if not (root / m).exists()]
    if missing:
        raise BackendUnavailable(f"{root} (from {where}) is not a {repo_hint} checkout: {missing[0]} "
                                 f"is missing; set {env} to the repository's top folder")
    return root.resolve()


def find_file(method: str, key: str, option: Any, what: str, default_names: Sequence[str] = (),
              search_dirs: Iterable[Path] = ()) -> Path:
    """A weights file: the setting ``key`` (a file, or a folder holding one of ``default_names``),
    else the first of ``default_names`` found in ``search_dirs``."""
    value, where = setting(method, key, option)
    env = env_name(method, key)
    if value is None:
        for d in search_dirs:
            for name in default_names:
                if (Path(d) / name).is_file():
                    return (Path(d) / name).resolve()
        names = " or ".join(default_names) if default_names else "the file"
        raise BackendUnavailable(f"set {env} to {what} ({names} not found"
                                 + (f" in {', '.join(str(d) for d in search_dirs)})" if search_dirs else ")"))
    p = Path(str(value)).expanduser()
    if p.is_dir():
        for name in default_names:
            if (p / name).is_file():
                return (p / name).resolve()
        raise BackendUnavailable(f"{what}: no {' or '.join(default_names) or 'weights file'} in folder {p} "
                                 f"(from {where}); set {env} to the file")
    if not p.is_file():
        raise BackendUnavailable(f"weights file {p} (from {where}) not found; set {env} to {what}")
    return p.resolve()


def load_checkpoint(path: Path, what: str, env: str) -> dict:
    """A PyTorch state dict from ``path`` on the CPU; BackendError for a corrupt/foreign file.

    Accepts bare state dicts and the usual wrappers ({"state_dict": ...}, {"model": ...}).
    """
    import torch

    try:
        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as first:  # old checkpoints pickle numpy scalars etc.
            if "weights_only" not in str(first) and "Unsupported global" not in str(first):
                raise
            obj = torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any failure to read is the problem to report
        raise BackendError(f"weights file {path} is not a readable PyTorch checkpoint for {what} "
                           f"({type(exc).__name__}: {' '.join(str(exc).split())[:160]}); "
                           f"set {env} to the right file") from exc
    for key in ("state_dict", "model", "model_state_dict", "net"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj or not all(hasattr(v, "shape") for v in obj.values()):
        raise BackendError(f"weights file {path} holds no state dict of tensors ({what}); set {env} "
                           "to the right file")
    return obj


def strip_prefix(state: dict, prefix: str = "module.") -> dict:
    """Remove a DataParallel prefix from every key that has it."""
    return {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in state.items()}


def load_weights_into(model, state: dict, path: Path, what: str, env: str, strict: bool = True) -> None:
    """``model.load_state_dict`` with a one-line error on missing/unexpected keys or shape mismatch."""
    try:
        result = model.load_state_dict(state, strict=strict)
    except RuntimeError as exc:
        first = " ".join(str(exc).split())[:200]
        raise BackendError(f"weights file {path} does not fit {what} ({first}); set {env} to the "
                           "right file") from exc
    if not strict:
        missing = list(getattr(result, "missing_keys", []))
        if missing and len(missing) == len(model.state_dict()):
            raise BackendError(f"weights file {path} shares no parameter with {what}; set {env} to the "
                               "right file")


# ------------------------------------------------------------------------------------- devices
def cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # noqa: BLE001
        return False


def select_device(method: str, option: str | None = None, cuda_only: str | None = None) -> str:
    """``"cuda"`` when present else ``"cpu"`` (or the ``device`` setting).

    ``cuda_only``: the reason the method cannot run without CUDA; then CPU raises
    :class:`BackendUnavailable` ("needs CUDA (...)").
    """
    value, where = setting(method, "device", option)
    has_cuda = cuda_available()
    if value is None:
        device = "cuda" if has_cuda else "cpu"
    else:
        device = str(value)
        if device.startswith("cuda") and not has_cuda:
            raise BackendUnavailable(f"device {device!r} (from {where}) asked for but CUDA is not available")
        if not (device == "cpu" or device.startswith("cuda") or device == "mps"):
            raise BackendError(f"unknown device {device!r} (from {where}); use cpu or cuda[:N]")
    if cuda_only and not device.startswith("cuda"):
        raise BackendUnavailable(f"needs CUDA ({cuda_only})")
    return device


# ------------------------------------------------------------------------------------- imports
class IsolatedCheckout:
    """A research checkout imported without leaking its module names.

    ``IsolatedCheckout(root, "name").load("networks.atnet", ...)`` imports modules with ``root`` first
    on ``sys.path`` and, afterwards, moves every module whose file lies under ``root`` out of
    ``sys.modules`` into :attr:`modules`, restoring any module of the same name that was there before.
    ``argv`` replaces ``sys.argv`` while importing (for checkouts that parse arguments at import).
    """

    def __init__(self, root: str | os.PathLike, name: str):
        self.root = Path(root).resolve()
        self.name = name
        self.modules: dict[str, Any] = {}

    def _owned(self, module) -> bool:
        try:
            f = getattr(module, "__file__", None)
            paths = [p for p in (getattr(module, "__path__", None) or []) if isinstance(p, str)]
        except Exception:  # noqa: BLE001 - exotic module objects (torch._classes, lazy proxies)
            return False
        cands = ([f] if isinstance(f, str) else []) + paths
        for c in cands:
            try:
                if Path(c).resolve().is_relative_to(self.root):
                    return True
            except (OSError, ValueError):
                continue
        return False

    def _local_top_names(self) -> set[str]:
        names = set()
        try:
            for p in self.root.iterdir():
                if p.suffix == ".py":
                    names.add(p.stem)
                elif p.is_dir() and ((p / "__init__.py").is_file() or any(p.glob("*.py"))):
                    names.add(p.name)
        except OSError:
            pass
        return names

    @contextlib.contextmanager
    def active(self, argv: Sequence[str] | None = None) -> Iterator["IsolatedCheckout"]:
        """Within the block the checkout's modules are importable under their own names; on exit they
        go back to the private table and the previous ``sys.modules``/``sys.path``/``sys.argv`` return."""
        with _IMPORT_LOCK:
            shadow = self._local_top_names()
            saved = {k: v for k, v in sys.modules.items()
                     if k.split(".")[0] in shadow and not self._owned(v)}
            for k in saved:
                del sys.modules[k]
            sys.modules.update(self.modules)
            old_path, old_argv = list(sys.path), list(sys.argv)
            sys.path.insert(0, str(self.root))
            if argv is not None:
                sys.argv = list(argv)
            importlib.invalidate_caches()
            try:
                yield self
            finally:
                sys.path[:] = old_path
                sys.argv[:] = old_argv
                for k, v in list(sys.modules.items()):
                    if v is not None and self._owned(v):
                        self.modules[k] = v
                        del sys.modules[k]
                    elif v is None and k.split(".")[0] in shadow:
                        del sys.modules[k]
                sys.modules.update(saved)
                importlib.invalidate_caches()

    def load(self, *names: str, argv: Sequence[str] | None = None) -> list:
        """Import ``names`` from the checkout; return the module objects (in order)."""
        out = []
        with self.active(argv=argv):
            for n in names:
                out.append(importlib.import_module(n))
        return out

    def __getitem__(self, name: str):
        return self.modules[name]


def import_error(method: str, root: Path, exc: BaseException) -> BackendError:
    """One-line error for a checkout whose modules fail to import."""
    msg = " ".join(str(exc).split())[:200]
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        return BackendUnavailable(f"{method} checkout {root} needs the module '{exc.name}' "
                                  f"(pip install it or build it as the repository's README says): {msg}")
    return BackendError(f"importing the {method} checkout {root} failed: {type(exc).__name__}: {msg}")


# ------------------------------------------------------------------------------------- scribbles
# the protocol's helpers (ivosw_bench.protocol) are re-exported under the names the adapters use:
# ck.strokes_per_frame, ck.annotated_frame, ck.stroke_pixels, ck.rasterise, ck.check_object_ids


# ------------------------------------------------------------------------------------- outputs
def probs_from_object_probs(obj_probs: np.ndarray) -> np.ndarray:
    """[K, T, H, W] independent per-object foreground probabilities -> [K+1, T, H, W] normalised
    probabilities with background = prod(1 - p_k) (IPN's own fusion, without its logit step)."""
    p = np.clip(np.asarray(obj_probs, np.float32), 0.0, 1.0)
    bg = np.prod(1.0 - p, axis=0, keepdims=True)
    allp = np.concatenate([bg, p], axis=0)
    s = allp.sum(axis=0, keepdims=True)
    return (allp / np.maximum(s, 1e-7)).astype(np.float32)


def softmax_np(logits: np.ndarray, axis: int = 0) -> np.ndarray:
    x = np.asarray(logits, np.float32)
    x = x - x.max(axis=axis, keepdims=True)
    e = np.exp(x)
    return (e / e.sum(axis=axis, keepdims=True)).astype(np.float32)


def check_frames(frames: np.ndarray, n_objects: int) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise BackendError(f"frames must be [T,H,W,3], got shape {frames.shape}")
    if n_objects < 1:
        raise BackendError(f"n_objects must be >= 1, got {n_objects}")
    return frames.astype(np.uint8, copy=False)
