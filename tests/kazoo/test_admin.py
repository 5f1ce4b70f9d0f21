"""The AdminServer endpoint (admin.serverPort): zkr's JSON against Debian's Apache ZooKeeper 3.8
running its own Jetty AdminServer, key by key, after the same client activity on both; and 3.9's
`snapshot` command (zkr only: 3.8 has none) with its authentication, rate limit and stream.

Both servers run here, whatever ZKR_TEST_TARGET says."""

import json
import os
import subprocess
import urllib.error
import urllib.request

import pytest
from kazoo.client import KazooClient

from servers import SUPER_DIGEST, Server, http_request

pytestmark = pytest.mark.timeout(240)

ZKR_BIN = os.environ.get("ZKR_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "target", "debug", "zkr")

# Commands compared key by key (primary names and a few aliases). `monitor`, `environment` and
# `system_properties` are compared below with their own rules; `leader`, `voting_view` and
# `zabstate` answer a standalone server here (their ensemble shapes: tests/ops/test_admin_readiness.py).
COMPARED = [
    "configuration", "conf", "connection_stat_reset", "connections", "cons", "dirs", "dump",
    "get_trace_mask", "hash", "initial_configuration", "is_read_only", "isro", "last_snapshot",
    "leader", "observer_connection_stat_reset", "observers", "ruok", "server_stats", "srvr",
    "stat_reset", "stats", "stat", "voting_view", "watch_summary", "wchs", "watches", "wchc",
    "watches_by_path", "wchp", "zabstate", "set_trace_mask", "no_such_command",
]

# The monitor keys operators script against (ZooKeeper's `mntr` figures); each must be present in
# zkr's monitor with the JSON type Apache gives it.
MONITOR_KEYS = [
    "version", "server_state", "avg_latency", "max_latency", "min_latency", "packets_received",
    "packets_sent", "num_alive_connections", "outstanding_requests", "znode_count",
    "watch_count", "ephemerals_count", "approximate_data_size", "open_file_descriptor_count",
    "max_file_descriptor_count", "uptime", "global_sessions", "local_sessions",
    "connection_drop_probability", "outstanding_tls_handshake", "auth_failed_count",
    "looking_count", "connection_rejected", "cnt_fsynctime", "sum_fsynctime", "avg_fsynctime",
    "cnt_readlatency", "avg_readlatency", "cnt_updatelatency", "avg_updatelatency",
    "p50_readlatency", "p99_updatelatency", "cnt_snapshottime", "cnt_election_time",
]


def get(server, command, headers=None):
    """(status, parsed JSON or bytes, response headers)."""
    return http_request("%s/commands/%s" % (server.admin_url, command), headers)


def kind(v):
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "str"
    if v is None:
        return "null"
    return type(v).__name__


def shape(v):
    """The structure of a JSON value: keys (recursively), list element shapes, scalar types.
    Maps keyed by data (session ids, paths, times) are reduced to the shape of their first
    non-empty value: which buckets are empty depends on timing (ZooKeeper's `dump` can list an
    expiry time whose sessions have just moved on)."""
    if isinstance(v, dict):
        if v and all(k.isdigit() or k.startswith("/") for k in v):
            values = list(v.values())
            full = [x for x in values if x not in ([], {})]
            return {"<key>": shape((full or values)[0])}
        return {k: shape(x) for k, x in v.items()}
    if isinstance(v, list):
        return [shape(v[0])] if v else []
    return kind(v)


def activity(server):
    """The same client activity on either server: a session with an ephemeral node, a data
    watch and a child watch."""
    k = KazooClient(hosts=server.hosts, timeout=10.0)
    k.start(timeout=30)
    k.create("/admin-e", b"x", ephemeral=True)
    k.get("/admin-e", watch=lambda e: None)
    k.get_children("/", watch=lambda e: None)
    return k


@pytest.fixture(scope="module")
def pair():
    zkr = Server("zkr", admin=True).start()
    apache = Server("apache", admin=True)
    try:
        apache.start()
        clients = [activity(zkr), activity(apache)]
        yield zkr, apache
        for c in clients:
            c.stop()
            c.close()
    finally:
        apache.close()
        zkr.close()


@pytest.mark.parametrize("command", COMPARED)
def test_command_has_zookeepers_keys_and_types(pair, command):
    zkr, apache = pair
    zs, zbody, _ = get(zkr, command)
    as_, abody, _ = get(apache, command)
    assert zs == as_, (command, zs, as_)
    assert shape(zbody) == shape(abody), (command, zbody, abody)


def test_command_list_links_every_command(pair):
    zkr, apache = pair
    with urllib.request.urlopen(zkr.admin_url + "/commands", timeout=10) as r:
        listed = r.read().decode()
    with urllib.request.urlopen(apache.admin_url + "/commands", timeout=10) as r:
        apache_listed = r.read().decode()
    for name in ["monitor", "ruok", "stats", "connections", "watches", "last_snapshot"]:
        assert 'href="/commands/%s"' % name in listed, listed
        assert 'href="/commands/%s"' % name in apache_listed


def test_monitor_has_the_keys_operators_script_against(pair):
    zkr, apache = pair
    _, z, _ = get(zkr, "monitor")
    _, a, _ = get(apache, "mntr")
    for key in MONITOR_KEYS:
        assert key in a, "Apache lacks %s" % key
        assert key in z, "zkr's monitor lacks %s" % key
        assert kind(z[key]) == kind(a[key]), (key, z[key], a[key])
    # Every key both have agrees in type.
    for key in set(z) & set(a):
        assert kind(z[key]) == kind(a[key]), (key, z[key], a[key])
    assert z["server_state"] == a["server_state"] == "standalone"
    assert z["ephemerals_count"] == a["ephemerals_count"] == 1
    assert z["global_sessions"] == a["global_sessions"] == 1


def test_environment_has_zookeepers_non_java_keys(pair):
    zkr, apache = pair
    _, z, _ = get(zkr, "envi")
    _, a, _ = get(apache, "environment")
    wanted = {k for k in a if not k.startswith("java.")}
    assert wanted - set(z) == set(), sorted(wanted - set(z))
    for k in wanted:
        assert kind(z[k]) == kind(a[k]), k


def test_values_agree_with_the_clients_activity(pair):
    zkr, apache = pair
    _, dump, _ = get(zkr, "dump")
    eph = dump["session_id_to_ephemeral_paths"]
    assert list(eph.values()) == [["/admin-e"]]
    _, w, _ = get(zkr, "watches_by_path")
    _, aw, _ = get(apache, "watches_by_path")
    # ZooKeeper 3.8 lists data watches only (the child watch on / is not there).
    assert set(w["path_to_session_ids"]) == set(aw["path_to_session_ids"]) == {"/admin-e"}
    assert [int(s) for s in eph] == w["path_to_session_ids"]["/admin-e"]
    _, s, _ = get(zkr, "watch_summary")
    _, a, _ = get(apache, "watch_summary")
    assert s == a
    _, c, _ = get(zkr, "connections")
    assert [x["session_id"] for x in c["connections"]] == [int(s) for s in eph]
    _, conf, _ = get(zkr, "configuration")
    assert conf["client_port"] == zkr.port
    _, icfg, _ = get(zkr, "icfg")
    assert "client_port = %d" % zkr.port in icfg["initial_configuration"]


def test_snapshot_needs_authentication_and_authorization(pair):
    zkr, _ = pair
    status, body, _ = get(zkr, "snapshot")
    assert (status, body["error"]) == (401, "Auth info is missing for the command")
    status, body, _ = get(zkr, "snapshot", {"Authorization": "kerberos x"})
    assert (status, body["error"]) == (401, "Not authenticated")
    # world:anyone has ALL on / here, so digest works for anyone; the ACL is tightened below.
    k = KazooClient(hosts=zkr.hosts, timeout=10.0, auth_data=[("digest", "super:test")])
    k.start(timeout=30)
    try:
        from kazoo.security import make_digest_acl
        k.set_acls("/", [make_digest_acl("admin", "secret", all=True)])
        status, body, _ = get(zkr, "snapshot", {"Authorization": "digest someone:else"})
        assert (status, body["error"]) == (403, "Not authorized")
        status, body, hdrs = get(zkr, "snapshot", {"Authorization": "digest admin:secret"})
        assert status == 200, body
        assert int(hdrs["snapshot_size"]) == len(body) > 0
        zxid = hdrs["last_zxid"]
        assert zxid.startswith("0x")
        # A second one within admin.snapshot_interval_ms (5 min by default) is refused.
        status, _, _ = get(zkr, "snapshot", {"Authorization": "digest admin:secret"})
        assert status == 429
    finally:
        from kazoo.security import OPEN_ACL_UNSAFE
        k.set_acls("/", OPEN_ACL_UNSAFE)
        k.stop()
        k.close()
    path = os.path.join(zkr.dir, "streamed.snapshot")
    with open(path, "wb") as f:
        f.write(body)
    out = subprocess.run([ZKR_BIN, "snapshot", "dump", path], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert "/admin-e" in out.stdout and "snapshot zxid %s:" % zxid in out.stdout, out.stdout


def test_super_digest_may_take_snapshots():
    s = Server("zkr", admin=True, super_digest=SUPER_DIGEST,
               extra_toml="").start()
    try:
        k = KazooClient(hosts=s.hosts, timeout=10.0, auth_data=[("digest", "super:test")])
        k.start(timeout=30)
        from kazoo.security import make_digest_acl
        k.set_acls("/", [make_digest_acl("nobody", "x", all=True)])
        k.stop()
        k.close()
        status, body, hdrs = get(s, "snap", {"Authorization": "digest super:test"})
        assert status == 200 and len(body) == int(hdrs["snapshot_size"])
    finally:
        s.close()


def test_commands_before_the_node_serves_answer_like_zookeeper():
    """A node that has not finished starting answers the server commands with ZooKeeper's
    'not currently serving' error (HTTP 200), and /ready with 503 (tests/ops/test_admin_readiness.py holds
    a node in recovery; here an ensemble member alone, without a quorum)."""
    import tempfile
    from servers import free_port
    d = tempfile.mkdtemp(prefix="zkr-admin-")
    port, peer, other, admin = free_port(), free_port(), free_port(), free_port()
    cfg = os.path.join(d, "zkr.toml")
    with open(cfg, "w") as f:
        f.write('[node]\nid = 1\ndata_dir = "%s/data"\nclient_port = %d\n'
                'client_address = "127.0.0.1"\n[metrics]\nport = 0\n'
                '[admin]\nenabled = true\naddress = "127.0.0.1"\nport = %d\n'
                '[ensemble]\nservers = [\n'
                '  { id = 1, host = "127.0.0.1", peer_port = %d },\n'
                '  { id = 2, host = "127.0.0.1", peer_port = %d },\n]\n'
                % (d, port, admin, peer, other))
    log = open(os.path.join(d, "node.log"), "wb")
    p = subprocess.Popen([ZKR_BIN, "node", "--config", cfg], stdout=log, stderr=log,
                         start_new_session=True)
    try:
        class S:
            admin_url = "http://127.0.0.1:%d" % admin
        from util import wait_until

        def answered():
            try:
                return get(S, "ruok")
            except OSError:
                return None
        status, body, _ = wait_until(answered, 30, what="the admin server")
        assert (status, body["error"]) == (
            200, "This ZooKeeper instance is not currently serving requests")
        status, body, _ = get(S, "environment")
        assert status == 200 and body["error"] is None
        # zabstate needs no server in ZooKeeper: it answers once the node has started.
        status, body, _ = wait_until(lambda: (lambda r: r if r[1]["error"] is None else None)(
            get(S, "zabstate")), 30, what="zabstate")
        assert body["zabstate"] == "election" and body["voting"] is True
        try:
            urllib.request.urlopen(S.admin_url + "/ready", timeout=10)
            raise AssertionError("ready without a quorum")
        except urllib.error.HTTPError as e:
            assert e.code == 503
            assert json.loads(e.read()) == {"ready": False, "state": "electing"}
        with urllib.request.urlopen(S.admin_url + "/live", timeout=10) as r:
            assert r.status == 200
    finally:
        p.terminate()
        p.wait(15)
        log.close()
