#!/bin/bash
# A second kagi init on a deployment is refused (exit 8, "exists") and
# nothing in the directory changes: same files, same contents, same modes.
. "$(dirname "$0")/lib.sh"

sum_dir() {
	(cd "$1" && find . -printf '%p %m %s\n' | LC_ALL=C sort &&
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
}

init_deployment "$T/dep"
before=$(sum_dir "$DEP")
expect_rc 8 "$KAGI" init --dir "$DEP" --port "$PORT" --http-port "$HPORT"
grep -q "already exists" "$T/err" || fail "no 'already exists' message: $(cat "$T/err")"
after=$(sum_dir "$DEP")
[ "$before" = "$after" ] || { diff <(echo "$before") <(echo "$after") >&2; fail "the directory changed"; }

expect_rc 8 "$KAGI" --json init --dir "$DEP"
json_ok "$T/out"
[ "$(jq -r .error "$T/out")" = exists ] || fail "json error is not 'exists'"
[ "$before" = "$(sum_dir "$DEP")" ] || fail "the directory changed (--json)"

# Usage errors change nothing either and exit 2.
expect_rc 2 "$KAGI" init
expect_rc 2 "$KAGI" init --dir "$T/new" --port 0
expect_rc 2 "$KAGI" init --dir "$T/new" --port 7000 --http-port 7000
[ ! -e "$T/new" ] || fail "a refused init created $T/new"
echo "ok: init_refuses_existing_dir"
