"""pytest entry point for the differential test: runs tests/differential/run.sh (zkr vs Apache
ZooKeeper 3.8.0, the same scripted scenario through Apache's Java client) and fails with its
report when the normalised transcripts differ. The transcripts stay in the directory it prints."""

import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))


def test_zkr_matches_apache_zookeeper():
    p = subprocess.run([os.path.join(HERE, "run.sh")], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=1800, stdin=subprocess.DEVNULL)
    report = p.stdout.decode(errors="replace")
    print(report)
    assert p.returncode == 0, "differential test failed:\n" + report[-6000:]
