"""Helpers of the migration suite: the zkr binary's import/export, a node-by-node dump of a tree
as clients see it, the two node kinds kazoo has no call for (containers, TTL)."""

import os
import struct
import subprocess
import time

from kazoo.client import KazooClient
from kazoo.protocol.serialization import Create2
from kazoo.security import OPEN_ACL_UNSAFE

from servers import four_letter
from util import raw_call

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ZKR_BIN = os.environ.get("ZKR_BIN") or os.path.join(REPO, "target", "debug", "zkr")


def zkr(*args, check=True):
    """Runs `zkr args...`; returns (exit code, stdout + stderr)."""
    p = subprocess.run([ZKR_BIN] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL, timeout=300)
    out = p.stdout.decode(errors="replace")
    print("$ zkr %s\n%s" % (" ".join(args), out))
    if check:
        assert p.returncode == 0, "zkr %s failed:\n%s" % (" ".join(args), out)
    return p.returncode, out


class CreateContainer(Create2):
    type = 19


class CreateTTL(Create2):
    type = 21

    def __new__(cls, path, data, ttl_ms):
        self = Create2.__new__(cls, path, data, OPEN_ACL_UNSAFE, 5)  # PERSISTENT_WITH_TTL
        self.ttl = ttl_ms
        return self

    def serialize(self):
        return Create2.serialize(self) + struct.pack(">q", self.ttl)


def create_container(zk, path, data=b""):
    return raw_call(zk, CreateContainer(path, data, OPEN_ACL_UNSAFE, 4))


def create_ttl(zk, path, data, ttl_ms):
    return raw_call(zk, CreateTTL(path, data, ttl_ms))


def client(hosts, timeout=30.0, super_user=False):
    c = KazooClient(hosts=hosts, timeout=timeout, connection_retry={"max_tries": -1, "delay": 0.1,
                                                                   "max_delay": 0.5})
    c.start(timeout=60)
    if super_user:
        c.add_auth("digest", "super:test")
    return c


def dump(zk):
    """{path: (data, stat, acl)} of every node as a client sees it; stat is the whole Stat
    (czxid, mzxid, ctime, mtime, version, cversion, aversion, ephemeralOwner, dataLength,
    numChildren, pzxid). /zookeeper/config is left out (each server writes its own)."""
    out = {}
    stack = ["/"]
    while stack:
        p = stack.pop()
        data, stat = zk.get(p)
        acl, _ = zk.get_acls(p)
        out[p] = (data, tuple(stat), [(a.perms, a.id.scheme, a.id.id) for a in acl])
        for c in zk.get_children(p):
            stack.append(p.rstrip("/") + "/" + c)
    out.pop("/zookeeper/config", None)
    return out


def assert_same_tree(got, want, what):
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    differ = sorted(p for p in set(want) & set(got) if got[p] != want[p])
    detail = "\n".join("  %s\n    want %r\n    got  %r" % (p, want[p], got[p]) for p in differ[:10])
    assert not (missing or extra or differ), (
        "%s: %d nodes missing %s, %d extra %s, %d differ:\n%s"
        % (what, len(missing), missing[:10], len(extra), extra[:10], len(differ), detail))


def wait_until(what, check, within=60.0, every=0.1):
    deadline = time.time() + within
    last = None
    while time.time() < deadline:
        try:
            last = check()
        except Exception as e:  # noqa: BLE001 - keep polling; report the last error
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(every)
    raise AssertionError("timed out after %.0fs waiting for %s (last: %r)" % (within, what, last))


def close_and_wait(zk, port):
    """Closes a client's session and waits until the server at `port` no longer tracks it.

    kazoo's stop() sends closeSession and closes its socket without waiting for the reply, so a
    server stopped right after it may never log the close. The session tracker's part of the
    `dump` four-letter word drops the session once its closeSession is applied, i.e. logged."""
    session = "0x%x" % zk.client_id[0]
    zk.stop()
    zk.close()

    def gone():
        tracker = four_letter(port, "dump").split("ephemeral nodes dump:")[0]
        return "SessionTracker dump:" in tracker and session not in tracker.split()

    wait_until("session %s closed on the server" % session, gone)


class Ensemble:
    """A 3-node ensemble on loopback, each node with its own directory, zoo.cfg and myid; run by
    Apache ZooKeeper (`start_apache`) or, on the same zoo.cfg and dataDir, by zkr
    (`start_zkr`). Processes are stopped by PID."""

    def __init__(self, n=3, tick_ms=2000):
        import tempfile

        from cluster import free_ports  # tests/ops: distinct free loopback ports

        self.dir = tempfile.mkdtemp(prefix="zkr-migration-")
        ports = free_ports(4 * n)
        self.nodes = []
        for i in range(n):
            d = os.path.join(self.dir, "n%d" % (i + 1))
            os.makedirs(os.path.join(d, "data"))
            with open(os.path.join(d, "data", "myid"), "w") as f:
                f.write("%d\n" % (i + 1))
            self.nodes.append({"id": i + 1, "dir": d, "data": os.path.join(d, "data"),
                               "client": ports[4 * i], "quorum": ports[4 * i + 1],
                               "election": ports[4 * i + 2], "metrics": ports[4 * i + 3],
                               "cfg": os.path.join(d, "zoo.cfg"), "proc": None})
        for node in self.nodes:
            with open(node["cfg"], "w") as f:
                f.write("tickTime=%d\ninitLimit=10\nsyncLimit=5\nsnapCount=50\n"
                        "dataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\n"
                        "maxClientCnxns=0\nadmin.enableServer=false\n4lw.commands.whitelist=*\n"
                        "metricsProvider.httpPort=%d\nmetricsProvider.httpHost=127.0.0.1\n"
                        % (tick_ms, node["data"], node["client"], node["metrics"]))
                for m in self.nodes:
                    f.write("server.%d=127.0.0.1:%d:%d\n" % (m["id"], m["quorum"], m["election"]))

    @property
    def hosts(self):
        return ",".join("127.0.0.1:%d" % n["client"] for n in self.nodes)

    def _spawn(self, node, args):
        logf = open(os.path.join(node["dir"], "server.log"), "ab")
        try:
            node["proc"] = subprocess.Popen(args, stdout=logf, stderr=logf, cwd=node["dir"],
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            logf.close()

    def start_apache(self):
        from servers import APACHE_CP

        for node in self.nodes:
            props = os.path.join(node["dir"], "log4j.properties")
            with open(props, "w") as f:
                f.write("log4j.rootLogger=INFO, F\nlog4j.appender.F=org.apache.log4j.FileAppender\n"
                        "log4j.appender.F.File=%s\n"
                        "log4j.appender.F.layout=org.apache.log4j.PatternLayout\n"
                        "log4j.appender.F.layout.ConversionPattern=%%d %%-5p [%%t] %%c{1} - %%m%%n\n"
                        % os.path.join(node["dir"], "server.log"))
            self._spawn(node, ["java", "-Xmx256m", "-Dlog4j.configuration=file:" + props,
                               "-Dzookeeper.DigestAuthenticationProvider.superDigest="
                               "super:D/InIHSb7yEEbrWz8b9l71RjZJU=",
                               "-cp", APACHE_CP,
                               "org.apache.zookeeper.server.quorum.QuorumPeerMain", node["cfg"]])
        self.wait_quorum()

    def start_zkr(self, node):
        self._spawn(node, [ZKR_BIN, "node", "--zoo-cfg", node["cfg"]])

    def mode(self, node):
        from servers import four_letter

        for line in four_letter(node["client"], "srvr", timeout=1.0).splitlines():
            if line.startswith("Mode: "):
                return line[len("Mode: "):]
        return None

    def wait_quorum(self, within=120.0):
        def ok():
            for n in self.nodes:
                if n["proc"] is not None and n["proc"].poll() is not None:
                    raise RuntimeError("node %d exited:\n%s" % (n["id"], self.log(n)[-3000:]))
            modes = [self.mode(n) for n in self.nodes]
            return modes.count("leader") == 1 and modes.count("follower") == 2 and modes

        return wait_until("a leader and two followers", ok, within)

    def log(self, node):
        try:
            with open(os.path.join(node["dir"], "server.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop_all(self):
        import signal

        for n in self.nodes:
            if n["proc"] is not None and n["proc"].poll() is None:
                n["proc"].send_signal(signal.SIGTERM)
        for n in self.nodes:
            if n["proc"] is not None:
                try:
                    n["proc"].wait(20)
                except subprocess.TimeoutExpired:
                    n["proc"].kill()
                    n["proc"].wait(20)
                n["proc"] = None

    def close(self):
        import shutil

        self.stop_all()
        shutil.rmtree(self.dir, ignore_errors=True)
