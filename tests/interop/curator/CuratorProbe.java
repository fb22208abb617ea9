// Apache Curator, unchanged, against one server: prints a transcript of what it observed.
// The interop test runs it against Apache ZooKeeper and against zkref and compares the two.
// Usage: java -cp ... CuratorProbe host:port

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.api.transaction.CuratorTransactionResult;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.recipes.shared.SharedCount;
import org.apache.curator.retry.RetryOneTime;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.data.Stat;

public class CuratorProbe {
    static final long WAIT_S = 10;

    static void say(String line) {
        System.out.println(line);
    }

    static String text(byte[] data) {
        return data == null ? "null" : new String(data, StandardCharsets.UTF_8);
    }

    static CuratorFramework client(String connect) throws Exception {
        CuratorFramework c = CuratorFrameworkFactory.newClient(connect, 10000, 5000, new RetryOneTime(200));
        c.start();
        if (!c.blockUntilConnected((int) WAIT_S, TimeUnit.SECONDS)) {
            throw new IllegalStateException("not connected to " + connect);
        }
        return c;
    }

    public static void main(String[] args) throws Exception {
        String connect = args[0];
        try (CuratorFramework a = client(connect); CuratorFramework b = client(connect)) {
            // Paths, parents, data, versions.
            a.create().creatingParentsIfNeeded().forPath("/curator/a/b", "x".getBytes());
            say("created parents: " + a.getChildren().forPath("/curator") + " " + text(a.getData().forPath("/curator/a/b")));
            Stat stat = a.setData().withVersion(0).forPath("/curator/a/b", "y".getBytes());
            say("setData version " + stat.getVersion() + " dataLength " + stat.getDataLength());
            try {
                a.setData().withVersion(0).forPath("/curator/a/b", "z".getBytes());
                say("stale setData succeeded");
            } catch (KeeperException.BadVersionException e) {
                say("stale setData: " + e.code());
            }
            try {
                a.create().forPath("/curator/a/b");
            } catch (KeeperException.NodeExistsException e) {
                say("create again: " + e.code());
            }
            String first = a.create().withMode(CreateMode.PERSISTENT_SEQUENTIAL).forPath("/curator/seq-");
            String second = a.create().withMode(CreateMode.EPHEMERAL_SEQUENTIAL).forPath("/curator/seq-");
            say("sequential: " + first + " " + second);
            say("exists missing: " + (a.checkExists().forPath("/curator/none") == null));

            // Transactions (multi): all or nothing, with their results.
            List<CuratorTransactionResult> results = new ArrayList<>(a.transaction().forOperations(
                a.transactionOp().create().forPath("/curator/t1", "t".getBytes()),
                a.transactionOp().setData().forPath("/curator/a/b", "w".getBytes()),
                a.transactionOp().check().withVersion(2).forPath("/curator/a/b")));
            for (CuratorTransactionResult r : results) {
                say("transaction: " + r.getType() + " " + r.getForPath() + " -> " + r.getResultPath()
                    + " error " + r.getError());
            }
            try {
                a.transaction().forOperations(
                    a.transactionOp().create().forPath("/curator/t2"),
                    a.transactionOp().delete().forPath("/curator/missing"));
                say("failed transaction succeeded");
            } catch (KeeperException.NoNodeException e) {
                say("failed transaction: " + e.code() + "; t2 exists: " + (a.checkExists().forPath("/curator/t2") != null));
            }

            // A watch set by one client fires for another client's change.
            BlockingQueue<String> watched = new LinkedBlockingQueue<>();
            b.getData().usingWatcher((org.apache.zookeeper.Watcher) e -> watched.add(e.getType() + " " + e.getPath()))
                .forPath("/curator/t1");
            a.setData().forPath("/curator/t1", "changed".getBytes());
            say("watch: " + watched.poll(WAIT_S, TimeUnit.SECONDS));

            // CuratorCache: the initial tree, then create, change and delete events.
            BlockingQueue<String> cacheEvents = new LinkedBlockingQueue<>();
            try (CuratorCache cache = CuratorCache.build(b, "/curator/cache")) {
                a.create().forPath("/curator/cache", "root".getBytes());
                cache.listenable().addListener(CuratorCacheListener.builder()
                    .forCreates(n -> cacheEvents.add("cache create " + n.getPath() + " " + text(n.getData())))
                    .forChanges((o, n) -> cacheEvents.add("cache change " + n.getPath() + " " + text(n.getData())))
                    .forDeletes(o -> cacheEvents.add("cache delete " + o.getPath()))
                    .forInitialized(() -> cacheEvents.add("cache initialized"))
                    .build());
                cache.start();
                say(cacheEvents.poll(WAIT_S, TimeUnit.SECONDS));
                say(cacheEvents.poll(WAIT_S, TimeUnit.SECONDS));
                a.create().forPath("/curator/cache/c1", "one".getBytes());
                say(cacheEvents.poll(WAIT_S, TimeUnit.SECONDS));
                a.setData().forPath("/curator/cache/c1", "uno".getBytes());
                say(cacheEvents.poll(WAIT_S, TimeUnit.SECONDS));
                a.delete().forPath("/curator/cache/c1");
                say(cacheEvents.poll(WAIT_S, TimeUnit.SECONDS));
            }

            // A mutex held by one client blocks the other until released.
            InterProcessMutex lockA = new InterProcessMutex(a, "/curator/lock");
            InterProcessMutex lockB = new InterProcessMutex(b, "/curator/lock");
            say("lock a: " + lockA.acquire(WAIT_S, TimeUnit.SECONDS));
            say("lock b while a holds it: " + lockB.acquire(300, TimeUnit.MILLISECONDS));
            lockA.release();
            say("lock b after release: " + lockB.acquire(WAIT_S, TimeUnit.SECONDS));
            lockB.release();

            // Leader election: exactly one leader; when it leaves, the other leads.
            try (LeaderLatch latchB = new LeaderLatch(b, "/curator/leader", "b")) {
                LeaderLatch latchA = new LeaderLatch(a, "/curator/leader", "a");
                latchA.start();
                say("a leads: " + latchA.await(WAIT_S, TimeUnit.SECONDS));
                latchB.start();
                say("b waits: " + !latchB.await(300, TimeUnit.MILLISECONDS));
                latchA.close();
                say("b leads after a leaves: " + latchB.await(WAIT_S, TimeUnit.SECONDS));
            }

            // A shared counter with compare-and-set on the znode version.
            try (SharedCount count = new SharedCount(a, "/curator/count", 0)) {
                count.start();
                say("count set: " + count.trySetCount(count.getVersionedValue(), 5) + " -> " + count.getCount());
            }

            // Containers and TTL nodes (the server needs extended types for TTL).
            a.create().creatingParentContainersIfNeeded().forPath("/curator/containers/inner/leaf");
            Stat container = a.checkExists().forPath("/curator/containers");
            say("container parent ephemeralOwner " + container.getEphemeralOwner() + " children " + container.getNumChildren());
            a.create().withTtl(60000).withMode(CreateMode.PERSISTENT_WITH_TTL).forPath("/curator/ttl", "t".getBytes());
            say("ttl node ephemeralOwner " + Long.toHexString(a.checkExists().forPath("/curator/ttl").getEphemeralOwner()));

            // Cleanup: recursive delete, then the tree is gone.
            a.delete().deletingChildrenIfNeeded().forPath("/curator");
            say("deleted: " + (a.checkExists().forPath("/curator") == null));
            List<String> top = new ArrayList<>(a.getChildren().forPath("/"));
            Collections.sort(top);
            say("top level: " + top);
        }
    }
}
