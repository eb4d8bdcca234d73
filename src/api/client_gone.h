/* Noticing that an HTTP client hung up while its handler is busy waiting (civetweb
 * tells a handler nothing until it writes): the connection's socket is found once by
 * its address pair and then peeked without blocking. */
#ifndef OMNI_API_CLIENT_GONE_H
#define OMNI_API_CLIENT_GONE_H

#include <civetweb.h>

/* The socket of connection c, or -1 when it cannot be told apart (then never "gone"). */
int api_client_socket(const struct mg_connection *c);
/* 1 when the peer has closed or reset fd; 0 while it is open (or fd < 0). Never blocks. */
int api_client_gone(int fd);

#endif
