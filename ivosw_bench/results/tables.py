"""Reading a run folder's CSV tables (``report.csv``, ``quality.csv``) for reports: the columns a
reader needs must be there and hold numbers; otherwise one ReportError line naming the file."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .report import ReportError


def read_table(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    """The table at ``path`` checked by :func:`checked_table`."""
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise ReportError(f"{path}: cannot read: {' '.join(str(exc).split())}") from None
    return checked_table(df, columns, path)


def checked_table(df: pd.DataFrame, columns: tuple[str, ...], path: Path) -> pd.DataFrame:
    """``df`` with ``columns`` present, ``sequence`` as text and the other columns numeric."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ReportError(f"{path}: missing column(s): {', '.join(missing)}")
    df = df.copy()
    df["sequence"] = df["sequence"].astype(str)
    for c in columns:
        if c != "sequence":
            try:
                df[c] = pd.to_numeric(df[c], errors="raise")
            except (TypeError, ValueError):
                raise ReportError(f"{path}: column '{c}' holds values that are not numbers") from None
    return df
