/*
 * fuzz_config.c: the configuration loader (config.c, inih).  A file that
 * loads must dump (the -nv output) to a file that loads to the same
 * configuration and dumps the same again (but for the values of secret
 * rdkafka.* properties, which it shows as "(hidden)"); its msgpack form, the one the
 * supervisor sends workers (IPC_CONFIG), must unpack to the same
 * configuration; and its exchange URLs must be ones the account worker
 * takes (net_endpoint_parse).  Errors come in line order.
 */
#define _GNU_SOURCE
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <msgpack.h>

#include "config.h"
#include "event.h"
#include "fuzz.h"
#include "net.h"

static void
diff_cb(const char *section, const char *key, int reloadable, const char *a, const char *b,
    void *arg)
{
	fprintf(stderr, "  [%s] %s: \"%s\" then \"%s\"\n", section, key, a, b);
}

/* Text at a path config_load can open: a memfd, rewritten each time. */
static void
memfile(int *fd, const void *p, size_t len, char *path, size_t pathlen)
{
	if (*fd == -1 && (*fd = memfd_create("exfeedd-fuzz.conf", 0)) == -1)
		abort();
	if (ftruncate(*fd, 0) == -1 || (len > 0 && pwrite(*fd, p, len, 0) != (ssize_t)len))
		abort();
	snprintf(path, pathlen, "/proc/self/fd/%d", *fd);
}

static char *
dump(const struct config *cfg, size_t *len)
{
	char *buf = NULL;
	FILE *fp = open_memstream(&buf, len);

	if (fp == NULL)
		abort();
	config_dump(cfg, fp);
	if (fclose(fp) != 0)
		abort();
	return buf;
}

/*
 * -nv shows a secret rdkafka.* value as "(hidden)", so the reloaded dump
 * holds that: put the loaded value back before comparing the rest.
 */
static void
reveal_secrets(struct config *to, const struct config *from)
{
	FUZZ_ASSERT(to->kafka_nprops == from->kafka_nprops, "rdkafka.* lines lost in the dump");
	for (size_t i = 0; i < to->kafka_nprops; i++) {
		if (!config_kafka_prop_secret(to->kafka_props[i].name))
			continue;
		FUZZ_ASSERT(strcmp(to->kafka_props[i].value, "(hidden)") == 0,
		    "a secret rdkafka.%s shown in the dump", to->kafka_props[i].name);
		free(to->kafka_props[i].value);
		if ((to->kafka_props[i].value = strdup(from->kafka_props[i].value)) == NULL)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd1 = -1, fd2 = -1;
	struct config a, b, c;
	struct config_errors errs;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked up;
	char path[64], *d1, *d2, *d3;
	size_t l1, l2, l3, off = 0;
	int rc;

	memfile(&fd1, data, size, path, sizeof(path));
	rc = config_load(path, &a, &errs);
	for (size_t i = 1; i < errs.n; i++)
		FUZZ_ASSERT(errs.v[i - 1].line <= errs.v[i].line, "errors out of line order");
	FUZZ_ASSERT(rc == 0 ? errs.n == 0 : errs.n > 0, "config_load %d with %zu errors", rc, errs.n);
	config_errors_free(&errs);
	if (rc == -1)
		return 0;

	/* What the loader takes, the account workers take (account.c: net_endpoint_parse). */
	for (int e = 0; e < a.nex; e++) {
		struct net_endpoint ep;
		char err[128];

		FUZZ_ASSERT(net_endpoint_parse(a.ex[e].rest_url, &ep, err, sizeof(err)) == 0,
		    "rest_url %s loads but the worker refuses it: %s", a.ex[e].rest_url, err);
		FUZZ_ASSERT(net_endpoint_parse(a.ex[e].ws_url, &ep, err, sizeof(err)) == 0,
		    "ws_url %s loads but the worker refuses it: %s", a.ex[e].ws_url, err);
	}

	/* The market worker subscribes to these: each a symbol the codec takes. */
	for (size_t i = 0; i < a.market_symbols.n; i++)
		FUZZ_ASSERT(ev_symbol_ok(a.market_symbols.v[i], strlen(a.market_symbols.v[i])),
		    "market symbol \"%s\" loads but is not a symbol", a.market_symbols.v[i]);

	/* load → dump → load: the same configuration. */
	d1 = dump(&a, &l1);
	memfile(&fd2, d1, l1, path, sizeof(path));
	rc = config_load(path, &b, &errs);
	if (rc == -1) {
		config_errors_print(&errs, stderr);
		fuzz_fail("the dump of a loaded config does not load:\n%s", d1);
	}
	config_errors_free(&errs);
	reveal_secrets(&b, &a);
	if (config_diff(&a, &b, diff_cb, NULL) != 0)
		fuzz_fail("the dump reloads to another configuration:\n%s", d1);
	d2 = dump(&b, &l2);
	FUZZ_ASSERT(l1 == l2 && memcmp(d1, d2, l1) == 0, "the dump of the reload differs:\n%s\n--\n%s",
	    d1, d2);

	/* pack → unpack, as a worker gets it. */
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	FUZZ_ASSERT(config_pack(&a, &pk) == 0, "config_pack");
	msgpack_unpacked_init(&up);
	FUZZ_ASSERT(msgpack_unpack_next(&up, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS,
	    "packed config does not unpack");
	if (config_unpack(&up.data, &c, &errs) == -1) {
		config_errors_print(&errs, stderr);
		fuzz_fail("a worker refuses the packed config:\n%s", d1);
	}
	config_errors_free(&errs);
	if (config_diff(&a, &c, diff_cb, NULL) != 0)
		fuzz_fail("the packed config unpacks to another configuration:\n%s", d1);
	d3 = dump(&c, &l3);
	FUZZ_ASSERT(l1 == l3 && memcmp(d1, d3, l1) == 0, "the unpacked config dumps otherwise");
	msgpack_unpacked_destroy(&up);
	msgpack_sbuffer_destroy(&sb);
	free(d1);
	free(d2);
	free(d3);
	config_free(&a);
	config_free(&b);
	config_free(&c);
	return 0;
}
