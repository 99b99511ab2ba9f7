#!/bin/bash
# GET /v1/audit/export: jsonl gives one valid JSON object per record with the
# chain fields; syslog gives RFC 5424 lines; since=N filters; POST
# /v1/audit/verify checks the chain and is itself audited (R-LOG-1..5).
set -euo pipefail
. "${KAGI_SRC:?}/tests/lib/kagid.sh"
kagid_tmpdir
D=$KAGID_TMP/d
kagid_write_conf "$D"
kagid_init "$D"
kagid_start "$D"
for _ in 1 2; do
	kagid_curl_unix /v1/audit/verify -X POST -o "$KAGID_TMP/v.json" -f || fail "verify failed"
	[ "$(json_get "$KAGID_TMP/v.json" .ok)" = true ] || fail "verify not ok: $(cat "$KAGID_TMP/v.json")"
done
[ "$(json_get "$KAGID_TMP/v.json" .records)" = 2 ] || fail "second verify should see 2 records"
kagid_curl_tls /v1/audit/export -o "$KAGID_TMP/a.jsonl" -f || fail "export over mTLS failed"
[ "$(wc -l <"$KAGID_TMP/a.jsonl")" = 3 ] || fail "want 3 records: $(cat "$KAGID_TMP/a.jsonl")"
python3 - "$KAGID_TMP/a.jsonl" <<'PY' || fail "jsonl export is not valid"
import json, re, sys
prev = "0" * 64
for n, line in enumerate(open(sys.argv[1]), 1):
    r = json.loads(line)
    assert set(r) == {"seq", "time", "actor", "action", "object", "outcome",
                      "detail", "prev", "hash"}, r.keys()
    assert r["seq"] == n, r
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["time"]), r
    assert isinstance(r["detail"], dict), r
    assert re.fullmatch(r"[0-9a-f]{64}", r["hash"]), r
    assert r["prev"] == prev, (n, r["prev"], prev)
    prev = r["hash"]
    assert r["action"] == ("deploy.init" if n == 1 else "audit.verify"), r
    if n > 1:
        assert r["actor"] == "uid:0(root)" or r["actor"].startswith("uid:"), r
        assert r["outcome"] == "ok", r
PY
if command -v jq >/dev/null; then jq -e . "$KAGID_TMP/a.jsonl" >/dev/null || fail "jq rejects the export"; fi
kagid_curl_unix '/v1/audit/export?since=2&format=jsonl' -o "$KAGID_TMP/s.jsonl" -f
[ "$(wc -l <"$KAGID_TMP/s.jsonl")" = 2 ] || fail "since=2 should give 2 records"
head -1 "$KAGID_TMP/s.jsonl" | grep -q '"seq":2,' || fail "since=2 does not start at seq 2"

kagid_curl_unix '/v1/audit/export?format=syslog' -o "$KAGID_TMP/a.log" -f
[ "$(wc -l <"$KAGID_TMP/a.log")" = 3 ] || fail "syslog export: want 3 lines"
re='^<(85|86)>1 [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z [!-~]+ kagid - AUDIT \[kagi@32473 seq="[0-9]+" actor="[^"]*" action="[^"]*" object="[^"]*" outcome="[^"]*" prev="[0-9a-f]{64}" hash="[0-9a-f]{64}"\] action=.+$'
while IFS= read -r l; do
	[[ $l =~ $re ]] || fail "not an RFC 5424 audit line: $l"
done <"$KAGID_TMP/a.log"
grep -q 'seq="1" actor="kagid" action="deploy.init"' "$KAGID_TMP/a.log" || fail "syslog line 1 wrong"

code=$(kagid_curl_unix '/v1/audit/export?format=xml' -o "$KAGID_TMP/e.json" -w '%{http_code}')
[ "$code" = 400 ] || fail "format=xml gave HTTP $code"
[ "$(json_get "$KAGID_TMP/e.json" .error)" = invalid ] || fail "format=xml error: $(cat "$KAGID_TMP/e.json")"
code=$(kagid_curl_unix '/v1/audit/export?since=-1' -o /dev/null -w '%{http_code}')
[ "$code" = 400 ] || fail "since=-1 gave HTTP $code"
kagid_stop
echo "PASS audit_export_formats"
