#include "checkpoint.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "safetensors.h"
#include "savefile.h"

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

/* The history's tensors, I64 first: 8-byte values at offsets other readers can map. */
static const struct {
  const char *name;
  SpnHistoryColumn column;
  SpnDtype dtype;
} history_tensors[] = {
  {"history.step", SPN_HISTORY_STEP, SPN_DTYPE_I64},
  {"history.valid.step", SPN_HISTORY_VALID_STEP, SPN_DTYPE_I64},
  {"history.train_bpc", SPN_HISTORY_TRAIN_BPC, SPN_DTYPE_F32},
  {"history.tokens_per_s", SPN_HISTORY_TOKENS_PER_S, SPN_DTYPE_F32},
  {"history.spans", SPN_HISTORY_SPANS, SPN_DTYPE_F32},
  {"history.valid.bpc", SPN_HISTORY_VALID_BPC, SPN_DTYPE_F32},
  {"history.logged.step", SPN_HISTORY_LOGGED_STEP, SPN_DTYPE_I64},
  {"history.logged.span_avg", SPN_HISTORY_LOGGED_SPAN_AVG, SPN_DTYPE_F32},
  {"history.logged.span_max", SPN_HISTORY_LOGGED_SPAN_MAX, SPN_DTYPE_F32},
};

/* The length of each series' tensors: rows (n), measurements (m), logged statistics (k). */
typedef struct {
  gint64 n, m, k;
} HistoryLengths;

/* The shape of a history tensor: [n], [n, nlayers, nheads], [m] or [k]. */
static int
history_shape(SpnHistoryColumn col, const HistoryLengths *len, int nlayers, int nheads,
              gint64 *shape)
{
  shape[0] = col >= SPN_HISTORY_LOGGED_STEP  ? len->k
             : col >= SPN_HISTORY_VALID_STEP ? len->m
                                             : len->n;
  shape[1] = nlayers;
  shape[2] = nheads;
  return col == SPN_HISTORY_SPANS ? 3 : 1;
}

/* Every column of h as one tensor, in pieces (one per chunk of the history): nothing copied. */
static void
add_history(SpnStWriter *w, const SpnHistory *h, SpnDtype dtype)
{
  for (guint i = 0; i < G_N_ELEMENTS(history_tensors); i++) {
    if (history_tensors[i].dtype != dtype)
      continue;
    g_autoptr(GArray) pieces = g_array_new(FALSE, FALSE, sizeof(SpnStPiece));
    SpnStPiece p;
    for (int j = 0; spn_history_column(h, history_tensors[i].column, j, &p.data, &p.n_bytes); j++)
      g_array_append_val(pieces, p);
    gint64 shape[3];
    HistoryLengths len = {h->n, h->n_valid, h->n_logged};
    int ndim = history_shape(history_tensors[i].column, &len, h->nlayers, h->nheads, shape);
    spn_st_writer_add_pieces(w, history_tensors[i].name, dtype, ndim, shape,
                             (const SpnStPiece *)(void *)pieces->data, pieces->len);
  }
}

gboolean
spn_checkpoint_save(const SpnCheckpoint *ck, const char *path, GError **error)
{
  const SpnModel *m = ck->model;
  const SpnLayout *layout = m->layout;
  SpnStWriter *w = spn_st_writer_new();
  /* the history's I64 tensors first: 8-byte values at offsets other readers can map */
  if (ck->history)
    add_history(w, ck->history, SPN_DTYPE_I64);
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
  if (ck->history)
    add_history(w, ck->history, SPN_DTYPE_F32);
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
  /* a checkpoint that does not name its attention window predates the option: head mode */
  cfg.attn_window = SPN_ATTN_WINDOW_HEAD;
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

/* A 1-D tensor's length as a row count. */
static gboolean
history_length(const SpnSafetensors *st, const char *name, gint64 *n, GError **error)
{
  const SpnStTensor *t = spn_safetensors_get(st, name);
  if (t == NULL || t->ndim != 1 || t->shape[0] > G_MAXINT) {
    g_set_error(error, SPN_CHECKPOINT_ERROR, SPN_CHECKPOINT_ERROR_FORMAT,
                "%s: the metrics history's tensor '%s' is %s (expected one dimension of at "
                "most %d values)", spn_safetensors_path(st), name,
                t == NULL ? "missing" : "of another shape", G_MAXINT);
    return FALSE;
  }
  *n = t->shape[0];
  return TRUE;
}

/* The history: its tensors, or the JSON of checkpoints written before them; NULL (error unset)
 * when the file has none. Files written before the logged span statistics have none of their
 * tensors: none were logged. */
static SpnHistory *
read_history(const SpnSafetensors *st, const SpnConfig *c, GError **error)
{
  if (spn_safetensors_get(st, "history.step") == NULL) {
    const char *json = spn_safetensors_metadata(st, "history");
    SpnHistory *h = json ? spn_history_from_legacy_json(json, c->nlayers, c->nheads, error) : NULL;
    if (json && h == NULL)
      g_prefix_error(error, "%s: ", spn_safetensors_path(st));
    return h;
  }
  HistoryLengths len = {0, 0, 0};
  gboolean logged = spn_safetensors_get(st, "history.logged.step") != NULL;
  if (!history_length(st, "history.step", &len.n, error) ||
      !history_length(st, "history.valid.step", &len.m, error) ||
      (logged && !history_length(st, "history.logged.step", &len.k, error)))
    return NULL;
  const void *data[SPN_HISTORY_N_COLUMNS] = {NULL};
  for (guint i = 0; i < G_N_ELEMENTS(history_tensors); i++) {
    gint64 shape[3];
    SpnHistoryColumn col = history_tensors[i].column;
    if (col >= SPN_HISTORY_LOGGED_STEP && !logged)
      continue;
    int ndim = history_shape(col, &len, c->nlayers, c->nheads, shape);
    data[col] = spn_safetensors_expect(st, history_tensors[i].name, history_tensors[i].dtype,
                                       ndim, shape, error);
    if (data[col] == NULL)
      return NULL;
  }
  SpnHistory *h = spn_history_new_from_columns(c->nlayers, c->nheads, (int)len.n, (int)len.m,
                                               (int)len.k, data, error);
  if (h == NULL)
    g_prefix_error(error, "%s: ", spn_safetensors_path(st));
  return h;
}

SpnCheckpoint *
spn_checkpoint_load(const char *path, GError **error)
{
  spn_save_remove_stale(path); /* what an interrupted save of this file left behind */
  SpnSafetensors *st = spn_safetensors_read(path, error);
  if (st == NULL)
    return NULL;
  SpnCheckpoint *ck = g_new0(SpnCheckpoint, 1);
  gboolean ok = read_header(ck, st, path, error) &&
                read_tensors(st, ck->model->layout, "", ck->model->params, error) &&
                read_optimizer(ck, st, path, error) && read_caches(ck, st, error);
  if (ok) {
    ck->trainer_json = g_strdup(spn_safetensors_metadata(st, "trainer"));
    ck->history = read_history(st, &ck->model->cfg, &ck->history_error);
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
  spn_history_unref(ck->history);
  g_clear_error(&ck->history_error);
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

SpnSnapshot *
spn_checkpoint_snapshot(SpnCheckpoint *ck, const char *corpus)
{
  SpnSnapshot *s = spn_snapshot_new(&ck->model->cfg);
  spn_model_spans(ck->model, s->spans);
  if (ck->history) {
    spn_history_unref(s->history);
    s->history = g_steal_pointer(&ck->history);
  }
  const SpnHistory *h = s->history;
  s->step = ck->optim ? ck->optim->step : h->n > 0 ? spn_history_step(h, h->n - 1) : 0;
  s->vocab = ck->vocab ? ck->vocab->kind : SPN_VOCAB_CHARS;
  s->corpus = g_strdup(corpus);
  return s;
}
