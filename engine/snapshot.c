#include "snapshot.h"

#include <string.h>

SpnSnapshot *
spn_snapshot_new(const SpnConfig *cfg)
{
  SpnSnapshot *s = g_atomic_rc_box_new0(SpnSnapshot);
  s->cfg = *cfg;
  s->spans = g_new0(float, cfg->nlayers * cfg->nheads);
  s->history = spn_history_new_full(cfg->nlayers, cfg->nheads, cfg->pers_mem_size > 0);
  return s;
}

SpnSnapshot *
spn_snapshot_ref(SpnSnapshot *s)
{
  return g_atomic_rc_box_acquire(s);
}

static void
snapshot_clear(gpointer data)
{
  SpnSnapshot *s = data;
  spn_history_unref(s->history);
  spn_probe_unref(s->probe);
  g_free(s->spans);
  g_free(s->corpus);
  g_free(s->passage);
  g_free(s->text);
}

void
spn_snapshot_unref(SpnSnapshot *s)
{
  if (s != NULL)
    g_atomic_rc_box_release_full(s, snapshot_clear);
}

/* A copy of s's training state (sharing its history) with no probe yet. */
static SpnSnapshot *
copy_state(const SpnSnapshot *s)
{
  SpnSnapshot *c = g_atomic_rc_box_new0(SpnSnapshot);
  c->cfg = s->cfg;
  c->step = s->step;
  c->spans = g_memdup2(s->spans, sizeof(float) * s->cfg.nlayers * s->cfg.nheads);
  c->corpus = g_strdup(s->corpus);
  c->vocab = s->vocab;
  c->passage = g_strdup(s->passage);
  c->history = spn_history_snapshot(s->history);
  return c;
}

SpnSnapshot *
spn_snapshot_with_probe(const SpnSnapshot *s, const char *text, SpnProbe *probe)
{
  SpnSnapshot *c = copy_state(s);
  c->text = g_strdup(text);
  c->probe = probe;
  return c;
}

SpnSnapshot *
spn_snapshot_with_probe_of(const SpnSnapshot *s, const SpnSnapshot *from)
{
  SpnSnapshot *c = copy_state(s);
  c->text = g_strdup(from->text);
  c->probe = from->probe ? spn_probe_ref(from->probe) : NULL;
  return c;
}
