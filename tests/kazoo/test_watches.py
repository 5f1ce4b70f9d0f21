"""Standard (one-shot) watches: data, exists and child watches fire exactly once with the right
type and path; delete notifies each connection once; a client sees the event before it can
read the new data."""

import pytest
from kazoo.exceptions import NoNodeError
from kazoo.protocol.serialization import Exists, GetChildren, GetData, SetData
from kazoo.protocol.states import EventType, KeeperState

from util import Recorder, fence
from wire import CHANGED, CHILD, CREATED, DELETED


def one_event(rec, client, etype, path):
    """The recorder got exactly one event (checked after a fence), of this type and path."""
    rec.wait(1)
    fence(client)
    assert [(e.type, e.path) for e in rec.events] == [(etype, path)]
    assert rec.events[0].state == KeeperState.CONNECTED


def test_data_watch_fires_once_on_change(zk, connect, base):
    zk.create(base + "/n", b"a")
    w = connect()
    rec = Recorder()
    assert zk.get(base + "/n", watch=rec)[0] == b"a"
    w.set(base + "/n", b"b")
    w.set(base + "/n", b"c")  # the watch is gone after the first event
    one_event(rec, zk, EventType.CHANGED, base + "/n")


def test_exists_watch_on_missing_node_fires_on_create(zk, connect, base):
    rec = Recorder()
    assert zk.exists(base + "/later", watch=rec) is None
    w = connect()
    w.create(base + "/later", b"")
    w.set(base + "/later", b"x")
    one_event(rec, zk, EventType.CREATED, base + "/later")


def test_exists_watch_on_existing_node(zk, connect, base):
    zk.create(base + "/n", b"")
    w = connect()
    rec = Recorder()
    assert zk.exists(base + "/n", watch=rec) is not None
    w.set(base + "/n", b"1")
    one_event(rec, zk, EventType.CHANGED, base + "/n")
    rec2 = Recorder()
    zk.exists(base + "/n", watch=rec2)
    w.delete(base + "/n")
    w.create(base + "/n")
    one_event(rec2, zk, EventType.DELETED, base + "/n")


def test_child_watch_fires_once_on_create_and_on_delete(zk, connect, base):
    w = connect()
    rec = Recorder()
    assert zk.get_children(base, watch=rec) == []
    w.create(base + "/c1", b"")
    w.create(base + "/c2", b"")
    one_event(rec, zk, EventType.CHILD, base)
    rec2 = Recorder()
    assert sorted(zk.get_children(base, watch=rec2)) == ["c1", "c2"]
    w.set(base + "/c1", b"data")  # data changes of children do not fire child watches
    w.create(base + "/c1/grandchild")  # nor do grandchildren
    w.delete(base + "/c1/grandchild")
    w.delete(base + "/c2")
    one_event(rec2, zk, EventType.CHILD, base)


def test_child_watch_on_root_reports_slash(zk, connect, base):
    rec = Recorder()
    zk.get_children("/", watch=rec)
    connect().create(base + "_rootchild")
    one_event(rec, zk, EventType.CHILD, "/")


def test_data_watch_not_fired_by_child_changes_or_set_acl(zk, connect, base):
    zk.create(base + "/n", b"")
    w = connect()
    rec = Recorder()
    zk.get(base + "/n", watch=rec)
    w.create(base + "/n/child")
    w.set_acls(base + "/n", [a for a in w.get_acls(base + "/n")[0]])
    fence(zk)
    assert rec.events == []
    w.set(base + "/n", b"now")  # the watch is still set
    one_event(rec, zk, EventType.CHANGED, base + "/n")


def test_child_watch_not_fired_by_set_acl(zk, connect, base):
    rec = Recorder()
    zk.get_children(base, watch=rec)
    connect().set_acls(base, zk.get_acls(base)[0])
    fence(zk)
    assert rec.events == []


def test_delete_fires_data_and_child_watchers(zk, connect, base):
    zk.create(base + "/n", b"")
    data_rec, child_rec, exists_rec = Recorder(), Recorder(), Recorder()
    zk.get(base + "/n", watch=data_rec)
    zk.get_children(base + "/n", watch=child_rec)
    other = connect()
    other_rec = Recorder()
    other.exists(base + "/n", watch=exists_rec)
    other.get_children(base + "/n", watch=other_rec)
    connect().delete(base + "/n")
    one_event(data_rec, zk, EventType.DELETED, base + "/n")
    one_event(child_rec, zk, EventType.DELETED, base + "/n")
    one_event(exists_rec, other, EventType.DELETED, base + "/n")
    one_event(other_rec, other, EventType.DELETED, base + "/n")


def test_failed_reads_set_no_watch(zk, connect, base):
    rec_data, rec_child = Recorder(), Recorder()
    with pytest.raises(NoNodeError):
        zk.get(base + "/missing", watch=rec_data)
    with pytest.raises(NoNodeError):
        zk.get_children(base + "/missing", watch=rec_child)
    connect().create(base + "/missing/child", makepath=True)
    fence(zk)
    assert rec_data.events == [] and rec_child.events == []


def test_own_write_fires_own_watch(zk, base):
    zk.create(base + "/n", b"")
    rec = Recorder()
    zk.get(base + "/n", watch=rec)
    zk.set(base + "/n", b"mine")
    one_event(rec, zk, EventType.CHANGED, base + "/n")


def test_ephemeral_removal_on_close_fires_watches(zk, connect, base):
    owner = connect(timeout=30.0)
    owner.create(base + "/e", ephemeral=True)
    rec, parent_rec = Recorder(), Recorder()
    zk.exists(base + "/e", watch=rec)
    zk.get_children(base, watch=parent_rec)
    owner.stop()
    rec.wait(1, timeout=10)
    one_event(rec, zk, EventType.DELETED, base + "/e")
    one_event(parent_rec, zk, EventType.CHILD, base)


# ---- wire level: one event per connection, and order -------------------------------------

def test_delete_notifies_a_connection_once(wire, connect, base):
    zk = connect()
    zk.create(base + "/n", b"")
    a, b = wire(), wire()
    for c in (a, b):
        assert c.call(GetData(base + "/n", True))[0] == 0
        assert c.call(GetChildren(base + "/n", True))[0] == 0
        assert c.call(Exists(base + "/n", True))[0] == 0
    zk.delete(base + "/n")
    for c in (a, b):
        c.call(Exists(base + "/unrelated", False))  # all earlier events precede this reply
        assert [(e.type, e.path, e.state) for e in c.events] == [(DELETED, base + "/n", 3)]


def test_delete_with_parent_child_watch_gives_two_events(wire, connect, base):
    zk = connect()
    zk.create(base + "/n", b"")
    a = wire()
    a.call(GetData(base + "/n", True))
    a.call(GetChildren(base, True))
    zk.delete(base + "/n")
    a.call(Exists(base, False))
    assert sorted((e.type, e.path) for e in a.events) == \
        sorted([(DELETED, base + "/n"), (CHILD, base)])


def test_event_precedes_reply_to_own_write(wire, connect, base):
    connect().create(base + "/n", b"old")
    a = wire()
    a.call(GetData(base + "/n", True))
    xid = a.send(SetData(base + "/n", b"new", -1))
    a.wait_reply(xid)
    kinds = [entry[0] for entry in a.log]
    ev_index = kinds.index("event")
    reply_index = [i for i, e in enumerate(a.log) if e[0] == "reply" and e[1] == xid][0]
    assert ev_index < reply_index
    assert a.log[ev_index][1].type == CHANGED and a.log[ev_index][1].path == base + "/n"


def test_event_precedes_new_data_from_other_writer(wire, connect, base):
    zk = connect()
    zk.create(base + "/n", b"old")
    a = wire()
    a.call(GetData(base + "/n", True))
    zk.set(base + "/n", b"new")
    xid = a.send(GetData(base + "/n", False))
    header, payload, off = a.wait_reply(xid)
    assert header.err == 0
    data, _ = GetData.deserialize(payload, off)
    assert data == b"new"
    assert [(e.type, e.path) for e in a.events] == [(CHANGED, base + "/n")]


def test_events_arrive_in_zxid_order(wire, connect, base):
    zk = connect()
    for name in "abcd":
        zk.create(base + "/" + name, b"")
    a = wire()
    for name in "abcd":
        a.call(GetData(base + "/" + name, True))
    a.call(Exists(base + "/new", True))
    a.call(GetChildren(base, True))
    zk.set(base + "/c", b"1")
    zk.delete(base + "/a")
    zk.set(base + "/d", b"1")
    zk.create(base + "/new")
    zk.set(base + "/b", b"1")
    a.call(Exists(base, False))
    assert [(e.type, e.path) for e in a.events] == [
        (CHANGED, base + "/c"), (DELETED, base + "/a"), (CHILD, base),
        (CHANGED, base + "/d"), (CREATED, base + "/new"), (CHANGED, base + "/b")]
