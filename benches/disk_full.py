#!/usr/bin/env python3
"""Issue 17, run 1: a standalone node whose data directory (and its own stdout log) is on a
192 MB tmpfs. kazoo creates 1 KB znodes until the disk is full, the filesystem is grown, 1,000
more go in, then the node is stopped cleanly, started, killed with -9 and started again; every
acknowledged create must be there each time. Needs root (mount). Prints one JSON line.

    sudo .venv/bin/python benches/disk_full.py [path/to/zkr] [size]
"""
import json, os, signal, socket, subprocess, sys, tempfile, time

from kazoo.client import KazooClient

ZKR = sys.argv[1] if len(sys.argv) > 1 else "target/release/zkr"
SIZE = sys.argv[2] if len(sys.argv) > 2 else "192m"


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "support"))
from ports import free_port  # noqa: E402  (below the ephemeral range, never twice: ports.py)


def ruok(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"ruok")
            return s.recv(16) == b"imok"
    except OSError:
        return False


def start(cfg, log):
    p = subprocess.Popen([ZKR, "node", "--config", cfg], stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    return p


def wait(port, proc, what):
    for _ in range(600):
        if ruok(port):
            return
        if proc.poll() is not None:
            raise SystemExit(f"{what}: the node exited with {proc.returncode}")
        time.sleep(0.1)
    raise SystemExit(f"{what}: not serving")


def count(port):
    zk = KazooClient(hosts=f"127.0.0.1:{port}", timeout=30)
    zk.start(timeout=60)
    n = len(zk.get_children("/full"))
    zk.stop()
    return n


def main():
    base = tempfile.mkdtemp(prefix="zkr-diskfull-")
    mnt = os.path.join(base, "fs")
    os.makedirs(mnt)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", mnt], check=True)
    port = free_port()
    cfg = os.path.join(base, "zkr.toml")
    with open(cfg, "w") as f:
        f.write(f'[node]\nid = 0\ndata_dir = "{mnt}/data"\nclient_port = {port}\nclient_address = "127.0.0.1"\n'
                'four_letter_words = ["*"]\n[metrics]\nport = 0\n')
    log = open(os.path.join(mnt, "node.log"), "ab")
    proc = start(cfg, log)
    out = {"size": SIZE}
    try:
        wait(port, proc, "first start")
        zk = KazooClient(hosts=f"127.0.0.1:{port}", timeout=30)
        zk.start(timeout=60)
        zk.create("/full", b"")
        value = b"x" * 1024
        acked = 0
        t0 = time.time()
        err = None
        while True:
            try:
                zk.create(f"/full/n{acked:08d}", value)
                acked += 1
            except Exception as e:  # noqa: BLE001
                err = repr(e)
                break
        out["created_until_full"] = acked
        out["fill_seconds"] = round(time.time() - t0, 1)
        out["error_when_full"] = err
        out["alive_when_full"] = proc.poll() is None
        out["read_when_full"] = len(zk.get(f"/full/n{0:08d}")[0]) == 1024
        subprocess.run(["mount", "-o", f"remount,size={int(SIZE[:-1]) * 3}m", mnt], check=True)
        resumed = 0
        end = time.time() + 60
        while resumed < 1000 and time.time() < end:
            try:
                zk.create(f"/full/n{acked:08d}", value)
                acked += 1
                resumed += 1
            except Exception:  # noqa: BLE001
                time.sleep(0.2)
        out["created_after_growing"] = resumed
        zk.stop()
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        proc = start(cfg, log)
        t0 = time.time()
        wait(port, proc, "start after a clean stop")
        out["restart_seconds"] = round(time.time() - t0, 1)
        out["present_after_clean_restart"] = count(port)
        proc.kill()
        proc.wait()
        proc = start(cfg, log)
        wait(port, proc, "start after kill -9")
        out["present_after_kill9_restart"] = count(port)
        out["acknowledged"] = acked
        out["ok"] = out["present_after_clean_restart"] >= acked and out["present_after_kill9_restart"] >= acked
        du = subprocess.run(["du", "-sb", os.path.join(mnt, "data")], capture_output=True, text=True).stdout.split()[0]
        out["data_dir_bytes"] = int(du)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
        subprocess.run(["umount", "-l", mnt])
        subprocess.run(["rm", "-rf", base])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
