"""A minimal synchronous ZooKeeper client on a plain socket, built from kazoo's own protocol
classes (kazoo.protocol.serialization), for what kazoo 2.10.0's API cannot do or hides:

* requests kazoo has no method for (addWatch, removeWatches, createContainer, check alone);
* paths kazoo would normalise or reject client-side (BadArguments from the server);
* exact wire facts: negotiated timeout, the invalid ConnectResponse, reply error codes, and the
  order of notifications and replies on one connection.

Every read has a deadline; nothing here retries or reconnects.
"""

import socket
import struct
import time
from collections import namedtuple

from kazoo.protocol.serialization import (
    Connect,
    ReplyHeader,
    Watch,
    int_struct,
    write_string,
)

NOTIFICATION_XID = -1
PING_XID = -2
AUTH_XID = -4

# Watch event types (Watcher.Event.EventType)
CREATED, DELETED, CHANGED, CHILD = 1, 2, 3, 4
EVENT_NAMES = {CREATED: "NodeCreated", DELETED: "NodeDeleted", CHANGED: "NodeDataChanged",
               CHILD: "NodeChildrenChanged"}


class AddWatch(namedtuple("AddWatch", "path mode")):
    """addWatch (106): mode 0 = PERSISTENT, 1 = PERSISTENT_RECURSIVE."""
    type = 106

    def serialize(self):
        return write_string(self.path) + int_struct.pack(self.mode)


class RemoveWatches(namedtuple("RemoveWatches", "path watcher_type")):
    """removeWatches (18): 1 children, 2 data, 3 any, 4 persistent, 5 recursive (3.9)."""
    type = 18

    def serialize(self):
        return write_string(self.path) + int_struct.pack(self.watcher_type)


class CheckWatches(RemoveWatches):
    type = 17


class Raw(namedtuple("Raw", "type body")):
    """Any opcode with a hand-made body."""

    def serialize(self):
        return self.body


Event = namedtuple("Event", "type state path zxid")


class ConnectionClosed(Exception):
    pass


class WireClient:
    def __init__(self, port, timeout_ms=30000, session_id=0, passwd=b"\x00" * 16, last_zxid=0,
                 read_only=False, host="127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.xid = 0
        self.events = []        # every notification received, in order
        self.log = []           # ("event", Event) / ("reply", xid, header) in arrival order
        self.last_zxid = last_zxid
        try:
            self.sock.sendall(self._frame(Connect(0, last_zxid, timeout_ms, session_id, passwd,
                                                  read_only).serialize()))
            payload = self._read_frame(10.0)
            if payload is None:
                raise ConnectionClosed("no ConnectResponse")
        except BaseException:
            self.sock.close()
            raise
        self.connect_payload = payload
        resp, _ = Connect.deserialize(payload, 0)
        self.connect_response = resp
        self.negotiated_timeout = resp.time_out
        self.session_id = resp.session_id
        self.passwd = resp.passwd

    # ---- framing -------------------------------------------------------------------------
    @staticmethod
    def _frame(payload):
        return struct.pack("!i", len(payload)) + bytes(payload)

    def _fill(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return False
            except OSError as e:
                raise ConnectionClosed(str(e))
            if not chunk:
                raise ConnectionClosed("server closed the connection")
            self.buf += chunk
        return True

    def _read_frame(self, timeout):
        """One frame's payload, or None if nothing complete arrived within timeout."""
        deadline = time.monotonic() + timeout
        if not self._fill(4, deadline):
            return None
        (n,) = struct.unpack_from("!i", self.buf, 0)
        if not self._fill(4 + n, deadline):
            return None
        payload, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
        return payload

    # ---- requests ------------------------------------------------------------------------
    def send(self, record, xid=None):
        if xid is None:
            self.xid += 1
            xid = self.xid
        self.sock.sendall(self._frame(struct.pack("!ii", xid, record.type)
                                      + bytes(record.serialize())))
        return xid

    def send_until_closed(self, record, xid=None):
        """Send a request the server is expected to refuse by closing the connection while the
        request is still being written (e.g. a frame longer than jute.maxbuffer: the server
        closes as soon as it has read the length). Returns True if the server closed the
        connection before the whole request was written, False if it was all written; either way
        the caller then checks the close with wait_closed (which sees a reset as a close too)."""
        if xid is None:
            self.xid += 1
            xid = self.xid
        try:
            self.sock.sendall(self._frame(struct.pack("!ii", xid, record.type)
                                          + bytes(record.serialize())))
        except (BrokenPipeError, ConnectionResetError):
            return True
        return False

    def read_one(self, timeout):
        """Read one frame; notifications are recorded. Returns (header, payload, offset) or None."""
        payload = self._read_frame(timeout)
        if payload is None:
            return None
        header, off = ReplyHeader.deserialize(payload, 0)
        if header.xid == NOTIFICATION_XID:
            w, _ = Watch.deserialize(payload, off)
            ev = Event(w.type, w.state, w.path, header.zxid)
            self.events.append(ev)
            self.log.append(("event", ev))
        else:
            if header.zxid > 0 and header.xid not in (PING_XID, AUTH_XID):
                self.last_zxid = max(self.last_zxid, header.zxid)
            self.log.append(("reply", header.xid, header))
        return header, payload, off

    def wait_reply(self, xid, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no reply to xid %d" % xid)
            got = self.read_one(left)
            if got is None:
                continue
            header, payload, off = got
            if header.xid == NOTIFICATION_XID:
                continue
            if header.xid == xid:
                return header, payload, off
            if header.xid == PING_XID:
                continue
            raise AssertionError("reply out of order: got xid %d, waiting for %d"
                                 % (header.xid, xid))

    def call(self, record, timeout=10.0):
        """Send, wait for the reply. Returns (err, decoded body or None)."""
        xid = self.send(record, xid=AUTH_XID if record.type == 100 else None)
        header, payload, off = self.wait_reply(xid, timeout)
        if header.err != 0:
            return header.err, None
        if hasattr(record, "deserialize"):
            return 0, record.deserialize(payload, off)
        return 0, payload[off:]

    def ping(self, timeout=10.0):
        self.sock.sendall(self._frame(struct.pack("!ii", PING_XID, 11)))
        header, _, _ = self.wait_reply(PING_XID, timeout)
        return header

    def wait_events(self, count, timeout=10.0):
        """Read until at least `count` notifications have been received in total."""
        deadline = time.monotonic() + timeout
        while len(self.events) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.read_one(left)
        return list(self.events)

    def wait_closed(self, timeout=30.0):
        """Read (recording notifications) until the server closes the connection."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.read_one(deadline - time.monotonic())
            except ConnectionClosed:
                return True
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
