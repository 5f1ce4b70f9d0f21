"""Logs people can ship: `--log-format json`, a log directory with rotation (`--log-dir`,
ZOO_LOG_DIR), ZooKeeper 3.6's audit log (`[audit] enabled` / `audit.enable`) compared field by
field with Debian's Apache ZooKeeper 3.8 doing the same operations, and a log file on a full
disk (/dev/full) that must not stop or block the node.

Real `zkr node` processes and a real Apache ZooKeeper, whatever ZKR_TEST_TARGET says."""

import json
import os
import signal
import subprocess
import tempfile

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError
from kazoo.security import make_digest_acl

from servers import Server, free_port, http_request, wait_serving
from util import wait_until

pytestmark = pytest.mark.timeout(240)

ZKR_BIN = os.environ.get("ZKR_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "target", "debug", "zkr")


class Node:
    """A standalone zkr node started with extra command-line flags."""

    def __init__(self, flags=(), toml=""):
        self.dir = tempfile.mkdtemp(prefix="zkr-logs-")
        self.port = free_port()
        self.metrics_port = free_port()
        self.cfg = os.path.join(self.dir, "zkr.toml")
        with open(self.cfg, "w") as f:
            f.write('[node]\nid = 0\ndata_dir = "%s/data"\nclient_port = %d\n'
                    'client_address = "127.0.0.1"\nfour_letter_words = ["*"]\n'
                    '[storage]\npreallocate_bytes = 1048576\n'
                    '[metrics]\nport = %d\naddress = "127.0.0.1"\n%s'
                    % (self.dir, self.port, self.metrics_port, toml))
        self.stderr = os.path.join(self.dir, "stderr.log")
        self.flags = list(flags)
        self.proc = None

    @property
    def hosts(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        with open(self.stderr, "ab") as err:
            self.proc = subprocess.Popen([ZKR_BIN, "node", "--config", self.cfg] + self.flags,
                                         stdout=err, stderr=err, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        wait_serving(self.port, 60)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)

    def metric(self, name):
        _, text, _ = http_request("http://127.0.0.1:%d/metrics" % self.metrics_port)
        for line in text.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        return None


def drive(hosts):
    """The audited operations, the same on either server."""
    k = KazooClient(hosts=hosts, timeout=10.0, auth_data=[("digest", "alice:pw")])
    k.start(timeout=30)
    try:
        k.create("/audited", b"a")
        k.create("/audited/seq-", b"", ephemeral=True, sequence=True)
        k.set("/audited", b"b")
        k.set_acls("/audited", [make_digest_acl("alice", "pw", all=True)])
        with pytest.raises(NoNodeError):
            k.delete("/audited/missing")
        t = k.transaction()
        t.create("/audited/m1", b"")
        t.set_data("/audited", b"c")
        t.commit()
        t = k.transaction()
        t.delete("/audited/nothing-here")
        t.commit()
        k.delete("/audited/m1")
    finally:
        k.stop()
        k.close()


def audit_fields(lines):
    """Each audit message as a dict (values that differ between servers normalised)."""
    out = []
    for m in lines:
        d = dict(kv.split("=", 1) for kv in m.strip().split("\t"))
        if "session" in d:
            d["session"] = "S"
        if d.get("znode", "").startswith("/audited/seq-"):
            d["znode"] = "/audited/seq-N"
        out.append(d)
    return out


def test_audit_log_matches_zookeepers():
    node = Node(["--log-dir", "LOGDIR"], toml="[audit]\nenabled = true\n")
    node.flags[1] = os.path.join(node.dir, "logs")
    apache = Server("apache", extra_zoo_cfg="audit.enable=true\n")
    try:
        node.start()
        apache.start()
        drive(node.hosts)
        drive(apache.hosts)
        node.stop()
        with open(os.path.join(node.dir, "logs", "zookeeper_audit.log")) as f:
            zkr_lines = f.read().splitlines()
        prefix = " INFO audit.Slf4jAuditLogger: "
        assert all(prefix in line for line in zkr_lines), zkr_lines
        zkr = audit_fields([line.split(prefix, 1)[1] for line in zkr_lines])
        # The session's ephemeral node is deleted when its close is applied; wait for the line.
        wait_until(lambda: "ephemeralZNodeDeletionOnSessionCloseOrExpire" in apache.log(), 30,
                   what="Apache's last audit line")
        apache_lines = [line.split("Slf4jAuditLogger - ", 1)[1]
                        for line in apache.log().splitlines() if "Slf4jAuditLogger - " in line]
        ref = audit_fields(apache_lines)
        # Apache's start line precedes; the operations (and the session's ephemeral deletion)
        # follow in the same order with the same fields.
        ops = [d for d in zkr if d["operation"] not in ("serverStart", "serverStop")]
        ref_ops = [d for d in ref if d["operation"] not in ("serverStart", "serverStop")]
        assert ops == ref_ops, "\nzkr:    %s\napache: %s" % (ops, ref_ops)
        assert [d["operation"] for d in ops][:3] == ["create", "create", "setData"]
        assert {"operation": "serverStart", "result": "success"}.items() <= zkr[0].items()
        assert zkr[-1]["operation"] == "serverStop" and zkr[-1]["result"] == "invoked"
        # The main log is in the same directory, rotated daily, with the current file linked.
        with open(os.path.join(node.dir, "logs", "zkr.log")) as f:
            assert "zkr node started" in f.read()
        dated = [n for n in os.listdir(os.path.join(node.dir, "logs"))
                 if n.startswith("zkr.") and n != "zkr.log"]
        assert len(dated) == 1, dated
    finally:
        apache.close()
        node.stop()


def test_json_log_lines():
    node = Node(["--log-format", "json"])
    try:
        node.start()
        node.stop()
        with open(node.stderr) as f:
            lines = [line for line in f.read().splitlines() if line.strip()]
        parsed = [json.loads(line) for line in lines]
        started = [p for p in parsed if p["fields"].get("message") == "zkr node started"]
        assert started, lines
        assert started[0]["level"] == "INFO" and "timestamp" in started[0]
        assert started[0]["fields"]["client_addr"] == node.hosts
    finally:
        node.stop()


def test_a_full_disk_under_the_log_files_never_stops_the_node():
    node = Node(["--log-dir", "LOGDIR", "--log-rotation", "never"],
                toml="[audit]\nenabled = true\n")
    logs = os.path.join(node.dir, "logs")
    node.flags[1] = logs
    os.makedirs(logs)
    # Every write to either file fails with ENOSPC, as on a full disk.
    os.symlink("/dev/full", os.path.join(logs, "zkr.log"))
    os.symlink("/dev/full", os.path.join(logs, "zookeeper_audit.log"))
    try:
        node.start()
        k = KazooClient(hosts=node.hosts, timeout=10.0)
        k.start(timeout=30)
        for i in range(300):
            k.create("/full-%d" % i, b"x" * 100)
        assert len(k.get_children("/")) >= 300
        k.stop()
        k.close()
        assert node.proc.poll() is None
        errors = node.metric("zkr_log_file_write_errors_total")
        assert errors and errors > 0, errors
        # Still serving, and stops cleanly.
        wait_serving(node.port, 10)
        node.stop()
        assert node.proc.returncode == 0
    finally:
        node.stop()
