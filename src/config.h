/*
 * config.h: the typed configuration every exfeedd process works from.
 * Only the supervisor reads the file; workers receive the validated values
 * over their control channel and rebuild the same structure with the same code.
 */
#ifndef EXFEEDD_CONFIG_H
#define EXFEEDD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <msgpack.h>

#ifndef RUNSTATEDIR
#define RUNSTATEDIR "/run"	/* where the runtime directory goes by default */
#endif

#define EX_CONFIG_STATUS	78	/* sysexits EX_CONFIG */
#define CONF_MAX_EXCHANGES	4

struct strlist {
	char		**v;
	size_t		  n;
};

struct hostport {
	char		 host[256];
	uint16_t	 port;
};

struct exchange_conf {
	char		*name;
	char		*rest_url;
	char		*ws_url;
	char		*ca_file;
	int64_t		 rest_weight_budget;	/* REST weight per minute, this host */
	int64_t		 connect_budget;	/* WebSocket connection attempts per 5 minutes */
	int64_t		 rest_concurrency;	/* REST requests in flight at once, this host */
};

enum conf_log_level { CONF_LOG_DEBUG, CONF_LOG_INFO, CONF_LOG_WARN, CONF_LOG_ERROR };
enum conf_kafka_format { CONF_KAFKA_JSON, CONF_KAFKA_PROTOBUF };

/*
 * Kafka topics of user data, indexed by event type (event.h: EV_ORDER ...;
 * EV_GAP has none).  [kafka] topic.<event type name> overrides a name.
 */
#define CONF_KAFKA_TOPICS	20		/* >= EV_TYPE_MAX */

/* One "[kafka] rdkafka.<property> = value" line, passed to librdkafka as is. */
struct kafka_prop {
	char		*name;			/* without the "rdkafka." prefix */
	char		*value;
	unsigned	 line;
};

struct config {
	char		*file;
	/* [daemon] */
	char		*user;
	char		*group;
	char		*runtime_dir;
	char		*pidfile;
	char		*control_socket;
	char		*log;			/* "syslog", "stderr" or an absolute path */
	int		 log_level;		/* enum conf_log_level */
	int		 syslog_facility;	/* index into config_facility() */
	int		 core_dumps;		/* let crashed processes dump core */
	int64_t		 account_shards;
	int64_t		 respawn_delay_min_ms;
	int64_t		 respawn_delay_max_ms;
	int64_t		 respawn_throttle_ms;
	int64_t		 respawn_stable_ms;
	int64_t		 ready_timeout_ms;
	int64_t		 heartbeat_interval_ms;
	int64_t		 heartbeat_timeout_ms;
	int64_t		 shutdown_timeout_ms;
	/* [database] */
	char		*db_conninfo;
	int64_t		 db_batch_size;
	int64_t		 db_flush_interval_ms;
	int64_t		 db_reconnect_delay_max_ms;
	int64_t		 event_log_retention_ms;	/* whole days kept; partitions older are dropped */
	/* [crypto] */
	char		*crypto_key_file;
	/* [kafka] */
	char		*kafka_brokers;		/* "" (off), "embedded" or host:port list */
	int		 kafka_format;		/* enum conf_kafka_format */
	int64_t		 kafka_linger_ms;	/* linger.ms */
	int64_t		 kafka_batch_size;	/* batch.size, bytes */
	int		 kafka_compression_i;	/* index into config_compression() */
	int64_t		 kafka_market_linger_ms;	/* the market producer's linger.ms */
	int		 kafka_market_compression_i;	/* ... and compression.codec */
	int64_t		 kafka_delivery_timeout_ms;	/* message.timeout.ms */
	int64_t		 kafka_relay_window;	/* messages produced and not yet acked, at most */
	int64_t		 kafka_backlog_warn_ms;	/* WARN when the oldest unpublished row is older */
	char		*kafka_topic[CONF_KAFKA_TOPICS];	/* by event type; NULL: none */
	struct kafka_prop *kafka_props;		/* rdkafka.* */
	size_t		 kafka_nprops;
	/* [userdata] */
	int64_t		 listenkey_renewal_ms;
	int64_t		 reconcile_interval_ms;
	int64_t		 accounts_per_connection;
	int64_t		 health_check_interval_ms;
	int64_t		 silence_timeout_ms;
	int64_t		 connection_max_age_ms;
	int64_t		 reconnect_delay_min_ms;
	int64_t		 reconnect_delay_max_ms;
	int64_t		 max_unacked;
	char		*alert_command;
	int64_t		 resync_history_max_ms;
	/* [market] */
	struct strlist	 market_symbols;
	struct strlist	 market_streams;	/* kinds, with their speeds: "depth@100ms" */
	struct strlist	 market_intervals;	/* kline intervals */
	int64_t		 market_book_depth;	/* levels kept and published */
	int64_t		 market_book_snapshot_limit;	/* GET /fapi/v1/depth limit */
	int64_t		 market_publish_interval_ms;	/* book top-N cadence */
	int64_t		 market_kline_history;	/* closed candles backfilled for a new pair */
	int64_t		 market_streams_per_connection;
	int64_t		 market_silence_timeout_ms;
	int64_t		 market_reconnect_delay_min_ms;
	int64_t		 market_reconnect_delay_max_ms;
	int64_t		 market_connection_max_age_ms;
	/* [gateway] */
	struct strlist	 gateway_listen;	/* HOST:PORT items, at least one */
	char		*gateway_tls_cert;	/* "": no TLS */
	char		*gateway_tls_key;
	char		*gateway_jwt_secret_file;	/* "": /ws/trading refuses every token */
	int64_t		 gateway_jwt_leeway_ms;
	int64_t		 gateway_auth_timeout_ms;	/* for the first message's token */
	int64_t		 gateway_heartbeat_ms;	/* server pings after this much silence */
	int64_t		 gateway_max_connections;
	int64_t		 gateway_max_per_user;
	int64_t		 gateway_client_queue_max;	/* bytes of unsent user messages */
	int64_t		 gateway_max_message_size;	/* bytes of one inbound message */
	int64_t		 gateway_message_rate;	/* inbound messages a second ... */
	int64_t		 gateway_message_burst;	/* ... and at once */
	struct strlist	 gateway_allowed_origins;	/* empty: any */

	struct exchange_conf	ex[CONF_MAX_EXCHANGES];
	int			nex;

	/* Where each value came from (0 = default), for errors found later. */
	unsigned	*lines;			/* per main key */
	unsigned	 ex_lines[CONF_MAX_EXCHANGES][8];
	unsigned	 ex_header_line[CONF_MAX_EXCHANGES];
};

/* Errors collected while loading, each "FILE:LINE: message". */
struct config_errors {
	struct config_error {
		unsigned	 line;
		char		*msg;
	}		*v;
	size_t		 n;
};

int	 config_load(const char *path, struct config *, struct config_errors *);
void	 config_free(struct config *);
void	 config_errors_print(const struct config_errors *, FILE *);
void	 config_errors_free(struct config_errors *);
const char *config_errors_first(const struct config_errors *);
void	 config_dump(const struct config *, FILE *);

/*
 * Worker side: the supervisor sends the whole config as one message.
 * config_unpack takes config_pack's map (NULL or anything else: -1) and
 * validates it as config_load does: 0, or -1 with errs.
 */
int	 config_pack(const struct config *, msgpack_packer *);
int	 config_unpack(const msgpack_object *, struct config *, struct config_errors *);

/* Reload: visit every key whose value differs. */
typedef void (*config_diff_cb)(const char *section, const char *key, int reloadable,
    const char *oldval, const char *newval, void *arg);
int	 config_diff(const struct config *old, const struct config *new, config_diff_cb, void *);
int	 config_keep_static(struct config *new, const struct config *old);

int	 config_facility(int idx);
const char *config_compression(int idx);	/* librdkafka compression.codec */
int	 config_peek(const char *path, const char *section, const char *key, char *, size_t);
const char *config_default(const char *section, const char *key);
int	 config_has_broker(const struct config *);	/* [kafka] brokers = embedded */
int	 config_kafka_on(const struct config *);	/* brokers not empty: publishing on */
/* An rdkafka.* property whose value is a secret: never printed nor logged, "(hidden)". */
int	 config_kafka_prop_secret(const char *name);
int	 config_line_of(const struct config *, const char *section, const char *key);

/* Value parsers, exported for the unit tests. */
int	 config_parse_duration_ms(const char *, int64_t *);
int	 config_parse_size(const char *, int64_t *);
int	 config_parse_bool(const char *, int *);
int	 config_parse_hostport(const char *, struct hostport *, const char **why);
void	 config_format_duration(int64_t ms, char *, size_t);

#endif
