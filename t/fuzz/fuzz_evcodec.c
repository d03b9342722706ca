/*
 * fuzz_evcodec.c: the event codec (evcodec.c) on arbitrary msgpack, read
 * the way the writer reads it (mp_check_sizes, then msgpack-c).  What
 * msgpack-c takes mp_check_sizes must take, to the same length; an event
 * ev_unpack accepts must survive JSON and encode → decode unchanged, make
 * its Kafka value in both formats (kafka_value: JSON → protobuf) and go
 * into the writer's statements (fuzz_event_writer, fuzz_wsql_check).
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "event.h"
#include "fuzz.h"
#include "mpack.h"
#include "writer_sql.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct wsql *w;
	msgpack_unpacked up;
	struct event ev;
	const char *err = NULL;
	size_t used = 0, off = 0;
	msgpack_unpack_return rc;

	if (w == NULL && (w = wsql_new()) == NULL)
		abort();
	if (mp_check_sizes(data, size, &used) == -1)
		return 0;
	FUZZ_ASSERT(used > 0 && used <= size, "mp_check_sizes: used %zu of %zu", used, size);
	msgpack_unpacked_init(&up);
	rc = msgpack_unpack_next(&up, (const char *)data, size, &off);
	if (rc == MSGPACK_UNPACK_SUCCESS) {
		FUZZ_ASSERT(off == used, "msgpack-c read %zu bytes, mp_check_sizes %zu", off, used);
		if (ev_unpack(&up.data, &ev, &err) == 0) {
			/* Gaps and market data never reach event_log (a closed kline goes to klines). */
			size_t n = ev.type == EV_GAP || EV_IS_MARKET(ev.type) ? 0 : 1;

			fuzz_event_writer(&ev, w, 0);
			ev_clear(&ev);
			fuzz_wsql_check(w, n);
		} else
			FUZZ_ASSERT(err != NULL && ev.type == 0, "ev_unpack: -1 without a reason");
	}
	msgpack_unpacked_destroy(&up);
	return 0;
}
