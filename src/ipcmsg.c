/*
 * ipcmsg.c: each message body checked and read into its struct (ipcmsg.h).
 * ipc_frame_parse has already checked the frame: a whole msgpack map of
 * at most the type's size.
 */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include "ipcmsg.h"
#include "mpack.h"

static int
fail(const char **why, const char *msg)
{
	*why = msg;
	return -1;
}

/* One "host:port" of a bootstrap list: p[0..n), n > 0 (ipcmsg.h). */
static int
bootstrap_item_ok(const char *p, size_t n)
{
	const char *colon;
	size_t hostlen, i;
	long port = 0;

	for (colon = p + n; colon > p && colon[-1] != ':'; colon--)
		;
	if (colon == p || colon == p + n || p + n - colon > 5)
		return 0;
	for (const char *d = colon; d < p + n; d++) {
		if (*d < '0' || *d > '9')
			return 0;
		port = port * 10 + (*d - '0');
	}
	if (port < 1 || port > 65535)
		return 0;
	hostlen = (size_t)(colon - 1 - p);
	if (hostlen == 0)
		return 0;
	if (p[0] == '[') {
		if (hostlen < 3 || p[hostlen - 1] != ']')
			return 0;
		for (i = 1; i < hostlen - 1; i++)
			if (strchr("0123456789abcdefABCDEF:.", p[i]) == NULL)
				return 0;
		return 1;
	}
	for (i = 0; i < hostlen; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
		    (p[i] >= '0' && p[i] <= '9') || p[i] == '.' || p[i] == '-' || p[i] == '_'))
			return 0;
	return 1;
}

/*
 * body's "bootstraps" into buf (IPCMSG_BOOTSTRAPS_LEN): 1 if it is a valid
 * list, 0 if absent, -1 if anything else.  The bytes are checked as sent:
 * a NUL inside would end the C string early.
 */
static int
bootstraps_get(const msgpack_object *body, char *buf, size_t len)
{
	const msgpack_object *o = mp_get(body, "bootstraps");
	const char *p, *end, *comma;

	buf[0] = '\0';
	if (o == NULL)
		return 0;
	if (o->type != MSGPACK_OBJECT_STR || o->via.str.size == 0 || o->via.str.size >= len ||
	    o->via.str.size >= IPCMSG_BOOTSTRAPS_LEN)
		return -1;
	p = o->via.str.ptr;
	end = p + o->via.str.size;
	for (;;) {
		if ((comma = memchr(p, ',', (size_t)(end - p))) == NULL)
			comma = end;
		if (comma == p || !bootstrap_item_ok(p, (size_t)(comma - p)))
			return -1;
		if (comma == end)
			break;
		p = comma + 1;
	}
	memcpy(buf, o->via.str.ptr, o->via.str.size);
	buf[o->via.str.size] = '\0';
	return 1;
}

int
ipcmsg_ready(const msgpack_object *body, struct ipcmsg_ready *m, const char **why)
{
	memset(m, 0, sizeof(*m));
	if (mp_get_i64(body, "pid", &m->pid) == -1 || m->pid <= 0 ||
	    mp_get_str(body, "role", m->role, sizeof(m->role)) == -1 ||
	    mp_get_i64(body, "instance", &m->instance) == -1 || m->instance < 0)
		return fail(why, "READY needs pid > 0, role and instance >= 0");
	if (bootstraps_get(body, m->bootstraps, sizeof(m->bootstraps)) == -1)
		return fail(why, "READY's bootstraps is not a host:port list of at most 255 bytes");
	return 0;
}

int
ipcmsg_kafka_bootstrap(const msgpack_object *body, char *buf, size_t len, const char **why)
{
	switch (bootstraps_get(body, buf, len)) {
	case 0:
		return fail(why, "KAFKA_BOOTSTRAP without bootstraps");
	case -1:
		return fail(why, "KAFKA_BOOTSTRAP's bootstraps is not a host:port list of at "
		    "most 255 bytes");
	}
	return 0;
}

int
ipcmsg_status_req(const msgpack_object *body, int64_t *id, char *want, size_t wantlen,
    const char **why)
{
	if (mp_get_i64(body, "id", id) == -1 || *id < 0)
		return fail(why, "STATUS_REQ without an id");
	if (mp_get_str(body, "want", want, wantlen) == -1)
		want[0] = '\0';
	return 0;
}

int
ipcmsg_status(const msgpack_object *body, int64_t *id, const char **why)
{
	if (mp_get_i64(body, "id", id) == -1 || *id < 0)
		return fail(why, "STATUS without an id");
	return 0;
}

int
ipcmsg_config_ack(const msgpack_object *body, struct ipcmsg_config_ack *m, const char **why)
{
	memset(m, 0, sizeof(*m));
	if (mp_get_i64(body, "gen", &m->gen) == -1 || mp_get_bool(body, "ok", &m->ok) == -1)
		return fail(why, "CONFIG_ACK without gen and ok");
	if (!m->ok && mp_get_str(body, "error", m->error, sizeof(m->error)) == -1)
		m->error[0] = '\0';
	return 0;
}

int
ipcmsg_fatal(const msgpack_object *body, char *reason, size_t len)
{
	if (mp_get_str(body, "reason", reason, len) == -1)
		snprintf(reason, len, "(no reason given)");
	return 0;
}

int
ipcmsg_config(const msgpack_object *body, int64_t *gen, struct config *cfg,
    struct config_errors *errs, const char **why)
{
	memset(errs, 0, sizeof(*errs));
	if (mp_get_i64(body, "gen", gen) == -1 || *gen <= 0)
		return fail(why, "CONFIG without a generation");
	if (config_unpack(mp_get(body, "config"), cfg, errs) == -1)
		return fail(why, "CONFIG does not validate");
	return 0;
}

int
ipcmsg_ctl_request(const msgpack_object *body, char *cmd, size_t len, const char **why)
{
	if (mp_get_str(body, "cmd", cmd, len) == -1)
		return fail(why, "request without a \"cmd\" string");
	return 0;
}

int
ipcmsg_dp_hello(const msgpack_object *body, struct ipcmsg_dp_hello *m, const char **why)
{
	memset(m, 0, sizeof(*m));
	if (mp_get_str(body, "role", m->role, sizeof(m->role)) == -1 || m->role[0] == '\0' ||
	    mp_get_i64(body, "instance", &m->instance) == -1 || m->instance < 0 ||
	    mp_get_i64(body, "pid", &m->pid) == -1 || m->pid <= 0)
		return fail(why, "HELLO needs role (a short string), instance >= 0 and pid > 0");
	return 0;
}

int
ipcmsg_dp_events(const msgpack_object *body, const msgpack_object **arr, const char **why)
{
	*arr = mp_get(body, "ev");
	if (*arr == NULL || (*arr)->type != MSGPACK_OBJECT_ARRAY)
		return fail(why, "EVENTS without an ev array");
	return 0;
}

int
ipcmsg_dp_ack(const msgpack_object *body, int64_t *seq, const char **why)
{
	if (mp_get_i64(body, "seq", seq) == -1 || *seq < 0)
		return fail(why, "DP_ACK without a sequence number");
	return 0;
}

static int
gather_worker_read(const msgpack_object *w, struct ipcmsg_gather_worker *m)
{
	memset(m, 0, sizeof(*m));
	if (w->type != MSGPACK_OBJECT_MAP ||
	    mp_get_str(w, "role", m->role, sizeof(m->role)) == -1 || m->role[0] == '\0' ||
	    mp_get_str(w, "state", m->state, sizeof(m->state)) == -1 || m->state[0] == '\0' ||
	    mp_get_i64(w, "instance", &m->instance) == -1 || m->instance < 0 ||
	    mp_get_i64(w, "pid", &m->pid) == -1 || m->pid < 0 ||
	    mp_get_i64(w, "restarts", &m->restarts) == -1 || m->restarts < 0)
		return -1;
	return 0;
}

int
ipcmsg_gather(const msgpack_object *body, struct ipcmsg_gather *m, const char **why)
{
	const msgpack_object *t = mp_get(body, "text");
	struct ipcmsg_gather_worker w;

	memset(m, 0, sizeof(*m));
	if (t == NULL || t->type != MSGPACK_OBJECT_STR)
		return fail(why, "GATHER without a text");
	m->text = t->via.str.ptr;
	m->textlen = t->via.str.size;
	m->workers = mp_get(body, "workers");
	m->summary = mp_get(body, "summary");
	if (m->workers == NULL || m->workers->type != MSGPACK_OBJECT_ARRAY)
		return fail(why, "GATHER without a workers array");
	if (m->summary == NULL || m->summary->type != MSGPACK_OBJECT_MAP)
		return fail(why, "GATHER without a summary map");
	for (uint32_t i = 0; i < m->workers->via.array.size; i++)
		if (gather_worker_read(&m->workers->via.array.ptr[i], &w) == -1)
			return fail(why, "GATHER with a worker entry that lacks role, state, "
			    "instance, pid or restarts");
	return 0;
}

void
ipcmsg_gather_worker(const struct ipcmsg_gather *m, size_t i, struct ipcmsg_gather_worker *w)
{
	if (i >= m->workers->via.array.size ||
	    gather_worker_read(&m->workers->via.array.ptr[i], w) == -1)
		memset(w, 0, sizeof(*w));
}
