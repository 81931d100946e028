#include "probe.h"

#include <gio/gio.h>
#include <math.h>
#include <string.h>

#include "jsonwrite.h"

/* how many tokens one forward call reads */
#define PROBE_CHUNK 256

G_DEFINE_QUARK(spn-probe-error-quark, spn_probe_error)

static void
probe_alloc_heads(SpnProbe *p, const SpnModel *m)
{
  const SpnConfig *c = &m->cfg;
  p->nlayers = c->nlayers;
  p->nheads = c->nheads;
  p->spans = g_new(float, c->nlayers * c->nheads);
  p->heads = g_new0(SpnProbeHead, c->nlayers * c->nheads);
  for (int l = 0; l < c->nlayers; l++)
    for (int h = 0; h < c->nheads; h++) {
      SpnProbeHead *ph = &p->heads[l * c->nheads + h];
      float z = c->adapt_span ? m->w.layers[l].z[h] : 0.0f;
      p->spans[l * c->nheads + h] = spn_model_span(m, l, h);
      ph->window = spn_attention_window(z, c->attn_span, c->adapt_span_ramp, c->adapt_span);
      ph->weights = g_new0(float, (gsize)p->n * ph->window);
      ph->before_start = g_new0(float, p->n);
      ph->persistent = g_new0(float, p->n);
      ph->n_slots = c->pers_mem_size;
      if (ph->n_slots > 0)
        ph->slots = g_new0(float, (gsize)p->n * ph->n_slots);
    }
}

/* the weight on distances past the start of the text (the zero cache) */
static float
mass_before_start(const float *ctx, int q, int window)
{
  float before = 0.0f;
  for (int delta = q + 1; delta <= window; delta++)
    before += ctx[delta - 1];
  return before;
}

static float
persistent_mass(const float *pers, int n)
{
  float pm = 0.0f;
  for (int k = 0; k < n; k++)
    pm += pers[k];
  return pm;
}

/* copies the attention of the chunk starting at token `start` out of the runner */
static void
probe_collect(SpnProbe *p, const SpnModel *m, SpnRunner *r, int start, int len, float *ctx,
              float *pers)
{
  const SpnConfig *c = &m->cfg;
  for (int l = 0; l < c->nlayers; l++)
    for (int h = 0; h < c->nheads; h++) {
      SpnProbeHead *ph = &p->heads[l * c->nheads + h];
      for (int i = 0; i < len; i++) {
        int q = start + i;
        spn_runner_attention(r, l, 0, h, i, ctx, c->pers_mem_size > 0 ? pers : NULL);
        memcpy(ph->weights + (gsize)q * ph->window, ctx, sizeof(float) * ph->window);
        ph->before_start[q] = mass_before_start(ctx, q, ph->window);
        ph->persistent[q] = persistent_mass(pers, c->pers_mem_size);
        if (ph->slots != NULL)
          memcpy(ph->slots + (gsize)q * ph->n_slots, pers, sizeof(float) * ph->n_slots);
      }
    }
}

/* Reads tokens[0..n) in chunks of PROBE_CHUNK positions; after each chunk's forward pass `chunk`
 * gets the runner and the surprisal of the chunk's positions (NaN at 0: nothing precedes it). */
typedef gboolean (*ChunkFunc)(SpnRunner *r, int start, int len, const float *surprisal,
                              gpointer data, GError **error);

static gboolean
probe_walk(SpnModel *m, const gint32 *tokens, int n, ChunkFunc chunk, gpointer data,
           GError **error)
{
  const SpnConfig *c = &m->cfg;
  SpnRunner *r = spn_runner_new(m, 1, PROBE_CHUNK, FALSE);
  float surprisal[PROBE_CHUNK];
  /* the last position of a chunk predicts the first token of the next one */
  float carried = NAN;
  gboolean ok = TRUE;
  for (int start = 0; ok && start < n; start += PROBE_CHUNK) {
    int len = MIN(PROBE_CHUNK, n - start);
    spn_runner_forward(r, tokens + start, NULL, len, FALSE, NULL);
    const float *logp = spn_runner_logprobs(r);
    surprisal[0] = carried;
    for (int i = 0; i + 1 < len; i++)
      surprisal[i + 1] = -logp[(gsize)i * c->vocab_size + tokens[start + i + 1]] / G_LN2;
    if (start + len < n)
      carried = -logp[(gsize)(len - 1) * c->vocab_size + tokens[start + len]] / G_LN2;
    ok = chunk(r, start, len, surprisal, data, error);
  }
  spn_runner_free(r);
  return ok;
}

static gint32 *
probe_encode(const SpnVocab *vocab, const char *text, gssize len, gsize *n, gsize **offsets,
             GError **error)
{
  gint32 *tokens = spn_vocab_encode(vocab, text, len, n, offsets, error);
  if (tokens != NULL && *n == 0) {
    g_set_error(error, SPN_PROBE_ERROR, SPN_PROBE_ERROR_EMPTY,
                "the text is empty: nothing to read");
    g_clear_pointer(offsets, g_free);
    g_clear_pointer(&tokens, g_free);
  }
  if (tokens != NULL && *n > G_MAXINT / 2) {
    g_set_error(error, SPN_PROBE_ERROR, SPN_PROBE_ERROR_TOO_LONG,
                "the text has %zu tokens; at most %d can be read", (size_t)*n, G_MAXINT / 2);
    g_clear_pointer(offsets, g_free);
    g_clear_pointer(&tokens, g_free);
  }
  return tokens;
}

typedef struct {
  SpnProbe *p;
  const SpnModel *m;
  float *ctx, *pers;
} Collect;

static gboolean
collect_chunk(SpnRunner *r, int start, int len, const float *surprisal, gpointer data,
              GError **error)
{
  (void)error;
  Collect *c = data;
  memcpy(c->p->surprisal + start, surprisal, sizeof(float) * len);
  probe_collect(c->p, c->m, r, start, len, c->ctx, c->pers);
  return TRUE;
}

/* Bytes the reading of n tokens keeps: every head's weights over its window, its two masses,
 * and per token its id, offset and surprisal. */
static double
probe_bytes(const SpnModel *m, gsize n)
{
  const SpnConfig *c = &m->cfg;
  double per_token = sizeof(gint32) + sizeof(gsize) + sizeof(float);
  for (int l = 0; l < c->nlayers; l++)
    for (int h = 0; h < c->nheads; h++) {
      float z = c->adapt_span ? m->w.layers[l].z[h] : 0.0f;
      per_token += sizeof(float) * (2.0 + spn_attention_window(z, c->attn_span,
                                                               c->adapt_span_ramp, c->adapt_span));
    }
  return per_token * (double)n;
}

/* A reading that would not fit is refused with how long a text can be, before anything is
 * allocated for it. */
static gboolean
check_length(const SpnModel *m, gsize n, GError **error)
{
  double bytes = probe_bytes(m, n);
  if (n <= (gsize)G_MAXINT && bytes <= SPN_PROBE_MAX_BYTES)
    return TRUE;
  gsize fits = (gsize)MIN((double)G_MAXINT, SPN_PROBE_MAX_BYTES / (bytes / (double)n));
  g_set_error(error, SPN_PROBE_ERROR, SPN_PROBE_ERROR_TOO_LONG,
              "reading %" G_GSIZE_FORMAT " characters would keep %.1f GB of attention weights "
              "(every head, every distance it can see); read at most %" G_GSIZE_FORMAT
              " characters at once with this model",
              n, bytes / 1e9, fits);
  return FALSE;
}

SpnProbe *
spn_probe_run(SpnModel *m, const SpnVocab *vocab, const char *text, GError **error)
{
  const SpnConfig *c = &m->cfg;
  gsize n = 0;
  gsize *offsets = NULL;
  gint32 *tokens = probe_encode(vocab, text, -1, &n, &offsets, error);
  if (tokens == NULL)
    return NULL;
  if (!check_length(m, n, error)) {
    g_free(tokens);
    g_free(offsets);
    return NULL;
  }
  SpnProbe *p = spn_probe_new();
  p->n = (int)n;
  p->tokens = tokens;
  p->offsets = offsets;
  p->surprisal = g_new(float, n);
  probe_alloc_heads(p, m);
  Collect collect = {p, m, g_new(float, c->attn_span), g_new(float, MAX(1, c->pers_mem_size))};
  probe_walk(m, tokens, p->n, collect_chunk, &collect, NULL);
  g_free(collect.ctx);
  g_free(collect.pers);
  return p;
}

SpnProbe *
spn_probe_new(void)
{
  return g_atomic_rc_box_new0(SpnProbe);
}

SpnProbe *
spn_probe_ref(SpnProbe *p)
{
  return g_atomic_rc_box_acquire(p);
}

static void
probe_clear(gpointer data)
{
  SpnProbe *p = data;
  for (int k = 0; p->heads != NULL && k < p->nlayers * p->nheads; k++) {
    g_free(p->heads[k].weights);
    g_free(p->heads[k].before_start);
    g_free(p->heads[k].persistent);
    g_free(p->heads[k].slots);
  }
  g_free(p->heads);
  g_free(p->spans);
  g_free(p->tokens);
  g_free(p->offsets);
  g_free(p->surprisal);
}

void
spn_probe_unref(SpnProbe *p)
{
  if (p != NULL)
    g_atomic_rc_box_release_full(p, probe_clear);
}

/* ---- the reading as JSON, a block of positions at a time ---- */

#define DIGITS 6 /* six significant digits keep files small without losing what a figure shows */

typedef struct {
  const SpnModel *m;
  const SpnVocab *vocab;
  const char *text;
  gsize text_len;
  const gint32 *tokens;
  const gsize *offsets;
  int n;
  SpnProbeSelection sel;
  int *chosen;    /* layer · nheads + head of every head written, in the order written */
  int *window;    /* its window */
  int n_chosen;
  float *ctx, *pers;
  float *slots;   /* n_chosen × pers_mem_size: the position's weights on persistent vectors */
  int *top;       /* top_k distances, strongest first */
  GString *buf;
  GOutputStream *out;
} Writer;

static gboolean
writer_flush(Writer *w, GError **error)
{
  gboolean ok = g_output_stream_write_all(w->out, w->buf->str, w->buf->len, NULL, NULL, error);
  g_string_truncate(w->buf, 0);
  return ok;
}

/* the k strongest distances of 1..reach, strongest first (the nearer one of equals) */
static int
top_distances(const float *ctx, int reach, int k, int *top)
{
  int n = 0;
  for (int delta = 1; delta <= reach; delta++) {
    float v = ctx[delta - 1];
    if (n == k && v <= ctx[top[n - 1] - 1])
      continue;
    int at = n < k ? n++ : k - 1;
    while (at > 0 && ctx[top[at - 1] - 1] < v) {
      top[at] = top[at - 1];
      at--;
    }
    top[at] = delta;
  }
  return n;
}

/* one head's weights for query q: dense, nearest first, or the strongest as [distance, weight] */
static void
write_weights(Writer *w, int q, int window)
{
  int reach = MIN(q, window);
  if (w->sel.max_distance > 0)
    reach = MIN(reach, w->sel.max_distance);
  g_string_append_c(w->buf, '[');
  if (w->sel.top_k > 0) {
    int n = top_distances(w->ctx, reach, w->sel.top_k, w->top);
    for (int j = 0; j < n; j++) {
      g_string_append_printf(w->buf, "%s[%d,", j ? "," : "", w->top[j]);
      spn_json_number(w->buf, w->ctx[w->top[j] - 1], DIGITS);
      g_string_append_c(w->buf, ']');
    }
  } else
    for (int delta = 1; delta <= reach; delta++) {
      if (delta > 1)
        g_string_append_c(w->buf, ',');
      spn_json_number(w->buf, w->ctx[delta - 1], DIGITS);
    }
  g_string_append_c(w->buf, ']');
}

static void
write_slots(Writer *w)
{
  int N = w->m->cfg.pers_mem_size;
  spn_json_key(w->buf, "persistent_slots", FALSE);
  g_string_append_c(w->buf, '[');
  for (int k = 0; k < w->n_chosen; k++) {
    g_string_append(w->buf, k ? ",[" : "[");
    for (int j = 0; j < N; j++) {
      if (j > 0)
        g_string_append_c(w->buf, ',');
      spn_json_number(w->buf, w->slots[(gsize)k * N + j], DIGITS);
    }
    g_string_append_c(w->buf, ']');
  }
  g_string_append_c(w->buf, ']');
}

static void
write_position(Writer *w, SpnRunner *r, int q, int i, float surprisal)
{
  const SpnConfig *c = &w->m->cfg;
  GString *b = w->buf;
  gsize from = w->offsets[q], to = q + 1 < w->n ? w->offsets[q + 1] : w->text_len;
  g_string_append(b, q ? ",\n{" : "\n{");
  spn_json_key(b, "offset", TRUE);
  g_string_append_printf(b, "%zu", (size_t)from);
  spn_json_key(b, "token", FALSE);
  spn_json_string(b, w->vocab->tokens[w->tokens[q]], -1);
  spn_json_key(b, "text", FALSE);
  spn_json_string(b, w->text + from, (gssize)(to - from));
  spn_json_key(b, "surprisal_bits", FALSE);
  spn_json_number(b, surprisal, DIGITS);
  float *before = g_newa(float, w->n_chosen), *persistent = g_newa(float, w->n_chosen);
  spn_json_key(b, w->sel.top_k > 0 ? "top" : "attention", FALSE);
  g_string_append_c(b, '[');
  for (int k = 0; k < w->n_chosen; k++) {
    int l = w->chosen[k] / c->nheads, h = w->chosen[k] % c->nheads;
    spn_runner_attention(r, l, 0, h, i, w->ctx, c->pers_mem_size > 0 ? w->pers : NULL);
    if (k > 0)
      g_string_append_c(b, ',');
    write_weights(w, q, w->window[k]);
    before[k] = mass_before_start(w->ctx, q, w->window[k]);
    persistent[k] = persistent_mass(w->pers, c->pers_mem_size);
    if (c->pers_mem_size > 0)
      memcpy(w->slots + (gsize)k * c->pers_mem_size, w->pers, sizeof(float) * c->pers_mem_size);
  }
  g_string_append_c(b, ']');
  const char *keys[] = {"before_start", "persistent"};
  const float *values[] = {before, persistent};
  for (int j = 0; j < 2; j++) {
    spn_json_key(b, keys[j], FALSE);
    g_string_append_c(b, '[');
    for (int k = 0; k < w->n_chosen; k++) {
      if (k > 0)
        g_string_append_c(b, ',');
      spn_json_number(b, values[j][k], DIGITS);
    }
    g_string_append_c(b, ']');
  }
  if (c->pers_mem_size > 0) /* each head's weight on every persistent vector */
    write_slots(w);
  g_string_append_c(b, '}');
}

static gboolean
write_chunk(SpnRunner *r, int start, int len, const float *surprisal, gpointer data,
            GError **error)
{
  Writer *w = data;
  for (int i = 0; i < len; i++)
    write_position(w, r, start + i, i, surprisal[i]);
  return writer_flush(w, error);
}

static void
write_header(Writer *w)
{
  const SpnConfig *c = &w->m->cfg;
  GString *b = w->buf;
  g_string_append_c(b, '{');
  spn_json_key(b, "text", TRUE);
  spn_json_string(b, w->text, (gssize)w->text_len);
  spn_json_key(b, "heads", FALSE);
  g_string_append_c(b, '[');
  for (int k = 0; k < w->n_chosen; k++) {
    int l = w->chosen[k] / c->nheads, h = w->chosen[k] % c->nheads;
    g_string_append_printf(b, "%s{\"layer\":%d,\"head\":%d,\"span\":", k ? "," : "", l, h);
    spn_json_number(b, spn_model_span(w->m, l, h), DIGITS);
    g_string_append_printf(b, ",\"window\":%d}", w->window[k]);
  }
  g_string_append_c(b, ']');
  spn_json_key(b, "max_distance", FALSE);
  if (w->sel.max_distance > 0)
    g_string_append_printf(b, "%d", w->sel.max_distance);
  else
    g_string_append(b, "null");
  spn_json_key(b, "top_k", FALSE);
  if (w->sel.top_k > 0)
    g_string_append_printf(b, "%d", w->sel.top_k);
  else
    g_string_append(b, "null");
  spn_json_key(b, "positions", FALSE);
  g_string_append_c(b, '[');
}

/* the heads of the selection, layer by layer */
static void
writer_choose(Writer *w)
{
  const SpnConfig *c = &w->m->cfg;
  w->chosen = g_new(int, c->nlayers * c->nheads);
  w->window = g_new(int, c->nlayers * c->nheads);
  for (int l = 0; l < c->nlayers; l++)
    for (int h = 0; h < c->nheads; h++)
      if ((w->sel.layers == NULL || w->sel.layers[l]) &&
          (w->sel.heads == NULL || w->sel.heads[h])) {
        float z = c->adapt_span ? w->m->w.layers[l].z[h] : 0.0f;
        w->window[w->n_chosen] = spn_attention_window(z, c->attn_span, c->adapt_span_ramp,
                                                      c->adapt_span);
        w->chosen[w->n_chosen++] = l * c->nheads + h;
      }
}

gboolean
spn_probe_write_json(SpnModel *m, const SpnVocab *vocab, const char *text, gsize len,
                     const SpnProbeSelection *sel, GOutputStream *out, GError **error)
{
  const SpnConfig *c = &m->cfg;
  gsize n = 0;
  g_autofree gsize *offsets = NULL;
  g_autofree gint32 *tokens = probe_encode(vocab, text, (gssize)len, &n, &offsets, error);
  if (tokens == NULL)
    return FALSE;
  Writer w = {.m = m, .vocab = vocab, .text = text, .text_len = len, .tokens = tokens,
              .offsets = offsets, .n = (int)n, .out = out};
  if (sel)
    w.sel = *sel;
  writer_choose(&w);
  w.ctx = g_new(float, c->attn_span);
  w.pers = g_new(float, MAX(1, c->pers_mem_size));
  w.slots = g_new(float, MAX(1, (gsize)w.n_chosen * c->pers_mem_size));
  w.top = g_new(int, MAX(1, w.sel.top_k));
  w.buf = g_string_sized_new(1 << 16);
  write_header(&w);
  gboolean ok = writer_flush(&w, error) && probe_walk(m, tokens, w.n, write_chunk, &w, error);
  if (ok) {
    g_string_append(w.buf, "\n]}\n");
    ok = writer_flush(&w, error);
  }
  g_string_free(w.buf, TRUE);
  g_free(w.top);
  g_free(w.ctx);
  g_free(w.pers);
  g_free(w.slots);
  g_free(w.chosen);
  g_free(w.window);
  return ok;
}

/* never NULL, even for an empty reading, so a copy can be used like the original */
static gpointer
dup_array(gconstpointer src, gsize bytes)
{
  gpointer dst = g_malloc(MAX(bytes, 1));
  if (bytes > 0)
    memcpy(dst, src, bytes);
  return dst;
}

SpnProbe *
spn_probe_snapshot(const SpnProbe *p)
{
  if (p->frozen)
    return spn_probe_ref((SpnProbe *)p);
  gsize n = (gsize)p->n, nh = (gsize)p->nlayers * p->nheads;
  SpnProbe *c = spn_probe_new();
  c->frozen = TRUE;
  c->n = p->n;
  c->nlayers = p->nlayers;
  c->nheads = p->nheads;
  c->tokens = dup_array(p->tokens, sizeof(gint32) * n);
  c->offsets = dup_array(p->offsets, sizeof(gsize) * n);
  c->surprisal = dup_array(p->surprisal, sizeof(float) * n);
  c->spans = dup_array(p->spans, sizeof(float) * nh);
  c->heads = g_new0(SpnProbeHead, nh);
  for (gsize k = 0; k < nh; k++) {
    const SpnProbeHead *src = &p->heads[k];
    SpnProbeHead *dst = &c->heads[k];
    dst->window = src->window;
    dst->weights = dup_array(src->weights, sizeof(float) * n * src->window);
    dst->before_start = dup_array(src->before_start, sizeof(float) * n);
    dst->persistent = dup_array(src->persistent, sizeof(float) * n);
    dst->n_slots = src->n_slots;
    dst->slots = src->slots ? dup_array(src->slots, sizeof(float) * n * src->n_slots) : NULL;
  }
  return c;
}
