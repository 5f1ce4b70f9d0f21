"""Loopback ports for a server that binds them after the harness picked them (zkr nodes, Apache
ZooKeeper, ensembles, admin and metrics endpoints), shared by the kazoo, ops, migration and Java
harnesses and benches/disk_full.py.

The invariant: a port handed out here is below the range the kernel takes the local ports of
outgoing connections and of bind(0) from (/proc/sys/net/ipv4/ip_local_port_range, 32768 if that
cannot be read), so no connection of any process can take it while its server is starting; it is
below FIXED_BLOCKS (30000), so no script that takes a fixed block of ports (the conformance
cluster, 30000-30999; benches/lib.sh, 31000 up to the ephemeral range) can take it either; and
one process never hands out the same port twice: one cursor, shared by every thread and started
at a random offset in each process (a forked child draws its own), walks FLOOR..FIXED_BLOCKS
and skips the ports that do not bind on 127.0.0.1 (it would repeat only after walking the whole
range, 20,000 ports). src/chaos/process.rs's free_port keeps the same rule for Rust.
"""

import os
import random
import socket
import threading

# The lowest port handed out (below it: well-known ports and the fixed ones of `zkr dev`).
FLOOR = 10000
# From here to the ephemeral range: the fixed blocks of the conformance cluster and the benches.
FIXED_BLOCKS = 30000
_DEFAULT_START = 32768


def ephemeral_start():
    """The first port of the kernel's ephemeral range."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return _DEFAULT_START


_END = min(ephemeral_start(), FIXED_BLOCKS)
_SPAN = max(_END - FLOOR, 0)
_lock = threading.Lock()
_cursor = None  # (pid, next offset), drawn at the first pick of each process


def _binds(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_block(n):
    """The first of n consecutive free ports (first, first + 1, ..., first + n - 1), none of
    them handed out before by this process."""
    global _cursor
    if _SPAN < 1000:
        raise RuntimeError("no room for ports between %d and %d (the ephemeral range or the "
                           "fixed blocks)" % (FLOOR, _END))
    with _lock:
        if _cursor is None or _cursor[0] != os.getpid():
            _cursor = (os.getpid(), random.randrange(_SPAN))
        pid, offset = _cursor
        for _ in range(_SPAN):
            first = FLOOR + offset % _SPAN
            if first + n > _END:
                offset += _END - first  # wrap to FLOOR: a block never straddles the range
                continue
            taken = [p for p in range(first, first + n) if not _binds(p)]
            offset += n if not taken else taken[-1] - first + 1
            if not taken:
                _cursor = (pid, offset)
                return first
        raise RuntimeError("no %d free consecutive loopback ports in %d..%d" % (n, FLOOR, _END))


def free_port():
    """A free loopback port (see the module doc)."""
    if _SPAN < 1000:
        with socket.socket() as s:  # no room below the ephemeral range: the kernel's pick
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    return free_block(1)


def free_ports(n):
    """n distinct free loopback ports."""
    return [free_port() for _ in range(n)]
