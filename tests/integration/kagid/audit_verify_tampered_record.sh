#!/bin/bash
# A stored audit record changed behind kagid's back (one byte in data.mdb)
# makes POST /v1/audit/verify answer 500 "corrupt" naming the sequence, and
# that failed verification is itself audited (R-LOG-4, R-LOG-5).
set -euo pipefail
. "${KAGI_SRC:?}/tests/lib/kagid.sh"
kagid_tmpdir
D=$KAGID_TMP/d
kagid_write_conf "$D"
kagid_init "$D"
kagid_start "$D"
for _ in 1 2 3; do kagid_curl_unix /v1/audit/verify -X POST -f -o /dev/null; done
kagid_stop
# records: 1 deploy.init, 2..4 audit.verify by uid:0(root).  Make record 2's
# detail say 9 records instead of 1 (same length, so it still decodes).
python3 - "$D/data/data.mdb" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
old, new = b'{"records":1}', b'{"records":9}'
n = b.count(old)
assert n >= 1, "record 2 detail not found in data.mdb"
open(p, "wb").write(bytes(b).replace(old, new))
print("patched", n, "copies")
PY
kagid_start "$D"
code=$(kagid_curl_unix /v1/audit/verify -X POST -o "$KAGID_TMP/v.json" -w '%{http_code}')
[ "$code" = 500 ] || fail "tampered chain: HTTP $code: $(cat "$KAGID_TMP/v.json")"
[ "$(json_get "$KAGID_TMP/v.json" .error)" = corrupt ] || fail "error is not corrupt: $(cat "$KAGID_TMP/v.json")"
bad=$(json_get "$KAGID_TMP/v.json" .bad_seq)
[ "$bad" = 2 ] || fail "bad_seq $bad does not name the changed record 2"
grep -q "event=audit_chain_corrupt bad_seq=$bad" "$D/kagid.log" || fail "corruption not logged"
kagid_curl_unix '/v1/audit/export?since=5' -o "$KAGID_TMP/tail.jsonl" -f
grep -q '"action":"audit.verify".*"outcome":"corrupt"' "$KAGID_TMP/tail.jsonl" ||
	fail "the failed verification was not audited: $(cat "$KAGID_TMP/tail.jsonl")"
kagid_stop
echo "PASS audit_verify_tampered_record (bad_seq=$bad)"
