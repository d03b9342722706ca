/* bench.c: `exsim --bench`. Starts an exsim server in a child process
 * pinned to one core, subscribes every account over a few /private/stream
 * connections with an lws client pinned to another core, and prints the
 * user events per second the clients really received. */
#include "exsim.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define BENCH_WARMUP_S 1

static uint64_t received;
static int connected, closed_early;

static void
pin_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	/* a box with one CPU just shares it; the figure says so */
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		fprintf(stderr, "exsim bench: cannot pin to cpu %d: %s\n", cpu, strerror(errno));
}

/* A blocking HTTP/1.0 exchange with the child on loopback; enough for the
 * handful of setup calls. Returns the body (malloc'd) or NULL. */
static char *
http_call(int port, const char *method, const char *path, const char *api_key)
{
	struct sockaddr_in sa;
	char req[1024];
	struct jbuf resp = { 0 };
	char buf[8192], *body = NULL, *hdr_end;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ssize_t n;

	if (fd < 0)
		return NULL;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return NULL;
	}
	n = snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n%s%s%s"
	    "Content-Length: 0\r\n\r\n", method, path, api_key ? "X-MBX-APIKEY: " : "",
	    api_key ? api_key : "", api_key ? "\r\n" : "");
	if (write(fd, req, (size_t)n) != n) {
		close(fd);
		return NULL;
	}
	/* stop at Content-Length: lws may keep even an HTTP/1.0 socket open */
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		char *cl;

		jb_raw(&resp, buf, (size_t)n);
		hdr_end = strstr(resp.p, "\r\n\r\n");
		cl = hdr_end ? strcasestr(resp.p, "content-length:") : NULL;
		if (cl && cl < hdr_end &&
		    resp.len - (size_t)(hdr_end + 4 - resp.p) >= (size_t)atol(cl + 15))
			break;
	}
	close(fd);
	if (resp.p && (hdr_end = strstr(resp.p, "\r\n\r\n")))
		body = strdup(hdr_end + 4);
	jb_free(&resp);
	return body;
}

static int
bench_client_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
    size_t len)
{
	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		connected++;
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (lws_is_final_fragment(wsi))
			received++;
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
	case LWS_CALLBACK_CLIENT_CLOSED:
		closed_early++;
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols bench_protocols[] = {
	{ "exsim-bench", bench_client_cb, 0, 65536, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static pid_t
spawn_server(const char *argv0, int *port)
{
	int pfd[2];
	pid_t pid;
	char rate[32], accounts[32], line[256];
	FILE *f;

	if (pipe(pfd) < 0)
		return -1;
	snprintf(rate, sizeof(rate), "%g", ex.cfg.rate);
	snprintf(accounts, sizeof(accounts), "%d", ex.cfg.accounts);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(pfd[0]);
		dup2(pfd[1], 1);
		pin_cpu(0);
		execl(argv0, argv0, "--listen", "127.0.0.1:0", "--rate", rate, "--accounts",
		    accounts, "--history", "200", "--paused", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	f = fdopen(pfd[0], "r");
	*port = 0;
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "REST http://127.0.0.1:", 22)) {
			*port = atoi(line + 22);
			break;
		}
	if (f)
		fclose(f);
	return pid;
}

static uint64_t
server_sent(int port)
{
	char *b = http_call(port, "GET", "/sim/stats", NULL);
	cJSON *root = b ? cJSON_Parse(b) : NULL;
	const cJSON *sent = root ? cJSON_GetObjectItemCaseSensitive(root, "eventsSent") : NULL;
	const cJSON *e;
	uint64_t total = 0;

	cJSON_ArrayForEach(e, sent) total += (uint64_t)e->valuedouble;
	cJSON_Delete(root);
	free(b);
	return total;
}

int
bench_run(const char *argv0)
{
	struct lws_context_creation_info info;
	struct lws_context *ctx;
	int port, i, nacc, conns = ex.cfg.bench_conns;
	pid_t pid;
	char *b;
	cJSON *accts;
	char **keys;
	uint64_t r0, s0, s1;
	int64_t t0, t1, end;

	if (ex.cfg.accounts < 1)
		ex.cfg.accounts = 100;
	if (ex.cfg.rate <= 100)
		ex.cfg.rate = 80000; /* above the 50k/s target; the figure is what arrives */
	pid = spawn_server(argv0, &port);
	if (pid < 0 || !port) {
		fprintf(stderr, "exsim bench: server did not start\n");
		return 1;
	}
	pin_cpu(1);
	b = http_call(port, "GET", "/sim/accounts", NULL);
	accts = b ? cJSON_Parse(b) : NULL;
	free(b);
	nacc = cJSON_GetArraySize(accts);
	keys = calloc((size_t)nacc, sizeof(*keys));
	for (i = 0; i < nacc; i++) {
		const cJSON *k = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(accts, i),
		    "apiKey");
		char *lk = cJSON_IsString(k) ? http_call(port, "POST", "/fapi/v1/listenKey",
		    k->valuestring) : NULL;
		cJSON *lj = lk ? cJSON_Parse(lk) : NULL;
		const cJSON *v = lj ? cJSON_GetObjectItemCaseSensitive(lj, "listenKey") : NULL;

		keys[i] = cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
		cJSON_Delete(lj);
		free(lk);
	}
	cJSON_Delete(accts);

	lws_set_log_level(LLL_ERR, NULL);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = bench_protocols;
	info.max_http_header_data = 60000;
	ctx = lws_create_context(&info);
	if (!ctx) {
		kill(pid, SIGTERM);
		return 1;
	}
	/* the lws 4.1 client stalls on request paths past ~2 KB, so keep at
	 * most 25 listen keys (75 bytes each) per connection */
	if (conns < (nacc + 24) / 25)
		conns = (nacc + 24) / 25;
	if (conns < 1)
		conns = 1;
	for (i = 0; i < conns; i++) {
		struct lws_client_connect_info ci;
		struct jbuf path = { 0 };
		int j;

		jb_puts(&path, "/private/stream?");
		for (j = i; j < nacc; j += conns)
			if (keys[j])
				jb_printf(&path, "%slistenKey=%s", j == i ? "" : "&", keys[j]);
		memset(&ci, 0, sizeof(ci));
		ci.context = ctx;
		ci.address = "127.0.0.1";
		ci.port = port;
		ci.path = path.p;
		ci.host = "127.0.0.1";
		ci.origin = "127.0.0.1";
		ci.protocol = NULL;
		ci.local_protocol_name = "exsim-bench";
		lws_client_connect_via_info(&ci);
		jb_free(&path);
	}
	end = ex_now_ms() + 5000;
	while (connected + closed_early < conns && ex_now_ms() < end)
		lws_service(ctx, 50);
	free(http_call(port, "POST", "/sim/fault", NULL));
	{
		/* resume the paused server now that every socket is subscribed */
		struct sockaddr_in sa;
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		char req[256];
		const char *body = "{\"kind\":\"resume\"}";
		int n;

		memset(&sa, 0, sizeof(sa));
		sa.sin_family = AF_INET;
		sa.sin_port = htons((uint16_t)port);
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			n = snprintf(req, sizeof(req), "POST /sim/fault HTTP/1.0\r\nContent-Length: "
			    "%zu\r\n\r\n%s", strlen(body), body);
			if (write(fd, req, (size_t)n) == n && read(fd, req, sizeof(req)) < 0)
				fprintf(stderr, "exsim bench: resume failed\n");
		}
		if (fd >= 0)
			close(fd);
	}
	end = ex_now_ms() + BENCH_WARMUP_S * 1000;
	while (ex_now_ms() < end)
		lws_service(ctx, 10);
	r0 = received;
	s0 = server_sent(port);
	t0 = ex_now_ms();
	end = t0 + ex.cfg.bench_seconds * 1000;
	while (ex_now_ms() < end)
		lws_service(ctx, 10);
	t1 = ex_now_ms();
	s1 = server_sent(port);
	printf("exsim bench: %.0f user events/s received by %d connections (%d accounts; server "
	    "queued %.0f/s; %d s measured)\n", (double)(received - r0) * 1000.0 / (double)(t1 - t0),
	    connected, nacc, (double)(s1 - s0) * 1000.0 / (double)(t1 - t0),
	    ex.cfg.bench_seconds);
	fflush(stdout);
	lws_context_destroy(ctx);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	for (i = 0; i < nacc; i++)
		free(keys[i]);
	free(keys);
	return connected == conns ? 0 : 1;
}
