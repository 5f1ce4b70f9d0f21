"""Static checks of dashboards/: the Grafana JSON is what dashboards/generate.py writes and has
what Grafana needs to load it (schema fields, variables, unique panel ids, a query in every
panel, a layout inside 24 columns without overlaps); the Prometheus config and the rules pass
promtool, and the rules' unit tests (dashboards/alerts_test.yml) pass."""

import os
import re
import subprocess
import sys

import pytest

from cluster import DASHBOARDS, PROMTOOL
from promql import all_panels, dashboard_files, load_dashboards, metric_names, panel_queries

PANEL_TYPES = {"row", "stat", "timeseries", "state-timeline", "table", "gauge", "bargauge",
               "heatmap", "text"}


def test_generated_dashboards_are_committed():
    r = subprocess.run([sys.executable, os.path.join(DASHBOARDS, "generate.py"), "--check"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_there_are_an_overview_and_a_node_dashboard():
    uids = {d["uid"] for d in load_dashboards().values()}
    assert uids == {"zkr-ensemble", "zkr-node"}, uids


@pytest.mark.parametrize("path", dashboard_files(), ids=os.path.basename)
def test_dashboard_has_what_grafana_needs(path):
    dash = load_dashboards()[os.path.basename(path)]
    for key, typ in [("uid", str), ("title", str), ("schemaVersion", int), ("panels", list),
                     ("templating", dict), ("time", dict), ("tags", list)]:
        assert isinstance(dash.get(key), typ), (key, dash.get(key))
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", dash["uid"]), dash["uid"]
    assert dash["schemaVersion"] >= 30
    assert "id" in dash and dash["id"] is None, "provisioned dashboards carry no numeric id"
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    ds = variables.get("datasource")
    assert ds and ds["type"] == "datasource" and ds["query"] == "prometheus", ds
    inst = variables.get("instance")
    assert inst and inst["type"] == "query", inst
    assert inst["datasource"]["uid"] == "${datasource}"
    assert "label_values(" in inst["definition"] and "instance" in inst["definition"]

    panels = list(all_panels(dash))
    assert len(panels) >= 10
    ids = [p.get("id") for p in panels]
    assert all(isinstance(i, int) for i in ids), ids
    assert len(ids) == len(set(ids)), "duplicate panel ids: %s" % ids
    cells = {}
    for p in panels:
        assert p.get("type") in PANEL_TYPES, (p.get("title"), p.get("type"))
        assert p.get("title"), p
        g = p.get("gridPos")
        assert g and all(isinstance(g.get(k), int) for k in "hwxy"), (p["title"], g)
        assert g["w"] >= 1 and g["h"] >= 1 and g["x"] >= 0 and g["y"] >= 0
        assert g["x"] + g["w"] <= 24, (p["title"], g)
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, "%r overlaps %r" % (p["title"], cells[(x, y)])
                cells[(x, y)] = p["title"]
        if p["type"] in ("row", "text"):
            continue
        assert p.get("datasource", {}).get("uid") == "${datasource}", p["title"]
        tgts = p.get("targets") or []
        assert tgts, "panel %r has no query" % p["title"]
        refs = [t.get("refId") for t in tgts]
        assert len(refs) == len(set(refs)) and all(refs), (p["title"], refs)
        for t in tgts:
            assert isinstance(t.get("expr"), str) and t["expr"].strip(), (p["title"], t)
            assert t.get("datasource", {}).get("uid") == "${datasource}", (p["title"], t)
            # Every query follows the instance variable.
            assert '$instance' in t["expr"], (p["title"], t["expr"])


def test_every_query_names_metrics():
    queries = list(panel_queries())
    assert len(queries) >= 60, len(queries)
    for name, title, ref, expr in queries:
        assert metric_names(expr), (name, title, ref, expr)


def test_metric_name_extraction():
    assert metric_names('histogram_quantile(0.99, sum by (le, op) (rate('
                        'zkr_request_latency_seconds_bucket{instance=~"$instance"}[1m])))') \
        == {"zkr_request_latency_seconds_bucket"}
    assert metric_names('(synced_followers < quorum_size - 1) and on (job, instance) '
                        '(zkr_role == 2)') == {"synced_followers", "quorum_size", "zkr_role"}
    assert metric_names('sum by (job) (zkr_serving * (zkr_role != bool 3)) < on (job) '
                        '(floor(max by (job) (quorum_size) / 2) + 1)') \
        == {"zkr_serving", "zkr_role", "quorum_size"}
    assert metric_names('fsynctime{quantile="0.99", instance=~"a|b"} > 1e3') == {"fsynctime"}


def test_provisioning_files_point_at_the_dashboards():
    prov = os.path.join(DASHBOARDS, "provisioning")
    with open(os.path.join(prov, "dashboards", "zkr.yml")) as f:
        text = f.read()
    assert "apiVersion: 1" in text and "providers:" in text and "type: file" in text
    assert re.search(r"^\s+path: \S+", text, re.M), text
    with open(os.path.join(prov, "datasources", "zkr-prometheus.yml")) as f:
        text = f.read()
    assert "apiVersion: 1" in text and "type: prometheus" in text


def promtool(*args):
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120,
                          cwd=DASHBOARDS)


def test_promtool_check_config():
    r = promtool("check", "config", "prometheus.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout + r.stderr


def test_promtool_check_rules():
    r = promtool("check", "rules", "alerts.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"SUCCESS: \d+ rules found", r.stdout + r.stderr)


def test_promtool_test_rules():
    r = promtool("test", "rules", "alerts_test.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout + r.stderr


def test_every_alert_has_firing_and_quiet_unit_tests():
    with open(os.path.join(DASHBOARDS, "alerts.yml")) as f:
        alerts = re.findall(r"^\s+- alert: (\w+)", f.read(), re.M)
    assert len(alerts) >= 6
    for required in ["ZkrNoLeader", "ZkrLostQuorum", "ZkrServerOutOfSync", "ZkrFsyncSlow",
                     "ZkrOutstandingRequestsHigh", "ZkrSessionExpiryStorm"]:
        assert required in alerts
    with open(os.path.join(DASHBOARDS, "alerts_test.yml")) as f:
        tests = f.read()
    # Each alert is evaluated at least once expecting an alert and once expecting none.
    blocks = re.split(r"\n\s+- eval_time: ", tests)[1:]
    for alert in alerts:
        fired = [b for b in blocks if re.search(r"alertname: %s\n" % alert, b)
                 and re.search(r"exp_alerts:\s*\n\s+- exp_labels", b)]
        quiet = [b for b in blocks if re.search(r"alertname: %s\n" % alert, b)
                 and re.search(r"exp_alerts: \[\]", b)]
        assert fired, "no firing test for " + alert
        assert quiet, "no quiet test for " + alert
