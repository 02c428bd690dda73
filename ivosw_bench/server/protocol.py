"""The wire format of davisinteractive 1.0.4's remote protocol, as its ``RemoteConnector`` speaks it.

Endpoints (paths relative to the server URL; the client joins them with ``os.path.join``)::

    GET  api/healthcheck                          any JSON, no key needed
    GET  api/dataset/samples                      [[[sequence, scribble_idx], ...], max_t, max_i]
    GET  api/dataset/scribbles/{sequence}/{idx:03d}   the initial scribble (davisinteractive's JSON)
    POST api/evaluation/interaction               {sequence, scribble_idx, pred_masks (RLE), timing,
                                                   interaction[, next_scribble_frame_candidates]}
                                                  -> the robot's next scribble
    GET  api/evaluation/report                    the session's report as {column: [values]}
    POST api/evaluation/finish                    davisinteractive's global summary

Every request but the health check carries the headers ``User-Key`` and ``Session-Key``. Errors are
``{"error": NAME, "message": [ARGS]}``: for status 400 the client rebuilds the exception as
``eval(NAME)(*ARGS)`` (so NAME is ``ValueError`` or ``RuntimeError``, as davisinteractive's own
service raises them, and ``message`` is a list); for any other 4xx it raises ``Exception(NAME)``.
A 500 makes the client call absl's ``logging.fatal`` (the process aborts), so this server answers
unexpected failures with 503. ``api/info`` is this server's addition for ``ivosw-bench run``.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

HEALTHCHECK = "/api/healthcheck"
SAMPLES = "/api/dataset/samples"
SCRIBBLE = "/api/dataset/scribbles/{sequence}/{scribble_idx}"
INTERACTION = "/api/evaluation/interaction"
REPORT = "/api/evaluation/report"
FINISH = "/api/evaluation/finish"
INFO = "/api/info"
LEADERBOARD_JSON = "/api/leaderboard"
LEADERBOARD_HTML = "/leaderboard"
USER_HEADER = "User-Key"
SESSION_HEADER = "Session-Key"
#: davisinteractive's client makes 64 hex characters; anything of this shape is accepted
SESSION_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{8,128}$")
INTERACTION_FIELDS = {"sequence", "scribble_idx", "pred_masks", "timing", "interaction"}
OPTIONAL_FIELDS = {"next_scribble_frame_candidates"}
MAX_CANDIDATES = 10000


class ApiError(Exception):
    """An answer other than 200: HTTP status, error name and a one-line message."""

    def __init__(self, status: int, error: str, message: str):
        super().__init__(message)
        self.status, self.error, self.message = status, error, " ".join(str(message).split())

    def body(self) -> dict:
        return {"error": self.error, "message": [self.message]}


def bad_value(message: str) -> ApiError:
    """400 that davisinteractive's client raises as ``ValueError(message)``."""
    return ApiError(400, "ValueError", message)


def bad_order(message: str) -> ApiError:
    """400 that davisinteractive's client raises as ``RuntimeError(message)``."""
    return ApiError(400, "RuntimeError", message)


def unauthorized(message: str) -> ApiError:
    return ApiError(401, "Unauthorized", message)


def forbidden(message: str) -> ApiError:
    return ApiError(403, "Forbidden", message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "NotFound", message)


def conflict(message: str) -> ApiError:
    return ApiError(409, "Conflict", message)


def too_large(message: str) -> ApiError:
    return ApiError(413, "PayloadTooLarge", message)


@dataclass(frozen=True)
class Submission:
    """A checked interaction request (the masks still encoded)."""

    sequence: str
    scribble_idx: int
    pred_masks: dict
    timing: float
    interaction: int
    candidates: list[int] | None


def parse_json(body: bytes) -> object:
    """The JSON of a request body; 400 when it is not UTF-8 JSON or is nested too deeply."""
    try:
        return json.loads(body.decode("utf-8"))
    except RecursionError:
        raise bad_value("request body: JSON nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad_value(f"request body is not JSON ({exc})") from None


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def parse_submission(data: object) -> Submission:
    """The fields of an interaction request, checked for type (values are checked by the service)."""
    if not isinstance(data, dict):
        raise bad_value("request body must be a JSON object")
    missing = sorted(INTERACTION_FIELDS - set(data))
    unknown = sorted(set(data) - INTERACTION_FIELDS - OPTIONAL_FIELDS)
    if missing or unknown:
        raise bad_value(f"interaction body: missing fields {missing}" if missing else
                        f"interaction body: unknown fields {unknown}")
    seq, idx, timing, inter = data["sequence"], data["scribble_idx"], data["timing"], data["interaction"]
    if not isinstance(seq, str):
        raise bad_value("sequence must be a string")
    if not _is_int(idx):
        raise bad_value(f"scribble_idx must be an integer, got {idx!r}")
    if not _is_int(inter):
        raise bad_value(f"interaction must be an integer, got {inter!r}")
    if isinstance(timing, bool) or not isinstance(timing, (int, float)) or not math.isfinite(timing) or timing < 0:
        raise bad_value(f"timing must be a finite number of seconds >= 0, got {timing!r}")
    if not isinstance(data["pred_masks"], dict):
        raise bad_value("pred_masks must be an object {size, frames}")
    return Submission(seq, idx, data["pred_masks"], float(timing), inter,
                      _candidates(data.get("next_scribble_frame_candidates")))


def _candidates(value) -> list[int] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_CANDIDATES or not all(_is_int(v) for v in value):
        raise bad_value(f"next_scribble_frame_candidates must be a list of at most {MAX_CANDIDATES} integers")
    return list(value)


def check_candidates(candidates: list[int] | None, n_frames: int) -> None:
    """davisinteractive ignores invalid frame indices but crashes when no candidate is valid."""
    if candidates and not any(0 <= c < n_frames for c in candidates):
        raise bad_value(f"next_scribble_frame_candidates: no valid frame index (0..{n_frames - 1}) in {candidates[:8]}")


def scribble_index(text: str) -> int:
    """The ``{idx:03d}`` path part as an integer (400 when it is not digits)."""
    if not re.fullmatch(r"[0-9]{1,6}", text):
        raise bad_value(f"Invalid scribble index: {text}")
    return int(text)
