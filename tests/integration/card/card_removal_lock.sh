#!/bin/bash
# card_removal_lock (R-CARD-2, issue 6): kagi-cardd watches the readers with
# SCardGetStatusChange.  After a PAM login (auth, acct, open_session) with
# the virtual CAC through OpenSC, pulling the card runs [cardd]
# lock_command (here a script of this test that records its arguments and
# the time) with the session id, within 2 s of the removal (measured from
# the moment the card bridge is stopped), and kagid audits it
# (login.card_removed, outcome ok, the session and terminal in the
# detail).  A card put back re-arms the watch (a second removal locks
# again); a session already closed (close_session) is never locked
# (closed_session_not_locked).  POST /v1/login/event refuses
# unknown_session, bad values, unknown fields, an operator certificate
# (operator_not_terminal, audited) and another terminal (other_terminal).
# With kagid down a removal still locks at once and cardd logs that kagid
# was not told (kagid_unreachable).  The system pcscd is never used.
set -euo pipefail
. "$KAGI_SRC/tests/lib/pcscd.sh"
pcscd_enter_ns "$@"
. "$KAGI_SRC/tests/integration/card/lib.sh"
card_stack_setup alice
vcard_insert

# lock_command: records "session time user tty" per call
LOCKS=$LOGIN_TMP/locks.log
cat >"$LOGIN_TMP/lock.sh" <<'SH'
#!/bin/sh
printf '%s %s %s %s\n' "$1" "$(date +%s.%N)" "$3" "$4" >>"$2"
SH
chmod 0755 "$LOGIN_TMP/lock.sh"
cardd_write_conf "$C" "https://127.0.0.1:$KAGID_PORT"
sed -i -e "s|^pkcs11_module = .*|pkcs11_module = $OPENSC_PKCS11|" "$C/kagi.conf"
printf 'lock_command = %s %%s %s %%u %%t\n' "$LOGIN_TMP/lock.sh" "$LOCKS" >>"$C/kagi.conf"
cardd_start "$C"

# the session stays open (no close_session)
out=$(pam_run -a "$VCARD_PIN" -t pts/4 -s auth,acct,open kagi alice) || lfail "card login: $out"
grep -qx 'auth=PAM_SUCCESS' <<<"$out" || lfail "auth: $out"
grep -qx 'open=PAM_SUCCESS' <<<"$out" || lfail "open_session: $out"
wait_for_line "$C/cardd.log" "event=watch_session .*reader=\"$VPCD_READER\"" 5 ||
	lfail "cardd does not watch the login's reader ($VPCD_READER)"
SID=$(grep -oE "event=watch_session session=[0-9a-f]{32} user=alice reader=\"$VPCD_READER\"" \
	"$C/cardd.log" | tail -n 1 | sed -E 's/.*session=([0-9a-f]{32}).*/\1/')
[ -n "$SID" ] || lfail "no session id in cardd's log"
[ -s "$LOCKS" ] && lfail "the lock command ran before any removal: $(cat "$LOCKS")"

# removal_locks_within_2s
T0=$(date +%s.%N)
vcard_remove
wait_for_line "$LOCKS" "^$SID " 5 || lfail "the lock command did not run within 5 s of the removal"
read -r got_sid T1 got_user got_tty < <(grep "^$SID " "$LOCKS" | head -n 1)
[ "$got_user" = alice ] || lfail "lock command: user '$got_user', want alice"
[ "$got_tty" = pts/4 ] || lfail "lock command: tty '$got_tty', want pts/4"
MS=$(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%d", (b - a) * 1000 }')
echo "card_removal_lock: removal -> lock command: $MS ms"
[ "$MS" -le 2000 ] || lfail "the lock command ran $MS ms after the removal (limit 2000 ms)"
grep -q "event=card_removed session=$SID .*action=lock .*exit=0" "$C/cardd.log" ||
	lfail "cardd did not log the lock action and its exit status"

# kagid audited it (cardd reports after the action; allow a moment)
audited() { # SID: how many login.card_removed records for it
	kk audit export --format jsonl
	jq -s --arg s "$1" 'map(select(.action == "login.card_removed" and
		.object == "alice" and .outcome == "ok" and .detail.session_id == $s and
		.detail.terminal == "term-01" and .detail.action == "lock")) | length' "$KOUT"
}
n=0
for _ in $(seq 50); do n=$(audited "$SID"); [ "$n" -ge 1 ] && break; sleep 0.1; done
[ "$n" = 1 ] || lfail "kagid has $n login.card_removed records for $SID, want 1"
kk audit verify

# rearmed_after_insert: the card back, pulled again: locked again
vcard_insert
sleep 1.5
[ "$(grep -c "^$SID " "$LOCKS")" = 1 ] || lfail "inserting the card ran the lock command"
vcard_remove
for _ in $(seq 50); do [ "$(grep -c "^$SID " "$LOCKS")" -ge 2 ] && break; sleep 0.1; done
[ "$(grep -c "^$SID " "$LOCKS")" = 2 ] || lfail "a second removal did not lock the session again"

# closed_session_not_locked: a session closed before the removal
vcard_insert
out=$(pam_run -a "$VCARD_PIN" -s auth,acct,open,close kagi alice) || lfail "second login: $out"
grep -qx 'close=PAM_SUCCESS' <<<"$out" || lfail "close_session: $out"
SID2=$(grep -oE 'event=watch_session session=[0-9a-f]{32}' "$C/cardd.log" | tail -n 1 |
	sed -E 's/.*session=//')
[ -n "$SID2" ] && [ "$SID2" != "$SID" ] || lfail "no second session watched"
sleep 1.5 # the watcher forgets closed sessions within a second
vcard_remove
for _ in $(seq 30); do [ "$(grep -c "^$SID " "$LOCKS")" -ge 3 ] && break; sleep 0.1; done
[ "$(grep -c "^$SID " "$LOCKS")" = 3 ] || lfail "the open session was not locked at the third removal"
sleep 1
grep -q "^$SID2 " "$LOCKS" && lfail "a closed session ($SID2) was locked"

# POST /v1/login/event faults, as a terminal would send them (curl)
ev() { # CERT KEY BODY -> HTTP status; answer in $OUT/ev.json
	curl -s -o "$OUT/ev.json" -w '%{http_code}' --cacert "$C/ca.crt" \
		--cert "$1" --key "$2" -H 'Content-Type: application/json' \
		--data "$3" "https://127.0.0.1:$KAGID_PORT/v1/login/event"
}
T1C=$C/terminal.crt T1K=$C/terminal.key
body() { printf '{"session_id":"%s","event":"%s","action":"%s","result":"%s"}' "$@"; }
n0=$(audited "$SID")
# unknown_session
st=$(ev "$T1C" "$T1K" "$(body 0123456789abcdef0123456789abcdef card_removed lock ok)")
[ "$st" = 404 ] || lfail "unknown session: HTTP $st, want 404"
# bad_event / bad_action / bad_result / unknown_field / bad_session_id
st=$(ev "$T1C" "$T1K" "$(body "$SID" card_pulled lock ok)")
[ "$st" = 400 ] && jq -e '.field == "event"' "$OUT/ev.json" >/dev/null || lfail "bad event: HTTP $st $(cat "$OUT/ev.json")"
st=$(ev "$T1C" "$T1K" "$(body "$SID" card_removed reboot ok)")
[ "$st" = 400 ] || lfail "bad action: HTTP $st"
st=$(ev "$T1C" "$T1K" "$(body "$SID" card_removed lock maybe)")
[ "$st" = 400 ] || lfail "bad result: HTTP $st"
st=$(ev "$T1C" "$T1K" "{\"session_id\":\"$SID\",\"event\":\"card_removed\",\"action\":\"lock\",\"result\":\"ok\",\"x\":1}")
[ "$st" = 400 ] || lfail "unknown field: HTTP $st"
st=$(ev "$T1C" "$T1K" "$(body "${SID^^}" card_removed lock ok)")
[ "$st" = 400 ] || lfail "upper-case session id: HTTP $st"
# operator_not_terminal: the admin's certificate is refused and audited
st=$(ev "$D/tls/admin.crt" "$D/tls/admin.key" "$(body "$SID" card_removed lock ok)")
[ "$st" = 403 ] || lfail "operator certificate: HTTP $st, want 403"
# other_terminal: a registered terminal that did not open the session
kk terminal add term-02 --zone mynumber
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=term-02 \
	-keyout "$OUT/t2.key" -out "$OUT/t2.csr" >/dev/null 2>&1 || lfail "term-02 CSR"
kk ca issue --profile terminal --csr "$OUT/t2.csr" --for-device term-02 --out "$OUT/t2.crt"
st=$(ev "$OUT/t2.crt" "$OUT/t2.key" "$(body "$SID" card_removed lock ok)")
[ "$st" = 404 ] || lfail "another terminal reporting on term-01's session: HTTP $st, want 404"
[ "$(audited "$SID")" = "$n0" ] || lfail "a refused event was audited as login.card_removed"
kk audit export --format jsonl
jq -e -s 'map(select(.action == "login.terminal_refused" and
	.detail.path == "/v1/login/event")) | length >= 1' "$KOUT" >/dev/null ||
	lfail "the operator certificate's refusal was not audited"
# the owning terminal may report a failed action: audited with outcome failed
st=$(ev "$T1C" "$T1K" "$(body "$SID" card_removed lock failed)")
[ "$st" = 200 ] || lfail "failed action report: HTTP $st $(cat "$OUT/ev.json")"
kk audit export --format jsonl
jq -e -s --arg s "$SID" 'map(select(.action == "login.card_removed" and
	.outcome == "failed" and .detail.session_id == $s)) | length == 1' "$KOUT" >/dev/null ||
	lfail "a failed lock was not audited with outcome failed"
kk audit verify

# kagid_unreachable: the lock still runs at once; the report is logged
vcard_insert
kagid_stop
vcard_remove
for _ in $(seq 30); do [ "$(grep -c "^$SID " "$LOCKS")" -ge 4 ] && break; sleep 0.1; done
[ "$(grep -c "^$SID " "$LOCKS")" = 4 ] || lfail "with kagid down the removal did not lock"
wait_for_line "$C/cardd.log" "event=login_event_unreported session=$SID" 15 ||
	lfail "cardd did not log that kagid could not be told"
grep -q "$VCARD_PIN" "$C/cardd.log" && lfail "the PIN reached cardd's log"
cardd_stop
echo "card_removal_lock: ok"
