"""Ground truth of a simulated run: which incident happened when, and which entities it affected.

Written as JSON (or YAML when the file name ends in .yaml/.yml) for `ioc score`:

```json
{"scenario": "...", "start": "2026-11-23T08:00:00+07:00", "end": "...", "complete": true,
 "incidents": [{"id": "inc-1", "type": "link_down", "root": "link/wan-xa-phu-vang",
                "start": "...", "end": "...", "affected": ["kiosk/kiosk-pv-01", "link/wan-xa-phu-vang"]}]}
```
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import orjson
import yaml

from collectors.simulator.scenario import Scenario
from collectors.simulator.seasonality import TZ

# Faults whose effect reaches the entities that depend on the target.
SPREADING = ("link_down", "link_flapping", "link_degraded", "lgsp_outage")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, TZ).isoformat()


def ground_truth(
    scenario: Scenario, dependents: dict[str, set[str]], start: float, end: float, *, complete: bool
) -> dict[str, object]:
    incidents = []
    for incident in scenario.incidents:
        began = start + incident.at_s
        if began >= end:
            continue
        affected = {incident.target}
        if incident.type in SPREADING:
            affected |= dependents.get(incident.target, set())
        incidents.append(
            {
                "id": incident.id,
                "type": incident.type,
                "root": incident.target,
                "start": _iso(began),
                "end": _iso(min(end, began + incident.duration_s)),
                "affected": sorted(affected),
                "params": incident.params,
            }
        )
    return {
        "scenario": scenario.name,
        "start": _iso(start),
        "end": _iso(end),
        "complete": complete,
        "incidents": incidents,
    }


def write_truth(path: Path, truth: dict[str, object]) -> None:
    """Write atomically, so a scorer never reads half a file."""
    if path.suffix in (".yaml", ".yml"):
        data = yaml.safe_dump(truth, allow_unicode=True, sort_keys=False).encode("utf-8")
    else:
        data = orjson.dumps(truth, option=orjson.OPT_INDENT_2)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
