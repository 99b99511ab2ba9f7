# Helpers for the terminal login tests (source it after tests/lib/kagid.sh
# or alone).  Never touches /etc: PAM runs through pam_wrapper with a
# private service directory.
#   login_tmpdir            LOGIN_TMP: private dir, removed (cardd stopped) on exit
#   pam_service NAME LINES  write a service file into $LOGIN_TMP/pam.d
#   pam_run ARGS...         the C driver under pam_wrapper (output on stdout)
#   cardd_write_conf DIR URL  a [cardd] kagi.conf (SoftHSM2 as the card module)
#   cardd_start DIR         kagi-cardd --foreground; waits for its socket
#   cardd_stop
: "${KAGI_BIN:?}" "${KAGI_BUILD:?}" "${KAGI_SRC:?}"
export LC_ALL=C
unset LANGUAGE
PAM_WRAPPER_LIB=${PAM_WRAPPER_LIB:-/usr/lib/x86_64-linux-gnu/libpam_wrapper.so}
PAM_KAGI=${PAM_KAGI:-$KAGI_BUILD/lib/pam_kagi.so}
PAM_DRIVER=${PAM_DRIVER:-$KAGI_BIN/pam_driver}
CARDD=${CARDD:-$KAGI_BIN/kagi-cardd}
CARDD_PID=
LOGIN_TMP=

lfail() {
	echo "FAIL: $*" >&2
	if [ -n "${CARDD_DIR:-}" ] && [ -s "$CARDD_DIR/cardd.log" ]; then
		echo "--- cardd.log (last 30 lines) ---" >&2
		tail -n 30 "$CARDD_DIR/cardd.log" >&2
	fi
	if [ -n "${KAGID_DIR:-}" ] && [ -s "$KAGID_DIR/kagid.log" ]; then
		echo "--- kagid.log (last 30 lines) ---" >&2
		tail -n 30 "$KAGID_DIR/kagid.log" >&2
	fi
	exit 1
}

_login_cleanup() {
	cardd_stop_quiet
	# a sanitizer report from kagi-cardd (ASan build) fails the test
	if [ -n "$LOGIN_TMP" ] && grep -rlaE 'ERROR: (Address|Leak)Sanitizer|runtime error:' \
		"$LOGIN_TMP" >/dev/null 2>&1; then
		grep -rahE -A20 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$LOGIN_TMP" | head -40 >&2
		rm -rf "$LOGIN_TMP"
		echo "FAIL: sanitizer report from kagi-cardd" >&2
		exit 1
	fi
	if declare -F _kagid_cleanup >/dev/null; then _kagid_cleanup; fi
	[ -n "$LOGIN_TMP" ] && rm -rf "$LOGIN_TMP"
	return 0
}

login_tmpdir() {
	LOGIN_TMP=$(mktemp -d "${TMPDIR:-/tmp}/kagi-login.XXXXXX")
	chmod 0755 "$LOGIN_TMP"
	mkdir -p "$LOGIN_TMP/pam.d"
	trap _login_cleanup EXIT
}

pam_service() {
	local name=$1; shift
	printf '%s\n' "$@" >"$LOGIN_TMP/pam.d/$name"
}

# An ASan-built driver needs the sanitizer runtime first in LD_PRELOAD.
_pam_preload() {
	local asan
	asan=$(ldd "$PAM_DRIVER" 2>/dev/null | awk '/libasan/ {print $3}')
	if [ -n "$asan" ]; then echo "$asan:$PAM_WRAPPER_LIB"; else echo "$PAM_WRAPPER_LIB"; fi
}

pam_run() {
	LD_PRELOAD=$(_pam_preload) PAM_WRAPPER=1 \
		PAM_WRAPPER_SERVICE_DIR="$LOGIN_TMP/pam.d" \
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		KAGI_LOCALEDIR="$KAGI_BUILD/locale" \
		"$PAM_DRIVER" "$@"
}

# Run as another user (for the SO_PEERCRED tests).
pam_run_as() {
	local who=$1; shift
	local uid gid
	uid=$(id -u "$who"); gid=$(id -g "$who")
	LD_PRELOAD=$(_pam_preload) PAM_WRAPPER=1 \
		PAM_WRAPPER_SERVICE_DIR="$LOGIN_TMP/pam.d" \
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		setpriv --reuid="$uid" --regid="$gid" --clear-groups \
		"$PAM_DRIVER" "$@"
}

cardd_write_conf() {
	local dir=$1 url=$2
	CARDD_DIR=$dir
	mkdir -p "$dir"
	cat >"$dir/kagi.conf" <<CONF
[kagid]
log_level = debug

[cardd]
socket = $dir/cardd.sock
kagid_url = $url
terminal_cert = terminal.crt
terminal_key = terminal.key
ca = ca.crt
pkcs11_module = /usr/lib/softhsm/libsofthsm2.so
card_wait = ${CARDD_CARD_WAIT:-0}
fido = ${CARDD_FIDO:-off}
CONF
	if [ -n "${CARDD_FIDO_MODULE:-}" ]; then
		cat >>"$dir/kagi.conf" <<CONF
fido_device = ${CARDD_FIDO_DEVICE:?}
insecure_fido_test_io_module = $CARDD_FIDO_MODULE
CONF
	fi
	chmod 0644 "$dir/kagi.conf"
}

cardd_start() {
	local dir=$1
	CARDD_DIR=$dir
	SOFTHSM2_CONF=${CARD_SOFTHSM2_CONF:-$dir/softhsm2.conf} \
		"$CARDD" --foreground --config "$dir/kagi.conf" >>"$dir/cardd.log" 2>&1 &
	CARDD_PID=$!
	for _ in $(seq 100); do
		if ! kill -0 "$CARDD_PID" 2>/dev/null; then
			wait "$CARDD_PID" || true
			CARDD_PID=
			lfail "kagi-cardd exited during start-up"
		fi
		[ -S "$dir/cardd.sock" ] && return 0
		sleep 0.1
	done
	lfail "kagi-cardd did not create its socket within 10 s"
}

cardd_stop_quiet() {
	[ -n "$CARDD_PID" ] || return 0
	kill -TERM "$CARDD_PID" 2>/dev/null || true
	for _ in $(seq 60); do kill -0 "$CARDD_PID" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$CARDD_PID" 2>/dev/null || true
	wait "$CARDD_PID" 2>/dev/null || true
	CARDD_PID=
}

cardd_stop() {
	[ -n "$CARDD_PID" ] || return 0
	kill -TERM "$CARDD_PID"
	for _ in $(seq 60); do kill -0 "$CARDD_PID" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$CARDD_PID" 2>/dev/null && lfail "kagi-cardd still running 6 s after SIGTERM"
	local st=0
	wait "$CARDD_PID" || st=$?
	CARDD_PID=
	[ "$st" = 0 ] || lfail "kagi-cardd exited with status $st"
}

# A throwaway terminal identity for tests that never reach kagid.
fake_terminal_creds() {
	local dir=$1
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-subj /CN=test-terminal -days 1 -keyout "$dir/terminal.key" \
		-out "$dir/terminal.crt" >/dev/null 2>&1 || lfail "openssl req"
	chmod 0600 "$dir/terminal.key"
	cp "$dir/terminal.crt" "$dir/ca.crt"
}

# A SoftHSM2 configuration with its own token directory.
softhsm_conf() {
	local dir=$1
	mkdir -p "$dir/tokens"
	printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
		"$dir" >"$dir/softhsm2.conf"
}

# ---- full logins against kagid (need server/api_login.c) ----
#   login_setup ZONE     kagid on loopback with a registered terminal in ZONE,
#                        its certificate for cardd; exits 77 (skip) when
#                        kagid has no login API in this tree
#   kk ARGS...           run kagi (output in $KOUT), fail unless it exits 0
#   login_user LOGIN NO  a person and a personal account; TEMP = its temporary password
#   card_make LABEL LOGIN [p256|rsa2048]  a SoftHSM2 card with a staff-logon
#                        certificate for LOGIN from our CA; CARD_SERIAL set
#   cardd_up             start kagi-cardd for the terminal
CARD_PIN=246810
login_setup() {
	local zone=$1
	if [ ! -f "$KAGI_SRC/server/api_login.c" ]; then
		echo "skip: kagid has no login API yet (server/api_login.c)"
		exit 77
	fi
	. "$KAGI_SRC/tests/lib/kagid.sh"
	login_tmpdir
	kagid_tmpdir
	trap _login_cleanup EXIT
	D=$KAGID_TMP/d
	C=$LOGIN_TMP/cardd
	mkdir -p "$C"
	kagid_write_conf "$D"
	kagid_init "$D"
	sed -i -e 's/^hash_cost = 5$/hash_cost = 1/' "$D/policy.ini"
	if [ -n "${LOGIN_POLICY_SED:-}" ]; then
		sed -i -e "$LOGIN_POLICY_SED" "$D/policy.ini"
	fi
	if [ -n "${LOGIN_POLICY_EXTRA:-}" ]; then
		printf '%s\n' "$LOGIN_POLICY_EXTRA" >>"$D/policy.ini"
	fi
	kagid_start "$D"
	export KAGI_CONFIG=$D/kagi.conf
	KN=0
	OUT=$LOGIN_TMP/out
	mkdir -p "$OUT"
	# the terminal: registered in the zone, certified by our CA
	kk terminal add term-01 --zone "$zone"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-subj /CN=term-01 -keyout "$C/terminal.key" -out "$C/terminal.csr" \
		>/dev/null 2>&1 || lfail "terminal CSR"
	chmod 0600 "$C/terminal.key"
	kk ca issue --profile terminal --csr "$C/terminal.csr" --for-device term-01 \
		--out "$C/terminal.crt"
	cp "$D/tls/ca.crt" "$C/ca.crt"
	# mTLS: kagid trusts our own CA for client certificates besides its
	# bootstrap TLS CA (server/http.c kagid_tls_trust_ca); no set-up here
	softhsm_conf "$C/card"
	export SOFTHSM2_CONF=$C/card/softhsm2.conf
	CARD_SOFTHSM2_CONF=$SOFTHSM2_CONF
	cardd_write_conf "$C" "https://127.0.0.1:$KAGID_PORT"
	pam_service kagi "auth required $PAM_KAGI socket=$C/cardd.sock" \
		"account required $PAM_KAGI socket=$C/cardd.sock" \
		"password required $PAM_KAGI socket=$C/cardd.sock" \
		"session required $PAM_KAGI socket=$C/cardd.sock"
}

kk() {
	KN=$((KN + 1))
	KOUT=$OUT/cli.$KN
	SOFTHSM2_CONF=$D/hsm/softhsm2.conf "$KAGI_BIN/kagi" "$@" >"$KOUT" 2>&1 ||
		{ cat "$KOUT" >&2; lfail "kagi $* failed"; }
}

login_user() {
	local login=$1 no=$2
	kk person add "$no" --name "Staff $no" --employment regular
	kk --json user add "$login" --kind "${3:-personal}" --person "$no"
	TEMP=$(jq -er .temporary_password <"$KOUT") || lfail "no temporary password"
}

card_make() {
	local label=$1 login=$2 type=${3:-p256}
	"$KAGI_BIN/cardtoken" init "$label" "$CARD_PIN" || lfail "cardtoken init"
	"$KAGI_BIN/cardtoken" csr "$label" "$CARD_PIN" "$C/$label.csr" "$type" || lfail "cardtoken csr"
	kk ca issue --profile staff-logon --csr "$C/$label.csr" --for "$login" --out "$C/$label.crt"
	# the certificate really holds the token's key and chains to our CA
	openssl verify -CAfile "$D/tls/ca.crt" -untrusted "$D/tls/ca.crt" "$C/$label.crt" >/dev/null 2>&1 ||
		openssl x509 -in "$C/$label.crt" -noout >/dev/null || lfail "no certificate for $label"
	"$KAGI_BIN/cardtoken" write "$label" "$CARD_PIN" "$C/$label.crt" || lfail "cardtoken write"
	CARD_SERIAL=$(openssl x509 -in "$C/$label.crt" -noout -serial | sed 's/^serial=//')
}

cardd_up() {
	cardd_start "$C"
}

# audit_has ACTION: an audit record whose action contains ACTION exists
audit_has() {
	kk audit export
	grep -q "$1" "$KOUT" || lfail "no audit record for $1"
}
