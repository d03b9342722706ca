/*
 * gw_pages.h: the gateway's pages (doc/gateway.md): the status page / and
 * the live orders page /orders, with their scripts and style under
 * /assets/, served from the files of www/ compiled into exfeedd by
 * tools/www2c (gw_pages_data.c, generated at build time).
 */
#ifndef EXFEEDD_GW_PAGES_H
#define EXFEEDD_GW_PAGES_H

#include <stddef.h>

struct lws;

/* One file of www/: its name without "www/", its bytes, and its ETag. */
struct gw_page_file {
	const char		*name;
	const unsigned char	*data;
	size_t			 len;
	const char		*etag;		/* quoted: "\"CRC-LENGTH\"" */
};
extern const struct gw_page_file gw_page_files[];
extern const size_t gw_npage_files;

/*
 * Serve an HTTP request of path (without its query) when it is one of the
 * pages or their assets: 1 when handled (the answer is written; lws closes
 * the connection itself when it cannot be kept), 0 when the path is not
 * ours.  GET and HEAD; If-None-Match answers 304; other methods 405.
 */
int	 gw_pages_http(struct lws *, const char *path);

/* The file a path serves, or NULL (also for unit tests). */
const struct gw_page_file *gw_pages_find(const char *path);
/* Its Content-Type. */
const char *gw_pages_type(const char *name);

#endif
