"""Four-letter words, through kazoo's command() (and servers.four_letter for long answers:
kazoo's command() reads a single 8 KB chunk, and Apache's mntr is longer)."""

import re

from servers import four_letter
from util import TICK_MS, start_server

SRVR_LABELS = ["Zookeeper version:", "Latency min/avg/max:", "Received:", "Sent:", "Connections:",
               "Outstanding:", "Zxid:", "Mode:", "Node count:"]


def local_port(client):
    return client._connection._socket.getsockname()[1]


def test_ruok_and_isro(zk):
    assert zk.command(b"ruok") == "imok"
    assert zk.command(b"isro") == "rw"


def test_srvr(fresh_server, connect):
    zk = connect(fresh_server)
    zk.create("/a", b"")
    zk.create("/a/b", b"")
    text = zk.command(b"srvr")
    lines = text.splitlines()
    assert [next(lab for lab in SRVR_LABELS if ln.startswith(lab)) for ln in lines] == SRVR_LABELS
    # (Debian's 3.8.0 build prints an unexpanded "${mvngit.commit.id}" after the version)
    assert re.match(r"Zookeeper version: \d+\.\d+\.\d+-\S+, built on \d{4}-\d\d-\d\d \d\d:\d\d",
                    lines[0]), lines[0]
    assert re.match(r"Latency min/avg/max: \d+/[0-9.]+/\d+$", lines[1]), lines[1]
    assert "Mode: standalone" in lines
    assert "Zxid: 0x%x" % zk.last_zxid in lines
    assert "Node count: 7" in lines  # 5 on a fresh server (root counted twice) + 2
    assert text.endswith("\n")


def test_stat_lists_clients(fresh_server, connect):
    zk = connect(fresh_server)
    text = zk.command(b"stat")
    lines = text.splitlines()
    assert lines[0].startswith("Zookeeper version:")
    assert lines[1] == "Clients:"
    end = lines.index("")
    clients = lines[2:end]
    assert any(c.startswith(" /127.0.0.1:%d[" % local_port(zk)) for c in clients), clients
    assert all(re.match(r" /[0-9.]+:\d+\[\d+\]\(queued=\d+,recved=\d+,sent=\d+\)$", c)
               for c in clients), clients
    assert [ln.split(":")[0] + ":" for ln in lines[end + 1:]] == SRVR_LABELS[1:]


def test_cons(fresh_server, connect):
    zk = connect(fresh_server)
    zk.exists("/zookeeper")
    text = zk.command(b"cons")
    mine = [ln for ln in text.splitlines() if ln.startswith(" /127.0.0.1:%d[" % local_port(zk))]
    assert len(mine) == 1, text
    line = mine[0]
    assert ",sid=0x%x," % zk.client_id[0] in line
    assert ",to=10000," in line
    assert ",lop=EXIS," in line
    assert re.search(r",lcxid=0x[0-9a-f]+,lzxid=0x[0-9a-f]+,lresp=\d+,llat=\d+,minlat=\d+,"
                     r"avglat=\d+,maxlat=\d+\)$", line), line


def test_mntr(fresh_server, connect):
    zk = connect(fresh_server)
    other = connect(fresh_server)
    zk.create("/e", ephemeral=True)
    zk.create("/p", b"12345")
    zk.get("/p", watch=lambda e: None)
    zk.get_children("/p", watch=lambda e: None)
    other.exists("/missing", watch=lambda e: None)
    text = four_letter(fresh_server.port, "mntr")
    lines = text.splitlines()
    assert lines[0].startswith("zk_version\t") and lines[1] == "zk_server_state\tstandalone"
    kv = dict(ln.split("\t", 1) for ln in lines)
    assert kv["zk_znode_count"] == "7"
    assert kv["zk_ephemerals_count"] == "1"
    assert kv["zk_watch_count"] == "3"  # data and child watches
    assert kv["zk_global_sessions"] == "2"
    for key in ["zk_avg_latency", "zk_max_latency", "zk_min_latency", "zk_packets_received",
                "zk_packets_sent", "zk_num_alive_connections", "zk_outstanding_requests",
                "zk_approximate_data_size", "zk_open_file_descriptor_count",
                "zk_max_file_descriptor_count", "zk_uptime"]:
        assert re.match(r"^-?[0-9.]+$", kv[key]), (key, kv.get(key))
    assert int(kv["zk_num_alive_connections"]) >= 2


def test_conf(server, zk):
    text = zk.command(b"conf")
    kv = dict(ln.split("=", 1) for ln in text.splitlines() if "=" in ln)
    assert kv["clientPort"] == str(server.port)
    assert kv["tickTime"] == str(TICK_MS)
    assert kv["minSessionTimeout"] == str(2 * TICK_MS)
    assert kv["maxSessionTimeout"] == str(20 * TICK_MS)
    assert kv["maxClientCnxns"] == "0"
    assert kv["serverId"] == "0"
    assert kv["dataDir"].startswith(server.dir)


def test_envi(zk):
    text = zk.command(b"envi")
    assert text.startswith("Environment:\n")
    version = re.search(r"^zookeeper\.version=(.*)$", text, re.M).group(1)
    assert zk.command(b"srvr").splitlines()[0] == "Zookeeper version: " + version


def test_wchs_counts_data_watches(fresh_server, connect):
    a, b = connect(fresh_server), connect(fresh_server)
    a.create("/x")
    a.create("/y")
    a.get("/x", watch=lambda e: None)
    a.exists("/y", watch=lambda e: None)
    b.exists("/x", watch=lambda e: None)
    a.get_children("/x", watch=lambda e: None)  # child watches are not counted
    b.get_children("/", watch=lambda e: None)
    assert a.command(b"wchs") == "2 connections watching 2 paths\nTotal watches:3\n"


def test_dump_lists_ephemerals_by_session(fresh_server, connect):
    a, b = connect(fresh_server), connect(fresh_server)
    a.create("/a1", ephemeral=True)
    a.create("/a2", ephemeral=True)
    b.create("/b1", ephemeral=True)
    text = a.command(b"dump")
    assert text.startswith("SessionTracker dump:\n")
    assert "Sessions with Ephemerals (2):\n" in text
    for client, paths in ((a, ["/a1", "/a2"]), (b, ["/b1"])):
        m = re.search(r"^0x%x:\n((?:\t.*\n)*)" % client.client_id[0], text, re.M)
        assert m, text
        assert sorted(m.group(1).split()) == paths


def test_words_outside_the_whitelist():
    s = start_server(fourlw=["ruok", "srvr"])
    try:
        assert four_letter(s.port, "ruok") == "imok"
        assert four_letter(s.port, "srvr").startswith("Zookeeper version:")
        for word in ["stat", "mntr", "cons", "dump"]:
            assert four_letter(s.port, word) == \
                "%s is not executed because it is not in the whitelist.\n" % word
    finally:
        s.close()


def four_letter_from(port, word):
    """Send a word; return (local port of the asking connection, answer)."""
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        me = s.getsockname()[1]
        s.sendall(word.encode())
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    return me, b"".join(chunks).decode()


def test_stat_and_cons_list_the_asking_connection(fresh_server, connect):
    zk = connect(fresh_server)
    for word in ("stat", "cons"):
        me, text = four_letter_from(fresh_server.port, word)
        lines = text.splitlines()
        assert any(ln.startswith(" /127.0.0.1:%d[" % me) for ln in lines), (word, text)
        assert any(ln.startswith(" /127.0.0.1:%d[" % local_port(zk)) for ln in lines), text
    # srvr and mntr count it too: one client + the asking connection
    srvr = four_letter(fresh_server.port, "srvr")
    assert int(re.search(r"^Connections: (\d+)$", srvr, re.M).group(1)) >= 2
    mntr = four_letter(fresh_server.port, "mntr")
    assert int(re.search(r"^zk_num_alive_connections\t(\d+)$", mntr, re.M).group(1)) >= 2


def test_wchc_and_wchp_list_data_watches(fresh_server, connect):
    a, b = connect(fresh_server), connect(fresh_server)
    a.create("/x")
    a.create("/y")
    a.get("/x", watch=lambda e: None)
    a.exists("/y", watch=lambda e: None)
    b.exists("/x", watch=lambda e: None)
    a.get_children("/x", watch=lambda e: None)  # child watches are not listed
    b.get_children("/", watch=lambda e: None)
    sa, sb = "0x%x" % a.client_id[0], "0x%x" % b.client_id[0]
    wchc = four_letter(fresh_server.port, "wchc")
    assert wchc.endswith("\n\n")
    blocks = {}
    for ln in wchc.splitlines():
        if ln.startswith("0x"):
            cur = blocks.setdefault(ln, [])
        elif ln.startswith("\t"):
            cur.append(ln[1:])
    assert {k: sorted(v) for k, v in blocks.items()} == {sa: ["/x", "/y"], sb: ["/x"]}
    wchp = four_letter(fresh_server.port, "wchp")
    assert wchp.endswith("\n\n")
    blocks = {}
    for ln in wchp.splitlines():
        if ln.startswith("/"):
            cur = blocks.setdefault(ln, [])
        elif ln.startswith("\t"):
            cur.append(ln[1:])
    assert {k: sorted(v) for k, v in blocks.items()} == {"/x": sorted([sa, sb]), "/y": [sa]}


# Java's Date.toString(): "EEE MMM dd HH:mm:ss zzz yyyy" in the server's time zone.
JAVA_DATE = (r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) "
             r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
             r"\d\d \d\d:\d\d:\d\d \S+ \d{4}")


def java_date_seconds(text):
    """Epoch seconds of a Java date printed in this machine's time zone (the servers run here);
    its zone name must be the one this machine's C library gives for that instant."""
    import time
    wd, mon, day, hms, zone, year = text.split()
    t = time.mktime(time.strptime("%s %s %s %s %s" % (wd, mon, day, hms, year),
                                  "%a %b %d %H:%M:%S %Y"))
    assert zone == time.strftime("%Z", time.localtime(t)), text
    return t


def expiry_sets(section, title):
    """An ExpiryQueue dump ("<title> Sets (n)/(m):" then "k expire at <date>:" and k tab-indented
    members per set) as [(epoch seconds, [members])], its header's counts checked."""
    m = re.match(r"%s Sets \((\d+)\)/\((\d+)\):\n" % title, section)
    assert m, section
    sets, rest = [], section[m.end():]
    while rest:
        s = re.match(r"(\d+) expire at (%s):\n((?:\t.*\n)*)" % JAVA_DATE, rest)
        assert s, rest
        members = [ln[1:] for ln in s.group(3).splitlines()]
        assert int(s.group(1)) == len(members), s.group(0)
        sets.append((java_date_seconds(s.group(2)), members))
        rest = rest[s.end():]
    assert int(m.group(1)) == len(sets) and int(m.group(2)) == sum(len(x) for _, x in sets), section
    assert [t for t, _ in sets] == sorted(t for t, _ in sets), section
    return sets


def test_dump_shows_java_dates_and_the_live_connections(fresh_server, connect):
    """Apache's dump: sessions by expiry bucket (tickTime) and connections by expiry bucket
    (the sessionless-connection timeout, 10 s), each with a Java Date; every open connection
    listed as "ip: /<addr>:<port> sessionId: 0x<id>", the asking one with session 0x0."""
    import time
    a, b = connect(fresh_server), connect(fresh_server)
    a.exists("/a")
    before = time.time()
    me, text = four_letter_from(fresh_server.port, "dump")
    after = time.time()
    head, sep, conns = text.partition("Connections dump:\n")
    assert sep and text.startswith("SessionTracker dump:\n"), text
    sessions = head[len("SessionTracker dump:\n"):head.index("ephemeral nodes dump:\n")]
    ids = {c.client_id[0] for c in (a, b)}
    listed = {}
    for when, members in expiry_sets(sessions, "Session"):
        for sid in members:
            assert re.match(r"0x[0-9a-f]+$", sid), sessions
            listed[int(sid, 16)] = when
    assert set(listed) == ids, text
    for when in listed.values():  # now + 10 s, rounded up to the next 2 s tick
        assert before + 10 - 1 <= when <= after + 10 + TICK_MS / 1000 + 1, text
    by_port = {}
    for when, members in expiry_sets(conns, "Connections"):
        for c in members:
            m = re.match(r"ip: /127\.0\.0\.1:(\d+) sessionId: 0x([0-9a-f]+)$", c)
            assert m, conns
            by_port[int(m.group(1))] = (int(m.group(2), 16), when)
    assert by_port.keys() >= {local_port(a), local_port(b), me}, text
    for c in (a, b):
        sid, when = by_port[local_port(c)]
        assert sid == c.client_id[0], text
        # last activity + 10 s session timeout, rounded up to the next 10 s
        assert before - 10 <= when <= after + 20 + 1, text
    sid, when = by_port[me]
    assert sid == 0, text
    assert before + 10 - 1 <= when <= after + 20 + 1, text
