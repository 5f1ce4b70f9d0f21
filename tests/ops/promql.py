"""Reading the dashboards and rules the way the live tests need: every PromQL expression of
every panel, Grafana's variables replaced by what a live query would use, and the metric names
an expression refers to."""

import glob
import json
import os
import re

from cluster import DASHBOARDS

# What Grafana would put in for its variables when it queries Prometheus (scrape interval 1 s,
# so a 1 m rate window holds enough samples).
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "5m",
    "$instance": ".*",
}

KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
            "group_right", "bool", "offset", "inf", "nan", "atan2"}


def dashboard_files():
    return sorted(glob.glob(os.path.join(DASHBOARDS, "grafana", "*.json")))


def load_dashboards():
    out = {}
    for path in dashboard_files():
        with open(path) as f:
            out[os.path.basename(path)] = json.load(f)
    return out


def all_panels(dash):
    """Every panel, rows' nested panels included."""
    for p in dash.get("panels", []):
        yield p
        for q in p.get("panels", []) or []:
            yield q


def panel_queries(dashboards=None):
    """(dashboard file, panel title, refId, expr) for every query of every panel."""
    dashboards = dashboards or load_dashboards()
    for name, dash in sorted(dashboards.items()):
        for p in all_panels(dash):
            for t in p.get("targets", []) or []:
                yield name, p.get("title"), t.get("refId"), t.get("expr")


def substitute(expr):
    for k in sorted(GRAFANA_VARIABLES, key=len, reverse=True):
        expr = expr.replace(k, GRAFANA_VARIABLES[k])
    return expr


def metric_names(expr):
    """Metric names an expression selects (functions, keywords, label names, strings and
    durations removed)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)          # strings
    e = re.sub(r"\{[^}]*\}", "", e)                          # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)                         # range / subquery durations
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        word = m.group(0)
        rest = e[m.end():].lstrip()
        if rest.startswith("("):
            continue                                         # a function
        if word.lower() in KEYWORDS:
            continue
        before = e[:m.start()]
        if re.search(r"[0-9.]$", before):
            continue                                         # part of a number like 1e3
        names.add(word)
    return names
