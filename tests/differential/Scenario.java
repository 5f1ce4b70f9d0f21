/*
 * Differential scenario for zkr: one deterministic script of ZooKeeper operations, run with
 * Apache's own Java client (3.8.0, /usr/share/java/zookeeper.jar) against one server, printing a
 * normalised transcript (one line per operation, then the watch events it caused). run.sh runs it
 * against zkr and against Apache ZooKeeper 3.8.0 and diffs the two transcripts.
 *
 * Usage: java Scenario HOST:PORT TRANSCRIPT_FILE [reconfig]
 *   "reconfig" runs the short scenario for a server started with reconfigEnabled=true instead.
 *
 * Normalisation (everything else is printed verbatim):
 *  - zxids (czxid, mzxid, pzxid) are replaced by their order of first appearance in the
 *    transcript ("z1", "z2", ...; 0 stays "0"), so "mzxid changed, czxid did not" and "these nodes
 *    were created by the same multi" still compare, but the absolute numbers (which depend on
 *    how many session/error transactions a server spends zxids on) do not.
 *  - ctime/mtime are printed as "0" (special nodes), "T" (a time within this run), or "BAD(..)"
 *    (anything else); mtime additionally as "T<ct" if it is before ctime.
 *  - ephemeralOwner is printed as the label of the session that owns it ("s1".."s4"), or 0.
 *  - child lists, getEphemerals and whoAmI lists are sorted (their order is unspecified).
 *
 * Watch events: every watcher appends to a per-session buffer (event thread). After each
 * operation a barrier sends an asynchronous sync on every open session and waits for its
 * callback: the server answers a sync after every earlier txn and sends notifications before later
 * replies, and the client delivers events and async callbacks on one event thread in arrival
 * order, so when all the callbacks have run, every event caused by the operation has been
 * recorded. The events are then printed under the operation, session by session, each session's
 * in arrival order.
 *
 * Deliberate 3.8.0 vs zkr (3.9) differences kept out of the scenario (see notes at each place):
 *  - exists on an existing node without READ (3.8.0: stat; zkr: NoAuth): never done.
 *  - check sent alone outside multi: never sent.
 *  - notification header zxid: the 3.8 Java client does not expose it.
 *  - watch events filtered by READ ACL (3.8.4+): no session ever watches a node it cannot read,
 *    and no persistent-recursive watch covers the /acl subtree.
 *  - removeWatches/checkWatches types Persistent(4)/PersistentRecursive(5): never sent (the 3.8
 *    client's WatcherType has no such values).
 */

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.*;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.jute.InputArchive;
import org.apache.jute.OutputArchive;
import org.apache.jute.Record;
import org.apache.zookeeper.*;
import org.apache.zookeeper.Watcher.Event.EventType;
import org.apache.zookeeper.Watcher.Event.KeeperState;
import org.apache.zookeeper.admin.ZooKeeperAdmin;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.ClientInfo;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.data.Stat;
import org.apache.zookeeper.proto.*;

public class Scenario {
    static final int SESSIONS = 5; // s1..s4 used
    static final long TTL = 3_600_000L; // TTL nodes never expire during the run
    static final long MAX_TTL = 0xFF_FFFF_FFFFL;

    static String hosts;
    static PrintWriter out;
    static int opCount = 0;
    static long runStart;

    static final ZK[] zk = new ZK[SESSIONS];
    static final boolean[] open = new boolean[SESSIONS];
    static final List<List<String>> events = new ArrayList<>();
    static final Map<Long, String> sessionLabel = new HashMap<>();
    static final Map<Long, String> zxids = new HashMap<>();
    static final Map<Long, String> otherOwners = new HashMap<>();

    /** A session: Apache's admin client (for reconfig) with access to the raw request path. */
    static class ZK extends ZooKeeperAdmin {
        ZK(String hosts, int timeout, Watcher w) throws IOException {
            super(hosts, timeout, w);
        }

        /** Sends one request as is (no client-side validation) and returns the reply header. */
        ReplyHeader raw(int opcode, Record req, Record resp) throws InterruptedException {
            RequestHeader h = new RequestHeader();
            h.setType(opcode);
            return cnxn.submitRequest(h, req, resp, null);
        }
    }

    /** Records the events one watcher object receives, tagged with its label. */
    static class Rec implements Watcher {
        final int s;
        final String label;
        final CountDownLatch connected = new CountDownLatch(1);

        Rec(int s, String label) {
            this.s = s;
            this.label = label;
        }

        @Override
        public void process(WatchedEvent e) {
            if (e.getType() == EventType.None && e.getState() == KeeperState.SyncConnected) {
                connected.countDown();
            }
            List<String> buf = events.get(s);
            synchronized (buf) {
                buf.add(label + " " + e.getType() + " " + e.getPath()
                        + (e.getType() == EventType.None ? " " + e.getState() : ""));
            }
        }
    }

    // ---------------------------------------------------------------- normalisation

    static String z(long zxid) {
        if (zxid == 0) {
            return "0";
        }
        return zxids.computeIfAbsent(zxid, k -> "z" + (zxids.size() + 1));
    }

    static String time(long t) {
        if (t == 0) {
            return "0";
        }
        long now = System.currentTimeMillis();
        if (t >= runStart - 10_000 && t <= now + 10_000) {
            return "T";
        }
        return "BAD(" + t + ")";
    }

    static String owner(long id) {
        if (id == 0) {
            return "0";
        }
        String l = sessionLabel.get(id);
        if (l != null) {
            return l;
        }
        return otherOwners.computeIfAbsent(id, k -> "other" + (otherOwners.size() + 1));
    }

    static String st(Stat s) {
        if (s == null) {
            return "null";
        }
        String mt = time(s.getMtime());
        if (s.getMtime() < s.getCtime()) {
            mt += "<ct";
        }
        return "{cz=" + z(s.getCzxid()) + " mz=" + z(s.getMzxid()) + " pz=" + z(s.getPzxid())
                + " ct=" + time(s.getCtime()) + " mt=" + mt + " v=" + s.getVersion()
                + " cv=" + s.getCversion() + " av=" + s.getAversion()
                + " eo=" + owner(s.getEphemeralOwner()) + " dl=" + s.getDataLength()
                + " nc=" + s.getNumChildren() + "}";
    }

    static String data(byte[] b) {
        if (b == null) {
            return "null";
        }
        return "'" + new String(b, StandardCharsets.UTF_8) + "'";
    }

    static String acl(List<ACL> acls) {
        if (acls == null) {
            return "null";
        }
        StringBuilder sb = new StringBuilder("[");
        for (ACL a : acls) {
            if (sb.length() > 1) {
                sb.append(", ");
            }
            sb.append(a.getPerms()).append(":").append(a.getId().getScheme()).append(":")
                    .append(a.getId().getId());
        }
        return sb.append("]").toString();
    }

    static String sorted(List<String> l) {
        if (l == null) {
            return "null";
        }
        List<String> c = new ArrayList<>(l);
        Collections.sort(c);
        return c.toString();
    }

    static String result(OpResult r) {
        if (r instanceof OpResult.CreateResult) {
            OpResult.CreateResult c = (OpResult.CreateResult) r;
            return "create(" + c.getPath() + (c.getStat() != null ? " " + st(c.getStat()) : "") + ")";
        } else if (r instanceof OpResult.DeleteResult) {
            return "delete";
        } else if (r instanceof OpResult.SetDataResult) {
            return "setData(" + st(((OpResult.SetDataResult) r).getStat()) + ")";
        } else if (r instanceof OpResult.CheckResult) {
            return "check";
        } else if (r instanceof OpResult.GetDataResult) {
            OpResult.GetDataResult g = (OpResult.GetDataResult) r;
            return "getData(" + data(g.getData()) + " " + st(g.getStat()) + ")";
        } else if (r instanceof OpResult.GetChildrenResult) {
            return "getChildren(" + sorted(((OpResult.GetChildrenResult) r).getChildren()) + ")";
        } else if (r instanceof OpResult.ErrorResult) {
            return "error(" + KeeperException.Code.get(((OpResult.ErrorResult) r).getErr()) + ")";
        }
        return "?" + r;
    }

    static String results(List<OpResult> rs) {
        if (rs == null) {
            return "null";
        }
        StringBuilder sb = new StringBuilder("[");
        for (OpResult r : rs) {
            if (sb.length() > 1) {
                sb.append(", ");
            }
            sb.append(result(r));
        }
        return sb.append("]").toString();
    }

    // ---------------------------------------------------------------- running operations

    interface Body {
        String run() throws Exception;
    }

    static void line(String s) {
        out.println(s);
        out.flush();
    }

    /** Runs one operation on session s, then the barrier, then prints its line and its events. */
    static void op(int s, String desc, Body body) throws Exception {
        opCount++;
        String res;
        try {
            res = body.run();
        } catch (KeeperException e) {
            res = "ERR " + e.code();
            if (e.getResults() != null) {
                res += " " + results(e.getResults());
            }
        } catch (IllegalArgumentException e) {
            res = "CLIENT-REJECTED " + e.getClass().getSimpleName() + ": " + e.getMessage();
        }
        barrier();
        line(String.format("#%03d s%d %s -> %s", opCount, s, desc, res));
        flushEvents();
    }

    static void barrier() throws Exception {
        for (int s = 1; s < SESSIONS; s++) {
            if (!open[s]) {
                continue;
            }
            CountDownLatch l = new CountDownLatch(1);
            zk[s].sync("/", (rc, path, ctx) -> l.countDown(), null);
            if (!l.await(60, TimeUnit.SECONDS)) {
                line("BARRIER TIMEOUT s" + s);
                throw new IllegalStateException("barrier timeout on s" + s);
            }
        }
    }

    static void flushEvents() {
        flushEvents(false);
    }

    static void flushEvents(boolean sort) {
        for (int s = 1; s < SESSIONS; s++) {
            List<String> buf = events.get(s);
            synchronized (buf) {
                if (sort) {
                    Collections.sort(buf);
                }
                if (open[s]) {
                    for (String e : buf) {
                        line("        ev s" + s + " " + e);
                    }
                }
                buf.clear();
            }
        }
    }

    static void connect(int s) throws Exception {
        Rec def = new Rec(s, "def");
        zk[s] = new ZK(hosts, 30_000, def);
        if (!def.connected.await(60, TimeUnit.SECONDS)) {
            throw new IllegalStateException("s" + s + " did not connect");
        }
        sessionLabel.put(zk[s].getSessionId(), "s" + s);
        open[s] = true;
        barrier();
        synchronized (events.get(s)) {
            events.get(s).clear(); // the SyncConnected of the handshake
        }
    }

    // ---------------------------------------------------------------- shorthands

    static final List<ACL> OPEN = ZooDefs.Ids.OPEN_ACL_UNSAFE;

    static byte[] b(String s) {
        return s == null ? null : s.getBytes(StandardCharsets.UTF_8);
    }

    static String digest(String userPass) throws Exception {
        MessageDigest md = MessageDigest.getInstance("SHA1");
        String user = userPass.substring(0, userPass.indexOf(':'));
        return user + ":" + Base64.getEncoder().encodeToString(md.digest(b(userPass)));
    }

    static List<ACL> acls(Object... permSchemeId) {
        List<ACL> l = new ArrayList<>();
        for (int i = 0; i < permSchemeId.length; i += 3) {
            l.add(new ACL((Integer) permSchemeId[i],
                    new Id((String) permSchemeId[i + 1], (String) permSchemeId[i + 2])));
        }
        return l;
    }

    static void create(int s, String path, String d, List<ACL> acl, CreateMode mode) throws Exception {
        op(s, "create " + path + " " + data(b(d)) + " " + acl(acl) + " " + mode,
                () -> zk[s].create(path, b(d), acl, mode));
    }

    static void create2(int s, String path, String d, List<ACL> acl, CreateMode mode) throws Exception {
        op(s, "create2 " + path + " " + data(b(d)) + " " + acl(acl) + " " + mode, () -> {
            Stat st = new Stat();
            String p = zk[s].create(path, b(d), acl, mode, st);
            return p + " " + st(st);
        });
    }

    static void createTtl(int s, String path, String d, CreateMode mode, long ttl) throws Exception {
        op(s, "createTTL " + path + " " + data(b(d)) + " " + mode + " ttl=" + ttl, () -> {
            Stat st = new Stat();
            String p = zk[s].create(path, b(d), OPEN, mode, st, ttl);
            return p + " " + st(st);
        });
    }

    static void delete(int s, String path, int version) throws Exception {
        op(s, "delete " + path + " v=" + version, () -> {
            zk[s].delete(path, version);
            return "ok";
        });
    }

    static void exists(int s, String path, boolean watch) throws Exception {
        op(s, "exists " + path + (watch ? " watch" : ""), () -> st(zk[s].exists(path, watch)));
    }

    static void existsW(int s, String path, Watcher w, String label) throws Exception {
        op(s, "exists " + path + " watcher=" + label, () -> st(zk[s].exists(path, w)));
    }

    static void getData(int s, String path, boolean watch) throws Exception {
        op(s, "getData " + path + (watch ? " watch" : ""), () -> {
            Stat st = new Stat();
            byte[] d = zk[s].getData(path, watch, st);
            return data(d) + " " + st(st);
        });
    }

    static void getDataW(int s, String path, Watcher w, String label) throws Exception {
        op(s, "getData " + path + " watcher=" + label, () -> {
            Stat st = new Stat();
            byte[] d = zk[s].getData(path, w, st);
            return data(d) + " " + st(st);
        });
    }

    static void setData(int s, String path, String d, int version) throws Exception {
        op(s, "setData " + path + " " + data(b(d)) + " v=" + version,
                () -> st(zk[s].setData(path, b(d), version)));
    }

    static void getChildren(int s, String path, boolean watch) throws Exception {
        op(s, "getChildren " + path + (watch ? " watch" : ""),
                () -> sorted(zk[s].getChildren(path, watch)));
    }

    static void getChildren2(int s, String path, boolean watch) throws Exception {
        op(s, "getChildren2 " + path + (watch ? " watch" : ""), () -> {
            Stat st = new Stat();
            List<String> c = zk[s].getChildren(path, watch, st);
            return sorted(c) + " " + st(st);
        });
    }

    static void getChildrenW(int s, String path, Watcher w, String label) throws Exception {
        op(s, "getChildren " + path + " watcher=" + label, () -> sorted(zk[s].getChildren(path, w)));
    }

    static void getAcl(int s, String path) throws Exception {
        op(s, "getACL " + path, () -> {
            Stat st = new Stat();
            List<ACL> a = zk[s].getACL(path, st);
            return acl(a) + " " + st(st);
        });
    }

    static void setAcl(int s, String path, List<ACL> a, int version) throws Exception {
        op(s, "setACL " + path + " " + acl(a) + " v=" + version,
                () -> st(zk[s].setACL(path, a, version)));
    }

    static void allChildren(int s, String path) throws Exception {
        op(s, "getAllChildrenNumber " + path, () -> "" + zk[s].getAllChildrenNumber(path));
    }

    static void ephemerals(int s, String prefix) throws Exception {
        op(s, "getEphemerals " + prefix,
                () -> sorted(prefix == null ? zk[s].getEphemerals() : zk[s].getEphemerals(prefix)));
    }

    static void sync(int s, String path) throws Exception {
        op(s, "sync " + path, () -> {
            CountDownLatch l = new CountDownLatch(1);
            String[] r = new String[1];
            zk[s].sync(path, (rc, p, ctx) -> {
                r[0] = KeeperException.Code.get(rc) + " " + p;
                l.countDown();
            }, null);
            if (!l.await(60, TimeUnit.SECONDS)) {
                return "TIMEOUT";
            }
            return r[0];
        });
    }

    static void multi(int s, String desc, List<Op> ops) throws Exception {
        op(s, "multi " + desc, () -> results(zk[s].multi(ops)));
    }

    static void whoAmI(int s) throws Exception {
        op(s, "whoAmI", () -> {
            List<String> l = new ArrayList<>();
            for (ClientInfo c : zk[s].whoAmI()) {
                l.add(c.getAuthScheme() + ":" + c.getUser());
            }
            return sorted(l);
        });
    }

    static void addAuth(int s, String userPass) throws Exception {
        op(s, "addAuthInfo digest " + userPass, () -> {
            zk[s].addAuthInfo("digest", b(userPass));
            return "sent";
        });
    }

    static void addWatch(int s, String path, Watcher w, String label, AddWatchMode mode) throws Exception {
        op(s, "addWatch " + path + " " + mode + " watcher=" + label, () -> {
            zk[s].addWatch(path, w, mode);
            return "ok";
        });
    }

    static void removeWatches(int s, String path, Watcher w, String label, Watcher.WatcherType type,
            boolean local) throws Exception {
        op(s, "removeWatches " + path + " watcher=" + label + " " + type + (local ? " local" : ""), () -> {
            zk[s].removeWatches(path, w, type, local);
            return "ok";
        });
    }

    static void removeAllWatches(int s, String path, Watcher.WatcherType type, boolean local)
            throws Exception {
        op(s, "removeAllWatches " + path + " " + type + (local ? " local" : ""), () -> {
            zk[s].removeAllWatches(path, type, local);
            return "ok";
        });
    }

    static void closeSession(int s) throws Exception {
        opCount++;
        zk[s].close();
        open[s] = false;
        synchronized (events.get(s)) {
            events.get(s).clear();
        }
        barrier();
        line(String.format("#%03d s%d close -> ok", opCount, s));
        // Normalisation: the order in which a closing session's ephemerals are deleted is
        // unspecified (Apache iterates a hash set), so the events the close causes are sorted
        // (per session).
        flushEvents(true);
    }

    /** A raw request: the reply header's error and, if 0, the given description of the body. */
    interface RawBody {
        String describe();
    }

    static void raw(int s, String desc, int opcode, Record req, Record resp, RawBody ok) throws Exception {
        op(s, "raw " + desc, () -> {
            ReplyHeader h = zk[s].raw(opcode, req, resp);
            if (h.getErr() != 0) {
                return "ERR " + KeeperException.Code.get(h.getErr());
            }
            return ok.describe();
        });
    }

    /** A multi body written by hand, so that it can carry ops the client would refuse to build. */
    static class RawMulti implements Record {
        final List<Object[]> ops = new ArrayList<>();

        RawMulti add(int type, Record body) {
            ops.add(new Object[] {type, body});
            return this;
        }

        @Override
        public void serialize(OutputArchive a, String tag) throws IOException {
            a.startRecord(this, tag);
            for (Object[] o : ops) {
                new MultiHeader((Integer) o[0], false, -1).serialize(a, "header");
                ((Record) o[1]).serialize(a, "op");
            }
            new MultiHeader(-1, true, -1).serialize(a, "header");
            a.endRecord(this, tag);
        }

        @Override
        public void deserialize(InputArchive a, String tag) {
            throw new UnsupportedOperationException();
        }
    }

    // ---------------------------------------------------------------- the scenario

    public static void main(String[] args) throws Exception {
        hosts = args[0];
        out = new PrintWriter(args[1], "UTF-8");
        runStart = System.currentTimeMillis();
        for (int i = 0; i < SESSIONS; i++) {
            events.add(new ArrayList<>());
        }
        if (args.length > 2 && args[2].equals("reconfig")) {
            reconfigScenario();
        } else {
            mainScenario();
        }
        line("OPS " + opCount);
        out.close();
        for (int s = 1; s < SESSIONS; s++) {
            if (open[s]) {
                zk[s].close();
            }
        }
        System.out.println("operations: " + opCount);
    }

    /**
     * With reconfigEnabled=true a standalone server answers reconfig with Unimplemented (after
     * the session check), for any caller and any form of the request.
     */
    static void reconfigScenario() throws Exception {
        connect(1);
        connect(4);
        addAuth(4, "super:test");
        whoAmI(4);
        String[][] forms = {
            {"server.5=127.0.0.1:1234:1235;1236", null, null},
            {null, "1", null},
            {null, null, "server.1=127.0.0.1:1234:1235;1236"},
            {"garbage", null, null},
        };
        for (int s : new int[] {1, 4}) {
            for (String[] f : forms) {
                op(s, "reconfig joining=" + f[0] + " leaving=" + f[1] + " members=" + f[2], () -> {
                    Stat st = new Stat();
                    byte[] d = zk[s].reconfigure(f[0], f[1], f[2], -1, st);
                    return data(d) + " " + st(st);
                });
            }
            op(s, "reconfig fromConfig=7", () -> {
                Stat st = new Stat();
                byte[] d = zk[s].reconfigure("server.5=127.0.0.1:1234:1235;1236", null, null, 7, st);
                return data(d) + " " + st(st);
            });
        }
        op(1, "getConfig", () -> {
            Stat st = new Stat();
            byte[] d = zk[1].getConfig(false, st);
            return data(d) + " " + st(st);
        });
        getAcl(1, "/zookeeper/config");
        setData(1, "/zookeeper/config", "x", -1);
        getChildren2(1, "/zookeeper", false);
    }

    static void mainScenario() throws Exception {
        connect(1); // s1: no authentication (later adds digest bob)
        connect(2); // s2: digest alice
        connect(3); // s3: owns ephemerals, closed in the middle
        zk[2].addAuthInfo("digest", b("alice:secret"));
        barrier();

        freshServer();
        basics();
        sequential();
        ephemerals();
        containersAndTtl();
        aclSection();
        multiSection();
        watchSection();
        misc();
        randomSection(20240611L, 230);
        sessionClose();
        superSession();
        finalDump();
    }

    static void freshServer() throws Exception {
        getChildren2(1, "/", false);
        getData(1, "/", false);
        getChildren2(1, "/zookeeper", false);
        getData(1, "/zookeeper/quota", false);
        getAcl(1, "/zookeeper/config");
        getAcl(1, "/");
        allChildren(1, "/");
        allChildren(1, "/zookeeper");
        whoAmI(1);
        whoAmI(2);
        op(1, "getConfig", () -> {
            Stat st = new Stat();
            byte[] d = zk[1].getConfig(false, st);
            return data(d) + " " + st(st);
        });
    }

    static void basics() throws Exception {
        create(1, "/t", "root", OPEN, CreateMode.PERSISTENT);
        create2(1, "/t/a", null, OPEN, CreateMode.PERSISTENT);
        create(1, "/t/b", "", OPEN, CreateMode.PERSISTENT);
        getData(1, "/t/a", false);
        getData(1, "/t/b", false);
        getData(1, "/t", false);
        create(1, "/t/a", "again", OPEN, CreateMode.PERSISTENT);
        create2(2, "/t/a", "again", OPEN, CreateMode.PERSISTENT);
        create(1, "/t/x/y", "", OPEN, CreateMode.PERSISTENT);
        create(1, "/nope/x", "", OPEN, CreateMode.EPHEMERAL);
        setData(1, "/t/a", "v1", -1);
        setData(1, "/t/a", "v2", 0);
        setData(1, "/t/a", "v2", 1);
        setData(2, "/t/a", null, 2);
        getData(2, "/t/a", false);
        setData(1, "/t/a", "", -1);
        getData(1, "/t/a", false);
        setData(1, "/t/missing", "x", -1);
        exists(1, "/t/a", false);
        exists(1, "/t/nope", false);
        getChildren2(1, "/t", false);
        delete(1, "/t", -1);
        delete(1, "/t/b", 5);
        delete(1, "/t/b", 0);
        delete(1, "/t/b", -1);
        delete(2, "/t/nothing/deeper", -1);
        getChildren2(1, "/t", false);
        getChildren(1, "/t/missing", false);
        getData(1, "/t/missing", false);
        getAcl(1, "/t/missing");
        allChildren(1, "/t/missing");
        allChildren(1, "/t");
        // special paths cannot be deleted
        delete(1, "/", -1);
        delete(1, "/zookeeper", -1);
        delete(1, "/zookeeper/quota", -1);
        delete(1, "/zookeeper/config", -1);
        setData(1, "/zookeeper/config", "x", -1);
        setData(1, "/", "rootdata", -1);
        getData(2, "/", false);
        create(1, "/t/v", "0", OPEN, CreateMode.PERSISTENT);
        for (int i = 1; i <= 4; i++) {
            setData(1 + (i % 2), "/t/v", "" + i, i - 1);
        }
        getData(1, "/t/v", false);
        delete(1, "/t/v", 3);
        delete(1, "/t/v", 4);
        getChildren2(2, "/t", false);
        exists(2, "/t", false);
        allChildren(1, "/");
    }

    static void sequential() throws Exception {
        create(1, "/q", null, OPEN, CreateMode.PERSISTENT);
        create(1, "/q/item-", "a", OPEN, CreateMode.PERSISTENT_SEQUENTIAL);
        create2(2, "/q/item-", "b", OPEN, CreateMode.PERSISTENT_SEQUENTIAL);
        create(1, "/q/item-", "c", OPEN, CreateMode.PERSISTENT_SEQUENTIAL);
        create(1, "/q/", "slash", OPEN, CreateMode.PERSISTENT_SEQUENTIAL);
        create(3, "/q/e-", "eph", OPEN, CreateMode.EPHEMERAL_SEQUENTIAL);
        create(1, "/q/plain", "", OPEN, CreateMode.PERSISTENT);
        delete(1, "/q/item-0000000001", -1);
        create2(1, "/q/item-", "d", OPEN, CreateMode.PERSISTENT_SEQUENTIAL);
        getChildren2(1, "/q", false);
        create(1, "/q/plain", "", OPEN, CreateMode.PERSISTENT_SEQUENTIAL);
        create(1, "/q/nope/", "", OPEN, CreateMode.PERSISTENT_SEQUENTIAL);
        create(1, "/q/item-0000000000", "dup", OPEN, CreateMode.PERSISTENT);
        getChildren2(1, "/q", false);
        allChildren(2, "/q");
    }

    static void ephemerals() throws Exception {
        create(3, "/eph", "e", OPEN, CreateMode.EPHEMERAL);
        create(3, "/eph/child", "", OPEN, CreateMode.PERSISTENT);
        create(3, "/eph/c-", "", OPEN, CreateMode.EPHEMERAL_SEQUENTIAL);
        create(1, "/eph/other", "", OPEN, CreateMode.PERSISTENT);
        create(1, "/eph", "", OPEN, CreateMode.PERSISTENT);
        create2(3, "/eph2", null, OPEN, CreateMode.EPHEMERAL);
        create(2, "/e-mine", null, OPEN, CreateMode.EPHEMERAL);
        exists(1, "/eph", false);
        getData(2, "/eph2", false);
        ephemerals(3, null);
        ephemerals(3, "/");
        ephemerals(3, "/eph");
        ephemerals(3, "/q");
        ephemerals(3, "/e");
        ephemerals(3, "/nothing");
        ephemerals(2, null);
        ephemerals(1, null);
        getChildren2(1, "/eph", false);
        delete(1, "/eph/nochild", -1);
    }

    static void containersAndTtl() throws Exception {
        create(1, "/c", "cont", OPEN, CreateMode.CONTAINER);
        create2(1, "/c", "cont", OPEN, CreateMode.CONTAINER);
        create2(1, "/c2", null, OPEN, CreateMode.CONTAINER);
        create(1, "/c/k", "", OPEN, CreateMode.PERSISTENT);
        create(1, "/c/k/deep", "", OPEN, CreateMode.PERSISTENT);
        delete(1, "/c/k/deep", -1);
        getChildren2(1, "/c", false);
        exists(1, "/c", false);
        create(3, "/c/e", "", OPEN, CreateMode.EPHEMERAL);
        create(1, "/c2/seq-", "", OPEN, CreateMode.PERSISTENT_SEQUENTIAL);
        createTtl(1, "/ttl", "live", CreateMode.PERSISTENT_WITH_TTL, TTL);
        createTtl(1, "/ttl/s-", null, CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL, TTL);
        createTtl(1, "/ttl/s-", "", CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL, 1);
        createTtl(1, "/ttl", "again", CreateMode.PERSISTENT_WITH_TTL, TTL);
        createTtl(1, "/nottl/x", "", CreateMode.PERSISTENT_WITH_TTL, TTL);
        // the client itself refuses these (EphemeralType.validateTTL); the raw requests below
        // send the same to the server
        createTtl(1, "/ttl0", "", CreateMode.PERSISTENT_WITH_TTL, 0);
        createTtl(1, "/ttlp", "", CreateMode.PERSISTENT, 100);
        getData(1, "/ttl", false);
        setData(1, "/ttl", "changed", 0);
        getChildren2(1, "/ttl", false);
        exists(2, "/c2", false);
        getAcl(2, "/ttl");
        raw(1, "createTTL /ttlzero ttl=0", ZooDefs.OpCode.createTTL,
                new CreateTTLRequest("/ttlzero", b(""), OPEN, CreateMode.PERSISTENT_WITH_TTL.toFlag(), 0),
                new Create2Response(), () -> "ok");
        raw(1, "createTTL /ttlneg ttl=-5", ZooDefs.OpCode.createTTL,
                new CreateTTLRequest("/ttlneg", b(""), OPEN, CreateMode.PERSISTENT_WITH_TTL.toFlag(), -5),
                new Create2Response(), () -> "ok");
        raw(1, "createTTL /ttlbig ttl=2^40", ZooDefs.OpCode.createTTL,
                new CreateTTLRequest("/ttlbig", b(""), OPEN, CreateMode.PERSISTENT_WITH_TTL.toFlag(),
                        MAX_TTL + 1),
                new Create2Response(), () -> "ok");
        Create2Response maxResp = new Create2Response();
        raw(1, "createTTL /ttlmax ttl=2^40-1", ZooDefs.OpCode.createTTL,
                new CreateTTLRequest("/ttlmax", b("m"), OPEN, CreateMode.PERSISTENT_WITH_TTL.toFlag(), MAX_TTL),
                maxResp, () -> maxResp.getPath() + " " + st(maxResp.getStat()));
        raw(1, "createTTL /ttlpers mode=PERSISTENT ttl=100", ZooDefs.OpCode.createTTL,
                new CreateTTLRequest("/ttlpers", b(""), OPEN, CreateMode.PERSISTENT.toFlag(), 100),
                new Create2Response(), () -> "ok");
        raw(1, "createTTL /ttleph mode=EPHEMERAL ttl=100", ZooDefs.OpCode.createTTL,
                new CreateTTLRequest("/ttleph", b(""), OPEN, CreateMode.EPHEMERAL.toFlag(), 100),
                new Create2Response(), () -> "ok");
        raw(1, "create2 /ttlvia2 mode=PERSISTENT_WITH_TTL", ZooDefs.OpCode.create2,
                new CreateRequest("/ttlvia2", b(""), OPEN, CreateMode.PERSISTENT_WITH_TTL.toFlag()),
                new Create2Response(), () -> "ok");
        raw(1, "create /flags7 flags=7", ZooDefs.OpCode.create,
                new CreateRequest("/flags7", b(""), OPEN, 7), new CreateResponse(), () -> "ok");
        raw(1, "create /flagsneg flags=-1", ZooDefs.OpCode.create,
                new CreateRequest("/flagsneg", b(""), OPEN, -1), new CreateResponse(), () -> "ok");
        raw(1, "createContainer /ttlcont mode=PERSISTENT_WITH_TTL", ZooDefs.OpCode.createContainer,
                new CreateRequest("/ttlcont", b(""), OPEN, CreateMode.PERSISTENT_WITH_TTL.toFlag()),
                new Create2Response(), () -> "ok");
        getChildren(1, "/", false);
    }

    static void aclSection() throws Exception {
        String alice = digest("alice:secret");
        String bob = digest("bob:pw");
        create(2, "/acl", "", OPEN, CreateMode.PERSISTENT);
        create(2, "/acl/p", "pub", acls(ZooDefs.Perms.READ, "world", "anyone",
                ZooDefs.Perms.ALL, "digest", alice), CreateMode.PERSISTENT);
        create(2, "/acl/c", "creator", ZooDefs.Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT);
        getAcl(2, "/acl/c");
        getAcl(2, "/acl/p");
        getAcl(1, "/acl/p"); // READ without ADMIN: digest ids redacted
        getAcl(1, "/acl/c"); // neither READ nor ADMIN
        create(1, "/acl/x", "", ZooDefs.Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT);
        create(1, "/acl/y", "", acls(31, "world", "someone"), CreateMode.PERSISTENT);
        create(1, "/acl/y", "", acls(31, "digest", "nohash"), CreateMode.PERSISTENT);
        create(1, "/acl/y", "", acls(31, "digest", "a:b:c"), CreateMode.PERSISTENT);
        create(1, "/acl/y", "", acls(31, "ip", "1.2.3.4/99"), CreateMode.PERSISTENT);
        create(1, "/acl/y", "", acls(31, "ip", "999.1.1.1"), CreateMode.PERSISTENT);
        create(1, "/acl/y", "", acls(31, "ip", "not-an-ip"), CreateMode.PERSISTENT);
        create(1, "/acl/y", "", acls(31, "super", "x"), CreateMode.PERSISTENT);
        create(1, "/acl/y", "", acls(31, "nosuchscheme", "x"), CreateMode.PERSISTENT);
        create(1, "/acl/y", "", acls(31, "world", "anyone", 31, "world", "nobody"), CreateMode.PERSISTENT);
        create(1, "/nope/y", "", acls(31, "world", "someone"), CreateMode.PERSISTENT); // InvalidACL before NoNode
        create(1, "/acl/ip", "", acls(31, "ip", "10.0.0.0/8", 1, "ip", "127.0.0.1"), CreateMode.PERSISTENT);
        getAcl(1, "/acl/ip");
        create(1, "/acl/dup", "", acls(1, "world", "anyone", 1, "world", "anyone", 31, "world", "anyone"),
                CreateMode.PERSISTENT);
        getAcl(1, "/acl/dup");
        create(1, "/acl/zero", "z", acls(0, "world", "anyone"), CreateMode.PERSISTENT);
        getAcl(1, "/acl/zero");
        getData(1, "/acl/zero", false);
        create(1, "/acl/zero/k", "", OPEN, CreateMode.PERSISTENT);
        create(1, "/acl/big", "b", acls(127, "world", "anyone"), CreateMode.PERSISTENT);
        getAcl(1, "/acl/big");
        setData(1, "/acl/big", "bb", -1);
        delete(1, "/acl/zero", -1);
        getData(1, "/acl/c", false);
        getData(2, "/acl/c", false);
        getData(1, "/acl/p", false);
        setData(1, "/acl/p", "no", -1);
        setData(2, "/acl/p", "yes", -1);
        create(1, "/acl/c/sub", "", OPEN, CreateMode.PERSISTENT);
        create(1, "/acl/c/sub/deeper", "", OPEN, CreateMode.PERSISTENT);
        delete(1, "/acl/c/nonexistent", -1); // DELETE on the parent is checked before existence
        create(2, "/acl/c/sub", "", OPEN, CreateMode.PERSISTENT);
        delete(1, "/acl/c/sub", -1);
        getChildren(1, "/acl/c", false);
        getChildren2(2, "/acl/c", false);
        allChildren(1, "/acl/c");
        allChildren(2, "/acl");
        allChildren(1, "/acl"); // /acl itself is readable
        setAcl(1, "/acl/p", OPEN, -1);
        setAcl(1, "/acl/p", acls(31, "world", "someone"), -1);
        setAcl(1, "/acl/nonexistent", acls(31, "world", "someone"), -1); // InvalidACL before NoNode
        setAcl(1, "/acl/nonexistent", OPEN, -1);
        setAcl(2, "/acl/p", acls(ZooDefs.Perms.READ, "world", "anyone", ZooDefs.Perms.ALL, "digest", alice), 5);
        setAcl(2, "/acl/p", acls(ZooDefs.Perms.READ | ZooDefs.Perms.ADMIN, "world", "anyone",
                ZooDefs.Perms.ALL, "digest", alice), 0);
        getAcl(1, "/acl/p"); // now with ADMIN: not redacted
        getAcl(2, "/acl/p");
        setAcl(2, "/acl/p", ZooDefs.Ids.CREATOR_ALL_ACL, 1);
        getAcl(2, "/acl/p");
        setAcl(1, "/acl/dup", ZooDefs.Ids.CREATOR_ALL_ACL, -1); // s1 has no authenticated id yet
        addAuth(1, "bob:pw");
        whoAmI(1);
        create(1, "/acl/bob", "b", ZooDefs.Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT);
        getAcl(1, "/acl/bob");
        getAcl(2, "/acl/bob");
        getData(2, "/acl/bob", false);
        create(1, "/acl/mixed", "", acls(ZooDefs.Perms.READ, "auth", "", ZooDefs.Perms.ALL, "digest", bob,
                ZooDefs.Perms.READ, "world", "anyone"), CreateMode.PERSISTENT);
        getAcl(2, "/acl/mixed");
        setAcl(1, "/acl/dup", ZooDefs.Ids.CREATOR_ALL_ACL, 0);
        getAcl(1, "/acl/dup");
        setAcl(1, "/acl/dup", ZooDefs.Ids.READ_ACL_UNSAFE, -1);
        getAcl(1, "/acl/dup");
        setAcl(1, "/acl/dup", OPEN, -1); // no ADMIN any more
        create(2, "/acl/ro", "r", ZooDefs.Ids.READ_ACL_UNSAFE, CreateMode.PERSISTENT);
        create(2, "/acl/ro/k", "", OPEN, CreateMode.PERSISTENT);
        setData(2, "/acl/ro", "w", -1);
        delete(2, "/acl/ro", -1);
        getChildren2(1, "/acl", false);
        // (exists by s1 on /acl/p, which it can no longer read, is a deliberate difference)
        exists(1, "/acl/ip", false);
        exists(2, "/acl/c", false);
        getAcl(1, "/acl/zero");
    }

    static void multiSection() throws Exception {
        multi(1, "create/create/setData/check/delete", Arrays.asList(
                Op.create("/m", b("m0"), OPEN, CreateMode.PERSISTENT),
                Op.create("/m/a", null, OPEN, CreateMode.PERSISTENT),
                Op.setData("/m", b("m1"), 0),
                Op.check("/m", 1),
                Op.create("/m/s-", b(""), OPEN, CreateMode.PERSISTENT_SEQUENTIAL),
                Op.create("/m/s-", b(""), OPEN, CreateMode.PERSISTENT_SEQUENTIAL),
                Op.delete("/m/a", 0)));
        getChildren2(1, "/m", false);
        getData(1, "/m", false);
        multi(1, "fail at check version", Arrays.asList(
                Op.create("/m/b", b("b"), OPEN, CreateMode.PERSISTENT),
                Op.setData("/m", b("m2"), -1),
                Op.check("/m", 1),
                Op.delete("/m/s-0000000001", -1)));
        exists(1, "/m/b", false);
        getData(1, "/m", false);
        multi(1, "fail NoNode delete", Arrays.asList(
                Op.create("/m/c", b(""), OPEN, CreateMode.PERSISTENT),
                Op.delete("/m/zz", -1),
                Op.create("/m/d", b(""), OPEN, CreateMode.PERSISTENT)));
        multi(1, "fail NodeExists", Arrays.asList(
                Op.create("/m/c", b(""), OPEN, CreateMode.PERSISTENT),
                Op.create("/m/c", b(""), OPEN, CreateMode.PERSISTENT)));
        multi(1, "fail NotEmpty", Arrays.asList(
                Op.check("/m", -1),
                Op.delete("/m", -1)));
        multi(1, "fail setData BadVersion", Arrays.asList(
                Op.setData("/m", b("x"), 7)));
        multi(1, "fail check NoNode", Arrays.asList(
                Op.check("/m/none", -1),
                Op.setData("/m", b("x"), -1)));
        multi(1, "fail check NoAuth", Arrays.asList(
                Op.setData("/m", b("x"), -1),
                Op.check("/acl/c", -1)));
        multi(1, "fail create NoAuth", Arrays.asList(
                Op.create("/acl/c/m", b(""), OPEN, CreateMode.PERSISTENT)));
        multi(1, "fail setData NoAuth", Arrays.asList(
                Op.setData("/acl/p", b(""), -1)));
        multi(1, "fail InvalidACL", Arrays.asList(
                Op.create("/m/i", b(""), OPEN, CreateMode.PERSISTENT),
                Op.create("/m/j", b(""), acls(31, "world", "someone"), CreateMode.PERSISTENT)));
        multi(3, "fail NoChildrenForEphemerals", Arrays.asList(
                Op.create("/m/eph", b(""), OPEN, CreateMode.EPHEMERAL),
                Op.create("/m/eph/x", b(""), OPEN, CreateMode.PERSISTENT)));
        multi(1, "create then delete in one", Arrays.asList(
                Op.create("/m/tmp", b(""), OPEN, CreateMode.PERSISTENT),
                Op.setData("/m/tmp", b("t"), 0),
                Op.delete("/m/tmp", 1)));
        multi(1, "delete then re-create", Arrays.asList(
                Op.delete("/m/s-0000000001", 0),
                Op.create("/m/s-0000000001", b("again"), OPEN, CreateMode.PERSISTENT)));
        multi(3, "ephemeral, container, ttl", Arrays.asList(
                Op.create("/m/e", b("e"), OPEN, CreateMode.EPHEMERAL),
                Op.create("/m/cont", b(""), OPEN, CreateMode.CONTAINER),
                Op.create("/m/ttl", b(""), OPEN, CreateMode.PERSISTENT_WITH_TTL, TTL),
                Op.create("/m/es-", b(""), OPEN, CreateMode.EPHEMERAL_SEQUENTIAL)));
        getChildren2(1, "/m", false);
        multi(1, "check only", Arrays.asList(
                Op.check("/m", 1),
                Op.check("/m/e", 0)));
        multi(1, "empty", new ArrayList<>());
        multi(1, "multiRead", Arrays.asList(
                Op.getData("/m"),
                Op.getChildren("/m"),
                Op.getData("/m/none"),
                Op.getChildren("/m/none"),
                Op.getData("/acl/c"),
                Op.getChildren("/acl/c"),
                Op.getData("/t/a")));
        multi(2, "multiRead with auth", Arrays.asList(
                Op.getData("/acl/c"),
                Op.getChildren("/acl"),
                Op.getData("/acl/bob")));
        op(1, "multi mixing read and write", () -> results(zk[1].multi(Arrays.asList(
                Op.getData("/m"), Op.setData("/m", b(""), -1)))));
        // raw multis: ops the client would not build
        MultiResponse r1 = new MultiResponse();
        raw(1, "multi [create /m/r1, createTTL /m/r2 ttl=0]", ZooDefs.OpCode.multi,
                new RawMulti()
                        .add(ZooDefs.OpCode.create, new CreateRequest("/m/r1", b(""), OPEN, 0))
                        .add(ZooDefs.OpCode.createTTL, new CreateTTLRequest("/m/r2", b(""), OPEN,
                                CreateMode.PERSISTENT_WITH_TTL.toFlag(), 0)),
                r1, () -> results(r1.getResultList()));
        MultiResponse r2 = new MultiResponse();
        // Normalisation: a create2 op inside a multi gets a result with the Stat from 3.9.0
        // (ZOOKEEPER-4026, zkr's behaviour); 3.8.0 turns it into a plain create and returns the
        // path only. So only the path of the create2 result (the second one) is printed.
        raw(1, "multi [createTTL /m/r3 ttl=2^40-1, create2 /m/r4]", ZooDefs.OpCode.multi,
                new RawMulti()
                        .add(ZooDefs.OpCode.createTTL, new CreateTTLRequest("/m/r3", b(""), OPEN,
                                CreateMode.PERSISTENT_WITH_TTL.toFlag(), MAX_TTL))
                        .add(ZooDefs.OpCode.create2, new CreateRequest("/m/r4", b(""), OPEN, 0)),
                r2, () -> {
                    List<OpResult> rs = r2.getResultList();
                    String second = rs.get(1) instanceof OpResult.CreateResult
                            ? "create(" + ((OpResult.CreateResult) rs.get(1)).getPath() + " <stat not compared>)"
                            : result(rs.get(1));
                    return "[" + result(rs.get(0)) + ", " + second + "]";
                });
        // TTL flags on a create/create2/createContainer op inside a multi: the whole request is
        // refused with MarshallingError (3.8.0: ClassCastException in prep; 3.9: IOException while
        // decoding), not a per-op BadArguments.
        int[] createOps = {ZooDefs.OpCode.create, ZooDefs.OpCode.create2, ZooDefs.OpCode.createContainer};
        for (int opc : createOps) {
            MultiResponse r3 = new MultiResponse();
            raw(1, "multi [create /m/r0, op" + opc + " /m/r5 flags=PERSISTENT_WITH_TTL]", ZooDefs.OpCode.multi,
                    new RawMulti()
                            .add(ZooDefs.OpCode.create, new CreateRequest("/m/r0", b(""), OPEN, 0))
                            .add(opc, new CreateRequest("/m/r5", b(""), OPEN,
                                    CreateMode.PERSISTENT_WITH_TTL.toFlag())),
                    r3, () -> results(r3.getResultList()));
        }
        // A createTTL op with a non-TTL mode inside a multi is decoded (3.8.0 and 3.9 alike,
        // Op.create(path, data, acl, flags, ttl)) as a plain create of that mode, the ttl ignored.
        // (Unknown flags inside a multi differ between 3.8.0, per-op BadArguments, and 3.9,
        // MarshallingError; not sent.)
        MultiResponse r6 = new MultiResponse();
        raw(1, "multi [createTTL /m/r6 flags=PERSISTENT ttl=100, createTTL /m/r7 flags=CONTAINER ttl=100, "
                + "createTTL /m/r8 flags=PERSISTENT_SEQUENTIAL ttl=0]", ZooDefs.OpCode.multi,
                new RawMulti()
                        .add(ZooDefs.OpCode.createTTL, new CreateTTLRequest("/m/r6", b(""), OPEN,
                                CreateMode.PERSISTENT.toFlag(), 100))
                        .add(ZooDefs.OpCode.createTTL, new CreateTTLRequest("/m/r7", b(""), OPEN,
                                CreateMode.CONTAINER.toFlag(), 100))
                        .add(ZooDefs.OpCode.createTTL, new CreateTTLRequest("/m/r8-", b(""), OPEN,
                                CreateMode.PERSISTENT_SEQUENTIAL.toFlag(), 0)),
                r6, () -> results(r6.getResultList()));
        getData(1, "/m/r6", false);
        getData(1, "/m/r7", false);
        MultiResponse r9 = new MultiResponse();
        raw(1, "multi [create /m/r9 flags=CONTAINER]", ZooDefs.OpCode.multi,
                new RawMulti().add(ZooDefs.OpCode.create, new CreateRequest("/m/r9", b(""), OPEN,
                        CreateMode.CONTAINER.toFlag())),
                r9, () -> results(r9.getResultList()));
        MultiResponse r10 = new MultiResponse();
        raw(1, "multi [create /m/r10, createTTL /m/r11 flags=7 ttl=100]", ZooDefs.OpCode.multi,
                new RawMulti()
                        .add(ZooDefs.OpCode.create, new CreateRequest("/m/r10", b(""), OPEN, 0))
                        .add(ZooDefs.OpCode.createTTL, new CreateTTLRequest("/m/r11", b(""), OPEN, 7, 100)),
                r10, () -> results(r10.getResultList()));
        MultiResponse r4 = new MultiResponse();
        raw(1, "multi [setData /m/a//b]", ZooDefs.OpCode.multi,
                new RawMulti()
                        .add(ZooDefs.OpCode.setData, new SetDataRequest("/m//b", b(""), -1)),
                r4, () -> results(r4.getResultList()));
        MultiResponse r5 = new MultiResponse();
        raw(1, "multiRead [getData /m, getData /m/./x]", ZooDefs.OpCode.multiRead,
                new RawMulti()
                        .add(ZooDefs.OpCode.getData, new GetDataRequest("/m", false))
                        .add(ZooDefs.OpCode.getData, new GetDataRequest("/m/./x", false)),
                r5, () -> results(r5.getResultList()));
        getChildren2(1, "/m", false);
        exists(1, "/m/r3", false);
    }

    static void watchSection() throws Exception {
        Rec dw = new Rec(1, "dw");
        Rec cw = new Rec(1, "cw");
        Rec ew = new Rec(1, "ew");
        Rec pw = new Rec(2, "pw");
        Rec rw = new Rec(1, "rw");
        existsW(1, "/w", ew, "ew");
        exists(1, "/w", true);
        create(2, "/w", "w0", OPEN, CreateMode.PERSISTENT);
        getDataW(1, "/w", dw, "dw");
        getData(1, "/w", true);
        setData(2, "/w", "w1", -1);
        setData(2, "/w", "w2", -1);
        getChildrenW(1, "/w", cw, "cw");
        getChildren(1, "/w", true);
        create(2, "/w/c", "", OPEN, CreateMode.PERSISTENT);
        getDataW(1, "/w/c", dw, "dw");
        getChildrenW(1, "/w/c", cw, "cw");
        existsW(1, "/w/c", ew, "ew");
        delete(2, "/w/c", -1);
        getData(1, "/w/c", true); // NoNode: no watch
        create(2, "/w/c", "", OPEN, CreateMode.PERSISTENT);
        getChildren(1, "/w", true);
        getData(1, "/w", true);
        setData(1, "/w", "own", -1); // own change: event before the reply
        create(1, "/w/d", "", OPEN, CreateMode.PERSISTENT);
        addWatch(2, "/w", pw, "pw", AddWatchMode.PERSISTENT);
        create(1, "/w/e", "", OPEN, CreateMode.PERSISTENT);
        setData(1, "/w", "p1", -1);
        create(1, "/w/e/f", "", OPEN, CreateMode.PERSISTENT);
        setData(1, "/w/e", "x", -1);
        // s1's standard watches on /w have all fired by now. A connection must not hold two
        // watch modes on the same path at once: 3.8.0 keeps one mode per (connection, path), the
        // last one set (a standard watch even turns a persistent one into a one-shot), 3.9 keeps
        // them apart (ZOOKEEPER-4466). So the recursive watch on /w is s1's, the persistent one s2's.
        addWatch(1, "/w", rw, "rw", AddWatchMode.PERSISTENT_RECURSIVE);
        create(1, "/w/e/g", "", OPEN, CreateMode.PERSISTENT);
        setData(1, "/w/e/g", "g", -1);
        setData(1, "/w", "p2", -1);
        create(1, "/w/h", "", OPEN, CreateMode.PERSISTENT);
        delete(1, "/w/e/g", -1);
        multi(1, "under watches", Arrays.asList(
                Op.create("/w/m1", b(""), OPEN, CreateMode.PERSISTENT),
                Op.setData("/w/m1", b("m"), -1),
                Op.create("/w/m1/x", b(""), OPEN, CreateMode.PERSISTENT),
                Op.delete("/w/h", -1)));
        addWatch(1, "/nowhere", ew, "ew", AddWatchMode.PERSISTENT);
        create(2, "/nowhere", "", OPEN, CreateMode.PERSISTENT);
        create(2, "/nowhere/k", "", OPEN, CreateMode.PERSISTENT);
        delete(2, "/nowhere/k", -1);
        delete(2, "/nowhere", -1);
        removeWatches(1, "/nowhere", ew, "ew", Watcher.WatcherType.Any, false);
        create(2, "/nowhere", "", OPEN, CreateMode.PERSISTENT);
        removeWatches(2, "/w", pw, "pw", Watcher.WatcherType.Any, false);
        setData(1, "/w", "p3", -1);
        create(1, "/w/i", "", OPEN, CreateMode.PERSISTENT);
        removeAllWatches(1, "/w", Watcher.WatcherType.Any, false);
        setData(1, "/w/e", "y", -1);
        removeAllWatches(2, "/w", Watcher.WatcherType.Data, false); // nothing left: the client says NoWatcher
        existsW(1, "/w/i", dw, "dw");
        getChildrenW(1, "/w/i", cw, "cw");
        removeWatches(1, "/w/i", dw, "dw", Watcher.WatcherType.Data, false);
        removeWatches(1, "/w/i", cw, "cw", Watcher.WatcherType.Data, false);
        removeWatches(1, "/w/i", cw, "cw", Watcher.WatcherType.Children, true);
        setData(2, "/w/i", "", -1);
        create(2, "/w/i/j", "", OPEN, CreateMode.PERSISTENT);
        getData(1, "/w/i", true);
        // the server's NoWatcher: the client thinks it has no watch, so send these raw
        raw(1, "removeWatches /w/none Data", ZooDefs.OpCode.removeWatches,
                new RemoveWatchesRequest("/w/none", Watcher.WatcherType.Data.getIntValue()), null, () -> "ok");
        raw(1, "checkWatches /w/none Children", ZooDefs.OpCode.checkWatches,
                new CheckWatchesRequest("/w/none", Watcher.WatcherType.Children.getIntValue()), null, () -> "ok");
        raw(1, "checkWatches /w/i Data", ZooDefs.OpCode.checkWatches,
                new CheckWatchesRequest("/w/i", Watcher.WatcherType.Data.getIntValue()), null, () -> "ok");
        raw(1, "checkWatches /w/i Children", ZooDefs.OpCode.checkWatches,
                new CheckWatchesRequest("/w/i", Watcher.WatcherType.Children.getIntValue()), null, () -> "ok");
        raw(1, "checkWatches /w/i Any", ZooDefs.OpCode.checkWatches,
                new CheckWatchesRequest("/w/i", Watcher.WatcherType.Any.getIntValue()), null, () -> "ok");
        // removed on the server behind the client's back: no event when the node changes
        raw(1, "removeWatches /w/i Any", ZooDefs.OpCode.removeWatches,
                new RemoveWatchesRequest("/w/i", Watcher.WatcherType.Any.getIntValue()), null, () -> "ok");
        setData(2, "/w/i", "z", -1);
        raw(1, "removeWatches /w/i Data (again)", ZooDefs.OpCode.removeWatches,
                new RemoveWatchesRequest("/w/i", Watcher.WatcherType.Data.getIntValue()), null, () -> "ok");
        raw(2, "addWatch /w/raw mode=1", ZooDefs.OpCode.addWatch,
                new AddWatchRequest("/w/raw", 1), null, () -> "ok");
        // Only Any: whether Data/Children match a persistent or recursive watch differs between
        // 3.8.0 (they do; a recursive watch even sits in the child table) and 3.9 (only standard
        // watches; ZOOKEEPER-4471/4472). Likewise 3.8.0 answers checkWatches positively when any
        // connection watches the path; every checkWatches here is on a path no other session watches.
        raw(2, "checkWatches /w/raw Any", ZooDefs.OpCode.checkWatches,
                new CheckWatchesRequest("/w/raw", Watcher.WatcherType.Any.getIntValue()), null, () -> "ok");
        raw(2, "removeWatches /w/raw Any", ZooDefs.OpCode.removeWatches,
                new RemoveWatchesRequest("/w/raw", Watcher.WatcherType.Any.getIntValue()), null, () -> "ok");
        // watches left in place on nodes the random section does not touch; s3's ephemeral is
        // watched so that its removal at session close shows up
        exists(1, "/eph", true);
        getChildren(2, "/q", true);
        getData(2, "/eph2", true);
        exists(2, "/c/e", true);
    }

    static void misc() throws Exception {
        sync(1, "/t");
        sync(2, "/does/not/exist");
        op(1, "getConfig watch", () -> {
            Stat st = new Stat();
            byte[] d = zk[1].getConfig(true, st);
            return data(d) + " " + st(st);
        });
        op(1, "reconfig incremental", () -> {
            Stat st = new Stat();
            byte[] d = zk[1].reconfigure("server.5=127.0.0.1:1234:1235;1236", null, null, -1, st);
            return data(d) + " " + st(st);
        });
        op(2, "reconfig non-incremental", () -> {
            Stat st = new Stat();
            byte[] d = zk[2].reconfigure(null, null, "server.1=127.0.0.1:1234:1235;1236", -1, st);
            return data(d) + " " + st(st);
        });
        // server-side path checks the client normally does itself
        raw(1, "exists /a<NUL>b", ZooDefs.OpCode.exists, new ExistsRequest("/a\u0000b", false),
                new ExistsResponse(), () -> "ok");
        GetDataResponse gd = new GetDataResponse();
        raw(1, "getData /t//a", ZooDefs.OpCode.getData, new GetDataRequest("/t//a", false), gd,
                () -> data(gd.getData()));
        raw(1, "setData /t//a", ZooDefs.OpCode.setData, new SetDataRequest("/t//a", b(""), -1),
                new SetDataResponse(), () -> "ok");
        raw(1, "setData /t/a/", ZooDefs.OpCode.setData, new SetDataRequest("/t/a/", b(""), -1),
                new SetDataResponse(), () -> "ok");
        raw(1, "delete t/a (no slash)", ZooDefs.OpCode.delete, new DeleteRequest("t/a", -1), null, () -> "ok");
        raw(1, "delete /t/a/ (trailing slash)", ZooDefs.OpCode.delete, new DeleteRequest("/t/a/", -1), null,
                () -> "ok");
        raw(1, "create /t/./x", ZooDefs.OpCode.create, new CreateRequest("/t/./x", b(""), OPEN, 0),
                new CreateResponse(), () -> "ok");
        raw(1, "create /t/ (not sequential)", ZooDefs.OpCode.create, new CreateRequest("/t/", b(""), OPEN, 0),
                new CreateResponse(), () -> "ok");
        raw(1, "create t (no slash)", ZooDefs.OpCode.create, new CreateRequest("t", b(""), OPEN, 0),
                new CreateResponse(), () -> "ok");
        raw(1, "setACL /t//a", ZooDefs.OpCode.setACL, new SetACLRequest("/t//a", OPEN, -1),
                new SetACLResponse(), () -> "ok");
        GetChildrenResponse gc = new GetChildrenResponse();
        raw(1, "getChildren /t/", ZooDefs.OpCode.getChildren, new GetChildrenRequest("/t/", false), gc,
                () -> sorted(gc.getChildren()));
        raw(1, "create /t/empty-acl", ZooDefs.OpCode.create,
                new CreateRequest("/t/empty-acl", b(""), new ArrayList<>(), 0), new CreateResponse(), () -> "ok");
        raw(1, "setACL /t/a empty acl", ZooDefs.OpCode.setACL, new SetACLRequest("/t/a", new ArrayList<>(), -1),
                new SetACLResponse(), () -> "ok");
        GetEphemeralsResponse ge = new GetEphemeralsResponse();
        raw(3, "getEphemerals null prefix", ZooDefs.OpCode.getEphemerals, new GetEphemeralsRequest(null), ge,
                () -> sorted(ge.getEphemerals()));
        GetAllChildrenNumberResponse gn = new GetAllChildrenNumberResponse();
        raw(1, "getAllChildrenNumber /t/", ZooDefs.OpCode.getAllChildrenNumber,
                new GetAllChildrenNumberRequest("/t/"), gn, () -> "" + gn.getTotalNumber());
    }

    // ---------------------------------------------------------------- random section

    /**
     * Seeded random operations over /r (open ACLs only, so the READ-filter difference cannot
     * appear), from s1..s3, with one-shot, persistent and recursive watches set along the way.
     */
    static void randomSection(long seed, int count) throws Exception {
        Random rnd = new Random(seed);
        create(1, "/r", "r", OPEN, CreateMode.PERSISTENT);
        addWatch(2, "/r", new Rec(2, "rr"), "rr", AddWatchMode.PERSISTENT_RECURSIVE);
        addWatch(1, "/r", new Rec(1, "pr"), "pr", AddWatchMode.PERSISTENT);
        List<String> known = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            known.add("/r/n" + i);
        }
        CreateMode[] modes = {CreateMode.PERSISTENT, CreateMode.PERSISTENT, CreateMode.EPHEMERAL,
            CreateMode.PERSISTENT_SEQUENTIAL, CreateMode.EPHEMERAL_SEQUENTIAL, CreateMode.CONTAINER,
            CreateMode.PERSISTENT_WITH_TTL, CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL};
        String[] datas = {null, "", "a", "bb", "ccc"};
        int[] versions = {-1, -1, 0, 0, 1, 2, 3};
        for (int i = 0; i < count; i++) {
            int s = 1 + rnd.nextInt(3);
            String path = pick(rnd, known);
            int kind = rnd.nextInt(100);
            if (kind < 24) {
                String target = rnd.nextInt(4) == 0 ? path + "/k" + rnd.nextInt(3)
                        : rnd.nextInt(3) == 0 ? pick(rnd, known) + "/s-" : "/r/n" + rnd.nextInt(6);
                CreateMode mode = modes[rnd.nextInt(modes.length)];
                String d = datas[rnd.nextInt(datas.length)];
                String[] made = new String[1];
                boolean withStat = rnd.nextBoolean();
                if (mode.isTTL()) {
                    op(s, "createTTL " + target + " " + data(b(d)) + " " + mode, () -> {
                        Stat st = new Stat();
                        made[0] = zk[s].create(target, b(d), OPEN, mode, st, TTL);
                        return made[0] + " " + st(st);
                    });
                } else if (withStat) {
                    op(s, "create2 " + target + " " + data(b(d)) + " " + mode, () -> {
                        Stat st = new Stat();
                        made[0] = zk[s].create(target, b(d), OPEN, mode, st);
                        return made[0] + " " + st(st);
                    });
                } else {
                    op(s, "create " + target + " " + data(b(d)) + " " + mode,
                            () -> made[0] = zk[s].create(target, b(d), OPEN, mode));
                }
                if (made[0] != null && !known.contains(made[0])) {
                    known.add(made[0]);
                }
            } else if (kind < 36) {
                delete(s, path, versions[rnd.nextInt(versions.length)]);
            } else if (kind < 50) {
                setData(s, path, datas[rnd.nextInt(datas.length)], versions[rnd.nextInt(versions.length)]);
            } else if (kind < 58) {
                getData(s, path, rnd.nextInt(3) == 0 && mayWatch(s, path));
            } else if (kind < 64) {
                exists(s, path, rnd.nextInt(3) == 0 && mayWatch(s, path));
            } else if (kind < 72) {
                String p = rnd.nextBoolean() ? "/r" : path;
                getChildren2(s, p, rnd.nextInt(3) == 0 && mayWatch(s, p));
            } else if (kind < 86) {
                List<Op> ops = new ArrayList<>();
                StringBuilder desc = new StringBuilder();
                int n = 1 + rnd.nextInt(4);
                for (int j = 0; j < n; j++) {
                    String p = rnd.nextInt(4) == 0 ? "/r/n" + rnd.nextInt(6) : pick(rnd, known);
                    int v = versions[rnd.nextInt(versions.length)];
                    switch (rnd.nextInt(5)) {
                        case 0:
                            ops.add(Op.create(p, b("m"), OPEN, CreateMode.PERSISTENT));
                            desc.append(" create ").append(p);
                            break;
                        case 1:
                            ops.add(Op.create(p + "/s-", b(""), OPEN, CreateMode.PERSISTENT_SEQUENTIAL));
                            desc.append(" createSeq ").append(p).append("/s-");
                            break;
                        case 2:
                            ops.add(Op.delete(p, v));
                            desc.append(" delete ").append(p).append(" v=").append(v);
                            break;
                        case 3:
                            ops.add(Op.setData(p, b("md"), v));
                            desc.append(" setData ").append(p).append(" v=").append(v);
                            break;
                        default:
                            ops.add(Op.check(p, v));
                            desc.append(" check ").append(p).append(" v=").append(v);
                            break;
                    }
                }
                int ss = s;
                op(s, "multi" + desc, () -> {
                    List<OpResult> rs = zk[ss].multi(ops);
                    for (OpResult r : rs) {
                        if (r instanceof OpResult.CreateResult) {
                            String p = ((OpResult.CreateResult) r).getPath();
                            if (!known.contains(p)) {
                                known.add(p);
                            }
                        }
                    }
                    return results(rs);
                });
            } else if (kind < 90) {
                multi(s, "read " + path, Arrays.asList(Op.getData(path), Op.getChildren(path),
                        Op.getData("/r"), Op.getChildren("/r")));
            } else if (kind < 93) {
                allChildren(s, rnd.nextBoolean() ? "/r" : path);
            } else if (kind < 96) {
                ephemerals(s, rnd.nextBoolean() ? "/r" : path);
            } else {
                sync(s, path);
            }
        }
        getChildren2(1, "/r", false);
        allChildren(1, "/r");
    }

    /**
     * s1 holds a persistent and s2 a recursive watch on /r; a standard watch by the same session
     * on /r would replace it in 3.8.0 (one mode per connection and path) but not in 3.9
     * (ZOOKEEPER-4466), so those two sessions set no standard watch on /r itself.
     */
    static boolean mayWatch(int s, String path) {
        return s == 3 || !path.equals("/r");
    }

    static String pick(Random rnd, List<String> l) {
        return l.get(rnd.nextInt(l.size()));
    }

    // ---------------------------------------------------------------- session close, super

    static void sessionClose() throws Exception {
        ephemerals(3, null);
        getChildren2(1, "/q", true);
        getChildren(1, "/", true);
        closeSession(3);
        exists(1, "/eph", false);
        exists(1, "/eph2", false);
        getChildren2(1, "/q", false);
        getChildren2(1, "/m", false);
        getChildren2(1, "/c", false);
        ephemerals(2, null);
        allChildren(1, "/");
    }

    static void superSession() throws Exception {
        connect(4);
        addAuth(4, "super:test");
        whoAmI(4);
        getData(4, "/acl/c", false);
        getAcl(4, "/acl/c");
        getAcl(4, "/acl/bob");
        getData(4, "/acl/zero", false);
        setData(4, "/acl/zero", "su", -1);
        create(4, "/acl/c/su", "", OPEN, CreateMode.PERSISTENT);
        setAcl(4, "/acl/c", OPEN, -1);
        getAcl(1, "/acl/c");
        setData(4, "/zookeeper/config", "nope", -1);
        getData(4, "/zookeeper/config", false);
        op(4, "reconfig as super", () -> {
            Stat st = new Stat();
            byte[] d = zk[4].reconfigure("server.5=127.0.0.1:1234:1235;1236", null, null, -1, st);
            return data(d) + " " + st(st);
        });
    }

    /** The whole tree, as the super user sees it: data, stat and ACL of every node. */
    static void finalDump() throws Exception {
        Deque<String> todo = new ArrayDeque<>();
        todo.add("/");
        while (!todo.isEmpty()) {
            String p = todo.removeFirst();
            List<String> kids = new ArrayList<>();
            op(4, "dump " + p, () -> {
                Stat st = new Stat();
                byte[] d = zk[4].getData(p, false, st);
                Stat st2 = new Stat();
                List<ACL> a = zk[4].getACL(p, st2);
                kids.addAll(zk[4].getChildren(p, false));
                Collections.sort(kids);
                return data(d) + " " + st(st) + " " + acl(a) + " " + kids;
            });
            for (String k : kids) {
                todo.add(p.equals("/") ? "/" + k : p + "/" + k);
            }
        }
    }
}
