#include "params.h"

#include <math.h>
#include <string.h>

static void
add(GArray *specs, gsize *total, int ndim, gint64 d0, gint64 d1, gint64 d2, const char *fmt, ...)
  G_GNUC_PRINTF(7, 8);

static void
add(GArray *specs, gsize *total, int ndim, gint64 d0, gint64 d1, gint64 d2, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  SpnTensorSpec s = {.name = g_strdup_vprintf(fmt, ap), .ndim = ndim, .shape = {d0, d1, d2}};
  va_end(ap);
  s.numel = (gsize)d0 * (ndim > 1 ? d1 : 1) * (ndim > 2 ? d2 : 1);
  s.offset = *total;
  /* 16-float alignment keeps every tensor on its own cache lines */
  *total += (s.numel + 15) / 16 * 16;
  g_array_append_val(specs, s);
}

SpnLayout *
spn_layout_new(const SpnConfig *c)
{
  GArray *specs = g_array_new(FALSE, FALSE, sizeof(SpnTensorSpec));
  gsize total = 0;
  int d = c->hid_sz, K = c->nheads, D = spn_config_head_dim(c), N = c->pers_mem_size;
  int F = c->inner_hid_sz, V = c->vocab_size, S = c->attn_span;
  add(specs, &total, 2, V, d, 0, "in_emb.weight");
  add(specs, &total, 3, 1, D, S, "key_pe");
  for (int l = 0; l < c->nlayers; l++) {
    add(specs, &total, 2, d, d, 0, "layers.%d.attn.proj_query.weight", l);
    add(specs, &total, 2, d, d, 0, "layers.%d.attn.proj_key.weight", l);
    /* no padding between keys and values: together they are one 2d×d matrix */
    total = g_array_index(specs, SpnTensorSpec, specs->len - 1).offset + (gsize)d * d;
    add(specs, &total, 2, d, d, 0, "layers.%d.attn.proj_val.weight", l);
    add(specs, &total, 2, d, d, 0, "layers.%d.attn.proj_out.weight", l);
    if (c->adapt_span)
      add(specs, &total, 3, K, 1, 1, "layers.%d.attn.attn.adaptive_span._mask.current_val", l);
    if (N > 0) {
      add(specs, &total, 3, K, D, N, "layers.%d.attn.attn.persistent_memory.key", l);
      add(specs, &total, 3, K, N, D, "layers.%d.attn.attn.persistent_memory.val", l);
    }
    add(specs, &total, 1, d, 0, 0, "layers.%d.norm1.weight", l);
    add(specs, &total, 1, d, 0, 0, "layers.%d.norm1.bias", l);
    if (N == 0) {
      add(specs, &total, 2, F, d, 0, "layers.%d.ff.fc1.weight", l);
      add(specs, &total, 1, F, 0, 0, "layers.%d.ff.fc1.bias", l);
      add(specs, &total, 2, d, F, 0, "layers.%d.ff.fc2.weight", l);
      add(specs, &total, 1, d, 0, 0, "layers.%d.ff.fc2.bias", l);
      add(specs, &total, 1, d, 0, 0, "layers.%d.norm2.weight", l);
      add(specs, &total, 1, d, 0, 0, "layers.%d.norm2.bias", l);
    }
  }
  add(specs, &total, 2, V, d, 0, "out_emb.weight");
  add(specs, &total, 1, V, 0, 0, "out_emb.bias");
  SpnLayout *layout = g_new0(SpnLayout, 1);
  layout->n_tensors = specs->len;
  layout->total = total;
  layout->tensors = (SpnTensorSpec *)g_array_free(specs, FALSE);
  return layout;
}

void
spn_layout_free(SpnLayout *layout)
{
  if (layout == NULL)
    return;
  for (int i = 0; i < layout->n_tensors; i++)
    g_free(layout->tensors[i].name);
  g_free(layout->tensors);
  g_free(layout);
}

int
spn_layout_find(const SpnLayout *layout, const char *name)
{
  for (int i = 0; i < layout->n_tensors; i++)
    if (strcmp(layout->tensors[i].name, name) == 0)
      return i;
  return -1;
}

static float *
at(const SpnLayout *layout, float *base, const char *name)
{
  int i = spn_layout_find(layout, name);
  return i < 0 ? NULL : base + layout->tensors[i].offset;
}

void
spn_weights_bind(SpnWeights *w, const SpnConfig *c, const SpnLayout *layout, float *base)
{
  w->base = base;
  w->nlayers = c->nlayers;
  w->in_emb = at(layout, base, "in_emb.weight");
  w->key_pe = at(layout, base, "key_pe");
  w->out_w = at(layout, base, "out_emb.weight");
  w->out_b = at(layout, base, "out_emb.bias");
  w->layers = g_new0(SpnLayerWeights, c->nlayers);
  for (int l = 0; l < c->nlayers; l++) {
    SpnLayerWeights *lw = &w->layers[l];
    char name[128];
#define AT(field, suffix)                                          \
  g_snprintf(name, sizeof name, "layers.%d." suffix, l);           \
  lw->field = at(layout, base, name)
    AT(wq, "attn.proj_query.weight");
    AT(wk, "attn.proj_key.weight");
    AT(wv, "attn.proj_val.weight");
    AT(wo, "attn.proj_out.weight");
    AT(z, "attn.attn.adaptive_span._mask.current_val");
    AT(pk, "attn.attn.persistent_memory.key");
    AT(pv, "attn.attn.persistent_memory.val");
    AT(ln1_g, "norm1.weight");
    AT(ln1_b, "norm1.bias");
    AT(fc1_w, "ff.fc1.weight");
    AT(fc1_b, "ff.fc1.bias");
    AT(fc2_w, "ff.fc2.weight");
    AT(fc2_b, "ff.fc2.bias");
    AT(ln2_g, "norm2.weight");
    AT(ln2_b, "norm2.bias");
#undef AT
  }
}

void
spn_weights_unbind(SpnWeights *w)
{
  g_clear_pointer(&w->layers, g_free);
}

static void
fill_uniform(float *p, gsize n, double bound, SpnRng *rng)
{
  for (gsize i = 0; i < n; i++)
    p[i] = (float)((2.0 * spn_rng_uniform(rng) - 1.0) * bound);
}

static void
fill_normal(float *p, gsize n, double scale, SpnRng *rng)
{
  for (gsize i = 0; i < n; i++)
    p[i] = (float)(spn_rng_normal(rng) * scale);
}

void
spn_weights_init(SpnWeights *w, const SpnConfig *c, const SpnLayout *layout, SpnRng *rng)
{
  int D = spn_config_head_dim(c);
  memset(w->base, 0, layout->total * sizeof(float));
  for (int i = 0; i < layout->n_tensors; i++) {
    const SpnTensorSpec *s = &layout->tensors[i];
    float *p = w->base + s->offset;
    const char *n = s->name;
    if (g_str_has_suffix(n, "in_emb.weight") || g_str_equal(n, "key_pe"))
      fill_normal(p, s->numel, 1.0, rng);
    else if (g_str_has_suffix(n, "persistent_memory.key"))
      fill_normal(p, s->numel, 1.0 / sqrt(D), rng);
    else if (g_str_has_suffix(n, "persistent_memory.val"))
      fill_normal(p, s->numel, 1.0 / sqrt(c->pers_mem_size), rng);
    else if (g_str_has_suffix(n, "current_val"))
      for (gsize k = 0; k < s->numel; k++)
        p[k] = (float)c->adapt_span_init;
    else if (strstr(n, "norm") != NULL)
      for (gsize k = 0; k < s->numel; k++)
        p[k] = g_str_has_suffix(n, ".weight") ? 1.0f : 0.0f;
    else {
      /* linear weight (out×in) or bias: both bounded by 1/sqrt(fan_in) */
      int fan_in = s->ndim == 2 ? (int)s->shape[1] : (g_str_has_prefix(n, "out_emb") ? c->hid_sz
                   : g_str_has_suffix(n, "fc2.bias") ? c->inner_hid_sz : c->hid_sz);
      fill_uniform(p, s->numel, 1.0 / sqrt(fan_in), rng);
    }
  }
}

SpnParamBlob *
spn_param_blob_new(const SpnConfig *cfg, const SpnLayout *layout, const float *params)
{
  SpnParamBlob *b = g_atomic_rc_box_alloc(sizeof(SpnParamBlob) + sizeof(float) * layout->total);
  b->cfg = *cfg;
  b->total = layout->total;
  memcpy(b->params, params, sizeof(float) * layout->total);
  return b;
}

SpnParamBlob *
spn_param_blob_ref(SpnParamBlob *b)
{
  return g_atomic_rc_box_acquire(b);
}

void
spn_param_blob_unref(SpnParamBlob *b)
{
  if (b != NULL)
    g_atomic_rc_box_release(b);
}
