"""Real processes for the ops tests: a zkr ensemble (N `zkr node` processes on free loopback
ports, each with its own data directory and Prometheus endpoint) and a real Prometheus server
(Debian's `prometheus`) scraping it, with a small client for Prometheus's HTTP API.

Every process is started by PID and stopped by PID; every wait has a deadline."""

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
DASHBOARDS = os.path.join(REPO, "dashboards")
ZKR_BIN = os.environ.get("ZKR_BIN") or os.path.join(REPO, "target", "debug", "zkr")
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

sys.path.insert(0, os.path.join(REPO, "tests", "support"))
from servers import four_letter  # noqa: E402  (tests/support, shared with the kazoo tests)
from ports import free_port, free_ports  # noqa: E402,F401  (distinct, below the ephemeral range)


def mntr(port):
    """mntr as a dict (empty if the server does not answer or is not serving)."""
    out = {}
    for line in four_letter(port, "mntr").splitlines():
        if "\t" in line:
            k, v = line.split("\t", 1)
            out[k] = v
    return out


def http_get(url, timeout=10.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def parse_exposition(text):
    """Prometheus text format -> {'name{labels}': float}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            pass
    return out


def wait_until(what, check, within=60.0, every=0.2):
    """Calls check() until it returns a truthy value (returned) or `within` seconds pass."""
    deadline = time.time() + within
    last = None
    while time.time() < deadline:
        try:
            last = check()
        except Exception as e:  # noqa: BLE001 - keep polling; report the last error
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(every)
    raise AssertionError("timed out after %.0fs waiting for %s (last: %r)" % (within, what, last))


class Node:
    def __init__(self, sid, client_port, peer_port, metrics_port, directory):
        self.sid = sid
        self.client_port = client_port
        self.peer_port = peer_port
        self.metrics_port = metrics_port
        self.dir = directory
        self.proc = None

    @property
    def target(self):
        return "127.0.0.1:%d" % self.metrics_port

    def metrics(self):
        return parse_exposition(http_get("http://%s/metrics" % self.target))

    def metrics_text(self):
        return http_get("http://%s/metrics" % self.target)

    def mode(self):
        for line in four_letter(self.client_port, "srvr").splitlines():
            if line.startswith("Mode: "):
                return line[len("Mode: "):]
        return None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        try:
            with open(os.path.join(self.dir, "node.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""


class _OwnsProcesses:
    """Context manager for a class with `start()` (returns self), `stop()` and a temp `dir`:
    whatever happens, its processes are stopped and its directory removed."""

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc):
        self.close()


class Ensemble(_OwnsProcesses):
    """N voting members on loopback. tick_ms small so elections and expiries are quick."""

    def __init__(self, n=3, tick_ms=500, snap_count=100, admin=False, storage=""):
        self.dir = tempfile.mkdtemp(prefix="zkr-ops-")
        # More `[storage]` lines, as TOML.
        self.storage = storage
        self.tick_ms = tick_ms
        self.snap_count = snap_count
        ports = free_ports(4 * n)
        self.nodes = [Node(i + 1, ports[4 * i], ports[4 * i + 1], ports[4 * i + 2],
                           os.path.join(self.dir, "node%d" % (i + 1))) for i in range(n)]
        for i, node in enumerate(self.nodes):
            # The admin server (HTTP: /commands, /ready, /live) when asked for.
            node.admin_port = ports[4 * i + 3] if admin else None

    @property
    def hosts(self):
        return ",".join("127.0.0.1:%d" % n.client_port for n in self.nodes)

    def toml(self, node):
        servers = "".join(
            '  { id = %d, host = "127.0.0.1", peer_port = %d, client_port = %d },\n'
            % (m.sid, m.peer_port, m.client_port) for m in self.nodes)
        return (
            '[node]\nid = %d\ndata_dir = "%s"\nclient_port = %d\nclient_address = "127.0.0.1"\n'
            'tick_time_ms = %d\nfour_letter_words = ["*"]\nmax_client_connections = 0\n\n'
            '[ensemble]\ninit_limit = 10\nsync_limit = 5\nservers = [\n%s]\n\n'
            '[storage]\nsnap_count = %d\npreallocate_bytes = 1048576\n%s\n'
            '[metrics]\nport = %d\naddress = "127.0.0.1"\n%s'
            % (node.sid, os.path.join(node.dir, "data"), node.client_port, self.tick_ms, servers,
               self.snap_count, self.storage, node.metrics_port,
               '[admin]\nenabled = true\naddress = "127.0.0.1"\nport = %d\n' % node.admin_port
               if node.admin_port else ""))

    def start(self):
        if not os.access(ZKR_BIN, os.X_OK):
            raise RuntimeError("no zkr binary at %s (cargo build first, or set ZKR_BIN)" % ZKR_BIN)
        for node in self.nodes:
            self.start_node(node)
        self.wait_serving()
        return self

    def start_node(self, node):
        os.makedirs(node.dir, exist_ok=True)
        cfg = os.path.join(node.dir, "zkr.toml")
        with open(cfg, "w") as f:
            f.write(self.toml(node))
        logf = open(os.path.join(node.dir, "node.log"), "ab")
        try:
            node.proc = subprocess.Popen([ZKR_BIN, "node", "--config", cfg], stdout=logf,
                                         stderr=logf, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        finally:
            logf.close()

    def wait_serving(self, within=90.0, nodes=None):
        nodes = nodes or [n for n in self.nodes if n.alive()]

        def ok():
            modes = [n.mode() for n in nodes]
            if all(m in ("leader", "follower", "observer") for m in modes) and \
                    modes.count("leader") == 1:
                return modes
            for n in nodes:
                if not n.alive():
                    raise RuntimeError("node %d exited:\n%s" % (n.sid, n.log()[-3000:]))
            return None

        return wait_until("every node serving with one leader", ok, within)

    def leader(self):
        for n in self.nodes:
            if n.alive() and n.mode() == "leader":
                return n
        return None

    def kill9(self, node):
        if node.alive():
            node.proc.kill()
            node.proc.wait(30)

    def stop(self):
        for n in self.nodes:
            if n.alive():
                n.proc.send_signal(signal.SIGTERM)
        for n in self.nodes:
            if n.proc is not None:
                try:
                    n.proc.wait(15)
                except subprocess.TimeoutExpired:
                    n.proc.kill()
                    n.proc.wait(15)


class PromError(Exception):
    pass


class Prometheus(_OwnsProcesses):
    """A Prometheus server on a free loopback port with its own data directory, scraping
    `targets` (job "zkr") every second and evaluating `rule_files` every second."""

    def __init__(self, targets, rule_files=(), scrape_interval="1s"):
        self.dir = tempfile.mkdtemp(prefix="zkr-prom-")
        self.port = free_port()
        self.targets = list(targets)
        self.rule_files = [os.path.abspath(p) for p in rule_files]
        self.scrape_interval = scrape_interval
        self.config = os.path.join(self.dir, "prometheus.yml")
        self.proc = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def write_config(self):
        # JSON is YAML: no YAML library needed.
        cfg = {
            "global": {"scrape_interval": self.scrape_interval,
                       "evaluation_interval": self.scrape_interval,
                       "scrape_timeout": self.scrape_interval},
            "rule_files": self.rule_files,
            "scrape_configs": [{"job_name": "zkr",
                                "static_configs": [{"targets": self.targets}]}],
        }
        with open(self.config, "w") as f:
            json.dump(cfg, f, indent=2)

    def start(self):
        if not os.access(PROMETHEUS, os.X_OK):
            raise RuntimeError("no prometheus binary (scripts/setup.sh installs Debian's)")
        self.write_config()
        logf = open(os.path.join(self.dir, "prometheus.log"), "ab")
        try:
            self.proc = subprocess.Popen(
                [PROMETHEUS, "--config.file=" + self.config,
                 "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
                 "--web.listen-address=127.0.0.1:%d" % self.port,
                 "--log.level=warn"],
                stdout=logf, stderr=logf, stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            logf.close()

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError("prometheus exited:\n" + self.log()[-3000:])
            try:
                return http_get(self.url + "/-/ready", 2).strip() != ""
            except (urllib.error.URLError, OSError):
                return False

        wait_until("prometheus ready", ready, 60)
        return self

    def log(self):
        try:
            with open(os.path.join(self.dir, "prometheus.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def api(self, path, **params):
        url = self.url + "/api/v1/" + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            body = http_get(url, 30)
        except urllib.error.HTTPError as e:
            body = e.read().decode()
        doc = json.loads(body)
        if doc.get("status") != "success":
            raise PromError("%s %r: %s: %s" % (path, params, doc.get("errorType"),
                                               doc.get("error")))
        return doc["data"]

    def query(self, expr):
        """Instant query; returns (resultType, result)."""
        d = self.api("query", query=expr)
        return d["resultType"], d["result"]

    def series_names(self):
        return set(self.api("label/__name__/values"))

    def rules(self):
        return self.api("rules")["groups"]

    def targets_up(self):
        active = self.api("targets")["activeTargets"]
        return [t for t in active if t["health"] == "up"]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None


# --- raw client frames, for what kazoo will not send -------------------------------------

def _frame(payload):
    return struct.pack(">i", len(payload)) + payload


def _recv_frame(sock):
    def exactly(n):
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        return buf
    (n,) = struct.unpack(">i", exactly(4))
    return exactly(n)


def raw_session(port, timeout_ms):
    """Opens a session on a raw socket; returns the socket (close it without closeSession and
    the session expires after its timeout)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    connect = struct.pack(">iqiqi", 0, 0, timeout_ms, 0, 16) + b"\x00" * 16
    s.sendall(_frame(connect))
    _recv_frame(s)
    return s


def send_unknown_opcode(port, opcode=9999):
    """A session, then a request with an opcode no server knows (Unimplemented, then close)."""
    s = raw_session(port, 1000)
    try:
        s.sendall(_frame(struct.pack(">ii", 1, opcode)))
        hdr = _recv_frame(s)
        xid, _zxid, err = struct.unpack(">iqi", hdr[:16])
        return xid, err
    finally:
        s.close()
