/* The MCP client (mcp.h): JSON-RPC requests over Streamable HTTP (libcurl) or a child
 * process's stdin/stdout, each under a deadline and a size limit. */
#include "tools/mcp.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

struct mcp_client {
    int stdio;
    /* http */
    char *url;
    struct curl_slist *headers;
    char session[256];
    /* stdio */
    pid_t pid;
    int to_child, from_child;
    char *rbuf;
    size_t rlen, rcap;
    pthread_mutex_t mu;       /* one exchange at a time (a stdio server is shared) */
    int timeout_ms;
    int next_id;
    int dead;                 /* stdio: the command's end was seen (EOF, a failed write) */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- answers ---- */

/* Is j the answer to request id? */
static int is_answer(const cJSON *j, int id) {
    const cJSON *jid = cJSON_GetObjectItemCaseSensitive(j, "id");
    return cJSON_IsObject(j) && cJSON_IsNumber(jid) && jid->valueint == id &&
           (cJSON_GetObjectItemCaseSensitive(j, "result") || cJSON_GetObjectItemCaseSensitive(j, "error"));
}

/* The result of answer j, or NULL with err (a JSON-RPC error, no result). */
static const cJSON *answer_result(const cJSON *j, char *err, size_t cap) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (e) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message"), *code = cJSON_GetObjectItemCaseSensitive(e, "code");
        snprintf(err, cap, "the MCP server answered with an error%s%d: %.300s", cJSON_IsNumber(code) ? " " : "",
                 cJSON_IsNumber(code) ? code->valueint : 0, cJSON_IsString(m) ? m->valuestring : "(no message)");
        return NULL;
    }
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "result");
    if (!cJSON_IsObject(r)) {
        snprintf(err, cap, "the MCP server's answer has no result object");
        return NULL;
    }
    return r;
}

/* ---- Streamable HTTP ---- */

struct http_rx {
    char *p;
    size_t n, cap, max;
    int sse, id, too_big;
    cJSON *answer;            /* found in the event stream */
    size_t scanned;           /* SSE: bytes already split into events */
    char session[256];
    char ctype[128];
};

/* SSE: the complete events in rx so far; keeps the answer to rx->id when it comes. */
static void sse_scan(struct http_rx *rx) {
    while (!rx->answer) {
        char *start = rx->p + rx->scanned, *end = NULL;
        char *a = strstr(start, "\n\n"), *b = strstr(start, "\r\n\r\n");
        if (a && (!b || a < b)) end = a + 2;
        else if (b) end = b + 4;
        if (!end) return;
        /* the data: lines of the event, joined with \n */
        size_t cap = (size_t)(end - start) + 1, o = 0;
        char *data = malloc(cap);
        if (!data) return;
        for (char *line = start; line < end;) {
            char *nl = memchr(line, '\n', (size_t)(end - line));
            size_t ll = nl ? (size_t)(nl - line) : (size_t)(end - line);
            if (ll && line[ll - 1] == '\r') ll--;
            if (ll >= 5 && !strncmp(line, "data:", 5)) {
                size_t off = line[5] == ' ' ? 6 : 5;
                if (o) data[o++] = '\n';
                memcpy(data + o, line + off, ll - off);
                o += ll - off;
            }
            line = nl ? nl + 1 : end;
        }
        data[o] = 0;
        rx->scanned = (size_t)(end - rx->p);
        if (o) {
            cJSON *j = cJSON_Parse(data);
            if (is_answer(j, rx->id)) rx->answer = j;
            else cJSON_Delete(j);
        }
        free(data);
    }
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *user) {
    struct http_rx *rx = user;
    size_t k = size * nmemb;
    if (rx->n + k > rx->max) { rx->too_big = 1; return 0; }
    if (rx->n + k + 1 > rx->cap) {
        size_t nc = rx->cap ? rx->cap * 2 : 4096;
        while (nc < rx->n + k + 1) nc *= 2;
        char *q = realloc(rx->p, nc);
        if (!q) return 0;
        rx->p = q;
        rx->cap = nc;
    }
    memcpy(rx->p + rx->n, ptr, k);
    rx->n += k;
    rx->p[rx->n] = 0;
    if (rx->sse) {
        sse_scan(rx);
        if (rx->answer) return 0;   /* have it: stop reading (the server may keep the stream open) */
    }
    return k;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *user) {
    struct http_rx *rx = user;
    size_t k = size * nitems;
    char line[512];
    size_t l = k < sizeof line - 1 ? k : sizeof line - 1;
    memcpy(line, buf, l);
    line[l] = 0;
    while (l && (line[l - 1] == '\r' || line[l - 1] == '\n')) line[--l] = 0;
    if (!strncasecmp(line, "mcp-session-id:", 15)) {
        const char *v = line + 15;
        while (*v == ' ') v++;
        snprintf(rx->session, sizeof rx->session, "%.255s", v);
    } else if (!strncasecmp(line, "content-type:", 13)) {
        const char *v = line + 13;
        while (*v == ' ') v++;
        snprintf(rx->ctype, sizeof rx->ctype, "%.127s", v);
        rx->sse = !strncasecmp(v, "text/event-stream", 17);
    }
    return k;
}

/* One POST of msg. id > 0: a request whose answer is returned (*answer); id 0: a
 * notification (202 expected). */
static int http_exchange(mcp_client *m, const char *msg, int id, cJSON **answer, char *err, size_t cap) {
    *answer = NULL;
    CURL *h = curl_easy_init();
    if (!h) { snprintf(err, cap, "out of memory"); return -1; }
    struct http_rx rx = {.max = MCP_MAX_BYTES, .id = id};
    struct curl_slist *hd = NULL, *x;
    for (x = m->headers; x; x = x->next) hd = curl_slist_append(hd, x->data);
    hd = curl_slist_append(hd, "Content-Type: application/json");
    hd = curl_slist_append(hd, "Accept: application/json, text/event-stream");
    char sh[320];
    if (m->session[0]) {
        snprintf(sh, sizeof sh, "Mcp-Session-Id: %s", m->session);
        hd = curl_slist_append(hd, sh);
    }
    if (m->next_id > 1) hd = curl_slist_append(hd, "MCP-Protocol-Version: " MCP_PROTOCOL_VERSION);
    curl_easy_setopt(h, CURLOPT_URL, m->url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, msg);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &rx);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &rx);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)m->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)m->timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    curl_slist_free_all(hd);
    int ret = -1;
    if (rx.session[0]) memcpy(m->session, rx.session, sizeof m->session);
    if (rx.answer) { *answer = rx.answer; rx.answer = NULL; ret = 0; goto done; }
    if (rx.too_big) { snprintf(err, cap, "the MCP server's answer is larger than %u bytes", MCP_MAX_BYTES); goto done; }
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        snprintf(err, cap, "the MCP server did not answer within %d ms", m->timeout_ms);
        goto done;
    }
    if (rc != CURLE_OK) { snprintf(err, cap, "cannot reach the MCP server: %s", curl_easy_strerror(rc)); goto done; }
    if (status < 200 || status >= 300) {
        snprintf(err, cap, "the MCP server answered HTTP %ld%s%.200s", status, rx.n ? ": " : "", rx.p ? rx.p : "");
        goto done;
    }
    if (!id) { ret = 0; goto done; }   /* a notification: 202, nothing to read */
    if (!rx.sse) {
        cJSON *j = rx.p ? cJSON_Parse(rx.p) : NULL;
        if (cJSON_IsArray(j)) {   /* a batch: the one for us */
            cJSON *it;
            cJSON_ArrayForEach(it, j) if (is_answer(it, id)) { *answer = cJSON_Duplicate(it, 1); break; }
            cJSON_Delete(j);
        } else if (is_answer(j, id)) *answer = j;
        else cJSON_Delete(j);
        if (*answer) { ret = 0; goto done; }
    }
    snprintf(err, cap, "the MCP server's answer is not the JSON-RPC response expected (%s)%s%.80s",
             rx.ctype[0] ? rx.ctype : "no content type", rx.n ? ": " : "", rx.p ? rx.p : "");
done:
    free(rx.p);
    cJSON_Delete(rx.answer);
    return ret;
}

/* ---- stdio ---- */

static int stdio_write(mcp_client *m, const char *msg, char *err, size_t cap) {
    size_t n = strlen(msg), o = 0;
    char *line = malloc(n + 2);
    if (!line) { snprintf(err, cap, "out of memory"); return -1; }
    memcpy(line, msg, n);
    line[n] = '\n';
    n++;
    /* a command that has exited must not kill us with SIGPIPE: blocked for this thread
     * while writing, and one that came is taken back before unblocking */
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    int rc = 0;
    while (o < n) {
        ssize_t w = write(m->to_child, line + o, n - o);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) { rc = -1; break; }
        o += (size_t)w;
    }
    if (rc) {
        m->dead = 1;
        struct timespec zero = {0, 0};
        sigset_t pending;
        sigpending(&pending);
        if (sigismember(&pending, SIGPIPE)) sigtimedwait(&pipe_set, NULL, &zero);
        snprintf(err, cap, "the MCP command has exited (cannot write to it)");
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    free(line);
    return rc;
}

/* Reads lines until the answer to id comes, within the deadline. */
static int stdio_read(mcp_client *m, int id, cJSON **answer, char *err, size_t cap) {
    double deadline = now_ms() + m->timeout_ms;
    for (;;) {
        char *nl;
        while ((nl = m->rbuf ? memchr(m->rbuf, '\n', m->rlen) : NULL)) {
            *nl = 0;
            cJSON *j = cJSON_Parse(m->rbuf);
            size_t used = (size_t)(nl - m->rbuf) + 1;
            memmove(m->rbuf, nl + 1, m->rlen - used);
            m->rlen -= used;
            if (is_answer(j, id)) { *answer = j; return 0; }
            cJSON_Delete(j);   /* a notification, a log line, a request to us: not the answer */
        }
        if (m->rlen >= MCP_MAX_BYTES) { snprintf(err, cap, "the MCP command wrote a line longer than %u bytes", MCP_MAX_BYTES); return -1; }
        int left = (int)(deadline - now_ms());
        if (left <= 0) { snprintf(err, cap, "the MCP command did not answer within %d ms", m->timeout_ms); return -1; }
        struct pollfd pf = {.fd = m->from_child, .events = POLLIN};
        int pr = poll(&pf, 1, left);
        if (pr < 0 && errno == EINTR) continue;
        if (pr == 0) continue;
        if (m->rlen + 65536 + 1 > m->rcap) {
            size_t nc = m->rcap ? m->rcap * 2 : 65536 * 2;
            char *q = realloc(m->rbuf, nc);
            if (!q) { snprintf(err, cap, "out of memory"); return -1; }
            m->rbuf = q;
            m->rcap = nc;
        }
        ssize_t r = read(m->from_child, m->rbuf + m->rlen, 65536);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) { m->dead = 1; snprintf(err, cap, "the MCP command has exited"); return -1; }
        m->rlen += (size_t)r;
    }
}

/* ---- requests ---- */

/* A request: method and params (taken). id 0 = a notification. Returns the answer. */
static int rpc(mcp_client *m, const char *method, cJSON *params, int notify, cJSON **answer, char *err, size_t cap) {
    *answer = NULL;
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "jsonrpc", "2.0");
    int id = notify ? 0 : m->next_id++;
    if (!notify) cJSON_AddNumberToObject(req, "id", id);
    cJSON_AddStringToObject(req, "method", method);
    if (params) cJSON_AddItemToObject(req, "params", params);
    char *msg = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    if (!msg) { snprintf(err, cap, "out of memory"); return -1; }
    int rc;
    pthread_mutex_lock(&m->mu);
    if (m->stdio) {
        rc = stdio_write(m, msg, err, cap);
        if (!rc && !notify) rc = stdio_read(m, id, answer, err, cap);
    } else rc = http_exchange(m, msg, id, answer, err, cap);
    pthread_mutex_unlock(&m->mu);
    free(msg);
    return rc;
}

static int handshake(mcp_client *m, char *err, size_t cap) {
    cJSON *p = cJSON_CreateObject(), *ans = NULL;
    cJSON_AddStringToObject(p, "protocolVersion", MCP_PROTOCOL_VERSION);
    cJSON_AddObjectToObject(p, "capabilities");
    cJSON *ci = cJSON_AddObjectToObject(p, "clientInfo");
    cJSON_AddStringToObject(ci, "name", "omni");
    cJSON_AddStringToObject(ci, "version", "1");
    if (rpc(m, "initialize", p, 0, &ans, err, cap)) return -1;
    const cJSON *r = answer_result(ans, err, cap);
    int ok = r && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(r, "protocolVersion"));
    if (r && !ok) snprintf(err, cap, "the MCP server's initialize answer has no protocolVersion");
    cJSON_Delete(ans);
    if (!ok) return -1;
    return rpc(m, "notifications/initialized", NULL, 1, &ans, err, cap);
}

static mcp_client *client_new(int timeout_ms) {
    mcp_client *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    pthread_mutex_init(&m->mu, NULL);
    m->timeout_ms = timeout_ms > 0 ? timeout_ms : MCP_DEFAULT_TIMEOUT_MS;
    m->next_id = 1;
    m->to_child = m->from_child = -1;
    return m;
}

int mcp_connect_http(const char *url, const cJSON *headers, int timeout_ms, mcp_client **out, char *err, size_t cap) {
    *out = NULL;
    if (!url || (strncasecmp(url, "http://", 7) && strncasecmp(url, "https://", 8))) {
        snprintf(err, cap, "an MCP server_url must be an http:// or https:// URL");
        return -1;
    }
    pthread_once(&curl_once, curl_init_once);
    mcp_client *m = client_new(timeout_ms);
    if (!m || !(m->url = strdup(url))) {
        if (m) mcp_close(m);
        snprintf(err, cap, "out of memory");
        return -1;
    }
    const cJSON *h;
    cJSON_ArrayForEach(h, headers) {
        if (!cJSON_IsString(h) || !h->string || strpbrk(h->string, "\r\n:") || strpbrk(h->valuestring, "\r\n")) {
            snprintf(err, cap, "MCP headers must be an object of header names to string values (no line breaks)");
            mcp_close(m);
            return -1;
        }
        char line[1024];
        snprintf(line, sizeof line, "%s: %s", h->string, h->valuestring);
        m->headers = curl_slist_append(m->headers, line);
    }
    if (handshake(m, err, cap)) { mcp_close(m); return -1; }
    *out = m;
    return 0;
}

int mcp_connect_stdio(const char *command, int timeout_ms, mcp_client **out, char *err, size_t cap) {
    *out = NULL;
    int in[2], outp[2];
    if (pipe(in)) { snprintf(err, cap, "cannot make a pipe: %s", strerror(errno)); return -1; }
    if (pipe(outp)) { close(in[0]); close(in[1]); snprintf(err, cap, "cannot make a pipe: %s", strerror(errno)); return -1; }
    pid_t pid = fork();
    if (pid < 0) {
        close(in[0]); close(in[1]); close(outp[0]); close(outp[1]);
        snprintf(err, cap, "cannot start the MCP command: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(outp[1], 1);
        for (int fd = 3; fd < 1024; fd++) close(fd);
        execl("/bin/sh", "sh", "-c", command, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(outp[1]);
    fcntl(in[1], F_SETFD, FD_CLOEXEC);
    fcntl(outp[0], F_SETFD, FD_CLOEXEC);
    mcp_client *m = client_new(timeout_ms);
    if (!m) {
        close(in[1]); close(outp[0]);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        snprintf(err, cap, "out of memory");
        return -1;
    }
    m->stdio = 1;
    m->pid = pid;
    m->to_child = in[1];
    m->from_child = outp[0];
    if (handshake(m, err, cap)) { mcp_close(m); return -1; }
    *out = m;
    return 0;
}

int mcp_alive(mcp_client *m) {
    if (!m->stdio) return 1;
    pthread_mutex_lock(&m->mu);
    int st;
    if (m->pid > 0 && waitpid(m->pid, &st, WNOHANG) == m->pid) m->pid = -1;   /* exited: reaped here */
    int alive = m->pid > 0 && !m->dead;
    pthread_mutex_unlock(&m->mu);
    return alive;
}

void mcp_close(mcp_client *m) {
    if (!m) return;
    if (m->stdio) {
        if (m->to_child >= 0) close(m->to_child);
        if (m->from_child >= 0) close(m->from_child);
        if (m->pid > 0) {
            /* closing stdin asks it to end; it gets a moment, then SIGKILL */
            int st;
            double until = now_ms() + 500;
            while (waitpid(m->pid, &st, WNOHANG) == 0) {
                if (now_ms() > until) { kill(m->pid, SIGKILL); waitpid(m->pid, &st, 0); break; }
                struct timespec ts = {0, 10000000};
                nanosleep(&ts, NULL);
            }
        }
    }
    free(m->url);
    free(m->rbuf);
    curl_slist_free_all(m->headers);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

int mcp_list_tools(mcp_client *m, cJSON **tools, char *err, size_t cap) {
    *tools = cJSON_CreateArray();
    char cursor[512] = "";
    for (int page = 0; page < 100; page++) {
        cJSON *p = NULL, *ans = NULL;
        if (cursor[0]) {
            p = cJSON_CreateObject();
            cJSON_AddStringToObject(p, "cursor", cursor);
        }
        if (rpc(m, "tools/list", p, 0, &ans, err, cap)) goto fail;
        const cJSON *r = answer_result(ans, err, cap), *list = r ? cJSON_GetObjectItemCaseSensitive(r, "tools") : NULL, *t;
        if (r && !cJSON_IsArray(list)) snprintf(err, cap, "the MCP server's tools/list answer has no tools array");
        if (!cJSON_IsArray(list)) { cJSON_Delete(ans); goto fail; }
        cJSON_ArrayForEach(t, list) {
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(t, "name"), *ds = cJSON_GetObjectItemCaseSensitive(t, "description");
            const cJSON *sc = cJSON_GetObjectItemCaseSensitive(t, "inputSchema"), *an = cJSON_GetObjectItemCaseSensitive(t, "annotations");
            if (!cJSON_IsString(nm) || !nm->valuestring[0] || strlen(nm->valuestring) > 64) {
                snprintf(err, cap, "the MCP server listed a tool without a valid name (1 to 64 characters)");
                cJSON_Delete(ans);
                goto fail;
            }
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", nm->valuestring);
            if (cJSON_IsString(ds)) cJSON_AddStringToObject(o, "description", ds->valuestring);
            else cJSON_AddNullToObject(o, "description");
            if (cJSON_IsObject(sc)) cJSON_AddItemToObject(o, "input_schema", cJSON_Duplicate(sc, 1));
            else {
                cJSON *s = cJSON_AddObjectToObject(o, "input_schema");
                cJSON_AddStringToObject(s, "type", "object");
            }
            if (cJSON_IsObject(an)) cJSON_AddItemToObject(o, "annotations", cJSON_Duplicate(an, 1));
            else cJSON_AddNullToObject(o, "annotations");
            cJSON_AddItemToArray(*tools, o);
        }
        const cJSON *nc = cJSON_GetObjectItemCaseSensitive(r, "nextCursor");
        int more = cJSON_IsString(nc) && nc->valuestring[0] && strlen(nc->valuestring) < sizeof cursor;
        if (more) snprintf(cursor, sizeof cursor, "%s", nc->valuestring);
        cJSON_Delete(ans);
        if (!more) return 0;
    }
    snprintf(err, cap, "the MCP server's tools/list has more than 100 pages");
fail:
    cJSON_Delete(*tools);
    *tools = NULL;
    return -1;
}

int mcp_call_tool(mcp_client *m, const char *name, const char *args_json, char **output, int *is_error, char *err,
                  size_t cap) {
    *output = NULL;
    *is_error = 0;
    cJSON *args = args_json && args_json[0] ? cJSON_Parse(args_json) : cJSON_CreateObject();
    if (!cJSON_IsObject(args)) {
        cJSON_Delete(args);
        snprintf(err, cap, "the call's arguments are not a JSON object");
        return -1;
    }
    cJSON *p = cJSON_CreateObject(), *ans = NULL;
    cJSON_AddStringToObject(p, "name", name);
    cJSON_AddItemToObject(p, "arguments", args);
    if (rpc(m, "tools/call", p, 0, &ans, err, cap)) return -1;
    const cJSON *r = answer_result(ans, err, cap);
    if (!r) { cJSON_Delete(ans); return -1; }
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(r, "content"), *part;
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(r, "structuredContent");
    if (!cJSON_IsArray(content) && !sc) {
        snprintf(err, cap, "the MCP server's tools/call answer has no content");
        cJSON_Delete(ans);
        return -1;
    }
    *is_error = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "isError"));
    size_t n = 0, cap2 = 256;
    char *o = malloc(cap2);
    if (!o) { cJSON_Delete(ans); snprintf(err, cap, "out of memory"); return -1; }
    o[0] = 0;
    int k = 0;
    cJSON_ArrayForEach(part, content) {
        const cJSON *ty = cJSON_GetObjectItemCaseSensitive(part, "type"), *tx = cJSON_GetObjectItemCaseSensitive(part, "text");
        char *piece = NULL;
        const char *s;
        if (cJSON_IsString(ty) && !strcmp(ty->valuestring, "text") && cJSON_IsString(tx)) s = tx->valuestring;
        else s = piece = cJSON_PrintUnformatted(part);
        size_t l = s ? strlen(s) : 0;
        if (n + l + 2 > cap2) {
            while (n + l + 2 > cap2) cap2 *= 2;
            char *q = realloc(o, cap2);
            if (!q) { free(piece); free(o); cJSON_Delete(ans); snprintf(err, cap, "out of memory"); return -1; }
            o = q;
        }
        if (k++) o[n++] = '\n';
        if (l) memcpy(o + n, s, l);
        n += l;
        o[n] = 0;
        free(piece);
    }
    if (!k && sc) {
        free(o);
        o = cJSON_PrintUnformatted(sc);
    }
    cJSON_Delete(ans);
    *output = o;
    return o ? 0 : -1;
}
