#!/bin/bash
# SIGTERM: kagid exits 0 within 5 s and removes its socket, pid file and
# address file; the pid file named the running process.
set -euo pipefail
. "${KAGI_SRC:?}/tests/lib/kagid.sh"
kagid_tmpdir
D=$KAGID_TMP/d
kagid_write_conf "$D"
kagid_init "$D"
kagid_start "$D"
[ -f "$D/run/kagid.pid" ] || fail "no pid file"
[ "$(cat "$D/run/kagid.pid")" = "$KAGID_PID" ] || fail "pid file says $(cat "$D/run/kagid.pid"), kagid is $KAGID_PID"
grep -qx "https=127.0.0.1:$KAGID_PORT" "$D/run/kagid.addr" || fail "kagid.addr lacks https=: $(cat "$D/run/kagid.addr")"
grep -qx "http=127.0.0.1:$KAGID_HTTP_PORT" "$D/run/kagid.addr" || fail "kagid.addr lacks http="
# a second kagid on the same deployment is refused (pid file lock)
rc=0; "$KAGID" --foreground --config "$D/kagi.conf" >"$KAGID_TMP/second" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "a second kagid started"
grep -q 'another kagid' "$KAGID_TMP/second" || fail "second kagid: unclear refusal: $(cat "$KAGID_TMP/second")"
[ -S "$D/run/kagid.sock" ] || fail "the refused second kagid removed the socket"
kagid_curl_unix /v1/health -f >/dev/null || fail "first kagid disturbed by the second"

t0=$(date +%s%N)
kagid_stop
t1=$(date +%s%N)
[ "$KAGID_EXIT" = 0 ] || fail "exit status $KAGID_EXIT after SIGTERM"
echo "shutdown took $(( (t1 - t0) / 1000000 )) ms"
[ ! -e "$D/run/kagid.sock" ] || fail "socket left behind"
[ ! -e "$D/run/kagid.pid" ] || fail "pid file left behind"
[ ! -e "$D/run/kagid.addr" ] || fail "address file left behind"
grep -q 'event=stopped' "$D/kagid.log" || fail "no event=stopped in the log"

# SIGINT too, and a stale socket and pid file from a crash are replaced
kagid_start "$D"
kill -KILL "$KAGID_PID"; wait "$KAGID_PID" 2>/dev/null || true; KAGID_PID=
[ -S "$D/run/kagid.sock" ] && [ -f "$D/run/kagid.pid" ] || fail "SIGKILL should leave stale files"
kagid_start "$D"
kagid_curl_unix /v1/health -f >/dev/null || fail "restart over stale files failed"
kill -INT "$KAGID_PID"
for _ in $(seq 50); do kill -0 "$KAGID_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$KAGID_PID" 2>/dev/null && fail "kagid ignores SIGINT"
rc=0; wait "$KAGID_PID" || rc=$?; KAGID_PID=
[ "$rc" = 0 ] || fail "exit status $rc after SIGINT"
echo "PASS sigterm_clean_shutdown"
