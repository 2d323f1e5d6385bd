/*
 * core/listen.h - listening sockets owned by the core. Modules ask for them through the
 * host API; accepted TCP connections are spread over the worker loops. During a reload
 * closed listeners are parked (fd kept open, not accepting) so the next generation
 * takes the same fd for the same address without re-binding (nginx ls[i].remain).
 */
#ifndef CFS_LISTEN_H
#define CFS_LISTEN_H

#include <cfs/host.h>

struct event_base;

void cfs__listen_init(struct event_base *main_base);
cfs_listener *cfs__listen(const char *module, const char *addr, enum cfs_listen_kind kind,
                          cfs_accept_fn on_accept, void *arg, char *err, size_t errlen);
void cfs__listener_close(cfs_listener *l);
int cfs__listener_port(cfs_listener *l);
/* Reload window: listener_close parks instead of closing; park_end closes what nobody
 * took back. */
void cfs__listen_park_begin(void);
void cfs__listen_park_end(void);
/* Close every listener (shutdown). */
void cfs__listen_close_all(void);
/* Split "host:port", ":port", "[v6]:port" into host (may be "") and port. 0 or -EINVAL. */
int cfs__parse_hostport(const char *addr, char *host, size_t hostlen, char *port,
                        size_t portlen);

#endif
