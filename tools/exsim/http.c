/* http.c: the lws HTTP glue. Collects method, path, query fragments,
 * X-MBX-APIKEY and the body of a request into an ex_req, hands it to the
 * REST or /sim/ handler, and writes the reply (headers, then body). */
#include "exsim.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BODY_MAX_BYTES (1024 * 1024)
#define BODY_CHUNK 16384

struct http_state {
	struct ex_req rq;
	struct ex_resp rs;
	size_t off;
	bool dispatched, headers_done;
	struct jbuf query;
	char *param_store; /* names and values of params point in here */
};

const char *
req_param(const struct ex_req *rq, const char *name)
{
	int i;

	/* the query string wins over the body (FACTS §1.5): query params are
	 * stored first */
	for (i = 0; i < rq->nparams; i++)
		if (!strcmp(rq->params[i].name, name))
			return rq->params[i].value;
	return NULL;
}

void
resp_header(struct ex_resp *rs, const char *name, const char *value)
{
	if (rs->nhdr >= (int)(sizeof(rs->hdr) / sizeof(rs->hdr[0])))
		return;
	snprintf(rs->hdr[rs->nhdr].name, sizeof(rs->hdr[0].name), "%s", name);
	snprintf(rs->hdr[rs->nhdr].value, sizeof(rs->hdr[0].value), "%s", value);
	rs->nhdr++;
}

void
resp_error(struct ex_resp *rs, int status, int code, const char *msg)
{
	rs->status = status;
	jb_reset(&rs->body);
	jb_open(&rs->body, '{');
	jb_kint(&rs->body, "code", code);
	jb_kstr(&rs->body, "msg", msg);
	jb_close(&rs->body, '}');
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static void
url_decode(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (*s == '+') {
			*o++ = ' ';
		} else if (*s == '%' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
			*o++ = (char)(hexval(s[1]) * 16 + hexval(s[2]));
			s += 2;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* Split "a=1&b=2" (already decoded when decode is false) into params. */
static void
add_params(struct ex_req *rq, char *s, bool decode)
{
	char *save = NULL, *tok;

	for (tok = strtok_r(s, "&", &save); tok; tok = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(tok, '=');

		if (rq->nparams >= (int)(sizeof(rq->params) / sizeof(rq->params[0])))
			return;
		if (eq)
			*eq++ = '\0';
		else
			eq = tok + strlen(tok);
		if (decode) {
			url_decode(tok);
			url_decode(eq);
		}
		rq->params[rq->nparams].name = tok;
		rq->params[rq->nparams].value = eq;
		rq->nparams++;
	}
}

static void
dispatch(struct lws *wsi, struct http_state *hs)
{
	struct ex_req *rq = &hs->rq;
	size_t qlen = hs->query.len, blen = rq->body_len;
	char *p;

	/* one copy of query and body to split into params, the originals stay
	 * intact for the signature */
	hs->param_store = malloc(qlen + blen + 2);
	if (!hs->param_store)
		abort();
	p = hs->param_store;
	memcpy(p, hs->query.p ? hs->query.p : "", qlen);
	p[qlen] = '\0';
	add_params(rq, p, false);
	p += qlen + 1;
	if (blen && rq->body) {
		memcpy(p, rq->body, blen);
		p[blen] = '\0';
		if (strncmp(rq->path, "/sim/", 5))
			add_params(rq, p, true);
	}
	rq->query = hs->query.p ? hs->query.p : (char *)"";
	hs->rs.status = 200;
	hs->rs.ctype = "application/json";
	if (!strncmp(rq->path, "/sim/", 5) || !strcmp(rq->path, "/sim"))
		sim_handle(rq, &hs->rs);
	else
		rest_handle(rq, &hs->rs);
	hs->dispatched = true;
	lws_callback_on_writable(wsi);
}

static void
state_free(struct http_state *hs)
{
	if (!hs)
		return;
	jb_free(&hs->rs.body);
	jb_free(&hs->query);
	free(hs->rq.body);
	free(hs->param_store);
	free(hs);
}

static struct http_state *
state_new(struct lws *wsi, const char *path)
{
	struct http_state *hs = calloc(1, sizeof(*hs));
	char *uri;
	int ulen, i, n;
	char frag[4096];

	if (!hs)
		abort();
	snprintf(hs->rq.path, sizeof(hs->rq.path), "%s", path);
	hs->rq.method = lws_http_get_uri_and_method(wsi, &uri, &ulen);
	lws_get_peer_simple(wsi, hs->rq.ip, sizeof(hs->rq.ip));
	n = lws_hdr_custom_length(wsi, "x-mbx-apikey:", 13);
	if (n >= 0 && n < (int)sizeof(hs->rq.api_key)) {
		lws_hdr_custom_copy(wsi, hs->rq.api_key, sizeof(hs->rq.api_key), "x-mbx-apikey:",
		    13);
		hs->rq.has_api_key = true;
	}
	/* lws hands the query back as decoded name=value fragments; joined
	 * with & they are the query string clients sign (keys and values in
	 * Binance requests never need escaping) */
	for (i = 0; lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i) >= 0;
	     i++) {
		if (i)
			jb_raw(&hs->query, "&", 1);
		jb_puts(&hs->query, frag);
	}
	return hs;
}

static int
write_reply(struct lws *wsi, struct http_state *hs)
{
	unsigned char buf[LWS_PRE + BODY_CHUNK];
	unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;
	size_t left;
	int i, n;

	if (!hs->headers_done) {
		if (lws_add_http_common_headers(wsi, (unsigned int)hs->rs.status, hs->rs.ctype,
		    hs->rs.body.len, &p, end))
			return -1;
		for (i = 0; i < hs->rs.nhdr; i++)
			if (lws_add_http_header_by_name(wsi, (unsigned char *)hs->rs.hdr[i].name,
			    (unsigned char *)hs->rs.hdr[i].value, (int)strlen(hs->rs.hdr[i].value),
			    &p, end))
				return -1;
		if (lws_finalize_write_http_header(wsi, start, &p, end))
			return -1;
		hs->headers_done = true;
		if (hs->rs.body.len) {
			lws_callback_on_writable(wsi);
			return 0;
		}
	} else {
		left = hs->rs.body.len - hs->off;
		n = left > BODY_CHUNK ? BODY_CHUNK : (int)left;
		memcpy(start, hs->rs.body.p + hs->off, (size_t)n);
		hs->off += (size_t)n;
		if (lws_write(wsi, start, (size_t)n, hs->off == hs->rs.body.len ?
		    LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != n)
			return -1;
		if (hs->off < hs->rs.body.len) {
			lws_callback_on_writable(wsi);
			return 0;
		}
	}
	return 1;
}

int
http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
    size_t len)
{
	struct http_state **slot = user;
	struct http_state *hs = slot ? *slot : NULL;
	char cl[32];
	int r;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		if (!slot)
			return -1;
		state_free(hs);
		hs = *slot = state_new(wsi, in ? (const char *)in : "/");
		if (lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 &&
		    atol(cl) > 0) {
			if (atol(cl) > BODY_MAX_BYTES)
				return -1;
			return 0; /* wait for LWS_CALLBACK_HTTP_BODY_COMPLETION */
		}
		dispatch(wsi, hs);
		return 0;
	case LWS_CALLBACK_HTTP_BODY:
		if (!hs)
			return -1;
		if (!len)
			return 0; /* lws reports empty bodies with in == NULL */
		if (hs->rq.body_len + len > BODY_MAX_BYTES)
			return -1;
		hs->rq.body = realloc(hs->rq.body, hs->rq.body_len + len + 1);
		if (!hs->rq.body)
			abort();
		memcpy(hs->rq.body + hs->rq.body_len, in, len);
		hs->rq.body_len += len;
		hs->rq.body[hs->rq.body_len] = '\0';
		return 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (!hs)
			return -1;
		/* lws also completes an empty POST body we already answered */
		if (!hs->dispatched)
			dispatch(wsi, hs);
		return 0;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (!hs || !hs->dispatched)
			return 0;
		r = write_reply(wsi, hs);
		if (r < 0)
			return -1;
		if (r == 0)
			return 0;
		state_free(hs);
		*slot = NULL;
		if (lws_http_transaction_completed(wsi))
			return -1;
		return 0;
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (slot) {
			state_free(hs);
			*slot = NULL;
		}
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}
