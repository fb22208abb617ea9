/*
 * Prints, as JSON, the client-visible vocabulary of the Apache ZooKeeper jars on the classpath:
 * error codes, opcodes, reserved xids, permissions, event types, keeper states, watcher types,
 * create modes, add-watch modes, the well-known ACLs, which opcodes the server accepts and
 * which go through the quorum, and the layout of every jute record. Everything is read from
 * Apache's own classes (enum accessors, static fields, generated signature() methods), never
 * typed by hand. Run by tests/spec/apache/__init__.py; see that module for how.
 */

import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.List;
import java.util.TreeMap;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;

public class ApacheFacts {

    private static final StringBuilder out = new StringBuilder();

    private static String quote(String text) {
        if (text == null) {
            return "null";
        }
        StringBuilder quoted = new StringBuilder("\"");
        for (char c : text.toCharArray()) {
            if (c == '"' || c == '\\') {
                quoted.append('\\').append(c);
            } else if (c < 0x20) {
                quoted.append(String.format("\\u%04x", (int) c));
            } else {
                quoted.append(c);
            }
        }
        return quoted.append('"').toString();
    }

    private static boolean firstEntry = true;

    private static void entry(String key, String json) {
        out.append(firstEntry ? "\n  " : ",\n  ").append(quote(key)).append(": ").append(json);
        firstEntry = false;
    }

    /** An object of name → JSON value, in the given (declaration) order. */
    private static String object(List<String[]> pairs) {
        StringBuilder json = new StringBuilder("{");
        for (int i = 0; i < pairs.size(); i++) {
            json.append(i == 0 ? "" : ", ").append(quote(pairs.get(i)[0])).append(": ").append(pairs.get(i)[1]);
        }
        return json.append("}").toString();
    }

    /** Every constant of an enum, in declaration order, with the int its accessor returns. */
    private static String enumInts(String className, String accessor) throws Exception {
        Class<?> type = Class.forName(className);
        Method method = type.getDeclaredMethod(accessor);
        method.setAccessible(true);
        List<String[]> pairs = new ArrayList<>();
        for (Object constant : type.getEnumConstants()) {
            pairs.add(new String[] {((Enum<?>) constant).name(), String.valueOf(method.invoke(constant))});
        }
        return object(pairs);
    }

    /** The static final int fields of a class (those named in ``only``, if given). */
    private static String staticInts(String className, String... only) throws Exception {
        Class<?> type = Class.forName(className);
        TreeMap<String, String> sorted = new TreeMap<>();
        for (Field field : type.getDeclaredFields()) {
            int modifiers = field.getModifiers();
            if (!Modifier.isStatic(modifiers) || !Modifier.isFinal(modifiers) || field.getType() != int.class) {
                continue;
            }
            if (only.length > 0 && !List.of(only).contains(field.getName())) {
                continue;
            }
            field.setAccessible(true);
            sorted.put(field.getName(), String.valueOf(field.getInt(null)));
        }
        List<String[]> pairs = new ArrayList<>();
        sorted.forEach((name, value) -> pairs.add(new String[] {name, value}));
        return object(pairs);
    }

    private static String id(Object id) throws Exception {
        Class<?> type = id.getClass();
        String scheme = (String) type.getMethod("getScheme").invoke(id);
        String value = (String) type.getMethod("getId").invoke(id);
        return "[" + quote(scheme) + ", " + quote(value) + "]";
    }

    private static String acl(List<?> entries) throws Exception {
        StringBuilder json = new StringBuilder("[");
        for (int i = 0; i < entries.size(); i++) {
            Object entry = entries.get(i);
            int perms = (Integer) entry.getClass().getMethod("getPerms").invoke(entry);
            json.append(i == 0 ? "" : ", ").append("[").append(perms).append(", ")
                .append(id(entry.getClass().getMethod("getId").invoke(entry))).append("]");
        }
        return json.append("]").toString();
    }

    private static String createModes() throws Exception {
        Class<?> type = Class.forName("org.apache.zookeeper.CreateMode");
        List<String[]> pairs = new ArrayList<>();
        for (Object mode : type.getEnumConstants()) {
            String flags = "{\"flag\": " + type.getMethod("toFlag").invoke(mode)
                + ", \"ephemeral\": " + type.getMethod("isEphemeral").invoke(mode)
                + ", \"sequential\": " + type.getMethod("isSequential").invoke(mode)
                + ", \"container\": " + type.getMethod("isContainer").invoke(mode)
                + ", \"ttl\": " + type.getMethod("isTTL").invoke(mode) + "}";
            pairs.add(new String[] {((Enum<?>) mode).name(), flags});
        }
        return object(pairs);
    }

    /** Per opcode (ZooDefs.OpCode), whether the server accepts it (Request.isValid) and
     *  whether it goes through the quorum as a transaction (Request.isQuorum). */
    private static String requestKinds() throws Exception {
        Class<?> request = Class.forName("org.apache.zookeeper.server.Request");
        Method isValid = request.getDeclaredMethod("isValid", int.class);
        isValid.setAccessible(true);
        Method isQuorum = request.getMethod("isQuorum");
        java.lang.reflect.Constructor<?> make = request.getConstructor(
            Class.forName("org.apache.zookeeper.server.ServerCnxn"), long.class, int.class, int.class,
            java.nio.ByteBuffer.class, List.class);
        TreeMap<String, String> sorted = new TreeMap<>();
        for (Field field : Class.forName("org.apache.zookeeper.ZooDefs$OpCode").getFields()) {
            int opcode = field.getInt(null);
            Object instance = make.newInstance(null, 1L, 1, opcode, null, null);
            sorted.put(field.getName(), "{\"valid\": " + isValid.invoke(null, opcode)
                + ", \"quorum\": " + isQuorum.invoke(instance) + "}");
        }
        List<String[]> pairs = new ArrayList<>();
        sorted.forEach((name, value) -> pairs.add(new String[] {name, value}));
        return object(pairs);
    }

    /** Every generated jute record of the jar that holds Stat: its signature() (jute's
     *  own type string, e.g. "LStat(lllliiiliil)") and its field names in declaration order. */
    private static String records() throws Exception {
        Class<?> stat = Class.forName("org.apache.zookeeper.data.Stat");
        String jar = stat.getProtectionDomain().getCodeSource().getLocation().getPath();
        Class<?> recordType = Class.forName("org.apache.jute.Record");
        TreeMap<String, String> sorted = new TreeMap<>();
        try (JarFile file = new JarFile(jar)) {
            Enumeration<JarEntry> entries = file.entries();
            while (entries.hasMoreElements()) {
                String name = entries.nextElement().getName();
                if (!name.startsWith("org/apache/zookeeper/") || !name.endsWith(".class") || name.contains("$")) {
                    continue;
                }
                Class<?> type = Class.forName(name.replace('/', '.').replaceAll("\\.class$", ""));
                if (!recordType.isAssignableFrom(type) || type.isInterface()) {
                    continue;
                }
                Method signature;
                try {
                    signature = type.getMethod("signature");
                } catch (NoSuchMethodException notGenerated) {
                    continue;
                }
                StringBuilder fields = new StringBuilder("[");
                boolean first = true;
                for (Field field : type.getDeclaredFields()) {
                    if (Modifier.isStatic(field.getModifiers())) {
                        continue;
                    }
                    fields.append(first ? "" : ", ").append(quote(field.getName()));
                    first = false;
                }
                fields.append("]");
                sorted.put(type.getName(), "{\"signature\": " + quote((String) signature.invoke(null))
                    + ", \"fields\": " + fields + "}");
            }
        }
        StringBuilder json = new StringBuilder("{");
        boolean first = true;
        for (var record : sorted.entrySet()) {
            json.append(first ? "\n    " : ",\n    ").append(quote(record.getKey())).append(": ").append(record.getValue());
            first = false;
        }
        return json.append("\n  }").toString();
    }

    public static void main(String[] args) throws Exception {
        out.append("{");
        entry("version", quote((String) Class.forName("org.apache.zookeeper.Version").getMethod("getVersion").invoke(null)));
        entry("KeeperException.Code", enumInts("org.apache.zookeeper.KeeperException$Code", "intValue"));
        entry("ZooDefs.OpCode", staticInts("org.apache.zookeeper.ZooDefs$OpCode"));
        entry("ClientCnxn xids", staticInts("org.apache.zookeeper.ClientCnxn",
            "NOTIFICATION_XID", "PING_XID", "AUTHPACKET_XID", "SET_WATCHES_XID"));
        entry("ZooDefs.Perms", staticInts("org.apache.zookeeper.ZooDefs$Perms"));
        entry("Watcher.Event.EventType", enumInts("org.apache.zookeeper.Watcher$Event$EventType", "getIntValue"));
        entry("Watcher.Event.KeeperState", enumInts("org.apache.zookeeper.Watcher$Event$KeeperState", "getIntValue"));
        entry("Watcher.WatcherType", enumInts("org.apache.zookeeper.Watcher$WatcherType", "getIntValue"));
        entry("AddWatchMode", enumInts("org.apache.zookeeper.AddWatchMode", "getMode"));
        entry("CreateMode", createModes());
        Class<?> ids = Class.forName("org.apache.zookeeper.ZooDefs$Ids");
        List<String[]> wellKnown = new ArrayList<>();
        for (String name : new String[] {"ANYONE_ID_UNSAFE", "AUTH_IDS"}) {
            wellKnown.add(new String[] {name, id(ids.getField(name).get(null))});
        }
        for (String name : new String[] {"OPEN_ACL_UNSAFE", "CREATOR_ALL_ACL", "READ_ACL_UNSAFE"}) {
            wellKnown.add(new String[] {name, acl((List<?>) ids.getField(name).get(null))});
        }
        entry("ZooDefs.Ids", object(wellKnown));
        entry("Request", requestKinds());
        entry("records", records());
        out.append("\n}\n");
        System.out.print(out);
    }
}
