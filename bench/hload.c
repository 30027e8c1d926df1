/* hload: a small closed-loop HTTP/1.1 load generator for bench/registry.py.
 *
 * Why not wrk alone: wrk's response parser does not know which request a
 * response answers, so a HEAD response that carries the Content-Length of
 * the body a GET would get (as HTTP requires, and as registries send for
 * manifests) leaves it waiting for a body that never comes. hload knows its
 * method, so it measures HEAD as well as GET; GET runs with both tools
 * cross-check each other.
 *
 * Same model as wrk: THREADS threads, CONNS keep-alive connections split
 * between them, each connection sends one request, reads the whole
 * response (headers, then Content-Length bytes of body unless the method
 * is HEAD) and sends the next. Latency is from the first byte written to
 * the last byte read. No pipelining.
 *
 * Build: cc -O2 -pthread -o hload hload.c
 * Usage: hload -m METHOD -c CONNS -t THREADS -d SECONDS [-H 'Name: value']... URL
 * Prints one JSON object on stdout.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF 65536
/* Latencies are counted per microsecond up to this; slower ones land in
 * the last bucket (the maximum is kept exactly). */
#define HIST_US 1000000

struct conn {
	int fd;
	size_t sent;      /* bytes of the request written */
	size_t have;      /* header bytes buffered */
	int in_body;      /* headers parsed, discarding the body */
	uint64_t body_left;
	int close_after;  /* the response said Connection: close */
	int status;
	uint64_t start_ns;
	char buf[BUF];
};

struct errors {
	uint64_t connect, read, write, parse;
};

struct worker {
	pthread_t tid;
	int nconns;
	struct conn *conns;
	uint64_t requests;
	uint64_t bytes;
	uint64_t status[600];
	uint64_t max_us;
	uint64_t sum_us;
	uint32_t *hist;
	struct errors err;
};

static struct addrinfo *addr;
static char *request;
static size_t request_len;
static int is_head;
static uint64_t deadline_ns;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *msg)
{
	fprintf(stderr, "hload: %s\n", msg);
	exit(2);
}

static int open_conn(int ep, struct conn *c)
{
	int one = 1;
	c->fd = socket(addr->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	if (connect(c->fd, addr->ai_addr, addr->ai_addrlen) < 0) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	return 0;
}

/* Writes what is left of the request; asks for EPOLLOUT when the socket
 * is full. Returns -1 on a write error. */
static int send_more(int ep, struct conn *c)
{
	while (c->sent < request_len) {
		ssize_t n = write(c->fd, request + c->sent, request_len - c->sent);
		if (n < 0 && errno == EAGAIN) {
			struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
			epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
			return 0;
		}
		if (n <= 0)
			return -1;
		c->sent += (size_t)n;
	}
	return 0;
}

static int start_request(int ep, struct conn *c)
{
	c->sent = 0;
	c->have = 0;
	c->in_body = 0;
	c->body_left = 0;
	c->close_after = 0;
	c->start_ns = now_ns();
	return send_more(ep, c);
}

static void reconnect(int ep, struct worker *w, struct conn *c)
{
	if (c->fd >= 0) {
		epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	if (open_conn(ep, c) < 0) {
		w->err.connect++;
		return;
	}
	if (start_request(ep, c) < 0)
		w->err.write++;
}

/* The value of header `name` in the header block, or NULL. */
static const char *header(const char *block, const char *name)
{
	size_t len = strlen(name);
	for (const char *p = strstr(block, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
		const char *line = p + 2;
		if (strncasecmp(line, name, len) == 0 && line[len] == ':') {
			line += len + 1;
			while (*line == ' ')
				line++;
			return line;
		}
	}
	return NULL;
}

/* Parses the buffered header block once it is complete. Returns 1 when
 * the headers are in, 0 when more bytes are needed, -1 on garbage. */
static int parse_headers(struct conn *c)
{
	c->buf[c->have] = '\0';
	char *end = strstr(c->buf, "\r\n\r\n");
	if (!end)
		return c->have >= BUF - 1 ? -1 : 0;
	*end = '\0';
	if (strncmp(c->buf, "HTTP/1.", 7) != 0 || strlen(c->buf) < 12)
		return -1;
	c->status = atoi(c->buf + 9);
	if (c->status < 100 || c->status > 599)
		return -1;
	const char *cl = header(c->buf, "Content-Length");
	const char *te = header(c->buf, "Transfer-Encoding");
	const char *conn = header(c->buf, "Connection");
	if (te && !is_head)
		return -1; /* chunked bodies are not needed for manifests */
	c->close_after = conn && strncasecmp(conn, "close", 5) == 0;
	uint64_t body = (cl && !is_head && c->status != 204 && c->status != 304)
		? strtoull(cl, NULL, 10) : 0;
	size_t header_len = (size_t)(end - c->buf) + 4;
	uint64_t extra = c->have - header_len;
	if (extra > body)
		return -1; /* bytes beyond the response: we never pipeline */
	c->in_body = 1;
	c->body_left = body - extra;
	return 1;
}

static void complete(int ep, struct worker *w, struct conn *c)
{
	uint64_t now = now_ns();
	if (now > deadline_ns)
		return; /* finished after the window: not counted, not resent */
	uint64_t us = (now - c->start_ns) / 1000;
	w->requests++;
	w->status[c->status]++;
	w->sum_us += us;
	if (us > w->max_us)
		w->max_us = us;
	w->hist[us < HIST_US ? us : HIST_US - 1]++;
	if (c->close_after) {
		reconnect(ep, w, c);
		return;
	}
	if (start_request(ep, c) < 0) {
		w->err.write++;
		reconnect(ep, w, c);
	}
}

static void on_readable(int ep, struct worker *w, struct conn *c)
{
	for (;;) {
		char *dst = c->in_body ? c->buf : c->buf + c->have;
		size_t room = c->in_body ? BUF : BUF - 1 - c->have;
		ssize_t n = read(c->fd, dst, room);
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			w->err.read++;
			reconnect(ep, w, c);
			return;
		}
		w->bytes += (uint64_t)n;
		if (c->in_body) {
			if ((uint64_t)n > c->body_left) {
				w->err.parse++;
				reconnect(ep, w, c);
				return;
			}
			c->body_left -= (uint64_t)n;
		} else {
			c->have += (size_t)n;
			int r = parse_headers(c);
			if (r < 0) {
				w->err.parse++;
				reconnect(ep, w, c);
				return;
			}
			if (r == 0)
				continue;
		}
		if (c->body_left == 0) {
			complete(ep, w, c);
			return;
		}
	}
}

static void *run(void *arg)
{
	struct worker *w = arg;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1 failed");
	for (int i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];
		c->fd = -1;
		reconnect(ep, w, c);
	}
	struct epoll_event evs[256];
	while (now_ns() < deadline_ns) {
		int n = epoll_wait(ep, evs, 256, 50);
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (evs[i].events & EPOLLOUT) {
				if (send_more(ep, c) < 0) {
					w->err.write++;
					reconnect(ep, w, c);
					continue;
				}
				if (c->sent == request_len) {
					struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
					epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				}
			}
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				on_readable(ep, w, c);
		}
	}
	for (int i = 0; i < w->nconns; i++)
		if (w->conns[i].fd >= 0)
			close(w->conns[i].fd);
	close(ep);
	return NULL;
}

static uint64_t percentile(const uint64_t *hist, uint64_t total, double p)
{
	uint64_t want = (uint64_t)(p * (double)total + 0.5), seen = 0;
	if (want == 0)
		want = 1;
	for (uint64_t us = 0; us < HIST_US; us++) {
		seen += hist[us];
		if (seen >= want)
			return us;
	}
	return HIST_US;
}

int main(int argc, char **argv)
{
	const char *method = "GET";
	int conns = 64, threads = 2;
	double seconds = 10;
	char *headers = calloc(1, 1);
	size_t headers_len = 0;
	int opt;
	while ((opt = getopt(argc, argv, "m:c:t:d:H:")) != -1) {
		switch (opt) {
		case 'm': method = optarg; break;
		case 'c': conns = atoi(optarg); break;
		case 't': threads = atoi(optarg); break;
		case 'd': seconds = atof(optarg); break;
		case 'H': {
			size_t l = strlen(optarg);
			headers = realloc(headers, headers_len + l + 3);
			if (!headers)
				die("out of memory");
			memcpy(headers + headers_len, optarg, l);
			memcpy(headers + headers_len + l, "\r\n", 3);
			headers_len += l + 2;
			break;
		}
		default:
			die("usage: hload -m METHOD -c CONNS -t THREADS -d SECONDS [-H 'Name: value']... http://HOST:PORT/PATH");
		}
	}
	if (optind != argc - 1 || conns < 1 || threads < 1 || threads > conns || seconds <= 0)
		die("usage: hload -m METHOD -c CONNS -t THREADS -d SECONDS [-H 'Name: value']... http://HOST:PORT/PATH");
	is_head = strcasecmp(method, "HEAD") == 0;

	char host[256], port[16] = "80";
	const char *url = argv[optind];
	if (strncmp(url, "http://", 7) != 0)
		die("only http:// URLs");
	const char *hp = url + 7, *path = strchr(hp, '/');
	if (!path)
		path = "/";
	size_t hplen = (size_t)(path - hp);
	if (*path == '/' && path == hp)
		die("no host in the URL");
	if (hplen >= sizeof host)
		die("host too long");
	memcpy(host, hp, hplen);
	host[hplen] = '\0';
	char *colon = strrchr(host, ':');
	if (colon) {
		snprintf(port, sizeof port, "%s", colon + 1);
		*colon = '\0';
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	if (getaddrinfo(host, port, &hints, &addr) != 0)
		die("cannot resolve the host");

	size_t cap = strlen(method) + strlen(path) + hplen + headers_len + 64;
	request = malloc(cap);
	if (!request)
		die("out of memory");
	request_len = (size_t)snprintf(request, cap, "%s %s HTTP/1.1\r\nHost: %.*s\r\n%s\r\n",
				       method, path, (int)hplen, hp, headers);

	struct worker *ws = calloc((size_t)threads, sizeof *ws);
	if (!ws)
		die("out of memory");
	uint64_t start = now_ns();
	deadline_ns = start + (uint64_t)(seconds * 1e9);
	for (int t = 0; t < threads; t++) {
		struct worker *w = &ws[t];
		w->nconns = conns / threads + (t < conns % threads);
		w->conns = calloc((size_t)w->nconns, sizeof *w->conns);
		w->hist = calloc(HIST_US, sizeof *w->hist);
		if (!w->conns || !w->hist)
			die("out of memory");
		if (pthread_create(&w->tid, NULL, run, w) != 0)
			die("pthread_create failed");
	}
	uint64_t total = 0, bytes = 0, sum_us = 0, max_us = 0, status[600] = {0};
	struct errors err = {0};
	uint64_t *hist = calloc(HIST_US, sizeof *hist);
	if (!hist)
		die("out of memory");
	for (int t = 0; t < threads; t++) {
		struct worker *w = &ws[t];
		pthread_join(w->tid, NULL);
		total += w->requests;
		bytes += w->bytes;
		sum_us += w->sum_us;
		if (w->max_us > max_us)
			max_us = w->max_us;
		for (int s = 0; s < 600; s++)
			status[s] += w->status[s];
		for (int us = 0; us < HIST_US; us++)
			hist[us] += w->hist[us];
		err.connect += w->err.connect;
		err.read += w->err.read;
		err.write += w->err.write;
		err.parse += w->err.parse;
	}
	double elapsed = (double)(deadline_ns - start) / 1e9;
	uint64_t non2xx = 0;
	printf("{\"method\":\"%s\",\"connections\":%d,\"threads\":%d,\"seconds\":%.3f,"
	       "\"requests\":%llu,\"rps\":%.1f,\"bytes\":%llu,\"status\":{",
	       method, conns, threads, elapsed, (unsigned long long)total,
	       (double)total / elapsed, (unsigned long long)bytes);
	const char *sep = "";
	for (int s = 0; s < 600; s++) {
		if (!status[s])
			continue;
		printf("%s\"%d\":%llu", sep, s, (unsigned long long)status[s]);
		sep = ",";
		if (s < 200 || s > 299)
			non2xx += status[s];
	}
	printf("},\"non2xx\":%llu,\"errors\":{\"connect\":%llu,\"read\":%llu,\"write\":%llu,"
	       "\"parse\":%llu},\"latency_us\":{\"mean\":%.1f,\"p50\":%llu,\"p90\":%llu,"
	       "\"p99\":%llu,\"max\":%llu}}\n",
	       (unsigned long long)non2xx, (unsigned long long)err.connect,
	       (unsigned long long)err.read, (unsigned long long)err.write,
	       (unsigned long long)err.parse, total ? (double)sum_us / (double)total : 0.0,
	       (unsigned long long)percentile(hist, total, 0.5),
	       (unsigned long long)percentile(hist, total, 0.9),
	       (unsigned long long)percentile(hist, total, 0.99), (unsigned long long)max_us);
	return 0;
}
