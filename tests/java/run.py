"""Interop tests with real clients: Apache ZooKeeper's own (the Java client, ZkInterop.java;
the Java CLI, zkCli.sh; the C client CLI, cli_mt), Apache Curator's recipes
(CuratorInterop.java) and the Go client github.com/samuel/go-zookeeper (tests/go/interop.go;
Debian's packages, installed by scripts/setup.sh). Starts a fresh server, runs them against
it, prints PASS/FAIL per check and exits 1 if anything failed.

    python tests/java/run.py [--server zkr|apache|all]
                             [--only java,java-tls,zkcli,cli_mt,curator,curator-pause,curator-failover,
                                     curator-leader-pause,curator-follower-pause,go,go-failover,go-pause]

curator-failover and go-failover run a Curator lock, and a Go client's session, ephemeral node
and watches, across a leader's kill -9 on a 3-server ensemble of the same kind (zoo.cfg files;
zkr runs them with `zkr node --zoo-cfg`); curator-leader-pause stops that leader (SIGSTOP) for
longer than the sessions' timeout instead, then resumes it; curator-follower-pause does the
same to the follower the lock holder is connected to (the client moves after its read timeout
and must keep its session). curator-pause and go-pause stop a
lock holder's process past its session timeout: a rival gets the lock, and the holder learns
its session expired.

zkr is the server under test; Apache ZooKeeper 3.8.0 is the reference, and every check must
pass on it too (ZkInterop skips its few known, deliberate differences on Apache only).
zkr's binary is $ZKR_BIN or target/debug/zkr (run.sh builds it). ZK_CLIENT_SOCKET=netty runs
the Java client over its Netty transport instead of NIO.
"""

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))

from servers import APACHE_CP, Server  # noqa: E402

ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"
CLI_MT = "/usr/lib/zookeeper/bin/cli_mt"
TICK_MS = 2000
CONTAINER_CHECK_MS = 1000
JAVA_TIMEOUT_S = 240
ZKCLI_TIMEOUT_S = 60
CLI_MT_TIMEOUT_S = 20
# A digest ACL id for u1:p1 (base64 of sha1("u1:p1")).
U1_DIGEST = "u1:fpT/y03U+EjItKZOSLGvjnJlyng="


class Results:
    def __init__(self, label):
        self.label = label
        self.passed = 0
        self.failed = []

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print("PASS %s" % name, flush=True)
        else:
            self.failed.append(name)
            print("FAIL %s: %s" % (name, detail), flush=True)
        return ok


class Seq:
    """Output lines matched in order: each expectation searches forward from the last match."""

    def __init__(self, res, what, text):
        self.res = res
        self.what = what
        self.lines = text.splitlines()
        self.pos = 0

    def expect(self, name, pattern):
        rx = re.compile(pattern)
        for i in range(self.pos, len(self.lines)):
            m = rx.fullmatch(self.lines[i])
            if m:
                self.pos = i + 1
                self.res.check(name, True)
                return m
        self.res.check(name, False, "no line matching %r in %s after line %d" % (pattern, self.what, self.pos))
        return None

    def expect_block(self, name, first_pattern, count):
        """The line matching first_pattern and the count-1 lines after it."""
        m = self.expect(name, first_pattern)
        if not m:
            return None
        start = self.pos - 1
        self.pos = start + count
        return self.lines[start:start + count]


def zkcli_stat(block):
    """zkCli's stat block ("key = value" lines) as a dict."""
    out = {}
    for line in block or []:
        if " = " in line:
            k, v = line.split(" = ", 1)
            out[k.strip()] = v.strip()
    return out


def check_stat(res, name, stat, want):
    keys = ["cZxid", "ctime", "mZxid", "mtime", "pZxid", "cversion", "dataVersion", "aclVersion",
            "ephemeralOwner", "dataLength", "numChildren"]
    ok = all(k in stat for k in keys)
    detail = "stat %r" % stat
    if ok:
        ok = re.fullmatch(r"0x[0-9a-f]+", stat["cZxid"]) is not None and stat["cZxid"] != "0x0"
        for k, v in want.items():
            if callable(v):
                ok = ok and v(stat[k])
            else:
                ok = ok and stat[k] == v
    res.check(name, ok, detail)


def compile_java(res, workdir):
    classes = os.path.join(workdir, "classes")
    os.makedirs(classes, exist_ok=True)
    srcs = [os.path.join(HERE, f) for f in ("ZkInterop.java", "JavaTls.java", "Checks.java")]
    c = subprocess.run(["javac", "-nowarn", "-d", classes, "-cp", APACHE_CP] + srcs,
                       capture_output=True, text=True, timeout=180)
    if not res.check("java: ZkInterop.java, JavaTls.java and Checks.java compile", c.returncode == 0, c.stdout + c.stderr):
        return None
    return classes


def run_java(res, server, workdir, classes, kind, variant=False):
    log4j = os.path.join(workdir, "client-log4j.properties")
    client_log = os.path.join(workdir, "java-client.log")
    with open(log4j, "w") as f:
        f.write("log4j.rootLogger=WARN, F\nlog4j.appender.F=org.apache.log4j.FileAppender\n"
                "log4j.appender.F.File=%s\nlog4j.appender.F.layout=org.apache.log4j.PatternLayout\n"
                "log4j.appender.F.layout.ConversionPattern=%%d %%-5p [%%t] %%c{1} - %%m%%n\n" % client_log)
    args = ["java", "-Dlog4j.configuration=file:" + log4j]
    if os.environ.get("ZK_CLIENT_SOCKET") == "netty":
        args.append("-Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty")
    args += ["-cp", APACHE_CP + ":" + classes, "ZkInterop", server.hosts, "--tick-ms", str(TICK_MS)]
    if kind == "apache":
        args.append("--apache")
    if variant:
        args.append("--variant")
    out, rc = run_program(args, JAVA_TIMEOUT_S)
    collect(res, "java: ZkInterop", out, rc, JAVA_TIMEOUT_S, prefix="java: ")
    if rc != 0:
        print("(java client log: %s)" % client_log)


CURATOR_CP = ":".join(
    os.path.join("/usr/share/java", j)
    for j in ["curator-client.jar", "curator-framework.jar", "curator-recipes.jar", "guava.jar"]
)
CURATOR_TIMEOUT_S = 180
GO_SRC = os.path.join(HERE, "..", "go", "interop.go")
# Debian's golang-github-samuel-go-zookeeper-dev puts the sources under this GOPATH.
GO_PATH = "/usr/share/gocode"
GO_TIMEOUT_S = 120


def collect(res, label, out, rc, timeout_s, prefix=None):
    """Adds a client program's PASS/FAIL lines to `res`: "FAIL <client>: <check>: <detail>", or
    with `prefix` (ZkInterop's lines name no client) "FAIL <check>: <detail>"."""
    sys.stdout.write(out)
    res.passed += len(re.findall(r"^PASS ", out, re.M))
    if prefix is None:
        failed = re.findall(r"^FAIL ([^:]*:[^:]*)", out, re.M)
    else:
        failed = [prefix + f for f in re.findall(r"^FAIL (.*?)(?::|$)", out, re.M)]
    res.failed += failed
    if rc is None:
        res.check("%s finished within %ds" % (label, timeout_s), False, "timed out")
    elif rc != 0 and not failed:
        res.check("%s exit status" % label, False, "exit %d without a FAIL line" % rc)


def run_program(args, timeout_s):
    """Runs a client program; its output and exit status (None: timed out)."""
    try:
        p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=timeout_s)
        return p.stdout, p.returncode
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        return out, None


def compile_curator(res, workdir):
    classes = os.path.join(workdir, "curator-classes")
    os.makedirs(classes, exist_ok=True)
    srcs = [os.path.join(HERE, f) for f in ("CuratorInterop.java", "CuratorFailover.java", "CuratorPause.java",
                                            "Checks.java")]
    c = subprocess.run(["javac", "-nowarn", "-d", classes, "-cp", APACHE_CP + ":" + CURATOR_CP] + srcs,
                       capture_output=True, text=True, timeout=180)
    if not res.check("curator: the Curator programs and Checks.java compile", c.returncode == 0,
                     c.stdout + c.stderr):
        return None
    return classes


def run_curator_program(res, workdir, classes, label, main, args):
    """Runs one of the Curator programs (its client log in workdir) and collects its checks;
    returns its exit status."""
    log4j = os.path.join(workdir, "%s-log4j.properties" % main)
    with open(log4j, "w") as f:
        f.write("log4j.rootLogger=WARN, F\nlog4j.appender.F=org.apache.log4j.FileAppender\n"
                "log4j.appender.F.File=%s\nlog4j.appender.F.layout=org.apache.log4j.PatternLayout\n"
                % os.path.join(workdir, "%s-client.log" % main))
    out, rc = run_program(["java", "-Dlog4j.configuration=file:" + log4j,
                           "-cp", APACHE_CP + ":" + CURATOR_CP + ":" + classes, main] + args,
                          CURATOR_TIMEOUT_S)
    collect(res, "%s: %s" % (label, main), out, rc, CURATOR_TIMEOUT_S)
    return rc


def run_curator(res, server, workdir, classes):
    run_curator_program(res, workdir, classes, "curator", "CuratorInterop", [server.hosts])


def run_curator_pause(res, server, workdir, classes):
    run_curator_program(res, workdir, classes, "curator-pause", "CuratorPause", [server.hosts])


def build_go(res, workdir):
    binary = os.path.join(workdir, "go-interop")
    env = dict(os.environ, GOPATH=GO_PATH, GO111MODULE="off", GOFLAGS="",
               GOCACHE=os.path.join(workdir, "gocache"))
    c = subprocess.run(["go", "build", "-o", binary, GO_SRC], capture_output=True, text=True,
                       timeout=300, env=env)
    if not res.check("go: interop.go builds", c.returncode == 0, c.stdout + c.stderr):
        return None
    return binary


def run_go(res, server, binary, mode=None):
    """The Go program's checks, or with mode "pause" its paused lock holder's."""
    out, rc = run_program([binary, server.hosts] + ([mode] if mode else []), GO_TIMEOUT_S)
    collect(res, "go-%s: interop" % mode if mode else "go: interop", out, rc, GO_TIMEOUT_S)


def on_ensemble(kind, workdir, name, run, tick_ms=TICK_MS):
    """Starts a 3-server ensemble of `kind` (the migration suite's: zoo.cfg files that zkr runs
    with `zkr node --zoo-cfg` and Apache ZooKeeper as they are; processes stopped by PID), calls
    run(hosts, pids) with "PORT=PID,..." of its servers (the program kills or pauses the leader itself),
    keeps the servers' logs in workdir if it returns non-zero, and stops the ensemble."""
    for d in ("migration", "kazoo", "ops"):
        sys.path.insert(0, os.path.join(HERE, "..", d))
    from mig import Ensemble

    ens = Ensemble(n=3, tick_ms=tick_ms)
    try:
        if kind == "zkr":
            for n in ens.nodes:
                ens.start_zkr(n)
            ens.wait_quorum()
        else:
            ens.start_apache()
        print("%s ensemble on %s" % (kind, ens.hosts), flush=True)
        pids = ",".join("%d=%d" % (n["client"], n["proc"].pid) for n in ens.nodes)
        rc = run(ens.hosts, pids)
        if rc != 0:
            for n in ens.nodes:
                keep = os.path.join(workdir, "%s-server-%d.log" % (name, n["id"]))
                with open(keep, "w") as f:
                    f.write(ens.log(n))
                print("(server log kept: %s)" % keep)
    finally:
        ens.close()


def run_java_tls(res, kind, workdir, classes):
    """The Java client on the TLS port of a server of `kind` (tests/support/secure.py's, with
    gen_tls.py's certificates and client authentication "need")."""
    import secure

    tls_dir = secure.make_tls(os.path.join(workdir, "tls"))
    client_pem = os.path.join(tls_dir, "client-keystore.pem")
    with open(client_pem, "w") as out:
        for part in ("client-cert.pem", "client-key.pem"):
            with open(os.path.join(tls_dir, part)) as f:
                out.write(f.read())
    server = secure.start_server(kind, tls_dir=tls_dir, sasl=False)
    try:
        print("%s TLS port on %s" % (kind, server.secure_hosts), flush=True)
        out, rc = run_program(["java", "-cp", APACHE_CP + ":" + classes, "JavaTls", server.secure_hosts,
                               client_pem, os.path.join(tls_dir, "truststore.jks")], JAVA_TIMEOUT_S)
        collect(res, "java-tls: JavaTls", out, rc, JAVA_TIMEOUT_S)
        if rc != 0:
            keep = os.path.join(workdir, "tls-server.log")
            with open(keep, "w") as f:
                f.write(server.log())
            print("(server log kept: %s)" % keep)
    finally:
        server.close()


def run_curator_failover(res, kind, workdir, classes):
    on_ensemble(kind, workdir, "curator-failover", lambda hosts, pids: run_curator_program(
        res, workdir, classes, "curator-failover", "CuratorFailover", [hosts, pids]))


# The leader-pause run: a shorter tick (syncLimit 5 s) and sessions, so that the leader's pause
# outlasts the sessions without making the run long.
PAUSE_TICK_MS = 1000
PAUSE_SESSION_MS = 10000
LEADER_PAUSE_MS = 13000


def run_curator_leader_pause(res, kind, workdir, classes):
    on_ensemble(kind, workdir, "curator-leader-pause", lambda hosts, pids: run_curator_program(
        res, workdir, classes, "curator-leader-pause", "CuratorFailover",
        [hosts, pids, "--pause", str(LEADER_PAUSE_MS), "--session", str(PAUSE_SESSION_MS)]), tick_ms=PAUSE_TICK_MS)


def run_curator_follower_pause(res, kind, workdir, classes):
    on_ensemble(kind, workdir, "curator-follower-pause", lambda hosts, pids: run_curator_program(
        res, workdir, classes, "curator-follower-pause", "CuratorFailover",
        [hosts, pids, "--pause-follower", str(LEADER_PAUSE_MS), "--session", str(PAUSE_SESSION_MS)]),
        tick_ms=PAUSE_TICK_MS)


def run_go_failover(res, kind, workdir, binary):
    def run(hosts, pids):
        out, rc = run_program([binary, hosts, pids], GO_TIMEOUT_S)
        collect(res, "go-failover: interop", out, rc, GO_TIMEOUT_S)
        return rc

    on_ensemble(kind, workdir, "go-failover", run)


def run_zkcli(res, server):
    r = "/zkcli-%06x" % random.getrandbits(24)
    script = "\n".join([
        "create %s" % r,
        "create %s/a hello" % r,
        "create %s/a again" % r,
        "get %s/a" % r,
        "set %s/a world" % r,
        "get -s %s/a" % r,
        "stat %s/a" % r,
        "ls %s" % r,
        "create -s %s/s- x" % r,
        "create -e %s/e eph" % r,
        "stat %s/e" % r,
        "ls -s %s" % r,
        "getAcl %s/a" % r,
        "setAcl %s/a digest:%s:cdrwa" % (r, U1_DIGEST),
        "get %s/a" % r,
        "addauth digest u1:p1",
        "get %s/a" % r,
        "getAcl %s/a" % r,
        "set -v 5 %s/a x" % r,
        "whoami",
        "setquota -n 5 %s" % r,
        "create %s/q qq" % r,
        "listquota %s" % r,
        "delquota %s" % r,
        "delete %s/nope" % r,
        "delete %s" % r,
        "delete %s/a" % r,
        "ls %s" % r,
        "quit",
    ]) + "\n"
    try:
        p = subprocess.run([ZKCLI, "-server", server.hosts], input=script, capture_output=True, text=True,
                           timeout=ZKCLI_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        res.check("zkCli: script finished within %ds" % ZKCLI_TIMEOUT_S, False, "timed out")
        return
    res.check("zkCli: exit status 0", p.returncode == 0, "exit %d" % p.returncode)
    # zkCli prints results on stdout and "Created ..." and errors on stderr.
    out = Seq(res, "zkCli stdout", p.stdout)
    err = Seq(res, "zkCli stderr", p.stderr)
    esc = re.escape(r)
    out.expect("zkCli: connects", r"WatchedEvent state:SyncConnected type:None path:null")
    err.expect("zkCli: create", r"Created %s" % esc)
    err.expect("zkCli: create with data", r"Created %s/a" % esc)
    err.expect("zkCli: create existing: Node already exists", r"Node already exists: %s/a" % esc)
    out.expect("zkCli: get", r"hello")
    out.expect("zkCli: get -s after set shows the new data", r"world")
    st = zkcli_stat(out.expect_block("zkCli: get -s prints a stat", r"cZxid = .*", 11))
    check_stat(res, "zkCli: get -s stat after one set", st, {
        "dataVersion": "1", "aclVersion": "0", "cversion": "0", "ephemeralOwner": "0x0",
        "dataLength": "5", "numChildren": "0", "pZxid": st.get("cZxid")})
    st2 = zkcli_stat(out.expect_block("zkCli: stat prints a stat", r"cZxid = .*", 11))
    res.check("zkCli: stat equals get -s stat", st2 == st, "%r vs %r" % (st2, st))
    out.expect("zkCli: ls", r"\[a\]")
    err.expect("zkCli: create -s", r"Created %s/s-0000000001" % esc)
    err.expect("zkCli: create -e", r"Created %s/e" % esc)
    st = zkcli_stat(out.expect_block("zkCli: stat of an ephemeral", r"cZxid = .*", 11))
    check_stat(res, "zkCli: ephemeral owner is the session", st, {
        "ephemeralOwner": lambda v: re.fullmatch(r"0x[0-9a-f]+", v) is not None and v != "0x0",
        "dataLength": "3"})
    out.expect("zkCli: ls -s children", r"\[a, e, s-0000000001\]")
    st = zkcli_stat(out.expect_block("zkCli: ls -s prints the parent stat", r"cZxid = .*", 11))
    check_stat(res, "zkCli: ls -s stat", st, {"cversion": "3", "numChildren": "3", "dataLength": "0"})
    out.expect("zkCli: getAcl scheme/id", r"'world,'anyone")
    out.expect("zkCli: getAcl perms", r": cdrwa")
    err.expect("zkCli: get after setAcl without auth: Insufficient permission",
               r"Insufficient permission : %s/a" % esc)
    out.expect("zkCli: get after addauth", r"world")
    out.expect("zkCli: getAcl shows the digest id", r"'digest,'%s" % re.escape(U1_DIGEST))
    out.expect("zkCli: getAcl digest perms", r": cdrwa")
    err.expect("zkCli: set with a wrong version", r"version No is not valid : %s/a" % esc)
    out.expect("zkCli: whoami header", r"Auth scheme: User")
    ids = set(out.lines[out.pos:out.pos + 2])
    res.check("zkCli: whoami lists the digest and ip identities", ids == {"digest: u1", "ip: 127.0.0.1"}, repr(ids))
    # listquota: the stats node the server keeps: r, a, e, s-1 and q; hello->world (5), eph, x, qq.
    out.expect("zkCli: listquota shows the limits", r"Output quota for %s count=5,bytes=-1.*" % esc)
    out.expect("zkCli: listquota shows the usage the server counted", r"Output stat for %s count=5,bytes=11" % esc)
    err.expect("zkCli: delete missing: Node does not exist", r"Node does not exist: %s/nope" % esc)
    err.expect("zkCli: delete non-empty: Node not empty", r"Node not empty: %s" % esc)
    out.expect("zkCli: ls after delete", r"\[e, q, s-0000000001\]")
    res.check("zkCli: no unexpected error lines", not re.search(r"Exception|KeeperErrorCode", p.stderr),
              p.stderr[-2000:])

    # Command-line mode: one command per run, each its own session.
    for args, pattern, name in [
        (["get", r + "/s-0000000001"], r"x", "zkCli (args): get"),
        (["ls", r], r"\[q, s-0000000001\]", "zkCli (args): ls after the script's session closed (ephemeral gone)"),
    ]:
        try:
            p = subprocess.run([ZKCLI, "-server", server.hosts] + args, capture_output=True, text=True,
                               timeout=ZKCLI_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            res.check(name, False, "timed out")
            continue
        Seq(res, "zkCli stdout", p.stdout).expect(name, pattern)


def cli_mt(server, command):
    """Runs one cli_mt batch command; returns its output lines (stdout and stderr) or None."""
    try:
        p = subprocess.run([CLI_MT, "-h", server.hosts, "-c", command], capture_output=True, text=True,
                           timeout=CLI_MT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None, None
    return p.returncode, p.stdout + p.stderr


def run_cli_mt(res, server):
    r = "/cmt-%06x" % random.getrandbits(24)
    esc = re.escape(r)

    def step(name, command, patterns, absent=()):
        rc, out = cli_mt(server, command)
        if out is None:
            res.check(name, False, "cli_mt timed out after %ds" % CLI_MT_TIMEOUT_S)
            return None
        if not res.check(name + ": exits 0", rc == 0, "exit %s\n%s" % (rc, out)):
            return None
        seq = Seq(res, "cli_mt output", out)
        # The C client reads the handshake answer into a fixed 41-byte buffer; a session id
        # means it parsed zkr's ConnectResponse.
        m = seq.expect(name + ": connected with a session id", r"Got a new session id: 0x([0-9a-f]+)")
        if m:
            res.check(name + ": session id non-zero", int(m.group(1), 16) != 0, m.group(0))
        for i, pat in enumerate(patterns):
            seq.expect("%s [%d]" % (name, i + 1), pat)
        for pat in absent:
            res.check("%s: no line %r" % (name, pat), not re.search(pat, out, re.M), out)
        return seq

    step("cli_mt: create", "create %s" % r, [r"\[%s\]: rc = 0" % esc, r"\tname = %s" % esc])
    step("cli_mt: create child", "create %s/a" % r, [r"\[%s/a\]: rc = 0" % esc])
    step("cli_mt: set", "set %s/a hello" % r, [r"%s/a: rc = 0 Stat:" % esc, r"\tversion=1\taversion=0"])
    step("cli_mt: get", "get %s/a" % r, [r"%s/a: rc = 0" % esc, r" value_len = 5", r"hello",
                                         r"\tversion=1\taversion=0", r"\tephemeralOwner = 0"])
    step("cli_mt: create existing: ZNODEEXISTS", "create %s/a" % r, [r"\[%s/a\]: rc = -110" % esc])
    step("cli_mt: create sequential", "create +s %s/s-" % r, [r"\tname = %s/s-0000000001" % esc])
    step("cli_mt: create ephemeral", "create +e %s/e" % r, [r"\[%s/e\]: rc = 0" % esc])
    seq = step("cli_mt: ls", "ls %s" % r, [r"%s: rc = 0" % esc])
    if seq:
        kids = sorted(l.strip() for l in seq.lines[seq.pos:] if l.startswith("\t"))
        res.check("cli_mt: ls children (the batch session's ephemeral is gone)", kids == ["a", "s-0000000001"],
                  repr(kids))
    step("cli_mt: create2 prints a stat", "create2 %s/b" % r, [r"\tname = %s/b" % esc, r"\tversion=0\taversion=0"])
    step("cli_mt: ls2", "ls2 %s" % r, [r"%s: rc = 0" % esc, r"\tversion=0\taversion=0"])
    step("cli_mt: get missing: ZNONODE", "get %s/nope" % r, [r"%s/nope: rc = -101" % esc])
    step("cli_mt: delete non-empty: ZNOTEMPTY", "delete %s" % r, [r"%s: rc = -111" % esc])
    step("cli_mt: delete", "delete %s/a" % r, [r"%s/a: rc = 0" % esc])
    step("cli_mt: delete missing: ZNONODE", "delete %s/a" % r, [r"%s/a: rc = -101" % esc])
    step("cli_mt: create container", "create +c %s/c" % r, [r"\[%s/c\]: rc = 0" % esc])
    step("cli_mt: create ttl", "create +t=60000 %s/t" % r, [r"\[%s/t\]: rc = 0" % esc])
    step("cli_mt: sync", "sync %s" % r, [r"\[%s\]: rc = 0" % esc])
    seq = step("cli_mt: ls after delete", "ls %s" % r, [r"%s: rc = 0" % esc])
    if seq:
        kids = sorted(l.strip() for l in seq.lines[seq.pos:] if l.startswith("\t"))
        res.check("cli_mt: children after delete", kids == ["b", "c", "s-0000000001", "t"], repr(kids))


PARTS = ["java", "java-tls", "zkcli", "cli_mt", "curator", "curator-pause", "curator-failover", "curator-leader-pause",
         "curator-follower-pause", "go", "go-failover", "go-pause"]


def run_against(kind, only=PARTS):
    res = Results(kind)
    workdir = tempfile.mkdtemp(prefix="zkr-java-interop-")
    print("==== %s" % ("Apache ZooKeeper 3.8.0" if kind == "apache" else "zkr"), flush=True)
    server = Server(kind, tick_ms=TICK_MS, container_check_ms=CONTAINER_CHECK_MS)
    # The variant server: TTL nodes off, reconfig on. (The keys are put into zkr's [features]
    # table by giving servers.py our own [metrics] table, which it then appends after [features].)
    variant = Server(kind, tick_ms=TICK_MS, extended_types=False,
                     extra_toml="reconfig_enabled = true\n[metrics]\nport = 0\n",
                     extra_zoo_cfg="reconfigEnabled=true\n")
    started = time.time()
    try:
        classes = compile_java(res, workdir) if {"java", "java-tls"} & set(only) else None
        curator = compile_curator(res, workdir) if {p for p in only if p.startswith("curator")} else None
        go = build_go(res, workdir) if {p for p in only if p.startswith("go")} else None
        server.start()
        print("server %s on %s" % (kind, server.hosts), flush=True)
        if classes and "java" in only:
            print("=== Java client", flush=True)
            run_java(res, server, workdir, classes, kind)
        if classes and "java-tls" in only:
            print("=== Java client over TLS (Netty, PEM key store)", flush=True)
            run_java_tls(res, kind, workdir, classes)
        if "zkcli" in only:
            print("=== zkCli.sh", flush=True)
            run_zkcli(res, server)
        if "cli_mt" in only:
            print("=== cli_mt (C client)", flush=True)
            run_cli_mt(res, server)
        if curator and "curator" in only:
            print("=== Curator recipes", flush=True)
            run_curator(res, server, workdir, curator)
        if curator and "curator-pause" in only:
            print("=== Curator lock whose holder is paused past its session timeout", flush=True)
            run_curator_pause(res, server, workdir, curator)
        if go and "go" in only:
            print("=== Go client (samuel/go-zookeeper)", flush=True)
            run_go(res, server, go)
        if go and "go-pause" in only:
            print("=== Go lock holder paused past its session timeout", flush=True)
            run_go(res, server, go, "pause")
        res.check("server still running at the end", server.proc is not None and server.proc.poll() is None,
                  "server exited")
        if curator and "curator-failover" in only:
            print("=== Curator lock across a leader failover (3 servers)", flush=True)
            run_curator_failover(res, kind, workdir, curator)
        if curator and "curator-leader-pause" in only:
            print("=== Curator lock across a leader's pause past the session timeout (3 servers)", flush=True)
            run_curator_leader_pause(res, kind, workdir, curator)
        if curator and "curator-follower-pause" in only:
            print("=== Curator lock across a pause of the holder's follower past the session timeout (3 servers)",
                  flush=True)
            run_curator_follower_pause(res, kind, workdir, curator)
        if go and "go-failover" in only:
            print("=== Go client across a leader failover (3 servers)", flush=True)
            run_go_failover(res, kind, workdir, go)
        if classes and "java" in only:
            variant.start()
            print("=== Java client, variant server (TTL off, reconfig on) on %s" % variant.hosts, flush=True)
            run_java(res, variant, workdir, classes, kind, variant=True)
    except Exception as e:  # a harness error is a failure, not a crash
        res.check("harness", False, repr(e))
    finally:
        if res.failed:
            for name, s in [("server.log", server), ("variant-server.log", variant)]:
                keep = os.path.join(workdir, name)
                with open(keep, "w") as f:
                    f.write(s.log())
                print("(server log kept: %s)" % keep)
        server.close()
        variant.close()
        if not res.failed:
            shutil.rmtree(workdir, ignore_errors=True)
    print("==== %s: %d passed, %d failed (%.0fs)" % (kind, res.passed, len(res.failed), time.time() - started))
    for f in res.failed:
        print("  failed: %s" % f)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", choices=["zkr", "apache", "all"],
                    default=os.environ.get("ZK_SERVER", "zkr"))
    ap.add_argument("--only", default=",".join(PARTS),
                    help="which clients, comma-separated (default: all of %s)" % ",".join(PARTS))
    args = ap.parse_args()
    only = [p for p in args.only.split(",") if p]
    unknown = [p for p in only if p not in PARTS]
    if unknown:
        ap.error("unknown --only part(s): %s" % ",".join(unknown))
    kinds = ["zkr", "apache"] if args.server == "all" else [args.server]
    results = [run_against(k, only) for k in kinds]
    bad = [r for r in results if r.failed]
    for r in results:
        print("%s: %d passed, %d failed" % (r.label, r.passed, len(r.failed)))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
