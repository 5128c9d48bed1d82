#!/usr/bin/env bash
# live.sh runs the Java receiver against a live Atelier server: it starts
# `atelier server` (ATELIER_CALLBACK_ALLOW_PRIVATE=1) and `java Receiver`
# on 127.0.0.1, subscribes an app with the CLI (signing key, encryption key
# and security token), creates a user and an organization, and waits until
# the receiver printed both events, decrypted and verified.
#
#   examples/callback-java/live.sh <atelier binary> <compiled classes dir>
set -euo pipefail
bin=$(realpath "${1:?usage: live.sh ATELIER_BINARY CLASSES_DIR}")
classes=$(realpath "${2:?usage: live.sh ATELIER_BINARY CLASSES_DIR}")

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "live.sh: $*" >&2
  for f in server.err receiver.out receiver.err; do
    [ -s "$work/$f" ] && { echo "--- $f" >&2; tail -n 20 "$work/$f" >&2; }
  done
  exit 1
}

# wait_for FILE REGEX: poll FILE for a line matching REGEX, 30 s at most.
wait_for() {
  for _ in $(seq 300); do
    if grep -Eq "$2" "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  fail "timed out waiting for /$2/ in $(basename "$1")"
}

admin=admin@live.example
password='Live test password 1!'
signing_key='java-live-signing-key-0001'
encryption_key='0123456789abcdef0123456789ABCDEF'
token='java-live-security-token-0001'

ATELIER_ADMIN_EMAIL=$admin ATELIER_ADMIN_PASSWORD=$password ATELIER_CALLBACK_ALLOW_PRIVATE=1 \
  "$bin" server --addr 127.0.0.1:0 --data-dir "$work/data" --log-level warn \
  >"$work/server.out" 2>"$work/server.err" &
pids+=($!)
wait_for "$work/server.out" 'listening on http://'
endpoint=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$work/server.out" | head -n 1)

ATELIER_SECURITY_TOKEN=$token java -cp "$classes" Receiver 0 "$signing_key" "$encryption_key" \
  >"$work/receiver.out" 2>"$work/receiver.err" &
pids+=($!)
wait_for "$work/receiver.out" '^LISTENING [0-9]+$'
port=$(sed -n 's/^LISTENING \([0-9]*\)$/\1/p' "$work/receiver.out")

export ATELIER_ENDPOINT=$endpoint XDG_CONFIG_HOME=$work/config
printf '%s\n' "$password" | "$bin" login --email "$admin" --password-stdin >/dev/null
client_id=$("$bin" app create java-receiver -o json | sed -n 's/.*"client_id": *"\([^"]*\)".*/\1/p' | head -n 1)
[ -n "$client_id" ] || fail "no client_id from app create"
printf '%s\n' "$signing_key" >"$work/signing.key"
printf '%s\n' "$encryption_key" >"$work/aes.key"
"$bin" app callback set "$client_id" --url "http://127.0.0.1:$port/" \
  --signing-key-file "$work/signing.key" --encryption-key-file "$work/aes.key" \
  --security-token "$token" --event-types CREATE_USER,CREATE_ORGANIZATION >/dev/null \
  || fail "callback set (CHECK_URL through the Java receiver) failed"

printf '%s\n' 'Java live user 1!' | "$bin" user create --email java-live@example.com --password-stdin >/dev/null
"$bin" org create java-live-org >/dev/null
wait_for "$work/receiver.out" '^EVENT [0-9a-f]{32} CREATE_USER .*"email":"java-live@example.com"'
wait_for "$work/receiver.out" '^EVENT [0-9a-f]{32} CREATE_ORGANIZATION .*"name":"java-live-org"'
for _ in $(seq 100); do
  delivered=$("$bin" app callback deliveries "$client_id" --state DELIVERED -o json | grep -o '"state": *"DELIVERED"' | wc -l)
  [ "$delivered" -ge 2 ] && break
  sleep 0.1
done
[ "$delivered" -ge 2 ] || fail "the deliveries are not listed DELIVERED ($delivered)"
echo "live.sh: the Java receiver verified and decrypted CREATE_USER and CREATE_ORGANIZATION from a live server: PASS"
