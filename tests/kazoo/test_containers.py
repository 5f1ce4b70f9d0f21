"""Container nodes (createContainer, opcode 19) are deleted by the server once they have had a
child and are empty again. The server checks every 500 ms here."""

import struct

import pytest
from kazoo.exceptions import NoNodeError
from kazoo.protocol.serialization import Create2, read_string, stat_struct
from kazoo.protocol.states import ZnodeStat
from kazoo.protocol.states import EventType
from kazoo.security import OPEN_ACL_UNSAFE

from util import Recorder, raw_call, start_server, wait_until
from wire import Raw


class CreateContainer(Create2):
    type = 19


@pytest.fixture(scope="module")
def server():
    s = start_server(container_check_ms=500)
    yield s
    s.close()


def create_container(zk, path, data=b""):
    return raw_call(zk, CreateContainer(path, data, OPEN_ACL_UNSAFE, 4))


def test_container_reaped_after_last_child_goes(zk, connect, base):
    path, st = create_container(zk, base + "/c")
    assert st.ephemeralOwner == 0
    create_container(zk, base + "/never_used")
    zk.create(base + "/c/a")
    zk.create(base + "/c/b", ephemeral=True)
    watcher = connect()
    rec, parent_rec = Recorder(), Recorder()
    watcher.exists(base + "/c", watch=rec)
    watcher.get_children(base, watch=parent_rec)
    zk.delete(base + "/c/a")
    zk.delete(base + "/c/b")
    wait_until(lambda: zk.exists(base + "/c") is None, timeout=30, what="container reaped")
    rec.wait(1)
    parent_rec.wait(1)
    assert [(e.type, e.path) for e in rec.events] == [(EventType.DELETED, base + "/c")]
    assert [(e.type, e.path) for e in parent_rec.events] == [(EventType.CHILD, base)]
    # a container that never had a child survived the checks that reaped the other one
    assert zk.exists(base + "/never_used") is not None


def test_container_with_children_is_kept(zk, base):
    create_container(zk, base + "/c")
    zk.create(base + "/c/x")
    create_container(zk, base + "/d")  # a sentinel reaped by the same checks
    zk.create(base + "/d/x")
    zk.delete(base + "/d/x")
    wait_until(lambda: zk.exists(base + "/d") is None, timeout=30, what="sentinel reaped")
    assert zk.get_children(base + "/c") == ["x"]


def test_nested_containers_cascade(zk, base):
    create_container(zk, base + "/outer")
    create_container(zk, base + "/outer/inner")
    zk.create(base + "/outer/inner/leaf")
    zk.delete(base + "/outer/inner/leaf")
    # inner goes first; then outer, which has had a child and is now empty
    wait_until(lambda: zk.exists(base + "/outer") is None, timeout=30, what="cascade")


def test_create_under_reaped_container_is_no_node(zk, base):
    create_container(zk, base + "/c")
    zk.create(base + "/c/x")
    zk.delete(base + "/c/x")
    wait_until(lambda: zk.exists(base + "/c") is None, timeout=30, what="container reaped")
    with pytest.raises(NoNodeError):
        zk.create(base + "/c/y")


def test_container_stat_and_kind(zk, base):
    path, st = create_container(zk, base + "/c", b"abc")
    assert path == base + "/c"
    assert st.czxid == st.mzxid == st.pzxid == zk.last_zxid
    assert (st.version, st.cversion, st.aversion, st.dataLength, st.numChildren,
            st.ephemeralOwner) == (0, 0, 0, 3, 0, 0)
    # a container is not ephemeral: it may have children, also sequential ones
    assert zk.create(base + "/c/s-", sequence=True) == base + "/c/s-0000000000"


def test_container_in_multi_answers_create2_result(wire, zk, base):
    """kazoo's Transaction cannot decode a Create2Response entry, so this multi goes on the
    wire: createContainer inside multi is answered with result type 15 (path + stat)."""
    w = wire()
    body = struct.pack("!iBi", 19, 0, -1) + \
        CreateContainer(base + "/c", b"", OPEN_ACL_UNSAFE, 4).serialize() + \
        struct.pack("!iBi", -1, 1, -1)
    err, payload = w.call(Raw(14, bytes(body)))
    assert err == 0
    rtype, done, rerr = struct.unpack_from("!iBi", payload, 0)
    assert (rtype, done, rerr) == (15, 0, 0)
    path, off = read_string(payload, 9)
    stat = ZnodeStat._make(stat_struct.unpack_from(payload, off))
    assert path == base + "/c" and stat == zk.exists(base + "/c")
    assert struct.unpack_from("!iBi", payload, off + stat_struct.size) == (-1, 1, -1)
