"""`zkr cli`: every command driven against a real zkr server, and its output (stdout, stderr and
exit code) equal to Debian's zkCli.sh (ZooKeeper 3.8) on the same server for ls, get, stat and
getAcl, successes and failures. Interactive mode reads commands from stdin and prints watch
events as they fire."""

import os
import subprocess
import time

import pytest
from kazoo.client import KazooClient

from servers import Server
from util import wait_until

pytestmark = pytest.mark.timeout(300)

ZKR_BIN = os.environ.get("ZKR_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "target", "debug", "zkr")
ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"


def zkr_cli(server, *cmd, stdin=None):
    r = subprocess.run([ZKR_BIN, "cli", "-server", server.hosts, *cmd], capture_output=True,
                       text=True, timeout=60, input=stdin)
    return r.returncode, r.stdout, r.stderr


def zkcli(server, *cmd):
    """zkCli.sh's answer without its connection chatter and logging noise."""
    r = subprocess.run([ZKCLI, "-server", server.hosts, *cmd], capture_output=True, text=True,
                       timeout=120)
    # Its session event ("\nWATCHER::\n\nWatchedEvent ...\n") is printed by another thread,
    # sometimes between the answer's lines: its two lines and two blank lines are taken out.
    lines = r.stdout.replace("Connecting to %s\n" % server.hosts, "", 1).split("\n")
    for chatter in ["WATCHER::", "WatchedEvent state:SyncConnected type:None path:null", "", ""]:
        if chatter in lines:
            lines.remove(chatter)
    out = "\n".join(lines)
    err = "".join(line + "\n" for line in r.stderr.splitlines()
                  if not line.startswith("SLF4J") and "StaticLoggerBinder" not in line)
    return r.returncode, out, err


@pytest.fixture(scope="module")
def server():
    s = Server("zkr").start()
    yield s
    s.close()


@pytest.fixture(scope="module")
def tree(server):
    """A small tree made with zkr cli's create (every kind of node)."""
    for cmd in [("create", "/app", "hello"), ("create", "/app/one", "1"),
                ("create", "/app/two", "2"), ("create", "-s", "/app/seq-", "s"),
                ("create", "-c", "/box"), ("create", "-t", "60000", "/ttl", "t"),
                ("create", "/acl", "x", "world:anyone:cdr")]:
        rc, out, err = zkr_cli(server, *cmd)
        assert rc == 0, (cmd, out, err)
        assert err.startswith("Created /"), err
    return server


# Each zkCli.sh run starts a JVM (about 2 s): the list covers each command and option once.
COMPARED = [
    ("ls", "/"), ("ls", "-s", "/app"), ("get", "-s", "/app"), ("stat", "/box"),
    ("getAcl", "/acl"), ("get", "/missing"), ("stat", "/missing"),
]


@pytest.mark.parametrize("cmd", COMPARED, ids=lambda c: " ".join(c))
def test_output_equals_zkclis(tree, cmd):
    assert zkr_cli(tree, *cmd) == zkcli(tree, *cmd)


def test_recursive_ls_lists_the_same_subtree(tree):
    rc, out, err = zkr_cli(tree, "ls", "-R", "/app")
    zrc, zout, zerr = zkcli(tree, "ls", "-R", "/app")
    assert (rc, err) == (zrc, zerr)
    assert out.splitlines()[0] == zout.splitlines()[0] == "/app"
    assert sorted(out.splitlines()) == sorted(zout.splitlines())


def test_failed_create_and_version_mismatch_read_as_zkcli(tree):
    for cmd in [("create", "/app", "again"), ("set", "-v", "99", "/app", "x"),
                ("delete", "/app")]:
        assert zkr_cli(tree, *cmd) == zkcli(tree, *cmd), cmd


def test_every_command(tree):
    s = tree
    k = KazooClient(hosts=s.hosts, timeout=10.0)
    k.start(timeout=30)
    try:
        assert zkr_cli(s, "set", "/app", "world")[0] == 0
        assert k.get("/app")[0] == b"world"
        rc, out, _ = zkr_cli(s, "set", "-s", "-v", "1", "/app", "again")
        assert rc == 0 and "dataVersion = 2" in out
        rc, _, err = zkr_cli(s, "create", "-e", "/eph", "e")
        assert (rc, err) == (0, "Created /eph\n")
        assert k.exists("/eph") is None, "the one-shot session closed: its ephemeral is gone"
        rc, _, err = zkr_cli(s, "create", "-s", "-e", "/eseq-")
        assert rc == 0 and err.startswith("Created /eseq-00000")
        rc, _, err = zkr_cli(s, "create", "-e", "-t", "10", "/bad")
        assert rc == 2 and "TTLs cannot be used with Ephemeral znodes" in err
        assert zkr_cli(s, "delete", "/app/one")[0] == 0
        assert k.exists("/app/one") is None
        rc, _, err = zkr_cli(s, "delete", "-v", "5", "/app/two")
        assert (rc, err) == (1, "version No is not valid : /app/two\n")
        assert zkr_cli(s, "deleteall", "/app")[0] == 0
        assert k.exists("/app") is None
        rc, _, err = zkr_cli(s, "setAcl", "/acl", "world:anyone:cdrwa")
        assert (rc, err) == (1, "Insufficient permission : /acl\n"), "/acl has no ADMIN"
        assert zkr_cli(s, "setAcl", "/box", "world:anyone:cdr")[0] == 0
        assert zkr_cli(s, "getAcl", "/box")[1] == "'world,'anyone\n: cdr\n"
        rc, _, err = zkr_cli(s, "create", "/no/parent")
        assert (rc, err) == (1, "Node does not exist: /no/parent\n")
        rc, out, _ = zkr_cli(s, "sync", "/")
        assert (rc, out) == (0, "Sync is OK\n")
        rc, out, _ = zkr_cli(s, "whoami")
        assert (rc, out) == (0, "Auth scheme: User\nip: 127.0.0.1\n")
        assert zkr_cli(s, "addauth", "digest", "u:p")[0] == 0
        rc, out, err = zkr_cli(s, "config")
        assert (rc, out, err) == zkcli(s, "config")
        rc, _, err = zkr_cli(s, "reconfig", "-add", "5=127.0.0.1:1:2;3")
        assert (rc, err) == (1, "KeeperErrorCode = Reconfig is disabled\n")
        rc, out, _ = zkr_cli(s, "getAllChildrenNumber", "/")
        assert rc == 0 and int(out) >= 3
        rc, _, err = zkr_cli(s, "bogus")
        assert rc == 127 and err.endswith("Command not found: Command not found bogus\n")
        rc, _, err = zkr_cli(s, "get")
        assert rc == 2 and "get [-s] [-w] path" in err
    finally:
        k.stop()
        k.close()


def test_interactive_session_keeps_auth_and_prints_watches(tree):
    s = tree
    k = KazooClient(hosts=s.hosts, timeout=10.0)
    k.start(timeout=30)
    p = subprocess.Popen([ZKR_BIN, "cli", "-server", s.hosts], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
    try:
        k.create("/w", b"0")

        def send(line):
            p.stdin.write(line + "\n")
            p.stdin.flush()

        send("addauth digest alice:secret")
        send("addWatch -m PERSISTENT_RECURSIVE /w")
        send("get -w /w")
        send("whoami")
        send("sync /w")
        # The shell answers in order; once it said "Sync is OK", the watches are set.
        out = []
        deadline = time.time() + 30
        while time.time() < deadline and "Sync is OK\n" not in out:
            out.append(p.stdout.readline())
        assert "Sync is OK\n" in out, out
        k.set("/w", b"1")
        k.create("/w/child", b"")
        lines = []

        def seen():
            lines.append(p.stdout.readline())
            text = "".join(lines)
            return ("type:NodeDataChanged path:/w\n" in text
                    and "type:NodeCreated path:/w/child" in text and text)
        text = wait_until(seen, 30, interval=0, what="the watch events printed")
        assert "WATCHER::" in text
        send("quit")
        p.wait(30)
        assert p.returncode == 0
        assert "digest: alice" in "".join(out)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        k.stop()
        k.close()
