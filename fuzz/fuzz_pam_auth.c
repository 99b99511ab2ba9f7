/*
 * libFuzzer: pam_sm_authenticate (and the account step) with a scripted
 * conversation against a fake kagi-cardd that answers with the fuzz input
 * (raw frames: prompts, results, garbage).  libpam itself is replaced by
 * the few functions pam_kagi.so calls (as pam-u2f's fuzz/wrap.c does); the
 * module's code is the real one (#included).  Invariant: PAM_SUCCESS only
 * when the input held a well-formed RESULT with code 0.
 * Seeds: fuzz/corpus/pam_auth/.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "../pam/pam_kagi.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- a minimal libpam ---- */
struct pam_handle {
	struct { const char *name; void *data;
	    void (*cleanup)(pam_handle_t *, void *, int); } d[8];
	const void *oldtok;
};

int
pam_get_user(pam_handle_t *pamh, const char **user, const char *prompt)
{
	(void)pamh;
	(void)prompt;
	*user = "alice";
	return PAM_SUCCESS;
}

int
pam_get_item(const pam_handle_t *pamh, int type, const void **item)
{
	*item = type == PAM_SERVICE ? "login" : type == PAM_TTY ? "tty1" :
	    type == PAM_OLDAUTHTOK ? pamh->oldtok : NULL;
	return PAM_SUCCESS;
}

int
pam_set_item(pam_handle_t *pamh, int type, const void *item)
{
	(void)pamh;
	(void)type;
	(void)item;
	return PAM_SUCCESS;
}

int
pam_get_data(const pam_handle_t *pamh, const char *name, const void **data)
{
	for (int i = 0; i < 8; i++)
		if (pamh->d[i].name != NULL && strcmp(pamh->d[i].name,
		    name) == 0 && pamh->d[i].data != NULL) {
			*data = pamh->d[i].data;
			return PAM_SUCCESS;
		}
	return PAM_NO_MODULE_DATA;
}

int
pam_set_data(pam_handle_t *pamh, const char *name, void *data,
    void (*cleanup)(pam_handle_t *, void *, int))
{
	int i, free_slot = -1;

	for (i = 0; i < 8; i++) {
		if (pamh->d[i].name != NULL && strcmp(pamh->d[i].name,
		    name) == 0) {
			if (pamh->d[i].cleanup != NULL)
				pamh->d[i].cleanup(pamh, pamh->d[i].data, 0);
			pamh->d[i].data = data;
			pamh->d[i].cleanup = cleanup;
			return PAM_SUCCESS;
		}
		if (pamh->d[i].name == NULL && free_slot < 0)
			free_slot = i;
	}
	if (free_slot < 0)
		return PAM_BUF_ERR;
	pamh->d[free_slot].name = name;
	pamh->d[free_slot].data = data;
	pamh->d[free_slot].cleanup = cleanup;
	return PAM_SUCCESS;
}

void
pam_syslog(const pam_handle_t *pamh, int priority, const char *fmt, ...)
{
	(void)pamh;
	(void)priority;
	(void)fmt;
}

int
pam_vprompt(pam_handle_t *pamh, int style, char **response, const char *fmt,
    va_list args)
{
	char buf[512];

	(void)pamh;
	vsnprintf(buf, sizeof(buf), fmt, args);
	if (response != NULL)
		*response = NULL;
	if (style == PAM_PROMPT_ECHO_OFF || style == PAM_PROMPT_ECHO_ON) {
		if (response == NULL)
			return PAM_CONV_ERR;
		*response = strdup("246810");
		return *response != NULL ? PAM_SUCCESS : PAM_BUF_ERR;
	}
	return PAM_SUCCESS;
}

int
pam_prompt(pam_handle_t *pamh, int style, char **response, const char *fmt,
    ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = pam_vprompt(pamh, style, response, fmt, ap);
	va_end(ap);
	return r;
}

int
pam_get_authtok(pam_handle_t *pamh, int item, const char **authtok,
    const char *prompt)
{
	(void)pamh;
	(void)item;
	(void)prompt;
	*authtok = "new-password-1";
	return PAM_SUCCESS;
}

/* ---- the fake cardd ---- */
static char sock_path[108];
static int listen_fd = -1;

struct feed {
	const uint8_t *data;
	size_t size;
};

static void *
serve(void *arg)
{
	struct feed *f = arg;
	char buf[4096];
	int fd = accept(listen_fd, NULL, NULL);

	if (fd < 0)
		return NULL;
	(void)recv(fd, buf, sizeof(buf), 0); /* the request */
	(void)send(fd, f->data, f->size, MSG_NOSIGNAL);
	(void)shutdown(fd, SHUT_WR);
	while (recv(fd, buf, sizeof(buf), 0) > 0)
		;
	close(fd);
	return NULL;
}

static void
setup(void)
{
	struct sockaddr_un sa;

	if (listen_fd >= 0)
		return;
	snprintf(sock_path, sizeof(sock_path), "/tmp/kagi-fuzz-pam.%ld.sock",
	    (long)getpid());
	(void)unlink(sock_path);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa,
	    sizeof(sa)) != 0 || listen(listen_fd, 4) != 0)
		abort();
}

/* Does the input start with frames ending in a RESULT with code 0? */
static int
has_ok_result(const uint8_t *p, size_t n)
{
	while (n >= 4) {
		size_t len = (size_t)p[0] << 24 | (size_t)p[1] << 16 |
		    (size_t)p[2] << 8 | p[3];
		struct cardd_msg m;
		int ok;

		if (len == 0 || len > CARDD_FRAME_MAX || len > n - 4)
			return 0;
		if (cardd_msg_parse(p + 4, len, &m) != 0)
			return 0;
		ok = m.type == CARDD_MSG_RESULT ? (m.code == 0 ? 1 : -1) : 0;
		cardd_msg_clear(&m);
		if (ok != 0)
			return ok > 0;
		p += 4 + len;
		n -= 4 + len;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pam_handle h;
	struct feed f = { data, size };
	pthread_t t;
	char opt[140];
	const char *argv[1];
	int r, i;

	if (size > 2 * CARDD_FRAME_MAX)
		return 0;
	setup();
	memset(&h, 0, sizeof(h));
	snprintf(opt, sizeof(opt), "socket=%s", sock_path);
	argv[0] = opt;
	if (pthread_create(&t, NULL, serve, &f) != 0)
		abort();
	r = pam_sm_authenticate(&h, 0, 1, argv);
	pthread_join(t, NULL);
	if (r == PAM_SUCCESS && !has_ok_result(data, size))
		abort(); /* success without cardd saying so */
	if (r == PAM_SUCCESS)
		(void)pam_sm_acct_mgmt(&h, 0, 1, argv);
	for (i = 0; i < 8; i++)
		if (h.d[i].cleanup != NULL)
			h.d[i].cleanup(&h, h.d[i].data, 0);
	return 0;
}
