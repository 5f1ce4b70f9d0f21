// Interop checks with Apache Curator (Debian's libcurator-*-java, 5.4) and its recipes, the
// client library most Java services use ZooKeeper through: locks, leader latches, caches on
// persistent recursive watches, counters, semaphores, containers and TTL nodes, transactions.
// Run by tests/java/run.py against zkr and against Apache ZooKeeper (the reference): every
// check must pass on both.
//
//   java -cp <zookeeper + curator + guava jars>:<classes> CuratorInterop HOSTS
//
// Prints one "PASS curator: <check>" or "FAIL curator: <check>: <detail>" line per check and
// exits 1 if any failed.

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.api.CuratorWatcher;
import org.apache.curator.framework.api.transaction.CuratorOp;
import org.apache.curator.framework.api.transaction.CuratorTransactionResult;
import org.apache.curator.framework.recipes.atomic.AtomicValue;
import org.apache.curator.framework.recipes.atomic.DistributedAtomicLong;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.framework.recipes.cache.PathChildrenCache;
import org.apache.curator.framework.recipes.cache.PathChildrenCacheEvent;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.recipes.locks.InterProcessSemaphoreV2;
import org.apache.curator.framework.recipes.locks.Lease;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.curator.retry.RetryNTimes;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.data.Stat;

public class CuratorInterop {
    static final Checks CHECKS = new Checks("curator");

    static void check(String name, boolean ok, String detail) {
        CHECKS.check(name, ok, detail);
    }

    interface Body {
        void run() throws Exception;
    }

    /** Runs one group of checks; an exception fails the group under `name`. */
    static void step(String name, Body body) {
        try {
            body.run();
        } catch (Throwable e) {
            check(name, false, e.toString());
        }
    }

    static CuratorFramework client(String hosts) throws Exception {
        return client(hosts, 10000);
    }

    /** A started client with a `sessionMs` session, connected (within 30 s). */
    static CuratorFramework client(String hosts, int sessionMs) throws Exception {
        CuratorFramework c = CuratorFrameworkFactory.builder()
                .connectString(hosts)
                .sessionTimeoutMs(sessionMs)
                .connectionTimeoutMs(10000)
                .retryPolicy(new ExponentialBackoffRetry(100, 5))
                .build();
        c.start();
        if (!c.blockUntilConnected(30, TimeUnit.SECONDS)) {
            throw new IllegalStateException("not connected within 30 s");
        }
        return c;
    }

    static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static String str(byte[] b) {
        return b == null ? null : new String(b, StandardCharsets.UTF_8);
    }

    /** Polls `f` every 20 ms for up to `ms`. */
    static boolean waitFor(long ms, BooleanSupplier f) throws InterruptedException {
        long end = System.currentTimeMillis() + ms;
        while (System.currentTimeMillis() < end) {
            if (f.getAsBoolean()) {
                return true;
            }
            Thread.sleep(20);
        }
        return f.getAsBoolean();
    }

    static boolean absent(CuratorFramework c, String path) {
        try {
            return c.checkExists().forPath(path) == null;
        } catch (Exception e) {
            return false;
        }
    }

    public static void main(String[] args) throws Exception {
        String hosts = args[0];
        String root = "/curator-" + Long.toHexString(System.nanoTime() & 0xffffffL);
        CuratorFramework c1 = client(hosts);
        CuratorFramework c2 = client(hosts);
        check("two clients connect", true, "");

        step("create with parents", () -> {
            c1.create().creatingParentsIfNeeded().forPath(root + "/p/q/r", bytes("r"));
            check("create with parents", "r".equals(str(c1.getData().forPath(root + "/p/q/r")))
                    && c1.checkExists().forPath(root + "/p/q") != null, "");
        });

        step("protected ephemeral sequential", () -> {
            String p = c1.create().creatingParentsIfNeeded().withProtection()
                    .withMode(CreateMode.EPHEMERAL_SEQUENTIAL).forPath(root + "/eph/n-", bytes("e"));
            Stat st = c1.checkExists().forPath(p);
            long session = c1.getZookeeperClient().getZooKeeper().getSessionId();
            check("protected ephemeral sequential", p.contains("_c_") && p.matches(".*n-\\d{10}")
                    && st != null && st.getEphemeralOwner() == session, p + " " + st);
        });

        step("versioned setData", () -> {
            Stat st = c1.setData().forPath(root + "/p", bytes("v1"));
            c1.setData().withVersion(st.getVersion()).forPath(root + "/p", bytes("v2"));
            try {
                c1.setData().withVersion(st.getVersion()).forPath(root + "/p", bytes("v3"));
                check("setData with a stale version fails", false, "it succeeded");
            } catch (KeeperException.BadVersionException e) {
                check("setData with a stale version fails", "v2".equals(str(c1.getData().forPath(root + "/p"))), "");
            }
        });

        step("a data watch fires", () -> {
            CountDownLatch fired = new CountDownLatch(1);
            AtomicReference<WatchedEvent> ev = new AtomicReference<>();
            c1.getData().usingWatcher((CuratorWatcher) e -> {
                if (e.getType() != Watcher.Event.EventType.None) { // not a connection state change
                    ev.set(e);
                    fired.countDown();
                }
            }).forPath(root + "/p");
            c2.setData().forPath(root + "/p", bytes("w"));
            boolean ok = fired.await(10, TimeUnit.SECONDS);
            check("a data watch fires NodeDataChanged", ok
                    && ev.get().getType() == Watcher.Event.EventType.NodeDataChanged
                    && (root + "/p").equals(ev.get().getPath()), String.valueOf(ev.get()));
        });

        step("transactions", () -> {
            CuratorOp o1 = c1.transactionOp().create().forPath(root + "/tx", bytes("t"));
            CuratorOp o2 = c1.transactionOp().setData().forPath(root + "/tx", bytes("t2"));
            CuratorOp o3 = c1.transactionOp().create().forPath(root + "/tx/child");
            List<CuratorTransactionResult> rs = c1.transaction().forOperations(o1, o2, o3);
            check("a transaction commits all its operations", rs.size() == 3
                    && "t2".equals(str(c1.getData().forPath(root + "/tx")))
                    && c1.checkExists().forPath(root + "/tx/child") != null, String.valueOf(rs));
            CuratorOp bad1 = c1.transactionOp().create().forPath(root + "/tx2");
            CuratorOp bad2 = c1.transactionOp().check().withVersion(42).forPath(root + "/tx");
            try {
                c1.transaction().forOperations(bad1, bad2);
                check("a failed transaction changes nothing", false, "it committed");
            } catch (KeeperException.BadVersionException e) {
                check("a failed transaction changes nothing", absent(c1, root + "/tx2"), "");
            }
        });

        step("InterProcessMutex", () -> {
            InterProcessMutex m1 = new InterProcessMutex(c1, root + "/lock");
            InterProcessMutex m2 = new InterProcessMutex(c2, root + "/lock");
            ExecutorService other = Executors.newSingleThreadExecutor();
            boolean got1 = m1.acquire(10, TimeUnit.SECONDS);
            boolean early = other.submit(() -> m2.acquire(300, TimeUnit.MILLISECONDS)).get(10, TimeUnit.SECONDS);
            Future<Boolean> waiting = other.submit(() -> m2.acquire(15, TimeUnit.SECONDS));
            Thread.sleep(200);
            boolean stillWaiting = !waiting.isDone();
            m1.release();
            boolean got2 = waiting.get(20, TimeUnit.SECONDS);
            check("InterProcessMutex: exclusive, and handed over on release",
                    got1 && !early && stillWaiting && got2,
                    "got1=" + got1 + " early=" + early + " waiting=" + stillWaiting + " got2=" + got2);
            other.submit(() -> {
                m2.release();
                return null;
            }).get(10, TimeUnit.SECONDS);
            check("InterProcessMutex: no lock node left after the releases",
                    c1.getChildren().forPath(root + "/lock").isEmpty(),
                    String.valueOf(c1.getChildren().forPath(root + "/lock")));
            // A holder whose session ends loses the lock to the next waiter.
            CuratorFramework c3 = client(hosts);
            InterProcessMutex m3 = new InterProcessMutex(c3, root + "/lock");
            boolean got3 = m3.acquire(10, TimeUnit.SECONDS);
            Future<Boolean> next = other.submit(() -> m2.acquire(20, TimeUnit.SECONDS));
            Thread.sleep(200);
            c3.close();
            boolean took = next.get(25, TimeUnit.SECONDS);
            check("InterProcessMutex: a holder's closed session hands the lock on", got3 && took,
                    "got3=" + got3 + " took=" + took);
            other.submit(() -> {
                m2.release();
                return null;
            }).get(10, TimeUnit.SECONDS);
            other.shutdown();
        });

        step("LeaderLatch", () -> {
            LeaderLatch l1 = new LeaderLatch(c1, root + "/leader", "one");
            LeaderLatch l2 = new LeaderLatch(c2, root + "/leader", "two");
            l1.start();
            l2.start();
            boolean one = waitFor(15000, () -> l1.hasLeadership() ^ l2.hasLeadership());
            LeaderLatch leader = l1.hasLeadership() ? l1 : l2;
            LeaderLatch follower = leader == l1 ? l2 : l1;
            String named = leader.getLeader().getId();
            leader.close();
            boolean moved = waitFor(15000, follower::hasLeadership);
            check("LeaderLatch: one leader, and leadership moves when it leaves",
                    one && moved && named.equals(leader.getId()),
                    "one=" + one + " moved=" + moved + " named=" + named);
            follower.close();
        });

        step("DistributedAtomicLong", () -> {
            DistributedAtomicLong x1 = new DistributedAtomicLong(c1, root + "/counter", new RetryNTimes(100, 5));
            DistributedAtomicLong x2 = new DistributedAtomicLong(c2, root + "/counter", new RetryNTimes(100, 5));
            ExecutorService pool = Executors.newFixedThreadPool(2);
            List<Callable<Integer>> jobs = new ArrayList<>();
            for (DistributedAtomicLong x : new DistributedAtomicLong[] {x1, x2}) {
                jobs.add(() -> {
                    int ok = 0;
                    for (int i = 0; i < 50; i++) {
                        if (x.increment().succeeded()) {
                            ok++;
                        }
                    }
                    return ok;
                });
            }
            int n = 0;
            for (Future<Integer> f : pool.invokeAll(jobs, 60, TimeUnit.SECONDS)) {
                n += f.get();
            }
            pool.shutdown();
            AtomicValue<Long> v = x1.get();
            check("DistributedAtomicLong: concurrent increments are all counted",
                    n == 100 && v.succeeded() && v.postValue() == 100L, "n=" + n + " value=" + v.postValue());
        });

        step("InterProcessSemaphoreV2", () -> {
            InterProcessSemaphoreV2 s1 = new InterProcessSemaphoreV2(c1, root + "/sem", 2);
            InterProcessSemaphoreV2 s2 = new InterProcessSemaphoreV2(c2, root + "/sem", 2);
            Lease a = s1.acquire(10, TimeUnit.SECONDS);
            Lease b = s2.acquire(10, TimeUnit.SECONDS);
            Lease none = s1.acquire(300, TimeUnit.MILLISECONDS);
            s1.returnLease(a);
            Lease c = s2.acquire(10, TimeUnit.SECONDS);
            check("InterProcessSemaphoreV2: two leases, a third once one is returned",
                    a != null && b != null && none == null && c != null, "a=" + a + " b=" + b + " none=" + none + " c=" + c);
            s2.returnLease(b);
            s2.returnLease(c);
        });

        step("CuratorCache", () -> {
            c1.create().forPath(root + "/cache");
            CuratorCache cache = CuratorCache.build(c1, root + "/cache");
            ConcurrentLinkedQueue<String> events = new ConcurrentLinkedQueue<>();
            CountDownLatch initialized = new CountDownLatch(1);
            cache.listenable().addListener(CuratorCacheListener.builder()
                    .forAll((type, before, after) -> events.add(type + " " + (after != null ? after : before).getPath()))
                    .forInitialized(initialized::countDown)
                    .build());
            cache.start();
            boolean init = initialized.await(15, TimeUnit.SECONDS);
            // One change at a time: the cache reads a node after its event, so a change made
            // before that read is folded into it (ZooKeeper's watches promise no more).
            c2.create().forPath(root + "/cache/a", bytes("1"));
            boolean created = waitFor(15000, () -> events.contains("NODE_CREATED " + root + "/cache/a"));
            c2.create().forPath(root + "/cache/a/b", bytes("2"));
            boolean deep = waitFor(15000, () -> events.contains("NODE_CREATED " + root + "/cache/a/b"));
            c2.setData().forPath(root + "/cache/a", bytes("3"));
            boolean changed = waitFor(15000, () -> events.contains("NODE_CHANGED " + root + "/cache/a")
                    && cache.get(root + "/cache/a").map(d -> "3".equals(str(d.getData()))).orElse(false));
            c2.delete().forPath(root + "/cache/a/b");
            boolean deleted = waitFor(15000, () -> events.contains("NODE_DELETED " + root + "/cache/a/b")
                    && !cache.get(root + "/cache/a/b").isPresent());
            check("CuratorCache: follows creates, changes and deletes below its root",
                    init && created && deep && changed && deleted, String.valueOf(events));
            cache.close();
        });

        step("PathChildrenCache", () -> {
            c1.create().forPath(root + "/kids");
            @SuppressWarnings("deprecation")
            PathChildrenCache cache = new PathChildrenCache(c1, root + "/kids", true);
            ConcurrentLinkedQueue<String> events = new ConcurrentLinkedQueue<>();
            cache.getListenable().addListener((client, e) -> {
                if (e.getData() != null) {
                    events.add(e.getType() + " " + e.getData().getPath());
                }
            });
            cache.start(PathChildrenCache.StartMode.BUILD_INITIAL_CACHE);
            String x = root + "/kids/x";
            c2.create().forPath(x, bytes("1"));
            boolean added = waitFor(15000, () -> events.contains(PathChildrenCacheEvent.Type.CHILD_ADDED + " " + x));
            c2.setData().forPath(x, bytes("2"));
            boolean updated = waitFor(15000, () -> events.contains(PathChildrenCacheEvent.Type.CHILD_UPDATED + " " + x));
            c2.delete().forPath(x);
            boolean removed = waitFor(15000, () -> events.contains(PathChildrenCacheEvent.Type.CHILD_REMOVED + " " + x));
            check("PathChildrenCache: child added, updated, removed", added && updated && removed,
                    String.valueOf(events));
            cache.close();
        });

        step("container parents", () -> {
            c1.create().creatingParentContainersIfNeeded().forPath(root + "/cont/x/leaf");
            Stat st = c1.checkExists().forPath(root + "/cont/x");
            c1.delete().forPath(root + "/cont/x/leaf");
            boolean gone = waitFor(20000, () -> absent(c1, root + "/cont/x"));
            check("parents created as containers go once empty", st != null && gone, "stat=" + st);
        });

        step("TTL node", () -> {
            c1.create().withTtl(500).withMode(CreateMode.PERSISTENT_WITH_TTL).forPath(root + "/ttl", bytes("t"));
            boolean there = !absent(c1, root + "/ttl");
            boolean gone = waitFor(20000, () -> absent(c1, root + "/ttl"));
            check("a TTL node goes after its TTL", there && gone, "there=" + there);
        });

        step("namespace", () -> {
            CuratorFramework ns = c1.usingNamespace(root.substring(1) + "/ns");
            ns.create().creatingParentsIfNeeded().forPath("/inside", bytes("n"));
            check("a namespace prefixes every path", "n".equals(str(c1.getData().forPath(root + "/ns/inside"))), "");
        });

        step("delete the tree", () -> {
            c1.delete().deletingChildrenIfNeeded().forPath(root);
            check("deletingChildrenIfNeeded removes the whole tree", absent(c2, root), "");
        });

        c1.close();
        c2.close();
        CHECKS.exit();
    }
}
