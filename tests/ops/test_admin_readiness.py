"""The admin endpoint on real node processes: /ready is true only while a node serves clients.
It is false while the node recovers its data directory (held there deterministically: the
snapshot it must read is a FIFO the test fills when it chooses), false when the node loses its
quorum, and true again when the quorum is back; the ensemble-only commands (`leader`,
`voting_view`, `zabstate`) have ZooKeeper's keys (from its source, `server/admin/Commands`: the
Debian build is compared key by key in tests/kazoo/test_admin.py for the rest)."""

import errno
import os
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request

import pytest
from kazoo.client import KazooClient

from cluster import ZKR_BIN, Ensemble, free_ports, wait_until
from servers import http_request

pytestmark = pytest.mark.timeout(240)


def http(port, path, headers=None):
    """(status, body as JSON or bytes, headers); raises OSError if nothing answers."""
    return http_request("http://127.0.0.1:%d%s" % (port, path), headers)


def ready(node):
    status, body, _ = http(node.admin_port, "/ready")
    assert (status == 200) == body["ready"], (status, body)
    return body


def test_ready_follows_the_quorum():
    with Ensemble(n=3, admin=True) as ens:
        for n in ens.nodes:
            assert ready(n) == {"ready": True, "state": "serving"}
        leader = ens.leader()
        followers = [n for n in ens.nodes if n is not leader]
        # ZooKeeper's ensemble commands, with its keys.
        _, lead, _ = http(leader.admin_port, "/commands/leader")
        assert set(lead) == {"is_leader", "leader_id", "leader_ip", "command", "error"}
        assert (lead["is_leader"], lead["leader_id"], lead["leader_ip"]) == (
            True, leader.sid, "127.0.0.1")
        _, lead, _ = http(followers[0].admin_port, "/commands/lead")
        assert (lead["is_leader"], lead["leader_id"]) == (False, leader.sid)
        _, view, _ = http(followers[0].admin_port, "/commands/voting_view")
        assert sorted(view["current_config"]) == ["1", "2", "3"]
        one = view["current_config"][str(leader.sid)]
        assert set(one) == {"server_addresses", "election_addresses", "client_address",
                            "learner_type"}
        assert one["server_addresses"] == ["127.0.0.1:%d" % leader.peer_port]
        assert one["client_address"] == "127.0.0.1:%d" % leader.client_port
        _, zab, _ = http(leader.admin_port, "/commands/zabstate")
        assert set(zab) == {"myid", "is_leader", "quorum_address", "election_address",
                            "client_address", "voting", "last_zxid", "zab_epoch", "zab_counter",
                            "zabstate", "command", "error"}
        assert (zab["myid"], zab["is_leader"], zab["voting"], zab["zabstate"]) == (
            leader.sid, True, True, "broadcast")

        # Two of three gone: the survivor loses its quorum and stops being ready.
        survivor = followers[0]
        for n in (leader, followers[1]):
            n.proc.send_signal(signal.SIGTERM)
            n.proc.wait(30)
        body = wait_until("the survivor not ready", lambda: (
            lambda b: b if not b["ready"] else None)(ready(survivor)), 60)
        assert body["state"] in ("electing", "synchronizing"), body
        status, ruok, _ = http(survivor.admin_port, "/commands/ruok")
        assert (status, ruok["error"]) == (
            200, "This ZooKeeper instance is not currently serving requests")
        with urllib.request.urlopen("http://127.0.0.1:%d/live" % survivor.admin_port,
                                    timeout=10) as r:
            assert r.status == 200

        # The quorum comes back: ready again, everywhere.
        for n in (leader, followers[1]):
            ens.start_node(n)
        ens.wait_serving()
        for n in ens.nodes:
            wait_until("node %d ready" % n.sid, lambda n=n: ready(n)["ready"], 60)


class FifoFeeder(threading.Thread):
    """Writes `data` into the FIFO at `path` each time a reader opens it, until stopped."""

    def __init__(self, path, data):
        super().__init__(daemon=True)
        self.path, self.data = path, data
        self.stop = threading.Event()
        self.fed = 0

    def run(self):
        while not self.stop.is_set():
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as e:
                if e.errno in (errno.ENXIO, errno.ENOENT):
                    time.sleep(0.01)
                    continue
                raise
            try:
                os.set_blocking(fd, True)
                os.write(fd, self.data)
                self.fed += 1
            finally:
                os.close(fd)


def test_ready_is_false_while_the_data_directory_is_recovered():
    d = tempfile.mkdtemp(prefix="zkr-recovery-")
    client_port, admin_port = free_ports(2)
    cfg = os.path.join(d, "zkr.toml")
    with open(cfg, "w") as f:
        f.write('[node]\nid = 0\ndata_dir = "%s/data"\nclient_port = %d\n'
                'client_address = "127.0.0.1"\nfour_letter_words = ["*"]\n'
                '[storage]\npreallocate_bytes = 1048576\n[metrics]\nport = 0\n'
                '[admin]\nenabled = true\naddress = "127.0.0.1"\nport = %d\n'
                % (d, client_port, admin_port))

    def start():
        log = open(os.path.join(d, "node.log"), "ab")
        try:
            return subprocess.Popen([ZKR_BIN, "node", "--config", cfg], stdout=log, stderr=log,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            log.close()

    def serving():
        try:
            return ready_body()["ready"]
        except OSError:
            return False

    def ready_body():
        return http(admin_port, "/ready")[1]

    proc = start()
    feeder = None
    try:
        wait_until("the node serving", serving, 60)
        k = KazooClient(hosts="127.0.0.1:%d" % client_port, timeout=10.0)
        k.start(timeout=30)
        for i in range(20):
            k.create("/kept/n%d" % i, b"v%d" % i, makepath=True)
        k.stop()
        k.close()
        # A snapshot of the tree, taken through the admin endpoint.
        status, snap, hdrs = http(admin_port, "/commands/snapshot",
                                  {"Authorization": "digest anyone:x"})
        assert status == 200, snap
        zxid = int(hdrs["last_zxid"], 16)
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)

        # Its file in the data directory is a FIFO: recovery waits until the test feeds it.
        snap_dir = os.path.join(d, "data", "snap")
        os.makedirs(snap_dir, exist_ok=True)
        for name in os.listdir(snap_dir):
            os.unlink(os.path.join(snap_dir, name))
        fifo = os.path.join(snap_dir, "snapshot.%016x" % zxid)
        os.mkfifo(fifo)
        proc = start()
        body = wait_until("the admin server answering", lambda: _try(ready_body), 60)
        assert body == {"ready": False, "state": "recovering"}, body
        status, live, _ = http(admin_port, "/live")
        assert status == 200 and live == {"live": True}
        status, ruok, _ = http(admin_port, "/commands/ruok")
        assert (status, ruok["error"]) == (
            200, "This ZooKeeper instance is not currently serving requests")
        assert ready_body() == {"ready": False, "state": "recovering"}
        assert proc.poll() is None

        feeder = FifoFeeder(fifo, snap)
        feeder.start()
        wait_until("ready after recovery", serving, 60)
        assert feeder.fed >= 1
        k = KazooClient(hosts="127.0.0.1:%d" % client_port, timeout=10.0)
        k.start(timeout=30)
        assert k.get("/kept/n19")[0] == b"v19"
        k.stop()
        k.close()
    finally:
        if feeder:
            feeder.stop.set()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _try(f):
    try:
        return f()
    except OSError:
        return None
