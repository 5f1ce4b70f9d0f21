"""Stat fields exactly: zxids, versions, counts, owner, times; and the special nodes of a fresh
server (/, /zookeeper, /zookeeper/quota, /zookeeper/config)."""

import pytest
from kazoo.exceptions import BadArgumentsError, NoAuthError
from kazoo.protocol.serialization import Close, Create
from kazoo.security import OPEN_ACL_UNSAFE, READ_ACL_UNSAFE, make_acl

from servers import four_letter


def test_fresh_server_special_nodes(fresh_server, connect):
    zk = connect(fresh_server)
    assert zk.get_children("/") == ["zookeeper"]
    data, root = zk.get("/")
    assert data == b""
    assert root._asdict() == dict(czxid=0, mzxid=0, ctime=0, mtime=0, version=0, cversion=-1,
                                  aversion=0, ephemeralOwner=0, dataLength=0, numChildren=1,
                                  pzxid=0)
    data, zkn = zk.get("/zookeeper")
    assert data == b""
    assert zkn._asdict() == dict(czxid=0, mzxid=0, ctime=0, mtime=0, version=0, cversion=-2,
                                 aversion=0, ephemeralOwner=0, dataLength=0, numChildren=2,
                                 pzxid=0)
    assert sorted(zk.get_children("/zookeeper")) == ["config", "quota"]
    data, quota = zk.get("/zookeeper/quota")
    assert data == b""
    assert quota._asdict() == dict(czxid=0, mzxid=0, ctime=0, mtime=0, version=0, cversion=0,
                                   aversion=0, ephemeralOwner=0, dataLength=0, numChildren=0,
                                   pzxid=0)
    data, config = zk.get("/zookeeper/config")
    assert data == b""  # standalone
    assert config._asdict() == dict(czxid=0, mzxid=0, ctime=0, mtime=0, version=0, cversion=0,
                                    aversion=-1, ephemeralOwner=0, dataLength=0, numChildren=0,
                                    pzxid=0)
    assert zk.get_acls("/")[0] == OPEN_ACL_UNSAFE
    assert zk.get_acls("/zookeeper")[0] == OPEN_ACL_UNSAFE
    assert zk.get_acls("/zookeeper/quota")[0] == OPEN_ACL_UNSAFE
    assert zk.get_acls("/zookeeper/config")[0] == READ_ACL_UNSAFE
    # srvr counts the root twice, as Apache does
    assert "Node count: 5\n" in four_letter(fresh_server.port, "srvr")


def test_root_cversion_and_pzxid_move_with_children(fresh_server, connect):
    zk = connect(fresh_server)
    zk.create("/a")
    z1 = zk.last_zxid
    root = zk.exists("/")
    assert (root.cversion, root.numChildren, root.pzxid) == (0, 2, z1)
    assert (root.mzxid, root.version) == (0, 0)
    zk.delete("/a")
    z2 = zk.last_zxid
    root = zk.exists("/")
    assert (root.cversion, root.numChildren, root.pzxid) == (1, 1, z2)
    assert "Node count: 5\n" in four_letter(fresh_server.port, "srvr")
    # /zookeeper is world-writable: children may be added under it
    zk.create("/zookeeper/extra")
    st = zk.exists("/zookeeper")
    assert (st.cversion, st.numChildren) == (-1, 3)


def test_special_nodes_cannot_be_deleted_and_config_is_read_only(zk):
    for p in ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"]:
        with pytest.raises(BadArgumentsError) as e:
            zk.delete(p)
        assert e.value.code == -8
    with pytest.raises(NoAuthError):
        zk.set("/zookeeper/config", b"x")
    assert zk.exists("/zookeeper/config").version == 0


def test_set_data_on_root_is_allowed(fresh_server, connect):
    zk = connect(fresh_server)
    st = zk.set("/", b"rootdata")
    assert st.version == 1 and st.dataLength == 8 and st.mzxid == zk.last_zxid
    assert st.czxid == 0 and st.pzxid == 0 and st.cversion == -1


def test_parent_stat_on_child_create_and_delete(zk, base):
    p0 = zk.exists(base)
    zk.create(base + "/c1", b"x")
    c1 = zk.exists(base + "/c1")
    p1 = zk.exists(base)
    assert p1.pzxid == c1.czxid > p0.pzxid
    assert (p1.cversion, p1.numChildren) == (p0.cversion + 1, p0.numChildren + 1)
    # the parent's data stats do not move
    assert (p1.mzxid, p1.mtime, p1.version, p1.aversion, p1.ctime, p1.czxid) == \
        (p0.mzxid, p0.mtime, p0.version, p0.aversion, p0.ctime, p0.czxid)
    zk.create(base + "/c2")
    zk.delete(base + "/c1")
    zdel = zk.last_zxid
    p2 = zk.exists(base)
    assert p2.pzxid == zdel > c1.czxid
    # cversion counts child creates and deletes
    assert (p2.cversion, p2.numChildren) == (p0.cversion + 3, 1)
    assert p2.mzxid == p0.mzxid and p2.version == 0


def test_grandchild_changes_do_not_touch_grandparent(zk, base):
    zk.create(base + "/c")
    before = zk.exists(base)
    zk.create(base + "/c/g")
    zk.set(base + "/c/g", b"data")
    zk.delete(base + "/c/g")
    assert zk.exists(base) == before


def test_set_data_changes_only_data_fields(zk, base):
    _, s0 = zk.create(base + "/n", b"abc", include_data=True)
    zk.create(base + "/n/child")
    s0 = zk.exists(base + "/n")
    s1 = zk.set(base + "/n", b"defgh")
    assert s1.version == s0.version + 1
    assert s1.mzxid == zk.last_zxid > s0.mzxid
    assert s1.mtime >= s0.mtime and s1.ctime == s0.ctime
    assert s1.dataLength == 5
    assert (s1.czxid, s1.pzxid, s1.cversion, s1.aversion, s1.numChildren, s1.ephemeralOwner) \
        == (s0.czxid, s0.pzxid, s0.cversion, s0.aversion, s0.numChildren, s0.ephemeralOwner)
    s2 = zk.set(base + "/n", b"")
    assert s2.version == 2 and s2.dataLength == 0


def test_set_acl_changes_only_aversion(zk, base):
    _, s0 = zk.create(base + "/n", b"abc", include_data=True)
    s1 = zk.set_acls(base + "/n", [make_acl("world", "anyone", all=True)])
    assert s1.aversion == 1
    assert s1._replace(aversion=0) == s0
    s2 = zk.set_acls(base + "/n", OPEN_ACL_UNSAFE)  # same ACL again still counts
    assert s2.aversion == 2


def test_reads_and_failed_writes_change_nothing(zk, base):
    zk.create(base + "/n", b"abc")
    s0 = zk.exists(base + "/n")
    zk.get(base + "/n")
    zk.get_children(base + "/n")
    zk.get_acls(base + "/n")
    zk.sync(base + "/n")
    t = zk.transaction()
    t.check(base + "/n", 0)
    t.set_data(base + "/n", b"x", version=7)
    t.commit()
    assert zk.exists(base + "/n") == s0
    assert zk.exists(base).numChildren == 1


def test_ephemeral_owner_is_session_id(connect, zk, base):
    other = connect()
    zk.create(base + "/mine", ephemeral=True)
    other.create(base + "/theirs", ephemeral=True)
    assert zk.client_id[0] != other.client_id[0]
    assert zk.exists(base + "/mine").ephemeralOwner == zk.client_id[0]
    assert zk.exists(base + "/theirs").ephemeralOwner == other.client_id[0]
    assert zk.exists(base).ephemeralOwner == 0


def test_multi_shares_one_zxid_and_time(zk, base):
    zk.create(base + "/x", b"")
    t = zk.transaction()
    t.create(base + "/a")
    t.create(base + "/b")
    t.set_data(base + "/x", b"new")
    res = t.commit()
    a, b, x = zk.exists(base + "/a"), zk.exists(base + "/b"), res[2]
    assert a.czxid == b.czxid == x.mzxid == zk.exists(base).pzxid
    assert a.ctime == b.ctime == x.mtime
    assert zk.exists(base).cversion == 3


def test_ctime_mtime_ordering(zk, base):
    _, s0 = zk.create(base + "/t", b"", include_data=True)
    zk.create(base + "/u")
    s1 = zk.set(base + "/t", b"1")
    u = zk.exists(base + "/u")
    assert s0.ctime <= u.ctime <= s1.mtime
    assert s0.czxid < u.czxid < s1.mzxid


def test_close_session_deletes_ephemerals_in_one_txn(wire, zk, base):
    zk.create(base + "/p")
    before = zk.exists(base + "/p")
    a = wire()
    for name in ("e1", "e2", "e3"):
        assert a.call(Create(base + "/p/" + name, b"", OPEN_ACL_UNSAFE, 1))[0] == 0
    assert a.call(Close())[0] == 0
    close_zxid = a.log[-1][2].zxid
    after = zk.exists(base + "/p")
    assert after.numChildren == 0
    assert after.cversion == before.cversion + 6  # three creates, three deletes
    assert after.pzxid == close_zxid  # all three deletions carry the closeSession zxid
    assert after.mzxid == before.mzxid and after.version == before.version
