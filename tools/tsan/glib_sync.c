/* tools/tsan: GLib is not instrumented, and its GMutex, GCond and GAsyncQueue synchronise
 * through futexes ThreadSanitizer cannot see, so every hand-off between the worker's threads
 * would look like a race. These wrappers, interposed on the calls spanscope makes, tell it what
 * each call means: an unlock releases the mutex and a lock acquires it, a wait does both, a push
 * releases the queue and a pop acquires it. */
#include <dlfcn.h>
#include <glib.h>
#include <sanitizer/tsan_interface.h>

/* The real function, looked up once; threads calling a wrapper for the first time at once
 * look it up together, so the pointer is read and written atomically. */
#define REAL(name)                                                                          \
  static __typeof__(&name) real_##name;                                                     \
  __typeof__(&name) real = __atomic_load_n(&real_##name, __ATOMIC_ACQUIRE);                  \
  if (real == NULL) {                                                                       \
    real = (__typeof__(&name))dlsym(RTLD_NEXT, #name);                                      \
    __atomic_store_n(&real_##name, real, __ATOMIC_RELEASE);                                 \
  }

void
g_mutex_lock(GMutex *m)
{
  REAL(g_mutex_lock);
  real(m);
  __tsan_acquire(m);
}

void
g_mutex_unlock(GMutex *m)
{
  REAL(g_mutex_unlock);
  __tsan_release(m);
  real(m);
}

gboolean
g_mutex_trylock(GMutex *m)
{
  REAL(g_mutex_trylock);
  gboolean ok = real(m);
  if (ok)
    __tsan_acquire(m);
  return ok;
}

void
g_cond_wait(GCond *c, GMutex *m)
{
  REAL(g_cond_wait);
  __tsan_release(m);
  real(c, m);
  __tsan_acquire(m);
}

gboolean
g_cond_wait_until(GCond *c, GMutex *m, gint64 end_time)
{
  REAL(g_cond_wait_until);
  __tsan_release(m);
  gboolean ok = real(c, m, end_time);
  __tsan_acquire(m);
  return ok;
}

void
g_async_queue_push(GAsyncQueue *q, gpointer data)
{
  REAL(g_async_queue_push);
  __tsan_release(q);
  real(q, data);
}

gpointer
g_async_queue_pop(GAsyncQueue *q)
{
  REAL(g_async_queue_pop);
  gpointer data = real(q);
  __tsan_acquire(q);
  return data;
}

gpointer
g_async_queue_try_pop(GAsyncQueue *q)
{
  REAL(g_async_queue_try_pop);
  gpointer data = real(q);
  __tsan_acquire(q);
  return data;
}
