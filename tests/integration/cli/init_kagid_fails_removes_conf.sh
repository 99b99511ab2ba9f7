#!/bin/bash
# When kagid --init fails, kagi init removes the kagi.conf it wrote (and only
# that), so the directory can be used again; a kagid that cannot be run is
# named in the message.
. "$(dirname "$0")/lib.sh"

mkdir -m 0750 "$T/dep"
echo keep >"$T/dep/notes.txt"
KAGID=/bin/false expect_rc 1 "$KAGI" init --dir "$T/dep" --port 17001 --http-port 17002
grep -q "kagid --init failed (exit status 1)" "$T/err" || fail "message: $(cat "$T/err")"
[ ! -e "$T/dep/kagi.conf" ] || fail "kagi.conf was left behind"
[ "$(cat "$T/dep/notes.txt")" = keep ] || fail "an unrelated file was touched"

KAGID=$T/no-such-kagid expect_rc 3 "$KAGI" init --dir "$T/dep"
grep -q "cannot run $T/no-such-kagid" "$T/err" || fail "message: $(cat "$T/err")"
[ ! -e "$T/dep/kagi.conf" ] || fail "kagi.conf was left behind (no kagid)"

# And the directory is still usable.
init_deployment "$T/dep"
[ "$(cat "$T/dep/notes.txt")" = keep ] || fail "init touched an unrelated file"
echo "ok: init_kagid_fails_removes_conf"
