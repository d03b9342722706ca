/*
 * broker.c: the embedded Kafka broker role ([kafka] brokers = embedded):
 * librdkafka's in-process mock cluster, so a fresh machine has a real Kafka
 * protocol endpoint with nothing installed.  In memory: evaluation and tests.
 */
#include "autoconf.h"

#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "exfeedd.h"
#include "log.h"
#include "mpack.h"

static struct {
	rd_kafka_t		*rk;
	rd_kafka_mock_cluster_t	*mcluster;
	char			 bootstraps[256];
} bkr;

static void
broker_start(struct ev_loop *loop, const struct config *cfg)
{
	char err[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	/* The mock cluster needs a client instance to live in; it sends nothing. */
	if ((bkr.rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err))) == NULL)
		worker_fatal(1, "cannot create the Kafka client for the embedded broker: %s", err);
	if ((bkr.mcluster = rd_kafka_mock_cluster_new(bkr.rk, 1)) == NULL)
		worker_fatal(1, "cannot start the embedded Kafka broker");
	snprintf(bkr.bootstraps, sizeof(bkr.bootstraps), "%s",
	    rd_kafka_mock_cluster_bootstraps(bkr.mcluster));
	log_info("embedded Kafka broker listening on %s (in memory)", bkr.bootstraps);
	/* The supervisor passes the address on to the writer (a new one every start). */
	worker_ready_bootstraps(bkr.bootstraps);
}

static void
broker_status(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 1);
	mp_kv_str(pk, "bootstraps", bkr.bootstraps);
}

static void
broker_stop(void)
{
	if (bkr.mcluster)
		rd_kafka_mock_cluster_destroy(bkr.mcluster);
	if (bkr.rk)
		rd_kafka_destroy(bkr.rk);
	bkr.mcluster = NULL;
	bkr.rk = NULL;
	worker_stopped();
}

const struct worker_role broker_role = {
	"broker", broker_start, NULL, NULL, broker_status, broker_stop,
};
