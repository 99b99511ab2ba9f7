#!/bin/bash
# Help and usage: help goes to stdout with exit 0; a usage error exits 2
# with the message and a usage line on stderr and nothing on stdout.
. "$(dirname "$0")/lib.sh"

expect_rc 0 "$KAGI" --help
for v in init status audit version help; do
	grep -q "^  $v " "$T/out" || fail "--help does not list $v"
done
expect_rc 0 "$KAGI" audit --help
grep -q "verify" "$T/out" && grep -q "export" "$T/out" || fail "audit --help lacks subcommands"
expect_rc 0 "$KAGI" audit export --help
grep -q -- "--since SEQ" "$T/out" || fail "audit export --help lacks --since"
expect_rc 0 "$KAGI" help init
grep -q -- "--dir DIR" "$T/out" || fail "help init lacks --dir"
expect_rc 0 "$KAGI" help audit verify
expect_rc 0 "$KAGI" status --help
expect_rc 0 "$KAGI" --version
grep -Eq '^kagi [0-9]+\.[0-9]+\.[0-9]+$' "$T/out" || fail "--version output: $(cat "$T/out")"
expect_rc 0 "$KAGI" version

usage_error() { # usage_error WHAT ARGS...
	local what=$1; shift
	expect_rc 2 "$KAGI" "$@"
	grep -q "$what" "$T/err" || fail "'$*': stderr lacks '$what': $(cat "$T/err")"
	grep -q "Usage: kagi" "$T/err" || fail "'$*': no usage line on stderr"
	[ ! -s "$T/out" ] || fail "'$*': wrote to stdout"
}
usage_error "unknown command 'frobnicate'" frobnicate
usage_error "no command given"
usage_error "unknown option --bogus" --bogus status
usage_error "unknown option --bogus" status --bogus
usage_error "needs a subcommand" audit
usage_error "unknown subcommand 'audit frob'" audit frob
usage_error "unexpected argument 'extra'" status extra
usage_error "needs an argument" --config
usage_error "unknown command 'nope'" help nope
echo "ok: help_and_usage"
