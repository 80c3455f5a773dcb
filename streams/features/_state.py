"""Small shared helpers: growable struct-of-arrays state, registries, snapshots."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "BytesRegistry",
    "Columns",
    "IntRegistry",
    "dense_sums",
    "load_npz",
    "save_npz",
    "sort_by_entity_time",
]


class Columns:
    """Named arrays of one length that grow by doubling (struct of arrays)."""

    def __init__(self, spec: dict[str, tuple[Any, Any]]) -> None:
        self.spec = spec
        self.n = 0
        self.cols: dict[str, npt.NDArray[Any]] = {
            k: np.full(16, fill, dtype=dt) for k, (dt, fill) in spec.items()
        }

    def __getitem__(self, name: str) -> npt.NDArray[Any]:
        return self.cols[name]

    def grow(self, n: int) -> None:
        """Make room for ``n`` rows in total; new rows get the fill values."""
        if n > len(next(iter(self.cols.values()))):
            cap = max(n, 2 * len(next(iter(self.cols.values()))))
            for k, (dt, fill) in self.spec.items():
                new = np.full(cap, fill, dtype=dt)
                new[: self.n] = self.cols[k][: self.n]
                self.cols[k] = new
        self.n = max(self.n, n)

    def dump(self, prefix: str) -> dict[str, npt.NDArray[Any]]:
        return {prefix + k: v[: self.n].copy() for k, v in self.cols.items()}

    def load(self, prefix: str, arrays: dict[str, npt.NDArray[Any]]) -> None:
        n = len(arrays[prefix + next(iter(self.spec))])
        self.n = 0
        self.cols = {k: np.full(16, fill, dtype=dt) for k, (dt, fill) in self.spec.items()}
        self.grow(n)
        for k in self.spec:
            self.cols[k][:n] = arrays[prefix + k]


class IntRegistry:
    """Integer key (e.g. MMSI) to row, by binary search over the sorted known keys."""

    def __init__(self) -> None:
        self.keys = np.empty(0, dtype=np.int64)  # by row
        self._sorted = np.empty(0, dtype=np.int64)
        self._rows = np.empty(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.keys)

    def rows(self, keys: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
        """Rows of ``keys``, adding unknown keys (in sorted order) as new rows."""
        k = keys.astype(np.int64)
        pos = np.searchsorted(self._sorted, k)
        pos_c = np.minimum(pos, max(len(self._sorted) - 1, 0))
        found = (
            (pos < len(self._sorted)) & (self._sorted[pos_c] == k)
            if len(self._sorted)
            else (np.zeros(len(k), dtype=bool))
        )
        if not found.all():
            new = np.unique(k[~found])
            self._set(np.concatenate([self.keys, new]))
            return self.rows(keys)
        return self._rows[pos]

    def _set(self, keys: npt.NDArray[np.int64]) -> None:
        self.keys = keys
        order = np.argsort(keys, kind="stable")
        self._sorted = keys[order]
        self._rows = order.astype(np.int64)


class BytesRegistry:
    """Byte-string key (container number, ``site|item``) to row.

    ``np.unique`` (hash based) reduces a batch to its distinct keys; a dict maps
    those to rows, and unknown keys become new rows in sorted order. Python
    work is per distinct key of a batch, never per record.
    """

    def __init__(self) -> None:
        self.keys: npt.NDArray[np.bytes_] = np.empty(0, dtype="S1")  # by row
        self._index: dict[bytes, int] = {}

    def __len__(self) -> int:
        return len(self.keys)

    def rows(self, keys: npt.NDArray[np.bytes_]) -> npt.NDArray[np.int64]:
        """Rows of ``keys``; unknown keys become new rows in sorted order."""
        if len(keys) == 0:
            return np.empty(0, dtype=np.int64)
        uniq, inv = np.unique(keys, return_inverse=True)
        get = self._index.get
        ulist = uniq.tolist()
        ids = np.fromiter((get(u, -1) for u in ulist), np.int64, len(uniq))
        missing = np.flatnonzero(ids < 0)
        if len(missing):
            start = len(self.keys)
            new_ids = np.arange(start, start + len(missing))
            self._index.update(zip([ulist[i] for i in missing.tolist()], new_ids.tolist(),
                                   strict=True))  # fmt: skip
            self.keys = np.concatenate([self.keys, uniq[missing]])
            ids[missing] = new_ids
        return ids[inv.ravel()]

    def dump(self) -> npt.NDArray[np.bytes_]:
        return self.keys.copy()

    def load(self, arr: npt.NDArray[np.bytes_]) -> None:
        self.keys = np.asarray(arr).copy()
        self._index = {k: i for i, k in enumerate(self.keys.tolist())}


def sort_by_entity_time(ent: npt.NDArray[np.int64], ts: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
    """Stable order by (entity, time); input order breaks ties."""
    if len(ent) == 0:
        return np.empty(0, dtype=np.intp)
    lo = int(ts.min())
    span = int(ts.max()) - lo + 1
    if span * (int(ent.max()) + 1) < 2**62:
        return np.argsort(ent * span + (ts - lo), kind="stable")
    return np.lexsort((ts, ent))


def dense_sums(
    names: list[bytes], start: int, step: int, values: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.bytes_], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Flatten a (intervals, series) matrix to (key, end_ms, value) rows."""
    k, s = values.shape
    ends = start + step * np.arange(1, k + 1, dtype=np.int64)
    keys = np.array(names, dtype=bytes) if names else np.empty(0, dtype="S1")
    return np.tile(keys, k), np.repeat(ends, s), values.reshape(-1).astype(np.float64)


def save_npz(arrays: dict[str, npt.NDArray[Any]], meta: dict[str, Any]) -> bytes:
    """Arrays plus a JSON ``meta`` to bytes (np.savez into a BytesIO)."""
    buf = io.BytesIO()
    payload = dict(arrays)
    payload["__meta__"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), np.uint8)
    np.savez(buf, **payload)  # type: ignore[arg-type]
    return buf.getvalue()


def load_npz(data: bytes) -> tuple[dict[str, npt.NDArray[Any]], dict[str, Any]]:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays.pop("__meta__").tobytes().decode())
    return arrays, meta
