/*
 * fuzz_binance.c: the Binance USDⓈ-M futures adapter (binance_futures.c).
 * The first byte chooses the parser: 0 a private-stream frame (with the
 * reply check), 1-8 a REST body of each bf_rest endpoint, 9 the v2
 * account, 10 a listen key, 11 an error body, 12 the body cap of a path.
 * Every event any of them emits must pass the writer's codec and SQL
 * (fuzz_event_writer, fuzz_wsql_check): the property that would have
 * caught events the writer then refused.  An unknown event's raw text
 * must be the JSON of the frame's event object.
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "event.h"
#include "exchanges/binance_futures.h"
#include "fuzz.h"
#include "writer_sql.h"

#define SEL_FRAME	0
#define SEL_REST	1	/* 1 + enum bf_rest */
#define SEL_ACCOUNT	(SEL_REST + BF_REST_ALL_ALGO_ORDERS + 1)
#define SEL_LISTEN_KEY	(SEL_ACCOUNT + 1)
#define SEL_ERROR	(SEL_ACCOUNT + 2)
#define SEL_BODY_MAX	(SEL_ACCOUNT + 3)
#define SEL_N		(SEL_ACCOUNT + 4)

struct sink {
	struct wsql	*w;
	size_t		 n;
	const json_t	*data;		/* the frame's event object */
};

static void
emit_cb(struct event *ev, void *arg)
{
	struct sink *s = arg;

	FUZZ_ASSERT(ev->type != EV_GAP, "the adapter emitted a gap");
	if (ev->type == EV_UNKNOWN && s->data != NULL) {
		json_error_t e;
		json_t *raw = json_loads(ev->u.unknown.raw, 0, &e);

		FUZZ_ASSERT(raw != NULL, "unknown event: raw is not JSON (%s): %s", e.text,
		    ev->u.unknown.raw);
		FUZZ_ASSERT(json_equal(raw, s->data), "unknown event: raw is not the event object: %s",
		    ev->u.unknown.raw);
		json_decref(raw);
	}
	fuzz_event_writer(ev, s->w, 1);
	s->n++;
}

static void
frame(const char *buf, size_t len, const struct ev_origin *org, struct sink *s)
{
	struct bf_frame f;
	struct bf_drops drops = { 0 };
	const char *err = NULL;
	int64_t id;
	int error, n;

	if (bf_ws_reply(buf, len, &id, &error) == 1)
		FUZZ_ASSERT(error == 0 || error == 1, "bf_ws_reply: error %d", error);
	if (bf_frame_parse(buf, len, &f, &err) == -1) {
		FUZZ_ASSERT(err != NULL && f.root == NULL, "bf_frame_parse: -1 without a reason");
		return;
	}
	FUZZ_ASSERT(f.etype != NULL && f.etype[0] != '\0' && f.data != NULL,
	    "bf_frame_parse: 0 without an event type");
	if (strcmp(f.etype, "listenKeyExpired") == 0)
		FUZZ_ASSERT(f.expired_key != NULL, "listenKeyExpired without a key");
	s->data = f.data;
	n = bf_frame_events(&f, buf, len, org, emit_cb, s, &drops);
	FUZZ_ASSERT(n >= 0 && (size_t)n == s->n, "bf_frame_events returned %d, emitted %zu", n, s->n);
	s->data = NULL;
	bf_frame_free(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct wsql *w;
	const struct ev_origin org = { 42, 7, 1700000000000000LL, 0 };
	struct sink s = { NULL, 0, NULL };
	struct bf_drops drops = { 0 };
	const char *body = (const char *)data + 1;
	size_t len = size - 1;
	int n;

	if (size < 1)
		return 0;
	if (w == NULL && (w = wsql_new()) == NULL)
		abort();
	s.w = w;
	switch (data[0] % SEL_N) {
	case SEL_FRAME:
		frame(body, len, &org, &s);
		break;
	case SEL_ACCOUNT: {
		struct bf_account a;

		n = bf_account_v2(body, len, &org, 1800000000000LL, emit_cb, &s, &a, &drops);
		FUZZ_ASSERT(n == -1 ? s.n == 0 && a.npos == 0 : (size_t)n == s.n,
		    "bf_account_v2 returned %d, emitted %zu", n, s.n);
		FUZZ_ASSERT(a.multi_assets >= -1 && a.multi_assets <= 1, "multi_assets %d",
		    a.multi_assets);
		for (size_t i = 0; i < a.npos; i++) {
			const struct bf_account_position *p = &a.pos[i];

			FUZZ_ASSERT(ev_symbol_ok(p->symbol, strlen(p->symbol)),
			    "account position %zu: symbol \"%s\"", i, p->symbol);
			FUZZ_ASSERT(p->leverage >= -1 && p->leverage <= 100000,
			    "account position %zu: leverage %d", i, p->leverage);
			FUZZ_ASSERT(p->position_side[0] != '\0', "account position %zu: no side", i);
		}
		bf_account_free(&a);
		break;
	}
	case SEL_LISTEN_KEY: {
		char key[80];

		if (bf_listen_key(body, len, key, sizeof(key)) == 0)
			FUZZ_ASSERT(key[0] != '\0' && strlen(key) < sizeof(key), "listen key");
		break;
	}
	case SEL_ERROR: {
		char msg[64];
		int code;

		if (bf_rest_error(body, len, &code, msg, sizeof(msg)) == 0)
			FUZZ_ASSERT(strlen(msg) < sizeof(msg), "error msg");
		break;
	}
	case SEL_BODY_MAX: {
		char *path = strndup(body, len);

		if (path == NULL)
			abort();
		FUZZ_ASSERT(bf_rest_body_max(path) <= 8u * 1024 * 1024, "body cap above net's");
		free(path);
		break;
	}
	default:
		n = bf_rest_events((enum bf_rest)(data[0] % SEL_N - SEL_REST), body, len, &org,
		    1800000000000LL, emit_cb, &s, &drops);
		FUZZ_ASSERT(n == -1 ? s.n == 0 : n >= 0 && (size_t)n == s.n,
		    "bf_rest_events returned %d, emitted %zu", n, s.n);
		break;
	}
	FUZZ_ASSERT(memchr(drops.why, '\0', sizeof(drops.why)) != NULL, "drops.why unterminated");
	fuzz_wsql_check(w, s.n);
	return 0;
}
