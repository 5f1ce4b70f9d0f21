"""Packaging, tested without a container engine: the Docker entrypoint writes the zoo.cfg and
myid the official ZooKeeper image writes for the same environment, and zkr runs from them (a
3-server ensemble of entrypoint-made configurations serves and answers /ready); the systemd unit
passes `systemd-analyze verify`; the Kubernetes manifests have what the README promises
(headless service publishing not-ready addresses, probes on the admin endpoint, a
PodDisruptionBudget, data on a volume claim), read with a YAML parser; the Dockerfile builds a
non-root image from a slim base."""

import json
import os
import shutil
import subprocess
import tempfile

import pytest

from cluster import REPO, ZKR_BIN, free_ports, wait_until
from servers import four_letter, http_request

pytestmark = pytest.mark.timeout(180)

PACKAGING = os.path.join(REPO, "packaging")
ENTRYPOINT = os.path.join(PACKAGING, "docker", "docker-entrypoint.sh")


def entrypoint(env, *cmd):
    full = {"PATH": os.environ["PATH"], **env}
    return subprocess.run([ENTRYPOINT, *cmd], env=full, capture_output=True, text=True,
                          timeout=60)


def read(path):
    with open(path) as f:
        return f.read()


def test_entrypoint_writes_the_official_images_configuration():
    d = tempfile.mkdtemp(prefix="zkr-entry-")
    try:
        env = {"ZOO_CONF_DIR": d + "/conf", "ZOO_DATA_DIR": d + "/data",
               "ZOO_DATA_LOG_DIR": d + "/datalog", "ZOO_MY_ID": "2", "ZOO_TICK_TIME": "500",
               "ZOO_INIT_LIMIT": "7", "ZOO_SYNC_LIMIT": "3",
               "ZOO_SERVERS": "server.1=h1:2888:3888;2181 server.2=h2:2888:3888;2181",
               "ZOO_4LW_COMMANDS_WHITELIST": "ruok,srvr", "ZOO_ADMINSERVER_ENABLED": "false",
               "ZOO_STANDALONE_ENABLED": "false", "ZOO_CFG_EXTRA": "snapCount=5000 foo=bar",
               "ZOO_AUDIT_ENABLED": "true"}
        r = entrypoint(env, "true")
        assert r.returncode == 0, r.stderr
        cfg = read(d + "/conf/zoo.cfg").splitlines()
        for line in ["dataDir=%s/data" % d, "dataLogDir=%s/datalog" % d, "tickTime=500",
                     "initLimit=7", "syncLimit=3", "autopurge.snapRetainCount=3",
                     "autopurge.purgeInterval=0", "maxClientCnxns=60",
                     "standaloneEnabled=false", "admin.enableServer=false",
                     "server.1=h1:2888:3888;2181", "server.2=h2:2888:3888;2181",
                     "4lw.commands.whitelist=ruok,srvr", "snapCount=5000", "foo=bar",
                     "metricsProvider.httpPort=7000", "audit.enable=true"]:
            assert line in cfg, (line, cfg)
        assert read(d + "/data/myid") == "2\n"
        # An existing configuration and myid are kept, as the official image keeps them.
        env["ZOO_MY_ID"] = "3"
        env["ZOO_TICK_TIME"] = "999"
        assert entrypoint(env, "true").returncode == 0
        assert read(d + "/data/myid") == "2\n"
        assert "tickTime=500" in read(d + "/conf/zoo.cfg")
        # Without ZOO_SERVERS: the official image's single server.
        shutil.rmtree(d + "/conf")
        assert entrypoint({"ZOO_CONF_DIR": d + "/conf", "ZOO_DATA_DIR": d + "/d2",
                           "ZOO_DATA_LOG_DIR": d + "/l2"}, "true").returncode == 0
        cfg = read(d + "/conf/zoo.cfg")
        assert "server.1=localhost:2888:3888;2181\n" in cfg and "tickTime=2000\n" in cfg
        assert read(d + "/d2/myid") == "1\n"
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_an_ensemble_runs_from_entrypoint_made_configurations():
    d = tempfile.mkdtemp(prefix="zkr-entry-ens-")
    ports = free_ports(12)
    nodes = [dict(sid=i + 1, client=ports[4 * i], peer=ports[4 * i + 1],
                  election=ports[4 * i + 2], admin=ports[4 * i + 3]) for i in range(3)]
    servers = " ".join("server.%d=127.0.0.1:%d:%d;127.0.0.1:%d"
                       % (n["sid"], n["peer"], n["election"], n["client"]) for n in nodes)
    procs = []
    try:
        for n in nodes:
            home = os.path.join(d, "n%d" % n["sid"])
            env = {"ZOO_CONF_DIR": home + "/conf", "ZOO_DATA_DIR": home + "/data",
                   "ZOO_DATA_LOG_DIR": home + "/datalog", "ZOO_MY_ID": str(n["sid"]),
                   "ZOO_TICK_TIME": "500", "ZOO_SERVERS": servers,
                   "ZOO_4LW_COMMANDS_WHITELIST": "ruok,srvr", "ZOO_METRICS_PORT": "0",
                   "ZOO_CFG_EXTRA": "admin.serverAddress=127.0.0.1 admin.serverPort=%d "
                                    "clientPortAddress=127.0.0.1" % n["admin"]}
            log = open(os.path.join(d, "n%d.log" % n["sid"]), "wb")
            procs.append(subprocess.Popen(
                [ENTRYPOINT, ZKR_BIN, "node", "--zoo-cfg", home + "/conf/zoo.cfg"],
                env={"PATH": os.environ["PATH"], **env}, stdout=log, stderr=log,
                stdin=subprocess.DEVNULL, start_new_session=True))
            log.close()

        def all_ready():
            for p in procs:
                assert p.poll() is None, "a node exited"
            try:
                return all(http_request("http://127.0.0.1:%d/ready" % n["admin"])[0] == 200
                           for n in nodes)
            except OSError:
                return False

        wait_until("the entrypoint-made ensemble ready", all_ready, 90)
        modes = sorted(line.split(": ", 1)[1] for n in nodes
                       for line in four_letter(n["client"], "srvr").splitlines()
                       if line.startswith("Mode: "))
        assert modes == ["follower", "follower", "leader"], modes
        # The entrypoint's whitelist is honoured.
        assert "not in the whitelist" in four_letter(nodes[0]["client"], "conf")
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(d, ignore_errors=True)


def test_systemd_unit_verifies():
    analyze = shutil.which("systemd-analyze")
    assert analyze, "scripts/setup.sh installs systemd"
    d = tempfile.mkdtemp(prefix="zkr-unit-")
    try:
        unit = read(os.path.join(PACKAGING, "systemd", "zkr.service"))
        assert "ExecStart=/usr/local/bin/zkr node " in unit
        assert "User=zkr" in unit and "Restart=on-failure" in unit
        # verify checks that the binary exists: point it at the one just built.
        path = os.path.join(d, "zkr.service")
        with open(path, "w") as f:
            f.write(unit.replace("/usr/local/bin/zkr", os.path.abspath(ZKR_BIN)))
        r = subprocess.run([analyze, "verify", path], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        problems = [line for line in (r.stdout + r.stderr).splitlines() if "zkr.service" in line]
        assert not problems, problems
    finally:
        shutil.rmtree(d, ignore_errors=True)


def kubernetes_objects():
    """The manifests parsed by a YAML parser (Debian's python3-yaml, outside the test venv)."""
    path = os.path.join(PACKAGING, "kubernetes", "zkr.yaml")
    r = subprocess.run(["/usr/bin/python3", "-c",
                        "import json, sys, yaml; "
                        "print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))", path],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return {(o["kind"], o["metadata"]["name"]): o for o in json.loads(r.stdout)}


def test_kubernetes_manifests_have_what_an_ensemble_needs():
    objs = kubernetes_objects()
    headless = objs[("Service", "zkr-headless")]["spec"]
    assert headless["clusterIP"] == "None" and headless["publishNotReadyAddresses"] is True
    assert {p["port"] for p in headless["ports"]} == {2181, 2888, 3888}
    sts = objs[("StatefulSet", "zkr")]["spec"]
    assert sts["serviceName"] == "zkr-headless" and sts["replicas"] == 3
    labels = sts["template"]["metadata"]["labels"]
    assert sts["selector"]["matchLabels"].items() <= labels.items()
    pdb = objs[("PodDisruptionBudget", "zkr")]
    assert pdb["apiVersion"] == "policy/v1" and pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    pod = sts["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (c,) = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "admin"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/live", "port": "admin"}
    assert ports["admin"] == 8080 and ports["client"] == 2181
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    claims = {t["metadata"]["name"] for t in sts["volumeClaimTemplates"]}
    assert mounts["data"] == "/data" and "data" in claims
    env = {e["name"]: e.get("value") for e in c["env"]}
    servers = env["ZOO_SERVERS"].split()
    assert servers == ["server.%d=zkr-%d.zkr-headless:2888:3888;2181" % (i + 1, i)
                       for i in range(3)]
    # The id comes from the pod's ordinal, as the entrypoint reads it.
    assert "ZOO_MY_ID=$(( ${HOSTNAME##*-} + 1 ))" in " ".join(c["command"])


def test_dockerfile_is_a_small_non_root_image_with_the_entrypoint():
    text = read(os.path.join(PACKAGING, "docker", "Dockerfile"))
    stages = [line.split()[1] for line in text.splitlines() if line.startswith("FROM ")]
    assert stages[-1] == "debian:bookworm-slim", stages
    assert "USER zkr" in text and "useradd --system --uid 1000" in text
    assert 'ENTRYPOINT ["/docker-entrypoint.sh"]' in text
    assert "COPY packaging/docker/docker-entrypoint.sh /docker-entrypoint.sh" in text
    for port in ["2181", "2888", "3888", "8080", "7000"]:
        assert port in text.split("EXPOSE", 1)[1].splitlines()[0]
    assert os.access(ENTRYPOINT, os.X_OK)
