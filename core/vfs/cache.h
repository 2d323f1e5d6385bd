/*
 * core/vfs/cache.h - the fd cache of core/vfs/cache.c: handle bytes (+ mode, caller)
 * -> an open fd, bounded LRU, reference counted. The attribute cache is in backend.h.
 */
#ifndef CFS_VFS_CACHE_H
#define CFS_VFS_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cfs__fdc;
struct cfs__fdc_ent {
    struct cfs__fdc_ent *hnext;
    void *lru[2];        /* LRU links (private) */
    int fd;              /* valid while the reference is held */
    uint64_t ino;
    uint32_t refs;
    bool dead;
    uint8_t klen;
    uint8_t key[96];
};

struct cfs__fdc *cfs__fdc_new(void);
void cfs__fdc_free(struct cfs__fdc *c);
/* A referenced entry, or NULL. Release with cfs__fdc_put. */
struct cfs__fdc_ent *cfs__fdc_get(struct cfs__fdc *c, const void *key, size_t klen);
/* Insert (fd is owned by the cache from now, closed on failure); referenced entry. */
struct cfs__fdc_ent *cfs__fdc_add(struct cfs__fdc *c, const void *key, size_t klen, int fd,
                                  uint64_t ino);
void cfs__fdc_put(struct cfs__fdc *c, struct cfs__fdc_ent *e);
void cfs__fdc_forget_ino(struct cfs__fdc *c, uint64_t ino);
void cfs__fdc_forget_key(struct cfs__fdc *c, const void *key, size_t klen);
void cfs__fdc_flush(struct cfs__fdc *c);

#endif
