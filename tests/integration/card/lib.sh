# Helpers for the real-stack card logins (source after
# tests/lib/pcscd.sh and pcscd_enter_ns "$@").  Reuses the terminal login
# helpers (tests/integration/login/lib.sh): kagid on loopback with a
# registered terminal, kagi-cardd, pam_kagi.so through pam_wrapper; here
# kagi-cardd reads the virtual CAC through OpenSC's opensc-pkcs11.so and a
# private pcscd.
#   card_stack_setup LOGIN    kagid, account LOGIN (person 2001), the virtual
#                             card for it (PIN $VCARD_PIN), pcscd; cardd not started
#   cardd_opensc_up           kagi-cardd with pkcs11_module = OpenSC's module
#   pam_bg OUT ARGS...        pam_run in the background (PAM_BG_PID), output in OUT
#   wait_for_line FILE RE S   wait up to S seconds for a line matching RE
. "$KAGI_SRC/tests/integration/login/lib.sh"
VCARD_PIN=${VCARD_PIN:-135790}

card_stack_setup() {
	local login=$1
	login_setup mynumber
	login_user "$login" 2001
	V=$LOGIN_TMP/vcard
	mkdir -p "$V"
	vcard_make "$V" "$VCARD_PIN" "$login"
	pcscd_start "$V"
}

cardd_opensc_up() {
	cardd_write_conf "$C" "https://127.0.0.1:$KAGID_PORT"
	sed -i -e "s|^pkcs11_module = .*|pkcs11_module = $OPENSC_PKCS11|" "$C/kagi.conf"
	grep -q "^pkcs11_module = $OPENSC_PKCS11\$" "$C/kagi.conf" || lfail "cardd config"
	cardd_start "$C"
}

PAM_BG_PID=
pam_bg() {
	local out=$1; shift
	pam_run "$@" >"$out" 2>&1 &
	PAM_BG_PID=$!
}

wait_for_line() {
	local file=$1 re=$2 secs=$3 i
	for i in $(seq $((secs * 10))); do
		grep -qE "$re" "$file" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# wait_pid_bounded PID SECS: the process ends within SECS (else killed, 1)
wait_pid_bounded() {
	local pid=$1 secs=$2 i
	for i in $(seq $((secs * 10))); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	return 1
}
