"""ACLs: the world, auth, digest, ip and super schemes; the permission each operation checks
(and on which node); getACL redaction; InvalidACL; auth failures."""

import pytest
from kazoo.exceptions import AuthFailedError, InvalidACLError, NoAuthError, NoNodeError
from kazoo.protocol.serialization import Auth, Create, GetData
from kazoo.protocol.states import EventType
from kazoo.security import (
    ACL,
    OPEN_ACL_UNSAFE,
    READ_ACL_UNSAFE,
    Id,
    make_acl,
    make_digest_acl,
    make_digest_acl_credential,
)

from util import Recorder, fence, raw_call, wait_until, zkr_only
from wire import AUTH_XID

ALICE = ("alice", "secret")
BOB = ("bob", "hunter2")


def alice_acl(**perms):
    return make_digest_acl(*ALICE, **perms)


def world(**perms):
    return make_acl("world", "anyone", **perms)


def everything_but(perm):
    return world(**{p: True for p in ["read", "write", "create", "delete", "admin"]
                    if p != perm})


@pytest.fixture
def alice(connect):
    c = connect()
    c.add_auth("digest", "%s:%s" % ALICE)
    return c


@pytest.fixture
def superuser(connect):
    c = connect()
    c.add_auth("digest", "super:test")
    return c


# ---- schemes --------------------------------------------------------------------------------

def test_world_read_only(zk, connect, base):
    zk.create(base + "/ro", b"v", acl=READ_ACL_UNSAFE)
    other = connect()
    assert other.get(base + "/ro")[0] == b"v"
    assert other.get_children(base + "/ro") == []
    with pytest.raises(NoAuthError) as e:
        other.set(base + "/ro", b"x")
    assert e.value.code == -102
    with pytest.raises(NoAuthError):
        other.create(base + "/ro/child")
    with pytest.raises(NoAuthError):
        other.set_acls(base + "/ro", OPEN_ACL_UNSAFE)
    assert other.get_acls(base + "/ro")[0] == READ_ACL_UNSAFE


def test_digest_scheme(zk, alice, connect, base):
    alice.create(base + "/d", b"secret data", acl=[alice_acl(all=True)])
    anon = connect()
    for op in (lambda c: c.get(base + "/d"),
               lambda c: c.get_children(base + "/d"),
               lambda c: c.set(base + "/d", b"x"),
               lambda c: c.create(base + "/d/c"),
               lambda c: c.set_acls(base + "/d", OPEN_ACL_UNSAFE),
               lambda c: c.get_acls(base + "/d")):
        with pytest.raises(NoAuthError):
            op(anon)
    bob = connect()
    bob.add_auth("digest", "alice:wrong-password")  # digest auth itself never fails
    with pytest.raises(NoAuthError):
        bob.get(base + "/d")
    assert alice.get(base + "/d")[0] == b"secret data"
    alice.create(base + "/d/c")
    alice.set(base + "/d", b"new")
    acls, _ = alice.get_acls(base + "/d")
    assert acls == [ACL(31, Id("digest", make_digest_acl_credential(*ALICE)))]
    alice.delete(base + "/d/c")


def test_auth_scheme_expands_to_authenticated_identities(connect, base):
    c = connect()
    with pytest.raises(InvalidACLError) as e:  # no authenticated identity yet
        c.create(base + "/a", acl=[make_acl("auth", "", all=True)])
    assert e.value.code == -114
    c.add_auth("digest", "%s:%s" % ALICE)
    c.add_auth("digest", "%s:%s" % BOB)
    c.create(base + "/a", acl=[make_acl("auth", "ignored", read=True, admin=True)])
    acls, _ = c.get_acls(base + "/a")
    assert sorted((a.perms, a.id.scheme, a.id.id) for a in acls) == sorted([
        (17, "digest", make_digest_acl_credential(*ALICE)),
        (17, "digest", make_digest_acl_credential(*BOB))])
    # the expansion is what is stored: a client with only bob's identity can read
    bob = connect()
    bob.add_auth("digest", "%s:%s" % BOB)
    assert bob.get(base + "/a")[0] == b""
    with pytest.raises(NoAuthError):
        connect().get(base + "/a")


def test_creator_all_acl_via_set_acls(alice, base):
    alice.create(base + "/n")
    alice.set_acls(base + "/n", [make_acl("auth", "", all=True)])
    acls, st = alice.get_acls(base + "/n")
    assert acls == [ACL(31, Id("digest", make_digest_acl_credential(*ALICE)))]
    assert st.aversion == 1


@pytest.mark.parametrize("ip_id,allowed", [
    ("127.0.0.1", True),
    ("127.0.0.1/32", True),
    ("127.0.0.0/8", True),
    ("127.0.0.0/24", True),
    ("0.0.0.0/0", True),
    ("10.0.0.0/8", False),
    ("127.0.0.2", False),
    ("10.1.2.3", False),
])
def test_ip_scheme(zk, connect, base, ip_id, allowed):
    zk.create(base + "/ip", b"v", acl=[make_acl("ip", ip_id, read=True)])
    other = connect()  # connects from 127.0.0.1
    if allowed:
        assert other.get(base + "/ip")[0] == b"v"
    else:
        with pytest.raises(NoAuthError):
            other.get(base + "/ip")
    # READ was the only permission granted, whatever the address
    with pytest.raises(NoAuthError):
        other.set(base + "/ip", b"x")


def test_ip_and_digest_entries_combine(zk, alice, connect, base):
    acl = [make_acl("ip", "10.0.0.0/8", all=True), alice_acl(read=True),
           make_acl("ip", "127.0.0.1", write=True)]
    zk.create(base + "/mix", b"v", acl=acl)
    anon = connect()
    with pytest.raises(NoAuthError):
        anon.get(base + "/mix")
    anon.set(base + "/mix", b"w")  # write granted by ip 127.0.0.1
    assert alice.get(base + "/mix")[0] == b"w"  # read granted by digest


def test_super_digest_bypasses_every_check(alice, superuser, base):
    alice.create(base + "/locked", b"v", acl=[alice_acl(read=True)])
    alice.create(base + "/nothing", b"v", acl=[alice_acl(all=True)])
    alice.set_acls(base + "/nothing", [make_acl("digest", "nobody:x", all=True)])
    for p in (base + "/locked", base + "/nothing"):
        assert superuser.get(p)[0] == b"v"
        superuser.set(p, b"super")
        superuser.create(p + "/child")
        assert superuser.get_children(p) == ["child"]
        superuser.delete(p + "/child")
    # super has ADMIN everywhere: nothing is redacted
    assert superuser.get_acls(base + "/locked")[0] == [alice_acl(read=True)]
    superuser.set_acls(base + "/locked", OPEN_ACL_UNSAFE)
    assert superuser.get_acls(base + "/locked")[0] == OPEN_ACL_UNSAFE
    superuser.delete(base + "/nothing")


def test_super_scheme_cannot_appear_in_acls(superuser, base):
    with pytest.raises(InvalidACLError):
        superuser.create(base + "/s", acl=[make_acl("super", "super:x", all=True)])


# ---- which permission each operation checks -------------------------------------------------

def test_create_needs_create_on_parent(zk, connect, base):
    zk.create(base + "/p", acl=[everything_but("create")])
    other = connect()
    with pytest.raises(NoAuthError):
        other.create(base + "/p/c")
    with pytest.raises(NoAuthError):
        other.create(base + "/p/c", ephemeral=True, sequence=True)
    zk.create(base + "/q", acl=[world(create=True)])
    # only CREATE on the parent is needed, and the child's own ACL does not matter
    assert other.create(base + "/q/c", acl=[make_acl("digest", "nobody:x", all=True)]) \
        == base + "/q/c"


def test_delete_needs_delete_on_parent_checked_before_existence(zk, connect, base):
    zk.create(base + "/p", acl=OPEN_ACL_UNSAFE)
    zk.create(base + "/p/c", acl=[world(read=True)])  # no DELETE on the child itself
    zk.set_acls(base + "/p", [everything_but("delete")])
    other = connect()
    with pytest.raises(NoAuthError):
        other.delete(base + "/p/c")
    with pytest.raises(NoAuthError):  # NoAuth, not NoNode: the parent's ACL comes first
        other.delete(base + "/p/missing")
    zk.set_acls(base + "/p", [world(delete=True)])
    other.delete(base + "/p/c")
    with pytest.raises(NoNodeError):
        other.delete(base + "/p/c")


def test_set_needs_write(zk, connect, base):
    zk.create(base + "/n", b"v", acl=[everything_but("write")])
    other = connect()
    with pytest.raises(NoAuthError):
        other.set(base + "/n", b"x")
    zk.create(base + "/w", b"v", acl=[world(write=True)])
    assert other.set(base + "/w", b"x").version == 1


def test_get_and_children_need_read(zk, connect, base):
    zk.create(base + "/n", b"v", acl=[everything_but("read")])
    other = connect()
    rec = Recorder()
    with pytest.raises(NoAuthError):
        other.get(base + "/n", watch=rec)
    with pytest.raises(NoAuthError):
        other.get_children(base + "/n", watch=rec)
    with pytest.raises(NoAuthError):
        other.get_children(base + "/n", include_data=True)
    # no watch was left behind by the refused reads
    zk.create(base + "/n/c")
    zk.set_acls(base + "/n", OPEN_ACL_UNSAFE)
    zk.set(base + "/n", b"changed")
    fence(other)
    assert rec.events == []


def test_set_acls_needs_admin(zk, connect, base):
    zk.create(base + "/n", acl=[everything_but("admin")])
    other = connect()
    with pytest.raises(NoAuthError):
        other.set_acls(base + "/n", OPEN_ACL_UNSAFE)
    zk.create(base + "/a", acl=[world(admin=True)])
    assert other.set_acls(base + "/a", [world(admin=True, read=True)]).aversion == 1


def test_get_acls_needs_read_or_admin(zk, connect, base):
    other = connect()
    zk.create(base + "/w", acl=[world(write=True, create=True, delete=True)])
    with pytest.raises(NoAuthError):
        other.get_acls(base + "/w")
    zk.create(base + "/r", acl=[world(read=True)])
    assert other.get_acls(base + "/r")[0] == [world(read=True)]
    zk.create(base + "/a", acl=[world(admin=True)])
    assert other.get_acls(base + "/a")[0] == [world(admin=True)]


def test_get_acls_redacts_digest_without_admin(alice, connect, base):
    cred = make_digest_acl_credential(*ALICE)
    alice.create(base + "/n", acl=[alice_acl(all=True), world(read=True)])
    anon_acls, _ = connect().get_acls(base + "/n")
    assert anon_acls == [ACL(31, Id("digest", "alice:x")), world(read=True)]
    assert alice.get_acls(base + "/n")[0] == [ACL(31, Id("digest", cred)), world(read=True)]
    # alice herself, without ADMIN on this node, sees the redacted form too
    alice.create(base + "/m", acl=[alice_acl(read=True, write=True)])
    assert alice.get_acls(base + "/m")[0] == [ACL(3, Id("digest", "alice:x"))]


def test_sync_and_exists_on_missing_need_no_permission(zk, connect, base):
    zk.create(base + "/n", acl=[make_acl("digest", "nobody:x", all=True)])
    other = connect()
    assert other.sync(base + "/n") == base + "/n"
    assert other.exists(base + "/n/missing") is None


@zkr_only("exists without READ on an existing node is NoAuth from 3.8.4/3.9.2; 3.8.0 "
          "returns the stat")
def test_exists_needs_read(zk, connect, base):
    zk.create(base + "/n", acl=[everything_but("read")])
    with pytest.raises(NoAuthError):
        connect().exists(base + "/n")


def test_multi_checks_each_op(zk, connect, base):
    zk.create(base + "/p", acl=[everything_but("create")])
    zk.create(base + "/r", acl=[everything_but("read")])
    zk.create(base + "/w", acl=[everything_but("write")])
    other = connect()
    t = other.transaction()
    t.create(base + "/ok")
    t.create(base + "/p/c")
    res = t.commit()
    assert isinstance(res[1], NoAuthError)
    t = other.transaction()
    t.check(base + "/r", -1)
    assert isinstance(t.commit()[0], NoAuthError)
    t = other.transaction()
    t.set_data(base + "/w", b"x")
    assert isinstance(t.commit()[0], NoAuthError)
    assert zk.exists(base + "/ok") is None


# ---- InvalidACL -----------------------------------------------------------------------------

BAD_ACLS = [
    [],
    [make_acl("world", "someone", all=True)],
    [make_acl("auth", "", all=True)],  # this client has no authenticated identity
    [make_acl("digest", "no-colon-here", all=True)],
    [make_acl("digest", "a:b:c", all=True)],
    [make_acl("ip", "999.1.1.1", all=True)],
    [make_acl("ip", "127.0.0.1/33", all=True)],
    [make_acl("ip", "1.2.3", all=True)],
    [make_acl("nosuchscheme", "x", all=True)],
    [make_acl("super", "super:x", all=True)],
    [world(all=True), make_acl("world", "nobody", read=True)],
]


@pytest.mark.parametrize("acl", BAD_ACLS, ids=[repr([(a.id.scheme, a.id.id) for a in acl])
                                               for acl in BAD_ACLS])
def test_invalid_acl(zk, base, acl):
    with pytest.raises(InvalidACLError) as e:
        zk.create_async(base + "/bad", b"", acl=acl).get(timeout=20)
    assert e.value.code == -114
    assert zk.exists(base + "/bad") is None
    zk.create(base + "/n")
    with pytest.raises(InvalidACLError):
        zk.set_acls(base + "/n", acl)
    # checked before the node's existence
    with pytest.raises(InvalidACLError):
        zk.set_acls(base + "/missing", acl)
    t = zk.transaction()
    t.create(base + "/bad2", b"", acl=acl)
    assert isinstance(t.commit()[0], InvalidACLError)


def test_duplicate_acl_entries_are_removed(zk, base):
    zk.create(base + "/dup", acl=[world(all=True), world(all=True)])
    assert zk.get_acls(base + "/dup")[0] == [world(all=True)]


def test_permission_bits_are_stored_as_given(zk, base):
    odd = ACL(1234, Id("world", "anyone"))  # WRITE and ADMIN plus undefined bits, no READ
    zk.create(base + "/z", b"v", acl=[odd])
    assert zk.get_acls(base + "/z")[0] == [odd]
    with pytest.raises(NoAuthError):
        zk.get(base + "/z")
    zk.set(base + "/z", b"w")


# ---- auth packets ---------------------------------------------------------------------------

def test_add_auth_unknown_scheme_fails(connect):
    c = connect()
    with pytest.raises(AuthFailedError):
        c.add_auth("nosuchscheme", "whatever")


def test_auth_failed_reply_then_close(wire):
    a = wire()
    xid = a.send(Auth(0, "nosuchscheme", "x"), xid=AUTH_XID)
    header, _, _ = a.wait_reply(xid)
    assert (header.xid, header.err) == (AUTH_XID, -115)
    assert a.wait_closed(timeout=10)


def test_auth_reply(wire):
    a = wire()
    err, body = a.call(Auth(0, "digest", "alice:secret"))
    assert err == 0 and body == b""
    assert a.log[-1][2].xid == AUTH_XID


def test_auth_is_per_connection(alice, wire, base):
    alice.create(base + "/n", b"v", acl=[alice_acl(all=True)])
    a = wire()
    assert a.call(Auth(0, "digest", "%s:%s" % ALICE))[0] == 0
    assert a.call(GetData(base + "/n", False))[0] == 0
    # the same session on a new connection does not inherit the identity
    b = wire(session_id=a.session_id, passwd=a.passwd)
    assert b.session_id == a.session_id
    assert b.call(GetData(base + "/n", False))[0] == -102
    assert a.wait_closed(timeout=10)  # the old connection was closed by the resume


@zkr_only("watch events are filtered by the READ ACL from 3.8.4/3.9.2; 3.8.0 delivers them")
def test_events_need_read_permission(wire, alice, base):
    alice.create(base + "/n", b"v", acl=OPEN_ACL_UNSAFE)
    a = wire()
    assert a.call(GetData(base + "/n", True))[0] == 0
    alice.set_acls(base + "/n", [alice_acl(all=True)])  # setACL fires nothing
    alice.set(base + "/n", b"hidden")
    a.call(GetData(base + "/unrelated", False))
    assert a.events == []


def test_ephemeral_watch_fires_on_owner_close_with_acl(alice, connect, base):
    # the node is world-readable: the event is delivered on every version
    owner = connect(timeout=30.0)
    owner.create(base + "/e", ephemeral=True, acl=[world(read=True)])
    rec = Recorder()
    alice.exists(base + "/e", watch=rec)
    owner.stop()
    wait_until(lambda: rec.events, timeout=10, what="deleted event")
    assert [(e.type, e.path) for e in rec.events] == [(EventType.DELETED, base + "/e")]


def test_raw_create_reports_no_auth_code(zk, base):
    zk.create(base + "/p", acl=[world(read=True)])
    with pytest.raises(NoAuthError) as e:
        raw_call(zk, Create(base + "/p/c", b"", OPEN_ACL_UNSAFE, 0))
    assert e.value.code == -102
