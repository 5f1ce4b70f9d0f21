"""Helpers shared by the kazoo suite (imported by conftest.py and the test modules)."""

import itertools
import os
import subprocess
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if os.path.join(HERE, "..", "support") not in sys.path:
    sys.path.insert(0, os.path.join(HERE, "..", "support"))

from kazoo.protocol.serialization import Close  # noqa: E402

from servers import Server, wait_serving  # noqa: E402

TARGET = os.environ.get("ZKR_TEST_TARGET", "zkr")
if TARGET not in ("zkr", "apache"):
    raise RuntimeError("ZKR_TEST_TARGET must be zkr or apache, not %r" % TARGET)

TICK_MS = 2000

def zkr_only(reason):
    """A known, deliberate difference between zkr (3.9 behaviour) and the reference Apache
    3.8.0: the test runs against zkr only."""
    return pytest.mark.skipif(TARGET != "zkr", reason="known difference from Apache 3.8.0: "
                              + reason)


def start_server(fourlw=None, **kw):
    """Start a server of the target kind. fourlw: a four-letter-word whitelist (list)."""
    if fourlw and TARGET == "apache":
        # zoo.cfg is a properties file: the last value of a key wins.
        kw["extra_zoo_cfg"] = kw.get("extra_zoo_cfg", "") + \
            "4lw.commands.whitelist=%s\n" % ",".join(fourlw)
    s = Server(TARGET, tick_ms=kw.pop("tick_ms", TICK_MS), **kw)
    try:
        s.start()
        if fourlw and TARGET == "zkr":
            _restart_zkr_with_whitelist(s, fourlw)
        wait_accepting_sessions(s.port)
    except BaseException:
        s.close()  # stops the process we started (by PID) and removes its directory
        raise
    return s


def _restart_zkr_with_whitelist(s, fourlw):
    """servers.py always writes four_letter_words = ["*"]; restart the node with a whitelist."""
    args = s.proc.args
    s.stop()
    cfg = os.path.join(s.dir, "zkr.toml")
    with open(cfg) as f:
        text = f.read()
    assert 'four_letter_words = ["*"]' in text, "servers.py's zkr config changed"
    text = text.replace('four_letter_words = ["*"]', "four_letter_words = [%s]"
                        % ", ".join('"%s"' % w for w in fourlw))
    with open(cfg, "w") as f:
        f.write(text)
    with open(os.path.join(s.dir, "server.log"), "ab") as logf:
        s.proc = subprocess.Popen(args, stdout=logf, stderr=logf, stdin=subprocess.DEVNULL,
                                  start_new_session=True)
    wait_serving(s.port, 60)


def wait_accepting_sessions(port, within=60.0):
    """Apache answers ruok before its request pipeline runs (a ConnectRequest sent then is
    dropped: "ZooKeeperServer not running"); wait until a session can really be created."""
    from wire import ConnectionClosed, WireClient

    deadline = time.monotonic() + within
    while True:
        try:
            c = WireClient(port, timeout_ms=4000)
            c.call(Close())
            c.close()
            return
        except (ConnectionClosed, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def wait_until(pred, timeout=20.0, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0fs waiting for %s" % (timeout, what))
        time.sleep(interval)


class Recorder:
    """A kazoo watch callback that records its events."""

    def __init__(self):
        self.events = []
        self.cond = threading.Condition()

    def __call__(self, event):
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def wait(self, n=1, timeout=10.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.events) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
            return list(self.events)


_fence_counter = itertools.count()


def fence(client):
    """Return once every watch event already queued for `client` has been delivered to its
    callbacks: the client sets an exists watch on a fresh path and creates it itself. Events
    reach a connection in zxid order and kazoo runs watch callbacks sequentially, so when this
    event's callback has run, all earlier ones have too."""
    path = "/fence_%d_%d" % (os.getpid(), next(_fence_counter))
    rec = Recorder()
    assert client.exists(path, watch=rec) is None
    client.create(path)
    got = rec.wait(1, timeout=20)
    assert len(got) == 1, "fence event never arrived"
    client.delete(path)


def raw_call(client, request, timeout=20):
    """Send one of kazoo's protocol records through the client's own connection (bypassing the
    API's client-side path handling) and return the decoded reply, or raise the ZooKeeper
    error kazoo maps the reply's code to."""
    result = client.handler.async_result()
    client._call(request, result)
    return result.get(timeout=timeout)


class Proxy:
    """A TCP relay on a free loopback port in front of a server, to cut a client off and let it
    back in without touching the client: cut() closes every relayed connection and refuses new
    ones (accepted, then closed at once) until restore(). close() stops it."""

    def __init__(self, target_port):
        import socket

        self.target_port = target_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.refusing = False
        self.closed = False
        self.socks = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def hosts(self):
        return "127.0.0.1:%d" % self.port

    def _accept(self):
        import socket

        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                if self.refusing or self.closed:
                    client.close()
                    continue
                try:
                    upstream = socket.create_connection(("127.0.0.1", self.target_port), 10)
                except OSError:
                    client.close()
                    continue
                upstream.settimeout(None)  # the 10 s bound is for the connect, not for idleness
                self.socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        """Relays src to dst; when either end closes, closes both. shutdown() before close():
        the pump of the other direction is blocked in recv() on these sockets, and a close()
        alone neither wakes it nor sends a FIN (the blocked call holds the socket open), so a
        server that went away would leave its client connected to the relay, unaware."""
        import socket

        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass

    def _drop_all(self):
        import socket

        with self.lock:
            socks, self.socks = self.socks, []
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def cut(self):
        with self.lock:
            self.refusing = True
        self._drop_all()

    def restore(self):
        with self.lock:
            self.refusing = False

    def close(self):
        self.closed = True
        self.listener.close()
        self._drop_all()
