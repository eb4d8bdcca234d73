/* See client_gone.h. civetweb 1.15 exposes no socket descriptor, but the request info
 * holds both ends' ports and the client's address, which identify exactly one of the
 * process's sockets; /proc/self/fd lists the candidates. */
#include "api/client_gone.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

/* Address text and port of a socket address, the way civetweb prints remote_addr. */
static int addr_text(const struct sockaddr_storage *a, char *out, size_t cap, int *port) {
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)a;
        *port = ntohs(v4->sin_port);
        return inet_ntop(AF_INET, &v4->sin_addr, out, (socklen_t)cap) ? 0 : -1;
    }
    if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)a;
        *port = ntohs(v6->sin6_port);
        return inet_ntop(AF_INET6, &v6->sin6_addr, out, (socklen_t)cap) ? 0 : -1;
    }
    return -1;
}

static int is_connection(int fd, const struct mg_request_info *ri) {
    struct sockaddr_storage peer, self;
    socklen_t np = sizeof peer, ns = sizeof self;
    char text[64];
    int pport = -1, sport = -1;
    if (getpeername(fd, (struct sockaddr *)&peer, &np) || getsockname(fd, (struct sockaddr *)&self, &ns)) return 0;
    if (addr_text(&peer, text, sizeof text, &pport) || pport != ri->remote_port) return 0;
    if (addr_text(&self, (char[64]){0}, 64, &sport) || sport != ri->server_port) return 0;
    return strcmp(text, ri->remote_addr) == 0;
}

int api_client_socket(const struct mg_connection *c) {
    const struct mg_request_info *ri = mg_get_request_info(c);
    if (!ri) return -1;
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int found = -1, own = dirfd(d);
    struct dirent *de;
    while ((de = readdir(d))) {
        char *end;
        long fd = strtol(de->d_name, &end, 10);
        if (*end || end == de->d_name || fd == own) continue;
        struct stat st;
        if (fstat((int)fd, &st) || !S_ISSOCK(st.st_mode)) continue;
        if (is_connection((int)fd, ri)) { found = (int)fd; break; }
    }
    closedir(d);
    return found;
}

int api_client_gone(int fd) {
    if (fd < 0) return 0;
    char b;
    ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) return 0;        /* a pipelined request waiting: the client is still there */
    if (n == 0) return 1;       /* orderly shutdown from the peer */
    return !(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
}
