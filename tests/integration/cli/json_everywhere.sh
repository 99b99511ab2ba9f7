#!/bin/bash
# --json on every verb: stdout is exactly one JSON document, on success and
# on failure (then with "error" and "message" and a non-zero exit code).
. "$(dirname "$0")/lib.sh"

# init --json: kagid --init's own JSON is embedded.
PORT=$(free_port); HPORT=$(free_port "$PORT"); DEP=$T/dep; CONF=$DEP/kagi.conf
expect_rc 0 "$KAGI" --json init --dir "$DEP" --port "$PORT" --http-port "$HPORT"
json_ok "$T/out"
[ "$(jq -r .config "$T/out")" = "$CONF" ] || fail "init --json config"
jq -e '.kagid | type == "object"' "$T/out" >/dev/null || fail "init --json lacks kagid's result"
start_kagid

check() { # check RC ARGS...
	local rc=$1; shift
	expect_rc "$rc" "$KAGI" "$@"
	json_ok "$T/out"
	if [ "$rc" -ne 0 ]; then
		jq -e '(.error | type == "string") and (.message | type == "string")' \
			"$T/out" >/dev/null || fail "'$*': error JSON lacks error/message"
	fi
}
check 0 --json version
check 0 --json help
check 0 --json help audit
check 0 --json help audit export
check 0 --json --config "$CONF" status
jq -e '.status.audit.records >= 1' "$T/out" >/dev/null || fail "status --json lacks audit.records"
check 0 --config "$CONF" status --json        # --json after the verb
check 0 --json --config "$CONF" audit verify
check 0 --json --config "$CONF" audit export
jq -e '.format == "jsonl" and (.records | length >= 1) and (.records[0].seq == 1)' \
	"$T/out" >/dev/null || fail "export --json records"
check 0 --json --config "$CONF" audit export --format syslog
jq -e '.records[0] | type == "string"' "$T/out" >/dev/null || fail "syslog --json records"
check 0 --json --config "$CONF" audit export --output "$T/x.jsonl"
jq -e '.records >= 1 and .bytes > 0' "$T/out" >/dev/null || fail "export --output --json"
check 0 --json audit --help
# Failures.
check 2 --json frobnicate
check 2 --json audit
check 2 --json audit export --format xml
check 3 --json --config "$T/missing.conf" status
check 8 --json init --dir "$DEP"
stop_kagid
check 6 --json --config "$CONF" status
[ "$(jq -r .error "$T/out")" = unavailable ] || fail "unreachable json error name"
echo "ok: json_everywhere"
