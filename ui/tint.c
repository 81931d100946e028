/* tint.c — a colour scale over a text buffer's characters, retinted incrementally. */
#include "tint.h"

#include <math.h>
#include <string.h>

#define UNKNOWN 0xff      /* `applied` of inserted text: it may have inherited any tag */
/* A character keeps its level while its value stays within this many levels of it (rounding
 * alone would allow 0.5), which spares most characters a retint; the tint is then off by less
 * than one level of the scale. */
#define HYSTERESIS 0.8
/* Tag changes cost tens of microseconds each, so a retint of thousands of characters is spread
 * over main-loop turns of this many microseconds. */
#define SLICE_US 4000
#define RUN_MAX 16        /* characters retinted between two looks at the clock */

struct _SpnTint {
  GtkTextBuffer *buffer;
  GtkTextTag *tag[SPN_TINT_LEVELS];  /* [0] unused: no tint */
  GdkRGBA rgba[SPN_TINT_LEVELS];
  GArray *applied;                   /* guint8 per character */
  guint8 *want;                      /* NULL when no retint is pending */
  int segments[3][2];                /* the retint's ranges of characters, in order */
  int segment, pos;                  /* where the retint goes on */
  guint source;
};

/* ---- following the buffer's edits ---- */

/* An edit leaves a pending retint's levels misaligned: it stops, and the next set of wanted
 * levels starts another. */
static void
on_insert_text(GtkTextBuffer *buffer, GtkTextIter *at, const char *text, int len, SpnTint *t)
{
  (void)buffer;
  int offset = gtk_text_iter_get_offset(at), n = (int)g_utf8_strlen(text, len);
  spn_tint_stop(t);
  guint8 *unknown = g_malloc(MAX(n, 1));
  memset(unknown, UNKNOWN, n);
  g_array_insert_vals(t->applied, offset, unknown, n);
  g_free(unknown);
}

static void
on_delete_range(GtkTextBuffer *buffer, GtkTextIter *start, GtkTextIter *end, SpnTint *t)
{
  (void)buffer;
  int a = gtk_text_iter_get_offset(start), b = gtk_text_iter_get_offset(end);
  spn_tint_stop(t);
  g_array_remove_range(t->applied, MIN(a, b), ABS(b - a));
}

SpnTint *
spn_tint_new(GtkTextBuffer *buffer, SpnTintColors colors)
{
  SpnTint *t = g_new0(SpnTint, 1);
  GtkTextTagTable *table = gtk_text_buffer_get_tag_table(buffer);
  t->buffer = g_object_ref(buffer);
  t->applied = g_array_new(FALSE, TRUE, sizeof(guint8));
  g_array_set_size(t->applied, gtk_text_buffer_get_char_count(buffer));
  memset(t->applied->data, UNKNOWN, t->applied->len);
  for (int l = 1; l < SPN_TINT_LEVELS; l++) {
    GdkRGBA ink;
    gboolean has_ink;
    colors(l, &t->rgba[l], &ink, &has_ink);
    t->tag[l] = gtk_text_tag_new(NULL);
    g_object_set(t->tag[l], "background-rgba", &t->rgba[l], NULL);
    if (has_ink)
      g_object_set(t->tag[l], "foreground-rgba", &ink, NULL);
    gtk_text_tag_table_add(table, t->tag[l]);
    g_object_unref(t->tag[l]);  /* the table holds it */
  }
  /* before the default handlers: the offsets are those of the text before the edit */
  g_signal_connect(buffer, "insert-text", G_CALLBACK(on_insert_text), t);
  g_signal_connect(buffer, "delete-range", G_CALLBACK(on_delete_range), t);
  return t;
}

void
spn_tint_free(SpnTint *t)
{
  if (t == NULL)
    return;
  spn_tint_stop(t);
  g_signal_handlers_disconnect_by_data(t->buffer, t);
  g_object_unref(t->buffer);
  g_array_unref(t->applied);
  g_free(t);
}

const GdkRGBA *
spn_tint_rgba(const SpnTint *t, int level)
{
  return &t->rgba[CLAMP(level, 1, SPN_TINT_LEVELS - 1)];
}

GtkTextTag *
spn_tint_tag(const SpnTint *t, int level)
{
  return t->tag[CLAMP(level, 1, SPN_TINT_LEVELS - 1)];
}

guint8
spn_tint_wanted(const SpnTint *t, int nchars, int c, double x)
{
  guint8 applied = (int)t->applied->len == nchars ? ((const guint8 *)t->applied->data)[c] : UNKNOWN;
  x = isfinite(x) ? CLAMP(x, 0, SPN_TINT_LEVELS - 1) : 0;
  if (applied != UNKNOWN && fabs(x - applied) < HYSTERESIS)
    return applied;
  return (guint8)(x + 0.5);
}

void
spn_tint_forget(SpnTint *t)
{
  spn_tint_stop(t);
  g_array_set_size(t->applied, gtk_text_buffer_get_char_count(t->buffer));
  memset(t->applied->data, 0, t->applied->len);
}

/* ---- retints: jobs bringing the applied levels to the wanted ones ---- */

static void
apply_range(GtkTextBuffer *buffer, GtkTextTag *tag, gboolean apply, int from, int to)
{
  GtkTextIter a, b;
  gtk_text_buffer_get_iter_at_offset(buffer, &a, from);
  gtk_text_buffer_get_iter_at_offset(buffer, &b, to);
  if (apply)
    gtk_text_buffer_apply_tag(buffer, tag, &a, &b);
  else
    gtk_text_buffer_remove_tag(buffer, tag, &a, &b);
}

/* Retints [start, end), whose characters all differ from their wanted level: the run loses
 * only the tags it carries, then gets the wanted ones, one call per run of equal level. */
static void
retint_run(SpnTint *t, int start, int end)
{
  guint8 *applied = (guint8 *)t->applied->data;
  guint32 carried = 0;  /* bit l: some character of the run carries level l */
  for (int c = start; c < end; c++)
    carried |= applied[c] == UNKNOWN ? 0xffffu : 1u << applied[c];
  for (int l = 1; l < SPN_TINT_LEVELS; l++)
    if (carried & (1u << l))
      apply_range(t->buffer, t->tag[l], FALSE, start, end);
  for (int c = start; c < end;) {
    int from = c, level = t->want[c];
    while (c < end && t->want[c] == level)
      c++;
    if (level > 0)
      apply_range(t->buffer, t->tag[level], TRUE, from, c);
  }
  memcpy(applied + start, t->want + start, end - start);
}

void
spn_tint_stop(SpnTint *t)
{
  g_clear_handle_id(&t->source, g_source_remove);
  g_clear_pointer(&t->want, g_free);
}

gboolean
spn_tint_busy(const SpnTint *t)
{
  return t->want != NULL;
}

/* Works on the pending retint for at most budget µs; TRUE when it is done. */
static gboolean
tint_some(SpnTint *t, gint64 budget)
{
  gint64 deadline = g_get_monotonic_time() + budget;
  const guint8 *applied = (const guint8 *)t->applied->data;
  for (; t->segment < 3; t->segment++, t->pos = 0) {
    int c = MAX(t->pos, t->segments[t->segment][0]), end = t->segments[t->segment][1];
    while (c < end) {
      if (applied[c] == t->want[c]) {
        c++;
        continue;
      }
      int start = c;
      while (c < end && c - start < RUN_MAX && applied[c] != t->want[c])
        c++;
      retint_run(t, start, c);
      if (g_get_monotonic_time() > deadline) {
        t->pos = c;
        return FALSE;
      }
    }
  }
  g_clear_pointer(&t->want, g_free);
  return TRUE;
}

static gboolean
on_tint_idle(gpointer data)
{
  SpnTint *t = data;
  if (!tint_some(t, SLICE_US))
    return G_SOURCE_CONTINUE;
  t->source = 0;
  return G_SOURCE_REMOVE;
}

void
spn_tint_start(SpnTint *t, guint8 *want, int nchars, int visible_from, int visible_to)
{
  spn_tint_stop(t);
  if ((int)t->applied->len != nchars) {  /* never expected; start over rather than mis-tint */
    g_array_set_size(t->applied, nchars);
    memset(t->applied->data, UNKNOWN, nchars);
  }
  int from = CLAMP(visible_from, 0, nchars), to = CLAMP(visible_to, from, nchars);
  t->want = want;
  int segments[3][2] = {{from, to}, {to, nchars}, {0, from}};
  memcpy(t->segments, segments, sizeof segments);
  t->segment = 0;
  t->pos = 0;
  if (!tint_some(t, SLICE_US))
    t->source = g_idle_add_full(G_PRIORITY_DEFAULT_IDLE, on_tint_idle, t, NULL);
}
