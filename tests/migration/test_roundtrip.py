"""Apache ZooKeeper 3.8 -> zkr -> Apache ZooKeeper 3.8, with real clients.

Data is made on Apache (every stat field moved: versions, cversion/pzxid by child creates and
deletes, aversion by setACL; null and empty data; ephemerals, sequentials, a container, a TTL
node, digest ACLs, a quota, multis) with snapCount low, so the import reads a fuzzy snapshot and
the logs after it. The data directory is imported; zkr serves it on the same port, and a client
that holds an ephemeral through the switch keeps its session. The tree is compared node by node,
stat by stat, ACL by ACL. Then it is changed on zkr, exported, loaded by Apache, and compared
again; the client's session survives the way back too.
"""

import os
import re
import shutil
import subprocess

import pytest
from kazoo.protocol.states import KazooState
from kazoo.security import make_digest_acl, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE

from mig import (ZKR_BIN, assert_same_tree, client, close_and_wait, create_container, create_ttl,
                 dump, wait_until, zkr)
from servers import Server, free_port
from util import Proxy

SESSION_S = 30.0


def diagnose_lost_session(holder, report, log):
    """What to print when the holder did not get its session back on Apache after the export: the
    last zxid the client saw, the export's report and Apache's lines about sessions and zxids."""
    lines = [l for l in log.splitlines() if re.search(r"Refusing|[Ii]nvalid session|zxid|[Ee]xpir", l)]
    return "holder's last zxid seen: %s\nexport report:\n%s\nApache's log, session and zxid lines:\n%s" % (
        hex(holder.last_zxid), report, "\n".join(lines[-40:]))


def populate(zk):
    zk.create("/app", b"v0")
    for i in range(1, 6):
        zk.set("/app", b"v%d" % i)
    zk.create("/app/null", None)
    zk.create("/app/empty", b"")
    for i in range(25):
        zk.create("/app/seq-", b"s%d" % i, sequence=True)
    for i in (3, 7, 11):
        zk.delete("/app/seq-%010d" % i)
    zk.create("/secure", b"x", acl=[make_digest_acl("u", "p", all=True)])
    zk.set_acls("/secure", [make_digest_acl("u", "p", all=True), make_digest_acl("v", "q", read=True)])
    zk.set_acls("/app/empty", READ_ACL_UNSAFE + OPEN_ACL_UNSAFE)
    create_container(zk, "/jobs")
    zk.create("/jobs/j1", b"")
    create_ttl(zk, "/lease", b"t", 3600 * 1000)
    zk.create("/big", os.urandom(200 * 1024))
    t = zk.transaction()
    t.create("/m1", b"1")
    t.create("/m1/a", b"a")
    t.set_data("/app", b"multi")
    t.commit()
    t = zk.transaction()
    t.create("/m2", b"never")
    t.delete("/does-not-exist")
    t.commit()
    # A quota as zkCli's setquota makes it: the server keeps the stats node current.
    zk.create("/zookeeper/quota/app/zookeeper_limits", b"count=1000,bytes=-1", makepath=True)
    zk.create("/zookeeper/quota/app/zookeeper_stats", b"count=0,bytes=0")
    zk.create("/app/after-quota", b"counted")


@pytest.fixture
def dirs():
    made = []

    def new(kind, **kw):
        s = Server(kind=kind, **kw)
        made.append(s)
        return s

    yield new
    for s in made:
        s.close()


def test_apache_to_zkr_and_back(dirs):
    apache = dirs("apache", container_check_ms=3600 * 1000, extra_zoo_cfg="snapCount=20\n")
    apache.start()
    admin = client(apache.hosts, super_user=True)
    populate(admin)
    # The holder reaches the servers through a relay, so that it can be kept off Apache ZooKeeper
    # while 3.8.0 starts (see servers.wait_serving: a connection made then can hang for the
    # client's whole connect timeout, here its session timeout). It reconnects to zkr while zkr
    # starts: zkr answers every connection it accepts.
    relay = Proxy(apache.port)
    holder = client(relay.hosts, timeout=SESSION_S)
    holder.create("/app/lock-", b"held", ephemeral=True, sequence=True)
    holder_session = holder.client_id
    holder.sync("/")
    truth = dump(admin)
    close_and_wait(admin, apache.port)
    apache.stop()

    # Import; serve on the same port.
    node = dirs("zkr", container_check_ms=3600 * 1000)
    node.port = apache.port
    data = os.path.join(node.dir, "data")
    _, report = zkr("import", "--from-zookeeper", os.path.join(apache.dir, "data"), "--data-dir", data)
    assert "matches the rebuilt tree" in report and "MISMATCH" not in report
    assert "1 sessions" in report
    node.start()
    wait_until("the holder back on its session", lambda: holder.state == KazooState.CONNECTED)
    assert holder.client_id == holder_session
    admin = client(node.hosts, super_user=True)
    assert_same_tree(dump(admin), truth, "zkr after the import")

    # Change it on zkr: a new session with an ephemeral (its client cut off before the export),
    # creates, sets, deletes, ACLs, a multi.
    proxy = Proxy(node.port)
    newcomer = client("127.0.0.1:%d" % proxy.port, timeout=SESSION_S)
    newcomer.create("/zkr-eph", b"", ephemeral=True)
    admin.create("/zkr-made", b"on zkr")
    admin.set("/app", b"changed on zkr")
    admin.delete("/app/seq-0000000004")
    admin.create("/app/seq-", b"zkr", sequence=True)
    admin.set_acls("/lease", READ_ACL_UNSAFE)
    admin.delete("/jobs/j1")
    t = admin.transaction()
    t.create("/m3", b"3")
    t.set_data("/m1", b"m")
    t.commit()
    holder.create("/app/lock-", b"again", ephemeral=True, sequence=True)
    holder.sync("/")
    truth2 = dump(admin)
    proxy.cut()
    relay.cut()
    close_and_wait(admin, node.port)
    node.stop()

    back = dirs("apache", container_check_ms=3600 * 1000)
    back.port = apache.port
    _, report = zkr("export", "--to-zookeeper", os.path.join(back.dir, "data"), "--data-dir", data)
    # The newcomer's session at least (sessions created on zkr cannot be resumed on ZooKeeper).
    assert re.search(r"note: [1-9]\d* of the sessions were created on zkr", report), report
    back.start()
    admin = client(back.hosts, super_user=True)
    assert_same_tree(dump(admin), truth2, "Apache ZooKeeper after the export")
    relay.restore()
    wait_until("the holder back on its session", lambda: holder.state == KazooState.CONNECTED)
    assert holder.client_id == holder_session, diagnose_lost_session(holder, report, back.log())
    assert len([c for c in holder.get_children("/app") if c.startswith("lock-")]) == 2
    log = back.log()
    assert "Digests mismatch" not in log and "digest mismatch" not in log.lower(), log[-3000:]
    assert "The digest in the snapshot has digest version of 2" in log, log[-3000:]
    admin.stop()
    admin.close()
    holder.stop()
    holder.close()
    newcomer.stop()
    newcomer.close()
    proxy.close()
    relay.close()


def test_files_without_digests_and_close_session_lists(dirs):
    """ZooKeeper 3.5's formats (no digests, closeSession without its ephemerals), written by 3.8
    with those features off; the logs in a dataLogDir of their own."""
    apache = dirs("apache", jvm_args=["-Dzookeeper.digest.enabled=false",
                                      "-Dzookeeper.closeSessionTxn.enabled=false"])
    log_dir = os.path.join(apache.dir, "txnlogs")
    apache.extra_zoo_cfg = "snapCount=10\ndataLogDir=%s\n" % log_dir
    apache.start()
    admin = client(apache.hosts, super_user=True)
    for i in range(3):
        c = client(apache.hosts)
        c.create("/gone-%d" % i, b"", ephemeral=True)
        c.stop()
        c.close()
    admin.create("/kept", b"k")
    for i in range(12):
        admin.create("/kept/n", b"%d" % i, sequence=True)
    truth = dump(admin)
    admin.stop()
    admin.close()
    apache.stop()
    node = dirs("zkr")
    _, report = zkr("import", "--from-zookeeper", os.path.join(apache.dir, "data"),
                    "--zookeeper-log-dir", log_dir, "--data-dir", os.path.join(node.dir, "data"))
    assert "replayed" in report, report
    assert "digest at" not in report and "matches the rebuilt tree" not in report, report
    node.start()
    admin = client(node.hosts, super_user=True)
    assert_same_tree(dump(admin), truth, "zkr after importing 3.5-style files")
    admin.stop()
    admin.close()


def test_damaged_input_is_named_and_nothing_is_written(dirs, tmp_path):
    apache = dirs("apache", extra_zoo_cfg="snapCount=1000\n")
    apache.start()
    admin = client(apache.hosts)
    for i in range(20):
        admin.create("/n%d" % i, b"x" * 100)
    admin.stop()
    admin.close()
    apache.stop()
    src = tmp_path / "zk"
    shutil.copytree(os.path.join(apache.dir, "data"), src)
    logs = sorted(p for p in os.listdir(src / "version-2") if p.startswith("log."))
    log = src / "version-2" / logs[-1]
    b = bytearray(log.read_bytes())
    b[16 + 30] ^= 0x55  # inside the first entry's txn bytes
    log.write_bytes(bytes(b))
    target = tmp_path / "zkr"
    code, out = zkr("import", "--from-zookeeper", str(src), "--data-dir", str(target), check=False)
    assert code != 0
    assert logs[-1] in out and "offset 16" in out and "checksum" in out, out
    assert not target.exists() or not os.listdir(target)
    # And a node pointed at ZooKeeper's dataDir refuses to start, naming the import command.
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text("tickTime=2000\ndataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\n"
                   % (src, free_port()))
    p = subprocess.run([ZKR_BIN, "node", "--zoo-cfg", str(cfg)], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=120)
    out = p.stdout.decode(errors="replace")
    assert p.returncode != 0, out
    assert "zkr import --from-zookeeper %s --data-dir %s" % (src, src) in out, out
    assert not (src / "snap").exists() and not (src / "log").exists()


@pytest.mark.parametrize("method", ["gz", "snappy"])
def test_compressed_snapshots(dirs, method):
    apache = dirs("apache", extra_zoo_cfg="snapCount=10\n",
                  jvm_args=["-Dzookeeper.snapshot.compression.method=" + method])
    apache.start()
    admin = client(apache.hosts, super_user=True)
    # Values near jute.maxbuffer that compress at the format's best ratio (zeros): the import's
    # bound on what a compressed file may expand to (zkfiles/compression.rs) must admit them.
    for i in range(4):
        admin.create("/zeros%d" % i, bytes(1000 * 1000))
    for i in range(30):
        admin.create("/c%d" % i, b"%d" % i)
    truth = dump(admin)
    admin.stop()
    admin.close()
    apache.stop()
    v2 = os.path.join(apache.dir, "data", "version-2")
    assert any(f.endswith("." + method) for f in os.listdir(v2)), os.listdir(v2)
    node = dirs("zkr")
    _, report = zkr("import", "--from-zookeeper", os.path.join(apache.dir, "data"), "--data-dir",
                    os.path.join(node.dir, "data"))
    assert "." + method + " (zxid" in report and "matches the rebuilt tree" in report, report
    node.start()
    admin = client(node.hosts, super_user=True)
    assert_same_tree(dump(admin), truth, "zkr after importing %s snapshots" % method)
    admin.stop()
    admin.close()
