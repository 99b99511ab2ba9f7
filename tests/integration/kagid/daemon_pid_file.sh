#!/bin/bash
# Without --foreground kagid detaches: the command returns 0 once it is
# serving, the pid file names the daemon (a new session, not our child),
# SIGTERM removes the pid file and socket.  SIGHUP with a broken policy keeps
# the old policy and logs file:line.
set -euo pipefail
. "${KAGI_SRC:?}/tests/lib/kagid.sh"
kagid_tmpdir
D=$KAGID_TMP/d
kagid_write_conf "$D"
sed -i 's/^log = stderr$/log = stderr\nlog_level = info/' "$D/kagi.conf"
kagid_init "$D"
timeout 20 "$KAGID" --config "$D/kagi.conf" >"$KAGID_TMP/out" 2>&1 || fail "daemon start failed: $(cat "$KAGID_TMP/out")"
[ -f "$D/run/kagid.pid" ] || fail "no pid file after the daemon reported ready"
KAGID_PID=$(cat "$D/run/kagid.pid")
kill -0 "$KAGID_PID" || fail "pid file names a dead process"
[ "$(ps -o sid= -p "$KAGID_PID" | tr -d ' ')" != "$(ps -o sid= -p $$ | tr -d ' ')" ] || fail "daemon did not start a new session"
[ "$(readlink "/proc/$KAGID_PID/cwd")" = / ] || fail "daemon cwd is not /"
kagid_curl_unix /v1/health -f >/dev/null || fail "daemon does not answer"

# SIGHUP with a broken policy: still serving, old policy kept
cp "$D/policy.ini" "$KAGID_TMP/policy.good"
line=$(awk '/^\[zone\.mynumber\]/{z=1; next} /^\[/{z=0} z && /^min_categories *=/{print NR; exit}' "$D/policy.ini")
sed -i "${line}s/=.*/= 1/" "$D/policy.ini"
kill -HUP "$KAGID_PID"
sleep 0.5
kill -0 "$KAGID_PID" || fail "SIGHUP with a bad policy killed kagid"
kagid_curl_unix /v1/status -f -o "$KAGID_TMP/s.json" || fail "not serving after a bad reload"
[ "$(json_get "$KAGID_TMP/s.json" .policy.mynumber_zone)" = mynumber ] || fail "policy lost after a bad reload"
cp "$KAGID_TMP/policy.good" "$D/policy.ini"
kill -HUP "$KAGID_PID"
sleep 0.3
kagid_curl_unix /v1/health -f >/dev/null || fail "not serving after a good reload"

kill -TERM "$KAGID_PID"
for _ in $(seq 50); do kill -0 "$KAGID_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$KAGID_PID" 2>/dev/null && fail "daemon still running 5 s after SIGTERM"
KAGID_PID=
[ ! -e "$D/run/kagid.pid" ] || fail "pid file left behind"
[ ! -e "$D/run/kagid.sock" ] || fail "socket left behind"
# a refused start in daemon mode reports failure to the caller
chmod 0644 "$D/tls/kagid.key"
rc=0; timeout 20 "$KAGID" --config "$D/kagi.conf" >"$KAGID_TMP/out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "daemon start with a bad key mode returned $rc"
echo "PASS daemon_pid_file"
