"""Metrics present from the start: every metric a dashboard panel or an alerting rule queries is
exported by a node from its very first successful scrape (at zero, or an empty summary), so a new
node's panels never read "No data" until its first snapshot, election or request.

A fresh 3-node ensemble (real `zkr node` processes): each node's `/metrics` is scraped as soon as
it answers, before any client has connected, and again once the ensemble serves."""

import os
import re
import time
import urllib.error

import pytest

from cluster import DASHBOARDS, Ensemble, http_get, parse_exposition, wait_until
from promql import metric_names, panel_queries, substitute

pytestmark = pytest.mark.timeout(180)

# Series Prometheus makes itself, not the node.
PROMETHEUS_MADE = {"up", "ALERTS", "ALERTS_FOR_STATE", "scrape_duration_seconds"}


def alert_exprs():
    """Every `expr:` of dashboards/alerts.yml, folded (`>`) blocks included (no YAML library in
    the shared venv: the file's layout is simple enough to read by indentation)."""
    with open(os.path.join(DASHBOARDS, "alerts.yml")) as f:
        lines = f.read().splitlines()
    exprs = []
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)expr:\s*(.*)$", lines[i])
        i += 1
        if not m:
            continue
        indent, rest = len(m.group(1)), m.group(2).strip()
        if rest not in (">", "|", ">-", "|-"):
            exprs.append(rest)
            continue
        block = []
        while i < len(lines) and (not lines[i].strip()
                                  or len(lines[i]) - len(lines[i].lstrip()) > indent):
            block.append(lines[i].strip())
            i += 1
        exprs.append(" ".join(block))
    return exprs


def queried_metric_names():
    names = set()
    for _, _, _, expr in panel_queries():
        names |= metric_names(substitute(expr))
    for expr in alert_exprs():
        names |= metric_names(expr)
    return names - PROMETHEUS_MADE


def exported_names(node):
    return {k.split("{", 1)[0] for k in parse_exposition(http_get(
        "http://%s/metrics" % node.target))}


def test_the_queried_names_are_read_from_both_files():
    names = queried_metric_names()
    # A dashboard metric and an alert-only one, so that neither source is silently skipped.
    assert "zkr_request_latency_seconds_bucket" in names
    assert "fsynctime_sum" in names and "zkr_session_expiries_total" in names
    assert len(alert_exprs()) >= 9


def test_a_fresh_node_exports_every_queried_metric_from_the_first_scrape():
    wanted = queried_metric_names()
    ens = Ensemble(n=3, snap_count=100000)
    try:
        for node in ens.nodes:
            ens.start_node(node)
        first = {}

        def scraped(node):
            def once():
                if not node.alive():
                    raise RuntimeError("node %d exited:\n%s" % (node.sid, node.log()[-3000:]))
                try:
                    return exported_names(node)
                except (urllib.error.URLError, OSError):
                    return None
            return once

        for node in ens.nodes:
            first[node.sid] = wait_until("node %d's first scrape" % node.sid, scraped(node), 60,
                                         every=0.02)
        for sid, names in first.items():
            missing = sorted(wanted - names)
            assert not missing, "node %d's first scrape lacks %s" % (sid, missing)
        ens.wait_serving()
        for node in ens.nodes:
            missing = sorted(wanted - exported_names(node))
            assert not missing, "node %d serving lacks %s" % (node.sid, missing)
    finally:
        ens.close()


def test_a_node_under_its_disk_warning_level_says_so_from_the_first_scrape_and_warns_once():
    # A warning level no disk reaches: the node is "low" from its first look at the disk.
    ens = Ensemble(n=1, snap_count=100000, storage="low_space_bytes = %d\n" % (1 << 62))
    node = ens.nodes[0]
    try:
        ens.start_node(node)

        def scraped():
            try:
                return parse_exposition(http_get("http://%s/metrics" % node.target))
            except (urllib.error.URLError, OSError):
                return None

        first = wait_until("the first scrape", scraped, 60, every=0.02)
        assert first.get("zkr_disk_space_low") == 1.0, first.get("zkr_disk_space_low")
        for d in ("log", "snap"):
            assert first.get('zkr_disk_free_bytes{dir="%s"}' % d, 0) > 0, (d, sorted(first))
        warned = 'free disk space is low'
        wait_until("the warning", lambda: warned in node.log(), 30)
        # The log actor samples every 10 s: two more looks, still low, and no more warnings
        # (one per directory, once per episode).
        time.sleep(21)
        assert node.alive(), node.log()[-3000:]
        assert node.log().count(warned) == 2, node.log()[-3000:]
        assert parse_exposition(http_get("http://%s/metrics" % node.target)).get(
            "zkr_disk_space_low") == 1.0
    finally:
        ens.close()
