#!/bin/bash
# R-TERM-6: kagid refuses to start when its TLS private key is readable by
# group or others (0644, 0640), naming the key file.
set -euo pipefail
. "${KAGI_SRC:?}/tests/lib/kagid.sh"
kagid_tmpdir
D=$KAGID_TMP/d
kagid_write_conf "$D"
kagid_init "$D"
for m in 0644 0640 0604; do
	chmod "$m" "$D/tls/kagid.key"
	rc=0
	timeout 10 "$KAGID" --foreground --config "$D/kagi.conf" >"$KAGID_TMP/out" 2>&1 || rc=$?
	[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "key mode $m accepted (rc=$rc)"
	grep -q "kagid.key" "$KAGID_TMP/out" || fail "key mode $m: message does not name the key: $(cat "$KAGID_TMP/out")"
	[ ! -e "$D/run/kagid.sock" ] || fail "key mode $m: socket created"
done
# a symlinked key is refused as well
chmod 0600 "$D/tls/kagid.key"
mv "$D/tls/kagid.key" "$D/tls/real.key"
ln -s real.key "$D/tls/kagid.key"
rc=0; timeout 10 "$KAGID" --foreground --config "$D/kagi.conf" >"$KAGID_TMP/out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "symlinked key accepted"
rm "$D/tls/kagid.key"; mv "$D/tls/real.key" "$D/tls/kagid.key"
kagid_start "$D"
kagid_stop
echo "PASS tls_key_mode_refused"
