"""Every operation kazoo offers, through its public API: create (all modes), delete, exists,
get, set, ACLs, children, sync, transactions, auth, server_version."""

import re
import time

import pytest
from kazoo.exceptions import (
    BadVersionError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
    RuntimeInconsistency,
)
from kazoo.protocol.serialization import Create2
from kazoo.security import OPEN_ACL_UNSAFE, READ_ACL_UNSAFE, make_acl, make_digest_acl_credential

from util import TARGET, raw_call, wait_until


class CreateContainer(Create2):
    """createContainer (19): kazoo 2.10.0 has no container flag, so send the opcode the Java
    client uses for CreateMode.CONTAINER (flags 4); the reply is a Create2Response."""
    type = 19


def near_now(ms):
    return abs(ms / 1000.0 - time.time()) < 600


# ---- create ---------------------------------------------------------------------------------

def test_create_persistent(zk, base):
    path, st = zk.create(base + "/p", b"hello", include_data=True)
    assert path == base + "/p"
    assert st.czxid == st.mzxid == st.pzxid == zk.last_zxid
    assert (st.version, st.cversion, st.aversion) == (0, 0, 0)
    assert st.ctime == st.mtime and near_now(st.ctime)
    assert (st.dataLength, st.numChildren, st.ephemeralOwner) == (5, 0, 0)
    data, st2 = zk.get(base + "/p")
    assert data == b"hello" and st2 == st
    assert zk.get_acls(base + "/p")[0] == OPEN_ACL_UNSAFE


def test_create_returns_plain_path_without_include_data(zk, base):
    assert zk.create(base + "/q", b"") == base + "/q"
    data, st = zk.get(base + "/q")
    assert data == b"" and st.dataLength == 0


def test_null_data(zk, base):
    # kazoo sends None as a null buffer (length -1); it reads back as null
    zk.create(base + "/null", None)
    data, st = zk.get(base + "/null")
    assert data is None and st.dataLength == 0
    zk.set(base + "/null", b"x")
    assert zk.get(base + "/null")[0] == b"x"


def test_create_existing_is_node_exists(zk, base):
    zk.create(base + "/x")
    with pytest.raises(NodeExistsError):
        zk.create(base + "/x", b"again")
    assert zk.get(base + "/x")[0] == b""


def test_create_without_parent_is_no_node_and_makepath_creates_parents(zk, base):
    with pytest.raises(NoNodeError):
        zk.create(base + "/a/b/c", b"leaf")
    assert zk.exists(base + "/a") is None
    assert zk.create(base + "/a/b/c", b"leaf", makepath=True) == base + "/a/b/c"
    assert zk.get(base + "/a/b/c")[0] == b"leaf"
    assert zk.get(base + "/a")[0] == b"" and zk.get(base + "/a/b")[0] == b""
    assert zk.get_children(base + "/a") == ["b"]


def test_create_ephemeral_owned_by_session_and_removed_on_close(connect, zk, base):
    owner = connect(timeout=30.0)
    path, st = owner.create(base + "/e", b"x", ephemeral=True, include_data=True)
    assert st.ephemeralOwner == owner.client_id[0] != 0
    # another session sees the same owner
    assert zk.exists(base + "/e").ephemeralOwner == owner.client_id[0]
    owner.stop()
    # kazoo 2.10.0 sends closeSession but does not wait for its reply, so poll; well inside
    # the 30 s session timeout, so this is the close and not an expiry.
    wait_until(lambda: zk.exists(base + "/e") is None, timeout=10, what="ephemeral removed")


def test_create_sequential_uses_parent_creation_counter(zk, base):
    assert zk.create(base + "/s-", sequence=True) == base + "/s-0000000000"
    zk.create(base + "/plain")  # every child creation advances the counter
    assert zk.create(base + "/s-", sequence=True) == base + "/s-0000000002"
    zk.delete(base + "/s-0000000002")  # deletes do not take it back
    assert zk.create(base + "/s-", sequence=True) == base + "/s-0000000003"
    assert zk.create(base + "/other-", sequence=True) == base + "/other-0000000004"
    assert sorted(zk.get_children(base)) == ["other-0000000004", "plain", "s-0000000000",
                                             "s-0000000003"]


def test_create_sequential_with_trailing_slash(zk, base):
    zk.create(base + "/d")
    assert zk.create(base + "/d/", sequence=True) == base + "/d/0000000000"
    assert zk.create(base + "/d/", sequence=True) == base + "/d/0000000001"


def test_create_ephemeral_sequential(zk, base):
    p, st = zk.create(base + "/lock-", b"", ephemeral=True, sequence=True, include_data=True)
    assert p == base + "/lock-0000000000"
    assert st.ephemeralOwner == zk.client_id[0]
    p2 = zk.create(base + "/lock-", b"", ephemeral=True, sequence=True)
    assert p2 == base + "/lock-0000000001"


def test_create_container(zk, base):
    path, st = raw_call(zk, CreateContainer(base + "/c", b"data", OPEN_ACL_UNSAFE, 4))
    assert path == base + "/c"
    assert st.ephemeralOwner == 0  # the container marker is never shown to clients
    assert st.czxid == st.mzxid == st.pzxid and st.dataLength == 4
    zk.create(base + "/c/child", b"")  # containers may have children
    assert zk.get_children(base + "/c") == ["child"]


def test_create_with_acl(zk, base):
    zk.create(base + "/ro", b"v", acl=READ_ACL_UNSAFE)
    acls, st = zk.get_acls(base + "/ro")
    assert acls == READ_ACL_UNSAFE and st.aversion == 0


# ---- delete ---------------------------------------------------------------------------------

def test_delete_with_version(zk, base):
    zk.create(base + "/v", b"0")
    zk.set(base + "/v", b"1")
    with pytest.raises(BadVersionError):
        zk.delete(base + "/v", version=0)
    assert zk.exists(base + "/v") is not None
    zk.delete(base + "/v", version=1)
    assert zk.exists(base + "/v") is None
    with pytest.raises(NoNodeError):
        zk.delete(base + "/v")


def test_delete_any_version(zk, base):
    zk.create(base + "/v")
    zk.set(base + "/v", b"1")
    zk.set(base + "/v", b"2")
    zk.delete(base + "/v", version=-1)
    assert zk.exists(base + "/v") is None


def test_delete_non_empty_then_recursive(zk, base):
    zk.create(base + "/t/a/b", makepath=True)
    zk.create(base + "/t/c")
    with pytest.raises(NotEmptyError):
        zk.delete(base + "/t")
    zk.delete(base + "/t", recursive=True)
    assert zk.exists(base + "/t") is None
    assert zk.get_children(base) == []


# ---- exists / get / set ---------------------------------------------------------------------

def test_exists(zk, base):
    assert zk.exists(base + "/nope") is None
    zk.create(base + "/yes", b"abc")
    st = zk.exists(base + "/yes")
    assert st == zk.get(base + "/yes")[1]
    assert st.dataLength == 3


def test_get_missing_is_no_node(zk, base):
    with pytest.raises(NoNodeError):
        zk.get(base + "/missing")


def test_set_versions(zk, base):
    st0 = zk.create(base + "/n", b"a", include_data=True)[1]
    st1 = zk.set(base + "/n", b"bb", version=0)
    assert st1.version == 1 and st1.dataLength == 2
    assert st1.mzxid == zk.last_zxid > st0.mzxid
    with pytest.raises(BadVersionError):
        zk.set(base + "/n", b"c", version=0)
    st2 = zk.set(base + "/n", b"ccc", version=-1)
    assert st2.version == 2
    assert zk.get(base + "/n") == (b"ccc", st2)
    with pytest.raises(NoNodeError):
        zk.set(base + "/missing", b"x")


def test_set_large_value(zk, base):
    value = bytes(range(256)) * 2000  # 512000 bytes, under the 1 MB limit
    zk.create(base + "/big", value)
    data, st = zk.get(base + "/big")
    assert data == value and st.dataLength == len(value)


# ---- ACLs -----------------------------------------------------------------------------------

def test_get_and_set_acls_with_aversion(zk, base):
    zk.create(base + "/a", b"")
    acls, st = zk.get_acls(base + "/a")
    assert acls == OPEN_ACL_UNSAFE and st.aversion == 0
    read_admin = [make_acl("world", "anyone", read=True, admin=True)]
    st1 = zk.set_acls(base + "/a", read_admin, version=0)
    assert st1.aversion == 1 and st1.version == 0
    assert zk.get_acls(base + "/a")[0] == read_admin
    with pytest.raises(BadVersionError):
        zk.set_acls(base + "/a", OPEN_ACL_UNSAFE, version=0)
    st2 = zk.set_acls(base + "/a", OPEN_ACL_UNSAFE, version=-1)
    assert st2.aversion == 2
    assert zk.get_acls(base + "/a") == (OPEN_ACL_UNSAFE, st2)
    with pytest.raises(NoNodeError):
        zk.get_acls(base + "/missing")
    with pytest.raises(NoNodeError):
        zk.set_acls(base + "/missing", OPEN_ACL_UNSAFE)


# ---- children -------------------------------------------------------------------------------

def test_get_children_with_stat(zk, base):
    for name in ["b", "a", "c"]:
        zk.create(base + "/" + name, name.encode())
    assert sorted(zk.get_children(base)) == ["a", "b", "c"]
    children, st = zk.get_children(base, include_data=True)
    assert sorted(children) == ["a", "b", "c"]
    assert st == zk.exists(base)
    assert st.numChildren == 3
    assert zk.get_children(base + "/a") == []
    with pytest.raises(NoNodeError):
        zk.get_children(base + "/missing")


def test_get_children_of_root_lists_zookeeper(zk):
    assert "zookeeper" in zk.get_children("/")
    assert sorted(zk.get_children("/zookeeper")) == ["config", "quota"]


# ---- sync -----------------------------------------------------------------------------------

def test_sync(zk, connect, base):
    assert zk.sync(base) == base
    assert zk.sync(base + "/does-not-exist") == base + "/does-not-exist"
    other = connect()
    other.create(base + "/w", b"x")
    zk.sync(base + "/w")
    assert zk.get(base + "/w")[0] == b"x"


# ---- transactions (multi) -------------------------------------------------------------------

def test_transaction_all_ok(zk, base):
    zk.create(base + "/old", b"")
    t = zk.transaction()
    t.create(base + "/a", b"1")
    t.create(base + "/a/b", b"2")  # sees the create before it
    t.set_data(base + "/a", b"3")
    t.check(base + "/a", 1)  # sees the set before it
    t.delete(base + "/old")
    res = t.commit()
    assert res[0] == base + "/a" and res[1] == base + "/a/b"
    assert res[2].version == 1 and res[3] is True and res[4] is True
    data, st = zk.get(base + "/a")
    assert data == b"3" and st.version == 1
    # one transaction, one zxid
    assert st.czxid == st.mzxid == res[2].mzxid == zk.exists(base + "/a/b").czxid
    assert zk.exists(base + "/old") is None
    assert zk.exists(base).pzxid == st.czxid


def test_transaction_failing_op_applies_nothing(zk, base):
    zk.create(base + "/keep", b"orig")
    t = zk.transaction()
    t.create(base + "/x", b"")
    t.set_data(base + "/keep", b"changed")
    t.set_data(base + "/missing", b"")
    t.create(base + "/y", b"")
    res = t.commit()
    assert len(res) == 4
    assert isinstance(res[0], RolledBackError) and res[0].code == 0
    assert isinstance(res[1], RolledBackError)
    assert isinstance(res[2], NoNodeError) and res[2].code == -101
    assert isinstance(res[3], RuntimeInconsistency) and res[3].code == -2
    assert zk.exists(base + "/x") is None and zk.exists(base + "/y") is None
    assert zk.get(base + "/keep")[0] == b"orig"
    assert zk.exists(base + "/keep").version == 0


def test_transaction_check_op(zk, base):
    zk.create(base + "/c", b"")
    zk.set(base + "/c", b"1")
    t = zk.transaction()
    t.check(base + "/c", 0)
    t.create(base + "/never", b"")
    res = t.commit()
    assert isinstance(res[0], BadVersionError) and res[0].code == -103
    assert isinstance(res[1], RuntimeInconsistency)
    assert zk.exists(base + "/never") is None
    t = zk.transaction()
    t.check(base + "/c", 1)
    t.create(base + "/now", b"")
    assert t.commit() == [True, base + "/now"]
    t = zk.transaction()
    t.check(base + "/missing", -1)
    assert isinstance(t.commit()[0], NoNodeError)


def test_transaction_errors_inside(zk, base):
    zk.create(base + "/full/child", makepath=True)
    t = zk.transaction()
    t.delete(base + "/full")
    res = t.commit()
    assert isinstance(res[0], NotEmptyError)
    t = zk.transaction()
    t.create(base + "/full", b"")
    res = t.commit()
    assert isinstance(res[0], NodeExistsError)
    t = zk.transaction()
    t.delete(base + "/full/child", version=5)
    assert isinstance(t.commit()[0], BadVersionError)
    assert zk.exists(base + "/full/child") is not None


def test_transaction_sequential_creates(zk, base):
    t = zk.transaction()
    t.create(base + "/s-", b"", sequence=True)
    t.create(base + "/s-", b"", sequence=True)
    t.create(base + "/e-", b"", ephemeral=True, sequence=True)
    res = t.commit()
    assert res == [base + "/s-0000000000", base + "/s-0000000001", base + "/e-0000000002"]
    assert zk.exists(res[2]).ephemeralOwner == zk.client_id[0]


# ---- auth / version -------------------------------------------------------------------------

def test_add_auth(zk, base):
    zk.add_auth("digest", "alice:secret")
    zk.create(base + "/mine", b"", acl=[make_acl("auth", "", all=True)])
    acls, _ = zk.get_acls(base + "/mine")
    assert [(a.perms, a.id.scheme, a.id.id) for a in acls] == \
        [(31, "digest", make_digest_acl_credential("alice", "secret"))]


def test_server_version_matches_srvr(zk):
    version = zk.server_version()
    srvr = zk.command(b"srvr")
    m = re.match(r"Zookeeper version: (\d+)\.(\d+)\.(\d+)", srvr)
    assert m, srvr
    assert version == tuple(int(x) for x in m.groups())
    assert version[0] == 3
    assert version[1] >= (9 if TARGET == "zkr" else 8)
