/* gw_pages_test.c: which file each path of the gateway's pages serves, its type, and the embedded bytes. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_pages.h"

Test(gw_pages, the_two_pages_and_their_assets)
{
	cr_assert_str_eq(gw_pages_find("/")->name, "index.html");
	cr_assert_str_eq(gw_pages_find("/orders")->name, "orders.html");
	cr_assert_str_eq(gw_pages_find("/assets/common.js")->name, "common.js");
	cr_assert_str_eq(gw_pages_find("/assets/exfeedd.css")->name, "exfeedd.css");
	cr_assert_str_eq(gw_pages_find("/assets/favicon.svg")->name, "favicon.svg");
}

Test(gw_pages, nothing_else)
{
	static const char *const no[] = { "/index.html", "/orders/", "/orders.html",
	    "/assets/orders.html", "/assets/index.html", "/assets/", "/assets",
	    "/assets/x/common.js", "/assets/common.j", "/assets/common.jsx", "/health",
	    "/ws/ops", "", "/Orders" };

	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		cr_assert_null(gw_pages_find(no[i]), "%s", no[i]);
}

Test(gw_pages, content_types)
{
	cr_assert_str_eq(gw_pages_type("index.html"), "text/html; charset=utf-8");
	cr_assert_str_eq(gw_pages_type("a.js"), "text/javascript; charset=utf-8");
	cr_assert_str_eq(gw_pages_type("a.css"), "text/css; charset=utf-8");
	cr_assert_str_eq(gw_pages_type("a.svg"), "image/svg+xml");
	cr_assert_str_eq(gw_pages_type("a.png"), "image/png");
	cr_assert_str_eq(gw_pages_type("README"), "application/octet-stream");
	cr_assert_str_eq(gw_pages_type("a.html.bak"), "application/octet-stream");
}

/* Every embedded file is its www/ file byte for byte, with a quoted "CRC-LENGTH" tag. */
Test(gw_pages, embedded_exactly)
{
	const char *src = getenv("top_srcdir");
	char path[4096], *buf;
	FILE *f;
	long n;

	cr_assert_not_null(src, "top_srcdir is set by make check");
	cr_assert_geq(gw_npage_files, 7);
	for (size_t i = 0; i < gw_npage_files; i++) {
		const struct gw_page_file *p = &gw_page_files[i];
		char want[32];

		snprintf(path, sizeof(path), "%s/www/%s", src, p->name);
		cr_assert_not_null(f = fopen(path, "rb"), "%s", path);
		fseek(f, 0, SEEK_END);
		n = ftell(f);
		rewind(f);
		cr_assert_eq((size_t)n, p->len, "%s: %ld bytes, %zu embedded", p->name, n, p->len);
		buf = malloc((size_t)n);
		cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
		fclose(f);
		cr_assert(memcmp(buf, p->data, p->len) == 0, "%s differs", p->name);
		free(buf);
		snprintf(want, sizeof(want), "-%zu\"", p->len);
		cr_assert(p->etag[0] == '"' && strlen(p->etag) > strlen(want) &&
		    strcmp(p->etag + strlen(p->etag) - strlen(want), want) == 0, "%s: %s", p->name, p->etag);
	}
}
