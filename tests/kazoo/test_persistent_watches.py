"""Persistent and persistent-recursive watches (addWatch, opcode 106). kazoo 2.10.0 has no
add_watch (it came in a later release), so the watching connection is a WireClient built on
kazoo's protocol classes plus an AddWatch record; the changes are made with kazoo."""

from kazoo.protocol.serialization import Create, Exists, GetChildren, GetData, SetData
from kazoo.security import OPEN_ACL_UNSAFE

from util import zkr_only
from wire import CHANGED, CHILD, CREATED, DELETED, AddWatch, RemoveWatches

PERSISTENT, RECURSIVE = 0, 1


def settle(w, base):
    """Every event for changes already applied arrives before this reply."""
    assert w.call(Exists(base + "/__settle__", False))[0] == -101
    return [(e.type, e.path) for e in w.events]


def test_add_watch_reply(wire, base):
    w = wire()
    assert w.call(AddWatch(base + "/x", PERSISTENT)) == (0, b"\x00\x00\x00\x00")
    assert w.call(AddWatch(base + "/x", RECURSIVE)) == (0, b"\x00\x00\x00\x00")
    assert w.call(AddWatch(base + "/x", 7))[0] == -5  # MarshallingError
    w.ping()  # the connection is still usable


def test_persistent_watch_fires_every_time(wire, zk, base):
    w = wire()
    p = base + "/p"
    assert w.call(AddWatch(p, PERSISTENT))[0] == 0
    zk.create(p, b"")
    zk.set(p, b"1")
    zk.set(p, b"2")
    zk.create(p + "/c")
    zk.set(p + "/c", b"child data")  # not watched
    zk.create(p + "/c/g")  # grandchild: not watched by a non-recursive watch
    zk.delete(p + "/c/g")
    zk.delete(p + "/c")
    zk.set_acls(p, OPEN_ACL_UNSAFE)  # setACL fires nothing
    zk.delete(p)
    zk.create(p, b"")  # still registered after the delete
    assert settle(w, base) == [(CREATED, p), (CHANGED, p), (CHANGED, p), (CHILD, p), (CHILD, p),
                               (DELETED, p), (CREATED, p)]
    assert all(e.state == 3 for e in w.events)


def test_recursive_watch_covers_descendants_without_child_events(wire, zk, base):
    w = wire()
    r = base + "/r"
    assert w.call(AddWatch(r, RECURSIVE))[0] == 0
    zk.create(r)
    zk.create(r + "/a")
    zk.create(r + "/a/b", b"")
    zk.set(r + "/a/b", b"x")
    zk.set(r, b"y")
    zk.create(base + "/rx")  # a sibling sharing the prefix "r" is not a descendant
    zk.create(base + "/rx/y")
    zk.delete(r + "/a/b")
    zk.delete(r + "/a")
    zk.delete(r)
    zk.create(r + "/late", makepath=True)
    assert settle(w, base) == [
        (CREATED, r), (CREATED, r + "/a"), (CREATED, r + "/a/b"), (CHANGED, r + "/a/b"),
        (CHANGED, r), (DELETED, r + "/a/b"), (DELETED, r + "/a"), (DELETED, r),
        (CREATED, r), (CREATED, r + "/late")]
    assert CHILD not in [e.type for e in w.events]


def test_recursive_watch_on_root(fresh_server, wire, connect):
    zk = connect(fresh_server)
    w = wire(fresh_server)
    assert w.call(AddWatch("/", RECURSIVE))[0] == 0
    zk.create("/a")
    zk.create("/a/b", b"")
    zk.set("/", b"root")
    zk.set("/zookeeper/quota", b"q")
    zk.delete("/a/b")
    assert settle(w, "") == [(CREATED, "/a"), (CREATED, "/a/b"), (CHANGED, "/"),
                             (CHANGED, "/zookeeper/quota"), (DELETED, "/a/b")]


@zkr_only("3.9 keeps a standard and a persistent watch of one connection on the same path "
          "side by side (ZOOKEEPER-4466); in 3.8 the later registration replaces the mode")
def test_persistent_and_standard_watch_give_one_event(wire, zk, base):
    p = base + "/n"
    zk.create(p, b"")
    w = wire()
    assert w.call(AddWatch(p, PERSISTENT))[0] == 0
    assert w.call(GetData(p, True))[0] == 0
    assert w.call(GetChildren(p, True))[0] == 0
    zk.set(p, b"1")  # data table: the standard watch is consumed, one event
    zk.set(p, b"2")  # only the persistent watch is left
    zk.create(p + "/c")  # child table: one event
    zk.create(p + "/d")
    assert settle(w, base) == [(CHANGED, p), (CHANGED, p), (CHILD, p), (CHILD, p)]


def test_recursive_on_ancestor_and_standard_watches(wire, zk, base):
    r = base + "/r"
    zk.create(r + "/a", makepath=True)
    w = wire()
    assert w.call(AddWatch(r, RECURSIVE))[0] == 0
    assert w.call(GetData(r + "/a", True))[0] == 0
    assert w.call(GetChildren(r + "/a", True))[0] == 0
    zk.set(r + "/a", b"1")  # one data event for both the standard and the recursive watch
    zk.create(r + "/a/x")  # child table (standard) and data table (recursive)
    events = settle(w, base)
    assert events[0] == (CHANGED, r + "/a")
    assert sorted(events[1:]) == sorted([(CHILD, r + "/a"), (CREATED, r + "/a/x")])


def test_persistent_watch_on_multi(wire, zk, base):
    r = base + "/m"
    zk.create(r)
    w = wire()
    assert w.call(AddWatch(r, RECURSIVE))[0] == 0
    t = zk.transaction()
    t.create(r + "/a")
    t.create(r + "/b")
    t.set_data(r + "/a", b"x")
    t.delete(r + "/b")
    t.commit()
    assert settle(w, base) == [(CREATED, r + "/a"), (CREATED, r + "/b"), (CHANGED, r + "/a"),
                               (DELETED, r + "/b")]


def test_own_writes_fire_own_persistent_watch_before_reply(wire, base):
    w = wire()
    p = base + "/own"
    assert w.call(AddWatch(p, PERSISTENT))[0] == 0
    xid = w.send(Create(p, b"", OPEN_ACL_UNSAFE, 0))
    w.wait_reply(xid)
    xid2 = w.send(SetData(p, b"1", -1))
    w.wait_reply(xid2)
    kinds = [(e[0], e[1] if e[0] == "reply" else e[1].type) for e in w.log[-4:]]
    assert kinds == [("event", CREATED), ("reply", xid), ("event", CHANGED), ("reply", xid2)]


def test_remove_watches_any_removes_persistent_watches(wire, zk, base):
    p, r = base + "/p", base + "/r"
    w = wire()
    assert w.call(AddWatch(p, PERSISTENT))[0] == 0
    assert w.call(AddWatch(r, RECURSIVE))[0] == 0
    assert w.call(RemoveWatches(p, 3))[0] == 0
    assert w.call(RemoveWatches(r, 3))[0] == 0
    assert w.call(RemoveWatches(r, 3))[0] == -121  # NoWatcher
    zk.create(p)
    zk.create(r)
    zk.create(r + "/c")
    assert settle(w, base) == []


@zkr_only("removeWatches types Persistent (4) / PersistentRecursive (5) exist from 3.9")
def test_remove_watches_by_persistent_types(wire, zk, base):
    p, r = base + "/p", base + "/r"
    w = wire()
    assert w.call(AddWatch(p, PERSISTENT))[0] == 0
    assert w.call(AddWatch(r, RECURSIVE))[0] == 0
    assert w.call(RemoveWatches(p, 5))[0] == -121  # not a recursive watch
    assert w.call(RemoveWatches(p, 4))[0] == 0
    assert w.call(RemoveWatches(r, 5))[0] == 0
    zk.create(p)
    zk.create(r)
    assert settle(w, base) == []


@zkr_only("the notification header zxid is the txn's zxid from 3.9; 3.8 sends -1")
def test_notification_zxid_is_txn_zxid(wire, zk, base):
    w = wire()
    assert w.call(AddWatch(base + "/z", PERSISTENT))[0] == 0
    _, st = zk.create(base + "/z", b"", include_data=True)
    st2 = zk.set(base + "/z", b"1")
    settle(w, base)
    assert [e.zxid for e in w.events] == [st.czxid, st2.mzxid]
