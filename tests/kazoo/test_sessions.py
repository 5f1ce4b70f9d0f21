"""Sessions: timeout negotiation, resuming with the old id and password, expiry (ephemerals
deleted, watches fired, the returning client told SESSION_EXPIRED), wrong passwords.

The server runs with tickTime 2000 ms, so timeouts are clamped into [4000, 40000] ms and a
session left alone expires between 4 and 6 s after its last frame."""

import socket
import struct
import threading
import time

import pytest
from kazoo.client import KazooState
from kazoo.exceptions import SessionExpiredError
from kazoo.protocol.serialization import Close, Create, Exists, GetData
from kazoo.protocol.states import EventType
from kazoo.security import OPEN_ACL_UNSAFE

from servers import Server
from util import TARGET, TICK_MS, Recorder, wait_until, zkr_only

EPHEMERAL = 1


class StateLog:
    def __init__(self):
        self.states = []
        self.lock = threading.Lock()

    def __call__(self, state):
        with self.lock:
            self.states.append(state)


@pytest.mark.parametrize("requested,negotiated", [
    (1, 2 * TICK_MS),
    (0, 2 * TICK_MS),
    (-5, 2 * TICK_MS),
    (2 * TICK_MS - 1, 2 * TICK_MS),
    (2 * TICK_MS, 2 * TICK_MS),
    (10000, 10000),
    (20 * TICK_MS, 20 * TICK_MS),
    (20 * TICK_MS + 1, 20 * TICK_MS),
    (10 ** 7, 20 * TICK_MS),
])
def test_negotiated_timeout_is_clamped(wire, requested, negotiated):
    c = wire(timeout_ms=requested)
    assert c.negotiated_timeout == negotiated
    assert c.session_id != 0 and len(c.passwd) == 16
    assert len(c.connect_payload) == 37  # the request carried the readOnly byte


def test_connect_response_without_read_only_byte(server):
    """A 44-byte ConnectRequest (no readOnly byte, as 3.3-era clients send) is accepted and
    answered without the trailing byte."""
    import struct
    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        body = struct.pack("!iqiqi", 0, 0, 10000, 0, 16) + b"\x00" * 16
        s.sendall(struct.pack("!i", len(body)) + body)
        buf = b""
        while len(buf) < 4 or len(buf) < 4 + struct.unpack("!i", buf[:4])[0]:
            chunk = s.recv(4096)
            assert chunk, "connection closed"
            buf += chunk
        n = struct.unpack("!i", buf[:4])[0]
        assert n == 36
        proto, timeout, sid, plen = struct.unpack("!iiqi", buf[4:24])
        assert timeout == 10000 and sid != 0 and plen == 16
    finally:
        s.close()


def test_distinct_sessions(connect):
    a, b = connect(), connect()
    assert a.client_id[0] != b.client_id[0]
    assert a.client_id[0] != 0 and b.client_id[0] != 0


def test_resume_with_old_id_keeps_session_and_ephemerals(wire, connect, base):
    old = wire(timeout_ms=20000)
    assert old.call(Create(base + "/e", b"", OPEN_ACL_UNSAFE, EPHEMERAL))[0] == 0
    sid, passwd = old.session_id, old.passwd
    old.close()  # the connection is gone, not the session
    states = StateLog()
    c = connect(start=False, client_id=(sid, passwd), timeout=20.0)
    c.add_listener(states)
    c.start(timeout=30)
    assert c.client_id == (sid, passwd)
    assert states.states == [KazooState.CONNECTED]
    st = c.exists(base + "/e")
    assert st is not None and st.ephemeralOwner == sid
    # the resumed client owns the node: closing it removes the ephemeral
    c.stop()
    observer = connect()
    wait_until(lambda: observer.exists(base + "/e") is None, timeout=10, what="ephemeral gone")


def test_resume_closes_the_previous_connection(wire, base):
    a = wire(timeout_ms=20000)
    b = wire(session_id=a.session_id, passwd=a.passwd, timeout_ms=20000)
    assert b.session_id == a.session_id and b.passwd == a.passwd
    assert a.wait_closed(timeout=10)
    assert b.call(Exists(base, False))[0] == 0


def test_resume_renegotiates_timeout(wire):
    a = wire(timeout_ms=30000)
    assert a.negotiated_timeout == 30000
    a.close()
    b = wire(session_id=a.session_id, passwd=a.passwd, timeout_ms=6000)
    assert b.session_id == a.session_id and b.negotiated_timeout == 6000


def test_kazoo_reconnects_after_connection_drop(connect, base):
    c = connect(timeout=20.0)
    states = StateLog()
    c.add_listener(states)
    c.create(base + "/e", ephemeral=True)
    sid = c.client_id[0]
    c._connection._socket.shutdown(socket.SHUT_RDWR)  # drop the TCP connection only
    wait_until(lambda: KazooState.CONNECTED in states.states and c.connected, timeout=20,
               what="reconnect")
    assert states.states[0] == KazooState.SUSPENDED
    assert KazooState.LOST not in states.states
    assert c.client_id[0] == sid
    assert c.exists(base + "/e").ephemeralOwner == sid


def test_wrong_password_is_treated_as_expired(wire, connect, base):
    owner = wire(timeout_ms=20000)
    assert owner.call(Create(base + "/e", b"", OPEN_ACL_UNSAFE, EPHEMERAL))[0] == 0
    bad = bytes((b ^ 0xFF) for b in owner.passwd)
    # on the wire: the invalid ConnectResponse, then the connection is closed
    w = wire(session_id=owner.session_id, passwd=bad)
    assert (w.negotiated_timeout, w.session_id, w.passwd) == (0, 0, b"\x00" * 16)
    assert w.wait_closed(timeout=10)
    # kazoo: told the session expired, it starts a brand new one (kazoo's listeners do not
    # report LOST here because a client that never connected is already in state LOST)
    c = connect(client_id=(owner.session_id, bad))
    assert c.client_id[0] not in (0, owner.session_id)
    # the real session is not harmed: its ephemeral is still there
    assert c.exists(base + "/e").ephemeralOwner == owner.session_id


def test_unknown_session_id_is_expired(wire):
    w = wire(session_id=0x7777_0000_0000_0001, passwd=b"\x01" * 16)
    assert (w.negotiated_timeout, w.session_id) == (0, 0)
    assert w.wait_closed(timeout=10)


def test_close_session_reply_then_close(wire, connect, base):
    a = wire()
    assert a.call(Create(base + "/e", b"", OPEN_ACL_UNSAFE, EPHEMERAL))[0] == 0
    err, _ = a.call(Close())
    assert err == 0
    zxid = a.log[-1][2].zxid
    assert zxid > 0
    assert a.wait_closed(timeout=10)
    # the reply came after the closeSession txn was applied
    assert connect().exists(base + "/e") is None
    # and the session is gone for good
    w = wire(session_id=a.session_id, passwd=a.passwd)
    assert (w.negotiated_timeout, w.session_id) == (0, 0)


FAST_RETRY = dict(max_tries=-1, delay=0.1, backoff=1, max_delay=0.2)


def test_session_expiry(server, wire, connect, proxy, base):
    """One expiry wait covers: ephemerals deleted, other clients' watches fired, the expired
    connection closed by the server, the returning client told its session expired."""
    watcher = connect()
    # a kazoo client behind a relay that will cut it off until its session has expired
    relay = proxy()
    states = StateLog()
    kz = connect(relay, timeout=4.0, connection_retry=FAST_RETRY)
    kz.add_listener(states)
    kz_sid = kz.client_id[0]
    kz.create(base + "/k", ephemeral=True)
    rec_k = Recorder()
    assert watcher.exists(base + "/k", watch=rec_k).ephemeralOwner == kz_sid
    relay.cut()
    doomed = wire(timeout_ms=1)  # clamped to the 4 s minimum
    assert doomed.negotiated_timeout == 2 * TICK_MS
    sid, passwd = doomed.session_id, doomed.passwd
    assert doomed.call(Create(base + "/e1", b"", OPEN_ACL_UNSAFE, EPHEMERAL))[0] == 0
    assert doomed.call(Create(base + "/q", b"", OPEN_ACL_UNSAFE, 0))[0] == 0
    assert doomed.call(Create(base + "/q/e-", b"", OPEN_ACL_UNSAFE, 3))[0] == 0
    assert doomed.call(GetData(base + "/q", True))[0] == 0  # dies with the session
    rec_e1, rec_q = Recorder(), Recorder()
    assert watcher.exists(base + "/e1", watch=rec_e1).ephemeralOwner == sid
    assert watcher.get_children(base + "/q", watch=rec_q) == ["e-0000000000"]
    # doomed now sends nothing (no pings): the session expires 4-6 s later
    rec_e1.wait(1, timeout=40)
    rec_q.wait(1, timeout=10)
    assert [(e.type, e.path) for e in rec_e1.events] == [(EventType.DELETED, base + "/e1")]
    assert [(e.type, e.path) for e in rec_q.events] == [(EventType.CHILD, base + "/q")]
    assert watcher.exists(base + "/e1") is None
    assert watcher.get_children(base + "/q") == []
    assert watcher.exists(base + "/q") is not None  # persistent nodes stay
    assert doomed.wait_closed(timeout=10)
    assert doomed.events == []  # its own watches are not fired at it
    # coming back: the invalid ConnectResponse
    w = wire(session_id=sid, passwd=passwd)
    assert (w.negotiated_timeout, w.session_id, w.passwd) == (0, 0, b"\x00" * 16)
    assert w.wait_closed(timeout=10)
    # the kazoo client's session expired too
    rec_k.wait(1, timeout=20)
    assert [(e.type, e.path) for e in rec_k.events] == [(EventType.DELETED, base + "/k")]
    wait_until(lambda: states.states == [KazooState.SUSPENDED], timeout=10, what="SUSPENDED")
    queued = kz.exists_async(base)  # waits in kazoo's queue while it cannot connect
    # let it back in: it resumes with its old id, is told SESSION_EXPIRED (LOST) and then
    # starts a new session
    relay.restore()
    with pytest.raises(SessionExpiredError):
        queued.get(timeout=30)
    wait_until(lambda: len(states.states) >= 3, timeout=30, what="LOST then CONNECTED")
    assert states.states[:3] == [KazooState.SUSPENDED, KazooState.LOST, KazooState.CONNECTED]
    assert kz.client_id[0] not in (0, kz_sid)
    assert kz.exists(base + "/k") is None


def test_requests_keep_a_session_alive(wire, connect, base):
    """A session that keeps talking outlives its timeout: ping every 0.5 s for 1.75 timeouts
    (7 s, more than the 6 s an idle session can last with a 4 s timeout and 2 s ticks)."""
    a = wire(timeout_ms=1)
    assert a.call(Create(base + "/alive", b"", OPEN_ACL_UNSAFE, EPHEMERAL))[0] == 0
    end = time.monotonic() + 1.75 * a.negotiated_timeout / 1000.0
    n = 0
    while time.monotonic() < end and n < 200:
        a.ping()
        time.sleep(0.5)
        n += 1
    assert a.call(Exists(base + "/alive", False))[0] == 0
    assert connect().exists(base + "/alive").ephemeralOwner == a.session_id


@zkr_only("Apache 3.8.0 can leave a connection made while it loads its data open and unanswered "
          "(a NullPointerException in ZooKeeperServer.removeCnxn), see servers.wait_serving")
def test_connections_made_while_the_server_starts_are_answered_or_refused():
    """A client that reconnects while the server starts (after a restart, a failover, a migration)
    either cannot connect or gets an answer: none is accepted and then left waiting, which would
    cost it its whole connect timeout (kazoo's: the session timeout over the number of hosts)."""
    srv = Server(TARGET, tick_ms=TICK_MS)
    outcomes = []
    lock = threading.Lock()
    stop = threading.Event()

    def attempt(t0):
        req = struct.pack(">iqiqi16sb", 0, 0, 30000, 0, 16, bytes(16), 0)
        made = time.time() - t0
        try:
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=2)
        except OSError:
            outcome = "refused"
        else:
            s.settimeout(5)
            try:
                s.sendall(struct.pack(">i", len(req)) + req)
                outcome = "answered" if s.recv(4) else "closed"
            except socket.timeout:
                outcome = "left waiting (connected %.2f s after the start)" % made
            except OSError:
                outcome = "reset"
            s.close()
        with lock:
            outcomes.append(outcome)

    def hammer(t0):
        threads = []
        while not stop.is_set():
            t = threading.Thread(target=attempt, args=(t0,))
            t.start()
            threads.append(t)
            time.sleep(0.01)
        for t in threads:
            t.join()

    h = threading.Thread(target=hammer, args=(time.time(),))
    h.start()
    try:
        srv.start()
        time.sleep(0.5)
    finally:
        stop.set()
        h.join()
        srv.close()
    waiting = [o for o in outcomes if o.startswith("left waiting")]
    assert not waiting, waiting
    assert "answered" in outcomes, outcomes
