"""zkr's metrics, dashboards and alerts on a live ensemble, through a real Prometheus.

A 3-node zkr ensemble (real `zkr node` processes) and a real Prometheus (Debian's package,
started here on a free loopback port with a temporary data directory, scraping the three
metrics ports every second and evaluating dashboards/alerts.yml) run for the module. A real
client (kazoo) drives load; then every PromQL expression of every dashboard panel and of every
alerting rule is evaluated through Prometheus's HTTP API."""

import time

import pytest
from kazoo.client import KazooClient

from cluster import (DASHBOARDS, Ensemble, Prometheus, mntr, raw_session, send_unknown_opcode,
                     wait_until)
from promql import metric_names, panel_queries, substitute

pytestmark = pytest.mark.timeout(600)

WRITES = 300        # > snap_count (100): every server writes a snapshot
EXPIRING_SESSIONS = 4


@pytest.fixture(scope="module")
def live():
    with Ensemble(n=3) as ens:
        with Prometheus([n.target for n in ens.nodes],
                        rule_files=[DASHBOARDS + "/alerts.yml"]) as prom:
            clients = []
            try:
                wait_until("prometheus scraping the 3 servers",
                           lambda: len(prom.targets_up()) == 3, 60)
                drive_load(ens, clients)
                # Scrapes after the load: wait until Prometheus has seen it.
                wait_until("Prometheus sees the writes",
                           lambda: scalar(prom, "max(zkr_txns_applied_total)") >= WRITES, 60)
                wait_until("Prometheus sees the session expiries",
                           lambda: scalar(prom, "sum(zkr_session_expiries_total)")
                           >= EXPIRING_SESSIONS, 60)
                wait_until("Prometheus sees a snapshot on every server",
                           lambda: scalar(prom, "count(zkr_snapshot_bytes > 0)") == 3, 60)
                # A few more scrapes, so that every rate window holds several samples.
                time.sleep(5)
                yield ens, prom
            finally:
                for c in clients:
                    try:
                        c.stop()
                        c.close()
                    except Exception:  # noqa: BLE001 - best effort at teardown
                        pass


def scalar(prom, expr):
    _, result = prom.query(expr)
    if not result:
        return 0.0
    return float(result[0]["value"][1])


def drive_load(ens, clients):
    """Writes, reads, watches, multis and syncs through every server; sessions that expire;
    malformed requests. The clients stay connected (sessions, watches and ephemerals show in
    the gauges); the caller closes them."""
    for n in ens.nodes:
        c = KazooClient(hosts="127.0.0.1:%d" % n.client_port, timeout=10)
        clients.append(c)
        c.start(timeout=30)
    clients[0].ensure_path("/ops")
    for i in range(WRITES // 2):
        clients[i % 3].create("/ops/n%d" % i, b"x" * (i % 50))
    for i in range(WRITES // 4):
        clients[i % 3].set("/ops/n%d" % i, b"y" * 20)
    for i in range(WRITES // 4):
        t = clients[i % 3].transaction()
        t.create("/ops/m%d" % i, b"m")
        t.check("/ops/n%d" % i, 1)
        t.commit()
    for c in clients:
        c.sync("/ops")
        for i in range(50):
            c.get("/ops/n%d" % i)
            c.exists("/ops/n%d" % i)
        c.get_children("/ops")
        c.get("/ops/n1", watch=lambda e: None)
        c.get_children("/ops", watch=lambda e: None)
        c.create("/ops/eph-", ephemeral=True, sequence=True)
    for i in range(10):
        clients[i % 3].delete("/ops/m%d" % i)
    # Sessions whose clients vanish without closing them: the leader expires them.
    socks = [raw_session(ens.nodes[i % 3].client_port, 1000) for i in range(EXPIRING_SESSIONS)]
    for s in socks:
        s.close()
    for n in ens.nodes:
        xid, err = send_unknown_opcode(n.client_port)
        assert (xid, err) == (1, -6), "an unknown opcode is answered Unimplemented"


QUERIES = list(panel_queries())


@pytest.mark.parametrize("dashboard,title,ref,expr", QUERIES,
                         ids=["%s:%s:%s" % (d[:-5], t, r) for d, t, r, _ in QUERIES])
def test_panel_query_returns_data(live, dashboard, title, ref, expr):
    _, prom = live
    q = substitute(expr)
    prom.query(q)   # raises on a parse or evaluation error
    # Data now, or after a few more scrapes (a scrape that timed out on a busy machine leaves
    # that server's series stale until the next one).
    wait_until("data for %s / %s: %s" % (dashboard, title, q), lambda: prom.query(q)[1], 15)
    names = prom.series_names()
    missing = metric_names(q) - names
    assert not missing, "%s refers to metrics no server exports: %s" % (q, missing)


def test_every_alert_rule_is_loaded_evaluated_and_quiet(live):
    ens, prom = live
    names = prom.series_names()
    with open(DASHBOARDS + "/alerts.yml") as f:
        expected = {line.split(":", 1)[1].strip() for line in f if "- alert:" in line}

    def evaluated():
        groups = prom.rules()
        rules = [r for g in groups for r in g["rules"] if r["type"] == "alerting"]
        if {r["name"] for r in rules} != expected:
            return None
        if any(r.get("lastEvaluation", "").startswith("0001") for r in rules):
            return None
        return rules

    rules = wait_until("every rule evaluated", evaluated, 30)
    for r in rules:
        assert r["health"] == "ok", (r["name"], r.get("lastError"))
        # The expression parses and evaluates through the query API, and every metric it
        # needs exists (a healthy ensemble legitimately gives most conditions no result).
        prom.query(r["query"])
        missing = metric_names(r["query"]) - names
        assert not missing, (r["name"], missing)
        assert r["state"] != "firing", (r["name"], r.get("alerts"))


def test_alert_conditions_see_the_healthy_ensemble(live):
    """The parts of the alert conditions evaluate to the healthy values (so each alert would
    change state on the metrics it watches, not on a misspelt or absent series)."""
    _, prom = live
    for expr, ok in [
        ('max by (job) (zkr_leader)', lambda v: v == 1),
        ('sum by (job) (zkr_serving * (zkr_role != bool 3))', lambda v: v == 3),
        ('floor(max by (job) (quorum_size) / 2) + 1', lambda v: v == 2),
        ('max(synced_followers)', lambda v: v == 2),
        ('count(up == 1 and on (job, instance) max_over_time(zkr_server_id[1h]))',
         lambda v: v == 3),
        ('sum(increase(zkr_session_expiries_total[5m]))', lambda v: v >= EXPIRING_SESSIONS),
        ('max(rate(fsynctime_count[5m]))', lambda v: v > 0),
        ('sum(zkr_bad_requests_total{reason="unknown_opcode"})', lambda v: v >= 3),
    ]:
        wait_until(expr, lambda: ok(scalar(prom, expr)), 15)


def test_mntr_reports_the_figures_of_metrics(live):
    ens, _ = live
    leader = ens.leader()
    assert leader is not None
    compared = ["zk_znode_count", "zk_ephemerals_count", "zk_watch_count", "zk_global_sessions",
                "zk_quorum_size", "zk_zkr_txns_applied_total", "zk_zkr_role",
                "zk_zkr_elections_total", "zk_looking_count", "zk_fsynctime_count",
                "zk_zkr_snapshots_total"]
    leader_only = ["zk_synced_followers", "zk_learners", "zk_pending_syncs",
                   "zk_synced_observers"]

    for node in ens.nodes:
        keys = compared + (leader_only if node is leader else [])

        def agree():
            m = mntr(node.client_port)
            metrics = node.metrics()
            diffs = {k: (m.get(k), metrics.get(k[3:])) for k in keys
                     if m.get(k) is None or metrics.get(k[3:]) is None
                     or float(m[k]) != metrics[k[3:]]}
            return (m, metrics) if not diffs else None

        m, metrics = wait_until("mntr and /metrics agreeing on server %d" % node.sid, agree, 20)
        assert m["zk_server_state"] in ("leader", "follower")
        assert m["zk_peer_state"] == ("leading - broadcast" if node is leader
                                      else "following - broadcast"), m["zk_peer_state"]
        if node is leader:
            assert m["zk_synced_followers"] == "2" and m["zk_learners"] == "2"
            assert m["zk_followers"] == "2" and m["zk_pending_syncs"] == "0"
            assert int(m["zk_leader_uptime"]) > 0
            assert 0 < int(m["zk_min_proposal_size"]) <= int(m["zk_last_proposal_size"]) \
                <= int(m["zk_max_proposal_size"])
        else:
            assert "zk_synced_followers" not in m and "zk_leader_uptime" not in m
        # ZooKeeper's summaries, under ZooKeeper's Prometheus-provider keys.
        for q in ("0.5", "0.9", "0.99"):
            assert 'zk_readlatency{quantile="%s"}' % q in m, sorted(m)
        assert float(m["zk_readlatency_count"]) > 0
        assert float(m["zk_fsynctime_count"]) > 0
        assert int(m["zk_znode_count"]) > WRITES // 2


def test_metrics_of_each_actor(live):
    ens, _ = live
    leader = ens.leader()
    lm = leader.metrics()
    assert lm["zkr_role"] == 2 and lm["zkr_leader"] == 1 and lm["zkr_serving"] == 1
    assert lm["zkr_proposal_commit_latency_seconds_count"] >= WRITES
    assert lm['zkr_mailbox_depth{actor="log"}'] >= 0
    for n in ens.nodes:
        m = n.metrics()
        assert m["quorum_size"] == 3
        assert m["zkr_leader_id"] == leader.sid
        assert m["zkr_fsync_batch_size_count"] > 0
        assert m["zkr_log_bytes_total"] > 0
        assert m["zkr_snapshots_total"] >= 1 and m["zkr_snapshot_bytes"] > 0
        assert m["snapshottime_count"] >= 1
        assert m['zkr_request_latency_seconds_count{op="getData"}'] >= 50
        assert m['zkr_bad_requests_total{reason="unknown_opcode"}'] >= 1
        assert m["zkr_actor_starts_total{actor=\"connection\"}"] >= 1
        assert m["election_time_count"] >= 1 and m["zkr_elections_total"] >= 1
        for peer in ens.nodes:
            if peer is not n:
                assert m['zkr_peer_link_up{peer="%d"}' % peer.sid] == 1
        writes = sum(v for k, v in m.items()
                     if k.startswith('zkr_request_latency_seconds_count{op="create')
                     or k.startswith('zkr_request_latency_seconds_count{op="setData"'))
        assert writes > 0, "each server answered writes of its own clients"


def test_leader_kill_changes_role_and_election_metrics():
    """Kill -9 the leader of a fresh ensemble: the survivors elect a new leader, and both
    /metrics and Prometheus show the role change and the election."""
    with Ensemble(n=3) as ens:
        with Prometheus([n.target for n in ens.nodes],
                        rule_files=[DASHBOARDS + "/alerts.yml"]) as prom:
            wait_until("prometheus scraping the 3 servers", lambda: len(prom.targets_up()) == 3,
                       60)
            old = ens.leader()
            assert old is not None
            survivors = [n for n in ens.nodes if n is not old]
            wait_until("Prometheus sees the leader",
                       lambda: prom.query('zkr_role{instance="%s"} == 2' % old.target)[1], 30)

            def following_old():
                ms = {n.sid: n.metrics() for n in survivors}
                ok = all(ms[n.sid]["zkr_role"] == 1 and ms[n.sid]["zkr_leader_id"] == old.sid
                         for n in survivors)
                return ms if ok else None

            before = wait_until("followers' metrics show the leader", following_old, 30)

            ens.kill9(old)
            ens.wait_serving(nodes=survivors, within=90)
            new = ens.leader()
            assert new is not None and new is not old

            def roles_settled():
                # The role gauges change at once; the epochs when the new leader's epoch is
                # established (a little later).
                ms = {n.sid: n.metrics() for n in survivors}
                ok = all(ms[n.sid]["zkr_role"] == (2 if n is new else 1)
                         and ms[n.sid]["zkr_leader_id"] == new.sid
                         and ms[n.sid]["zkr_current_epoch"] > before[n.sid]["zkr_current_epoch"]
                         for n in survivors)
                return ms if ok else None

            after = wait_until("survivors' metrics show the new roles", roles_settled, 30)
            for n in survivors:
                b, a = before[n.sid], after[n.sid]
                assert a["looking_count"] > b["looking_count"], n.sid
                assert a["zkr_elections_total"] > b["zkr_elections_total"], n.sid
                assert a["election_time_count"] > b["election_time_count"], n.sid
                assert a["zkr_role_changes_total"] > b["zkr_role_changes_total"], n.sid
                assert a["zkr_current_epoch"] > b["zkr_current_epoch"], n.sid
            assert after[new.sid]["zkr_leader"] == 1
            assert after[new.sid]["leader_uptime"] > 0

            # Prometheus saw it too: the new leader's role changed from follower to leader,
            # the elections counted, the old leader's target is down, and the alert on it is
            # on its way (pending, then firing after its `for`).
            def prom_saw():
                return (prom.query('zkr_role{instance="%s"} == 2' % new.target)[1]
                        and prom.query('changes(zkr_role{instance="%s"}[5m]) > 0'
                                       % new.target)[1]
                        and prom.query('increase(zkr_elections_total{instance="%s"}[5m]) > 0'
                                       % new.target)[1]
                        and prom.query('up{instance="%s"} == 0' % old.target)[1]
                        and prom.query('ALERTS{alertname="ZkrServerDown", instance="%s"}'
                                       % old.target)[1])

            wait_until("Prometheus sees the new leader and the election", prom_saw, 60)
            wait_until("Prometheus sees one leader, the new one",
                       lambda: [r["metric"]["instance"]
                                for r in prom.query("zkr_leader == 1")[1]] == [new.target], 30)


def test_peer_link_metrics_see_a_dead_peer():
    with Ensemble(n=3) as ens:
        leader = ens.leader()
        dead, other = [n for n in ens.nodes if n is not leader]
        ens.kill9(dead)

        def still_serving():
            return leader.mode() == "leader" and other.mode() == "follower"

        def link_down():
            m = other.metrics()
            return (m.get('zkr_peer_link_up{peer="%d"}' % dead.sid) == 0
                    and m.get('zkr_peer_reconnects_total{peer="%d"}' % dead.sid, 0) >= 1)

        wait_until("the other follower's link to the dead one down", link_down, 20)
        assert still_serving(), "no election happened: the quorum held"
