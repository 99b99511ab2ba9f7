#!/bin/bash
# kagid not running: exit 6 (unavailable) with a message naming the endpoint,
# for the https fallback, for a stale socket, and for a closed port.
. "$(dirname "$0")/lib.sh"

init_deployment "$T/dep"
# Never started: no socket, so kagi falls back to https on the closed port.
expect_rc 6 "$KAGI" --config "$CONF" status
grep -q "cannot reach kagid at https://127.0.0.1:$PORT" "$T/err" ||
	fail "message does not name the https endpoint: $(cat "$T/err")"
expect_rc 6 "$KAGI" --config "$CONF" audit verify
expect_rc 6 "$KAGI" --config "$CONF" audit export
# Started and killed hard: the socket file stays but nobody listens.
start_kagid
kill -KILL "$KAGID_PID"; wait "$KAGID_PID" 2>/dev/null || true; KAGID_PID=""
if [ -S "$DEP/run/kagid.sock" ]; then
	expect_rc 6 "$KAGI" --config "$CONF" status
	grep -q "cannot reach kagid at unix:$DEP/run/kagid.sock" "$T/err" ||
		fail "message does not name the socket: $(cat "$T/err")"
fi
# A config whose client talks only to the socket, which is absent.
sed '/^url = /d' "$CONF" >"$DEP/sock.conf"; chmod 640 "$DEP/sock.conf"
rm -f "$DEP/run/kagid.sock"
expect_rc 6 "$KAGI" --config "$DEP/sock.conf" --json status
json_ok "$T/out"
[ "$(jq -r .error "$T/out")" = unavailable ] || fail "json error is not unavailable"
[ "$(jq -r .endpoint "$T/out")" = "unix:$DEP/run/kagid.sock" ] || fail "json endpoint"
echo "ok: kagid_unreachable"
