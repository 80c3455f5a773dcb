"""Where a replay stands, for ``--resume``: lines done per file and static data sent per vessel.

Progress is saved in a state file after every ``flush_every`` items, once the broker
acknowledged everything before it, and ``--resume`` skips what was already sent.
Records after the last saved state may be sent twice; the downstream features are
idempotent for a repeated position or snapshot (see docs/RECOVERY.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streams.settings import Settings


def state_path(settings: Settings, paths: Sequence[Path]) -> Path:
    """The state file of a replay of these files (in the stack folder)."""
    digest = hashlib.sha256("\0".join(str(p.resolve()) for p in paths).encode()).hexdigest()
    return settings.stack_dir / "replay" / f"{digest[:16]}.json"


@dataclass
class ResumeState:
    """Lines done per file, and the static data last sent per vessel (to send only changes)."""

    done: dict[str, int] = field(default_factory=dict)
    static: dict[int, str] = field(default_factory=dict)


def load_state(path: Path, files: Sequence[Path]) -> ResumeState:
    """The saved progress of the files that did not change size since (none: from scratch)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return ResumeState()
    state = ResumeState(static={int(k): v for k, v in data.get("static", {}).items()})
    for f in files:
        entry = data.get("files", {}).get(str(f.resolve()))
        if entry and entry.get("size") == f.stat().st_size:
            state.done[str(f.resolve())] = int(entry["lines_done"])
    return state


def save_state(path: Path, files: Sequence[Path], state: ResumeState) -> None:
    """Write the state file atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "files": {
            str(f.resolve()): {
                "size": f.stat().st_size,
                "lines_done": state.done.get(str(f.resolve()), 0),
            }
            for f in files
        },
        "static": state.static,
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(body, indent=1))
    tmp.replace(path)


async def save_when_acked(
    acks: list[asyncio.Future[Any]],
    previous: asyncio.Task[None] | None,
    state_file: Path,
    files: list[Path],
    snapshot: ResumeState,
) -> None:
    """Save ``snapshot`` once the previous save is done and the broker acknowledged
    ``acks`` (everything sent before it)."""
    if previous is not None:
        await previous
    if acks:
        await asyncio.gather(*acks)
    save_state(state_file, files, snapshot)

