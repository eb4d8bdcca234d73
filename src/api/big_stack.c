/* A function call on a thread with a full-size stack; see big_stack.h. */
#include "api/big_stack.h"

#include <pthread.h>

#include "api/meter.h"

struct call {
    void (*fn)(void *);
    void *arg;
    struct api_meter *meter; /* the caller's request meter: the call counts for it (api/meter.h) */
};

static void *trampoline(void *p) {
    struct call *c = p;
    api_meter_use(c->meter);
    c->fn(c->arg);
    api_meter_use(NULL);
    return NULL;
}

int api_run_big_stack(void (*fn)(void *arg), void *arg) {
    struct call c = {fn, arg, api_meter_current()};
    pthread_attr_t attr;
    pthread_t t;
    if (pthread_attr_init(&attr)) return -1;
    int rc = pthread_attr_setstacksize(&attr, API_BIG_STACK_BYTES);
    if (!rc) rc = pthread_create(&t, &attr, trampoline, &c);
    pthread_attr_destroy(&attr);
    if (rc) return -1;
    pthread_join(t, NULL);
    return 0;
}
