"""SASL DIGEST-MD5 and the TLS client port, with kazoo 2.10.0 (pure-sasl for SASL, Python's ssl
module for TLS), against zkr or Apache ZooKeeper 3.8.0 (ZKR_TEST_TARGET).

The servers are configured as kazoo's own harness configures Apache (tests/support/secure.py):
SASL users super / jaasuser, `zookeeper.superUser=super` (zkr: `[sasl] super_users`), a TLS port
with gen_tls.py's certificates (the ones kazoo's TestSSLClient uses: X.509 version 1 client and
server certificates) and client authentication "need" unless a test says otherwise.

Wire facts checked here were first observed on Apache 3.8.0 (Java 17): the challenge
`realm="zk-sasl-md5",nonce="<40 base64 chars>",charset=utf-8,algorithm=md5-sess`; replies with
zxid 0; a failed exchange answers AuthFailed (-115) with an empty (null) SetSASLResponse and
closes; a null token closes without an answer; a server without SASL answers an empty token
and keeps the connection; the TLS port adds the identity x509:CN=client.
"""

import hashlib
import itertools
import os
import re
import socket
import ssl
import struct
import sys
import time

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import AuthFailedError, InvalidACLError, NoAuthError
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.protocol.states import KeeperState
from kazoo.security import make_acl, make_digest_acl

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "support"))

import secure  # noqa: E402
from secure import Closed, plain_frames, tls_frames  # noqa: E402
from util import TARGET, wait_accepting_sessions  # noqa: E402

JAASUSER = {"mechanism": "DIGEST-MD5", "username": "jaasuser", "password": "jaas_password"}
SUPER = {"mechanism": "DIGEST-MD5", "username": "super", "password": "super_secret"}
AUTH_FAILED = -115
NULL_TOKEN = b"\xff\xff\xff\xff"

_n = itertools.count()


def unique(prefix="/sasl_tls"):
    return "%s_%d_%d" % (prefix, os.getpid(), next(_n))


class Hosts:
    """Something with .hosts, for the `connect` fixture."""

    def __init__(self, hosts):
        self.hosts = hosts


@pytest.fixture(scope="module")
def tls_dir(tmp_path_factory):
    return secure.make_tls(str(tmp_path_factory.mktemp("tls")))


def start(tls_dir=None, **kw):
    s = secure.start_server(TARGET, tls_dir, **kw)
    wait_accepting_sessions(s.port)
    return s


@pytest.fixture(scope="module")
def sec(tls_dir):
    """SASL users and a TLS port with client authentication "need"."""
    s = start(tls_dir)
    yield s
    s.close()


def tls_kwargs(tls_dir, with_cert=True):
    kw = {"use_ssl": True, "ca": os.path.join(tls_dir, "ca.pem")}
    if with_cert:
        kw["certfile"] = os.path.join(tls_dir, "client-cert.pem")
        kw["keyfile"] = os.path.join(tls_dir, "client-key.pem")
    return kw


# ---- SASL with kazoo ---------------------------------------------------------------------------

def test_sasl_user_owns_a_node_others_cannot_touch(sec, connect):
    """kazoo's TestSASLDigestAuthentication.test_connect_sasl_auth, and more of the ACL."""
    c = connect(sec, sasl_options=dict(JAASUSER))
    path = unique()
    c.create(path, b"v", acl=[make_acl("sasl", "jaasuser", all=True)])
    assert c.get(path)[0] == b"v"
    anon = connect(sec)
    with pytest.raises(NoAuthError):
        anon.get(path)
    with pytest.raises(NoAuthError):
        anon.set(path, b"x")
    digest = connect(sec, auth_data=[("digest", "jaasuser:jaas_password")])
    with pytest.raises(NoAuthError):
        digest.get(path)  # same name, other scheme
    c.set(path, b"w")
    assert c.get_acls(path)[0] == [make_acl("sasl", "jaasuser", all=True)]
    c.delete(path)


def test_legacy_sasl_auth_data(sec, connect):
    """kazoo's TestLegacySASLDigestAuthentication: auth_data ("sasl", "user:password")."""
    c = connect(sec, auth_data=[("sasl", "jaasuser:jaas_password")])
    path = unique()
    c.create(path, acl=[make_acl("sasl", "jaasuser", all=True)])
    with pytest.raises(NoAuthError):
        connect(sec).get(path)
    c.delete(path)


def test_sasl_acl_permissions_are_enforced(sec, connect):
    owner = connect(sec, sasl_options=dict(SUPER))
    path = unique()
    owner.create(path, b"v", acl=[make_acl("sasl", "jaasuser", read=True)])
    user = connect(sec, sasl_options=dict(JAASUSER))
    assert user.get(path)[0] == b"v"
    with pytest.raises(NoAuthError):
        user.set(path, b"x")
    with pytest.raises(NoAuthError):
        user.create(path + "/child")
    with pytest.raises(NoAuthError):
        user.set_acls(path, [make_acl("world", "anyone", all=True)])
    with pytest.raises(NoAuthError):
        connect(sec).get(path)
    # The super user (zookeeper.superUser) is not limited by the ACL.
    owner.set(path, b"by super")
    owner.delete(path)


def test_sasl_super_user_passes_every_acl(sec, connect):
    """zookeeper.superUser=super: the SASL user super also gets the `super` identity."""
    d = connect(sec, auth_data=[("digest", "alice:pw")])
    path = unique()
    d.create(path, b"secret", acl=[make_digest_acl("alice", "pw", all=True)])
    with pytest.raises(NoAuthError):
        connect(sec, sasl_options=dict(JAASUSER)).get(path)
    s = connect(sec, sasl_options=dict(SUPER))
    assert s.get(path)[0] == b"secret"
    s.set(path, b"changed")
    s.delete(path)


@pytest.mark.parametrize("user,password", [("jaasuser", "wrong"), ("baduser", "badpassword")])
def test_wrong_credentials_are_refused(sec, connect, user, password):
    """kazoo's test_invalid_sasl_auth: the exchange fails, the client ends in AUTH_FAILED. As in
    kazoo's harness the hosts carry a chroot, so start() checks it with a request, and that
    request fails with AuthFailedError (start() may also see the failure first and time out)."""
    bystander = connect(sec)
    c = connect(Hosts(sec.hosts + "/chroot"), start=False,
                sasl_options={"mechanism": "DIGEST-MD5", "username": user, "password": password})
    states = []
    c.add_listener(lambda _: states.append(c.client_state))
    with pytest.raises((AuthFailedError, KazooTimeoutError)):
        c.start(timeout=20)
    assert KeeperState.AUTH_FAILED in states, states
    # The node and other sessions are unaffected.
    assert bystander.exists("/") is not None
    assert connect(sec, sasl_options=dict(JAASUSER)).exists("/") is not None


# ---- SASL on the wire --------------------------------------------------------------------------

def digest_response(user, password, nonce, cnonce=b"c0ffee", authzid=None):
    """A DIGEST-MD5 response (RFC 2831, qop auth), as pure-sasl computes it."""
    h = lambda b: hashlib.md5(b).digest()  # noqa: E731
    hx = lambda b: hashlib.md5(b).hexdigest().encode()  # noqa: E731
    a1 = h(user + b":zk-sasl-md5:" + password) + b":" + nonce + b":" + cnonce
    if authzid is not None:
        a1 += b":" + authzid
    a2 = b"AUTHENTICATE:zookeeper/zk-sasl-md5"
    r = hx(hx(a1) + b":" + nonce + b":00000001:" + cnonce + b":auth:" + hx(a2))
    out = (b'username="' + user + b'",realm="zk-sasl-md5",nonce="' + nonce + b'",cnonce="'
           + cnonce + b'",nc=00000001,qop=auth,digest-uri="zookeeper/zk-sasl-md5",response=' + r)
    if authzid is not None:
        out += b',authzid="' + authzid + b'"'
    return out


def challenge(f):
    _, zxid, err, body = f.sasl(b"")
    assert (zxid, err) == (0, 0)
    (n,) = struct.unpack_from("!i", body, 0)
    token = body[4:4 + n]
    m = re.fullmatch(rb'realm="zk-sasl-md5",nonce="([A-Za-z0-9+/]{40})",charset=utf-8,'
                     rb"algorithm=md5-sess", token)
    assert m, token
    return token, m.group(1)


def test_sasl_exchange_on_the_wire(sec):
    import puresasl.client

    f = plain_frames(sec.port)
    try:
        cli = puresasl.client.SASLClient("zk-sasl-md5", service="zookeeper",
                                         mechanism="DIGEST-MD5", username="jaasuser",
                                         password="jaas_password")
        token, _ = challenge(f)
        _, zxid, err, body = f.sasl(cli.process(token))
        assert (zxid, err) == (0, 0)
        rspauth = body[4:]
        assert rspauth.startswith(b"rspauth=")
        cli.process(rspauth)  # raises if the server's proof is wrong
        assert cli.complete
        assert ("sasl", "jaasuser") in f.whoami()
        # The exchange is over: another token fails, the connection closes.
        _, zxid, err, body = f.sasl(b"")
        assert (zxid, err, body) == (0, AUTH_FAILED, NULL_TOKEN)
        assert f.wait_closed()
    finally:
        f.close()


def test_failed_exchange_answers_auth_failed_and_closes(sec):
    f = plain_frames(sec.port)
    try:
        _, nonce = challenge(f)
        _, zxid, err, body = f.sasl(digest_response(b"jaasuser", b"wrong", nonce))
        assert (zxid, err, body) == (0, AUTH_FAILED, NULL_TOKEN)
        assert f.wait_closed()
    finally:
        f.close()
    f = plain_frames(sec.port)
    try:
        challenge(f)
        _, zxid, err, body = f.sasl(b"\x00garbage===,,,")
        assert (zxid, err, body) == (0, AUTH_FAILED, NULL_TOKEN)
        assert f.wait_closed()
    finally:
        f.close()


def test_sasl_null_token_closes_without_reply(sec):
    f = plain_frames(sec.port)
    try:
        with pytest.raises(Closed):
            f.sasl(None)
    finally:
        f.close()


def test_authzid_does_not_change_the_identity(sec):
    """The authorization id is the user name: an authzid "super" gives no super powers."""
    f = plain_frames(sec.port)
    try:
        _, nonce = challenge(f)
        _, zxid, err, body = f.sasl(digest_response(b"jaasuser", b"jaas_password", nonce,
                                                    cnonce=b"ab\x00cd", authzid=b"super"))
        assert (zxid, err) == (0, 0), body
        ids = f.whoami()
        assert ("sasl", "jaasuser") in ids
        assert not [i for i in ids if i[0] == "super" or i[1] == "super"], ids
    finally:
        f.close()


def test_sasl_when_the_server_has_no_sasl(server, connect):
    """No SASL users (Apache: no JAAS Server section): an empty SetSASLResponse, the connection
    stays; and the sasl ACL scheme is unknown (InvalidACL)."""
    f = plain_frames(server.port)
    try:
        _, zxid, err, body = f.sasl(b"")
        assert (zxid, err, body) == (0, 0, NULL_TOKEN)
        assert ("ip", "127.0.0.1") in f.whoami()
    finally:
        f.close()
    with pytest.raises(InvalidACLError):
        connect(server).create(unique(), acl=[make_acl("sasl", "jaasuser", all=True)])


# ---- TLS ---------------------------------------------------------------------------------------

def test_tls_kazoo_client_with_certificate(sec, tls_dir, connect):
    """kazoo's TestSSLClient, and the plain port beside it serving the same tree."""
    t = connect(Hosts(sec.secure_hosts), **tls_kwargs(tls_dir))
    path = t.create(unique())
    assert t.exists(path)
    plain = connect(sec)
    assert plain.exists(path)
    plain.set(path, b"from plain")
    assert t.get(path)[0] == b"from plain"
    t.delete(path)


def test_tls_connection_gets_the_x509_identity(sec, tls_dir, connect):
    f = tls_frames(sec.secure_port, tls_dir)
    try:
        assert ("x509", "CN=client") in f.whoami()
    finally:
        f.close()
    t = connect(Hosts(sec.secure_hosts), **tls_kwargs(tls_dir))
    path = unique()
    t.create(path, b"v", acl=[make_acl("x509", "CN=client", all=True)])
    assert t.get(path)[0] == b"v"
    with pytest.raises(NoAuthError):
        connect(sec).get(path)
    t.delete(path)


def test_sasl_over_tls(sec, tls_dir, connect):
    c = connect(Hosts(sec.secure_hosts), sasl_options=dict(JAASUSER), **tls_kwargs(tls_dir))
    path = unique()
    c.create(path, acl=[make_acl("sasl", "jaasuser", all=True)])
    assert c.exists(path)
    with pytest.raises(NoAuthError):
        connect(sec).get(path)
    c.delete(path)


def test_tls_without_client_certificate_is_refused(sec, tls_dir, connect):
    """ssl.clientAuth=need: no session for a client without a certificate."""
    with pytest.raises((Closed, ssl.SSLError, OSError)):
        f = tls_frames(sec.secure_port, tls_dir, with_cert=False)
        f.close()
    c = connect(Hosts(sec.secure_hosts), start=False, **tls_kwargs(tls_dir, with_cert=False))
    with pytest.raises(KazooTimeoutError):
        c.start(timeout=5)


def read_until_closed(sock, within=15.0):
    """Bytes the server sent before closing; None if it did not close within `within`."""
    got, end = b"", time.monotonic() + within
    while time.monotonic() < end:
        sock.settimeout(max(0.1, end - time.monotonic()))
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            continue
        except OSError:
            return got
        if not chunk:
            return got
        got += chunk
    return None


def test_garbage_on_the_tls_port_is_harmless(sec, tls_dir, connect):
    t = connect(Hosts(sec.secure_hosts), **tls_kwargs(tls_dir))
    plain = connect(sec)
    before = t.create(unique())
    connect_request = struct.pack("!iqiqi", 0, 0, 30000, 0, 16) + b"\0" * 17
    for junk in [b"GET / HTTP/1.0\r\n\r\n", struct.pack("!i", len(connect_request))
                 + connect_request, os.urandom(4096), b"ruok", b""]:
        s = socket.create_connection(("127.0.0.1", sec.secure_port), timeout=10)
        try:
            s.sendall(junk)
            if not junk:
                s.shutdown(socket.SHUT_WR)
            got = read_until_closed(s)
            # Closed, with at most a TLS alert record (content type 21), never a reply.
            assert got is not None, junk[:20]
            assert got == b"" or got[0] == 21, (junk[:20], got[:20])
        finally:
            s.close()
    # A four-letter word inside TLS is answered.
    s = secure.client_context(tls_dir).wrap_socket(
        socket.create_connection(("127.0.0.1", sec.secure_port), timeout=10),
        server_hostname="localhost")
    try:
        s.sendall(b"ruok")
        assert read_until_closed(s) == b"imok"
    finally:
        s.close()
    # Everything else goes on.
    assert t.exists(before) and plain.exists(before)
    t2 = connect(Hosts(sec.secure_hosts), **tls_kwargs(tls_dir))
    assert t2.exists(before)
    t.delete(before)


@pytest.mark.parametrize("mode", ["want", "none"])
def test_tls_client_auth_want_and_none(tls_dir, mode):
    s = start(tls_dir, client_auth=mode, sasl=False)
    try:
        f = tls_frames(s.secure_port, tls_dir, with_cert=False)
        try:
            assert not [i for i in f.whoami() if i[0] == "x509"]
        finally:
            f.close()
        f = tls_frames(s.secure_port, tls_dir, with_cert=True)
        try:
            x509 = [i for i in f.whoami() if i[0] == "x509"]
            # "want" asks for the certificate and checks it; "none" never asks.
            assert x509 == ([("x509", "CN=client")] if mode == "want" else [])
        finally:
            f.close()
    finally:
        s.close()
