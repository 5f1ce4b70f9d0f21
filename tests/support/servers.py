"""Start real servers for the Python and Java test suites: a zkr node (the binary in $ZKR_BIN)
or Apache ZooKeeper 3.8 from Debian's `zookeeper` package, each standalone on a free loopback
port with its own temporary data directory; stop them by PID."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from ports import free_port  # noqa: F401  (below the ephemeral range, never twice: ports.py)

JAVA_LIB = "/usr/share/java"
APACHE_CP = ":".join(
    os.path.join(JAVA_LIB, j)
    for j in [
        "zookeeper.jar",
        "zookeeper-jute.jar",
        "netty-codec.jar",
        "netty-resolver.jar",
        "netty-transport-native-unix-common.jar",
        "netty-handler.jar",
        "netty-transport.jar",
        "netty-buffer.jar",
        "netty-common.jar",
        "slf4j-api.jar",
        "slf4j-log4j12.jar",
        "log4j-1.2.jar",
        "metrics-core.jar",
        "snappy-java.jar",
        "commons-cli.jar",
    ]
)
# Debian's ZooKeeper runs its Jetty AdminServer with these (libjetty9-java, libjackson2-*,
# libservlet-api-java; installed by scripts/setup.sh).
ADMIN_CP = ":".join(
    os.path.join(JAVA_LIB, j)
    for j in [
        "jetty9-server.jar",
        "jetty9-servlet.jar",
        "jetty9-http.jar",
        "jetty9-io.jar",
        "jetty9-util.jar",
        "jetty9-security.jar",
        "jackson-databind.jar",
        "jackson-core.jar",
        "jackson-annotations.jar",
        "servlet-api.jar",
    ]
)
SUPER_DIGEST = "super:D/InIHSb7yEEbrWz8b9l71RjZJU="  # super:test


def four_letter(port, word, timeout=3.0):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(word.encode())
            chunks = []
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
            return b"".join(chunks).decode(errors="replace")
    except OSError:
        return ""


def http_request(url, headers=None, timeout=30.0):
    """GET `url`: (status, body, response headers); a JSON body is parsed. HTTP errors are
    answers too; raises OSError only when nothing answers."""
    import json
    import urllib.error
    import urllib.request
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, body, hdrs = r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        status, body, hdrs = e.code, e.read(), e.headers
    if hdrs.get("Content-Type", "").startswith("application/json"):
        body = json.loads(body)
    return status, body, hdrs


def wait_serving(port, within=60.0):
    """Waits until the server on `port` serves clients. `ruok` alone is not enough: Apache
    ZooKeeper 3.8 answers "imok" while it still loads its data, and `srvr` says "not currently
    serving" until it is done (a `srvr` outside a whitelist is taken as serving). A client that
    connects in that window can be left hanging: 3.8.0 accepts it, fails to close it (a
    NullPointerException in ZooKeeperServer.removeCnxn, its database not loaded yet) and never
    answers, so the client waits out its connect timeout."""
    end = time.time() + within
    while time.time() < end:
        if four_letter(port, "ruok") == "imok" and \
                "not currently serving" not in four_letter(port, "srvr"):
            return
        time.sleep(0.1)
    raise RuntimeError("server on port %d not serving after %.0fs" % (port, within))


class Server:
    """A server process. kind = "zkr" or "apache"."""

    def __init__(self, kind="zkr", tick_ms=2000, extended_types=True, super_digest=SUPER_DIGEST,
                 container_check_ms=None, extra_toml="", extra_zoo_cfg="", jvm_args=(),
                 admin=False):
        self.kind = kind
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="zkr-%s-" % kind)
        self.tick_ms = tick_ms
        self.extended_types = extended_types
        self.super_digest = super_digest
        self.container_check_ms = container_check_ms
        self.extra_toml = extra_toml
        self.extra_zoo_cfg = extra_zoo_cfg
        self.jvm_args = list(jvm_args)  # extra JVM options for Apache (-Dkey=value ...)
        # The AdminServer (HTTP, on a free loopback port) when asked for.
        self.admin_port = free_port() if admin else None
        self.proc = None

    @property
    def admin_url(self):
        return "http://127.0.0.1:%d" % self.admin_port

    @property
    def hosts(self):
        return "127.0.0.1:%d" % self.port

    def log(self):
        try:
            with open(os.path.join(self.dir, "server.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def start(self):
        logf = open(os.path.join(self.dir, "server.log"), "ab")
        if self.kind == "zkr":
            cfg = os.path.join(self.dir, "zkr.toml")
            with open(cfg, "w") as f:
                f.write('[node]\nid = 0\ndata_dir = "%s"\nclient_port = %d\n'
                        'client_address = "127.0.0.1"\ntick_time_ms = %d\n'
                        'four_letter_words = ["*"]\nmax_client_connections = 0\n'
                        % (os.path.join(self.dir, "data"), self.port, self.tick_ms))
                if self.super_digest:
                    f.write('[auth]\nsuper_digest = "%s"\n' % self.super_digest)
                f.write("[features]\nextended_types = %s\n" % ("true" if self.extended_types else "false"))
                if self.container_check_ms:
                    f.write("container_check_interval_ms = %d\n" % self.container_check_ms)
                if "[metrics]" not in self.extra_toml:
                    f.write("[metrics]\nport = 0\n")
                if self.admin_port:
                    f.write('[admin]\nenabled = true\naddress = "127.0.0.1"\nport = %d\n'
                            % self.admin_port)
                f.write(self.extra_toml)
            zkr = os.environ.get("ZKR_BIN") or os.path.join(
                os.path.dirname(__file__), "..", "..", "target", "debug", "zkr")
            self.proc = subprocess.Popen([zkr, "node", "--config", cfg], stdout=logf, stderr=logf,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        else:
            data = os.path.join(self.dir, "data")
            os.makedirs(data, exist_ok=True)
            cfg = os.path.join(self.dir, "zoo.cfg")
            with open(cfg, "w") as f:
                f.write("tickTime=%d\ndataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\n"
                        "maxClientCnxns=0\nadmin.enableServer=false\n4lw.commands.whitelist=*\n"
                        % (self.tick_ms, data, self.port))
                if self.admin_port:
                    f.write("admin.enableServer=true\nadmin.serverAddress=127.0.0.1\n"
                            "admin.serverPort=%d\n" % self.admin_port)
                f.write(self.extra_zoo_cfg)
            props = os.path.join(self.dir, "log4j.properties")
            with open(props, "w") as f:
                f.write("log4j.rootLogger=INFO, F\nlog4j.appender.F=org.apache.log4j.FileAppender\n"
                        "log4j.appender.F.File=%s\nlog4j.appender.F.layout=org.apache.log4j.PatternLayout\n"
                        "log4j.appender.F.layout.ConversionPattern=%%d %%-5p [%%t] %%c{1} - %%m%%n\n"
                        % os.path.join(self.dir, "server.log"))
            args = ["java", "-Xmx512m", "-Dfile.encoding=UTF-8",
                    "-Dlog4j.configuration=file:" + props,
                    "-Dzookeeper.extendedTypesEnabled=%s" % ("true" if self.extended_types else "false")]
            if self.super_digest:
                args.append("-Dzookeeper.DigestAuthenticationProvider.superDigest=" + self.super_digest)
            if self.container_check_ms:
                args.append("-Dznode.container.checkIntervalMs=%d" % self.container_check_ms)
            args += self.jvm_args
            cp = APACHE_CP + (":" + ADMIN_CP if self.admin_port else "")
            args += ["-cp", cp, "org.apache.zookeeper.server.quorum.QuorumPeerMain", cfg]
            self.proc = subprocess.Popen(args, stdout=logf, stderr=logf, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        wait_serving(self.port, 90)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
