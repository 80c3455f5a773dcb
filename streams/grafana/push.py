"""The push of every dashboard into a Grafana's ``berthwatch`` folder, with grafana-client
(the ``[grafana]`` extra), and one annotation per replay run of ``replays.jsonl``.

The dashboards refer to their Prometheus datasource by the uid the project provisions
(``berthwatch-prometheus``); a Grafana that was not provisioned by the project has its
own. The push looks the target's Prometheus datasources up through Grafana's API
(``GET /api/datasources``), chooses one (:func:`choose_datasource`) and rewrites every
reference to it (:func:`map_datasource`)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from streams.grafana.models import DashboardsError, load_dashboards
from streams.times import minute

FOLDER = "berthwatch"
TOKEN_ENV = "BERTHWATCH_GRAFANA_TOKEN"
REPLAYS_FILE = "replays.jsonl"
REPLAY_TAGS = ["berthwatch", "replay"]
"""Tags of the replay annotations; the dashboards' "Replays" annotation shows them
(``dashboards.common.REPLAY_TAGS``, kept equal by a test)."""


def replay_annotations(text: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Grafana annotation payloads, one per replay run of a ``replays.jsonl`` text, and
    the problems of the lines that were skipped.

    Each payload has the keyword arguments of grafana-client's
    ``annotations.add_annotation``: the run's wall-time span in milliseconds (when
    Prometheus saw its data), the tags (``berthwatch``, ``replay`` and one naming the
    run, to find it again) and a text with the files, records and event-time span.

    >>> line = ('{"started": 1700000000, "finished": 1700000240, "files": ["feed/a.csv.gz"],'
    ...         ' "records": 1234567, "event_from": 1577836800, "event_to": 1672444800}')
    >>> payloads, problems = replay_annotations(line + "\\nnot json\\n")
    >>> payloads[0]["time_from"], payloads[0]["time_to"], payloads[0]["tags"]
    (1700000000000, 1700000240000, ['berthwatch', 'replay', 'replay-1700000000'])
    >>> import textwrap
    >>> print(textwrap.fill(payloads[0]["text"], 80))
    Replay of a.csv.gz: 1,234,567 records, event time 2020-01-01 00:00 to 2022-12-31
    00:00 UTC, in 4m 0s of wall time.
    >>> problems
    ['line 2: not JSON']
    """
    payloads, problems = [], []
    for n, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            run = json.loads(raw)
        except json.JSONDecodeError:
            problems.append(f"line {n}: not JSON")
            continue
        try:
            payloads.append(_replay_payload(run))
        except (KeyError, TypeError, ValueError) as e:
            problems.append(f"line {n}: {e}")
    return payloads, problems


def _replay_payload(run: Any) -> dict[str, Any]:
    if not isinstance(run, dict):
        raise TypeError("not an object")
    started, finished = float(run["started"]), float(run["finished"])
    if not (math.isfinite(started) and math.isfinite(finished)) or finished < started:
        raise ValueError(f"finished {finished} before started {started}")
    files = [Path(str(f)).name for f in run.get("files", [])]
    shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
    parts = [f"Replay of {shown or 'no files'}"]
    if run.get("records") is not None:
        parts.append(f": {int(run['records']):,} records")
    if run.get("event_from") is not None and run.get("event_to") is not None:
        span = " to ".join(minute(float(run[k])) for k in ("event_from", "event_to"))
        parts.append(f", event time {span} UTC")
    wall = round(finished - started)
    parts.append(f", in {wall // 60}m {wall % 60}s of wall time.")
    return {"time_from": round(started * 1000), "time_to": round(finished * 1000),
            "tags": [*REPLAY_TAGS, f"replay-{started:.0f}"], "text": "".join(parts)}


def annotate_replays(api: Any, payloads: Iterable[dict[str, Any]]) -> tuple[int, int]:
    """Add the payloads' annotations that Grafana does not have yet (by their run tag);
    return (added, already there)."""
    todo = list(payloads)
    if not todo:
        return 0, 0
    found = api.annotations.find_annotations(
        time_from=min(p["time_from"] for p in todo), time_to=max(p["time_to"] for p in todo),
        tags=REPLAY_TAGS, ann_type="annotation", limit=10_000)
    known = {tag for a in found or [] for tag in a.get("tags", [])}
    added = 0
    for payload in todo:
        if payload["tags"][-1] in known:
            continue
        api.annotations.add_annotation(**payload)
        added += 1
    return added, len(todo) - added


def choose_datasource(found: Iterable[dict[str, Any]], provisioned: str,
                      name: str | None = None) -> dict[str, Any]:
    """The Prometheus datasource of a Grafana (its ``/api/datasources`` list) that the
    dashboards should use: the one named ``name`` (name or uid); without a name, the
    project's provisioned uid if the Grafana has it, else its default Prometheus, else
    its only one. Raises :class:`DashboardsError` naming the choices otherwise.

    >>> ds = [{"name": "Loki", "type": "loki", "uid": "l1"},
    ...       {"name": "Mimir", "type": "prometheus", "uid": "m1"}]
    >>> choose_datasource(ds, "berthwatch-prometheus")["uid"]
    'm1'
    >>> choose_datasource(ds + [{"name": "Thanos", "type": "prometheus", "uid": "t1"}],
    ...                   "berthwatch-prometheus", "Thanos")["uid"]
    't1'
    """
    proms = [d for d in found if d.get("type") == "prometheus"]
    names = ", ".join(sorted(str(d.get("name")) for d in proms)) or "none"
    if name is not None:
        for d in proms:
            if name in (d.get("name"), d.get("uid")):
                return d
        raise DashboardsError(f"no Prometheus datasource named {name!r} in Grafana "
                              f"(its Prometheus datasources: {names})")
    if not proms:
        raise DashboardsError("Grafana has no Prometheus datasource: add one that reads "
                              "the workers' metrics, then push again")
    for pick in ([d for d in proms if d.get("uid") == provisioned],
                 [d for d in proms if d.get("isDefault")], proms):
        if len(pick) == 1:
            return pick[0]
    raise DashboardsError(f"Grafana has several Prometheus datasources ({names}): "
                          "choose one with --datasource NAME")


def map_datasource(model: Any, provisioned: str, uid: str) -> Any:
    """``model`` with every reference to the Prometheus datasource ``provisioned``
    pointing at ``uid`` instead (panels, targets, variables, annotations).

    >>> m = {"panels": [{"datasource": {"type": "prometheus", "uid": "a"},
    ...                  "targets": [{"datasource": {"type": "prometheus", "uid": "a"}}]}],
    ...      "annotations": {"list": [{"datasource": {"type": "grafana", "uid": "-- Grafana --"}}]}}
    >>> out = map_datasource(m, "a", "b")
    >>> out["panels"][0]["targets"][0]["datasource"], out["annotations"]["list"][0]["datasource"]
    ({'type': 'prometheus', 'uid': 'b'}, {'type': 'grafana', 'uid': '-- Grafana --'})
    """
    if isinstance(model, dict):
        if model.get("type") == "prometheus" and model.get("uid") == provisioned:
            return {**model, "uid": uid}
        return {k: map_datasource(v, provisioned, uid) for k, v in model.items()}
    if isinstance(model, list):
        return [map_datasource(v, provisioned, uid) for v in model]
    return model


def push_dashboards(url: str, token: str, replays: Path, report: Callable[[str], None],
                    datasource: str | None = None) -> None:
    """Upload every dashboard into the ``berthwatch`` folder of the Grafana at ``url``
    (created if missing), on its Prometheus datasource (:func:`choose_datasource`, named
    by ``datasource`` or found), and annotate the replay runs of the file ``replays`` that
    Grafana does not have yet (a missing file adds none); ``report`` says each step in a
    line."""
    if not token:
        raise DashboardsError(f"no Grafana token: set {TOKEN_ENV} "
                              "(a service account token with dashboard write access)")
    payloads, problems = replay_annotations(replays.read_text(encoding="utf-8")) \
        if replays.is_file() else ([], [])
    try:
        from grafana_client import GrafanaApi
        from grafana_client.client import GrafanaException, GrafanaTimeoutError
    except ImportError:
        raise DashboardsError("grafana-client is missing: "
                              "pip install 'berthwatch[grafana]'") from None
    api = GrafanaApi.from_url(url, credential=token, timeout=10)
    DASHBOARDS, _ = load_dashboards()
    from dashboards import DATASOURCE_UID

    try:
        chosen = choose_datasource(api.datasource.list_datasources() or [], DATASOURCE_UID,
                                   datasource)
        report(f"datasource: {chosen.get('name')} (uid {chosen['uid']})")
        folder_uid = _folder(api)
        for uid, build in sorted(DASHBOARDS.items()):
            model = map_datasource(build(), DATASOURCE_UID, str(chosen["uid"]))
            api.dashboard.update_dashboard({"dashboard": model, "folderUid": folder_uid,
                                            "overwrite": True,
                                            "message": "berthwatch dashboards push"})
            report(f"pushed {uid} to {url.rstrip('/')}/d/{uid}")
        added, known = annotate_replays(api, payloads)
    except GrafanaTimeoutError:
        raise DashboardsError(f"Grafana at {url} did not answer in time") from None
    except GrafanaException as e:
        raise DashboardsError(f"Grafana at {url} refused: "
                              f"{e.status_code} {json.dumps(e.message)}") from None
    except OSError as e:  # connection refused, DNS, TLS, timeout (niquests/requests errors)
        raise DashboardsError(f"Grafana at {url} is unreachable: "
                              f"{type(e).__name__}") from None
    if payloads or problems:
        report(f"annotated {added} replay runs from {replays} ({known} already there"
               + (f"; skipped {'; '.join(problems)}" if problems else "") + ")")


def _folder(api: Any) -> str:
    """Uid of the ``berthwatch`` folder, created if missing."""
    for folder in api.folder.get_all_folders():
        if folder.get("title") == FOLDER:
            return str(folder["uid"])
    created = api.folder.create_folder(FOLDER, uid=FOLDER)
    return str(created["uid"])
