/*
 * account.c: the account worker role.  Instance i of N owns the exchange
 * accounts whose id mod N equals i (DESIGN §2; the ownership rule lives in
 * account_owns() alone so it can later become a lease).  This revision runs
 * the shard's loop and control protocol; exchange streams arrive with the
 * user-data work.
 */
#include "autoconf.h"

#include <stdint.h>

#include "exfeedd.h"
#include "log.h"
#include "mpack.h"

static struct {
	int64_t		 shards;
	uint64_t	 reconciles;
} shard;

/* The one place that answers "is this account mine?" */
int account_owns(int64_t account_id);

int
account_owns(int64_t account_id)
{
	return account_id % shard.shards == worker_instance();
}

static void
account_start(struct ev_loop *loop, const struct config *cfg)
{
	shard.shards = cfg->account_shards;
	log_info("shard %d of %lld", worker_instance(), (long long)shard.shards);
	worker_ready();
}

static void
account_reconfigure(const struct config *cfg, const struct config *old)
{
	if (cfg->account_shards != shard.shards)
		log_info("shard %d of %lld (was of %lld)", worker_instance(),
		    (long long)cfg->account_shards, (long long)shard.shards);
	shard.shards = cfg->account_shards;
}

static void
account_reconcile(void)
{
	shard.reconciles++;
}

static void
account_status(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 3);
	mp_kv_i64(pk, "shard", worker_instance());
	mp_kv_i64(pk, "shards", shard.shards);
	mp_kv_u64(pk, "reconciles", shard.reconciles);
}

static void
account_stop(void)
{
	worker_stopped();
}

const struct worker_role account_role = {
	"account", account_start, account_reconfigure, account_reconcile, account_status,
	account_stop,
};
