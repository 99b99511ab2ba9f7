/*
 * client: the one way programs (kagi, later kagi-cardd) call kagid's JSON API:
 * over the local Unix socket ([client] socket) when it is configured and
 * present, else over HTTPS with the client certificate ([client] url, cert,
 * key, ca).  TLS 1.3 only; the server certificate must chain to [client] ca.
 */
#ifndef KAGI_CLIENT_H
#define KAGI_CLIENT_H

#include <jansson.h>

#include "kagi/conf.h"
#include "kagi/err.h"

struct kagi_client;

int kagi_client_open(const struct kagi_conf *conf,
    struct kagi_client **out) KAGI_WUR;
void kagi_client_free(struct kagi_client *c);
/*
 * Send "Kagi-Operator-Session: id" with every request: an operator who
 * logged in with their staff card on this counter terminal (kagi login;
 * docs/API.md "Operators at the counter").  id: 32 lowercase hex.
 */
int kagi_client_set_operator_session(struct kagi_client *c, const char *id)
    KAGI_WUR;
/* Where the client connects ("unix:/path" or "https://host:port"). */
const char *kagi_client_endpoint(const struct kagi_client *c);

/*
 * One request.  body may be NULL (no body).  On a 2xx answer returns 0 and
 * *resp is the parsed JSON value (a non-JSON body is returned as
 * {"text": "..."}).  On an API error returns the KAGI_ERR_* named by the
 * answer's "error" field and *resp is the error object ({"error", "message"}).
 * KAGI_ERR_UNAVAILABLE if kagid cannot be reached.  *resp may be NULL on
 * transport errors; *http_status is 0 then.
 */
int kagi_client_call(struct kagi_client *c, const char *method,
    const char *path, const json_t *body, json_t **resp,
    long *http_status) KAGI_WUR;
/* Like kagi_client_call but returns the raw body (for exports); free(). */
int kagi_client_call_raw(struct kagi_client *c, const char *method,
    const char *path, char **body, size_t *len, long *http_status) KAGI_WUR;

#endif
