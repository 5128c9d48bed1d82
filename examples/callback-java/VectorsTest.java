import com.sun.net.httpserver.HttpServer;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.InputStreamReader;
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
    rotationChecks();
    cliChecks();

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
      check(printed.toString(StandardCharsets.UTF_8).equals("EVENT n2 CREATE_USER {\"id\":\"u1\"}"
          + System.lineSeparator()), "receiver: event printed once despite duplicate nonce");

      String stale = Long.toString(now - Receiver.MAX_SKEW_MS - 1);
      check(post(c, uri, "tok", body(signKey, "n3", stale, "CREATE_USER", ev)).statusCode() == 400,
          "receiver: stale timestamp refused");
      check(post(c, uri, "tok", body("other", "n4", ts, "CREATE_USER", ev)).statusCode() == 401,
          "receiver: bad signature refused");
      check(post(c, uri, "nope", body(signKey, "n5", ts, "CREATE_USER", ev)).statusCode() == 401,
          "receiver: bad token refused");
      check(post(c, uri, "tok", "{not json").statusCode() == 400, "receiver: bad body refused");
      String notJson = CallbackKit.encrypt(encKey, "not json");
      check(post(c, uri, "tok", body(signKey, "n6", ts, "CREATE_USER", notJson)).statusCode() == 400,
          "receiver: data that is not JSON refused");
    } finally {
      server.stop(0);
    }
  }

  /** RotationChecks drives a Receiver configured with old and new keys and tokens. */
  private static void rotationChecks() throws Exception {
    long now = 1_700_000_000_000L;
    String oldSign = "sign-key-old";
    String newSign = "sign-key-new";
    String oldEnc = "old-enc-key-16by";
    String newEnc = "new-encryption-key-of-32-bytes!!";
    ByteArrayOutputStream printed = new ByteArrayOutputStream();
    Receiver r = new Receiver(Receiver.split(oldSign + "," + newSign),
        Receiver.split(oldEnc + ", " + newEnc), Receiver.split("tok-old,tok-new"), () -> now,
        new PrintStream(printed, true, StandardCharsets.UTF_8));
    HttpServer server = r.start(0);
    try {
      HttpClient c = HttpClient.newHttpClient();
      URI uri = URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/cb");
      String ts = Long.toString(now);
      String[][] combos = {
        {oldSign, oldEnc, "tok-old"}, {newSign, newEnc, "tok-new"},
        {oldSign, newEnc, "tok-new"}, {newSign, oldEnc, "tok-old"},
      };
      StringBuilder want = new StringBuilder();
      for (int k = 0; k < combos.length; k++) {
        String[] co = combos[k];
        String ev = CallbackKit.encrypt(co[1], "{\"n\":" + k + "}");
        check(post(c, uri, co[2], body(co[0], "r" + k, ts, "CREATE_USER", ev)).statusCode() == 200,
            "rotation: " + co[0] + " / " + co[1].length() + "-char key / " + co[2] + " accepted");
        want.append("EVENT r").append(k).append(" CREATE_USER {\"n\":").append(k).append('}')
            .append(System.lineSeparator());
      }
      String ev = CallbackKit.encrypt(newEnc, "{}");
      check(post(c, uri, "tok-old", body(oldSign, "r0", ts, "CREATE_USER", ev)).statusCode() == 200,
          "rotation: redelivered nonce acknowledged");
      check(printed.toString(StandardCharsets.UTF_8).equals(want.toString()),
          "rotation: each event printed once");
      check(post(c, uri, "tok-new", body("sign-key-other", "x1", ts, "CREATE_USER", ev))
          .statusCode() == 401, "rotation: unknown signing key refused");
      String other = CallbackKit.encrypt("other-enc-key-16", "{}");
      check(post(c, uri, "tok-new", body(newSign, "x2", ts, "CREATE_USER", other))
          .statusCode() == 400, "rotation: unknown encryption key refused");
      check(post(c, uri, "tok-other", body(newSign, "x3", ts, "CREATE_USER", ev)).statusCode() == 401,
          "rotation: unknown token refused");
      check(post(c, uri, null, body(newSign, "x4", ts, "CREATE_USER", ev)).statusCode() == 401,
          "rotation: missing token refused");
      String[] keys = {oldEnc, newEnc};
      for (int k = 0; k < 2; k++) {
        String chk = CallbackKit.encrypt(keys[k], "cHaLlEnGe");
        HttpResponse<String> resp = post(c, uri, "tok-old", body(oldSign, "c" + k, ts, "CHECK_URL", chk));
        String echo = (String) ((Map<?, ?>) Json.parse(resp.body())).get("data");
        check(resp.statusCode() == 200 && "cHaLlEnGe".equals(CallbackKit.decrypt(keys[k], echo)),
            "rotation: CHECK_URL under key " + k + " echoed under that key");
        String otherKey = keys[1 - k];
        refused(() -> CallbackKit.decrypt(otherKey, echo),
            "rotation: CHECK_URL echo under key " + k + " not under the other");
      }
    } finally {
      server.stop(0);
    }
  }

  /**
   * CliChecks runs Receiver's main as a child JVM, the way an end-to-end test
   * does: LISTENING first, then one EVENT line per accepted event.
   */
  private static void cliChecks() throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    ProcessBuilder pb = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
        "Receiver", "0", "sign-a,sign-b", "0123456789abcdef,0123456789abcdef01234567");
    pb.environment().put("ATELIER_SECURITY_TOKEN", "tok-a,tok-b");
    pb.redirectError(ProcessBuilder.Redirect.INHERIT);
    Process p = pb.start();
    try (BufferedReader lines = new BufferedReader(
        new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      String first = lines.readLine();
      check(first != null && first.matches("LISTENING [1-9][0-9]*"), "cli: prints LISTENING <port>");
      if (first == null || !first.startsWith("LISTENING ")) {
        return;
      }
      URI uri = URI.create("http://127.0.0.1:" + first.substring(10) + "/");
      HttpClient c = HttpClient.newHttpClient();
      String ts = Long.toString(System.currentTimeMillis());
      String chk = CallbackKit.encrypt("0123456789abcdef01234567", "echo-me");
      HttpResponse<String> resp = post(c, uri, "tok-b", body("sign-b", "c1", ts, "CHECK_URL", chk));
      String echo = (String) ((Map<?, ?>) Json.parse(resp.body())).get("data");
      check(resp.statusCode() == 200
          && "echo-me".equals(CallbackKit.decrypt("0123456789abcdef01234567", echo)),
          "cli: CHECK_URL answered under the second key");
      String ev = CallbackKit.encrypt("0123456789abcdef", "{\"id\": \"u1\",\n \"x\": 1}");
      check(post(c, uri, "tok-a", body("sign-a", "e1", ts, "UPDATE_USER", ev)).statusCode() == 200,
          "cli: event answers 200");
      check(post(c, uri, "tok-c", body("sign-a", "e2", ts, "UPDATE_USER", ev)).statusCode() == 401,
          "cli: unknown token refused");
      check("EVENT e1 UPDATE_USER {\"id\": \"u1\",  \"x\": 1}".equals(lines.readLine()),
          "cli: prints EVENT <nonce> <eventType> <json> on one line");
    } finally {
      p.destroy();
      p.waitFor();
    }
    Process bad = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
        "Receiver", "0", "sign-a", "short").redirectErrorStream(true).start();
    bad.getInputStream().readAllBytes();
    check(bad.waitFor() == 2, "cli: bad encryption key exits 2");
  }

  private static String body(String signKey, String nonce, String ts, String type, String data) {
    String s = CallbackKit.sign(signKey, nonce, ts, type, data);
    return "{\"nonce\":" + Json.quote(nonce) + ",\"timestamp\":" + Json.quote(ts)
        + ",\"eventType\":" + Json.quote(type) + ",\"data\":" + Json.quote(data)
        + ",\"signature\":" + Json.quote(s) + "}";
  }

  private static HttpResponse<String> post(HttpClient c, URI uri, String token, String body)
      throws Exception {
    HttpRequest.Builder req = HttpRequest.newBuilder(uri)
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8));
    if (token != null) {
      req.header("Authorization", "Bearer " + token);
    }
    return c.send(req.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
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
