#!/usr/bin/env python3
"""The overload loads of tests/overload.rs (a: 10,000 idle sessions, b: 100,000 pipelined writes
nobody reads, c: 16 clients writing 1 MB values, d: a watch storm) against Apache ZooKeeper 3.8
(Debian's package, started by tests/support/servers.py with its -Xmx512m), one fresh server per
load, for comparison with zkr's figures. Not part of CI.

    benches/overload_apache.py [REPORT_FILE]     (default: overload-apache.md)

Each load's line is appended to REPORT_FILE (the same columns as zkr's, from
ZKR_OVERLOAD_REPORT); nothing is asserted for another server. Run zkr's side with
`ZKR_OVERLOAD_REPORT=FILE cargo test --release --test overload load_ -- --test-threads=1`.
"""
import os
import resource
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))
from servers import Server  # noqa: E402

LOADS = ["load_a_", "load_b_", "load_c_", "load_d_"]


def main():
    report = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "overload-apache.md")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    subprocess.run(["cargo", "test", "--release", "--test", "overload", "--no-run"], cwd=ROOT,
                   check=True)
    for load in LOADS:
        with Server("apache", tick_ms=2000) as s:
            env = dict(os.environ, ZKR_OVERLOAD_SERVER="127.0.0.1:%d" % s.port,
                       ZKR_OVERLOAD_PID=str(s.proc.pid), ZKR_OVERLOAD_REPORT=report)
            subprocess.run(["cargo", "test", "--release", "--test", "overload", load, "--",
                            "--test-threads=1", "--nocapture"], cwd=ROOT, env=env)
    print("figures appended to", report)


if __name__ == "__main__":
    main()
