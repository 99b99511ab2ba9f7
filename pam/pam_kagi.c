/*
 * pam_kagi.so: a thin client of kagi-cardd's socket (docs/PROTOCOL-cardd.md).
 *
 *   auth     AUTH: cardd drives the conversation (banner, "insert your staff
 *            card", PIN, "touch your security key", password); the RESULT is
 *            kept with pam_set_data for the other phases.
 *   account  PAM_NEW_AUTHTOK_REQD for a temporary password, the privileged
 *            window's end, else cardd's ACCT answer.
 *   password CHPW through cardd to kagid; every broken rule is shown.
 *   session  SESSION_OPEN / SESSION_CLOSE; the last-login lines (R-LOGIN-4).
 *
 * Fail closed: one switch maps every KAGI_ERR_* to a PAM failure code, and
 * no option turns an error into success.  Options: socket=PATH, debug.  An
 * unknown option is logged and the call refused (PAM_SERVICE_ERR).  Logs go
 * only through pam_syslog; secrets are never logged.  Only pam_sm_* are
 * exported (version script, -fvisibility=hidden).
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#define PAM_SM_AUTH
#define PAM_SM_ACCOUNT
#define PAM_SM_SESSION
#define PAM_SM_PASSWORD
#include <security/pam_appl.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "kagi/cardd.h"
#include "kagi/err.h"
#include "kagi/i18n.h"
#include "kagi/log.h"

#define KAGI_PAM_EXPORT __attribute__((visibility("default")))
#define DATA_RESULT "kagi_pam_result"
#define DATA_OLDPW "kagi_pam_oldpw"
#define CARDD_WAIT_MS (10 * 60 * 1000) /* the person may be slow */

struct opts {
	const char *socket;
	int debug;
};

/* What auth learnt, for account, password and session (pam_set_data). */
struct result {
	int code;
	int must_change;
	char session_id[CARDD_NAME_MAX + 1];
	int64_t session_end;
	int64_t last_login;
	char last_terminal[CARDD_NAME_MAX + 1];
	int64_t last_logout;
	uint32_t failed_since;
	int shown;     /* last-login lines shown already */
	int end_shown; /* the privileged session's end shown already */
};

/* ---- logging and translations ---- */

static __thread pam_handle_t *log_pamh;

static void
log_to_pam(int level, const char *file, int line, const char *func,
    const char *msg, void *arg)
{
	int pri = level == KAGI_LOG_ERR ? LOG_ERR : level == KAGI_LOG_WARN ?
	    LOG_WARNING : level == KAGI_LOG_INFO ? LOG_INFO : LOG_DEBUG;

	(void)file;
	(void)line;
	(void)func;
	(void)arg;
	if (log_pamh != NULL)
		pam_syslog(log_pamh, pri, "%s", msg);
}

static void
module_init(pam_handle_t *pamh)
{
	static int bound;
	const char *dir;

	log_pamh = pamh;
	kagi_log_set_handler(log_to_pam, NULL);
	if (!bound) {
		/* No setlocale here: the application owns the locale. */
		dir = secure_getenv("KAGI_LOCALEDIR");
		(void)bindtextdomain(KAGI_TEXTDOMAIN, dir != NULL &&
		    dir[0] == '/' ? dir : KAGI_LOCALEDIR);
		(void)bind_textdomain_codeset(KAGI_TEXTDOMAIN, "UTF-8");
		bound = 1;
	}
}

static int
parse_opts(pam_handle_t *pamh, int argc, const char **argv, struct opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	for (i = 0; i < argc; i++) {
		if (strncmp(argv[i], "socket=", 7) == 0 && argv[i][7] == '/')
			o->socket = argv[i] + 7;
		else if (strcmp(argv[i], "debug") == 0)
			o->debug = 1;
		else {
			/* Fail closed: a typo must not change behaviour. */
			pam_syslog(pamh, LOG_ERR, "unknown option \"%s\": "
			    "refusing", argv[i]);
			return PAM_SERVICE_ERR;
		}
	}
	return PAM_SUCCESS;
}

/*
 * The one mapping of kagi errors to PAM codes.  Only 0 gives PAM_SUCCESS;
 * phase says which family of codes the caller may return.
 */
enum phase { PH_AUTH, PH_ACCT, PH_PASSWD, PH_SESSION };

static int
pam_code(int err, enum phase ph)
{
	if (err == 0)
		return PAM_SUCCESS;
	switch (err) {
	case KAGI_ERR_UNAVAILABLE:
	case KAGI_ERR_TIMEOUT:
		return PAM_AUTHINFO_UNAVAIL;
	case KAGI_ERR_NOMEM:
		return PAM_BUF_ERR;
	case KAGI_ERR_LOCKED:
		return ph == PH_PASSWD ? PAM_AUTHTOK_ERR : PAM_MAXTRIES;
	case KAGI_ERR_EXPIRED:
		return ph == PH_ACCT ? PAM_ACCT_EXPIRED :
		    ph == PH_PASSWD ? PAM_AUTHTOK_ERR : PAM_CRED_EXPIRED;
	case KAGI_ERR_DENIED:
		return ph == PH_PASSWD ? PAM_AUTHTOK_ERR : PAM_PERM_DENIED;
	case KAGI_ERR_MUST_CHANGE:
		return ph == PH_ACCT ? PAM_NEW_AUTHTOK_REQD : PAM_AUTH_ERR;
	case KAGI_ERR_AUTH:
	case KAGI_ERR_PIN:
	case KAGI_ERR_SIG:
	case KAGI_ERR_REVOKED:
	case KAGI_ERR_NOT_FOUND:
	case KAGI_ERR_INVALID:
		return ph == PH_PASSWD ? PAM_AUTHTOK_ERR :
		    ph == PH_SESSION ? PAM_SESSION_ERR : PAM_AUTH_ERR;
	case KAGI_ERR_FORMAT:
	case KAGI_ERR_TRAILING:
	case KAGI_ERR_LIMIT:
	case KAGI_ERR_VERSION:
	case KAGI_ERR_CORRUPT:
	case KAGI_ERR_INTERNAL:
	case KAGI_ERR_SYSTEM:
	default:
		return ph == PH_SESSION ? PAM_SESSION_ERR : PAM_SYSTEM_ERR;
	}
}

/* ---- the conversation ---- */

static int
say(pam_handle_t *pamh, int style, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
say(pam_handle_t *pamh, int style, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = pam_vprompt(pamh, style, NULL, fmt, ap);
	va_end(ap);
	return r;
}

struct conv_ctx {
	pam_handle_t *pamh;
	char *password; /* the account password typed, for a forced change */
};

static int
conv_cb(uint8_t style, uint16_t prompt, const char *arg, char **answer,
    void *ctx)
{
	struct conv_ctx *cc = ctx;
	const char *text;
	char buf[512], *resp = NULL;
	int pstyle, r;

	*answer = NULL;
	if ((text = cardd_prompt_text(prompt, arg, buf, sizeof(buf))) == NULL)
		return -1;
	switch (style) {
	case CARDD_STYLE_ECHO_OFF:
		pstyle = PAM_PROMPT_ECHO_OFF;
		break;
	case CARDD_STYLE_ECHO_ON:
		pstyle = PAM_PROMPT_ECHO_ON;
		break;
	case CARDD_STYLE_INFO:
		return say(cc->pamh, PAM_TEXT_INFO, "%s", text) ==
		    PAM_SUCCESS ? 0 : -1;
	case CARDD_STYLE_ERROR:
		return say(cc->pamh, PAM_ERROR_MSG, "%s", text) ==
		    PAM_SUCCESS ? 0 : -1;
	default:
		return -1;
	}
	r = pam_prompt(cc->pamh, pstyle, &resp, "%s", text);
	if (r != PAM_SUCCESS || resp == NULL) {
		free(resp);
		return -1;
	}
	*answer = cardd_secret_dup(resp);
	if (prompt == CARDD_P_PASSWORD && *answer != NULL) {
		cardd_secret_free(cc->password);
		cc->password = cardd_secret_dup(resp);
	}
	explicit_bzero(resp, strlen(resp));
	free(resp);
	return *answer != NULL ? 0 : -1;
}

static void
cleanup_result(pam_handle_t *pamh, void *data, int err)
{
	(void)pamh;
	(void)err;
	if (data != NULL) {
		explicit_bzero(data, sizeof(struct result));
		free(data);
	}
}

static void
cleanup_secret(pam_handle_t *pamh, void *data, int err)
{
	(void)pamh;
	(void)err;
	cardd_secret_free(data);
}

static int
get_result(pam_handle_t *pamh, struct result **out)
{
	const void *d = NULL;

	*out = NULL;
	if (pam_get_data(pamh, DATA_RESULT, &d) != PAM_SUCCESS || d == NULL)
		return 0;
	*out = (struct result *)(uintptr_t)d;
	return 1;
}

static const char *
item_str(pam_handle_t *pamh, int item)
{
	const void *v = NULL;

	if (pam_get_item(pamh, item, &v) != PAM_SUCCESS || v == NULL)
		return "";
	return v;
}

/* Run one request against cardd; *res is cardd's RESULT. */
static int
run_request(pam_handle_t *pamh, const struct opts *o,
    const struct cardd_msg *req, struct conv_ctx *cc, struct cardd_msg *res)
{
	struct cardd_conn *c = NULL;
	int r;

	memset(res, 0, sizeof(*res));
	if ((r = cardd_conn_open(o->socket, &c)) != 0) {
		pam_syslog(pamh, LOG_ERR, "cannot reach kagi-cardd at %s: %s",
		    o->socket != NULL ? o->socket : CARDD_SOCKET_DEFAULT,
		    kagi_err_name(r));
		return r;
	}
	r = cardd_conn_request(c, req, conv_cb, cc, CARDD_WAIT_MS, res);
	cardd_conn_close(c);
	if (r != 0)
		pam_syslog(pamh, LOG_ERR, "kagi-cardd request failed: %s",
		    kagi_err_name(r));
	return r;
}

static void
fmt_time(int64_t t, char *buf, size_t len)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (localtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%S %Z", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)t);
}

/* R-PRIV-7: the person learns when the privileged window closes. */
static void
show_session_end(pam_handle_t *pamh, struct result *res)
{
	char t[64];

	if (res->session_end == 0 || res->end_shown)
		return;
	res->end_shown = 1;
	fmt_time(res->session_end, t, sizeof(t));
	(void)say(pamh, PAM_TEXT_INFO, _("This privileged session ends at "
	    "%s."), t);
}

static void
show_last_login(pam_handle_t *pamh, struct result *res)
{
	char t[64];

	if (res->shown)
		return;
	res->shown = 1;
	if (res->last_login != 0) {
		fmt_time(res->last_login, t, sizeof(t));
		if (res->last_terminal[0] != '\0')
			(void)say(pamh, PAM_TEXT_INFO, _("Last login: %s on "
			    "%s"), t, res->last_terminal);
		else
			(void)say(pamh, PAM_TEXT_INFO, _("Last login: %s"),
			    t);
	} else
		(void)say(pamh, PAM_TEXT_INFO, "%s",
		    _("This is your first login."));
	if (res->last_logout != 0) {
		fmt_time(res->last_logout, t, sizeof(t));
		(void)say(pamh, PAM_TEXT_INFO, _("Last logout: %s"), t);
	}
	if (res->failed_since > 0)
		(void)say(pamh, PAM_ERROR_MSG, _("There were %u failed login "
		    "attempts since your last login."),
		    (unsigned)res->failed_since);
	show_session_end(pamh, res);
}

/* ---- auth ---- */

KAGI_PAM_EXPORT int
pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc,
    const char **argv)
{
	struct opts o;
	struct cardd_msg req, res;
	struct conv_ctx cc;
	struct result *keep = NULL;
	const char *user = NULL;
	int r, pr;

	(void)flags;
	module_init(pamh);
	memset(&cc, 0, sizeof(cc));
	memset(&res, 0, sizeof(res));
	cc.pamh = pamh;
	if ((pr = parse_opts(pamh, argc, argv, &o)) != PAM_SUCCESS)
		return pr;
	/* A stale result from an earlier attempt must not survive. */
	(void)pam_set_data(pamh, DATA_RESULT, NULL, NULL);
	(void)pam_set_data(pamh, DATA_OLDPW, NULL, NULL);
	if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || user == NULL ||
	    user[0] == '\0' || strlen(user) > CARDD_NAME_MAX)
		return PAM_USER_UNKNOWN;
	memset(&req, 0, sizeof(req));
	req.type = CARDD_MSG_AUTH;
	req.user = (char *)(uintptr_t)user;
	req.service = (char *)(uintptr_t)item_str(pamh, PAM_SERVICE);
	if (req.service[0] == '\0')
		req.service = (char *)(uintptr_t)"unknown";
	req.tty = (char *)(uintptr_t)item_str(pamh, PAM_TTY);
	req.rhost = (char *)(uintptr_t)item_str(pamh, PAM_RHOST);
	if (strlen(req.service) > CARDD_NAME_MAX ||
	    strlen(req.tty) > CARDD_NAME_MAX ||
	    strlen(req.rhost) > CARDD_NAME_MAX) {
		pr = PAM_SERVICE_ERR;
		goto out;
	}
	if ((r = run_request(pamh, &o, &req, &cc, &res)) != 0) {
		pr = pam_code(r, PH_AUTH);
		goto out;
	}
	if (res.code != 0) {
		pam_syslog(pamh, LOG_NOTICE, "authentication failed for %s: %s",
		    user, kagi_err_name(res.code));
		if (res.code == KAGI_ERR_UNAVAILABLE)
			(void)say(pamh, PAM_ERROR_MSG, "%s", _("The "
			    "authentication server cannot be reached."));
		else if (res.code == KAGI_ERR_LOCKED)
			(void)say(pamh, PAM_ERROR_MSG, "%s", _("The account "
			    "or card is locked."));
		else if (res.code == KAGI_ERR_REVOKED)
			(void)say(pamh, PAM_ERROR_MSG, "%s", _("This card's "
			    "certificate is revoked or on hold."));
		pr = pam_code(res.code, PH_AUTH);
		goto out;
	}
	if ((keep = calloc(1, sizeof(*keep))) == NULL) {
		pr = PAM_BUF_ERR;
		goto out;
	}
	keep->code = 0;
	keep->must_change = res.must_change;
	snprintf(keep->session_id, sizeof(keep->session_id), "%s",
	    res.session_id != NULL ? res.session_id : "");
	keep->session_end = res.session_end;
	keep->last_login = res.last_login;
	snprintf(keep->last_terminal, sizeof(keep->last_terminal), "%s",
	    res.last_terminal != NULL ? res.last_terminal : "");
	keep->last_logout = res.last_logout;
	keep->failed_since = res.failed_since;
	if (pam_set_data(pamh, DATA_RESULT, keep, cleanup_result) !=
	    PAM_SUCCESS) {
		cleanup_result(pamh, keep, 0);
		pr = PAM_BUF_ERR;
		goto out;
	}
	if (keep->must_change && cc.password != NULL) {
		/* The temporary password is the old one for the change. */
		if (pam_set_data(pamh, DATA_OLDPW, cc.password,
		    cleanup_secret) == PAM_SUCCESS)
			cc.password = NULL;
	}
	pam_syslog(pamh, LOG_INFO, "authenticated %s%s", user,
	    keep->must_change ? " (password change required)" : "");
	pr = PAM_SUCCESS;
out:
	cardd_secret_free(cc.password);
	cardd_msg_clear(&res);
	log_pamh = NULL;
	return pr;
}

KAGI_PAM_EXPORT int
pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct result *res;

	(void)flags;
	(void)argc;
	(void)argv;
	/* kagi issues no credentials; success only after our own auth. */
	return get_result(pamh, &res) && res->code == 0 ? PAM_SUCCESS :
	    PAM_IGNORE;
}

/* ---- account ---- */

KAGI_PAM_EXPORT int
pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct opts o;
	struct cardd_msg req, res;
	struct conv_ctx cc;
	struct result *keep;
	const char *user = NULL;
	int r, pr;

	(void)flags;
	module_init(pamh);
	memset(&cc, 0, sizeof(cc));
	cc.pamh = pamh;
	if ((pr = parse_opts(pamh, argc, argv, &o)) != PAM_SUCCESS)
		goto done;
	if (get_result(pamh, &keep)) {
		if (keep->code != 0)
			pr = PAM_PERM_DENIED;
		else if (keep->must_change) {
			(void)say(pamh, PAM_ERROR_MSG, "%s", _("You must "
			    "change your password now."));
			pr = PAM_NEW_AUTHTOK_REQD;
		} else if (keep->session_end != 0 &&
		    keep->session_end <= (int64_t)time(NULL))
			pr = PAM_ACCT_EXPIRED;
		else {
			show_session_end(pamh, keep);
			pr = PAM_SUCCESS;
		}
		goto done;
	}
	if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || user == NULL ||
	    user[0] == '\0' || strlen(user) > CARDD_NAME_MAX) {
		pr = PAM_USER_UNKNOWN;
		goto done;
	}
	memset(&req, 0, sizeof(req));
	req.type = CARDD_MSG_ACCT;
	req.user = (char *)(uintptr_t)user;
	req.service = (char *)(uintptr_t)item_str(pamh, PAM_SERVICE);
	if (req.service[0] == '\0' || strlen(req.service) > CARDD_NAME_MAX)
		req.service = (char *)(uintptr_t)"unknown";
	if ((r = run_request(pamh, &o, &req, &cc, &res)) != 0) {
		pr = pam_code(r, PH_ACCT);
		goto done;
	}
	pr = pam_code(res.code, PH_ACCT);
	if (res.code == 0 && res.must_change)
		pr = PAM_NEW_AUTHTOK_REQD;
	cardd_msg_clear(&res);
done:
	log_pamh = NULL;
	return pr;
}

/* ---- password ---- */

static int
get_old_password(pam_handle_t *pamh, char **out)
{
	const void *v = NULL;
	char *resp = NULL;

	*out = NULL;
	if (pam_get_data(pamh, DATA_OLDPW, &v) == PAM_SUCCESS && v != NULL) {
		*out = cardd_secret_dup(v);
		return *out != NULL ? PAM_SUCCESS : PAM_BUF_ERR;
	}
	if (pam_get_item(pamh, PAM_OLDAUTHTOK, &v) == PAM_SUCCESS &&
	    v != NULL) {
		*out = cardd_secret_dup(v);
		return *out != NULL ? PAM_SUCCESS : PAM_BUF_ERR;
	}
	if (pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, &resp, "%s",
	    _("Current password: ")) != PAM_SUCCESS || resp == NULL) {
		free(resp);
		return PAM_AUTHTOK_RECOVERY_ERR;
	}
	*out = cardd_secret_dup(resp);
	(void)pam_set_item(pamh, PAM_OLDAUTHTOK, resp);
	explicit_bzero(resp, strlen(resp));
	free(resp);
	return *out != NULL ? PAM_SUCCESS : PAM_BUF_ERR;
}

KAGI_PAM_EXPORT int
pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct opts o;
	struct cardd_msg req, res;
	struct conv_ctx cc;
	struct cardd_conn *c = NULL;
	struct result *keep = NULL;
	const char *user = NULL, *newpw = NULL;
	char *oldpw = NULL;
	size_t i;
	int r, pr;

	module_init(pamh);
	memset(&cc, 0, sizeof(cc));
	memset(&res, 0, sizeof(res));
	cc.pamh = pamh;
	if ((pr = parse_opts(pamh, argc, argv, &o)) != PAM_SUCCESS)
		goto out;
	if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || user == NULL ||
	    user[0] == '\0' || strlen(user) > CARDD_NAME_MAX) {
		pr = PAM_USER_UNKNOWN;
		goto out;
	}
	if (flags & PAM_PRELIM_CHECK) {
		/* Is the service there?  Then get the old password. */
		if ((r = cardd_conn_open(o.socket, &c)) != 0) {
			pr = PAM_TRY_AGAIN;
			goto out;
		}
		cardd_conn_close(c);
		pr = get_old_password(pamh, &oldpw);
		goto out;
	}
	if (!(flags & PAM_UPDATE_AUTHTOK)) {
		pr = PAM_SERVICE_ERR;
		goto out;
	}
	if ((pr = get_old_password(pamh, &oldpw)) != PAM_SUCCESS)
		goto out;
	if ((pr = pam_get_authtok(pamh, PAM_AUTHTOK, &newpw, NULL)) !=
	    PAM_SUCCESS || newpw == NULL) {
		if (pr == PAM_SUCCESS)
			pr = PAM_AUTHTOK_ERR;
		goto out;
	}
	memset(&req, 0, sizeof(req));
	req.type = CARDD_MSG_CHPW;
	req.user = (char *)(uintptr_t)user;
	req.service = (char *)(uintptr_t)item_str(pamh, PAM_SERVICE);
	if (req.service[0] == '\0' || strlen(req.service) > CARDD_NAME_MAX)
		req.service = (char *)(uintptr_t)"unknown";
	req.old_pw = oldpw;
	req.new_pw = (char *)(uintptr_t)newpw;
	if (strlen(oldpw) > CARDD_SECRET_MAX || strlen(newpw) >
	    CARDD_SECRET_MAX) {
		pr = PAM_AUTHTOK_ERR;
		goto out;
	}
	r = run_request(pamh, &o, &req, &cc, &res);
	if (r != 0) {
		pr = pam_code(r, PH_PASSWD);
		goto out;
	}
	if (res.code != 0) {
		for (i = 0; i < res.nrules; i++)
			(void)say(pamh, PAM_ERROR_MSG, "%s",
			    res.rules[i].message[0] != '\0' ?
			    res.rules[i].message : res.rules[i].rule);
		if (res.nrules == 0)
			(void)say(pamh, PAM_ERROR_MSG, "%s", _("The password "
			    "was not changed."));
		pam_syslog(pamh, LOG_NOTICE, "password change refused for "
		    "%s: %s (%zu rules)", user, kagi_err_name(res.code),
		    res.nrules);
		pr = res.code == KAGI_ERR_UNAVAILABLE ? PAM_AUTHINFO_UNAVAIL :
		    PAM_AUTHTOK_ERR;
		goto out;
	}
	if (get_result(pamh, &keep))
		keep->must_change = 0;
	(void)pam_set_data(pamh, DATA_OLDPW, NULL, NULL);
	(void)say(pamh, PAM_TEXT_INFO, "%s", _("Your password was changed."));
	pam_syslog(pamh, LOG_INFO, "password changed for %s", user);
	pr = PAM_SUCCESS;
out:
	cardd_secret_free(oldpw);
	cardd_msg_clear(&res);
	log_pamh = NULL;
	return pr;
}

/* ---- session ---- */

/* A logind session id as systemd makes them: 1..64 of [0-9A-Za-z_-]. */
static int
logind_id_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' &&
		    s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

static int
session_call(pam_handle_t *pamh, int argc, const char **argv, uint8_t type)
{
	struct opts o;
	struct cardd_msg req, res;
	struct conv_ctx cc;
	struct result *keep = NULL;
	const char *user = NULL;
	int r, pr;

	module_init(pamh);
	memset(&cc, 0, sizeof(cc));
	memset(&res, 0, sizeof(res));
	cc.pamh = pamh;
	if ((pr = parse_opts(pamh, argc, argv, &o)) != PAM_SUCCESS)
		goto out;
	if (!get_result(pamh, &keep) || keep->session_id[0] == '\0') {
		/* Another module authenticated: not a kagi session. */
		pr = PAM_IGNORE;
		goto out;
	}
	if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || user == NULL ||
	    user[0] == '\0' || strlen(user) > CARDD_NAME_MAX) {
		pr = PAM_SESSION_ERR;
		goto out;
	}
	memset(&req, 0, sizeof(req));
	req.type = type;
	req.user = (char *)(uintptr_t)user;
	req.service = (char *)(uintptr_t)item_str(pamh, PAM_SERVICE);
	if (req.service[0] == '\0' || strlen(req.service) > CARDD_NAME_MAX)
		req.service = (char *)(uintptr_t)"unknown";
	req.tty = (char *)(uintptr_t)item_str(pamh, PAM_TTY);
	if (strlen(req.tty) > CARDD_NAME_MAX)
		req.tty = (char *)(uintptr_t)"";
	req.session_id = keep->session_id;
	/* systemd-logind's session (pam_systemd, earlier in the session
	 * stack): the one kagi-cardd locks when the card is pulled out */
	req.logind = (char *)(uintptr_t)pam_getenv(pamh, "XDG_SESSION_ID");
	if (req.logind == NULL || !logind_id_ok(req.logind))
		req.logind = (char *)(uintptr_t)"";
	if ((r = run_request(pamh, &o, &req, &cc, &res)) != 0) {
		pr = PAM_SESSION_ERR;
		goto out;
	}
	if (res.code != 0) {
		pam_syslog(pamh, LOG_ERR, "session %s for %s: %s",
		    type == CARDD_MSG_SESSION_OPEN ? "open" : "close", user,
		    kagi_err_name(res.code));
		pr = PAM_SESSION_ERR;
		goto out;
	}
	if (type == CARDD_MSG_SESSION_OPEN)
		show_last_login(pamh, keep);
	pr = PAM_SUCCESS;
out:
	cardd_msg_clear(&res);
	log_pamh = NULL;
	return pr;
}

KAGI_PAM_EXPORT int
pam_sm_open_session(pam_handle_t *pamh, int flags, int argc,
    const char **argv)
{
	(void)flags;
	return session_call(pamh, argc, argv, CARDD_MSG_SESSION_OPEN);
}

KAGI_PAM_EXPORT int
pam_sm_close_session(pam_handle_t *pamh, int flags, int argc,
    const char **argv)
{
	(void)flags;
	return session_call(pamh, argc, argv, CARDD_MSG_SESSION_CLOSE);
}
