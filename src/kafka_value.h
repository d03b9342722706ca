/* kafka_value.h: the value of a Kafka message for one event_log row. */
#ifndef EXFEEDD_KAFKA_VALUE_H
#define EXFEEDD_KAFKA_VALUE_H
#include <stddef.h>
#include "strbuf.h"
int kafka_value(int format, const char *event_type, const char *payload, size_t payload_len,
    const char *raw, size_t raw_len, struct strbuf *out, char *err, size_t errlen);
#endif
