"""tests/support/ports.py, the harnesses' port picker: the ports it hands out are below the
kernel's ephemeral range and the fixed blocks of the conformance cluster and the benches, never
the same twice in one process (several threads picking at once), and a block is consecutive free
ports; the benches' own pick stays inside its fixed block."""

import os
import socket
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))

import ports  # noqa: E402


def test_free_ports_are_below_the_ephemeral_range_and_the_fixed_blocks_and_never_handed_out_twice():
    got, lock = [], threading.Lock()

    def pick():
        mine = [ports.free_port() for _ in range(500)]
        with lock:
            got.extend(mine)

    threads = [threading.Thread(target=pick) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 2000
    assert len(set(got)) == len(got), "a port was handed out twice"
    end = min(ports.ephemeral_start(), ports.FIXED_BLOCKS)
    assert all(ports.FLOOR <= p < end for p in got), [p for p in got if p >= end][:5]


def test_a_block_is_consecutive_free_ports_not_handed_out_again():
    first = ports.free_block(24)
    block = set(range(first, first + 24))
    assert first + 24 <= min(ports.ephemeral_start(), ports.FIXED_BLOCKS)
    for p in block:
        with socket.socket() as s:
            s.bind(("127.0.0.1", p))
    assert not block & set(ports.free_ports(200))


def test_a_taken_port_is_skipped():
    last = ports.free_port()
    # The cursor's next port, taken by another socket (here, or already elsewhere), is skipped.
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", last + 1))
        except OSError:
            pass
        assert ports.free_port() != last + 1


def test_the_benches_take_their_ports_from_their_fixed_block():
    lib = os.path.join(HERE, "..", "..", "benches", "lib.sh")
    out = subprocess.run(["bash", "-c", 'source "$1"; for i in $(seq 20); do pick_base; done',
                          "-", lib], check=True, capture_output=True, text=True, timeout=60).stdout
    bases = [int(b) for b in out.split()]
    assert len(bases) == 20
    # A base's servers use base .. base + 202 (clients, peers, elections, metrics).
    assert all(ports.FIXED_BLOCKS + 1000 <= b and b + 202 < ports.ephemeral_start()
               for b in bases), bases
