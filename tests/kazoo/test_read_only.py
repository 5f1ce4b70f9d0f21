"""Read-only mode (ZooKeeper's readonlymode.enabled) on a 3-node ensemble: node 1 is cut off
from its quorum (nodes 2 and 3 stopped), serves read-only clients with sessions local to it,
refuses everything else, and goes back to read-write when the quorum returns.

The ensemble comes from tests/conformance/{zkr,apache-zk}-cluster.sh (the conformance suite's
control commands: ports BASE+10*I, real processes, data kept across stop-node/start-node).
Against Apache ZooKeeper 3.8.0 it runs with localSessionsEnabled=true, as kazoo's harness does
for its read-only test (without it Apache refuses to create sessions in read-only mode); zkr
has no such switch: its read-only sessions are always local.
"""

import os
import shutil
import subprocess
import tempfile
import time

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NotReadOnlyCallError
from kazoo.protocol.serialization import (
    Auth,
    CheckVersion,
    Close,
    Create,
    Create2,
    Delete,
    Exists,
    GetChildren,
    GetData,
    Reconfig,
    SetACL,
    SetData,
    Sync,
    Transaction,
)
from kazoo.protocol.states import KazooState, KeeperState
from kazoo.security import OPEN_ACL_UNSAFE

from ports import free_block
from servers import four_letter
from util import TARGET, wait_until
from wire import ConnectionClosed, Raw, WireClient

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CTL = os.path.join(REPO, "tests", "conformance",
                   "zkr-cluster.sh" if TARGET == "zkr" else "apache-zk-cluster.sh")
NOT_READ_ONLY = -119
CREATE_CONTAINER, DELETE_CONTAINER, CREATE_TTL, MULTI_READ = 19, 20, 21, 22


class Cluster:
    """The control command on a private base port and state directory."""

    def __init__(self, local_sessions=True):
        # Node i's ports are base+10*i .. base+10*i+3 (i = 1..3): one block of 24 free ports
        # below the ephemeral range (ports.py).
        base = free_block(24) - 10
        self.base = base
        self.dir = tempfile.mkdtemp(prefix="zkr-ro-")
        self.env = dict(os.environ, ZKCONF_NODES="3", ZKCONF_BASE_PORT=str(base),
                        ZKCONF_STATE_DIR=self.dir,
                        ZKCONF_LOCAL_SESSIONS="true" if local_sessions else "false")

    def port(self, i):
        return self.base + 10 * i

    def hosts(self, i):
        return "127.0.0.1:%d" % self.port(i)

    def ctl(self, *args):
        p = subprocess.run([CTL] + [str(a) for a in args], env=self.env, timeout=300,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert p.returncode == 0, "%s %s: %s" % (CTL, args, p.stdout.decode(errors="replace"))

    def stop(self):
        """Stops every node and removes the state directory."""
        self.ctl("stop")
        shutil.rmtree(self.dir, ignore_errors=True)

    def logs(self):
        out = []
        for i in (1, 2, 3):
            p = os.path.join(self.dir, "node-%d.log" % i)
            if os.path.exists(p):
                with open(p, errors="replace") as fh:
                    out.append("--- node %d ---\n%s" % (i, "".join(fh.readlines()[-30:])))
        return "\n".join(out)


def isro(port):
    return four_letter(port, "isro").strip()


@pytest.fixture(scope="module")
def ro():
    """The ensemble with node 1 read-only; yields (cluster, state) where state holds what was
    written before the quorum went away and a global session to try again."""
    c = Cluster()
    c.ctl("start")
    try:
        assert ("-zkr-" in four_letter(c.port(1), "srvr")) == (TARGET == "zkr")
        rw = WireClient(c.port(1), timeout_ms=30000)
        assert rw.connect_response.read_only is False
        assert rw.call(Create("/ro", b"hello", OPEN_ACL_UNSAFE, 0))[0] == 0
        assert rw.call(Create("/ro/child", b"", OPEN_ACL_UNSAFE, 0))[0] == 0
        # An ephemeral makes the session global under Apache's local sessions too.
        assert rw.call(Create("/ro/eph", b"", OPEN_ACL_UNSAFE, 1))[0] == 0
        zxid = rw.last_zxid
        state = {"global": (rw.session_id, rw.passwd), "zxid": zxid}
        rw.close()
        c.ctl("stop-node", 2)
        c.ctl("stop-node", 3)
        wait_until(lambda: isro(c.port(1)) == "ro", timeout=60, interval=0.3,
                   what="node 1 in read-only mode")
        yield c, state
    except BaseException:
        print(c.logs())
        raise
    finally:
        c.stop()


def test_isro_and_srvr_say_read_only(ro):
    c, _ = ro
    assert isro(c.port(1)) == "ro"
    srvr = four_letter(c.port(1), "srvr")
    assert "READ-ONLY mode; serving only read-only clients" in srvr
    assert "Mode: read-only" in srvr


def test_a_client_that_did_not_ask_for_read_only_is_closed_without_a_reply(ro):
    c, _ = ro
    with pytest.raises(ConnectionClosed):
        WireClient(c.port(1), read_only=False)


def test_reads_are_served_to_a_read_only_session(ro):
    c, state = ro
    w = WireClient(c.port(1), timeout_ms=10000, read_only=True)
    try:
        assert w.connect_response.read_only is True
        assert w.session_id != 0 and w.negotiated_timeout == 10000
        err, (data, stat) = w.call(GetData("/ro", None))
        assert (err, data) == (0, b"hello")
        assert stat.mzxid <= state["zxid"]
        err, children = w.call(GetChildren("/ro", None))
        assert (err, sorted(children)) == (0, ["child", "eph"])
        err, stat = w.call(Exists("/ro/child", None))
        assert err == 0 and stat is not None
        assert w.call(Exists("/nope", None))[0] == -101  # NoNode
        assert w.ping().err == 0
        assert w.call(Auth(0, "digest", "user:pw"))[0] == 0
        # multiRead (22): one getData (4) of /ro, then the end marker.
        body = (b"\x00\x00\x00\x04\x00\xff\xff\xff\xff" + _string("/ro") + b"\x00"
                + b"\xff\xff\xff\xff\x01\xff\xff\xff\xff")
        assert w.call(Raw(MULTI_READ, body))[0] == 0
    finally:
        w.close()


def _string(s):
    b = s.encode()
    return len(b).to_bytes(4, "big") + b


def test_writes_sync_and_check_get_not_read_only(ro):
    c, _ = ro
    w = WireClient(c.port(1), read_only=True)
    try:
        requests = [
            Create("/ro/new", b"", OPEN_ACL_UNSAFE, 0),
            Create2("/ro/new", b"", OPEN_ACL_UNSAFE, 0),
            Delete("/ro/child", -1),
            SetData("/ro", b"x", -1),
            SetACL("/ro", OPEN_ACL_UNSAFE, -1),
            Sync("/ro"),
            CheckVersion("/ro", 0),
            Transaction([Create("/ro/t", b"", OPEN_ACL_UNSAFE, 0)]),
            Reconfig("", "", "", -1),
            Raw(CREATE_CONTAINER, _string("/ro/c") + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
                + (4).to_bytes(4, "big")),
            Raw(DELETE_CONTAINER, _string("/ro/child")),
            Raw(CREATE_TTL, b""),  # refused before its body is even looked at
        ]
        for r in requests:
            err, _ = w.call(r)
            assert err == NOT_READ_ONLY, (r, err)
        # Nothing changed, and the session is still usable.
        assert w.call(GetData("/ro", None))[1][0] == b"hello"
        assert w.call(Exists("/ro/new", None))[0] == -101
    finally:
        w.close()


def test_close_session_of_a_read_only_session_is_answered_and_closes(ro):
    c, _ = ro
    w = WireClient(c.port(1), read_only=True)
    sid, pw = w.session_id, w.passwd
    try:
        assert w.call(Close())[0] == 0
        assert w.wait_closed(10)
    finally:
        w.close()
    # The session is gone: trying it again is answered as expired (readOnly set by the server).
    again = WireClient(c.port(1), session_id=sid, passwd=pw, read_only=True)
    try:
        assert again.session_id == 0 and again.negotiated_timeout == 0
        assert again.connect_response.read_only is True
    finally:
        again.close()


def test_a_read_only_session_resumes_on_its_server_and_a_wrong_password_is_expired(ro):
    c, _ = ro
    w = WireClient(c.port(1), read_only=True)
    sid, pw = w.session_id, w.passwd
    w.close()
    back = WireClient(c.port(1), session_id=sid, passwd=pw, read_only=True)
    try:
        assert back.session_id == sid and back.connect_response.read_only is True
        assert back.call(GetData("/ro", None))[1][0] == b"hello"
    finally:
        back.close()
    bad = WireClient(c.port(1), session_id=sid, passwd=b"\x01" * 16, read_only=True)
    try:
        assert bad.session_id == 0 and bad.negotiated_timeout == 0
    finally:
        bad.close()


def test_a_global_session_is_refused_in_read_only_mode(ro):
    c, state = ro
    sid, pw = state["global"]
    with pytest.raises(ConnectionClosed):
        WireClient(c.port(1), session_id=sid, passwd=pw, read_only=True,
                   last_zxid=state["zxid"])


def test_an_idle_read_only_session_expires(ro):
    c, _ = ro
    w = WireClient(c.port(1), timeout_ms=4000, read_only=True)  # the minimum, 2 x tickTime
    sid, pw = w.session_id, w.passwd
    assert w.negotiated_timeout == 4000
    # No ping: the server expires the session and closes the connection (bounded wait).
    assert w.wait_closed(30)
    w.close()
    again = WireClient(c.port(1), session_id=sid, passwd=pw, read_only=True)
    try:
        assert again.session_id == 0
    finally:
        again.close()


def test_kazoo_read_only_client(ro):
    c, _ = ro
    k = KazooClient(hosts=c.hosts(1), read_only=True, timeout=10)
    try:
        k.start(timeout=30)
        assert k.client_state == KeeperState.CONNECTED_RO
        assert k.get("/ro")[0] == b"hello"
        with pytest.raises(NotReadOnlyCallError):
            k.create("/ro/kazoo")
        with pytest.raises(NotReadOnlyCallError):
            k.set("/ro", b"x")
    finally:
        k.stop()
        k.close()


def test_zz_back_to_read_write_when_the_quorum_returns(ro):
    """Runs last in this module (it ends read-only mode)."""
    c, state = ro
    w = WireClient(c.port(1), timeout_ms=30000, read_only=True)
    sid, pw = w.session_id, w.passwd
    k = KazooClient(hosts=c.hosts(1), read_only=True, timeout=10)
    states = []
    k.add_listener(states.append)
    k.start(timeout=30)
    try:
        assert k.client_state == KeeperState.CONNECTED_RO
        c.ctl("start-node", 2)
        wait_until(lambda: isro(c.port(1)) == "rw", timeout=60, interval=0.3,
                   what="node 1 back to read-write")
        # Read-only clients are closed when the server leaves read-only mode ...
        assert w.wait_closed(30)
        # ... and their local sessions do not exist on the read-write server.
        again = WireClient(c.port(1), session_id=sid, passwd=pw, read_only=True)
        try:
            assert again.session_id == 0
            assert again.connect_response.read_only is False
        finally:
            again.close()
        # Clients that did not ask for read-only access are served again, and can write.
        rw = WireClient(c.port(1), read_only=False)
        try:
            assert rw.call(GetData("/ro", None))[1][0] == b"hello"
            assert rw.call(Create("/ro/after", b"", OPEN_ACL_UNSAFE, 0))[0] == 0
            assert rw.call(Sync("/"))[0] == 0
        finally:
            rw.close()
        # kazoo's read-only client lost its connection with its local session.
        wait_until(lambda: KazooState.SUSPENDED in states, timeout=30,
                   what="kazoo read-only client disconnected")
    finally:
        k.stop()
        k.close()
        w.close()
