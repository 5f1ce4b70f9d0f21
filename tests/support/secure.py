"""SASL and TLS test support (no pytest fixtures here): a zkr node or Apache ZooKeeper 3.8 with
SASL DIGEST-MD5 users and a TLS client port, configured as kazoo's own test harness configures
Apache (kazoo/testing/common.py: a JAAS Server section with user_super / user_jaasuser,
authProvider SASLAuthenticationProvider, the Netty connection factory and secureClientPort), the
TLS material from gen_tls.py, and a minimal framed client over any socket (plain or TLS) for
wire-level checks."""

import os
import socket
import ssl
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from servers import Server, free_port  # noqa: E402

# kazoo's test_sasl.py users (the JAAS file of kazoo's harness and of apache-zk-cluster.sh).
USERS = {"super": "super_secret", "jaasuser": "jaas_password"}
JAAS = ('Server {\n    org.apache.zookeeper.server.auth.DigestLoginModule required\n'
        + "\n".join('    user_%s="%s"' % kv for kv in USERS.items()) + ";\n};\n")


def make_tls(out_dir):
    """gen_tls.py's files in out_dir: ca.pem, server-cert.pem, server-key.pem, client-cert.pem,
    client-key.pem, keystore.jks, truststore.jks (kazoo's harness certificates)."""
    conformance = os.path.join(HERE, "..", "conformance")  # the one copy of gen_tls.py
    if conformance not in sys.path:
        sys.path.insert(0, conformance)
    import gen_tls

    gen_tls.main(out_dir)
    return out_dir


def start_server(kind, tls_dir=None, client_auth="need", sasl=True, super_user="super"):
    """Start a server of `kind` ("zkr" or "apache") with the SASL users (if sasl) and a TLS port
    using tls_dir's material (if tls_dir). Returns the started Server, with .secure_port and
    .secure_hosts (None without TLS)."""
    secure_port = free_port() if tls_dir else None
    toml, zoo, jvm = "", "", []
    if sasl:
        toml += "[sasl]\nusers = { %s }\n" % ", ".join('%s = "%s"' % kv for kv in USERS.items())
        if super_user:
            toml += 'super_users = ["%s"]\n' % super_user
    if kind == "apache":
        zoo += "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\n"
    if sasl and kind == "apache":
        zoo += "authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider\n"
        if super_user:
            jvm.append("-Dzookeeper.superUser=%s" % super_user)
    if tls_dir:
        if kind == "zkr":
            toml += ('[tls]\nsecure_client_port = %d\nsecure_client_address = "127.0.0.1"\n'
                     'cert_file = "%s"\nkey_file = "%s"\nca_file = "%s"\nclient_auth = "%s"\n'
                     % (secure_port, os.path.join(tls_dir, "server-cert.pem"),
                        os.path.join(tls_dir, "server-key.pem"), os.path.join(tls_dir, "ca.pem"),
                        client_auth))
        else:
            zoo += ("secureClientPort=%d\nsecureClientPortAddress=127.0.0.1\n"
                    "ssl.keyStore.location=%s\nssl.keyStore.password=apassword\n"
                    "ssl.trustStore.location=%s\nssl.trustStore.password=apassword\n"
                    "ssl.clientAuth=%s\n"
                    % (secure_port, os.path.join(tls_dir, "keystore.jks"),
                       os.path.join(tls_dir, "truststore.jks"), client_auth))
    s = Server(kind, extra_toml=toml, extra_zoo_cfg=zoo, jvm_args=jvm)
    if sasl and kind == "apache":
        path = os.path.join(s.dir, "jaas.conf")
        with open(path, "w") as f:
            f.write(JAAS)
        s.jvm_args.append("-Djava.security.auth.login.config=" + path)
    s.secure_port = secure_port
    s.secure_hosts = "127.0.0.1:%d" % secure_port if secure_port else None
    try:
        s.start()
        if secure_port:
            wait_port(secure_port, 60)
    except Exception:
        s.close()
        raise
    return s


def wait_port(port, within):
    end = time.monotonic() + within
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            return
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.1)


def client_context(tls_dir, with_cert=True):
    """An ssl context like kazoo's (CA-verified server, no host name check), presenting the
    client certificate if with_cert."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(os.path.join(tls_dir, "ca.pem"))
    if with_cert:
        ctx.load_cert_chain(os.path.join(tls_dir, "client-cert.pem"),
                            os.path.join(tls_dir, "client-key.pem"))
    return ctx


class Closed(Exception):
    pass


class Frames:
    """A minimal ZooKeeper client on a connected socket (plain or TLS): the handshake, then
    requests as (opcode, body bytes) and replies as (xid, zxid, err, body bytes). Every read has
    a deadline."""

    def __init__(self, sock, timeout_ms=30000):
        self.sock = sock
        self.buf = b""
        self.xid = 0
        # ConnectRequest: protocolVersion, lastZxidSeen, timeOut, sessionId, passwd, readOnly.
        self.send_frame(struct.pack("!iqiqi", 0, 0, timeout_ms, 0, 16) + b"\0" * 16 + b"\0")
        payload = self.read_frame(15.0)
        if payload is None:
            raise Closed("no ConnectResponse")
        _, self.timeout, self.session_id = struct.unpack_from("!iiq", payload, 0)

    def send_frame(self, payload):
        self.sock.sendall(struct.pack("!i", len(payload)) + payload)

    def read_frame(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 4:
                (n,) = struct.unpack_from("!i", self.buf, 0)
                if len(self.buf) >= 4 + n:
                    payload, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
                    return payload
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return None
            except (OSError, ssl.SSLError) as e:
                raise Closed(str(e))
            if not chunk:
                raise Closed("server closed the connection")
            self.buf += chunk

    def request(self, opcode, body=b"", timeout=15.0):
        self.xid += 1
        self.send_frame(struct.pack("!ii", self.xid, opcode) + body)
        while True:
            payload = self.read_frame(timeout)
            if payload is None:
                raise TimeoutError("no reply to xid %d" % self.xid)
            xid, zxid, err = struct.unpack_from("!iqi", payload, 0)
            if xid == -1:  # a notification
                continue
            assert xid == self.xid, "reply xid %d, expected %d" % (xid, self.xid)
            return xid, zxid, err, payload[16:]

    def sasl(self, token):
        """One sasl (102) request; token None sends a null buffer."""
        body = struct.pack("!i", -1) if token is None else struct.pack("!i", len(token)) + token
        return self.request(102, body)

    def whoami(self):
        """whoAmI (107): [(scheme, user)]."""
        _, _, err, body = self.request(107)
        assert err == 0, err
        (n,) = struct.unpack_from("!i", body, 0)
        off, out = 4, []
        for _ in range(n):
            pair = []
            for _ in range(2):
                (k,) = struct.unpack_from("!i", body, off)
                off += 4
                pair.append(body[off:off + max(k, 0)].decode())
                off += max(k, 0)
            out.append(tuple(pair))
        return out

    def wait_closed(self, timeout=15.0):
        """True if the server closes the connection within timeout (frames are discarded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.read_frame(deadline - time.monotonic())
            except Closed:
                return True
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def plain_frames(port):
    return Frames(socket.create_connection(("127.0.0.1", port), timeout=10))


def tls_frames(port, tls_dir, with_cert=True):
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        sock = client_context(tls_dir, with_cert).wrap_socket(raw, server_hostname="localhost")
        return Frames(sock)
    except BaseException:
        raw.close()
        raise
