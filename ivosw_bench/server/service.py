"""What each endpoint of the benchmark server does, as plain synchronous methods (the ASGI app runs
them in worker threads).

Rules of a session, each a 4xx :class:`~ivosw_bench.server.protocol.ApiError`:

- every request but the health check needs a valid ``User-Key`` (401); a session belongs to the
  user who opened it (403 for anyone else); ``api/dataset/samples`` opens a session, the other
  endpoints need an open one (404);
- interactions of a sample come in order 1, 2, ... up to the session's ``max_i`` (400, with
  davisinteractive's own messages); an interaction already counted is answered again from the store
  when the same masks are posted (a client that lost the answer, or resumes, replays it), and refused
  with other masks (409): an interaction is evaluated once;
- a finished session, or one past the configured session time, takes no new interaction (409);
  ``finish`` twice returns the stored summary.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass

from .. import __version__, rle
from . import db as store
from . import keys
from .dataset import ServedDataset, ground_truth
from .evaluator import evaluate
from .protocol import (SESSION_KEY_RE, bad_order, bad_value, check_candidates, conflict,
                       forbidden, not_found, parse_json, parse_submission, scribble_index, unauthorized)


@dataclass(frozen=True)
class Limits:
    """Per-request and per-session limits of a server."""

    max_interactions: int = 8           # davisinteractive's max_i of new sessions (<= 16)
    max_body_bytes: int = 32 * 2**20
    session_time: float | None = None   # seconds from a session's start after which it takes nothing new


class BenchmarkService:
    """The server's behaviour over one dataset and one database."""

    def __init__(self, dataset: ServedDataset, database: store.Database, limits: Limits = Limits()):
        self.dataset, self.db, self.limits = dataset, database, limits
        self.gt = ground_truth(dataset)

    # -- who is asking ----------------------------------------------------------------------------
    def user(self, headers) -> store.User:
        parts = keys.split_key(headers.get("user-key"))
        user = self.db.user_by_key_id(parts[0]) if parts else None
        if not keys.matches(parts[1] if parts else None, user.key_hash if user else None):
            raise unauthorized("missing or unknown User-Key")
        return user

    def session(self, headers, user: store.User, create: bool = False) -> store.Session:
        key = headers.get("session-key") or ""
        if not SESSION_KEY_RE.match(key):
            raise bad_value("Session-Key header missing or malformed (8-128 letters, digits, '_' or '-')")
        sess = self.db.session(key)
        if sess is None and create:
            sess = self.db.open_session(key, user.id, self.dataset.name, self.dataset.fingerprint,
                                        self.limits.max_interactions, len(self.dataset.samples))
        if sess is None:
            raise not_found("no such session (a session starts with GET api/dataset/samples)")
        if sess.user_id != user.id:
            raise forbidden("this session belongs to another user")
        if sess.fingerprint != self.dataset.fingerprint:
            raise conflict(f"this session was started on dataset '{sess.dataset}' ({sess.fingerprint}); "
                           f"this server serves '{self.dataset.name}' ({self.dataset.fingerprint})")
        return sess

    # -- endpoints --------------------------------------------------------------------------------
    def health(self) -> dict:
        return {"status": "ok", "server": "ivosw-bench", "version": __version__}

    def info(self, user: store.User) -> dict:
        return {"server": "ivosw-bench", "version": __version__, "user": user.name, "dataset": self.dataset.name,
                "fingerprint": self.dataset.fingerprint, "max_t": None, "max_i": self.limits.max_interactions,
                "session_time": self.limits.session_time, "samples": [list(s) for s in self.dataset.samples],
                "sequences": self.dataset.public_metadata()}

    def samples(self, sess: store.Session) -> list:
        return [[list(s) for s in self.dataset.samples], None, sess.max_i]

    def scribble(self, sequence: str, idx_text: str) -> dict:
        idx = scribble_index(idx_text)
        if sequence not in self.dataset.sequences:
            raise bad_value(f"Invalid sequence: {sequence}")
        if (sequence, idx) not in self.dataset.samples:
            raise bad_value(f"Invalid scribble index: {idx}")
        return self.gt.load_scribble(sequence, idx)

    def report(self, sess: store.Session) -> dict:
        return self.db.report(sess.key)

    def interaction(self, user: store.User, sess: store.Session, body: bytes) -> dict:
        sub = parse_submission(parse_json(body))
        self._check_sample(sess, sub.sequence, sub.scribble_idx, sub.interaction)
        done = self.db.interactions(sess.key, sub.sequence, sub.scribble_idx)
        masks_json = json.dumps(sub.pred_masks, sort_keys=True, separators=(",", ":"))
        sha = hashlib.sha256(masks_json.encode("utf-8")).hexdigest()
        if sub.interaction <= len(done):
            return self._replay(done[sub.interaction - 1], sha)
        if sub.interaction > len(done) + 1:
            raise bad_order(f"For {sub.sequence} and scribble {sub.scribble_idx} does not exist a result for "
                            f"previous interaction {sub.interaction - 1}")
        self._check_open(sess)
        n_frames, h, w = self.dataset.shape(sub.sequence)
        check_candidates(sub.candidates, n_frames)
        try:
            masks = rle.decode_batch_masks(sub.pred_masks, (n_frames, h, w),
                                           self.dataset.meta(sub.sequence)["num_objects"])
        except rle.RLEError as exc:
            raise bad_value(f"pred_masks: {exc}") from None
        received = time.time()
        try:
            out = evaluate(self.dataset, self.gt, sess.max_i, sub.sequence, sub.scribble_idx, masks, sub.timing,
                           sub.interaction, sub.candidates, [i.next_frame for i in done], user.name, sess.key)
        except ValueError as exc:
            raise bad_value(str(exc)) from None
        rec = store.Interaction(sess.key, sub.sequence, sub.scribble_idx, sub.interaction, sub.timing, sha,
                                masks_json, sub.candidates, out.staged.next_frame, out.staged.override,
                                out.scribble, received, out.eval_s)
        try:
            self.db.add_interaction(rec, out.staged.rows)
        except store.StaleState as exc:
            raise conflict(f"interaction {sub.interaction} of {sub.sequence}:{sub.scribble_idx} not counted: {exc}")
        return out.scribble

    def finish(self, sess: store.Session) -> dict:
        if sess.finished is not None:
            return sess.summary
        report = self.db.report(sess.key)
        if not report["sequence"]:
            raise conflict("nothing to summarize: the session has no interaction")
        summary = json_safe(self._summarize(report, sess.max_i))
        return self.db.finish_session(sess.key, summary).summary

    # -- helpers ----------------------------------------------------------------------------------
    def _check_sample(self, sess: store.Session, sequence: str, idx: int, interaction: int) -> None:
        """davisinteractive's checks, with its messages (the client raises them as ValueError)."""
        if interaction > sess.max_i:
            raise bad_value(f"Interaction {interaction} is higher than the maximum number of interactions "
                            f"{sess.max_i}")
        if interaction < 1:
            raise bad_value("Interaction value invalid. Should be higher than 0.")
        if (sequence, idx) not in self.dataset.samples:
            raise bad_value(f"Sequence: {sequence} and scribble index: {idx} invalid")

    def _check_open(self, sess: store.Session) -> None:
        if sess.finished is not None:
            raise conflict("the session is finished; start a new session to submit again")
        limit = self.limits.session_time
        if limit is not None and time.time() - sess.created > limit:
            raise conflict(f"the session's time limit of {limit:g} s is over")

    @staticmethod
    def _replay(previous: store.Interaction, sha: str) -> dict:
        if previous.masks_sha256 != sha:
            raise conflict(f"interaction {previous.interaction} of {previous.sequence}:{previous.scribble_idx} "
                           f"was already counted with other masks; an interaction is evaluated once")
        return previous.scribble

    def _summarize(self, report: dict, max_i: int) -> dict:
        import pandas as pd
        from davisinteractive.evaluation.service import EvaluationService

        service = EvaluationService("test-dev", davis_root=str(self.dataset.data.root), max_i=max_i)
        return service.summarize_report(pd.DataFrame(report))


def json_safe(value):
    """``value`` with numpy scalars as Python numbers and non-finite floats as None."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
