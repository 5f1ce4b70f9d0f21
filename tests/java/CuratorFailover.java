// A Curator lock across a leader failover of a 3-server ensemble: the holder's session, and
// with it the lock, must survive the leader's loss, no other client may take the lock
// meanwhile, and the holder's watches (a one-shot data watch, a CuratorCache's persistent
// recursive watch) must still fire after it. Run by tests/java/run.py against a zkr ensemble and
// an Apache ZooKeeper one (the reference): every check must pass on both.
//
//   java -cp <zookeeper + curator + guava jars>:<classes> CuratorFailover HOSTS PORT=PID,...
//        [--pause MS | --pause-follower MS] [--session MS]
//
// PORT=PID names each server's client port and process; the program finds the leader with
// `srvr` and kills it (SIGKILL) itself, at the moment it chooses. With --pause the leader is
// stopped (SIGSTOP) for MS instead, longer than the clients' session timeout (--session MS,
// 20000 by default), and then resumed: on waking, its own clock says every session it tracked
// has expired, and it must not take anyone's lock with it; it must rejoin as a follower of the
// new leader, with the lock node. With --pause-follower the holder connects to the followers
// only, and the follower it is on is stopped for MS (longer than the session timeout), then
// resumed: the commonest pause in production (a follower's GC or a stopped VM). The holder's
// client hears nothing for its read timeout (2/3 of the session timeout), moves to the other
// follower and must keep its session and lock (the leader heard nothing of the session from the
// paused follower meanwhile); the woken follower, whose clock says the session is long overdue,
// must not end it, and must rejoin with the lock node. Prints one "PASS <label>: <check>" or
// "FAIL <label>: <check>: <detail>" line per check (label curator-failover,
// curator-leader-pause or curator-follower-pause) and exits 1 if any failed.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.api.CuratorWatcher;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;

public class CuratorFailover {
    static Checks CHECKS;

    static void check(String name, boolean ok, String detail) {
        CHECKS.check(name, ok, detail);
    }

    static String mode(int port) {
        try (Socket s = new Socket("127.0.0.1", port)) {
            s.setSoTimeout(2000);
            OutputStream out = s.getOutputStream();
            out.write("srvr".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.US_ASCII));
            for (String line; (line = in.readLine()) != null; ) {
                if (line.startsWith("Mode: ")) {
                    return line.substring(6).trim();
                }
            }
        } catch (Exception e) {
            return null;
        }
        return null;
    }

    /**
     * Resumes the paused server (`what`: "old leader" or "follower") at `at` (its sessions'
     * deadlines long past by its clock) and checks that it rejoins as a follower holding the lock
     * node of the holder's `session`: the expiries it may have proposed on waking never committed.
     */
    static void resume(String what, int port, long pid, long at, int sessionMs, String root, long session) throws Exception {
        Thread.sleep(Math.max(0, at - System.currentTimeMillis()));
        CuratorPause.signal(pid, "CONT");
        boolean rejoined = CuratorInterop.waitFor(60000, () -> "follower".equals(mode(port)));
        check("the resumed " + what + " rejoins as a follower", rejoined, "mode " + mode(port));
        // Its sessions' deadlines are due the moment it wakes; give it time to act on them.
        Thread.sleep(sessionMs / 5);
        CuratorFramework direct = CuratorInterop.client("127.0.0.1:" + port, sessionMs);
        direct.sync().forPath(root);
        long owner = CuratorPause.owner(direct, root + "/lock");
        check("the resumed " + what + " still has the holder's lock node", owner == session,
                String.format("lock nodes %s, first owned by %x", direct.getChildren().forPath(root + "/lock"), owner));
        direct.close();
    }

    /** The client port of the leader among `ports`, or null. */
    static Integer leader(Iterable<Integer> ports) {
        for (int port : ports) {
            if ("leader".equals(mode(port))) {
                return port;
            }
        }
        return null;
    }

    /** HOSTS without the leader (the ensemble's other servers). */
    static String followers(String hosts, Iterable<Integer> ports) {
        Integer leader = leader(ports);
        List<String> others = new ArrayList<>();
        for (String h : hosts.split(",")) {
            if (leader == null || !h.endsWith(":" + leader)) {
                others.add(h);
            }
        }
        return String.join(",", others);
    }

    /** The client port of the server `c`'s connection is on, from the Java client's toString
     * ("... remoteserver:/127.0.0.1:PORT ..."), or null. */
    static Integer connectedPort(CuratorFramework c) throws Exception {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("remoteserver:\\S*:(\\d+)")
                .matcher(c.getZookeeperClient().getZooKeeper().toString());
        return m.find() ? Integer.valueOf(m.group(1)) : null;
    }

    public static void main(String[] args) throws Exception {
        String hosts = args[0];
        Map<Integer, Long> pids = new HashMap<>();
        for (String pair : args[1].split(",")) {
            String[] kv = pair.split("=");
            pids.put(Integer.parseInt(kv[0]), Long.parseLong(kv[1]));
        }
        long pauseMs = 0;
        boolean follower = false;
        int sessionMs = 20000; // longer than the other checks': it must outlast the failover
        for (int i = 2; i + 1 < args.length; i += 2) {
            if (args[i].equals("--pause") || args[i].equals("--pause-follower")) {
                pauseMs = Long.parseLong(args[i + 1]);
                follower = args[i].equals("--pause-follower");
            } else if (args[i].equals("--session")) {
                sessionMs = Integer.parseInt(args[i + 1]);
            }
        }
        String label = follower ? "curator-follower-pause" : pauseMs > 0 ? "curator-leader-pause" : "curator-failover";
        CHECKS = new Checks(label);
        String root = "/failover-" + Long.toHexString(System.nanoTime() & 0xffffffL);
        // A follower's pause: the holder is on a follower (either), so that the pause is of the
        // server its session is on.
        String holderHosts = follower ? followers(hosts, pids.keySet()) : hosts;
        CuratorFramework holder = CuratorInterop.client(holderHosts, sessionMs);
        CuratorFramework rival = CuratorInterop.client(hosts, sessionMs);
        ConcurrentLinkedQueue<ConnectionState> states = new ConcurrentLinkedQueue<>();
        holder.getConnectionStateListenable().addListener((c, s) -> states.add(s));
        long session = holder.getZookeeperClient().getZooKeeper().getSessionId();

        InterProcessMutex held = new InterProcessMutex(holder, root + "/lock");
        InterProcessMutex wanted = new InterProcessMutex(rival, root + "/lock");
        check("the holder takes the lock", held.acquire(10, TimeUnit.SECONDS), "");
        holder.create().forPath(root + "/data", "0".getBytes(StandardCharsets.UTF_8));

        // Watches set before the failover must be set again on the server the holder moves to
        // (setWatches): a persistent recursive one (under a CuratorCache) and a one-shot one.
        holder.create().forPath(root + "/cache");
        CuratorCache cache = CuratorCache.build(holder, root + "/cache");
        ConcurrentLinkedQueue<String> cacheEvents = new ConcurrentLinkedQueue<>();
        CountDownLatch cacheReady = new CountDownLatch(1);
        cache.listenable().addListener(CuratorCacheListener.builder()
                .forAll((type, before, after) -> cacheEvents.add(type + " " + (after != null ? after : before).getPath()))
                .forInitialized(cacheReady::countDown)
                .build());
        cache.start();
        check("the cache starts", cacheReady.await(15, TimeUnit.SECONDS), "");
        holder.create().forPath(root + "/watched", "0".getBytes(StandardCharsets.UTF_8));
        CountDownLatch watchFired = new CountDownLatch(1);
        AtomicReference<WatchedEvent> watchEvent = new AtomicReference<>();
        holder.getData().usingWatcher((CuratorWatcher) e -> {
            // The Java client also hands every watcher the connection's state changes
            // (type None: Disconnected, SyncConnected); only the node's own event counts.
            if (e.getType() != Watcher.Event.EventType.None) {
                watchEvent.set(e);
                watchFired.countDown();
            }
        }).forPath(root + "/watched");

        // The rival tries for the lock all along, 100 ms at a time, on its own thread (the
        // mutex is owned per thread).
        AtomicBoolean stop = new AtomicBoolean(false);
        AtomicInteger tries = new AtomicInteger();
        ExecutorService rivalThread = Executors.newSingleThreadExecutor();
        Future<Integer> stolen = rivalThread.submit(() -> {
            int got = 0;
            while (!stop.get()) {
                try {
                    tries.incrementAndGet();
                    if (wanted.acquire(100, TimeUnit.MILLISECONDS)) {
                        got++;
                        wanted.release();
                    }
                } catch (Exception e) {
                    Thread.sleep(50); // not connected: try again
                }
            }
            return got;
        });
        Thread.sleep(500);

        Integer leaderPort = leader(pids.keySet());
        check("a leader is found", leaderPort != null, String.valueOf(pids.keySet()));
        // The server to stop: the leader, or the follower the holder is connected to.
        Integer stopPort = leaderPort;
        if (follower) {
            stopPort = connectedPort(holder);
            check("the holder is on a follower", stopPort != null && "follower".equals(mode(stopPort)),
                    "port " + stopPort + ", mode " + (stopPort == null ? null : mode(stopPort)));
        }
        long pausedAt = 0;
        if (stopPort != null && pauseMs == 0) {
            long pid = pids.get(stopPort);
            boolean killed = ProcessHandle.of(pid).map(ProcessHandle::destroyForcibly).orElse(false);
            check("the leader is killed (SIGKILL)", killed, "pid " + pid);
        } else if (stopPort != null) {
            CuratorPause.signal(pids.get(stopPort), "STOP");
            pausedAt = System.currentTimeMillis();
        }

        // The holder's next write succeeds once the others have a new leader.
        long start = System.currentTimeMillis();
        boolean wrote = false;
        String lastError = "";
        while (!wrote && System.currentTimeMillis() - start < 90000) {
            try {
                holder.setData().forPath(root + "/data", "1".getBytes(StandardCharsets.UTF_8));
                wrote = true;
            } catch (Exception e) {
                lastError = e.toString();
                Thread.sleep(100);
            }
        }
        long took = System.currentTimeMillis() - start;
        check("the holder writes again after the failover", wrote, "for 90 s: " + lastError);
        if (pausedAt > 0) {
            resume(follower ? "follower" : "old leader", stopPort, pids.get(stopPort), pausedAt + pauseMs, sessionMs, root, session);
        }
        Thread.sleep(2000); // the rival keeps trying on the new leader
        stop.set(true);
        int got = stolen.get(30, TimeUnit.SECONDS);

        long after = holder.getZookeeperClient().getZooKeeper().getSessionId();
        check("the holder's session survives the failover", after == session && !states.contains(ConnectionState.LOST),
                String.format("session %x -> %x, states %s", session, after, states));
        // The lock's owner is its lowest sequence number (the rival's attempts cut short by the
        // failover may leave nodes of its own behind it until its session ends).
        long owner = CuratorPause.owner(holder, root + "/lock");
        check("the holder's lock node survives and still comes first", held.isAcquiredInThisProcess() && owner == session,
                String.format("lock nodes %s, first owned by %x", holder.getChildren().forPath(root + "/lock"), owner));
        check("the rival never took the lock while it was held", got == 0 && tries.get() > 1,
                "taken " + got + " times in " + tries.get() + " tries");

        // The rival changes what the holder watched before the failover.
        rival.setData().forPath(root + "/watched", "1".getBytes(StandardCharsets.UTF_8));
        rival.create().forPath(root + "/cache/after", "a".getBytes(StandardCharsets.UTF_8));
        boolean fired = watchFired.await(15, TimeUnit.SECONDS);
        check("a data watch set before the failover fires after it", fired
                && watchEvent.get().getType() == Watcher.Event.EventType.NodeDataChanged,
                String.valueOf(watchEvent.get()));
        boolean reported = CuratorInterop.waitFor(15000, () -> cacheEvents.contains("NODE_CREATED " + root + "/cache/after"));
        check("a persistent recursive watch set before the failover still reports (CuratorCache)",
                reported, String.valueOf(cacheEvents));
        cache.close();

        held.release();
        Future<Boolean> next = rivalThread.submit(() -> wanted.acquire(20, TimeUnit.SECONDS));
        boolean handed = next.get(30, TimeUnit.SECONDS);
        check("released, the lock goes to the rival", handed, "");
        if (handed) {
            rivalThread.submit(() -> {
                wanted.release();
                return null;
            }).get(10, TimeUnit.SECONDS);
        }
        rivalThread.shutdown();
        holder.close();
        rival.close();
        System.out.println(label + ": writes resumed " + took + " ms after the " + (pausedAt > 0 ? "pause" : "kill")
                + "; holder states " + states);
        CHECKS.exit();
    }
}
