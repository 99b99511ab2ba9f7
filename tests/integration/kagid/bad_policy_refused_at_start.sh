#!/bin/bash
# A policy whose My Number zone asks for one factor category (R-MFA-2) is
# refused at start with FILE:LINE, kagid exits non-zero and leaves nothing
# behind (no socket, no pid file, nothing listening).
set -euo pipefail
. "${KAGI_SRC:?}/tests/lib/kagid.sh"
kagid_tmpdir
D=$KAGID_TMP/d
kagid_write_conf "$D"
kagid_init "$D"
line=$(awk '/^\[zone\.mynumber\]/{z=1; next} /^\[/{z=0} z && /^min_categories *=/{print NR; exit}' "$D/policy.ini")
[ -n "$line" ] || fail "default policy has no min_categories in [zone.mynumber]"
sed -i "${line}s/=.*/= 1/" "$D/policy.ini"
rc=0
timeout 10 "$KAGID" --foreground --config "$D/kagi.conf" >"$KAGID_TMP/out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "kagid started with a My Number zone of one category"
[ "$rc" -ne 124 ] || fail "kagid kept running"
grep -q "policy.ini:$line:" "$KAGID_TMP/out" || fail "message lacks policy.ini:$line: -> $(cat "$KAGID_TMP/out")"
[ ! -e "$D/run/kagid.sock" ] || fail "socket created although start-up was refused"
[ ! -e "$D/run/kagid.pid" ] || fail "pid file created although start-up was refused"
rc=0; curl -s --max-time 2 "http://127.0.0.1:$KAGID_HTTP_PORT/v1/health" >/dev/null || rc=$?
[ "$rc" = 7 ] || fail "something listens on the HTTP port (curl $rc)"
echo "PASS bad_policy_refused_at_start"
