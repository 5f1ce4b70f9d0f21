"""Error replies, each with ZooKeeper's code: through kazoo's API where it can provoke them, and
through kazoo's protocol records (sent on kazoo's own connection, or on a WireClient) for what
kazoo's client-side path handling never lets through."""

import struct

import pytest
from kazoo.exceptions import (
    BadArgumentsError,
    BadVersionError,
    InvalidACLError,
    MarshallingError,
    NoAuthError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
)
from kazoo.protocol.serialization import (
    CheckVersion,
    Create,
    Create2,
    Delete,
    Exists,
    GetACL,
    GetChildren,
    GetData,
    SetACL,
    SetData,
    Sync,
    write_buffer,
)
from kazoo.security import OPEN_ACL_UNSAFE, READ_ACL_UNSAFE

from util import raw_call, zkr_only
from wire import Raw


def code_of(excinfo):
    return excinfo.value.code


def test_no_node(zk, base):
    for op in (lambda: zk.get(base + "/x"), lambda: zk.set(base + "/x", b""),
               lambda: zk.delete(base + "/x"), lambda: zk.get_children(base + "/x"),
               lambda: zk.get_acls(base + "/x"), lambda: zk.set_acls(base + "/x", OPEN_ACL_UNSAFE),
               lambda: zk.create(base + "/x/y")):
        with pytest.raises(NoNodeError) as e:
            op()
        assert code_of(e) == -101


def test_node_exists(zk, base):
    zk.create(base + "/x")
    with pytest.raises(NodeExistsError) as e:
        zk.create(base + "/x")
    assert code_of(e) == -110
    with pytest.raises(NodeExistsError):
        zk.create(base + "/x", ephemeral=True)


def test_not_empty(zk, base):
    zk.create(base + "/x/y", makepath=True)
    with pytest.raises(NotEmptyError) as e:
        zk.delete(base + "/x")
    assert code_of(e) == -111


def test_bad_version(zk, base):
    zk.create(base + "/x")
    for op in (lambda: zk.set(base + "/x", b"", version=3),
               lambda: zk.delete(base + "/x", version=1),
               lambda: zk.set_acls(base + "/x", OPEN_ACL_UNSAFE, version=1)):
        with pytest.raises(BadVersionError) as e:
            op()
        assert code_of(e) == -103


def test_version_checks_come_after_existence(zk, base):
    with pytest.raises(NoNodeError):
        zk.set(base + "/missing", b"", version=5)
    with pytest.raises(NoNodeError):
        zk.delete(base + "/missing", version=5)


def test_no_children_for_ephemerals(zk, connect, base):
    zk.create(base + "/e", ephemeral=True)
    for c in (zk, connect()):
        with pytest.raises(NoChildrenForEphemeralsError) as e:
            c.create(base + "/e/child")
        assert code_of(e) == -108
        with pytest.raises(NoChildrenForEphemeralsError):
            c.create(base + "/e/seq-", sequence=True)


def test_node_exists_comes_before_ephemeral_parent_check(zk, base):
    zk.create(base + "/e", ephemeral=True)
    with pytest.raises(NodeExistsError):
        zk.create(base + "/e")


def test_no_auth_and_invalid_acl_codes(zk, connect, base):
    zk.create(base + "/ro", acl=READ_ACL_UNSAFE)
    with pytest.raises(NoAuthError) as e:
        connect().set(base + "/ro", b"x")
    assert code_of(e) == -102
    with pytest.raises(InvalidACLError) as e:
        zk.set_acls(base + "/ro", [])
    assert code_of(e) == -114


def test_check_order_create(zk, base):
    """ACL validity (InvalidACL) is checked before the parent's existence (NoNode), which
    comes before the CREATE permission (NoAuth)."""
    with pytest.raises(InvalidACLError):
        zk.create_async(base + "/missing/x", b"", acl=[]).get(timeout=20)
    zk.create(base + "/noc", acl=READ_ACL_UNSAFE)
    with pytest.raises(NoAuthError):
        zk.create(base + "/noc/x")
    with pytest.raises(InvalidACLError):
        zk.create_async(base + "/noc/x", b"", acl=[]).get(timeout=20)


# ---- invalid paths (kazoo normalises paths, so these go through its protocol records) -------

INVALID = ["a", "/a/", "//a", "/a/.", "/a/..", "/.", "/..", "/x\x00y", "/x\x01", "/x\x7f",
           "/x\x9f", "/x\ue000", "/x\uf8ff", "/x\ufff0", "/x\uffff", "/x\U0001F600"]


@pytest.mark.parametrize("path", INVALID, ids=[repr(p) for p in INVALID])
def test_create_invalid_path_is_bad_arguments(zk, path):
    zk.ensure_path("/a")  # so that "/a/" and "/a/." fail on the path, not on the parent
    with pytest.raises(BadArgumentsError) as e:
        raw_call(zk, Create(path, b"", OPEN_ACL_UNSAFE, 0))
    assert code_of(e) == -8
    with pytest.raises(BadArgumentsError):
        raw_call(zk, Create2(path, b"", OPEN_ACL_UNSAFE, 0))


@pytest.mark.parametrize("path", ["/a/", "//a", "/a/.", "/x\x00y", "a"])
def test_set_data_and_set_acl_validate_paths(zk, path):
    zk.ensure_path("/a")
    with pytest.raises(BadArgumentsError):
        raw_call(zk, SetData(path, b"", -1))
    with pytest.raises(BadArgumentsError):
        raw_call(zk, SetACL(path, OPEN_ACL_UNSAFE, -1))
    t = zk.transaction()
    t._add(CheckVersion(path, -1))
    assert isinstance(t.commit()[0], BadArgumentsError)


@pytest.mark.parametrize("path", ["/a/", "//a", "/a/."])
def test_reads_and_delete_treat_invalid_paths_as_missing(zk, path):
    zk.ensure_path("/a")
    for record in (GetData(path, False), GetChildren(path, False), GetACL(path),
                   Delete(path, -1)):
        with pytest.raises(NoNodeError):
            raw_call(zk, record)
    assert raw_call(zk, Exists(path, False)) is None  # kazoo maps exists' NoNode to None
    assert raw_call(zk, Sync(path)) == path  # sync does not look at the path


def test_nul_in_path(zk):
    zk.ensure_path("/a")
    with pytest.raises(BadArgumentsError):
        raw_call(zk, Exists("/a\x00b", False))
    with pytest.raises(BadArgumentsError):
        raw_call(zk, Delete("/a\x00b", -1))
    with pytest.raises(NoNodeError):
        raw_call(zk, GetData("/a\x00b", False))


def test_path_oddities_that_are_valid(zk, base):
    for name in ["a.b", "...", ".a", "a..", "\u00a0", "\ud7ff".encode("utf-16", "surrogatepass")
                 .decode("utf-16"), "\uf900", "zookeeper"]:
        p = base + "/" + name
        assert raw_call(zk, Create(p, b"", OPEN_ACL_UNSAFE, 0)) == p
        assert zk.exists(p) is not None


def test_sequential_validates_after_suffix(zk, base):
    # "/p/" is invalid alone but fine with the sequential suffix
    zk.create(base + "/p")
    assert raw_call(zk, Create(base + "/p/", b"", OPEN_ACL_UNSAFE, 2)) == base + "/p/0000000000"
    with pytest.raises(BadArgumentsError):
        raw_call(zk, Create(base + "/p/", b"", OPEN_ACL_UNSAFE, 0))


@pytest.mark.parametrize("flags", [-1, 7, 100])
def test_unknown_create_mode_is_bad_arguments(zk, base, flags):
    with pytest.raises(BadArgumentsError):
        raw_call(zk, Create2(base + "/f", b"", OPEN_ACL_UNSAFE, flags))
    assert zk.exists(base + "/f") is None


def test_ttl_mode_through_plain_create_is_bad_arguments(zk, base):
    for flags in (5, 6):  # TTL modes need createTTL (opcode 21)
        with pytest.raises(BadArgumentsError):
            raw_call(zk, Create2(base + "/t", b"", OPEN_ACL_UNSAFE, flags))


def test_special_paths_cannot_be_deleted(zk):
    for p in ["/", "/zookeeper", "/zookeeper/config", "/zookeeper/quota"]:
        with pytest.raises(BadArgumentsError):
            raw_call(zk, Delete(p, -1))


def test_value_over_jute_max_buffer_closes_the_connection(wire, base, zk):
    a = wire()
    big = b"x" * (1024 * 1024 + 10)
    # The server closes as soon as it has read the frame's length, possibly while the rest is
    # still being sent: a broken pipe or a reset during the send is that close, not a failure.
    a.send_until_closed(Raw(5, struct.pack("!i", len(base)) + base.encode() + write_buffer(big)
                            + struct.pack("!i", -1)))
    assert a.wait_closed(timeout=20)
    # Nothing of the refused request was applied, and the server goes on serving.
    assert zk.get(base)[0] != big
    assert zk.exists(base) is not None


# ---- wire-level codes -----------------------------------------------------------------------

def test_error_reply_has_no_body(wire, base):
    a = wire()
    xid = a.send(GetData(base + "/missing", False))
    header, payload, off = a.wait_reply(xid)
    assert header.err == -101 and len(payload) == off == 16
    assert header.zxid > 0


def test_unknown_opcode_is_unimplemented_and_closes(wire):
    a = wire()
    xid = a.send(Raw(999, b""))
    header, _, _ = a.wait_reply(xid)
    assert header.err == -6
    assert a.wait_closed(timeout=10)


def test_bad_multi_record_is_marshalling_error(wire, base):
    a = wire()
    # a multi with an op type that may not appear in one (getData, 4)
    body = struct.pack("!iBi", 4, 0, -1) + struct.pack("!i", len(base)) + base.encode() + b"\0"
    body += struct.pack("!iBi", -1, 1, -1)
    assert a.call(Raw(14, body))[0] == -5


def test_add_watch_bad_mode_is_marshalling_error(zk, base):
    from wire import AddWatch
    with pytest.raises(MarshallingError):
        raw_call(zk, AddWatch(base, 9))


@zkr_only("check outside multi gets Unimplemented and a closed connection from 3.8.5/3.9.3; "
          "3.8.0 does not answer")
def test_check_alone_is_unimplemented(wire, base):
    a = wire()
    xid = a.send(CheckVersion(base, -1))
    header, _, _ = a.wait_reply(xid)
    assert header.err == -6
    assert a.wait_closed(timeout=10)


def test_empty_path_reads_as_the_root(wire):
    """ZooKeeper keys the root under both "" and "/": reads of a zero-length path (which no
    client library sends, kazoo would send a null string) answer for the root."""
    a = wire()
    empty = struct.pack("!i", 0)
    err, body = a.call(Raw(3, empty + b"\x00"))
    assert err == 0
    assert Exists.deserialize(body, 0) == a.call(Exists("/", False))[1]
    err, body = a.call(Raw(8, empty + b"\x00"))
    assert err == 0 and GetChildren.deserialize(body, 0) == a.call(GetChildren("/", False))[1]
    err, body = a.call(Raw(6, empty))
    assert err == 0 and GetACL.deserialize(body, 0) == a.call(GetACL("/"))[1]
    # writes validate the path first
    err, _ = a.call(Raw(5, empty + write_buffer(b"x") + struct.pack("!i", -1)))
    assert err == -8
    assert a.call(Raw(2, empty + struct.pack("!i", -1)))[0] == -8
