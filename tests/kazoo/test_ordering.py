"""Ordering guarantees clients rely on: per-session FIFO with pipelined requests (reads see the
session's earlier writes), writes of one client visible to the next read of another once
acknowledged, and notifications in order with replies."""

from kazoo.protocol.serialization import GetData, SetData



def test_pipelined_reads_see_earlier_writes_of_the_session(zk, base):
    pending = []
    for i in range(100):
        p = "%s/n%03d" % (base, i)
        pending.append(("create", p, zk.create_async(p, b"v0")))
        pending.append(("set", p, zk.set_async(p, b"v1")))
        pending.append(("get", p, zk.get_async(p)))
        pending.append(("children", p, zk.get_children_async(base)))
        pending.append(("delete", p, zk.delete_async(p) if i % 2 else zk.exists_async(p)))
    for i in range(100):
        kinds = pending[5 * i:5 * i + 5]
        p = kinds[0][1]
        assert kinds[0][2].get(timeout=30) == p
        assert kinds[1][2].get(timeout=30).version == 1
        data, st = kinds[2][2].get(timeout=30)
        assert (data, st.version) == (b"v1", 1)
        assert p.rsplit("/", 1)[1] in kinds[3][2].get(timeout=30)
        last = kinds[4][2].get(timeout=30)
        if i % 2 == 0:
            assert last.version == 1
    assert len(zk.get_children(base)) == 50


def test_acknowledged_write_is_visible_to_another_client(zk, connect, base):
    other = connect()
    zk.create(base + "/n", b"0")
    for i in range(1, 51):
        zk.set(base + "/n", str(i).encode())
        assert other.get(base + "/n")[0] == str(i).encode()
        other.set(base + "/n", b"x%d" % i)
        assert zk.get(base + "/n")[0] == b"x%d" % i


def test_async_sets_apply_in_order(zk, base):
    zk.create(base + "/n", b"")
    results = [zk.set_async(base + "/n", str(i).encode()) for i in range(200)]
    versions = [r.get(timeout=30).version for r in results]
    assert versions == list(range(1, 201))
    assert zk.get(base + "/n")[0] == b"199"


def test_interleaved_replies_and_events_on_the_wire(wire, connect, base):
    """Pipeline 50 getData(watch) + setData pairs on one connection: every reply comes back in
    request order, and each setData's event (for the watch the getData before it set) arrives
    after that getData's reply and right before the setData's own reply."""
    zk = connect()
    zk.create(base + "/n", b"0")
    a = wire()
    xids = []
    for i in range(50):
        xids.append(a.send(GetData(base + "/n", True)))
        xids.append(a.send(SetData(base + "/n", b"%d" % i, -1)))
    replies = []
    for x in xids:
        header, payload, off = a.wait_reply(x)
        assert header.err == 0
        replies.append(x)
    assert replies == xids
    # each setData fires the watch set by the getData just before it, before its own reply
    order = [e for e in a.log if e[0] == "event" or e[1] in xids]
    for i in range(50):
        get_i = order.index(next(e for e in order if e[0] == "reply" and e[1] == xids[2 * i]))
        set_i = order.index(next(e for e in order if e[0] == "reply" and e[1] == xids[2 * i + 1]))
        assert order[set_i - 1][0] == "event" and set_i - 1 > get_i
    assert len(a.events) == 50
