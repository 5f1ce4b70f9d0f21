"""Fixtures for the kazoo suite. ZKR_TEST_TARGET=zkr (default) or apache picks the server kind;
the same tests run against both so that they encode Apache ZooKeeper's behaviour."""

import itertools
import os
import re
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from kazoo.client import KazooClient  # noqa: E402

from util import TARGET, Proxy, start_server  # noqa: E402
from wire import WireClient  # noqa: E402


def pytest_report_header(config):
    return "ZKR_TEST_TARGET=%s" % TARGET


@pytest.fixture(scope="module")
def server():
    s = start_server()
    yield s
    s.close()


@pytest.fixture
def fresh_server():
    """A server of its own for one test (for tests that need a pristine tree)."""
    s = start_server()
    yield s
    s.close()


@pytest.fixture
def connect(request):
    """connect(srv=None, **KazooClient kwargs) -> a started KazooClient; stopped at teardown."""
    clients = []

    def make(srv=None, start=True, **kw):
        """srv: anything with .hosts (a server or a Proxy)."""
        srv = srv or request.getfixturevalue("server")
        kw.setdefault("timeout", 10.0)
        c = KazooClient(hosts=srv.hosts, **kw)
        clients.append(c)
        if start:
            c.start(timeout=30)
        return c

    yield make
    for c in clients:
        try:
            c.stop()
        except Exception:
            pass
        try:
            c.close()
        except Exception:
            pass


@pytest.fixture
def wire(request):
    """wire(srv=None, **WireClient kwargs) -> a connected WireClient; closed at teardown."""
    clients = []

    def make(srv=None, **kw):
        srv = srv or request.getfixturevalue("server")
        c = WireClient(srv.port, **kw)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def proxy(request):
    """proxy(srv=None) -> a Proxy in front of the server; closed at teardown."""
    proxies = []

    def make(srv=None):
        srv = srv or request.getfixturevalue("server")
        p = Proxy(srv.port)
        proxies.append(p)
        return p

    yield make
    for p in proxies:
        p.close()


@pytest.fixture
def zk(connect):
    return connect()


_counter = itertools.count()


@pytest.fixture
def base(zk, request):
    """A fresh persistent node, unique to the test, to work under."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", request.node.name)[:80]
    p = "/%s_%d" % (name, next(_counter))
    zk.create(p)
    return p


