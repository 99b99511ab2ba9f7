# Shared helpers for integration tests that run kagid for real (source it).
#   kagid_tmpdir              sets KAGID_TMP: private temp dir, removed (and kagid
#                             stopped) on exit; call it directly, not in $(...)
#   kagid_free_port           a free loopback TCP port
#   kagid_write_conf DIR      kagi.conf with free ports (sets KAGID_PORT, KAGID_HTTP_PORT)
#   kagid_init DIR            kagid --init (output in DIR/init.out)
#   kagid_start DIR           kagid --foreground in the background, wait until it answers
#   kagid_stop                SIGTERM and wait (<= 5 s); sets KAGID_EXIT
#   kagid_curl_tls PATH ...   curl over mTLS with the admin certificate
#   kagid_curl_unix PATH ...  curl over the Unix socket
#   fail MSG                  print FAIL: MSG (and kagid's log) and exit 1
# Needs KAGI_BIN (the built programs).  Never touches /etc or system services.

: "${KAGI_BIN:?KAGI_BIN must point at the built programs}"
# the scripts match kagid's English messages
export LC_ALL=C
unset LANGUAGE
KAGID=${KAGID:-$KAGI_BIN/kagid}
KAGID_PID=
KAGID_DIR=
KAGID_TMP=

fail() {
	echo "FAIL: $*" >&2
	if [ -n "$KAGID_DIR" ] && [ -s "$KAGID_DIR/kagid.log" ]; then
		echo "--- kagid.log (last 30 lines) ---" >&2
		tail -n 30 "$KAGID_DIR/kagid.log" >&2
	fi
	exit 1
}

_kagid_cleanup() {
	if [ -n "$KAGID_PID" ] && kill -0 "$KAGID_PID" 2>/dev/null; then
		kill -TERM "$KAGID_PID" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$KAGID_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$KAGID_PID" 2>/dev/null || true
	fi
	local bad=0
	# a sanitizer report from any kagid run (ASan build) fails the test
	if [ -n "$KAGID_TMP" ] && grep -rlaE 'ERROR: (Address|Leak)Sanitizer|runtime error:' \
		"$KAGID_TMP" >"$KAGID_TMP.san" 2>/dev/null; then
		echo "FAIL: sanitizer report in: $(cat "$KAGID_TMP.san")" >&2
		grep -rahE -A20 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$KAGID_TMP" | head -60 >&2
		bad=1
	fi
	[ -n "$KAGID_TMP" ] && rm -rf "$KAGID_TMP" "$KAGID_TMP.san"
	[ "$bad" = 0 ] || exit 1
	return 0
}

kagid_tmpdir() {
	KAGID_TMP=$(mktemp -d "${TMPDIR:-/tmp}/kagid-test.XXXXXX")
	trap _kagid_cleanup EXIT
	# sanitizer builds: every report of every run lands here and fails the test
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$KAGID_TMP/sanitizer"
	export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$KAGID_TMP/sanitizer"
}

kagid_free_port() {
	# below the kernel's ephemeral range (32768-60999), where outgoing
	# connections take their local ports, so a port found free stays free
	local p
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 12000))
		if [ -z "$(ss -Htan "sport = :$p" 2>/dev/null)" ]; then
			echo "$p"; return
		fi
	done
	fail "no free port found"
}

kagid_write_conf() {
	local dir=$1
	KAGID_DIR=$dir
	KAGID_PORT=$(kagid_free_port)
	KAGID_HTTP_PORT=$(kagid_free_port)
	while [ "$KAGID_HTTP_PORT" = "$KAGID_PORT" ]; do KAGID_HTTP_PORT=$(kagid_free_port); done
	mkdir -p "$dir"
	cat >"$dir/kagi.conf" <<CONF
[kagid]
data_dir = data
policy = policy.ini
listen = 127.0.0.1:$KAGID_PORT
http_listen = 127.0.0.1:$KAGID_HTTP_PORT
socket = run/kagid.sock
pid_file = run/kagid.pid
tls_cert = tls/kagid.crt
tls_key = tls/kagid.key
tls_client_ca = tls/ca.crt
log = stderr

[hsm]
module = /usr/lib/softhsm/libsofthsm2.so
token_label = kagi
pin_file = hsm/pin
softhsm2_conf = hsm/softhsm2.conf

[client]
socket = run/kagid.sock
url = https://127.0.0.1:$KAGID_PORT
cert = tls/admin.crt
key = tls/admin.key
ca = tls/ca.crt
CONF
	chmod 0644 "$dir/kagi.conf"
	export KAGID_PORT KAGID_HTTP_PORT KAGID_DIR
}

kagid_init() {
	local dir=$1
	"$KAGID" --init --config "$dir/kagi.conf" >"$dir/init.out" 2>&1 ||
		{ cat "$dir/init.out" >&2; fail "kagid --init failed"; }
}

kagid_start() {
	local dir=$1
	KAGID_DIR=$dir
	"$KAGID" --foreground --config "$dir/kagi.conf" >>"$dir/kagid.log" 2>&1 &
	KAGID_PID=$!
	for _ in $(seq 100); do
		if ! kill -0 "$KAGID_PID" 2>/dev/null; then
			wait "$KAGID_PID" || true
			KAGID_PID=
			fail "kagid exited during start-up"
		fi
		if [ -S "$dir/run/kagid.sock" ] &&
			curl -sf --max-time 2 --unix-socket "$dir/run/kagid.sock" \
				http://kagid/v1/health >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	fail "kagid did not answer on its socket within 10 s"
}

kagid_stop() {
	[ -n "$KAGID_PID" ] || return 0
	kill -TERM "$KAGID_PID"
	local i
	for i in $(seq 50); do
		kill -0 "$KAGID_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$KAGID_PID" 2>/dev/null; then
		fail "kagid still running 5 s after SIGTERM"
	fi
	KAGID_EXIT=0
	wait "$KAGID_PID" || KAGID_EXIT=$?
	KAGID_PID=
	export KAGID_EXIT
	[ "$KAGID_EXIT" = 0 ] || fail "kagid exited with status $KAGID_EXIT after SIGTERM"
}

kagid_curl_tls() {
	local path=$1; shift
	curl -sS --max-time 10 --cacert "$KAGID_DIR/tls/ca.crt" \
		--cert "$KAGID_DIR/tls/admin.crt" --key "$KAGID_DIR/tls/admin.key" \
		"$@" "https://127.0.0.1:$KAGID_PORT$path"
}

kagid_curl_unix() {
	local path=$1; shift
	curl -sS --max-time 10 --unix-socket "$KAGID_DIR/run/kagid.sock" "$@" \
		"http://kagid$path"
}

# json_get FILE_OR_- EXPR: a field with jq if present, else python3.
json_get() {
	local expr=$2
	if command -v jq >/dev/null 2>&1; then
		jq -er "$expr" <"$1"
	else
		python3 - "$expr" "$1" <<'PY'
import json, sys
expr, f = sys.argv[1], sys.argv[2]
v = json.load(open(f) if f != "-" else sys.stdin)
for part in [p for p in expr.lstrip(".").split(".") if p]:
    v = v[part]
print(v if not isinstance(v, bool) else str(v).lower())
PY
	fi
}

# kagid_expect_tls_refused WHAT [curl args]: the TLS handshake with kagid's
# HTTPS port fails (curl 35, 55 or 56), no HTTP status comes back, no handler ran,
# and kagid keeps serving.
kagid_expect_tls_refused() {
	local what=$1; shift
	local before after rc=0 code
	before=$(grep -c 'request method=' "$KAGID_DIR/kagid.log" || true)
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
		--cacert "$KAGID_DIR/tls/ca.crt" "$@" \
		"https://127.0.0.1:$KAGID_PORT/v1/health") || rc=$?
	case $rc in
	35|55|56) ;;  # handshake failed / connection dropped by the server
	0) fail "$what: request succeeded (HTTP $code)" ;;
	*) fail "$what: unexpected curl exit code $rc (want 35, 55 or 56: TLS refusal)" ;;
	esac
	[ "$code" = 000 ] || fail "$what: got an HTTP response ($code)"
	sleep 0.2
	after=$(grep -c 'request method=' "$KAGID_DIR/kagid.log" || true)
	[ "$before" = "$after" ] || fail "$what: a request handler ran"
	kagid_curl_tls /v1/health -f >/dev/null || fail "$what: kagid stopped serving good clients"
}
