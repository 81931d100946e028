#include "checkpoint.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "jsonread.h"

#include "safetensors.h"
#include "savefile.h"

/* clang-format off */
G_DEFINE_QUARK(spn-checkpoint-error-quark, spn_checkpoint_error)
/* clang-format on */

/* The optimizer and trainer metadata are a few hundred bytes (a corpus path included). */
#define MAX_SMALL_JSON 65536
/* Streams of the saved caches: the batch size's range (config.c). */
#define MAX_CACHE_BATCH 65536

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

/* The history's tensors, I64 first: 8-byte values at offsets other readers can map. Files
 * written before the cost and the persistent shares were kept have none of them (optional:
 * the tensor may be missing; its values are then unknown). */
static const struct {
  const char *name;
  SpnHistoryColumn column;
  SpnDtype dtype;
  gboolean optional;
} history_tensors[] = {
  {"history.step", SPN_HISTORY_STEP, SPN_DTYPE_I64, FALSE},
  {"history.valid.step", SPN_HISTORY_VALID_STEP, SPN_DTYPE_I64, FALSE},
  {"history.train_bpc", SPN_HISTORY_TRAIN_BPC, SPN_DTYPE_F32, FALSE},
  {"history.tokens_per_s", SPN_HISTORY_TOKENS_PER_S, SPN_DTYPE_F32, FALSE},
  {"history.spans", SPN_HISTORY_SPANS, SPN_DTYPE_F32, FALSE},
  {"history.flops_per_char", SPN_HISTORY_FLOPS_PER_CHAR, SPN_DTYPE_F32, TRUE},
  {"history.attn_flops_per_char", SPN_HISTORY_ATTN_FLOPS_PER_CHAR, SPN_DTYPE_F32, TRUE},
  {"history.cache_bytes", SPN_HISTORY_CACHE_BYTES, SPN_DTYPE_F32, TRUE},
  {"history.pers_share", SPN_HISTORY_PERS_SHARE, SPN_DTYPE_F32, TRUE},
  {"history.valid.bpc", SPN_HISTORY_VALID_BPC, SPN_DTYPE_F32, FALSE},
  /* the logged series is optional as a whole: present when history.logged.step is */
  {"history.logged.step", SPN_HISTORY_LOGGED_STEP, SPN_DTYPE_I64, FALSE},
  {"history.logged.span_avg", SPN_HISTORY_LOGGED_SPAN_AVG, SPN_DTYPE_F32, FALSE},
  {"history.logged.span_max", SPN_HISTORY_LOGGED_SPAN_MAX, SPN_DTYPE_F32, FALSE},
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
  return col == SPN_HISTORY_SPANS || col == SPN_HISTORY_PERS_SHARE ? 3 : 1;
}

/* Every column of h as one tensor, in pieces (one per chunk of the history): nothing copied. */
static void
add_history(SpnStWriter *w, const SpnHistory *h, SpnDtype dtype)
{
  for (guint i = 0; i < G_N_ELEMENTS(history_tensors); i++) {
    if (history_tensors[i].dtype != dtype ||
        (history_tensors[i].column == SPN_HISTORY_PERS_SHARE && !h->persistent))
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

/* The first value of data that is not finite, or -1. */
static gssize
first_non_finite(const float *data, gsize n)
{
  for (gsize i = 0; i < n; i++)
    if (!isfinite(data[i]))
      return (gssize)i;
  return -1;
}

/* Weights that are not finite would make every figure and number meaningless; a file we wrote
 * never has them (training stops before a step that would make them), so the file is refused. */
static gboolean
check_finite(const char *path, const char *name, const float *data, gsize n, GError **error)
{
  gssize bad = first_non_finite(data, n);
  if (bad < 0)
    return TRUE;
  g_set_error(error, SPN_CHECKPOINT_ERROR, SPN_CHECKPOINT_ERROR_VALUE,
              "%s: tensor '%s' holds %g at element %" G_GSSIZE_FORMAT "; a model whose weights "
              "are not finite cannot be used (its training diverged: resume from an earlier "
              "checkpoint with a lower --lr or a --grad-clip)",
              path, name, (double)data[bad], bad);
  return FALSE;
}

/* z is a fraction of S: training clamps it to [0, 1] after every step. */
static gboolean
check_span_fractions(const char *path, const char *name, const float *z, gsize n, GError **error)
{
  for (gsize i = 0; i < n; i++) {
    if (z[i] >= 0.0f && z[i] <= 1.0f)
      continue;
    g_set_error(error, SPN_CHECKPOINT_ERROR, SPN_CHECKPOINT_ERROR_VALUE,
                "%s: tensor '%s' holds %g at element %" G_GSIZE_FORMAT "; a span is a fraction "
                "of --attn-span between 0 and 1",
                path, name, (double)z[i], i);
    return FALSE;
  }
  return TRUE;
}

static gboolean
read_tensors(const SpnSafetensors *st, const SpnLayout *layout, const char *prefix, float *dest,
             GError **error)
{
  const char *path = spn_safetensors_path(st);
  for (int i = 0; i < layout->n_tensors; i++) {
    const SpnTensorSpec *s = &layout->tensors[i];
    g_autofree char *name = g_strconcat(prefix, s->name, NULL);
    const float *src = spn_safetensors_expect(st, name, SPN_DTYPE_F32, s->ndim, s->shape, error);
    if (src == NULL || !check_finite(path, name, src, s->numel, error))
      return FALSE;
    if (*prefix == '\0' && g_str_has_suffix(name, "adaptive_span._mask.current_val") &&
        !check_span_fractions(path, name, src, s->numel, error))
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
  g_autoptr(JsonParser) parser =
      spn_json_read(meta, strlen(meta), MAX_SMALL_JSON, SPN_JSON_MAX_DEPTH, TRUE,
                    "the \"optimizer\" metadata", SPN_CHECKPOINT_ERROR,
                    SPN_CHECKPOINT_ERROR_FORMAT, error);
  if (parser == NULL) {
    g_prefix_error(error, "%s: ", path);
    return FALSE;
  }
  JsonObject *o = spn_json_root_object(parser);
  const char *kind = NULL;
  gint64 step = -1;
  if (!spn_json_get_string(json_object_get_member(o, "kind"), &kind) ||
      g_strcmp0(kind, spn_optim_name(m->cfg.optim)) != 0) {
    g_set_error(error, SPN_CHECKPOINT_ERROR, SPN_CHECKPOINT_ERROR_MISMATCH,
                "%s: optimizer state %s does not match the configuration (%s)", path, meta,
                spn_optim_name(m->cfg.optim));
    return FALSE;
  }
  /* the step sets the warm-up's learning rate: a negative one would train backwards */
  if (!spn_json_get_int(json_object_get_member(o, "step"), &step) || step < 0) {
    g_set_error(error, SPN_CHECKPOINT_ERROR, SPN_CHECKPOINT_ERROR_VALUE,
                "%s: the optimizer's \"step\" must be an integer of at least 0 (found %s)", path,
                meta);
    return FALSE;
  }
  ck->optim = spn_optim_new(m);
  ck->optim->step = step;
  for (int k = 0; k < (m->cfg.optim == SPN_OPTIM_ADAM ? 2 : 1); k++) {
    g_autofree char *prefix = g_strdup_printf("optimizer.%s.", moment_name(m->cfg.optim, k));
    if (!read_tensors(st, m->layout, prefix, k == 0 ? ck->optim->m1 : ck->optim->m2, error))
      return FALSE;
  }
  return TRUE;
}

static gboolean
read_caches(SpnCheckpoint *ck, const SpnSafetensors *st, const char *path, GError **error)
{
  const SpnConfig *c = &ck->model->cfg;
  const SpnStTensor *t0 = spn_safetensors_get(st, "trainer.cache.0");
  if (t0 == NULL)
    return TRUE;
  if (t0->ndim != 3 || t0->shape[0] < 1 || t0->shape[0] > MAX_CACHE_BATCH) {
    g_set_error(error, SPN_CHECKPOINT_ERROR, SPN_CHECKPOINT_ERROR_MISMATCH,
                "%s: tensor 'trainer.cache.0' is not streams × %d × %d with 1 to %d streams",
                path, c->attn_span, c->hid_sz, MAX_CACHE_BATCH);
    return FALSE;
  }
  ck->cache_batch = (int)t0->shape[0];
  ck->n_caches = c->nlayers;
  ck->caches = g_new0(float *, c->nlayers);
  gint64 shape[3] = {ck->cache_batch, c->attn_span, c->hid_sz};
  gsize n = (gsize)shape[0] * shape[1] * shape[2];
  for (int l = 0; l < c->nlayers; l++) {
    g_autofree char *name = g_strdup_printf("trainer.cache.%d", l);
    const float *src = spn_safetensors_expect(st, name, SPN_DTYPE_F32, 3, shape, error);
    if (src == NULL || !check_finite(path, name, src, n, error))
      return FALSE;
    ck->caches[l] = g_memdup2(src, sizeof(float) * n);
  }
  return TRUE;
}

/* Before the model is allocated: its parameters must be in the file, so a crafted configuration
 * cannot make us allocate more than the file could fill. */
static gboolean
check_size(const SpnConfig *cfg, const SpnSafetensors *st, const char *path, GError **error)
{
  SpnLayout *layout = spn_layout_new(cfg);
  guint64 needed = 0;
  for (int i = 0; i < layout->n_tensors; i++)
    needed += (guint64)layout->tensors[i].numel * sizeof(float);
  spn_layout_free(layout);
  if (needed <= spn_safetensors_data_size(st))
    return TRUE;
  g_set_error(error, SPN_CHECKPOINT_ERROR, SPN_CHECKPOINT_ERROR_MISMATCH,
              "%s: the configuration describes %" G_GUINT64_FORMAT " bytes of parameters but the "
              "file holds only %" G_GSIZE_FORMAT " bytes of tensors; the file is truncated or its "
              "configuration is not its own",
              path, needed, spn_safetensors_data_size(st));
  return FALSE;
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
  if (!check_size(&cfg, st, path, error))
    return FALSE;
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
  gboolean persistent = c->pers_mem_size > 0;
  for (guint i = 0; i < G_N_ELEMENTS(history_tensors); i++) {
    gint64 shape[3];
    SpnHistoryColumn col = history_tensors[i].column;
    if ((col >= SPN_HISTORY_LOGGED_STEP && !logged) ||
        (history_tensors[i].optional && spn_safetensors_get(st, history_tensors[i].name) == NULL) ||
        (col == SPN_HISTORY_PERS_SHARE && !persistent))
      continue;
    int ndim = history_shape(col, &len, c->nlayers, c->nheads, shape);
    data[col] = spn_safetensors_expect(st, history_tensors[i].name, history_tensors[i].dtype,
                                       ndim, shape, error);
    if (data[col] == NULL)
      return NULL;
  }
  SpnHistory *h = spn_history_new_from_columns(c->nlayers, c->nheads, persistent, (int)len.n,
                                               (int)len.m, (int)len.k, data, error);
  if (h == NULL)
    g_prefix_error(error, "%s: ", spn_safetensors_path(st));
  return h;
}

static SpnCheckpoint *
from_safetensors(SpnSafetensors *st, const char *path, GError **error)
{
  if (st == NULL)
    return NULL;
  SpnCheckpoint *ck = g_new0(SpnCheckpoint, 1);
  gboolean ok = read_header(ck, st, path, error) &&
                read_tensors(st, ck->model->layout, "", ck->model->params, error) &&
                read_optimizer(ck, st, path, error) && read_caches(ck, st, path, error);
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

SpnCheckpoint *
spn_checkpoint_load(const char *path, GError **error)
{
  spn_save_remove_stale(path); /* what an interrupted save of this file left behind */
  return from_safetensors(spn_safetensors_read(path, error), path, error);
}

SpnCheckpoint *
spn_checkpoint_load_bytes(GBytes *bytes, const char *name, GError **error)
{
  return from_safetensors(spn_safetensors_read_bytes(bytes, name, error), name, error);
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
  if (ck->trainer_json == NULL)
    return NULL;
  g_autoptr(JsonParser) p =
      spn_json_read(ck->trainer_json, strlen(ck->trainer_json), MAX_SMALL_JSON, SPN_JSON_MAX_DEPTH,
                    TRUE, "trainer", SPN_CHECKPOINT_ERROR, SPN_CHECKPOINT_ERROR_FORMAT, NULL);
  const char *corpus = NULL;
  if (p == NULL ||
      !spn_json_get_string(json_object_get_member(spn_json_root_object(p), "corpus"), &corpus))
    return NULL;
  return g_strdup(corpus);
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
