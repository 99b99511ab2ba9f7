/*
 * pam_driver: run a PAM stack with a scripted conversation, as a login
 * program would, and print what the person would see and what PAM
 * answered.  Used under pam_wrapper (LD_PRELOAD=libpam_wrapper.so,
 * PAM_WRAPPER=1, PAM_WRAPPER_SERVICE_DIR=private pam.d), so nothing under
 * /etc is read.
 *
 *   pam_driver [-a ANSWER]... [-s auth,acct,chauthtok,open,close] \
 *       [-t TTY] [-r RHOST] SERVICE USER
 *
 * Every echo-off/echo-on prompt takes the next -a ANSWER; with none left
 * the conversation fails (PAM_CONV_ERR), as a closed terminal would.
 * Output lines: "prompt: TEXT", "info: TEXT", "error: TEXT",
 * "STEP=PAM_CODE".  Exit status: 0 when every step returned PAM_SUCCESS,
 * else 1.  acct answering PAM_NEW_AUTHTOK_REQD goes on to the next step.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <security/pam_appl.h>

#define MAX_ANSWERS 32

static const char *answers[MAX_ANSWERS];
static int nanswers, next_answer;

static const char *
code_name(int c)
{
	switch (c) {
#define N(x) case x: return #x;
	N(PAM_SUCCESS) N(PAM_OPEN_ERR) N(PAM_SYMBOL_ERR) N(PAM_SERVICE_ERR)
	N(PAM_SYSTEM_ERR) N(PAM_BUF_ERR) N(PAM_PERM_DENIED) N(PAM_AUTH_ERR)
	N(PAM_CRED_INSUFFICIENT) N(PAM_AUTHINFO_UNAVAIL) N(PAM_USER_UNKNOWN)
	N(PAM_MAXTRIES) N(PAM_NEW_AUTHTOK_REQD) N(PAM_ACCT_EXPIRED)
	N(PAM_SESSION_ERR) N(PAM_CRED_UNAVAIL) N(PAM_CRED_EXPIRED)
	N(PAM_CRED_ERR) N(PAM_CONV_ERR) N(PAM_AUTHTOK_ERR)
	N(PAM_AUTHTOK_RECOVERY_ERR) N(PAM_AUTHTOK_LOCK_BUSY)
	N(PAM_AUTHTOK_DISABLE_AGING) N(PAM_TRY_AGAIN) N(PAM_IGNORE)
	N(PAM_ABORT) N(PAM_AUTHTOK_EXPIRED) N(PAM_MODULE_UNKNOWN)
	N(PAM_BAD_ITEM) N(PAM_CONV_AGAIN) N(PAM_INCOMPLETE)
#undef N
	default:
		return "PAM_UNKNOWN_CODE";
	}
}

static int
conv(int n, const struct pam_message **msg, struct pam_response **resp,
    void *arg)
{
	struct pam_response *r;
	int i;

	(void)arg;
	if (n <= 0 || n > PAM_MAX_NUM_MSG)
		return PAM_CONV_ERR;
	if ((r = calloc((size_t)n, sizeof(*r))) == NULL)
		return PAM_BUF_ERR;
	for (i = 0; i < n; i++) {
		switch (msg[i]->msg_style) {
		case PAM_PROMPT_ECHO_OFF:
		case PAM_PROMPT_ECHO_ON:
			printf("prompt: %s\n", msg[i]->msg);
			fflush(stdout);
			if (next_answer >= nanswers) {
				printf("(no answer left)\n");
				goto fail;
			}
			if ((r[i].resp = strdup(answers[next_answer++])) ==
			    NULL)
				goto fail;
			break;
		case PAM_TEXT_INFO:
			printf("info: %s\n", msg[i]->msg);
			break;
		case PAM_ERROR_MSG:
			printf("error: %s\n", msg[i]->msg);
			break;
		default:
			goto fail;
		}
	}
	fflush(stdout);
	*resp = r;
	return PAM_SUCCESS;
fail:
	for (i = 0; i < n; i++)
		free(r[i].resp);
	free(r);
	return PAM_CONV_ERR;
}

int
main(int argc, char **argv)
{
	struct pam_conv pc = { conv, NULL };
	pam_handle_t *pamh = NULL;
	const char *steps = "auth", *tty = NULL, *rhost = NULL;
	char *list, *step, *save = NULL;
	int c, rc = PAM_SUCCESS, ok = 1, all = 1, opened = 0;

	while ((c = getopt(argc, argv, "a:s:t:r:")) != -1) {
		switch (c) {
		case 'a':
			if (nanswers >= MAX_ANSWERS)
				return 2;
			answers[nanswers++] = optarg;
			break;
		case 's':
			steps = optarg;
			break;
		case 't':
			tty = optarg;
			break;
		case 'r':
			rhost = optarg;
			break;
		default:
			fprintf(stderr, "usage: pam_driver [-a ANSWER]... "
			    "[-s STEPS] [-t TTY] [-r RHOST] SERVICE USER\n");
			return 2;
		}
	}
	if (argc - optind != 2)
		return 2;
	if ((rc = pam_start(argv[optind], argv[optind + 1], &pc, &pamh)) !=
	    PAM_SUCCESS) {
		printf("start=%s\n", code_name(rc));
		return 1;
	}
	if (tty != NULL)
		(void)pam_set_item(pamh, PAM_TTY, tty);
	if (rhost != NULL)
		(void)pam_set_item(pamh, PAM_RHOST, rhost);
	if ((list = strdup(steps)) == NULL)
		return 1;
	for (step = strtok_r(list, ",", &save); step != NULL && ok;
	    step = strtok_r(NULL, ",", &save)) {
		if (strcmp(step, "auth") == 0)
			rc = pam_authenticate(pamh, 0);
		else if (strcmp(step, "setcred") == 0)
			rc = pam_setcred(pamh, PAM_ESTABLISH_CRED);
		else if (strcmp(step, "acct") == 0)
			rc = pam_acct_mgmt(pamh, 0);
		else if (strcmp(step, "chauthtok") == 0)
			rc = pam_chauthtok(pamh, PAM_CHANGE_EXPIRED_AUTHTOK);
		else if (strcmp(step, "open") == 0) {
			rc = pam_open_session(pamh, 0);
			opened = rc == PAM_SUCCESS;
		} else if (strcmp(step, "close") == 0)
			rc = pam_close_session(pamh, 0);
		else {
			fprintf(stderr, "unknown step %s\n", step);
			rc = PAM_SYSTEM_ERR;
		}
		printf("%s=%s\n", step, code_name(rc));
		fflush(stdout);
		if (rc != PAM_SUCCESS && !(strcmp(step, "acct") == 0 &&
		    rc == PAM_NEW_AUTHTOK_REQD))
			ok = 0;
		if (rc != PAM_SUCCESS)
			all = 0;
	}
	(void)opened;
	free(list);
	pam_end(pamh, rc);
	return all ? 0 : 1;
}
