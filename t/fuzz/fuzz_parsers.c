/*
 * fuzz_parsers.c: the small value parsers.  The first byte chooses:
 * 0 an exchange base URL (net_endpoint_parse), 1 a duration, 2 a size,
 * 3 a HOST:PORT, 4 a boolean (config.c), 5 an exchange decimal
 * (ev_decimal), 6 free text cut to a field (ev_copy_text).  What one
 * accepts must print back to a text it accepts as the same value, and
 * stay within what its callers assume (a host fit for a Host header and
 * SNI, durations and sizes not negative, canonical decimals).
 */
#include "autoconf.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "event.h"
#include "fuzz.h"
#include "net.h"

static void
url(const char *s)
{
	struct net_endpoint a, b;
	char err[128], again[700];
	size_t n;

	if (net_endpoint_parse(s, &a, err, sizeof(err)) == -1)
		return;
	n = strlen(a.host);
	FUZZ_ASSERT(n > 0 && n < sizeof(a.host), "url %s: empty host", s);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)a.host[i];

		FUZZ_ASSERT(isalnum(c) || c == '.' || c == '-' || c == '_' || c == ':',
		    "url \"%s\": host \"%s\" has byte 0x%02x", s, a.host, c);
	}
	FUZZ_ASSERT(a.port >= 1 && a.port <= 65535, "url %s: port %d", s, a.port);
	FUZZ_ASSERT(a.prefix[0] == '\0' || a.prefix[0] == '/', "url %s: prefix %s", s, a.prefix);
	n = strlen(a.prefix);
	FUZZ_ASSERT(n == 0 || a.prefix[n - 1] != '/', "url %s: prefix ends in /", s);
	for (size_t i = 0; i < n; i++)
		FUZZ_ASSERT((unsigned char)a.prefix[i] > 0x20 && a.prefix[i] != 0x7f,
		    "url %s: prefix has byte 0x%02x", s, (unsigned char)a.prefix[i]);
	snprintf(again, sizeof(again), strchr(a.host, ':') ? "%s://[%s]:%d%s" : "%s://%s:%d%s",
	    a.tls ? "https" : "http", a.host, a.port, a.prefix);
	FUZZ_ASSERT(net_endpoint_parse(again, &b, err, sizeof(err)) == 0,
	    "url %s printed as %s does not parse: %s", s, again, err);
	FUZZ_ASSERT(a.tls == b.tls && a.port == b.port && strcmp(a.host, b.host) == 0 &&
	    strcmp(a.prefix, b.prefix) == 0, "url %s printed as %s parses otherwise", s, again);
}

static void
duration(const char *s)
{
	int64_t v, w;
	char buf[64];

	if (config_parse_duration_ms(s, &v) == -1)
		return;
	FUZZ_ASSERT(v >= 0, "duration %s: %" PRId64, s, v);
	config_format_duration(v, buf, sizeof(buf));
	FUZZ_ASSERT(config_parse_duration_ms(buf, &w) == 0 && w == v,
	    "duration %s = %" PRId64 " ms printed as %s", s, v, buf);
}

static void
size_(const char *s)
{
	int64_t v, w;
	char buf[64];

	if (config_parse_size(s, &v) == -1)
		return;
	FUZZ_ASSERT(v >= 0, "size %s: %" PRId64, s, v);
	snprintf(buf, sizeof(buf), "%" PRId64, v);
	FUZZ_ASSERT(config_parse_size(buf, &w) == 0 && w == v, "size %s printed as %s", s, buf);
}

static void
hostport(const char *s)
{
	struct hostport a, b;
	const char *why = NULL;
	char buf[300];

	if (config_parse_hostport(s, &a, &why) == -1) {
		FUZZ_ASSERT(why != NULL, "hostport %s: -1 without a reason", s);
		return;
	}
	FUZZ_ASSERT(a.host[0] != '\0' && strlen(a.host) < sizeof(a.host), "hostport %s: host", s);
	/* As the -nv dump prints it (config.c value_format). */
	snprintf(buf, sizeof(buf), strchr(a.host, ':') ? "[%s]:%u" : "%s:%u", a.host, a.port);
	FUZZ_ASSERT(config_parse_hostport(buf, &b, &why) == 0 && strcmp(a.host, b.host) == 0 &&
	    a.port == b.port, "hostport %s printed as %s parses otherwise", s, buf);
}

static void
decimal(const char *s, size_t len)
{
	char a[EV_DEC], b[EV_DEC];

	if (ev_decimal(a, sizeof(a), s, len) == -1)
		return;
	FUZZ_ASSERT(strlen(a) < sizeof(a), "decimal");
	FUZZ_ASSERT(ev_decimal(b, sizeof(b), a, strlen(a)) == 0 && strcmp(a, b) == 0,
	    "decimal %.*s → %s is not canonical", (int)len, s, a);
	for (const char *p = a; *p; p++)
		FUZZ_ASSERT(isdigit((unsigned char)*p) || *p == '.' || (p == a && *p == '-'),
		    "decimal %.*s → %s", (int)len, s, a);
}

static void
copy_text(const char *s, size_t len)
{
	char dst[EV_WORD];
	int cut = ev_copy_text(dst, sizeof(dst), s, len);
	size_t n = strlen(dst);

	FUZZ_ASSERT(n < sizeof(dst), "copy_text overflow");
	FUZZ_ASSERT(memcmp(dst, s, n) == 0, "copy_text is not a prefix");
	FUZZ_ASSERT(cut == (n < len), "copy_text says cut=%d for %zu of %zu bytes", cut, n, len);
	/*
	 * Cut on a character boundary: never inside a UTF-8 sequence (text
	 * that is all continuation bytes, never valid, is cut to nothing).
	 */
	if (cut && n > 0)
		FUZZ_ASSERT(((unsigned char)s[n] & 0xc0) != 0x80, "copy_text cut inside a character");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size < 1)
		return 0;
	/* The parsers take C strings (config values, URLs): stop at a NUL as they would. */
	if ((s = strndup((const char *)data + 1, size - 1)) == NULL)
		abort();
	switch (data[0] % 7) {
	case 0:
		url(s);
		break;
	case 1:
		duration(s);
		break;
	case 2:
		size_(s);
		break;
	case 3:
		hostport(s);
		break;
	case 4: {
		int b = -1;

		if (config_parse_bool(s, &b) == 0)
			FUZZ_ASSERT(b == 0 || b == 1, "bool %s: %d", s, b);
		break;
	}
	case 5:
		decimal((const char *)data + 1, size - 1);
		break;
	case 6:
		copy_text(s, strlen(s));
		break;
	}
	free(s);
	return 0;
}
