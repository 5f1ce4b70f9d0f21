"""Differential test driver: starts Apache ZooKeeper 3.8.0 and zkr (standalone, same tickTime,
extendedTypes on, same super digest, container checks effectively off), runs the compiled
Scenario.java against each with Apache's Java client, and diffs the two normalised transcripts.

A second, short run ("reconfig") does the same with reconfigEnabled=true on both servers, where
a standalone server answers reconfig with Unimplemented.

Usage: run.py CLASSES_DIR OUT_DIR   (run.sh does the compiling and picks OUT_DIR)
Exit status: 0 when the transcripts are identical, 1 on any difference or failure."""

import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
from servers import Server  # noqa: E402

JAVA_LIB = "/usr/share/java"
CLIENT_JARS = ["zookeeper.jar", "zookeeper-jute.jar", "slf4j-api.jar", "slf4j-log4j12.jar",
               "log4j-1.2.jar"]
MIN_OPS = 300
TICK_MS = 2000
# Containers and TTL nodes are created by the scenario; the background deleter must not run
# during it (its timing would make the transcript nondeterministic), on either server.
CONTAINER_CHECK_MS = 3_600_000
SCENARIO_TIMEOUT_S = 600


def reconfig_wrapper(out_dir):
    """servers.py has no parameter for zkr's [features] reconfig_enabled, so the reconfig run
    starts zkr through this wrapper, which adds the key to the config file servers.py wrote
    (`zkr node --config FILE`) and then execs the real binary (same PID, so stop() still works)."""
    real = os.environ.get("ZKR_BIN") or os.path.join(HERE, "..", "..", "target", "debug", "zkr")
    path = os.path.join(out_dir, "zkr-reconfig-enabled.sh")
    with open(path, "w") as f:
        f.write('#!/bin/sh\nsed -i "s/^\\[features\\]$/[features]\\nreconfig_enabled = true/" "$3"\n'
                'exec "%s" "$@"\n' % os.path.abspath(real))
    os.chmod(path, 0o755)
    return path


def run_scenario(kind, classes, out_dir, variant=""):
    name = kind + ("-" + variant if variant else "")
    transcript = os.path.join(out_dir, "%s.txt" % name)
    props = os.path.join(out_dir, "client-log4j.properties")
    with open(props, "w") as f:
        f.write("log4j.rootLogger=INFO, F\nlog4j.appender.F=org.apache.log4j.FileAppender\n"
                "log4j.appender.F.File=%s\nlog4j.appender.F.layout=org.apache.log4j.PatternLayout\n"
                "log4j.appender.F.layout.ConversionPattern=%%d %%-5p [%%t] %%c{1} - %%m%%n\n"
                % os.path.join(out_dir, "client-%s.log" % name))
    cp = ":".join([classes] + [os.path.join(JAVA_LIB, j) for j in CLIENT_JARS])
    zoo_cfg = "reconfigEnabled=true\n" if variant == "reconfig" else ""
    server = Server(kind, tick_ms=TICK_MS, extended_types=True,
                    container_check_ms=CONTAINER_CHECK_MS, extra_zoo_cfg=zoo_cfg)
    saved_bin = os.environ.get("ZKR_BIN")
    try:
        if kind == "zkr" and variant == "reconfig":
            os.environ["ZKR_BIN"] = reconfig_wrapper(out_dir)
        try:
            server.start()
        finally:
            if saved_bin is None:
                os.environ.pop("ZKR_BIN", None)
            else:
                os.environ["ZKR_BIN"] = saved_bin
        args = ["java", "-Xmx256m", "-Dfile.encoding=UTF-8", "-Dlog4j.configuration=file:" + props,
                "-cp", cp, "Scenario", server.hosts, transcript] + ([variant] if variant else [])
        try:
            p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=SCENARIO_TIMEOUT_S, stdin=subprocess.DEVNULL)
            output, rc = p.stdout.decode(errors="replace"), p.returncode
        except subprocess.TimeoutExpired as e:
            output, rc = (e.stdout or b"").decode(errors="replace"), "timeout"
        with open(os.path.join(out_dir, "server-%s.log" % name), "w") as f:
            f.write(server.log())
    finally:
        server.close()
    print("%s: scenario exit %s; %s" % (name, rc, output.strip().splitlines()[-1:] or ""))
    if rc != 0:
        print(output[-4000:])
    return rc == 0, transcript


def read_lines(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().splitlines()
    except OSError:
        return []


def compare(classes, out_dir, variant, min_ops):
    """Runs one scenario variant against both servers; returns True if the transcripts agree."""
    ok_a, ta = run_scenario("apache", classes, out_dir, variant)
    ok_z, tz = run_scenario("zkr", classes, out_dir, variant)
    a, z = read_lines(ta), read_lines(tz)
    ops = [l for l in a if l.startswith("OPS ")]
    n_ops = int(ops[-1].split()[1]) if ops else 0
    label = variant or "main"
    print("operations in the %s scenario: %d" % (label, n_ops))
    print("transcripts: %s %s" % (ta, tz))
    failed = False
    if not ok_a or not ops:
        print("FAIL: the scenario did not complete against Apache ZooKeeper")
        failed = True
    elif n_ops < min_ops:
        print("FAIL: only %d operations (need at least %d)" % (n_ops, min_ops))
        failed = True
    if not ok_z:
        print("FAIL: the scenario did not complete against zkr")
        failed = True
    if a != z:
        failed = True
        i = 0
        while i < min(len(a), len(z)) and a[i] == z[i]:
            i += 1
        print("FAIL: transcripts differ (apache %d lines, zkr %d lines); first difference at line %d:"
              % (len(a), len(z), i + 1))
        for l in a[max(0, i - 4):i]:
            print("    " + l)
        print("  apache: " + (a[i] if i < len(a) else "<end of transcript>"))
        print("  zkr:    " + (z[i] if i < len(z) else "<end of transcript>"))
        shown = 0
        j = i + 1
        while j < max(len(a), len(z)) and shown < 8:
            la = a[j] if j < len(a) else "<end>"
            lz = z[j] if j < len(z) else "<end>"
            if la != lz:
                print("  apache: " + la)
                print("  zkr:    " + lz)
                shown += 1
            j += 1
        print("(diff -u %s %s for the rest)" % (ta, tz))
    if failed:
        return False
    print("PASS (%s): transcripts identical (%d lines, %d operations)" % (label, len(a), n_ops))
    return True


def main():
    classes, out_dir = sys.argv[1], sys.argv[2]
    ok = compare(classes, out_dir, "", MIN_OPS)
    ok = compare(classes, out_dir, "reconfig", 1) and ok
    print("differential test: %s (output in %s)" % ("PASS" if ok else "FAIL", out_dir))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
