# The real PC/SC test stack (issue 6): a private pcscd with a vpcd reader
# and a virtual CAC card (libcacard behind tests/vcard/kagi-test-vcard).
# Source it after tests/lib/kagid.sh (it uses kagid_free_port and fail).
#   pcscd_enter_ns "$@"      first call in a test script: re-runs the script
#                            under `unshare -m` (root) or `unshare -rm` with /run
#                            bind-mounted onto a private directory; returns at
#                            once when already inside (PCSCD_NS=1)
#   pcscd_start DIR          a private pcscd (DIR/reader.conf: one vpcd reader on
#                            a free loopback port); exports PCSCLITE_CSOCK_NAME,
#                            VPCD_PORT, VPCD_READER; waits until the reader exists
#   vcard_make DIR PIN LOGIN an NSS database DIR/nss: RSA-2048 key, staff-logon
#                            certificate for LOGIN from the running kagid, our CA
#                            certificates; the NSS password is PIN.  Sets VCARD_DB
#                            (and VCARD_CERT: the certificate, PEM)
#   vcard_insert [--unsupported]  start the bridge; returns when pcscd sees the
#                            card present.  Sets VCARD_PID
#   vcard_remove             stop the bridge; returns when pcscd sees no card
#   pcscd_stop               stop the bridge and pcscd (also on EXIT)
# Never touches the system pcscd: pcscd_start refuses to run unless /run is
# the private directory.  The vpcd driver opens two slots (VPCD_PORT and
# VPCD_PORT+1); the card is always in the first, "$VPCD_READER".
: "${KAGI_BIN:?KAGI_BIN must point at the built programs}"
PCSCD_BIN=${PCSCD_BIN:-/usr/sbin/pcscd}
VPCD_DRIVER=${VPCD_DRIVER:-/usr/lib/pcsc/drivers/serial/libifdvpcd.so}
OPENSC_PKCS11=${OPENSC_PKCS11:-/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so}
VCARD_BIN=${VCARD_BIN:-$KAGI_BIN/../tests/vcard/kagi-test-vcard}
VCARD_NICK=kagi-card
# an ASan-built bridge: NSS and libcacard keep memory until exit (not ours)
_vcard() { ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" "$VCARD_BIN" "$@"; }
PCSCD_PID=
PCSCD_DIR=
VCARD_PID=
VCARD_DB=
VCARD_LOG=

_pcscd_fail() {
	if declare -F fail >/dev/null; then fail "$@"; fi
	echo "FAIL: $*" >&2
	exit 1
}

pcscd_enter_ns() {
	if [ "${PCSCD_NS:-}" = 1 ]; then return 0; fi
	local script=${BASH_SOURCE[${#BASH_SOURCE[@]}-1]}
	local priv rc=0 flags=-m
	[ "$(id -u)" = 0 ] || flags=-rm
	command -v unshare >/dev/null || _pcscd_fail "unshare (util-linux) is missing"
	[ -x "$PCSCD_BIN" ] || _pcscd_fail "pcscd is missing ($PCSCD_BIN; scripts/install-deps)"
	[ -f "$VPCD_DRIVER" ] || _pcscd_fail "vpcd driver is missing ($VPCD_DRIVER; vsmartcard-vpcd)"
	[ -x "$VCARD_BIN" ] || _pcscd_fail "no $VCARD_BIN (build the kagi_test_vcard target)"
	priv=$(mktemp -d "${TMPDIR:-/tmp}/kagi-pcscd-run.XXXXXX")
	chmod 0755 "$priv"
	# the private /run; PIDs of what we start go to $priv/.kagi-pid.N so
	# that the outer shell can stop them if the test dies without its trap
	PCSCD_NS=1 PCSCD_RUN=$priv unshare $flags --propagation private \
		bash -c 'mount --bind "$PCSCD_RUN" /run || exit 90; exec bash "$@"' \
		pcscd-ns "$script" "$@" &
	local child=$! f p
	# a CTest timeout (SIGTERM) reaches the inner script and its traps
	trap 'kill -TERM "$child" 2>/dev/null || true' TERM INT HUP
	while :; do
		rc=0
		wait "$child" || rc=$?
		kill -0 "$child" 2>/dev/null || break
	done
	trap - TERM INT HUP
	for f in "$priv"/.kagi-pid.*; do
		[ -f "$f" ] || continue
		p=${f##*.}
		case "$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" in
		*pcscd*|*kagi-test-vcard*) kill -KILL "$p" 2>/dev/null || true ;;
		esac
	done
	rm -rf "$priv"
	[ "$rc" != 90 ] || echo "FAIL: could not bind-mount a private /run" >&2
	exit "$rc"
}

_pcscd_cleanup() {
	pcscd_stop_quiet
	if [ -n "${_PCSCD_PREV_TRAP:-}" ]; then eval "$_PCSCD_PREV_TRAP"; fi
}

# Two consecutive free ports (vpcd listens on VPCD_PORT and VPCD_PORT+1).
_vpcd_ports() {
	local p
	for _ in $(seq 100); do
		p=$(kagid_free_port)
		if [ "$p" -lt 31999 ] && [ -z "$(ss -Htan "sport = :$((p + 1))" 2>/dev/null)" ]; then
			echo "$p"; return
		fi
	done
	_pcscd_fail "no two free ports for vpcd"
}

pcscd_start() {
	local dir=$1
	[ "${PCSCD_NS:-}" = 1 ] && [ -n "${PCSCD_RUN:-}" ] ||
		_pcscd_fail "pcscd_start outside pcscd_enter_ns (would use the system /run)"
	[ /run -ef "$PCSCD_RUN" ] || _pcscd_fail "/run is not the private directory $PCSCD_RUN"
	declare -F kagid_free_port >/dev/null || . "$KAGI_SRC/tests/lib/kagid.sh"
	PCSCD_DIR=$dir
	mkdir -p "$dir" /run/pcscd
	VPCD_PORT=$(_vpcd_ports)
	VPCD_READER="kagi-vpcd 00 00"
	cat >"$dir/reader.conf" <<CONF
FRIENDLYNAME "kagi-vpcd"
DEVICENAME /dev/null:$VPCD_PORT
LIBPATH $VPCD_DRIVER
CHANNELID $VPCD_PORT
CONF
	# pcscd itself always listens on /run/pcscd/pcscd.comm, here the private
	# directory; clients get its real path (usable outside the namespace too)
	export PCSCLITE_CSOCK_NAME=$PCSCD_RUN/pcscd/pcscd.comm
	export VPCD_PORT VPCD_READER
	# chain our cleanup before whatever EXIT trap the script already has
	if [ -z "${_PCSCD_TRAP_SET:-}" ]; then
		_PCSCD_PREV_TRAP=$(trap -p EXIT | sed -e "s/^trap -- '\(.*\)' EXIT\$/\1/")
		trap _pcscd_cleanup EXIT
		_PCSCD_TRAP_SET=1
	fi
	"$PCSCD_BIN" --foreground --config "$dir/reader.conf" ${PCSCD_DEBUG:+--debug --apdu} \
		>>"$dir/pcscd.log" 2>&1 &
	PCSCD_PID=$!
	: >"$PCSCD_RUN/.kagi-pid.$PCSCD_PID"
	_vcard --wait reader --reader "$VPCD_READER" --timeout-ms 10000 ||
		{ tail -n 20 "$dir/pcscd.log" >&2; _pcscd_fail "pcscd did not show the vpcd reader within 10 s"; }
	kill -0 "$PCSCD_PID" 2>/dev/null || _pcscd_fail "pcscd exited during start-up"
}

vcard_make() {
	local dir=$1 pin=$2 login=$3
	local nss=$dir/nss conf=${KAGI_CONFIG:-${KAGID_DIR:?vcard_make needs a running kagid}/kagi.conf}
	local n=${#pin}
	[ "$n" -ge 4 ] && [ "$n" -le 8 ] || _pcscd_fail "vcard_make: the PIN must have 4-8 characters"
	rm -rf "$nss"
	mkdir -p "$nss"
	(umask 077; printf '%s\n' "$pin" >"$dir/.pin"; head -c 64 /dev/urandom >"$dir/.noise")
	certutil -N -d "sql:$nss" -f "$dir/.pin" >/dev/null 2>&1 || _pcscd_fail "certutil -N"
	certutil -R -d "sql:$nss" -f "$dir/.pin" -z "$dir/.noise" -k rsa -g 2048 -Z SHA256 \
		-s "CN=$login" -o "$dir/card.csr.der" >/dev/null 2>&1 || _pcscd_fail "certutil -R (card key)"
	openssl req -inform DER -in "$dir/card.csr.der" -out "$dir/card.csr" 2>/dev/null ||
		_pcscd_fail "card CSR unreadable"
	KAGI_CONFIG=$conf SOFTHSM2_CONF=${KAGID_DIR:+$KAGID_DIR/hsm/softhsm2.conf} "$KAGI_BIN/kagi" \
		ca issue --profile staff-logon --csr "$dir/card.csr" --for "$login" \
		--out "$dir/card.crt" >"$dir/issue.out" 2>&1 ||
		{ cat "$dir/issue.out" >&2; _pcscd_fail "kagi ca issue (staff-logon for $login)"; }
	certutil -A -d "sql:$nss" -f "$dir/.pin" -n "$VCARD_NICK" -t ",," -a -i "$dir/card.crt" \
		>/dev/null 2>&1 || _pcscd_fail "certutil -A (card certificate)"
	# our CA certificates (the chain a verifier on the card side would want)
	local ca=${KAGID_DIR:+$KAGID_DIR/tls/ca.crt}
	if [ -n "$ca" ] && [ -f "$ca" ]; then
		local i=0 tmp=$dir/.ca
		mkdir -p "$tmp"
		awk -v d="$tmp" '/BEGIN CERT/{n++} {print > (d "/" n ".pem")}' "$ca"
		for f in "$tmp"/*.pem; do
			i=$((i + 1))
			certutil -A -d "sql:$nss" -f "$dir/.pin" -n "kagi-ca-$i" -t "CT,C,C" -a -i "$f" \
				>/dev/null 2>&1 || _pcscd_fail "certutil -A (CA certificate $i)"
		done
		rm -rf "$tmp"
	fi
	# the key is on the "card" and matches the certificate
	certutil -K -d "sql:$nss" -f "$dir/.pin" 2>/dev/null | grep -q "$VCARD_NICK" ||
		_pcscd_fail "vcard_make: the certificate is not bound to the card key"
	rm -f "$dir/.pin" "$dir/.noise"
	VCARD_DB=$nss
	VCARD_CERT=$dir/card.crt
	export VCARD_DB VCARD_CERT
}

vcard_insert() {
	local mode=${1:-}
	[ -n "${VPCD_PORT:-}" ] || _pcscd_fail "vcard_insert before pcscd_start"
	[ -z "$VCARD_PID" ] || _pcscd_fail "vcard_insert: a card is already inserted"
	VCARD_LOG=${PCSCD_DIR:-${TMPDIR:-/tmp}}/vcard.log
	# (not through _vcard: $! must be the bridge itself)
	local asan="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
	if [ "$mode" = --unsupported ]; then
		ASAN_OPTIONS=$asan "$VCARD_BIN" --port "$VPCD_PORT" --unsupported \
			>>"$VCARD_LOG" 2>&1 &
	else
		[ -n "$VCARD_DB" ] || _pcscd_fail "vcard_insert before vcard_make"
		ASAN_OPTIONS=$asan "$VCARD_BIN" --port "$VPCD_PORT" --db "$VCARD_DB" \
			--cert "$VCARD_NICK" >>"$VCARD_LOG" 2>&1 &
	fi
	VCARD_PID=$!
	export VCARD_PID
	: >"$PCSCD_RUN/.kagi-pid.$VCARD_PID"
	if ! _vcard --wait present --reader "$VPCD_READER" --timeout-ms 10000; then
		tail -n 20 "$VCARD_LOG" >&2
		_pcscd_fail "pcscd did not see the virtual card within 10 s"
	fi
	kill -0 "$VCARD_PID" 2>/dev/null || _pcscd_fail "the card bridge exited"
}

vcard_remove() {
	[ -n "$VCARD_PID" ] || return 0
	kill -TERM "$VCARD_PID" 2>/dev/null || true
	for _ in $(seq 50); do kill -0 "$VCARD_PID" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$VCARD_PID" 2>/dev/null || true
	wait "$VCARD_PID" 2>/dev/null || true
	rm -f "$PCSCD_RUN/.kagi-pid.$VCARD_PID"
	VCARD_PID=
	if [ -n "$PCSCD_PID" ]; then
		_vcard --wait absent --reader "$VPCD_READER" --timeout-ms 10000 ||
			_pcscd_fail "pcscd still sees the card 10 s after removal"
	fi
}

pcscd_stop_quiet() {
	if [ -n "$VCARD_PID" ]; then
		kill -TERM "$VCARD_PID" 2>/dev/null || true
		wait "$VCARD_PID" 2>/dev/null || true
		rm -f "$PCSCD_RUN/.kagi-pid.$VCARD_PID"
		VCARD_PID=
	fi
	if [ -n "$PCSCD_PID" ]; then
		kill -TERM "$PCSCD_PID" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$PCSCD_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$PCSCD_PID" 2>/dev/null || true
		wait "$PCSCD_PID" 2>/dev/null || true
		rm -f "$PCSCD_RUN/.kagi-pid.$PCSCD_PID"
		PCSCD_PID=
	fi
	return 0
}

pcscd_stop() {
	pcscd_stop_quiet
}
