/*
 * Group commit of issuances (docs/ARCHITECTURE.md "Group commit").
 *
 * A handler records its change as a member of the store's pending batch
 * (store_batch_join, then store_txn_commit of the member), then hands its
 * answer to kagid_gc_defer.  Answers wait here until the batch itself is
 * committed and synced: by the flush timer (zero timeout or the configured
 * window, [ca] group_commit_ms), by any other writer (store_txn_begin(write)
 * commits the batch first), or at shutdown.  The store calls gc_on_commit
 * with the result: 0 sends every waiting answer; an error replaces every one
 * of them by an error answer, because a failed batch recorded none of them.
 * So no request is answered OK before its record is durable.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "kagi/i18n.h"
#include "kagi/log.h"
#include "kagi/store.h"
#include "server_int.h"

/* an API error detail (kagi translates it; po/parts/groupcommit.po) */
static const char lost_detail[] =
    N_("the store commit failed; nothing was recorded");

struct gc_item {
	struct kagid_req r;     /* a copy: the original lived on gen_cb's stack */
	int status;
	json_t *obj;
	char *event;            /* logged once durable (may be NULL) */
	struct gc_item *next;
};

struct kagid_gc {
	struct kagid *k;
	struct event *timer;
	struct timeval window;
	struct gc_item *head, **tail;
	size_t waiting;
	uint64_t batches, answered; /* for the debug log */
};

static void
item_free(struct gc_item *it)
{
	if (it == NULL)
		return;
	json_decref(it->obj);
	free(it->event);
	free(it);
}

/* store_batch_cb: the batch is durable (result 0) or lost (anything else) */
static void
gc_on_commit(int result, size_t members, void *arg)
{
	struct kagid_gc *gc = arg;
	struct gc_item *it = gc->head, *next;
	size_t n = 0;

	gc->head = NULL;
	gc->tail = &gc->head;
	gc->waiting = 0;
	if (result != 0)
		kagi_log_err("event=group_commit_failed members=%zu err=%s",
		    members, kagi_err_name(result));
	for (; it != NULL; it = next) {
		next = it->next;
		n++;
		if (result == 0) {
			if (it->event != NULL)
				kagi_log_info("%s", it->event);
			kagid_reply_json(&it->r, it->status, it->obj);
			it->obj = NULL; /* reply_json took it */
		} else {
			kagid_reply_error(&it->r, 0, result == KAGI_ERR_LIMIT ?
			    result : KAGI_ERR_SYSTEM, lost_detail);
		}
		item_free(it);
	}
	gc->batches++;
	gc->answered += n;
	kagi_log_info("event=group_commit members=%zu answered=%zu result=%s",
	    members, n, result == 0 ? "ok" : kagi_err_name(result));
}

static void
gc_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct kagid_gc *gc = arg;

	(void)fd;
	(void)what;
	/* the callback answers (or fails) everything that waits */
	if (store_batch_commit(gc->k->store) != 0)
		kagi_log_warn("event=group_commit_timer result=failed");
}

int
kagid_gc_start(struct kagid *k, unsigned window_ms)
{
	struct kagid_gc *gc = NULL;

	if (k == NULL || k->base == NULL || k->store == NULL)
		return KAGI_ERR_INVALID;
	if (window_ms > 100)
		return KAGI_ERR_INVALID;
	if ((gc = calloc(1, sizeof(*gc))) == NULL)
		return KAGI_ERR_NOMEM;
	gc->k = k;
	gc->tail = &gc->head;
	gc->window.tv_sec = 0;
	gc->window.tv_usec = (long)window_ms * 1000;
	if ((gc->timer = evtimer_new(k->base, gc_on_timer, gc)) == NULL) {
		free(gc);
		return KAGI_ERR_NOMEM;
	}
	store_batch_set_cb(k->store, gc_on_commit, gc);
	k->gc = gc;
	kagi_log_info("event=group_commit window_ms=%u", window_ms);
	return 0;
}

void
kagid_gc_stop(struct kagid *k)
{
	struct kagid_gc *gc;

	if (k == NULL || (gc = k->gc) == NULL)
		return;
	/* whatever waits is committed and answered before we go */
	if (k->store != NULL) {
		if (store_batch_commit(k->store) != 0)
			kagi_log_err("event=group_commit_shutdown "
			    "result=failed");
		store_batch_set_cb(k->store, NULL, NULL);
	}
	/* (nothing can be left: the callback emptied the queue) */
	while (gc->head != NULL) {
		struct gc_item *it = gc->head;
		gc->head = it->next;
		item_free(it);
	}
	if (gc->timer != NULL)
		event_free(gc->timer);
	k->gc = NULL;
	free(gc);
}

void
kagid_gc_defer(struct kagid_req *r, int status, json_t *obj, char *event)
{
	struct kagid *k = r->k;
	struct kagid_gc *gc = k->gc;
	struct gc_item *it = NULL;
	int rc;

	if (gc == NULL) {
		/* no loop (tests linking the handlers): commit right here */
		rc = store_batch_commit(k->store);
		if (rc == 0) {
			if (event != NULL)
				kagi_log_info("%s", event);
			kagid_reply_json(r, status, obj);
		} else {
			json_decref(obj);
			kagid_reply_error(r, 0, KAGI_ERR_SYSTEM, lost_detail);
		}
		free(event);
		return;
	}
	if ((it = calloc(1, sizeof(*it))) == NULL) {
		/*
		 * Cannot wait: commit now (the other waiting answers go out
		 * through the callback) and answer this one directly.
		 */
		rc = store_batch_commit(k->store);
		if (rc == 0)
			kagid_reply_json(r, status, obj);
		else {
			json_decref(obj);
			kagid_reply_error(r, 0, KAGI_ERR_SYSTEM, lost_detail);
		}
		free(event);
		return;
	}
	it->r = *r;
	it->r.whoami = NULL;    /* gen_cb releases it when we return */
	it->r.subpath = NULL;
	it->r.query = NULL;
	it->status = status;
	it->obj = obj;
	it->event = event;
	*gc->tail = it;
	gc->tail = &it->next;
	gc->waiting++;
	if (!evtimer_pending(gc->timer, NULL) &&
	    evtimer_add(gc->timer, &gc->window) != 0) {
		kagi_log_err("event=group_commit_timer_failed; committing now");
		if (store_batch_commit(k->store) != 0)
			kagi_log_err("event=group_commit_failed");
	}
}
