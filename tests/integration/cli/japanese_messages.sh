#!/bin/bash
# With a Japanese locale (LANGUAGE=ja on the always-present C.UTF-8 locale)
# kagi prints Japanese labels, help and error messages.
. "$(dirname "$0")/lib.sh"

ja() { LANGUAGE=ja LC_ALL=C.UTF-8 "$@"; }

init_deployment "$T/dep"
start_kagid
expect_rc 0 ja "$KAGI" --config "$CONF" status
grep -q "応答しています" "$T/out" || fail "status is not in Japanese: $(cat "$T/out")"
grep -q "監査記録" "$T/out" || fail "status labels are not Japanese: $(cat "$T/out")"
expect_rc 0 ja "$KAGI" --config "$CONF" audit verify
grep -q "監査チェーンは正常" "$T/out" || fail "verify is not Japanese: $(cat "$T/out")"
expect_rc 0 ja "$KAGI" --help
grep -q "コマンド" "$T/out" || fail "help is not Japanese"
stop_kagid
# kagid unreachable: a Japanese message naming the endpoint.
expect_rc 6 ja "$KAGI" --config "$CONF" status
grep -q "接続できません" "$T/err" || fail "unreachable message is not Japanese: $(cat "$T/err")"
grep -q "https://127.0.0.1:$PORT" "$T/err" || fail "message does not name the endpoint"
# A usage error in Japanese.
expect_rc 2 ja "$KAGI" frobnicate
grep -q "不明なコマンド" "$T/err" || fail "usage error is not Japanese: $(cat "$T/err")"
# The same commands in English are English (the test above is not vacuous).
expect_rc 6 "$KAGI" --config "$CONF" status
grep -q "cannot reach kagid" "$T/err" || fail "English message missing"
echo "ok: japanese_messages"
