#include "checkpoint.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "safetensors.h"

/* clang-format off */
G_DEFINE_QUARK(spn-checkpoint-error-quark, spn_checkpoint_error)
/* clang-format on */

static const char *
moment_name(SpnOptimKind kind, int k)
{
  /* PyTorch's names for the state of each optimizer */
  if (kind == SPN_OPTIM_ADAM)
    return k == 0 ? "exp_avg" : "exp_avg_sq";
  return "sum";
}

static void
add_tensor(SpnStWriter *w, const SpnTensorSpec *s, const char *prefix, const float *base)
{
  g_autofree char *name = g_strconcat(prefix, s->name, NULL);
  spn_st_writer_add(w, name, SPN_DTYPE_F32, s->ndim, s->shape, base + s->offset);
}

gboolean
spn_checkpoint_save(const SpnCheckpoint *ck, const char *path, GError **error)
{
  const SpnModel *m = ck->model;
  const SpnLayout *layout = m->layout;
  SpnStWriter *w = spn_st_writer_new();
  for (int i = 0; i < layout->n_tensors; i++)
    add_tensor(w, &layout->tensors[i], "", m->params);
  g_autofree char *config = spn_config_to_json(&m->cfg);
  g_autofree char *vocab = spn_vocab_to_json(ck->vocab);
  spn_st_writer_set_metadata(w, "format", "spanscope-checkpoint");
  spn_st_writer_set_metadata(w, "version", G_STRINGIFY(SPN_CHECKPOINT_VERSION));
  spn_st_writer_set_metadata(w, "config", config);
  spn_st_writer_set_metadata(w, "vocab", vocab);
  g_autofree char *optim = NULL, *step = NULL;
  if (ck->optim != NULL) {
    const SpnOptim *o = ck->optim;
    for (int k = 0; k < (o->kind == SPN_OPTIM_ADAM ? 2 : 1); k++) {
      g_autofree char *prefix = g_strdup_printf("optimizer.%s.", moment_name(o->kind, k));
      for (int i = 0; i < layout->n_tensors; i++)
        add_tensor(w, &layout->tensors[i], prefix, k == 0 ? o->m1 : o->m2);
    }
    optim = g_strdup_printf("{\"kind\":\"%s\",\"step\":%" G_GINT64_FORMAT "}",
                            spn_optim_name(o->kind), o->step);
    step = g_strdup_printf("%" G_GINT64_FORMAT, o->step);
    spn_st_writer_set_metadata(w, "optimizer", optim);
    spn_st_writer_set_metadata(w, "step", step);
  }
  gint64 cache_shape[3] = {ck->cache_batch, m->cfg.attn_span, m->cfg.hid_sz};
  for (int l = 0; l < ck->n_caches; l++) {
    g_autofree char *name = g_strdup_printf("trainer.cache.%d", l);
    spn_st_writer_add(w, name, SPN_DTYPE_F32, 3, cache_shape, ck->caches[l]);
  }
  if (ck->trainer_json)
    spn_st_writer_set_metadata(w, "trainer", ck->trainer_json);
  if (ck->history_json)
    spn_st_writer_set_metadata(w, "history", ck->history_json);
  gboolean ok = spn_st_writer_write(w, path, error);
  spn_st_writer_free(w);
  return ok;
}

static gboolean
read_tensors(const SpnSafetensors *st, const SpnLayout *layout, const char *prefix, float *dest,
             GError **error)
{
  for (int i = 0; i < layout->n_tensors; i++) {
    const SpnTensorSpec *s = &layout->tensors[i];
    g_autofree char *name = g_strconcat(prefix, s->name, NULL);
    const float *src = spn_safetensors_expect(st, name, SPN_DTYPE_F32, s->ndim, s->shape, error);
    if (src == NULL)
      return FALSE;
    memcpy(dest + s->offset, src, sizeof(float) * s->numel);
  }
  return TRUE;
}

static gboolean
read_optimizer(SpnCheckpoint *ck, const SpnSafetensors *st, const char *path, GError **error)
{
  const char *meta = spn_safetensors_metadata(st, "optimizer");
  if (meta == NULL)
    return TRUE;
  SpnModel *m = ck->model;
  ck->optim = spn_optim_new(m);
  g_autoptr(JsonParser) parser = json_parser_new();
  JsonObject *o = NULL;
  if (json_parser_load_from_data(parser, meta, -1, NULL) &&
      JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)))
    o = json_node_get_object(json_parser_get_root(parser));
  if (o == NULL || !json_object_has_member(o, "step") ||
      g_strcmp0(json_object_get_string_member_with_default(o, "kind", ""),
                spn_optim_name(m->cfg.optim)) != 0) {
    g_set_error(error, SPN_CHECKPOINT_ERROR, SPN_CHECKPOINT_ERROR_MISMATCH,
                "%s: optimizer state %s does not match the configuration (%s)", path, meta,
                spn_optim_name(m->cfg.optim));
    return FALSE;
  }
  ck->optim->step = json_object_get_int_member(o, "step");
  for (int k = 0; k < (m->cfg.optim == SPN_OPTIM_ADAM ? 2 : 1); k++) {
    g_autofree char *prefix = g_strdup_printf("optimizer.%s.", moment_name(m->cfg.optim, k));
    if (!read_tensors(st, m->layout, prefix, k == 0 ? ck->optim->m1 : ck->optim->m2, error))
      return FALSE;
  }
  return TRUE;
}

static gboolean
read_caches(SpnCheckpoint *ck, const SpnSafetensors *st, GError **error)
{
  const SpnConfig *c = &ck->model->cfg;
  const SpnStTensor *t0 = spn_safetensors_get(st, "trainer.cache.0");
  if (t0 == NULL)
    return TRUE;
  ck->cache_batch = t0->ndim == 3 ? (int)t0->shape[0] : 0;
  ck->n_caches = c->nlayers;
  ck->caches = g_new0(float *, c->nlayers);
  gint64 shape[3] = {ck->cache_batch, c->attn_span, c->hid_sz};
  for (int l = 0; l < c->nlayers; l++) {
    g_autofree char *name = g_strdup_printf("trainer.cache.%d", l);
    const float *src = spn_safetensors_expect(st, name, SPN_DTYPE_F32, 3, shape, error);
    if (src == NULL)
      return FALSE;
    ck->caches[l] = g_memdup2(src, sizeof(float) * shape[0] * shape[1] * shape[2]);
  }
  return TRUE;
}

static gboolean
read_header(SpnCheckpoint *ck, const SpnSafetensors *st, const char *path, GError **error)
{
  const char *format = spn_safetensors_metadata(st, "format");
  const char *version = spn_safetensors_metadata(st, "version");
  if (g_strcmp0(format, "spanscope-checkpoint") != 0) {
    g_set_error(error, SPN_CHECKPOINT_ERROR, SPN_CHECKPOINT_ERROR_FORMAT,
                "%s: not a spanscope checkpoint (its metadata has no \"format\": "
                "\"spanscope-checkpoint\")", path);
    return FALSE;
  }
  if (version == NULL || g_ascii_strtoll(version, NULL, 10) != SPN_CHECKPOINT_VERSION) {
    g_set_error(error, SPN_CHECKPOINT_ERROR, SPN_CHECKPOINT_ERROR_VERSION,
                "%s: checkpoint version %s is not supported (this spanscope reads version %d)",
                path, version ? version : "(missing)", SPN_CHECKPOINT_VERSION);
    return FALSE;
  }
  SpnConfig cfg;
  spn_config_init_desktop(&cfg);
  const char *config = spn_safetensors_metadata(st, "config");
  const char *vocab = spn_safetensors_metadata(st, "vocab");
  g_autoptr(GError) inner = NULL;
  if (config == NULL || vocab == NULL || !spn_config_from_json(&cfg, config, &inner) ||
      !spn_config_validate(&cfg, &inner) ||
      (ck->vocab = spn_vocab_from_json(vocab, &inner)) == NULL) {
    g_set_error(error, SPN_CHECKPOINT_ERROR, SPN_CHECKPOINT_ERROR_FORMAT,
                "%s: bad model description: %s", path,
                inner ? inner->message : "\"config\" or \"vocab\" metadata is missing");
    return FALSE;
  }
  if (ck->vocab->size != cfg.vocab_size) {
    g_set_error(error, SPN_CHECKPOINT_ERROR, SPN_CHECKPOINT_ERROR_MISMATCH,
                "%s: vocabulary has %d tokens but the configuration says %d", path,
                ck->vocab->size, cfg.vocab_size);
    return FALSE;
  }
  ck->model = spn_model_new(&cfg);
  return TRUE;
}

SpnCheckpoint *
spn_checkpoint_load(const char *path, GError **error)
{
  SpnSafetensors *st = spn_safetensors_read(path, error);
  if (st == NULL)
    return NULL;
  SpnCheckpoint *ck = g_new0(SpnCheckpoint, 1);
  gboolean ok = read_header(ck, st, path, error) &&
                read_tensors(st, ck->model->layout, "", ck->model->params, error) &&
                read_optimizer(ck, st, path, error) && read_caches(ck, st, error);
  if (ok) {
    ck->trainer_json = g_strdup(spn_safetensors_metadata(st, "trainer"));
    ck->history_json = g_strdup(spn_safetensors_metadata(st, "history"));
  }
  spn_safetensors_free(st);
  if (!ok) {
    spn_checkpoint_free(ck);
    return NULL;
  }
  return ck;
}

void
spn_checkpoint_free(SpnCheckpoint *ck)
{
  if (ck == NULL)
    return;
  spn_model_free(ck->model);
  spn_vocab_free(ck->vocab);
  spn_optim_free(ck->optim);
  for (int l = 0; l < ck->n_caches; l++)
    g_free(ck->caches[l]);
  g_free(ck->caches);
  g_free(ck->trainer_json);
  g_free(ck->history_json);
  g_free(ck);
}

char *
spn_checkpoint_corpus(const SpnCheckpoint *ck)
{
  g_autoptr(JsonParser) p = json_parser_new();
  if (ck->trainer_json == NULL || !json_parser_load_from_data(p, ck->trainer_json, -1, NULL) ||
      !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)))
    return NULL;
  return g_strdup(json_object_get_string_member_with_default(
      json_node_get_object(json_parser_get_root(p)), "corpus", NULL));
}
