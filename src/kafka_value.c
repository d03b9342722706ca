/* kafka_value.c: json and raw values (the protobuf encoder lands with proto/). */
#include "autoconf.h"
#include <stdio.h>
#include <string.h>
#include "config.h"
#include "kafka_value.h"
int
kafka_value(int format, const char *event_type, const char *payload, size_t payload_len,
    const char *raw, size_t raw_len, struct strbuf *out, char *err, size_t errlen)
{
	if (strcmp(event_type, "unknown") == 0 && raw != NULL)
		strbuf_put(out, raw, raw_len);
	else if (format == CONF_KAFKA_JSON)
		strbuf_put(out, payload, payload_len);
	else {
		snprintf(err, errlen, "protobuf values are not built yet");
		return -1;
	}
	return out->oom ? -1 : 0;
}
