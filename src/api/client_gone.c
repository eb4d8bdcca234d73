/* See client_gone.h. civetweb 1.15 exposes no socket descriptor, but the request info
 * holds both ends' ports and the client's address, which identify exactly one of the
 * process's sockets. The kernel's socket tables (/proc/net/tcp, tcp6) give that
 * socket's inode, and /proc/self/fd's links name the descriptor holding it. Other
 * threads' descriptors are never touched, only read about in /proc: they may be
 * closed or reused meanwhile (civetweb's other connections, its listening socket at
 * shutdown), and calling fstat or getpeername on them would race with that close. */
#include "api/client_gone.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A /proc/net/tcp address "0100007F:1F90" (tcp6: 32 hex digits before the colon) as
 * civetweb prints remote_addr, and its port. The kernel prints each 32-bit word of the
 * address as the integer it is in memory, so scanning it back into a uint32_t restores
 * the bytes on any byte order. */
static int proc_addr(const char *s, int v6, char *text, size_t cap, int *port) {
    uint32_t w[4];
    int nw = v6 ? 4 : 1;
    for (int i = 0; i < nw; i++) {
        char hex[9];
        memcpy(hex, s + 8 * i, 8);
        hex[8] = 0;
        char *end;
        unsigned long x = strtoul(hex, &end, 16);
        if (*end) return -1;
        w[i] = (uint32_t)x;
    }
    if (s[8 * nw] != ':') return -1;
    char *end;
    long p = strtol(s + 8 * nw + 1, &end, 16);
    if (end == s + 8 * nw + 1) return -1;
    *port = (int)p;
    return inet_ntop(v6 ? AF_INET6 : AF_INET, w, text, (socklen_t)cap) ? 0 : -1;
}

/* The inode of the TCP socket from local port `lport` to raddr:rport, 0 when none. */
static unsigned long socket_inode(const char *table, int v6, int lport, const char *raddr, int rport) {
    FILE *f = fopen(table, "r");
    if (!f) return 0;
    char line[512], la[64], ra[64];
    unsigned long inode = 0, ino;
    if (!fgets(line, sizeof line, f)) { fclose(f); return 0; }   /* the header */
    while (!inode && fgets(line, sizeof line, f)) {
        /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
        if (sscanf(line, " %*s %63s %63s %*s %*s %*s %*s %*s %*s %lu", la, ra, &ino) != 3 || !ino) continue;
        char ltext[INET6_ADDRSTRLEN], rtext[INET6_ADDRSTRLEN];
        int lp, rp;
        if (proc_addr(la, v6, ltext, sizeof ltext, &lp) || proc_addr(ra, v6, rtext, sizeof rtext, &rp)) continue;
        if (lp == lport && rp == rport && !strcmp(rtext, raddr)) inode = ino;
    }
    fclose(f);
    return inode;
}

int api_client_socket(const struct mg_connection *c) {
    const struct mg_request_info *ri = mg_get_request_info(c);
    if (!ri) return -1;
    unsigned long inode = socket_inode("/proc/net/tcp", 0, ri->server_port, ri->remote_addr, ri->remote_port);
    if (!inode) inode = socket_inode("/proc/net/tcp6", 1, ri->server_port, ri->remote_addr, ri->remote_port);
    if (!inode) return -1;
    char want[64];
    snprintf(want, sizeof want, "socket:[%lu]", inode);
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int found = -1;
    struct dirent *de;
    while (found < 0 && (de = readdir(d))) {
        char *end, path[64], link[64];
        long fd = strtol(de->d_name, &end, 10);
        if (*end || end == de->d_name || fd < 0 || fd > INT_MAX) continue;
        snprintf(path, sizeof path, "/proc/self/fd/%ld", fd);
        ssize_t n = readlink(path, link, sizeof link - 1);
        if (n <= 0) continue;
        link[n] = 0;
        if (!strcmp(link, want)) found = (int)fd;
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
