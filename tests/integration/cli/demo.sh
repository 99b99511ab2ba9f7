#!/bin/bash
# make demo's main job must run to the end: scripts/demo in a temp dir exits
# 0 and shows kagi status (English and Japanese) and an intact audit chain.
. "$(dirname "$0")/lib.sh"

: "${KAGI_SRC:?}"
rc=0
KAGI_DEMO_DIR=$T/demo KAGI_BIN=$KAGI_BIN bash "$KAGI_SRC/scripts/demo" \
	>"$T/demo.out" 2>&1 || rc=$?
if [ "$rc" -ne 0 ]; then
	cat "$T/demo.out" >&2
	fail "scripts/demo exited $rc"
fi
grep -q "is answering" "$T/demo.out" || { cat "$T/demo.out" >&2; fail "demo did not show kagi status"; }
grep -q "応答しています" "$T/demo.out" || fail "demo did not show kagi status in Japanese"
grep -q "audit chain intact" "$T/demo.out" || fail "demo did not verify the audit chain"
grep -q '"action"' "$T/demo.out" || fail "demo did not show exported records"
[ ! -e "$T/demo" ] || fail "demo did not clean up its directory"
echo "ok: demo"
