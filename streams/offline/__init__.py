"""Offline work on files, without a broker: the backtest (:mod:`.backtest`, scored by
:mod:`.scoring`), the monthly real-data report (:mod:`.monthly`), the detector
evaluation (:mod:`.evaluation`) and scoring one table with one detector (:mod:`.detect`).
Their pages, plots and JSON files are :mod:`streams.reports`.
"""

from __future__ import annotations

__all__ = ["InputError"]


class InputError(ValueError):
    """Bad input for an offline run; ``param`` names the option or argument at fault
    (a command shows it as a one-line usage error)."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param
