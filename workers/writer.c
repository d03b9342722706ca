/*
 * writer.c: the DB-writer role, the single owner of durability (DESIGN §2-3).
 * This revision runs its loop and control protocol; the PostgreSQL group
 * commit and the Kafka outbox relay arrive with the user-data work.
 */
#include "autoconf.h"

#include "exfeedd.h"
#include "log.h"
#include "mpack.h"

static void
writer_start(struct ev_loop *loop, const struct config *cfg)
{
	worker_ready();
}

static void
writer_status(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 1);
	mp_kv_str(pk, "kafka", worker_config()->kafka_brokers);
}

static void
writer_stop(void)
{
	worker_stopped();
}

const struct worker_role writer_role = {
	"writer", writer_start, NULL, NULL, writer_status, writer_stop,
};
