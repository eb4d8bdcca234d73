/* A function call on a thread with a full-size stack; see big_stack.h. */
#include "api/big_stack.h"

#include <pthread.h>

struct call {
    void (*fn)(void *);
    void *arg;
};

static void *trampoline(void *p) {
    struct call *c = p;
    c->fn(c->arg);
    return NULL;
}

int api_run_big_stack(void (*fn)(void *arg), void *arg) {
    struct call c = {fn, arg};
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
