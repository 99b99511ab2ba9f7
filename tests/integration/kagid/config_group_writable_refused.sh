#!/bin/bash
# R-TERM-6: a kagi.conf writable by group or others is refused at start with
# a message naming the file; nothing is started.
set -euo pipefail
. "${KAGI_SRC:?}/tests/lib/kagid.sh"
kagid_tmpdir
D=$KAGID_TMP/d
kagid_write_conf "$D"
kagid_init "$D"
for m in 0666 0664 0646; do
	chmod "$m" "$D/kagi.conf"
	rc=0
	timeout 10 "$KAGID" --foreground --config "$D/kagi.conf" >"$KAGID_TMP/out" 2>&1 || rc=$?
	[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "mode $m: kagid did not refuse (rc=$rc)"
	grep -q "$D/kagi.conf" "$KAGID_TMP/out" || fail "mode $m: message does not name the file: $(cat "$KAGID_TMP/out")"
	[ ! -e "$D/run/kagid.sock" ] || fail "mode $m: socket created"
done
# the same for --init
chmod 0666 "$D/kagi.conf"
rc=0; "$KAGID" --init --config "$D/kagi.conf" >/dev/null 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "--init accepted a world-writable kagi.conf"
# a group-writable policy is refused too
chmod 0644 "$D/kagi.conf"
chmod 0664 "$D/policy.ini"
rc=0; timeout 10 "$KAGID" --foreground --config "$D/kagi.conf" >"$KAGID_TMP/out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "group-writable policy.ini accepted"
grep -q "policy.ini" "$KAGID_TMP/out" || fail "policy refusal does not name the file"
# and with safe modes it starts
chmod 0640 "$D/policy.ini"
kagid_start "$D"
kagid_stop
echo "PASS config_group_writable_refused"
