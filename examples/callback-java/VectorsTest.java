import com.sun.net.httpserver.HttpServer;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.util.Base64;
import java.util.List;
import java.util.Map;

/**
 * VectorsTest checks CallbackKit against the Go SDK's shared test vectors
 * (sdk/go/atelier/callback/testdata/vectors.json) and exercises Receiver over
 * HTTP. It exits non-zero on any failure.
 *
 * <p>Run: {@code javac -d out *.java && java -cp out VectorsTest [vectors.json]}.
 */
public final class VectorsTest {
  private static int failures;
  private static int checks;

  public static void main(String[] args) throws Exception {
    Path path = Path.of(args.length > 0 ? args[0]
        : "../../sdk/go/atelier/callback/testdata/vectors.json");
    Map<?, ?> root = (Map<?, ?>) Json.parse(Files.readString(path, StandardCharsets.UTF_8));
    List<?> enc = (List<?>) root.get("encryption");
    List<?> sig = (List<?>) root.get("signature");
    check(enc != null && !enc.isEmpty(), "vectors have encryption cases");
    check(sig != null && !sig.isEmpty(), "vectors have signature cases");

    for (Object o : enc) {
      Map<?, ?> v = (Map<?, ?>) o;
      String key = (String) v.get("key");
      String data = (String) v.get("data");
      String plain = (String) v.get("plaintext");
      String name = "encryption key=" + key.length() + " plaintext=" + Json.quote(plain);
      String got = CallbackKit.decrypt(key, data);
      check(plain.equals(got), name + ": decrypt matches");
      byte[] raw = Base64.getDecoder().decode(data);
      check(hex(raw, 12).equals(v.get("iv_hex")), name + ": IV is the first 12 bytes");
      raw[raw.length / 2] ^= 1;
      refused(() -> CallbackKit.decrypt(key, Base64.getEncoder().encodeToString(raw)),
          name + ": tampered data refused");
      String wrong = key.substring(0, key.length() - 1) + (key.endsWith("x") ? "y" : "x");
      refused(() -> CallbackKit.decrypt(wrong, data), name + ": wrong key refused");
      check(plain.equals(CallbackKit.decrypt(key, CallbackKit.encrypt(key, plain))),
          name + ": encrypt round-trips");
    }
    refused(() -> CallbackKit.decrypt("short", "AAAA"), "5-character key refused");
    refused(() -> CallbackKit.encrypt("0123456789abcdef0", "x"), "17-character key refused");
    refused(() -> CallbackKit.decrypt("0123456789abcdef", "!!notbase64!!"), "bad Base64 refused");

    for (Object o : sig) {
      Map<?, ?> v = (Map<?, ?>) o;
      String k = (String) v.get("signing_key");
      String n = (String) v.get("nonce");
      String t = (String) v.get("timestamp");
      String e = (String) v.get("eventType");
      String d = (String) v.get("data");
      String s = (String) v.get("signature");
      String name = "signature " + e + " nonce=" + n;
      check(s.equals(CallbackKit.sign(k, n, t, e, d)), name + ": sign matches");
      check(CallbackKit.verify(k, n, t, e, d, s), name + ": verify accepts");
      check(!CallbackKit.verify(k, n, t, e, d + " ", s), name + ": tampered data rejected");
      check(!CallbackKit.verify(k + "x", n, t, e, d, s), name + ": wrong key rejected");
    }

    receiverChecks();

    System.out.printf("%d checks, %d failures%n", checks, failures);
    if (failures > 0) {
      System.out.println("FAIL");
      System.exit(1);
    }
    System.out.println("PASS");
  }

  private static void receiverChecks() throws Exception {
    long now = 1_700_000_000_000L;
    String signKey = "sign-key-0123";
    String encKey = "0123456789abcdef0123456789abcdef";
    ByteArrayOutputStream printed = new ByteArrayOutputStream();
    Receiver r = new Receiver(signKey, encKey, "tok", () -> now,
        new PrintStream(printed, true, StandardCharsets.UTF_8));
    HttpServer server = r.start(0);
    try {
      HttpClient c = HttpClient.newHttpClient();
      URI uri = URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/cb");
      String ts = Long.toString(now);

      String check = CallbackKit.encrypt(encKey, "random-check-string");
      HttpResponse<String> resp = post(c, uri, "tok",
          body(signKey, "n1", ts, "CHECK_URL", check));
      check(resp.statusCode() == 200, "receiver: CHECK_URL answers 200");
      Map<?, ?> reply = (Map<?, ?>) Json.parse(resp.body());
      check("200".equals(reply.get("code")) && "success".equals(reply.get("message")),
          "receiver: CHECK_URL reply has code 200 and message success");
      check("random-check-string".equals(CallbackKit.decrypt(encKey, (String) reply.get("data"))),
          "receiver: CHECK_URL echo decrypts to the random string");

      String ev = CallbackKit.encrypt(encKey, "{\"id\":\"u1\"}");
      String evBody = body(signKey, "n2", ts, "CREATE_USER", ev);
      check(post(c, uri, "tok", evBody).statusCode() == 200, "receiver: event answers 200");
      check(post(c, uri, "tok", evBody).statusCode() == 200, "receiver: duplicate answers 200");
      check(printed.toString(StandardCharsets.UTF_8).equals("CREATE_USER {\"id\":\"u1\"}"
          + System.lineSeparator()), "receiver: event printed once despite duplicate nonce");

      String stale = Long.toString(now - Receiver.MAX_SKEW_MS - 1);
      check(post(c, uri, "tok", body(signKey, "n3", stale, "CREATE_USER", ev)).statusCode() == 400,
          "receiver: stale timestamp refused");
      check(post(c, uri, "tok", body("other", "n4", ts, "CREATE_USER", ev)).statusCode() == 401,
          "receiver: bad signature refused");
      check(post(c, uri, "nope", body(signKey, "n5", ts, "CREATE_USER", ev)).statusCode() == 401,
          "receiver: bad token refused");
      check(post(c, uri, "tok", "{not json").statusCode() == 400, "receiver: bad body refused");
    } finally {
      server.stop(0);
    }
  }

  private static String body(String signKey, String nonce, String ts, String type, String data) {
    String s = CallbackKit.sign(signKey, nonce, ts, type, data);
    return "{\"nonce\":" + Json.quote(nonce) + ",\"timestamp\":" + Json.quote(ts)
        + ",\"eventType\":" + Json.quote(type) + ",\"data\":" + Json.quote(data)
        + ",\"signature\":" + Json.quote(s) + "}";
  }

  private static HttpResponse<String> post(HttpClient c, URI uri, String token, String body)
      throws Exception {
    HttpRequest req = HttpRequest.newBuilder(uri)
        .header("Authorization", "Bearer " + token)
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8))
        .build();
    return c.send(req, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
  }

  private interface Op {
    void run() throws Exception;
  }

  private static void refused(Op op, String name) {
    try {
      op.run();
      check(false, name);
    } catch (GeneralSecurityException e) {
      check(true, name);
    } catch (Exception e) {
      check(false, name + " (unexpected " + e + ")");
    }
  }

  private static void check(boolean ok, String name) {
    checks++;
    if (!ok) {
      failures++;
    }
    System.out.println((ok ? "ok   " : "FAIL ") + name);
  }

  private static String hex(byte[] b, int n) {
    StringBuilder s = new StringBuilder();
    for (int k = 0; k < n; k++) {
      s.append(String.format("%02x", b[k]));
    }
    return s.toString();
  }
}
