#!/bin/bash
# card_priv_window_end (R-LOGIN-3, R-PRIV-1, issue 6): a privileged account
# logs in with its card (virtual CAC through OpenSC) inside an approved
# 30-second window; kagid's finish answer carries the window's end as
# session_end.  When it is reached, kagi-cardd runs [cardd]
# priv_end_command (a script of this test recording its arguments and the
# time) for that session, within 2 s of the end and not before it, and
# kagid audits it (login.window_end, outcome ok) and closes the session
# (detail.closed = true) in the same transaction.  The lock command is not
# run (the card stays in).
set -euo pipefail
. "$KAGI_SRC/tests/lib/pcscd.sh"
pcscd_enter_ns "$@"
. "$KAGI_SRC/tests/integration/card/lib.sh"
login_setup mynumber
kk person add 2101 --name "Kanri Sha" --employment regular
kk --json user add adm1 --kind privileged --person 2101
login_user appr1 2102
kk operator grant appr1 --role approver
kk operator cert appr1 --key-out "$OUT/appr1.key" --cert-out "$OUT/appr1.crt"
awk -v c="$OUT/appr1.crt" -v k="$OUT/appr1.key" '
		/^\[client\]/ {inc=1}
		inc && /^socket = / {next}
		inc && /^cert = / {print "cert = " c; next}
		inc && /^key = / {print "key = " k; next}
		{print}' "$D/kagi.conf" >"$D/appr1.conf"
chmod 0644 "$D/appr1.conf"
V=$LOGIN_TMP/vcard
mkdir -p "$V"
vcard_make "$V" "$VCARD_PIN" adm1
pcscd_start "$V"
vcard_insert

ENDS=$LOGIN_TMP/ends.log
LOCKS=$LOGIN_TMP/locks.log
cat >"$LOGIN_TMP/record.sh" <<'SH'
#!/bin/sh
printf '%s %s %s\n' "$1" "$(date +%s.%N)" "$3" >>"$2"
SH
chmod 0755 "$LOGIN_TMP/record.sh"
cardd_write_conf "$C" "https://127.0.0.1:$KAGID_PORT"
sed -i -e "s|^pkcs11_module = .*|pkcs11_module = $OPENSC_PKCS11|" "$C/kagi.conf"
{
	printf 'lock_command = %s %%s %s %%u\n' "$LOGIN_TMP/record.sh" "$LOCKS"
	printf 'priv_end_command = "%s" %%s "%s" %%u\n' "$LOGIN_TMP/record.sh" "$ENDS"
} >>"$C/kagi.conf"
cardd_start "$C"

# an approved 30-second window, then the card login inside it
kk --json priv request adm1 --for 30s --reason "window end test"
ID=$(jq -er .id "$KOUT")
KAGI_CONFIG=$D/appr1.conf kk --json priv approve "$ID"
END=$(jq -er .end "$KOUT")
END_S=$(date -d "$END" +%s)
out=$(pam_run -a "$VCARD_PIN" -s auth,acct,open kagi adm1) || lfail "privileged card login: $out"
grep -qx 'auth=PAM_SUCCESS' <<<"$out" || lfail "auth: $out"
grep -q 'privileged session ends' <<<"$out" || lfail "the window end was not shown: $out"
wait_for_line "$C/cardd.log" "event=watch_session session=[0-9a-f]{32} user=adm1 .*end=$END_S" 5 ||
	lfail "cardd does not watch the session's end ($END_S)"
SID=$(grep -oE "event=watch_session session=[0-9a-f]{32} user=adm1" "$C/cardd.log" |
	tail -n 1 | sed -E 's/.*session=([0-9a-f]{32}).*/\1/')
[ "$(date +%s)" -lt "$END_S" ] || lfail "the login took longer than the window"
[ -s "$ENDS" ] && lfail "priv_end_command ran before the end: $(cat "$ENDS")"

# window_end_runs_end_command: within 2 s of the end, not before it
left=$((END_S - $(date +%s) + 5))
wait_for_line "$ENDS" "^$SID " "$left" || lfail "priv_end_command did not run by 5 s after the end ($END)"
read -r got_sid T1 got_user < <(grep "^$SID " "$ENDS" | head -n 1)
[ "$got_user" = adm1 ] || lfail "priv_end_command: user '$got_user', want adm1"
MS=$(awk -v a="$END_S" -v b="$T1" 'BEGIN { printf "%d", (b - a) * 1000 }')
echo "card_priv_window_end: window end -> end command: $MS ms"
[ "$MS" -ge 0 ] || lfail "priv_end_command ran $((-MS)) ms before the window's end"
[ "$MS" -le 2000 ] || lfail "priv_end_command ran $MS ms after the window's end (limit 2000 ms)"
grep -q "event=window_end session=$SID .*action=end .*exit=0" "$C/cardd.log" ||
	lfail "cardd did not log the end action and its exit status"

# kagid audited it and closed the session in the same transaction
n=0
for _ in $(seq 50); do
	kk audit export --format jsonl
	n=$(jq -s --arg s "$SID" 'map(select(.action == "login.window_end" and
		.object == "adm1" and .outcome == "ok" and .detail.session_id == $s and
		.detail.action == "end" and .detail.closed == true)) | length' "$KOUT")
	[ "$n" -ge 1 ] && break
	sleep 0.1
done
[ "$n" = 1 ] || lfail "kagid has $n login.window_end records for $SID, want 1"
kk audit verify
sleep 1
[ "$(grep -c "^$SID " "$ENDS")" = 1 ] || lfail "priv_end_command ran more than once"
[ -s "$LOCKS" ] && lfail "the lock command ran with the card still in: $(cat "$LOCKS")"
cardd_stop
echo "card_priv_window_end: ok"
