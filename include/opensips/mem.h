/* Accounted memory pools.
 *
 * shm: one pool shared by every thread, sized by `-m` (MB).
 * pkg: one pool per thread, sized by `-M` (MB); memory allocated by a thread
 *      must be freed by the same thread (as OpenSIPS's private memory).
 * An allocation that would take a pool past its size fails (returns NULL). */
#ifndef OPENSIPS_MEM_H
#define OPENSIPS_MEM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

void *shm_malloc(size_t size);
void *shm_realloc(void *p, size_t size);
void shm_free(void *p);
void *pkg_malloc(size_t size);
void *pkg_realloc(void *p, size_t size);
void pkg_free(void *p);

/* Bytes in use / pool size. pkg figures are the calling thread's. */
size_t shm_used(void);
size_t shm_size(void);
size_t pkg_used(void);
size_t pkg_size(void);

#ifdef __cplusplus
}
#endif
#endif
