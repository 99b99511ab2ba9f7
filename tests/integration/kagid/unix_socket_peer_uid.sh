#!/bin/bash
# The Unix socket identifies the peer with SO_PEERCRED: root sees uid 0.
# A user outside the socket's group cannot connect (mode 0660), and if the
# mode is widened by mistake (0666) kagid still refuses that user (403).
set -euo pipefail
. "${KAGI_SRC:?}/tests/lib/kagid.sh"
kagid_tmpdir
D=$KAGID_TMP/d
kagid_write_conf "$D"
kagid_init "$D"
kagid_start "$D"
[ "$(stat -c %a "$D/run/kagid.sock")" = 660 ] || fail "socket mode $(stat -c %a "$D/run/kagid.sock"), want 660"
kagid_curl_unix /v1/whoami -o "$KAGID_TMP/w.json" || fail "whoami over the socket failed"
[ "$(json_get "$KAGID_TMP/w.json" .transport)" = unix ] || fail "transport not unix"
[ "$(json_get "$KAGID_TMP/w.json" .uid)" = "$(id -u)" ] || fail "uid $(json_get "$KAGID_TMP/w.json" .uid) != $(id -u)"
[ "$(json_get "$KAGID_TMP/w.json" .user)" = "$(id -un)" ] || fail "user != $(id -un)"
grep -q "peer=uid:$(id -u)($(id -un))" "$D/kagid.log" || fail "request log lacks the peer uid"

if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1 && command -v setpriv >/dev/null; then
	chmod 0755 "$KAGID_TMP" "$D" "$D/run"   # let nobody reach the socket itself
	as_nobody() { setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups "$@"; }
	rc=0
	as_nobody curl -s --max-time 5 --unix-socket "$D/run/kagid.sock" http://kagid/v1/whoami \
		>"$KAGID_TMP/n.out" 2>&1 || rc=$?
	[ "$rc" = 7 ] || fail "nobody: want connect refused (curl 7), got $rc: $(cat "$KAGID_TMP/n.out")"
	kagid_stop
	# widen the socket mode by mistake: kagid's own check still refuses
	sed -i 's/^\[kagid\]$/[kagid]\nsocket_mode = 0666/' "$D/kagi.conf"
	kagid_start "$D"
	[ "$(stat -c %a "$D/run/kagid.sock")" = 666 ] || fail "socket_mode 0666 not applied"
	# (the root shell opens the output file; nobody cannot write in $KAGID_TMP)
	as_nobody curl -s --max-time 5 --unix-socket "$D/run/kagid.sock" \
		-w '\n%{http_code}' http://kagid/v1/whoami >"$KAGID_TMP/n.out" ||
		fail "nobody could not connect to a 0666 socket"
	code=$(tail -n 1 "$KAGID_TMP/n.out")
	head -n -1 "$KAGID_TMP/n.out" >"$KAGID_TMP/n.json"
	[ "$code" = 403 ] || fail "nobody got HTTP $code, want 403"
	[ "$(json_get "$KAGID_TMP/n.json" .error)" = denied ] || fail "error is not 'denied': $(cat "$KAGID_TMP/n.json")"
	grep -q 'event=peer_refused' "$D/kagid.log" || fail "refusal not logged"
	kagid_curl_unix /v1/health -f >/dev/null || fail "root refused after the nobody attempt"
else
	echo "SKIP part: unprivileged peer checks need root, setpriv and a nobody user" >&2
fi
kagid_stop
echo "PASS unix_socket_peer_uid"
