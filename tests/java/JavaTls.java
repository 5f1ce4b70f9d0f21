// Apache's Java client over TLS, as Kafka, HBase and other Java services connect to a secure
// port: the Netty transport, a PEM key store holding the client's certificate and key, a JKS
// trust store with the CA. Run by tests/java/run.py against zkr and against Apache ZooKeeper
// (the reference): every check must pass on both.
//
//   java -cp <zookeeper jars>:<classes> JavaTls HOST:SECURE_PORT CLIENT_PEM TRUSTSTORE_JKS
//
// Prints one "PASS java-tls: <check>" or "FAIL java-tls: <check>: <detail>" line per check and
// exits 1 if any failed.

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.client.ZKClientConfig;
import org.apache.zookeeper.data.ClientInfo;

public class JavaTls {
    static final Checks CHECKS = new Checks("java-tls");

    static void check(String name, boolean ok, String detail) {
        CHECKS.check(name, ok, detail);
    }

    public static void main(String[] args) throws Exception {
        ZKClientConfig cfg = new ZKClientConfig();
        cfg.setProperty(ZKClientConfig.SECURE_CLIENT, "true");
        cfg.setProperty(ZKClientConfig.ZOOKEEPER_CLIENT_CNXN_SOCKET, "org.apache.zookeeper.ClientCnxnSocketNetty");
        cfg.setProperty("zookeeper.ssl.keyStore.location", args[1]);
        cfg.setProperty("zookeeper.ssl.keyStore.type", "PEM");
        cfg.setProperty("zookeeper.ssl.trustStore.location", args[2]);
        cfg.setProperty("zookeeper.ssl.trustStore.password", "apassword");
        cfg.setProperty("zookeeper.ssl.trustStore.type", "JKS");
        cfg.setProperty("zookeeper.ssl.hostnameVerification", "false");
        CountDownLatch connected = new CountDownLatch(1);
        ZooKeeper zk = new ZooKeeper(args[0], 10000, e -> {
            if (e.getState() == Watcher.Event.KeeperState.SyncConnected) {
                connected.countDown();
            }
        }, cfg);
        boolean up = connected.await(30, TimeUnit.SECONDS);
        check("connects over TLS (Netty, PEM key store)", up, "state " + zk.getState());
        if (!up) {
            System.exit(1);
        }
        String root = "/java-tls-" + Long.toHexString(System.nanoTime() & 0xffffffL);
        String made = zk.create(root, "secure".getBytes(StandardCharsets.UTF_8), ZooDefs.Ids.OPEN_ACL_UNSAFE,
                CreateMode.PERSISTENT);
        byte[] got = zk.getData(root, false, null);
        check("create and getData over TLS", root.equals(made) && "secure".equals(new String(got, StandardCharsets.UTF_8)),
                made);
        List<ClientInfo> who = zk.whoAmI();
        boolean x509 = false;
        for (ClientInfo c : who) {
            x509 |= "x509".equals(c.getAuthScheme()) && c.getUser().contains("CN=client");
        }
        check("the connection carries the certificate's x509 identity (whoAmI)", x509, String.valueOf(who));
        zk.delete(root, -1);
        check("delete over TLS", zk.exists(root, false) == null, "");
        zk.close();
        CHECKS.exit();
    }
}
