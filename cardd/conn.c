/*
 * The client side of cardd's socket (include/kagi/cardd.h): connect, send
 * one request, relay cardd's prompts to the caller's conversation function
 * until the RESULT.  Used by pam_kagi.so and kagi; links only kagi_common.
 * A peer that sends anything but PROMPT or RESULT here is a protocol error:
 * the connection is dropped and the caller fails closed.
 */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "kagi/cardd.h"
#include "kagi/i18n.h"
#include "kagi/secmem.h"

struct cardd_conn {
	int fd;
};

int
cardd_conn_open(const char *socket_path, struct cardd_conn **out)
{
	struct sockaddr_un sa;
	struct cardd_conn *c = NULL;
	int fd = -1, r = KAGI_ERR_INTERNAL;

	if (out == NULL)
		return KAGI_ERR_INVALID;
	*out = NULL;
	if (socket_path == NULL)
		socket_path = CARDD_SOCKET_DEFAULT;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (socket_path[0] == '\0' ||
	    strlen(socket_path) >= sizeof(sa.sun_path))
		return KAGI_ERR_INVALID;
	memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return KAGI_ERR_SYSTEM;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		r = errno == ENOENT || errno == ECONNREFUSED ||
		    errno == EACCES || errno == ENOTDIR ?
		    KAGI_ERR_UNAVAILABLE : KAGI_ERR_SYSTEM;
		goto out;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		r = KAGI_ERR_NOMEM;
		goto out;
	}
	c->fd = fd;
	fd = -1;
	*out = c;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	return r;
}

void
cardd_conn_close(struct cardd_conn *c)
{
	if (c == NULL)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

int
cardd_conn_fd(const struct cardd_conn *c)
{
	return c != NULL ? c->fd : -1;
}

int
cardd_conn_request(struct cardd_conn *c, const struct cardd_msg *req,
    cardd_conv_fn *conv, void *ctx, int timeout_ms, struct cardd_msg *result)
{
	struct cardd_msg in, ans;
	char *answer = NULL;
	int r = KAGI_ERR_INTERNAL, cr;
	unsigned prompts = 0;

	if (result == NULL)
		return KAGI_ERR_INVALID;
	memset(result, 0, sizeof(*result));
	memset(&in, 0, sizeof(in));
	memset(&ans, 0, sizeof(ans));
	if (c == NULL || req == NULL || conv == NULL ||
	    !cardd_msg_from_client(req->type) ||
	    req->type == CARDD_MSG_ANSWER)
		return KAGI_ERR_INVALID;
	if ((r = cardd_msg_send(c->fd, req, timeout_ms)) != 0)
		goto out;
	for (;;) {
		cardd_msg_clear(&in);
		if ((r = cardd_msg_recv(c->fd, &in, timeout_ms)) != 0)
			goto out;
		if (in.type == CARDD_MSG_RESULT)
			break;
		if (in.type != CARDD_MSG_PROMPT || ++prompts > 64) {
			r = KAGI_ERR_FORMAT;
			goto out;
		}
		answer = NULL;
		cr = conv(in.style, in.prompt, in.text != NULL ? in.text : "",
		    &answer, ctx);
		if (in.style != CARDD_STYLE_ECHO_OFF &&
		    in.style != CARDD_STYLE_ECHO_ON) {
			kagi_secure_strfree(answer);
			answer = NULL;
			continue;
		}
		memset(&ans, 0, sizeof(ans));
		ans.type = CARDD_MSG_ANSWER;
		ans.answered = (cr == 0 && answer != NULL) ? 1 : 0;
		ans.response = ans.answered ? answer : NULL;
		r = cardd_msg_send(c->fd, &ans, timeout_ms);
		kagi_secure_strfree(answer);
		answer = NULL;
		if (r != 0)
			goto out;
	}
	*result = in;
	memset(&in, 0, sizeof(in));
	r = 0;
out:
	cardd_msg_clear(&in);
	return r;
}

/*
 * The counter requests: the loop of cardd_conn_request, and at most one CARD
 * or CSR message (the reply's data) before the RESULT.
 */
int
cardd_conn_counter(struct cardd_conn *c, const struct cardd_msg *req,
    cardd_conv_fn *conv, void *ctx, int timeout_ms, struct cardd_msg *data,
    struct cardd_msg *result)
{
	struct cardd_msg in, ans;
	char *answer = NULL;
	int r = KAGI_ERR_INTERNAL, cr;
	unsigned prompts = 0;

	if (result == NULL || data == NULL)
		return KAGI_ERR_INVALID;
	memset(result, 0, sizeof(*result));
	memset(data, 0, sizeof(*data));
	memset(&in, 0, sizeof(in));
	if (c == NULL || req == NULL || conv == NULL ||
	    req->type < CARDD_MSG_CARD_INFO ||
	    req->type > CARDD_MSG_PIN_UNBLOCK)
		return KAGI_ERR_INVALID;
	if ((r = cardd_msg_send(c->fd, req, timeout_ms)) != 0)
		goto out;
	for (;;) {
		cardd_msg_clear(&in);
		if ((r = cardd_msg_recv(c->fd, &in, timeout_ms)) != 0)
			goto out;
		if (in.type == CARDD_MSG_RESULT)
			break;
		if ((in.type == CARDD_MSG_CARD || in.type == CARDD_MSG_CSR) &&
		    data->type == 0) {
			*data = in;
			memset(&in, 0, sizeof(in));
			continue;
		}
		if (in.type != CARDD_MSG_PROMPT || ++prompts > 64) {
			r = KAGI_ERR_FORMAT;
			goto out;
		}
		answer = NULL;
		cr = conv(in.style, in.prompt, in.text != NULL ? in.text : "",
		    &answer, ctx);
		if (in.style != CARDD_STYLE_ECHO_OFF &&
		    in.style != CARDD_STYLE_ECHO_ON) {
			kagi_secure_strfree(answer);
			answer = NULL;
			continue;
		}
		memset(&ans, 0, sizeof(ans));
		ans.type = CARDD_MSG_ANSWER;
		ans.answered = (cr == 0 && answer != NULL) ? 1 : 0;
		ans.response = ans.answered ? answer : NULL;
		r = cardd_msg_send(c->fd, &ans, timeout_ms);
		kagi_secure_strfree(answer);
		answer = NULL;
		if (r != 0)
			goto out;
	}
	*result = in;
	memset(&in, 0, sizeof(in));
	r = 0;
out:
	cardd_msg_clear(&in);
	if (r != 0)
		cardd_msg_clear(data);
	return r;
}

char *
cardd_secret_dup(const char *s)
{
	return s != NULL ? kagi_secure_strdup(s) : NULL;
}

void
cardd_secret_free(char *s)
{
	kagi_secure_strfree(s);
}

const char *
cardd_prompt_text(uint16_t id, const char *arg, char *buf, size_t len)
{
	switch (id) {
	case CARDD_P_TEXT:
		return arg;
	case CARDD_P_INSERT_CARD:
		snprintf(buf, len, _("Insert your staff card (waiting %s "
		    "seconds)."), arg);
		return buf;
	case CARDD_P_PIN:
		return _("Card PIN: ");
	case CARDD_P_WRONG_PIN:
		if (strcmp(arg, "final") == 0)
			return _("Wrong PIN. One try left before the card "
			    "is blocked.");
		if (strcmp(arg, "low") == 0)
			return _("Wrong PIN. Few tries are left.");
		return _("Wrong PIN.");
	case CARDD_P_PIN_BLOCKED:
		return _("The card's PIN is blocked. Ask the IT counter to "
		    "unblock it.");
	case CARDD_P_TOUCH_KEY:
		return _("Touch your security key.");
	case CARDD_P_FIDO_PIN:
		return _("Security key PIN: ");
	case CARDD_P_PASSWORD:
		return _("Password: ");
	case CARDD_P_NO_CARD:
		return _("No staff card was found.");
	case CARDD_P_CARD_READ:
		snprintf(buf, len, _("Card \"%s\" found."), arg);
		return buf;
	case CARDD_P_MEMBER:
		/* R-ID-7: who uses the shared account, with their own card */
		return _("Your personal login: ");
	default:
		return NULL;
	}
}
