#!/bin/bash
# The client key is a secret: a key file that group or others can read is
# refused (exit 9, perm) before any connection is made.
. "$(dirname "$0")/lib.sh"

init_deployment "$T/dep"
sed -e '/^\[client\]/,$ { /^socket = /d }' "$CONF" >"$DEP/mtls.conf"; chmod 640 "$DEP/mtls.conf"
chmod 0644 "$DEP/tls/admin.key"
expect_rc 9 "$KAGI" --config "$DEP/mtls.conf" status
expect_rc 9 "$KAGI" --config "$DEP/mtls.conf" --json status
json_ok "$T/out"
[ "$(jq -r .error "$T/out")" = perm ] || fail "json error is not perm"
chmod 0600 "$DEP/tls/admin.key"
# With a safe mode it goes on to connect (kagid is not running: exit 6).
expect_rc 6 "$KAGI" --config "$DEP/mtls.conf" status
echo "ok: client_key_readable"
