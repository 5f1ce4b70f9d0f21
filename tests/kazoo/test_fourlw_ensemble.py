"""`dump` on a 3-node ensemble (tests/conformance/{zkr,apache-zk}-cluster.sh, local sessions off,
Apache's default): the leader prints its sessions by expiry bucket as a standalone server does; a
follower prints `Global Sessions(<n>):` and one `0x<sid>\\t<timeout>ms` line per session of the
ensemble (Apache's LearnerSessionTracker). zkr lists each node's client connections after
`Connections dump:`; Apache's cluster here runs the Netty connection factory (for its TLS port),
which prints nothing there (the NIO listing is checked standalone, in test_fourlw.py)."""

import re
import types

import pytest

from servers import four_letter
from test_fourlw import expiry_sets
from test_read_only import Cluster
from util import TARGET, wait_until


@pytest.fixture(scope="module")
def cluster():
    c = Cluster(local_sessions=False)
    c.ctl("start")
    try:
        yield c
    except BaseException:
        print(c.logs())
        raise
    finally:
        c.stop()


def test_dump_on_the_leader_and_on_a_follower(cluster, connect):
    clients = {i: connect(types.SimpleNamespace(hosts=cluster.hosts(i))) for i in (1, 2, 3)}
    ids = {c.client_id[0] for c in clients.values()}
    modes = {}
    for i, client in clients.items():
        port = cluster.port(i)
        modes[i] = re.search(r"^Mode: (\w+)$", four_letter(port, "srvr"), re.M).group(1)
        wait_until(lambda: all("0x%x" % s in four_letter(port, "dump") for s in ids),
                   what="node %d's dump listing every session" % i)
        text = four_letter(port, "dump")
        head, _, conns = text.partition("Connections dump:\n")
        sessions = head[len("SessionTracker dump:\n"):head.index("ephemeral nodes dump:\n")]
        if modes[i] == "leader":
            listed = {int(s, 16) for _, members in expiry_sets(sessions, "Session")
                      for s in members}
            assert listed == ids, text
        else:
            assert modes[i] == "follower", modes
            m = re.fullmatch(r"Global Sessions\((\d+)\):\n((?:0x[0-9a-f]+\t\d+ms\n)*)", sessions)
            assert m, text
            lines = m.group(2).splitlines()
            assert int(m.group(1)) == len(lines) == len(ids), text
            assert lines == sorted(lines, key=lambda ln: int(ln.split("\t")[0], 16)), text
            assert {int(ln.split("\t")[0], 16) for ln in lines} == ids, text
            assert all(ln.endswith("\t10000ms") for ln in lines), text
        if TARGET == "apache":
            assert conns == "", text  # NettyServerCnxnFactory
            continue
        mine = "ip: /127.0.0.1:%d sessionId: 0x%x" % (
            client._connection._socket.getsockname()[1], client.client_id[0])
        assert any(mine in members for _, members in expiry_sets(conns, "Connections")), text
    assert sorted(modes.values()) == ["follower", "follower", "leader"], modes
