#!/usr/bin/env python3
"""Writes zkr's Grafana dashboards (dashboards/grafana/*.json) from the panel lists below.

The JSON files are committed; edit this script and run it (`python3 dashboards/generate.py`)
rather than editing the JSON by hand. tests/ops/test_dashboards.py checks that the committed
files are what this script writes, that Grafana would load them, and (with a live ensemble and
Prometheus) that every query parses and returns data.

Both dashboards have a `datasource` variable (any Prometheus) and an `instance` variable (the
scraped zkr servers, from `zkr_role`); every query is scoped to `instance=~"$instance"`."""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "grafana")

DS = {"type": "prometheus", "uid": "${datasource}"}
S = 'instance=~"$instance"'
RATE = "$__rate_interval"

ROLE_MAPPINGS = [{
    "type": "value",
    "options": {
        "0": {"text": "looking", "color": "red", "index": 0},
        "1": {"text": "follower", "color": "blue", "index": 1},
        "2": {"text": "leader", "color": "green", "index": 2},
        "3": {"text": "observer", "color": "purple", "index": 3},
        "4": {"text": "standalone", "color": "green", "index": 4},
    },
}]
YES_NO = [{
    "type": "value",
    "options": {"0": {"text": "no", "color": "red", "index": 0},
                "1": {"text": "yes", "color": "green", "index": 1}},
}]


def target(expr, legend="", ref="A"):
    return {"refId": ref, "expr": expr, "legendFormat": legend, "datasource": DS,
            "range": True, "instant": False}


def targets(*pairs):
    return [target(e, l, chr(ord("A") + i)) for i, (e, l) in enumerate(pairs)]


class Layout:
    """Places panels left to right, 24 columns wide, rows of equal height."""

    def __init__(self):
        self.panels = []
        self.next_id = 1
        self.x = 0
        self.y = 0
        self.row_h = 0

    def _id(self):
        i = self.next_id
        self.next_id += 1
        return i

    def row(self, title):
        self.newline()
        self.panels.append({"id": self._id(), "type": "row", "title": title, "collapsed": False,
                            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y}, "panels": []})
        self.y += 1

    def newline(self):
        if self.x:
            self.y += self.row_h
            self.x = 0
            self.row_h = 0

    def add(self, panel, w, h):
        if self.x + w > 24:
            self.newline()
        panel["id"] = self._id()
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        panel["datasource"] = DS
        self.panels.append(panel)
        self.x += w
        self.row_h = max(self.row_h, h)


def stat(title, tgts, unit="short", mappings=None, text_mode="auto", description=""):
    return {
        "type": "stat", "title": title, "description": description, "targets": tgts,
        "fieldConfig": {"defaults": {"unit": unit, "mappings": mappings or [],
                                     "thresholds": {"mode": "absolute",
                                                    "steps": [{"color": "green", "value": None}]},
                                     "color": {"mode": "thresholds"}},
                        "overrides": []},
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "textMode": text_mode, "colorMode": "value", "graphMode": "none",
                    "justifyMode": "auto", "orientation": "auto"},
    }


def timeseries(title, tgts, unit="short", description="", stack=False):
    return {
        "type": "timeseries", "title": title, "description": description, "targets": tgts,
        "fieldConfig": {"defaults": {"unit": unit, "custom": {
            "drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never",
            "spanNulls": True, "stacking": {"mode": "normal" if stack else "none",
                                            "group": "A"}}},
            "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
    }


def state_timeline(title, tgts, mappings, description=""):
    return {
        "type": "state-timeline", "title": title, "description": description, "targets": tgts,
        "fieldConfig": {"defaults": {"mappings": mappings, "color": {"mode": "thresholds"},
                                     "thresholds": {"mode": "absolute",
                                                    "steps": [{"color": "green", "value": None}]}},
                        "overrides": []},
        "options": {"showValue": "auto", "mergeValues": True, "rowHeight": 0.9,
                    "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
    }


def hq(q, metric, by):
    return ("histogram_quantile(%s, sum by (le%s) (rate(%s_bucket{%s}[%s])))"
            % (q, ", " + by if by else "", metric, S, RATE))


def variables(multi):
    inst = {
        "name": "instance", "label": "Server", "type": "query", "datasource": DS,
        "query": {"query": "label_values(zkr_role, instance)", "refId": "zkr-instance"},
        "definition": "label_values(zkr_role, instance)", "refresh": 2, "sort": 1,
        "regex": "", "hide": 0, "options": [], "skipUrlSync": False,
        "includeAll": multi, "multi": multi,
    }
    if multi:
        inst["allValue"] = ".*"
        inst["current"] = {"selected": True, "text": ["All"], "value": ["$__all"]}
    else:
        inst["current"] = {}
    return [{"name": "datasource", "label": "Data source", "type": "datasource",
             "query": "prometheus", "current": {}, "hide": 0, "refresh": 1, "regex": "",
             "options": [], "includeAll": False, "multi": False, "skipUrlSync": False}, inst]


def dashboard(uid, title, description, layout, multi):
    return {
        "uid": uid, "title": title, "description": description,
        "tags": ["zkr", "zookeeper"], "editable": True, "graphTooltip": 1, "id": None,
        "schemaVersion": 39, "version": 1, "refresh": "10s", "timezone": "browser",
        "time": {"from": "now-1h", "to": "now"}, "timepicker": {}, "fiscalYearStartMonth": 0,
        "liveNow": False, "weekStart": "", "links": [],
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts", "type": "dashboard"}]},
        "templating": {"list": variables(multi)},
        "panels": layout.panels,
    }


def ensemble_overview():
    L = Layout()
    L.row("Ensemble health")
    L.add(stat("Leader", targets(("zkr_leader{%s} == 1" % S, "{{instance}}")),
               text_mode="name", description="The server that leads (zkr_leader == 1)."), 4, 4)
    L.add(stat("Servers up", targets(("sum(up{%s})" % S, "")),
               description="Scrape targets answering."), 4, 4)
    L.add(stat("Servers serving", targets(("sum(zkr_serving{%s})" % S, "")),
               description="Servers with a leader, serving clients. Below a majority of "
                           "quorum_size the ensemble has lost its quorum."), 4, 4)
    L.add(stat("Voters (quorum_size)", targets(("max(quorum_size{%s})" % S, "")),
               description="Voting members of the ensemble."), 4, 4)
    L.add(stat("Synced followers", targets(("max(synced_followers{%s})" % S, "")),
               description="Voting followers in sync with the leader (leader's view)."), 4, 4)
    L.add(stat("Elections (1h)",
               targets(("sum(increase(zkr_elections_total{%s}[1h]))" % S, "")),
               description="Leader elections completed, summed over the servers."), 4, 4)
    L.add(state_timeline("Role", targets(("zkr_role{%s}" % S, "{{instance}}")), ROLE_MAPPINGS,
                         description="Each server's role over time: who leads, elections."),
          12, 7)
    L.add(timeseries("Commit lag (txns behind the most advanced server)",
                     targets(("scalar(max(zkr_last_zxid{%s})) - zkr_last_zxid{%s}" % (S, S),
                              "{{instance}}")),
                     description="Difference of last applied zxids within an epoch."), 12, 7)
    L.row("Throughput and latency")
    L.add(timeseries("Requests/s by operation", targets(
        ("sum by (op) (rate(zkr_request_latency_seconds_count{%s}[%s]))" % (S, RATE),
         "{{op}}")), unit="reqps", stack=True), 12, 8)
    L.add(timeseries("Txns applied/s", targets(
        ("sum by (instance) (rate(zkr_txns_applied_total{%s}[%s]))" % (S, RATE),
         "{{instance}}")), unit="ops"), 12, 8)
    L.add(timeseries("p50 latency by operation", targets(
        (hq("0.5", "zkr_request_latency_seconds", "op"), "{{op}}")), unit="s"), 8, 8)
    L.add(timeseries("p99 latency by operation", targets(
        (hq("0.99", "zkr_request_latency_seconds", "op"), "{{op}}")), unit="s"), 8, 8)
    L.add(timeseries("Proposal to commit (leader)", targets(
        (hq("0.5", "zkr_proposal_commit_latency_seconds", ""), "p50"),
        (hq("0.99", "zkr_proposal_commit_latency_seconds", ""), "p99")), unit="s"), 8, 8)
    L.add(timeseries("Read / update latency p99 (ZooKeeper summaries)", targets(
        ('max by (instance) (readlatency{%s, quantile="0.99"})' % S, "read {{instance}}"),
        ('max by (instance) (updatelatency{%s, quantile="0.99"})' % S, "update {{instance}}")),
        unit="ms"), 12, 8)
    L.add(timeseries("Outstanding requests", targets(
        ("outstanding_requests{%s}" % S, "{{instance}}"))), 12, 8)
    L.row("Sessions, znodes, watches")
    L.add(timeseries("Sessions", targets(("global_sessions{%s}" % S, "{{instance}}"))), 6, 7)
    L.add(timeseries("Client connections", targets(
        ("num_alive_connections{%s}" % S, "{{instance}}"))), 6, 7)
    L.add(timeseries("Znodes", targets(("znode_count{%s}" % S, "{{instance}}"))), 6, 7)
    L.add(timeseries("Watches", targets(("watch_count{%s}" % S, "{{instance}}"))), 6, 7)
    L.add(timeseries("Session expiries/min", targets(
        ("sum(rate(zkr_session_expiries_total{%s}[%s])) * 60" % (S, RATE), "expiries/min")),
        description="Counted by the leader. A burst means clients stopped pinging: a network "
                    "problem, client GC pauses, or an overloaded ensemble."), 12, 7)
    L.add(timeseries("Ephemeral znodes", targets(
        ("ephemerals_count{%s}" % S, "{{instance}}"))), 12, 7)
    L.row("Disk and elections")
    L.add(timeseries("fsync time (ms)", targets(
        ('fsynctime{%s, quantile="0.5"}' % S, "p50 {{instance}}"),
        ('fsynctime{%s, quantile="0.99"}' % S, "p99 {{instance}}")), unit="ms",
        description="Txn log write + fsync per batch (ZooKeeper's fsynctime summary)."), 12, 8)
    L.add(timeseries("fsync batch size (txns)", targets(
        (hq("0.5", "zkr_fsync_batch_size", "instance"), "p50 {{instance}}"),
        (hq("0.99", "zkr_fsync_batch_size", "instance"), "p99 {{instance}}"))), 12, 8)
    L.add(timeseries("Election time (ms, average)", targets(
        ("election_time_sum{%s} / election_time_count{%s}" % (S, S), "{{instance}}")),
        unit="ms"), 12, 8)
    L.add(timeseries("Election events", targets(
        ("sum by (instance) (increase(zkr_elections_total{%s}[%s]))" % (S, RATE),
         "elections {{instance}}"),
        ("sum by (instance) (increase(looking_count{%s}[%s]))" % (S, RATE),
         "looking {{instance}}"))), 12, 8)
    return dashboard("zkr-ensemble", "zkr / Ensemble overview",
                     "Who leads, quorum health, throughput, latency by operation, sessions, "
                     "znodes, watches, fsync, elections.", L, True)


def node_detail():
    L = Layout()
    L.row("Server")
    L.add(stat("Role", targets(("zkr_role{%s}" % S, "")), mappings=ROLE_MAPPINGS), 4, 4)
    L.add(stat("Serving", targets(("zkr_serving{%s}" % S, "")), mappings=YES_NO), 4, 4)
    L.add(stat("Leader id", targets(("zkr_leader_id{%s}" % S, "")),
               description="The server id this server follows (-1: none)."), 4, 4)
    L.add(stat("Uptime", targets(("uptime{%s} / 1000" % S, "")), unit="s"), 4, 4)
    L.add(stat("Current epoch", targets(("zkr_current_epoch{%s}" % S, ""))), 4, 4)
    L.add(stat("File descriptors used", targets(
        ("open_file_descriptor_count{%s} / max_file_descriptor_count{%s}" % (S, S), "")),
        unit="percentunit"), 4, 4)
    L.row("Clients")
    L.add(timeseries("Connections and sessions", targets(
        ("num_alive_connections{%s}" % S, "connections"),
        ("global_sessions{%s}" % S, "sessions"))), 8, 8)
    L.add(timeseries("Outstanding requests", targets(
        ("outstanding_requests{%s}" % S, "outstanding"))), 8, 8)
    L.add(timeseries("Requests/s by operation", targets(
        ("sum by (op) (rate(zkr_request_latency_seconds_count{%s}[%s]))" % (S, RATE),
         "{{op}}")), unit="reqps"), 8, 8)
    L.add(timeseries("p99 latency by operation", targets(
        (hq("0.99", "zkr_request_latency_seconds", "op"), "{{op}}")), unit="s"), 8, 8)
    L.add(timeseries("Read / update latency (ms)", targets(
        ("readlatency{%s}" % S, "read q{{quantile}}"),
        ("updatelatency{%s}" % S, "update q{{quantile}}")), unit="ms"), 8, 8)
    L.add(timeseries("Rejected requests/s", targets(
        ("sum by (reason) (rate(zkr_bad_requests_total{%s}[%s]))" % (S, RATE), "{{reason}}"),
        ("rate(connection_rejected{%s}[%s])" % (S, RATE), "connections refused"),
        ("rate(zkr_auth_failures_total{%s}[%s])" % (S, RATE), "auth failures")),
        unit="reqps"), 8, 8)
    L.row("Data")
    L.add(timeseries("Znodes and ephemerals", targets(
        ("znode_count{%s}" % S, "znodes"), ("ephemerals_count{%s}" % S, "ephemerals"))), 8, 7)
    L.add(timeseries("Watches", targets(("watch_count{%s}" % S, "watches"))), 8, 7)
    L.add(timeseries("Data size", targets(
        ("approximate_data_size{%s}" % S, "paths + data")), unit="bytes"), 8, 7)
    L.row("Log and snapshots")
    L.add(timeseries("fsync time (ms)", targets(
        ("fsynctime{%s}" % S, "q{{quantile}}")), unit="ms"), 8, 8)
    L.add(timeseries("fsync batch size (txns)", targets(
        (hq("0.5", "zkr_fsync_batch_size", ""), "p50"),
        (hq("0.99", "zkr_fsync_batch_size", ""), "p99"))), 8, 8)
    L.add(timeseries("Log writes", targets(
        ("rate(zkr_log_bytes_total{%s}[%s])" % (S, RATE), "bytes/s"),
        ("rate(zkr_fsyncs_total{%s}[%s])" % (S, RATE), "fsyncs/s"),
        ("rate(zkr_log_txns_total{%s}[%s])" % (S, RATE), "txns/s"))), 8, 8)
    L.add(timeseries("Last snapshot size", targets(
        ("zkr_snapshot_bytes{%s}" % S, "bytes")), unit="bytes"), 8, 7)
    L.add(timeseries("Snapshot duration", targets(
        ("snapshottime{%s} / 1000" % S, "q{{quantile}}"),
        ("zkr_snapshot_duration_seconds_sum{%s} / zkr_snapshot_duration_seconds_count{%s}"
         % (S, S), "average")), unit="s"), 8, 7)
    L.add(timeseries("Free disk space", targets(
        ("zkr_disk_free_bytes{%s}" % S, "{{dir}}"),
        ("zkr_disk_space_low{%s}" % S, "low (1: below the node's threshold)")),
        unit="bytes",
        description="Free space of the log and snapshot file systems; the node warns below "
                    "the next snapshot's size plus two log segments."), 8, 7)
    L.add(timeseries("Log and snapshot errors", targets(
        ("increase(zkr_log_write_errors_total{%s}[%s])" % (S, RATE), "log write errors"),
        ("increase(zkr_snapshot_errors_total{%s}[%s])" % (S, RATE), "snapshot errors"),
        ("increase(zkr_requests_failed_disk_total{%s}[%s])" % (S, RATE),
         "requests failed (disk)"))), 8, 7)
    L.row("Ensemble")
    L.add(timeseries("Learners (leader)", targets(
        ("learners{%s}" % S, "learners"), ("synced_followers{%s}" % S, "synced followers"),
        ("synced_observers{%s}" % S, "synced observers"),
        ("pending_syncs{%s}" % S, "pending syncs"))), 8, 8)
    L.add(timeseries("Proposal size (leader)", targets(
        ("last_proposal_size{%s}" % S, "last"), ("max_proposal_size{%s}" % S, "max"),
        ("min_proposal_size{%s}" % S, "min")), unit="bytes"), 8, 8)
    L.add(timeseries("Proposal to commit (leader)", targets(
        (hq("0.5", "zkr_proposal_commit_latency_seconds", ""), "p50"),
        (hq("0.99", "zkr_proposal_commit_latency_seconds", ""), "p99")), unit="s"), 8, 8)
    L.add(timeseries("Peer links up", targets(
        ("zkr_peer_link_up{%s}" % S, "peer {{peer}}"))), 8, 7)
    L.add(timeseries("Peer link losses", targets(
        ("sum by (peer) (increase(zkr_peer_reconnects_total{%s}[%s]))" % (S, RATE),
         "peer {{peer}}"))), 8, 7)
    L.add(timeseries("Elections", targets(
        ("increase(zkr_elections_total{%s}[%s])" % (S, RATE), "elections"),
        ("increase(looking_count{%s}[%s])" % (S, RATE), "started looking"),
        ('election_time{%s, quantile="0.5"}' % S, "election time p50 (ms)"))), 8, 7)
    L.row("Actors")
    L.add(timeseries("Mailbox depth by actor", targets(
        ("zkr_mailbox_depth{%s}" % S, "{{actor}}")),
        description="log: jobs waiting for the writer; store: Apply batches not handled; "
                    "quorum: proposals not committed."), 8, 7)
    L.add(timeseries("Actor restarts by actor", targets(
        ("sum by (actor) (increase(zkr_actor_restarts_total{%s}[%s]))" % (S, RATE),
         "{{actor}}"))), 8, 7)
    L.add(timeseries("Actor starts/s by actor", targets(
        ("sum by (actor) (rate(zkr_actor_starts_total{%s}[%s]))" % (S, RATE), "{{actor}}"))),
        8, 7)
    return dashboard("zkr-node", "zkr / Node detail",
                     "One zkr server: role, clients, latency, data, log and snapshots, "
                     "ensemble links, actors.", L, False)


DASHBOARDS = {"zkr-ensemble-overview.json": ensemble_overview, "zkr-node-detail.json": node_detail}


def render(builder):
    return json.dumps(builder(), indent=2, sort_keys=False) + "\n"


def main():
    os.makedirs(OUT, exist_ok=True)
    check = "--check" in sys.argv
    stale = []
    for name, builder in DASHBOARDS.items():
        path = os.path.join(OUT, name)
        text = render(builder)
        if check:
            try:
                with open(path) as f:
                    if f.read() != text:
                        stale.append(name)
            except OSError:
                stale.append(name)
        else:
            with open(path, "w") as f:
                f.write(text)
    if stale:
        print("stale (run dashboards/generate.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
