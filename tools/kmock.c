/*
 * kmock: a Kafka protocol endpoint for tests (librdkafka's mock cluster)
 * that the test can take down and bring back, which the daemon's embedded
 * broker role cannot (killing it loses what it holds).
 *
 *   kmock [-b BROKERS] [-p PARTITIONS]
 *
 * Prints the bootstrap address on a line of its own, then reads commands
 * on standard input, one a line, and answers each with "ok" or an error:
 *   down    every broker stops answering (connections refused or dropped)
 *   up      every broker is back
 *   topic NAME   create NAME with PARTITIONS partitions (topics a
 *                producer asks for are created on their own, with the
 *                mock cluster's default partition count)
 * End of input stops it.  In memory only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

int
main(int argc, char **argv)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_mock_cluster_t *mc;
	rd_kafka_t *rk;
	char err[512], line[512];
	int brokers = 1, parts = 4, c;

	while ((c = getopt(argc, argv, "b:p:")) != -1) {
		switch (c) {
		case 'b':
			brokers = atoi(optarg);
			break;
		case 'p':
			parts = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: kmock [-b BROKERS] [-p PARTITIONS]\n");
			return 64;
		}
	}
	if (brokers < 1 || parts < 1) {
		fprintf(stderr, "kmock: -b and -p take a positive number\n");
		return 64;
	}
	if (rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err)) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "kmock: %s\n", err);
		return 1;
	}
	if ((rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err))) == NULL) {
		fprintf(stderr, "kmock: %s\n", err);
		return 1;
	}
	if ((mc = rd_kafka_mock_cluster_new(rk, brokers)) == NULL) {
		fprintf(stderr, "kmock: cannot start the mock cluster\n");
		return 1;
	}
	printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (strcmp(line, "down") == 0 || strcmp(line, "up") == 0) {
			for (int b = 1; b <= brokers; b++) {
				if (line[0] == 'd')
					rd_kafka_mock_broker_set_down(mc, b);
				else
					rd_kafka_mock_broker_set_up(mc, b);
			}
			printf("ok\n");
		} else if (strncmp(line, "topic ", 6) == 0) {
			rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mc, line + 6, parts, 1);

			printf("%s\n", e ? rd_kafka_err2str(e) : "ok");
		} else
			printf("unknown command \"%s\" (down, up, topic NAME)\n", line);
		fflush(stdout);
	}
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	return 0;
}
