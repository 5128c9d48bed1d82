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
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;

/**
 * Receiver is an example Atelier callback endpoint (CONTRACT §5) on the JDK's
 * built-in HTTP server. It checks the bearer token (when one is configured), the
 * signature and the timestamp skew, drops duplicate nonces, answers CHECK_URL by
 * echoing the decrypted random string, and prints each event's type and JSON.
 * It is safe for concurrent use.
 *
 * <p>Usage: {@code java -cp out Receiver <port> <signing-key> [<encryption-key>]};
 * set ATELIER_SECURITY_TOKEN to require that bearer token.
 */
public final class Receiver {
  /** MAX_SKEW_MS is how far a timestamp may be from the local clock. */
  static final long MAX_SKEW_MS = 5 * 60 * 1000L;
  private static final int MAX_BODY = 1 << 20;

  private final String signingKey;
  private final String encryptionKey;
  private final String token;
  private final LongSupplier nowMillis;
  private final PrintStream out;
  private final Map<String, Long> seen = new ConcurrentHashMap<>();

  /**
   * Receiver builds a handler; encryptionKey and token may be null (off).
   * nowMillis is the clock, out receives one line per event.
   */
  Receiver(String signingKey, String encryptionKey, String token, LongSupplier nowMillis,
      PrintStream out) {
    this.signingKey = signingKey;
    this.encryptionKey = encryptionKey;
    this.token = token;
    this.nowMillis = nowMillis;
    this.out = out;
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
      System.err.println("usage: java -cp out Receiver <port> <signing-key> [<encryption-key>]");
      System.exit(2);
    }
    String enc = args.length == 3 ? args[2] : null;
    if (enc != null) {
      CallbackKit.encrypt(enc, "probe"); // Refuse a bad key at start-up, not per request.
    }
    String token = System.getenv("ATELIER_SECURITY_TOKEN");
    Receiver r = new Receiver(args[1], enc, token == null || token.isEmpty() ? null : token,
        System::currentTimeMillis, System.out);
    HttpServer s = r.start(Integer.parseInt(args[0]));
    System.err.println("listening on :" + s.getAddress().getPort());
  }

  private void handle(HttpExchange ex) throws IOException {
    try {
      if (!"POST".equals(ex.getRequestMethod())) {
        send(ex, 405, "method not allowed");
        return;
      }
      if (token != null) {
        String auth = ex.getRequestHeaders().getFirst("Authorization");
        byte[] want = ("Bearer " + token).getBytes(StandardCharsets.UTF_8);
        if (auth == null || !MessageDigest.isEqual(want, auth.getBytes(StandardCharsets.UTF_8))) {
          send(ex, 401, "bad token");
          return;
        }
      }
      Map<?, ?> body;
      try {
        Object v = Json.parse(readBody(ex.getRequestBody()));
        if (!(v instanceof Map)) {
          throw new IllegalArgumentException("body is not an object");
        }
        body = (Map<?, ?>) v;
      } catch (IllegalArgumentException | IOException e) {
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
      if (!CallbackKit.verify(signingKey, nonce, ts, type, data, sig)) {
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
      String plain;
      try {
        plain = encryptionKey == null ? data : CallbackKit.decrypt(encryptionKey, data);
      } catch (GeneralSecurityException e) {
        send(ex, 400, "cannot decrypt data");
        return;
      }
      if ("CHECK_URL".equals(type)) {
        String echo = encryptionKey == null ? plain : CallbackKit.encrypt(encryptionKey, plain);
        send(ex, 200, CallbackKit.reply(echo));
        return;
      }
      seen.values().removeIf(at -> now - at > 2 * MAX_SKEW_MS);
      if (seen.putIfAbsent(nonce, now) != null) {
        send(ex, 200, CallbackKit.reply(null)); // Duplicate delivery: acknowledge, do nothing.
        return;
      }
      out.println(type + " " + plain);
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
    ex.sendResponseHeaders(status, b.length);
    try (OutputStream o = ex.getResponseBody()) {
      o.write(b);
    }
  }
}
