#include "probe.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "rng.h"

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
    }
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
        float before = 0.0f;
        for (int delta = q + 1; delta <= ph->window; delta++)
          before += ctx[delta - 1];
        ph->before_start[q] = before;
        float pm = 0.0f;
        for (int n = 0; n < c->pers_mem_size; n++)
          pm += pers[n];
        ph->persistent[q] = pm;
      }
    }
}

SpnProbe *
spn_probe_run(SpnModel *m, const SpnVocab *vocab, const char *text, GError **error)
{
  const SpnConfig *c = &m->cfg;
  gsize n = 0;
  gsize *offsets = NULL;
  gint32 *tokens = spn_vocab_encode(vocab, text, -1, &n, &offsets, error);
  if (tokens == NULL)
    return NULL;
  if (n == 0) {
    g_set_error(error, SPN_PROBE_ERROR, SPN_PROBE_ERROR_EMPTY,
                "the text is empty: nothing to read");
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
  SpnRunner *r = spn_runner_new(m, 1, PROBE_CHUNK, FALSE);
  float *ctx = g_new(float, c->attn_span), *pers = g_new(float, MAX(1, c->pers_mem_size));
  p->surprisal[0] = NAN;
  for (int start = 0; start < p->n; start += PROBE_CHUNK) {
    int len = MIN(PROBE_CHUNK, p->n - start);
    spn_runner_forward(r, tokens + start, NULL, len, FALSE, NULL);
    const float *logp = spn_runner_logprobs(r);
    /* the last position of a chunk predicts the first token of the next one */
    for (int i = 0; i < len && start + i + 1 < p->n; i++)
      p->surprisal[start + i + 1] = -logp[(gsize)i * c->vocab_size + tokens[start + i + 1]] / G_LN2;
    probe_collect(p, m, r, start, len, ctx, pers);
  }
  g_free(ctx);
  g_free(pers);
  spn_runner_free(r);
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

static void
add_float(JsonBuilder *b, float v)
{
  if (isnan(v))
    json_builder_add_null_value(b);
  else { /* six significant digits keep files small without losing what a figure shows */
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
    json_builder_add_double_value(b, g_ascii_strtod(g_ascii_formatd(buf, sizeof buf, "%.6g", v), NULL));
  }
}

static void
head_json(JsonBuilder *b, const SpnProbe *p, int l, int h)
{
  const SpnProbeHead *ph = &p->heads[l * p->nheads + h];
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "span");
  add_float(b, p->spans[l * p->nheads + h]);
  json_builder_set_member_name(b, "window");
  json_builder_add_int_value(b, ph->window);
  json_builder_set_member_name(b, "attention");
  json_builder_begin_array(b);
  for (int i = 0; i < p->n; i++) {
    /* weights on the previous characters, nearest first (distance 1, 2, ...) */
    json_builder_begin_array(b);
    for (int delta = 1; delta <= MIN(i, ph->window); delta++)
      add_float(b, ph->weights[(gsize)i * ph->window + delta - 1]);
    json_builder_end_array(b);
  }
  json_builder_end_array(b);
  json_builder_set_member_name(b, "before_start");
  json_builder_begin_array(b);
  for (int i = 0; i < p->n; i++)
    add_float(b, ph->before_start[i]);
  json_builder_end_array(b);
  json_builder_set_member_name(b, "persistent");
  json_builder_begin_array(b);
  for (int i = 0; i < p->n; i++)
    add_float(b, ph->persistent[i]);
  json_builder_end_array(b);
  json_builder_end_object(b);
}

char *
spn_probe_to_json(const SpnProbe *p, const SpnVocab *vocab, const char *text)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "text");
  json_builder_add_string_value(b, text);
  json_builder_set_member_name(b, "tokens");
  json_builder_begin_array(b);
  for (int i = 0; i < p->n; i++)
    json_builder_add_string_value(b, vocab->tokens[p->tokens[i]]);
  json_builder_end_array(b);
  json_builder_set_member_name(b, "surprisal_bits");
  json_builder_begin_array(b);
  for (int i = 0; i < p->n; i++)
    add_float(b, p->surprisal[i]);
  json_builder_end_array(b);
  json_builder_set_member_name(b, "layers");
  json_builder_begin_array(b);
  for (int l = 0; l < p->nlayers; l++) {
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "heads");
    json_builder_begin_array(b);
    for (int h = 0; h < p->nheads; h++)
      head_json(b, p, l, h);
    json_builder_end_array(b);
    json_builder_end_object(b);
  }
  json_builder_end_array(b);
  json_builder_end_object(b);
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  return json_to_string(root, FALSE);
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
  }
  return c;
}
