# Shared helpers for the kagi CLI integration tests (sourced, bash).
# Every test gets a private temp dir (removed by the trap), free loopback
# ports, and a real kagid started from KAGI_BIN.
set -euo pipefail

: "${KAGI_BIN:?KAGI_BIN must name the directory of the built programs}"
KAGI="$KAGI_BIN/kagi"
KAGID_BIN="$KAGI_BIN/kagid"
export KAGID="$KAGID_BIN"
# English messages unless a test asks for another language.
export LC_ALL=C.UTF-8
unset LANGUAGE KAGI_CONFIG || true

T=$(mktemp -d "${TMPDIR:-/tmp}/kagi-cli-test.XXXXXX")
KAGID_PID=""

cleanup() {
	if [ -n "$KAGID_PID" ] && kill -0 "$KAGID_PID" 2>/dev/null; then
		kill -TERM "$KAGID_PID" 2>/dev/null || true
		wait "$KAGID_PID" 2>/dev/null || true
	fi
	rm -rf "$T"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	if [ -n "${DEP:-}" ] && [ -f "$DEP/kagid.log" ]; then
		echo "--- kagid.log ---" >&2
		tail -n 30 "$DEP/kagid.log" >&2 || true
	fi
	exit 1
}

# A TCP port on 127.0.0.1 nobody listens on (and not in $1..: excluded).
free_port() {
	local p i
	for i in $(seq 1 200); do
		# below the kernel's ephemeral range (32768-60999), where outgoing
		# connections take their local ports, so a port found free stays free
		p=$(( 20000 + RANDOM % 12000 ))
		case " $* " in *" $p "*) continue ;; esac
		if [ -z "$(ss -Htan "sport = :$p" 2>/dev/null)" ]; then
			echo "$p"
			return 0
		fi
	done
	echo "no free port" >&2
	return 1
}

# init_deployment DIR: kagi init on free ports; sets DEP, CONF, PORT, HPORT.
init_deployment() {
	DEP=$1
	PORT=$(free_port)
	HPORT=$(free_port "$PORT")
	"$KAGI" init --dir "$DEP" --port "$PORT" --http-port "$HPORT" \
		>"$T/init.out" 2>"$T/init.err" ||
		{ cat "$T/init.out" "$T/init.err" >&2; fail "kagi init --dir $DEP failed"; }
	CONF=$DEP/kagi.conf
	[ -f "$CONF" ] || fail "kagi init did not write $CONF"
}

# start_kagid: kagid --foreground in the background, wait for the socket.
start_kagid() {
	local i
	"$KAGID_BIN" --config "$CONF" --foreground >>"$DEP/kagid.log" 2>&1 &
	KAGID_PID=$!
	for i in $(seq 1 100); do
		if [ -S "$DEP/run/kagid.sock" ] &&
			[ -n "$(ss -Hltn "sport = :$PORT" 2>/dev/null)" ]; then
			return 0
		fi
		kill -0 "$KAGID_PID" 2>/dev/null || fail "kagid exited at start"
		sleep 0.1
	done
	fail "kagid did not create its socket within 10 s"
}

stop_kagid() {
	[ -n "$KAGID_PID" ] || return 0
	kill -TERM "$KAGID_PID"
	local rc=0
	wait "$KAGID_PID" || rc=$?
	KAGID_PID=""
	[ "$rc" -eq 0 ] || fail "kagid exited with $rc after SIGTERM"
}

# expect_rc WANT CMD...: run CMD, stdout/stderr into $T/out, $T/err.
expect_rc() {
	local want=$1 rc=0
	shift
	"$@" >"$T/out" 2>"$T/err" || rc=$?
	if [ "$rc" -ne "$want" ]; then
		echo "--- stdout ---" >&2; cat "$T/out" >&2
		echo "--- stderr ---" >&2; cat "$T/err" >&2
		fail "'$*' exited $rc, expected $want"
	fi
}

# json_ok FILE: FILE holds exactly one JSON document.
json_ok() {
	jq -e . "$1" >/dev/null 2>&1 || { cat "$1" >&2; fail "$1 is not one JSON document"; }
	[ "$(jq -s length "$1")" = 1 ] || fail "$1 holds more than one JSON document"
}
