"""The benchmark server: davisinteractive 1.0.4's remote protocol with the ground truth kept here.

A participant runs davisinteractive's own client (or ``ivosw-bench run --host URL``) with images and
scribbles only; this server evaluates every submission against its ground truth, draws the robot's
next scribble, keeps every interaction durably and ranks finished sessions.

    protocol.py   the wire format: URLs, headers, error bodies, parsing and checking a request
    keys.py       user keys: made once, stored hashed, compared in constant time
    db.py         SQLite (WAL) store: users, sessions, interactions, report rows, summaries
    dataset.py    the served dataset registered in davisinteractive as its ``test-dev`` subset
    evaluator.py  one interaction through davisinteractive's EvaluationService, staged for one commit
    service.py    what each endpoint does (synchronous; runs in worker threads)
    app.py        the ASGI application (Starlette): routes, limits, per-session serialisation
    board.py      the hosted leaderboard's statistics (those of ``ivosw-bench leaderboard``)
    page.py       the leaderboard page (one self-contained HTML document)
    serve.py      ``ivosw-bench serve``: uvicorn on 127.0.0.1 by default
    client.py     the participant's side for ``ivosw-bench run --host``: checks, session key, errors
"""
