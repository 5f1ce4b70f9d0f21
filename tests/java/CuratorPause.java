// A Curator lock whose holder is paused (SIGSTOP: a long GC pause, a stopped VM) for longer than
// its session timeout. The server must expire the holder's session, not before the timeout
// allows, and the lock must go to the rival; the resumed holder must learn that its session is
// gone (Curator's LOST, the Java client's Expired event and SESSIONEXPIRED on the old handle),
// its late release must not touch the rival's lock node, and under a new session it must wait
// for the lock like anyone else. Run by tests/java/run.py against zkr and Apache ZooKeeper (the
// reference): every check must pass on both.
//
//   java -cp <zookeeper + curator + guava jars>:<classes> CuratorPause HOSTS
//
// The program starts the holder as a second JVM (`CuratorPause HOSTS --holder ROOT`, which
// reports what it sees as lines on its stdout), pauses and resumes it itself, and plays the
// rival. Prints one "PASS curator-pause: <check>" or "FAIL curator-pause: <check>: <detail>"
// line per check and exits 1 if any failed.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;

public class CuratorPause {
    static final Checks CHECKS = new Checks("curator-pause");
    /** The holder's session: the least the servers allow with run.py's 2-s tick. */
    static final int HOLDER_SESSION_MS = 4000;
    /** The longest any one step may take, however slow the machine. */
    static final long STEP_MS = 30000;

    static void check(String name, boolean ok, String detail) {
        CHECKS.check(name, ok, detail);
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 3 && args[1].equals("--holder")) {
            holder(args[0], args[2]);
            return;
        }
        String hosts = args[0];
        String root = "/pause-" + Long.toHexString(System.nanoTime() & 0xffffffL);
        List<String> cmd = new ArrayList<>(List.of("java"));
        String log4j = System.getProperty("log4j.configuration");
        if (log4j != null) {
            cmd.add("-Dlog4j.configuration=" + log4j);
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), "CuratorPause", hosts, "--holder", root));
        Process child = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        try {
            rival(hosts, root, child, new Holder(child));
        } finally {
            child.destroyForcibly();
            child.waitFor(10, TimeUnit.SECONDS);
        }
        CHECKS.exit();
    }

    /** The holder's lines, read on a thread of their own. */
    static final class Holder {
        final BlockingQueue<String> lines = new LinkedBlockingQueue<>();
        final List<String> seen = new ArrayList<>();
        /** Put after the holder's last line: it exited. */
        static final String END = "\u0000end";

        Holder(Process p) {
            Thread t = new Thread(() -> {
                try (BufferedReader in = new BufferedReader(
                        new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                    for (String line; (line = in.readLine()) != null; ) {
                        System.out.println("holder| " + line);
                        lines.add(line);
                    }
                } catch (Exception e) {
                    System.out.println("holder| (read error: " + e + ")");
                }
                lines.add(END);
            });
            t.setDaemon(true);
            t.start();
        }

        /** The words after `prefix` on the holder's first line that starts with it, whether it
         *  came already or comes within STEP_MS (null if not): the holder's threads report
         *  concurrently, so lines from different ones may come in any order. */
        String[] expect(String prefix) throws InterruptedException {
            // (a line the holder printed equal to END is not END: END is compared by reference)
            long end = System.currentTimeMillis() + STEP_MS;
            for (int i = 0; ; i++) {
                while (i >= seen.size()) {
                    long left = end - System.currentTimeMillis();
                    String line = left > 0 ? lines.poll(left, TimeUnit.MILLISECONDS) : null;
                    if (line == null || line == END) {
                        if (line == END) {
                            lines.add(END); // for the next call
                        }
                        return null;
                    }
                    seen.add(line);
                }
                String line = seen.get(i);
                if (line.equals(prefix) || line.startsWith(prefix + " ")) {
                    return line.substring(prefix.length()).trim().split(" ");
                }
            }
        }

        String detail(String wanted) {
            return "no \"" + wanted + "\" line within " + STEP_MS + " ms; holder said " + seen;
        }
    }

    static void signal(Process p, String sig) throws Exception {
        new ProcessBuilder("kill", "-" + sig, String.valueOf(p.pid())).inheritIO().start().waitFor();
    }

    /** The lock's owner: the session owning its lowest sequence number (0 if none). */
    static long owner(CuratorFramework c, String lock) throws Exception {
        List<String> nodes = new ArrayList<>(c.getChildren().forPath(lock));
        if (nodes.isEmpty()) {
            return 0;
        }
        nodes.sort((x, y) -> x.substring(x.length() - 10).compareTo(y.substring(y.length() - 10)));
        return c.checkExists().forPath(lock + "/" + nodes.get(0)).getEphemeralOwner();
    }

    static void rival(String hosts, String root, Process child, Holder holder) throws Exception {
        String[] held = holder.expect("HELD");
        check("the holder (a second JVM) takes the lock", held != null, holder.detail("HELD"));
        if (held == null) {
            return;
        }
        long holderSession = Long.parseUnsignedLong(held[0], 16);
        int timeout = Integer.parseInt(held[1]);
        CuratorFramework rival = CuratorInterop.client(hosts, 10000);
        InterProcessMutex wanted = new InterProcessMutex(rival, root + "/lock");
        check("the rival cannot take the lock while the holder holds it",
                !wanted.acquire(300, TimeUnit.MILLISECONDS) && owner(rival, root + "/lock") == holderSession, "");

        // The holder's last requests on both its sessions, answered just before the pause: no
        // server may expire them until their timeout has run since (a slow machine can only
        // make the rival wait longer).
        long asked = System.nanoTime();
        child.getOutputStream().write("touch\n".getBytes(StandardCharsets.UTF_8));
        child.getOutputStream().flush();
        check("the holder makes a last request", holder.expect("TOUCHED") != null, holder.detail("TOUCHED"));
        signal(child, "STOP");
        long paused = System.nanoTime();
        boolean got = wanted.acquire(STEP_MS + 2L * timeout, TimeUnit.MILLISECONDS);
        long now = System.nanoTime();
        long sinceAsked = (now - asked) / 1_000_000;
        check("the rival takes the lock once the paused holder's session expires", got,
                "not within " + (STEP_MS + 2L * timeout) + " ms of the pause");
        check("the paused holder's session lasted its whole timeout after its last request",
                !got || sinceAsked >= timeout, "the rival had the lock " + sinceAsked
                        + " ms after the holder's last request (session timeout " + timeout + " ms)");
        System.out.println("curator-pause: the rival had the lock " + (now - paused) / 1_000_000
                + " ms after the pause (holder's session " + timeout + " ms)");
        check("the expired session's lock node and ephemeral node are gone",
                owner(rival, root + "/lock") == rival.getZookeeperClient().getZooKeeper().getSessionId()
                        && rival.checkExists().forPath(root + "/holder-eph") == null,
                "lock nodes " + rival.getChildren().forPath(root + "/lock"));

        signal(child, "CONT");
        check("the resumed holder hears its session is lost (Curator's LOST)", holder.expect("STATE LOST") != null,
                holder.detail("STATE LOST"));
        check("the Java client under it gets an Expired event", holder.expect("RAW Expired") != null,
                holder.detail("RAW Expired"));
        String[] call = holder.expect("RAW-CALL");
        check("a call on the expired handle fails with SESSIONEXPIRED", call != null && call[0].equals("SESSIONEXPIRED"),
                call == null ? holder.detail("RAW-CALL") : String.join(" ", call));
        String[] fresh = holder.expect("NEW-SESSION");
        check("Curator reconnects the holder under a new session",
                fresh != null && Long.parseUnsignedLong(fresh[0], 16) != holderSession,
                fresh == null ? holder.detail("NEW-SESSION") : "the same session " + fresh[0]);
        String[] release = holder.expect("RELEASE");
        check("the holder's late release of the lost lock leaves the rival's lock node",
                release != null && wanted.isAcquiredInThisProcess()
                        && owner(rival, root + "/lock") == rival.getZookeeperClient().getZooKeeper().getSessionId(),
                release == null ? holder.detail("RELEASE") : "release " + String.join(" ", release) + ", lock nodes "
                        + rival.getChildren().forPath(root + "/lock"));
        String[] early = holder.expect("EARLY");
        check("under its new session the holder waits while the rival holds the lock",
                early != null && early[0].equals("false"), early == null ? holder.detail("EARLY") : "it took it");
        wanted.release();
        String[] again = holder.expect("REACQUIRED");
        check("released by the rival, the lock goes back to the holder's new session",
                again != null && fresh != null && again[0].equals(fresh[0]),
                again == null ? holder.detail("REACQUIRED") : String.join(" ", again));
        check("the holder exits cleanly", child.waitFor(STEP_MS, TimeUnit.MILLISECONDS) && child.exitValue() == 0,
                child.isAlive() ? "still running" : "exit " + child.exitValue());
        rival.close();
    }

    static void say(String line) {
        System.out.println(line);
        System.out.flush();
    }

    /** The holder process: takes the lock, then reports what it sees after the pause. */
    static void holder(String hosts, String root) throws Exception {
        CuratorFramework c = CuratorInterop.client(hosts, HOLDER_SESSION_MS);
        BlockingQueue<ConnectionState> states = new LinkedBlockingQueue<>();
        c.getConnectionStateListenable().addListener((client, s) -> {
            say("STATE " + s);
            states.add(s);
        });
        // A plain Java client beside Curator, for the client library's own view of the expiry.
        BlockingQueue<String> raw = new LinkedBlockingQueue<>();
        ZooKeeper zk = new ZooKeeper(hosts, HOLDER_SESSION_MS, e -> {
            say("RAW " + e.getState());
            raw.add(e.getState().toString());
        });
        if (!CuratorInterop.waitFor(STEP_MS, () -> zk.getState().isConnected())) {
            say("RAW not connected");
            System.exit(1);
        }
        c.create().forPath(root);
        zk.create(root + "/holder-eph", new byte[0], ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.EPHEMERAL);
        InterProcessMutex mutex = new InterProcessMutex(c, root + "/lock");
        if (!mutex.acquire(STEP_MS, TimeUnit.MILLISECONDS)) {
            say("NOT-HELD");
            System.exit(1);
        }
        ZooKeeper session = c.getZookeeperClient().getZooKeeper();
        say("HELD " + Long.toHexString(session.getSessionId()) + " " + session.getSessionTimeout());

        BufferedReader commands = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        if (!"touch".equals(commands.readLine())) {
            System.exit(1);
        }
        zk.exists(root, false);
        c.checkExists().forPath(root);
        say("TOUCHED");
        // Paused here by the rival; nothing below runs until it resumes us.
        while (states.poll(1, TimeUnit.DAYS) != ConnectionState.LOST) {
            // SUSPENDED first, then LOST
        }
        CuratorInterop.waitFor(STEP_MS, () -> raw.contains("Expired")); // if not, the rival says so
        try {
            zk.exists(root, false);
            say("RAW-CALL OK");
        } catch (KeeperException e) {
            say("RAW-CALL " + e.code());
        }
        for (ConnectionState s; (s = states.poll(STEP_MS, TimeUnit.MILLISECONDS)) != ConnectionState.RECONNECTED; ) {
            if (s == null) {
                say("NOT-RECONNECTED");
                System.exit(1);
            }
        }
        say("NEW-SESSION " + Long.toHexString(c.getZookeeperClient().getZooKeeper().getSessionId()));
        try {
            mutex.release();
            say("RELEASE ok");
        } catch (Exception e) {
            say("RELEASE " + e.getClass().getSimpleName());
        }
        InterProcessMutex again = new InterProcessMutex(c, root + "/lock");
        say("EARLY " + again.acquire(300, TimeUnit.MILLISECONDS));
        boolean got = again.acquire(STEP_MS, TimeUnit.MILLISECONDS);
        say("REACQUIRED " + (got ? Long.toHexString(c.getZookeeperClient().getZooKeeper().getSessionId()) : "no"));
        if (got) {
            again.release();
        }
        zk.close();
        c.close();
        System.exit(got ? 0 : 1);
    }
}
