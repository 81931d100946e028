#include "snapshot.h"

#include <string.h>

/* Snapshots made from one another share their history or probe instead of copying them (a
 * probe of a wide-span model holds tens of megabytes); the sharing is kept out of the public
 * struct so the figures and tests see plain fields. */
typedef struct {
  gint refs;
  gpointer data;
  GDestroyNotify free;
} Shared;

typedef struct {
  SpnSnapshot s;   /* first, so a SpnSnapshot* is the box */
  gint refs;
  Shared *history; /* holds s.history while it is shared */
  Shared *probe;   /* holds s.probe while it is shared */
} SnapshotBox;

static Shared *
shared_new(gpointer data, GDestroyNotify free_func)
{
  Shared *sh = g_new(Shared, 1);
  sh->refs = 1;
  sh->data = data;
  sh->free = free_func;
  return sh;
}

static Shared *
shared_ref(Shared *sh)
{
  g_atomic_int_inc(&sh->refs);
  return sh;
}

static void
shared_unref(Shared *sh)
{
  if (sh && g_atomic_int_dec_and_test(&sh->refs)) {
    sh->free(sh->data);
    g_free(sh);
  }
}

SpnSnapshot *
spn_snapshot_new(const SpnConfig *cfg)
{
  SnapshotBox *b = g_new0(SnapshotBox, 1);
  b->refs = 1;
  b->s.cfg = *cfg;
  b->s.spans = g_new0(float, cfg->nlayers * cfg->nheads);
  b->s.history = spn_history_new(cfg->nlayers, cfg->nheads);
  return &b->s;
}

SpnSnapshot *
spn_snapshot_ref(SpnSnapshot *s)
{
  g_atomic_int_inc(&((SnapshotBox *)s)->refs);
  return s;
}

/* Frees a field unless it is the shared one (whose holder frees it with its last user). */
static void
release(Shared *sh, gpointer field, GDestroyNotify free_func)
{
  if (sh == NULL || sh->data != field)
    free_func(field);
  shared_unref(sh);
}

void
spn_snapshot_unref(SpnSnapshot *s)
{
  SnapshotBox *b = (SnapshotBox *)s;
  if (s == NULL || !g_atomic_int_dec_and_test(&b->refs))
    return;
  release(b->history, s->history, (GDestroyNotify)spn_history_free);
  release(b->probe, s->probe, (GDestroyNotify)spn_probe_free);
  g_free(s->spans);
  g_free(s->corpus);
  g_free(s->passage);
  g_free(s->text);
  g_free(b);
}

/* the holder of a field of s, created on first share */
static Shared *
share(Shared **holder, gpointer field, GDestroyNotify free_func)
{
  if (field == NULL)
    return NULL;
  if (*holder == NULL || (*holder)->data != field) {
    shared_unref(*holder);
    *holder = shared_new(field, free_func);
  }
  return shared_ref(*holder);
}

/* A copy of s's training state (sharing its history) with no probe yet. */
static SnapshotBox *
copy_state(const SpnSnapshot *s)
{
  SnapshotBox *src = (SnapshotBox *)s, *b = g_new0(SnapshotBox, 1);
  b->refs = 1;
  b->s.cfg = s->cfg;
  b->s.step = s->step;
  b->s.spans = g_memdup2(s->spans, sizeof(float) * s->cfg.nlayers * s->cfg.nheads);
  b->s.corpus = g_strdup(s->corpus);
  b->s.vocab = s->vocab;
  b->s.passage = g_strdup(s->passage);
  /* snapshots are immutable once published, so creating the holder here races with nobody
   * but a concurrent share of the same snapshot, which publication rules out */
  b->history = share(&src->history, s->history, (GDestroyNotify)spn_history_free);
  b->s.history = s->history;
  return b;
}

SpnSnapshot *
spn_snapshot_with_probe(const SpnSnapshot *s, const char *text, SpnProbe *probe)
{
  SnapshotBox *b = copy_state(s);
  b->s.text = g_strdup(text);
  b->s.probe = probe;
  return &b->s;
}

SpnSnapshot *
spn_snapshot_with_probe_of(const SpnSnapshot *s, const SpnSnapshot *from)
{
  SnapshotBox *b = copy_state(s);
  b->s.text = g_strdup(from->text);
  b->probe = share(&((SnapshotBox *)from)->probe, from->probe, (GDestroyNotify)spn_probe_free);
  b->s.probe = from->probe;
  return &b->s;
}
