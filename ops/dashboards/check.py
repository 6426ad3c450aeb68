#!/usr/bin/env python3
"""CI's check of the dashboards: the JSON files are what generate.py writes, and every panel's
query is valid PromQL (each turned into a recording rule, with Grafana's variables replaced, and
checked by `promtool check rules`). That every metric they read is exported, and that each query
runs, is checked against a live cluster by tests/tests/prometheus_alerts.rs."""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import generate

HERE = Path(__file__).resolve().parent


def queries():
    """(dashboard, panel title, expr) of every target, variables replaced."""
    for path in sorted(HERE.glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                expr = target["expr"].replace("$__rate_interval", "5m").replace("$instance", ".*")
                yield path.stem, panel["title"], expr


def main():
    stale = [name for name, text in generate.render().items()
             if not (HERE / f"{name}.json").exists() or (HERE / f"{name}.json").read_text() != text]
    if stale:
        sys.exit(f"dashboards: {', '.join(stale)} differ from generate.py's output; run python3 ops/dashboards/generate.py")
    found = list(queries())
    rules = {"groups": [{"name": "dashboards", "rules": [
        {"record": f"dashboard:{board.replace('-', '_')}:{i}", "expr": expr}
        for i, (board, _, expr) in enumerate(found)]}]}
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
        json.dump(rules, f)  # JSON is YAML
        f.flush()
        out = subprocess.run(["promtool", "check", "rules", f.name], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"dashboards: promtool refuses a query:\n{out.stdout}{out.stderr}")
    print(f"dashboards: {len(list(HERE.glob('*.json')))} dashboards, {len(found)} queries, all valid PromQL")


if __name__ == "__main__":
    main()
