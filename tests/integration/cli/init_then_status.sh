#!/bin/bash
# kagi init creates a deployment; kagid starts on it; kagi status answers over
# the local Unix socket and, with a config without [client] socket, over
# HTTPS with the admin client certificate (mTLS).
. "$(dirname "$0")/lib.sh"

init_deployment "$T/dep"
for f in kagi.conf policy.ini data hsm/softhsm2.conf hsm/tokens hsm/pin \
	hsm/pin.so tls/ca.crt tls/kagid.crt tls/kagid.key tls/admin.crt \
	tls/admin.key run; do
	[ -e "$DEP/$f" ] || fail "kagi init did not create $f"
done
[ "$(stat -c %a "$DEP/kagi.conf")" = 640 ] || fail "kagi.conf mode is not 0640"
grep -qx "listen = 127.0.0.1:$PORT" "$CONF" || fail "kagi.conf lacks listen port $PORT"
grep -qx "http_listen = 127.0.0.1:$HPORT" "$CONF" || fail "kagi.conf lacks http_listen $HPORT"
grep -q "kagid --config $DEP/kagi.conf --foreground" "$T/init.out" ||
	fail "kagi init did not print how to start kagid"
start_kagid

# Over the Unix socket.
expect_rc 0 "$KAGI" --config "$CONF" status
grep -q "kagid at unix:$DEP/run/kagid.sock is answering" "$T/out" ||
	fail "status does not name the socket endpoint: $(cat "$T/out")"
grep -q "version: " "$T/out" || fail "status shows no version"
grep -q "audit records: " "$T/out" || fail "status shows no audit records"
grep -q "zones: .*mynumber" "$T/out" || fail "status shows no zones"

# The same through $KAGI_CONFIG.
KAGI_CONFIG=$CONF expect_rc 0 "$KAGI" status
grep -q "is answering" "$T/out" || fail "KAGI_CONFIG was not used"

# Over mTLS: the same deployment without [client] socket.
sed '/^\[client\]/,$ { /^socket = /d }' "$CONF" >"$DEP/mtls.conf"
chmod 640 "$DEP/mtls.conf"
grep -q '^socket = run/kagid.sock' "$DEP/mtls.conf" || fail "mtls.conf lost [kagid] socket"
[ "$(grep -c '^socket = ' "$DEP/mtls.conf")" = 1 ] || fail "mtls.conf still has [client] socket"
expect_rc 0 "$KAGI" --config "$DEP/mtls.conf" status
grep -q "kagid at https://127.0.0.1:$PORT is answering" "$T/out" ||
	fail "status over mTLS does not name the https endpoint: $(cat "$T/out")"
expect_rc 0 "$KAGI" --config "$DEP/mtls.conf" --json status
json_ok "$T/out"
[ "$(jq -r .endpoint "$T/out")" = "https://127.0.0.1:$PORT" ] || fail "json endpoint"
[ "$(jq -r .health.status "$T/out")" = ok ] || fail "json health.status is not ok"

stop_kagid
echo "ok: init_then_status"
