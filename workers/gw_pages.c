/*
 * gw_pages.c: the gateway's pages: the status page /, the live orders page
 * /orders and their scripts, style and icon under /assets/, from the files
 * of www/ compiled in (tools/www2c).  Every answer carries a
 * Content-Security-Policy that lets a page load from and connect to this
 * origin only: no inline script or style, no other host, no framing.  The
 * pages are revalidated on every load (Cache-Control: no-cache) against
 * their ETag, so a new exfeedd is seen at once and an unchanged page costs
 * a 304.
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "log.h"
#include "gw_pages.h"

#define GW_PAGES_CSP \
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " \
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

static const struct {
	const char	*path;
	const char	*file;
} gw_pages_routes[] = {
	{ "/", "index.html" },
	{ "/orders", "orders.html" },
};

const struct gw_page_file *
gw_pages_find(const char *path)
{
	const char *name = NULL;
	size_t i, n;

	for (i = 0; i < sizeof(gw_pages_routes) / sizeof(gw_pages_routes[0]); i++)
		if (strcmp(path, gw_pages_routes[i].path) == 0)
			name = gw_pages_routes[i].file;
	if (name == NULL && strncmp(path, "/assets/", 8) == 0) {
		/* Assets only: a page has one address, and nothing but a plain name. */
		name = path + 8;
		n = strlen(name);
		if (n == 0 || strchr(name, '/') != NULL ||
		    (n >= 5 && strcmp(name + n - 5, ".html") == 0))
			return NULL;
	}
	if (name == NULL)
		return NULL;
	for (i = 0; i < gw_npage_files; i++)
		if (strcmp(gw_page_files[i].name, name) == 0)
			return &gw_page_files[i];
	return NULL;
}

const char *
gw_pages_type(const char *name)
{
	static const struct {
		const char	*ext;
		const char	*type;
	} types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
	};
	const char *ext = strrchr(name, '.');

	for (size_t i = 0; ext != NULL && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(ext, types[i].ext) == 0)
			return types[i].type;
	return "application/octet-stream";
}

/* The answer is written or cannot be: end the transaction, or the connection. */
static int
gw_pages_done(struct lws *wsi)
{
	if (lws_http_transaction_completed(wsi))
		lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, LWS_TO_KILL_ASYNC);
	return 1;
}

static int
gw_pages_header(struct lws *wsi, unsigned char **p, unsigned char *end, const char *name,
    const char *value)
{
	return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
	    (const unsigned char *)value, (int)strlen(value), p, end);
}

static int
gw_pages_token(struct lws *wsi, unsigned char **p, unsigned char *end,
    enum lws_token_indexes tok, const char *value)
{
	return lws_add_http_header_by_token(wsi, tok, (const unsigned char *)value,
	    (int)strlen(value), p, end);
}

int
gw_pages_http(struct lws *wsi, const char *path)
{
	const struct gw_page_file *f;
	unsigned char hdr[LWS_PRE + 1024], *start = hdr + LWS_PRE, *p = start,
	    *end = hdr + sizeof(hdr) - 1, *body;
	char inm[256];
	unsigned status = HTTP_STATUS_OK;
	int head;

	if ((f = gw_pages_find(path)) == NULL)
		return 0;
	head = lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) > 0;
	if (!head && lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) {
		if (lws_add_http_header_status(wsi, HTTP_STATUS_METHOD_NOT_ALLOWED, &p, end) ||
		    gw_pages_token(wsi, &p, end, WSI_TOKEN_HTTP_ALLOW, "GET, HEAD") ||
		    lws_add_http_header_content_length(wsi, 0, &p, end) ||
		    lws_finalize_write_http_header(wsi, start, &p, end))
			lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, LWS_TO_KILL_ASYNC);
		return gw_pages_done(wsi);
	}
	/* "*", or a list of (weak or strong) tags one of which is ours. */
	if (lws_hdr_copy(wsi, inm, sizeof(inm), WSI_TOKEN_HTTP_IF_NONE_MATCH) > 0 &&
	    (strcmp(inm, "*") == 0 || strstr(inm, f->etag) != NULL))
		status = HTTP_STATUS_NOT_MODIFIED;
	if (lws_add_http_header_status(wsi, status, &p, end) ||
	    (status == HTTP_STATUS_OK &&
	    (gw_pages_token(wsi, &p, end, WSI_TOKEN_HTTP_CONTENT_TYPE, gw_pages_type(f->name)) ||
	    lws_add_http_header_content_length(wsi, f->len, &p, end))) ||
	    gw_pages_token(wsi, &p, end, WSI_TOKEN_HTTP_ETAG, f->etag) ||
	    gw_pages_token(wsi, &p, end, WSI_TOKEN_HTTP_CACHE_CONTROL, "no-cache") ||
	    gw_pages_header(wsi, &p, end, "content-security-policy:", GW_PAGES_CSP) ||
	    gw_pages_header(wsi, &p, end, "x-content-type-options:", "nosniff") ||
	    gw_pages_header(wsi, &p, end, "referrer-policy:", "no-referrer") ||
	    lws_finalize_write_http_header(wsi, start, &p, end)) {
		lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, LWS_TO_KILL_ASYNC);
		return 1;
	}
	if (head || status != HTTP_STATUS_OK)
		return gw_pages_done(wsi);
	/*
	 * One write of the whole file (tens of KB): what the socket does not
	 * take now lws keeps and sends as it drains, and ends the transaction
	 * after it.
	 */
	if ((body = malloc(LWS_PRE + f->len)) == NULL) {
		log_warnx("pages: out of memory for %s", f->name);
		lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, LWS_TO_KILL_ASYNC);
		return 1;
	}
	memcpy(body + LWS_PRE, f->data, f->len);
	if (lws_write(wsi, body + LWS_PRE, f->len, LWS_WRITE_HTTP_FINAL) != (int)f->len) {
		free(body);
		lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, LWS_TO_KILL_ASYNC);
		return 1;
	}
	free(body);
	return gw_pages_done(wsi);
}
