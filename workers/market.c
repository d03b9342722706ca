/*
 * market.c: the market-data worker role: one process for the configured
 * symbols × stream kinds.  This revision runs the loop, the control protocol
 * and the subscription plan; exchange connections arrive with market data.
 */
#include "autoconf.h"

#include "exfeedd.h"
#include "log.h"
#include "mpack.h"

static struct {
	size_t		 nsymbols;
	size_t		 nstreams;
} mkt;

static void
market_plan(const struct config *cfg)
{
	mkt.nsymbols = cfg->market_symbols.n;
	mkt.nstreams = cfg->market_streams.n;
	log_info("%zu symbols x %zu stream kinds = %zu streams", mkt.nsymbols, mkt.nstreams,
	    mkt.nsymbols * mkt.nstreams);
}

static void
market_start(struct ev_loop *loop, const struct config *cfg)
{
	market_plan(cfg);
	worker_ready();
}

static void
market_reconfigure(const struct config *cfg, const struct config *old)
{
	market_plan(cfg);
}

static void
market_status(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 2);
	mp_kv_u64(pk, "symbols", mkt.nsymbols);
	mp_kv_u64(pk, "streams", mkt.nsymbols * mkt.nstreams);
}

static void
market_stop(void)
{
	worker_stopped();
}

const struct worker_role market_role = {
	"market", market_start, market_reconfigure, NULL, market_status, market_stop,
};
