"""The detector contract: batches of points in, scores in [0, 1] out.

A detector keeps one row of state per series in numpy arrays (struct of
arrays) that grow on demand, and updates a whole batch at once. Points of
the same series inside a batch are applied in the order given, with the same
result (to rounding) as feeding them one by one. Conventions shared by all
detectors:

* ``score`` is float64 in [0, 1]; 0.8 means "at the detector's nominal alarm
  threshold" (see :func:`ratio_to_score`).
* A NaN ``value`` is skipped: state is unchanged, its score is 0 (never
  NaN) and its float extras are NaN.
* Until a series has seen ``warmup`` valid points its score is 0.
* Time is event time in seconds; decays use elapsed time, so gaps and
  irregular steps are handled. A timestamp earlier than the series' last one
  counts as zero elapsed time.
"""

from __future__ import annotations

import io
import json
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from detectors._segments import Batch, make_batch, scatter_last

FloatArray = NDArray[np.float64]
LN5 = 1.6094379124341003


class Result:
    """Scores for a batch, in input order, plus per-detector extras (same length).

    Extras are also attributes (``result.expected``). They are put back into
    input order on first access, so a caller that only needs scores pays for
    nothing else. A detector that names the kind of change it saw returns an
    integer ``kind`` extra and its name table in ``kinds`` (``kinds[0]`` is "none").
    """

    __slots__ = ("_extras", "_order", "_raw", "kinds", "score")

    def __init__(
        self,
        score: FloatArray,
        extras: dict[str, NDArray[Any]] | None = None,
        order: NDArray[np.int64] | None = None,
        kinds: tuple[str, ...] = (),
    ) -> None:
        self.score = score
        self._raw = extras or {}
        self._order = order
        self._extras: dict[str, NDArray[Any]] | None = None
        self.kinds = kinds

    def kind_name(self, i: int) -> str:
        """Name of the kind of change at input position ``i`` ("" if the detector names none)."""
        codes = self.extras.get("kind")
        if codes is None or not self.kinds:
            return ""
        return self.kinds[int(codes[i])]

    @property
    def extras(self) -> dict[str, NDArray[Any]]:
        if self._extras is None:
            if self._order is None:
                self._extras = dict(self._raw)
            else:
                self._extras = {}
                for k, v in self._raw.items():
                    out = np.empty_like(v)
                    out[self._order] = v
                    self._extras[k] = out
        return self._extras

    def __getattr__(self, name: str) -> NDArray[Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self.extras[name]
        except KeyError:
            raise AttributeError(name) from None


def band_extras(
    expected: FloatArray, half_width: FloatArray, **more: NDArray[Any]
) -> dict[str, NDArray[Any]]:
    """Extras of a detector with a symmetric band around its baseline: ``expected``,
    ``lower`` and ``upper``, plus ``more``.

    >>> e = band_extras(np.array([10.0]), np.array([2.0]), z=np.array([0.5]))
    >>> [(k, float(v[0])) for k, v in e.items()]
    [('expected', 10.0), ('lower', 8.0), ('upper', 12.0), ('z', 0.5)]
    """
    return {"expected": expected, "lower": expected - half_width,
            "upper": expected + half_width, **more}


def ratio_to_score(ratio: NDArray[np.float64]) -> FloatArray:
    """Map a non-negative "multiple of the alarm threshold" to [0, 1): ``1 - 5**-ratio``.

    >>> ratio_to_score(np.array([0.0, 1.0, 2.0])).round(2).tolist()
    [0.0, 0.8, 0.96]
    """
    return np.asarray(-np.expm1(-LN5 * np.maximum(ratio, 0.0)), dtype=np.float64)


class Detector(ABC):
    """Base of all detectors: per-series state arrays, batching, snapshots."""

    name: ClassVar[str]
    #: per-series state: field name -> (dtype, initial value)
    fields: ClassVar[dict[str, tuple[str, float]]]
    #: names of the codes in a ``kind`` extra, if the detector has one
    kinds: ClassVar[tuple[str, ...]] = ()

    def __init__(self, warmup: int = 0, widths: dict[str, int] | None = None) -> None:
        if warmup < 0:
            raise ValueError("warmup must be >= 0")
        self.warmup = int(warmup)
        #: fields that hold a fixed-width vector per series (e.g. a seasonal profile)
        self.widths = dict(widths or {})
        self.state: dict[str, NDArray[Any]] = {
            k: np.full(self._shape(k, 0), fill, dtype=dt) for k, (dt, fill) in self.fields.items()
        }
        self._size = 0
        #: state that is not per series (e.g. per group); saved in snapshots too
        self.shared: dict[str, NDArray[Any]] = {}

    @property
    def n_series(self) -> int:
        """Rows in use (``0 .. n_series-1``); the arrays may be longer (spare capacity)."""
        return self._size

    def grow(self, n: int) -> None:
        """Make room for rows ``0 .. n-1`` (capacity doubles, new rows are fresh)."""
        self._size = max(self._size, n)
        old = len(self.state["count"])
        if n <= old:
            return
        cap = max(n, 2 * old, 16)
        for k, (dt, fill) in self.fields.items():
            new = np.full(self._shape(k, cap), fill, dtype=dt)
            new[:old] = self.state[k]
            self.state[k] = new

    def _shape(self, k: str, n: int) -> tuple[int, ...]:
        w = self.widths.get(k)
        return (n,) if w is None else (n, w)

    def update(self, series: ArrayLike, ts: ArrayLike, value: ArrayLike) -> Result:
        """Learn from a batch of points and score each one (before learning it)."""
        batch = make_batch(series, ts, value)
        if batch.n and batch.rows[-1] >= self._size:
            self.grow(int(batch.rows[-1]) + 1)
        score, extras = self._update(batch)
        return Result(batch.unsort(score), extras, batch.order, self.kinds)

    @abstractmethod
    def _update(self, b: Batch) -> tuple[FloatArray, dict[str, NDArray[Any]]]:
        """Update state from a batch sorted by series; return sorted score and extras."""

    def _advance(
        self, b: Batch, count_before: NDArray[np.int64], valid: NDArray[np.bool_],
        prev_ts: FloatArray,
    ) -> None:
        """After a batch: each series' count of valid points and the time of its last one."""
        scatter_last(b, self.state["count"], count_before + valid)
        scatter_last(b, self.state["last_ts"], np.where(valid, b.ts, prev_ts))

    #: constructor parameters besides ``warmup``, each kept as an attribute of that name
    param_names: ClassVar[tuple[str, ...]] = ()

    def params(self) -> dict[str, Any]:
        """Constructor parameters, stored in snapshots to catch mismatches."""
        out: dict[str, Any] = {"warmup": self.warmup}
        for name in self.param_names:
            value = getattr(self, name)
            out[name] = list(value) if isinstance(value, tuple) else value
        return out

    def snapshot(self) -> bytes:
        """The whole state as ``.npz`` bytes (no pickled objects)."""
        buf = io.BytesIO()
        meta = json.dumps({"detector": self.name, "params": self.params()}, sort_keys=True)
        arrays = {f"s_{k}": v[: self._size] for k, v in self.state.items()}
        arrays.update({f"g_{k}": v for k, v in self.shared.items()})
        arrays["_meta"] = np.frombuffer(meta.encode(), dtype=np.uint8)
        np.savez(buf, **arrays)  # type: ignore[arg-type]
        return buf.getvalue()

    def restore(self, data: bytes) -> None:
        """Replace the state by a snapshot taken from a detector with the same parameters."""
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(z["_meta"].tobytes().decode())
            want = json.loads(json.dumps({"detector": self.name, "params": self.params()}))
            if meta != want:
                raise ValueError(f"snapshot is for {meta}, not {want}")
            self.state = {k: z[f"s_{k}"].copy() for k in self.fields}
            self._size = len(self.state["count"])
            self.shared = {k[2:]: z[k].copy() for k in z.files if k.startswith("g_")}

    def state_bytes_per_series(self) -> int:
        """Bytes of state per series row."""
        return sum(
            np.dtype(dt).itemsize * self.widths.get(k, 1) for k, (dt, _) in self.fields.items()
        )


class SeriesRegistry:
    """Maps string series keys to dense rows 0, 1, 2, ... in first-seen order.

    >>> reg = SeriesRegistry()
    >>> reg.rows(["USLAX/anchor", "USLGB/anchor", "USLAX/anchor"]).tolist()
    [0, 1, 0]
    >>> reg.keys[1], len(reg)
    ('USLGB/anchor', 2)
    """

    def __init__(self, keys: list[str] | None = None) -> None:
        self.keys: list[str] = []
        self._index: dict[str, int] = {}
        for k in keys or []:
            self.row(k)

    def __len__(self) -> int:
        return len(self.keys)

    def row(self, key: str) -> int:
        r = self._index.get(key)
        if r is None:
            r = self._index[key] = len(self.keys)
            self.keys.append(key)
        return r

    def rows(self, keys: list[str]) -> NDArray[np.int64]:
        index = self._index
        found = [index.get(k, -1) for k in keys]  # the common case: every key known
        if -1 in found:
            found = [self.row(k) for k in keys]  # new keys get rows in first-seen order
        return np.array(found, dtype=np.int64)

    def snapshot(self) -> bytes:
        return json.dumps(self.keys).encode()

    @classmethod
    def restore(cls, data: bytes) -> SeriesRegistry:
        return cls(json.loads(data.decode()))
