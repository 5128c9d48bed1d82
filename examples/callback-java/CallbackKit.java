import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Base64;
import javax.crypto.Cipher;
import javax.crypto.Mac;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * CallbackKit implements the receiver side of Atelier event callbacks
 * (CONTRACT §5) with javax.crypto only: signing and verifying the
 * HMAC-SHA256 signature, and AES-GCM decryption and encryption of data.
 * It holds no state and is safe for concurrent use.
 */
public final class CallbackKit {
  private static final int IV_LEN = 12;
  private static final int TAG_BITS = 128;
  private static final int PREFIX_LEN = 16;
  private static final String LETTERS =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  private static final SecureRandom RANDOM = new SecureRandom();

  private CallbackKit() {}

  /**
   * Sign returns Base64(HMAC-SHA256(UTF-8 signingKey, nonce&timestamp&eventType&data)),
   * with data exactly as sent (the ciphertext when encryption is on).
   */
  public static String sign(String signingKey, String nonce, String timestamp, String eventType,
      String data) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(signingKey.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
      String message = nonce + "&" + timestamp + "&" + eventType + "&" + data;
      return Base64.getEncoder().encodeToString(mac.doFinal(message.getBytes(StandardCharsets.UTF_8)));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("HmacSHA256 unavailable", e);
    }
  }

  /** Verify reports whether signature matches, comparing in constant time. */
  public static boolean verify(String signingKey, String nonce, String timestamp, String eventType,
      String data, String signature) {
    if (signature == null) {
      return false;
    }
    byte[] want = sign(signingKey, nonce, timestamp, eventType, data).getBytes(StandardCharsets.UTF_8);
    return MessageDigest.isEqual(want, signature.getBytes(StandardCharsets.UTF_8));
  }

  /**
   * Decrypt decodes Base64(IV ‖ ciphertext ‖ tag), decrypts it with AES-GCM and
   * returns the part of the plaintext after the FIRST '&' (the random prefix is
   * dropped). It throws GeneralSecurityException when the key is not 16, 24 or
   * 32 characters, the data is malformed, or authentication fails.
   */
  public static String decrypt(String encryptionKey, String data) throws GeneralSecurityException {
    SecretKeySpec key = aesKey(encryptionKey);
    byte[] raw;
    try {
      raw = Base64.getDecoder().decode(data);
    } catch (IllegalArgumentException e) {
      throw new GeneralSecurityException("data is not valid Base64", e);
    }
    if (raw.length < IV_LEN + TAG_BITS / 8) {
      throw new GeneralSecurityException("data is too short");
    }
    Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
    cipher.init(Cipher.DECRYPT_MODE, key, new GCMParameterSpec(TAG_BITS, raw, 0, IV_LEN));
    String plain = new String(cipher.doFinal(raw, IV_LEN, raw.length - IV_LEN), StandardCharsets.UTF_8);
    int amp = plain.indexOf('&');
    if (amp < 0) {
      throw new GeneralSecurityException("plaintext has no '&' after the random prefix");
    }
    return plain.substring(amp + 1);
  }

  /**
   * Encrypt returns Base64(IV ‖ ciphertext ‖ tag) of "<16 random letters>&" + plaintext
   * under a fresh random 12-byte IV.
   */
  public static String encrypt(String encryptionKey, String plaintext) throws GeneralSecurityException {
    SecretKeySpec key = aesKey(encryptionKey);
    byte[] iv = new byte[IV_LEN];
    RANDOM.nextBytes(iv);
    String msg = randomLetters(PREFIX_LEN) + "&" + plaintext;
    Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
    cipher.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(TAG_BITS, iv));
    byte[] ct = cipher.doFinal(msg.getBytes(StandardCharsets.UTF_8));
    byte[] out = new byte[IV_LEN + ct.length];
    System.arraycopy(iv, 0, out, 0, IV_LEN);
    System.arraycopy(ct, 0, out, IV_LEN, ct.length);
    return Base64.getEncoder().encodeToString(out);
  }

  /**
   * Reply returns the success body {"code":"200","message":"success","data":…};
   * data is sent as a JSON string, or null when data is null.
   */
  public static String reply(String data) {
    return "{\"code\":\"200\",\"message\":\"success\",\"data\":"
        + (data == null ? "null" : Json.quote(data)) + "}";
  }

  /** RandomLetters returns n random ASCII letters. */
  static String randomLetters(int n) {
    StringBuilder b = new StringBuilder(n);
    for (int k = 0; k < n; k++) {
      b.append(LETTERS.charAt(RANDOM.nextInt(LETTERS.length())));
    }
    return b.toString();
  }

  private static SecretKeySpec aesKey(String encryptionKey) throws GeneralSecurityException {
    if (encryptionKey == null) {
      throw new GeneralSecurityException("encryption key is missing");
    }
    byte[] k = encryptionKey.getBytes(StandardCharsets.UTF_8);
    int n = encryptionKey.length();
    if ((n != 16 && n != 24 && n != 32) || k.length != n) {
      throw new GeneralSecurityException(
          "encryption key must be 16, 24 or 32 ASCII characters, got " + n);
    }
    return new SecretKeySpec(k, "AES");
  }
}
