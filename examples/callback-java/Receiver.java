import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;

/**
 * Receiver is an example Atelier callback endpoint (CONTRACT §5) on the JDK's
 * built-in HTTP server. It checks the bearer token (when tokens are configured),
 * the signature and the timestamp skew, drops duplicate nonces, answers CHECK_URL
 * by echoing the decrypted random string, and prints one line per accepted event:
 * {@code EVENT <nonce> <eventType> <json>}. It is safe for concurrent use.
 *
 * <p>Each of the signing keys, encryption keys and security tokens is a list, so
 * that the receiver accepts both the old and the new ones while Atelier rotates
 * them: any listed signing key may have signed, data is decrypted with the first
 * listed encryption key that authenticates it (and CHECK_URL is echoed under that
 * key), and any listed token is accepted.
 *
 * <p>Usage: {@code java -cp out Receiver <port> <signing-keys> [<encryption-keys>]},
 * each list comma-separated; set ATELIER_SECURITY_TOKEN (comma-separated too) to
 * require one of those bearer tokens. Port 0 picks a free port. The first line on
 * stdout is {@code LISTENING <port>}.
 */
public final class Receiver {
  /** MAX_SKEW_MS is how far a timestamp may be from the local clock. */
  static final long MAX_SKEW_MS = 5 * 60 * 1000L;
  private static final int MAX_BODY = 1 << 20;
  private static final String USAGE =
      "usage: [ATELIER_SECURITY_TOKEN=<token>[,<token>...]] java -cp out Receiver <port>"
          + " <signing-key>[,<signing-key>...] [<encryption-key>[,<encryption-key>...]]";

  private final List<String> signingKeys;
  private final List<String> encryptionKeys;
  private final List<byte[]> tokens;
  private final LongSupplier nowMillis;
  private final PrintStream out;
  private final Map<String, Long> seen = new ConcurrentHashMap<>();

  /**
   * Receiver builds a handler. signingKeys must hold at least one key;
   * encryptionKeys empty means plain data, tokens empty means no token check.
   * Empty strings in the lists are ignored. nowMillis is the clock, out receives
   * one line per event.
   */
  Receiver(List<String> signingKeys, List<String> encryptionKeys, List<String> tokens,
      LongSupplier nowMillis, PrintStream out) {
    this.signingKeys = nonEmpty(signingKeys);
    this.encryptionKeys = nonEmpty(encryptionKeys);
    List<byte[]> t = new ArrayList<>();
    for (String s : nonEmpty(tokens)) {
      t.add(s.getBytes(StandardCharsets.UTF_8));
    }
    this.tokens = Collections.unmodifiableList(t);
    this.nowMillis = nowMillis;
    this.out = out;
    if (this.signingKeys.isEmpty()) {
      throw new IllegalArgumentException("at least one signing key is required");
    }
    for (String k : this.encryptionKeys) {
      try {
        CallbackKit.encrypt(k, "probe"); // Refuse a bad key now, not per request.
      } catch (GeneralSecurityException e) {
        throw new IllegalArgumentException("bad encryption key: " + e.getMessage(), e);
      }
    }
  }

  /** Receiver builds a handler with one key each; encryptionKey and token may be null (off). */
  Receiver(String signingKey, String encryptionKey, String token, LongSupplier nowMillis,
      PrintStream out) {
    this(one(signingKey), one(encryptionKey), one(token), nowMillis, out);
  }

  private static List<String> one(String s) {
    return s == null ? List.of() : List.of(s);
  }

  /**
   * Split returns the comma-separated entries of csv, trimmed, without empty ones;
   * null gives an empty list.
   */
  static List<String> split(String csv) {
    List<String> l = new ArrayList<>();
    if (csv != null) {
      for (String s : csv.split(",", -1)) {
        if (!s.trim().isEmpty()) {
          l.add(s.trim());
        }
      }
    }
    return Collections.unmodifiableList(l);
  }

  private static List<String> nonEmpty(List<String> in) {
    List<String> l = new ArrayList<>();
    if (in != null) {
      for (String s : in) {
        if (s != null && !s.isEmpty()) {
          l.add(s);
        }
      }
    }
    return Collections.unmodifiableList(l);
  }

  /** Start binds the server to port on all interfaces (0 picks a free port) and starts it. */
  HttpServer start(int port) throws IOException {
    HttpServer server = HttpServer.create(new InetSocketAddress(port), 0);
    server.createContext("/", this::handle);
    server.start();
    return server;
  }

  public static void main(String[] args) throws Exception {
    if (args.length < 2 || args.length > 3) {
      System.err.println(USAGE);
      System.exit(2);
    }
    int port;
    try {
      port = Integer.parseInt(args[0]);
    } catch (NumberFormatException e) {
      port = -1;
    }
    if (port < 0 || port > 65535) {
      System.err.println("bad port " + args[0] + "\n" + USAGE);
      System.exit(2);
    }
    List<String> signing = split(args[1]);
    List<String> enc = split(args.length == 3 ? args[2] : null);
    if (signing.isEmpty()) {
      System.err.println("no signing key\n" + USAGE);
      System.exit(2);
    }
    List<String> tokens = split(System.getenv("ATELIER_SECURITY_TOKEN"));
    Receiver r = null;
    try {
      r = new Receiver(signing, enc, tokens, System::currentTimeMillis, System.out);
    } catch (IllegalArgumentException e) {
      System.err.println(e.getMessage());
      System.exit(2);
    }
    HttpServer s = r.start(port);
    System.out.println("LISTENING " + s.getAddress().getPort());
    System.out.flush();
  }

  /** Authorized reports whether auth is "Bearer <one of the tokens>", or no token is set. */
  private boolean authorized(String auth) {
    if (tokens.isEmpty()) {
      return true;
    }
    String scheme = "Bearer ";
    if (auth == null || !auth.regionMatches(true, 0, scheme, 0, scheme.length())) {
      return false;
    }
    byte[] got = auth.substring(scheme.length()).getBytes(StandardCharsets.UTF_8);
    boolean ok = false;
    for (byte[] t : tokens) {
      ok |= MessageDigest.isEqual(t, got); // Compare with every token, each in constant time.
    }
    return ok;
  }

  private boolean verified(String nonce, String ts, String type, String data, String sig) {
    boolean ok = false;
    for (String k : signingKeys) {
      ok |= CallbackKit.verify(k, nonce, ts, type, data, sig);
    }
    return ok;
  }

  private void handle(HttpExchange ex) throws IOException {
    try {
      if (!"POST".equals(ex.getRequestMethod())) {
        send(ex, 405, "method not allowed");
        return;
      }
      if (!authorized(ex.getRequestHeaders().getFirst("Authorization"))) {
        send(ex, 401, "bad token");
        return;
      }
      Map<?, ?> body;
      try {
        Object v = Json.parse(readBody(ex.getRequestBody()));
        if (!(v instanceof Map)) {
          throw new IllegalArgumentException("body is not an object");
        }
        body = (Map<?, ?>) v;
      } catch (RuntimeException | IOException e) {
        send(ex, 400, "bad body");
        return;
      }
      String nonce = str(body, "nonce");
      String ts = str(body, "timestamp");
      String type = str(body, "eventType");
      String data = str(body, "data");
      String sig = str(body, "signature");
      if (nonce == null || ts == null || type == null || data == null || sig == null) {
        send(ex, 400, "missing field");
        return;
      }
      if (!verified(nonce, ts, type, data, sig)) {
        send(ex, 401, "bad signature");
        return;
      }
      long now = nowMillis.getAsLong();
      long t;
      try {
        t = Long.parseLong(ts);
      } catch (NumberFormatException e) {
        send(ex, 400, "bad timestamp");
        return;
      }
      if (Math.abs(now - t) > MAX_SKEW_MS) {
        send(ex, 400, "timestamp out of range");
        return;
      }
      String plain = encryptionKeys.isEmpty() ? data : null;
      String key = null;
      for (String k : encryptionKeys) {
        try {
          plain = CallbackKit.decrypt(k, data);
          key = k;
          break;
        } catch (GeneralSecurityException e) {
          // Not this key: try the next one.
        }
      }
      if (plain == null) {
        send(ex, 400, "cannot decrypt data");
        return;
      }
      if ("CHECK_URL".equals(type)) {
        // Echo under the key that decrypted the challenge: Atelier checks it with that key.
        String echo = key == null ? plain : CallbackKit.encrypt(key, plain);
        send(ex, 200, CallbackKit.reply(echo));
        return;
      }
      try {
        Json.parse(plain);
      } catch (RuntimeException e) {
        send(ex, 400, "data is not JSON");
        return;
      }
      seen.values().removeIf(at -> now - at > 2 * MAX_SKEW_MS);
      if (seen.putIfAbsent(nonce, now) != null) {
        send(ex, 200, CallbackKit.reply(null)); // Duplicate delivery: acknowledge, do nothing.
        return;
      }
      // Valid JSON has no raw line breaks outside whitespace, so this keeps it one line.
      String line = "EVENT " + nonce + " " + type + " " + plain.replace('\r', ' ').replace('\n', ' ');
      synchronized (out) {
        out.println(line);
        out.flush();
      }
      send(ex, 200, CallbackKit.reply(null));
    } catch (GeneralSecurityException | RuntimeException e) {
      send(ex, 500, "internal error");
    } finally {
      ex.close();
    }
  }

  private static String str(Map<?, ?> m, String k) {
    Object v = m.get(k);
    return v instanceof String ? (String) v : null;
  }

  private static String readBody(InputStream in) throws IOException {
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    byte[] b = new byte[8192];
    int n;
    while ((n = in.read(b)) > 0) {
      if (buf.size() + n > MAX_BODY) {
        throw new IOException("body too large");
      }
      buf.write(b, 0, n);
    }
    return buf.toString(StandardCharsets.UTF_8);
  }

  private static void send(HttpExchange ex, int status, String body) throws IOException {
    byte[] b = body.getBytes(StandardCharsets.UTF_8);
    ex.getResponseHeaders().set("Content-Type",
        status == 200 ? "application/json" : "text/plain; charset=utf-8");
    if (status == 401) {
      ex.getResponseHeaders().set("WWW-Authenticate", "Bearer");
    }
    ex.sendResponseHeaders(status, b.length);
    try (OutputStream o = ex.getResponseBody()) {
      o.write(b);
    }
  }
}
