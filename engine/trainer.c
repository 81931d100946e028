#include "trainer.h"

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "checkpoint.h"
#include "rng.h"

struct _SpnTrainer {
  SpnModel *model;
  SpnOptim *optim;
  SpnCorpus *corpus;
  SpnRunner *runner;
  SpnRng rng;
  gsize pos;           /* read position inside every stream */
  gsize stream_len;
  gint32 *x, *y;
  SpnHistory *history; /* one row per step */
  /* the reference's rolling validation (spn_trainer_validate): its own caches, in the training
   * runner's work arrays; position in every validation stream; restarts */
  SpnRunner *val_runner;
  gsize val_pos;
  SpnRng val_rng;
  GCancellable *cancellable; /* stops evaluations between blocks */
  gint64 history_base; /* the step of the checkpoint the history was last read from (-1: none);
                          later rows were trained here */
};

/* clang-format off */
G_DEFINE_QUARK(spn-trainer-error-quark, spn_trainer_error)
/* clang-format on */

/* The reference's rolling validation from the start of its streams, with empty caches. */
static void
restart_validation(SpnTrainer *t)
{
  t->val_pos = 0;
  spn_rng_seed(&t->val_rng, t->model->cfg.seed ^ 0x7a1d7a1d7a1d7a1dull);
  if (t->val_runner)
    spn_runner_reset_cache(t->val_runner);
}

static SpnTrainer *
trainer_new(SpnModel *model, SpnCorpus *corpus, GError **error)
{
  const SpnConfig *c = &model->cfg;
  if (!spn_corpus_check_split(corpus, SPN_SPLIT_TRAIN, c->batch_sz, c->block_sz, error))
    return NULL;
  SpnTrainer *t = g_new0(SpnTrainer, 1);
  t->model = model;
  t->corpus = corpus;
  t->runner = spn_runner_new(model, c->batch_sz, c->block_sz, TRUE);
  t->stream_len = corpus->n_tokens[SPN_SPLIT_TRAIN] / c->batch_sz;
  t->x = g_new(gint32, (gsize)c->batch_sz * c->block_sz);
  t->y = g_new(gint32, (gsize)c->batch_sz * c->block_sz);
  t->history = spn_history_new(c->nlayers, c->nheads);
  t->history_base = -1;
  /* the stream restarts draw from their own generator, seeded apart from the weights */
  spn_rng_seed(&t->rng, c->seed ^ 0x5eed5eed5eed5eedull);
  restart_validation(t);
  return t;
}

SpnTrainer *
spn_trainer_new(const SpnConfig *cfg, SpnCorpus *corpus, GError **error)
{
  SpnConfig c = *cfg;
  c.vocab_size = corpus->vocab->size;
  if (!spn_config_validate(&c, error)) {
    spn_corpus_free(corpus);
    return NULL;
  }
  SpnModel *m = spn_model_new(&c);
  SpnTrainer *t = trainer_new(m, corpus, error);
  if (t == NULL) {
    spn_model_free(m);
    spn_corpus_free(corpus);
    return NULL;
  }
  t->optim = spn_optim_new(m);
  return t;
}

/* The reading state (position, generator, caches) from ck; fails changing nothing. */
static gboolean
restore_state(SpnTrainer *t, SpnCheckpoint *ck, const char *path, GError **error)
{
  const SpnConfig *c = &t->model->cfg;
  if (ck->history_error) {
    g_propagate_error(error, g_steal_pointer(&ck->history_error));
    return FALSE;
  }
  g_autoptr(JsonParser) p = json_parser_new();
  JsonObject *o = NULL;
  if (ck->trainer_json && json_parser_load_from_data(p, ck->trainer_json, -1, NULL) &&
      JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)))
    o = json_node_get_object(json_parser_get_root(p));
  JsonArray *rng = o ? json_object_get_array_member(o, "rng") : NULL;
  JsonArray *valid = o ? json_object_get_array_member(o, "cache_valid") : NULL;
  /* a run that starts with empty caches (an imported reference run) need not store them */
  gboolean no_caches = ck->n_caches == 0 && valid != NULL;
  for (guint l = 0; no_caches && l < json_array_get_length(valid); l++)
    no_caches = json_array_get_int_element(valid, l) == 0;
  if (o == NULL || rng == NULL || json_array_get_length(rng) != 4 || valid == NULL ||
      (int)json_array_get_length(valid) != c->nlayers ||
      (!no_caches && (ck->n_caches != c->nlayers || ck->cache_batch != c->batch_sz))) {
    g_set_error(error, SPN_TRAINER_ERROR, SPN_TRAINER_ERROR_STATE,
                "%s: the training state is missing or incomplete; it holds a model only "
                "(use it with eval, probe or generate)", path);
    return FALSE;
  }
  t->pos = (gsize)json_object_get_int_member(o, "pos");
  if (t->pos + c->block_sz + 1 > t->stream_len)
    t->pos = 0;
  for (int k = 0; k < 4; k++)
    t->rng.s[k] = g_ascii_strtoull(json_array_get_string_element(rng, k), NULL, 16);
  if (no_caches)
    spn_runner_reset_cache(t->runner);
  for (int l = 0; l < c->nlayers && !no_caches; l++) {
    memcpy(spn_runner_cache(t->runner, l), ck->caches[l],
           sizeof(float) * c->batch_sz * c->attn_span * c->hid_sz);
    spn_runner_set_cache_valid(t->runner, l, (int)json_array_get_int_element(valid, l));
  }
  return TRUE;
}

/* the corpus the checkpoint was trained on, as its trainer state names it */
static SpnCorpus *
recorded_corpus(const SpnCheckpoint *ck, const char *path, GError **error)
{
  g_autofree char *source = spn_checkpoint_corpus(ck);
  if (source == NULL) {
    g_set_error(error, SPN_TRAINER_ERROR, SPN_TRAINER_ERROR_CORPUS,
                "%s does not say which corpus it was trained on; choose the corpus to resume on",
                path);
    return NULL;
  }
  SpnCorpusOptions opts = {.byte_mode = ck->vocab->kind == SPN_VOCAB_BYTES,
                           .ref_format = ck->vocab->kind == SPN_VOCAB_REF};
  SpnCorpus *corpus = spn_corpus_load(source, &opts, error);
  if (corpus == NULL)
    g_prefix_error(error, "%s was trained on corpus %s, which cannot be read now: ", path, source);
  return corpus;
}

SpnTrainer *
spn_trainer_load(const char *path, SpnCorpus *corpus, GError **error)
{
  SpnCheckpoint *ck = spn_checkpoint_load(path, error);
  if (ck == NULL) {
    spn_corpus_free(corpus);
    return NULL;
  }
  return spn_trainer_from_checkpoint(ck, path, corpus, error);
}

SpnTrainer *
spn_trainer_from_checkpoint(SpnCheckpoint *ck, const char *path, SpnCorpus *corpus,
                            GError **error)
{
  if (corpus == NULL)
    corpus = recorded_corpus(ck, path, error);
  if (corpus == NULL) {
    spn_checkpoint_free(ck);
    return NULL;
  }
  if (!spn_vocab_equal(ck->vocab, corpus->vocab)) {
    g_set_error(error, SPN_TRAINER_ERROR, SPN_TRAINER_ERROR_CORPUS,
                "%s was trained on a different vocabulary (%d tokens) than corpus %s (%d tokens); "
                "resume it on the corpus it was trained on", path, ck->vocab->size,
                corpus->source, corpus->vocab->size);
    spn_checkpoint_free(ck);
    spn_corpus_free(corpus);
    return NULL;
  }
  SpnTrainer *t = trainer_new(ck->model, corpus, error);
  if (t == NULL) {
    spn_checkpoint_free(ck);
    spn_corpus_free(corpus);
    return NULL;
  }
  ck->model = NULL; /* now the trainer's */
  t->optim = ck->optim ? ck->optim : spn_optim_new(t->model);
  ck->optim = NULL;
  gboolean ok = restore_state(t, ck, path, error);
  if (ok && ck->history) {
    spn_history_unref(t->history);
    t->history = g_steal_pointer(&ck->history);
  }
  t->history_base = t->optim->step;
  spn_checkpoint_free(ck);
  if (!ok) {
    spn_trainer_free(t);
    return NULL;
  }
  return t;
}

gboolean
spn_trainer_replace(SpnTrainer *t, SpnCheckpoint *ck, const char *path, GError **error)
{
  g_autofree char *now = spn_config_to_json(&t->model->cfg);
  g_autofree char *then = spn_config_to_json(&ck->model->cfg);
  gboolean same = g_str_equal(now, then) && ck->vocab &&
                  spn_vocab_equal(ck->vocab, t->corpus->vocab) && ck->optim;
  if (!same) {
    g_set_error(error, SPN_TRAINER_ERROR, SPN_TRAINER_ERROR_STATE,
                "%s holds another model, vocabulary or no complete training state", path);
    return FALSE;
  }
  if (!restore_state(t, ck, path, error))
    return FALSE;
  memcpy(t->model->params, ck->model->params, sizeof(float) * t->model->layout->total);
  spn_optim_free(t->optim);
  t->optim = g_steal_pointer(&ck->optim);
  restart_validation(t);   /* as for a trainer made from the file */
  /* the version extends the history shown (rows already published stay as they are) */
  if (ck->history) {
    SpnHistory *next = spn_history_continued(t->history, t->history_base, ck->history);
    spn_history_unref(t->history);
    t->history = next;
  }
  t->history_base = t->optim->step;
  return TRUE;
}

void
spn_trainer_free(SpnTrainer *t)
{
  if (t == NULL)
    return;
  spn_runner_free(t->val_runner); /* before the runner whose arrays it works in */
  spn_runner_free(t->runner);
  spn_optim_free(t->optim);
  spn_model_free(t->model);
  spn_corpus_free(t->corpus);
  g_free(t->x);
  g_free(t->y);
  spn_history_unref(t->history);
  g_clear_object(&t->cancellable);
  g_free(t);
}

SpnModel *
spn_trainer_model(SpnTrainer *t)
{
  return t->model;
}

SpnCorpus *
spn_trainer_corpus(SpnTrainer *t)
{
  return t->corpus;
}

gint64
spn_trainer_step_count(const SpnTrainer *t)
{
  return t->optim->step;
}

const SpnHistory *
spn_trainer_history(const SpnTrainer *t)
{
  return t->history;
}

SpnSnapshot *
spn_trainer_snapshot(SpnTrainer *t)
{
  SpnSnapshot *s = spn_snapshot_new(&t->model->cfg);
  s->step = t->optim->step;
  spn_model_spans(t->model, s->spans);
  spn_history_unref(s->history);
  s->history = spn_history_snapshot(t->history);
  s->corpus = g_strdup(t->corpus->source);
  s->vocab = t->corpus->vocab->kind;
  return s;
}

void
spn_trainer_record_validation(SpnTrainer *t, double bpc)
{
  /* measured after the latest step: nothing to draw it against before the first (nor in a
   * history read from a file whose measurements run past its rows) */
  SpnHistory *h = t->history;
  gint64 step = h->n > 0 ? spn_history_step(h, h->n - 1) : 0;
  if (h->n > 0 && (h->n_valid == 0 || step >= spn_history_valid_step(h, h->n_valid - 1)))
    spn_history_add_valid(h, step, bpc);
}

static void
record_step(SpnTrainer *t, double train_bpc, double seconds)
{
  const SpnConfig *c = &t->model->cfg;
  g_autofree float *spans = g_new(float, c->nlayers * c->nheads);
  spn_model_spans(t->model, spans);
  double tps = seconds > 0 ? (double)c->batch_sz * c->block_sz / seconds : NAN;
  spn_history_append(t->history, t->optim->step, train_bpc, tps, spans);
}

/* block inputs and targets of every stream at pos */
static void
gather_block(const gint32 *tokens, gsize stream_len, int batch, int len, gsize pos, gint32 *x,
             gint32 *y)
{
  for (int b = 0; b < batch; b++) {
    const gint32 *s = tokens + (gsize)b * stream_len + pos;
    memcpy(x + (gsize)b * len, s, sizeof(gint32) * len);
    memcpy(y + (gsize)b * len, s + 1, sizeof(gint32) * len);
  }
}

void
spn_trainer_step(SpnTrainer *t, SpnStepResult *out)
{
  const SpnConfig *c = &t->model->cfg;
  gint64 t0 = g_get_monotonic_time();
  gather_block(t->corpus->tokens[SPN_SPLIT_TRAIN], t->stream_len, c->batch_sz, c->block_sz,
               t->pos, t->x, t->y);
  spn_runner_set_dropout_seed(t->runner, c->seed + 0x100000000ull * (guint64)(t->optim->step + 1));
  spn_model_zero_grad(t->model);
  double nll = spn_runner_forward(t->runner, t->x, t->y, c->block_sz, TRUE, NULL);
  double span = spn_model_span_loss(t->model);
  spn_runner_backward(t->runner);
  spn_model_span_loss_backward(t->model);
  spn_optim_step(t->optim, t->model);
  t->pos += c->block_sz;
  if (t->pos + c->block_sz + 1 > t->stream_len) {
    /* the streams are spent: start again at a random offset with empty caches */
    t->pos = spn_rng_below(&t->rng, c->block_sz);
    spn_runner_reset_cache(t->runner);
  }
  double seconds = (g_get_monotonic_time() - t0) / 1e6;
  record_step(t, nll / G_LN2, seconds);
  if (out) {
    out->step = t->optim->step;
    out->train_bpc = nll / G_LN2;
    out->objective = nll + span;
    out->lr = spn_optim_lr(t->optim, t->optim->step);
    out->seconds = seconds;
  }
}

/* Whether an evaluation that has read `done` of its `total` positions is to stop now. */
static gboolean
stopped(GCancellable *cancellable, gsize done, gsize total, GError **error)
{
  if (!g_cancellable_is_cancelled(cancellable))
    return FALSE;
  g_set_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED,
              "the evaluation stopped after %zu of its %zu positions", (size_t)done,
              (size_t)total);
  return TRUE;
}

/* donor: a training runner whose work arrays the evaluation may use, or NULL */
static gboolean
evaluate(SpnModel *m, const SpnCorpus *corpus, SpnSplit split, int batch, gsize max_tokens,
         gboolean whole_blocks, SpnRunner *donor, GCancellable *cancellable, double *bpc,
         gsize *scored, GError **error)
{
  int M = m->cfg.block_sz;
  if (!spn_corpus_check_split(corpus, split, batch, whole_blocks ? M : 1, error))
    return FALSE;
  gsize stream_len = corpus->n_tokens[split] / batch;
  /* every position but the last of each stream predicts its successor; the final block may be
   * shorter than M, or left out */
  gsize end = stream_len - 1;
  if (whole_blocks)
    end = end / M * M;
  SpnRunner *r = spn_runner_new_eval(m, batch, M, donor);
  gint32 *x = g_new(gint32, (gsize)batch * M), *y = g_new(gint32, (gsize)batch * M);
  double total = 0.0;
  gsize count = 0;
  gboolean cancelled = FALSE;
  for (gsize pos = 0; pos < end; pos += M) {
    /* a block is the unit: a cancelled evaluation stops between two, having changed nothing */
    if ((cancelled = stopped(cancellable, count, end * batch, error)))
      break;
    int len = (int)MIN((gsize)M, end - pos);
    gather_block(corpus->tokens[split], stream_len, batch, len, pos, x, y);
    double nll = spn_runner_forward(r, x, y, len, FALSE, NULL);
    total += nll * len * batch;
    count += (gsize)len * batch;
    if (max_tokens > 0 && count >= max_tokens)
      break;
  }
  if (!cancelled) {
    *bpc = total / count / G_LN2;
    if (scored)
      *scored = count;
  }
  g_free(x);
  g_free(y);
  spn_runner_free(r);
  return !cancelled;
}

gboolean
spn_evaluate(SpnModel *m, const SpnCorpus *corpus, SpnSplit split, int batch, gsize max_tokens,
             gboolean whole_blocks, double *bpc, gsize *scored, GError **error)
{
  return evaluate(m, corpus, split, batch, max_tokens, whole_blocks, NULL, NULL, bpc, scored,
                  error);
}

gboolean
spn_trainer_evaluate(SpnTrainer *t, SpnSplit split, int batch, gsize max_tokens, double *bpc,
                     GError **error)
{
  /* between two steps the training activations are dead: the evaluation works in them */
  return evaluate(t->model, t->corpus, split, batch, max_tokens, FALSE, t->runner, t->cancellable,
                  bpc, NULL, error);
}

void
spn_trainer_set_cancellable(SpnTrainer *t, GCancellable *cancellable)
{
  g_set_object(&t->cancellable, cancellable);
}

void
spn_trainer_adjust(SpnTrainer *t, const SpnConfig *cfg)
{
  guint n;
  const SpnConfigField *rows = spn_config_fields(&n);
  for (guint i = 0; i < n; i++)
    if (rows[i].flags & SPN_FIELD_RESUMABLE)
      spn_config_field_copy(&t->model->cfg, cfg, &rows[i]);
  t->optim->lr = cfg->lr;
  t->optim->warmup = cfg->lr_warmup;
  t->optim->grad_clip = cfg->grad_clip;
}

/* The reference's validation during training (trainer.h). */
static gboolean
validate_rolling(SpnTrainer *t, int every, double *bpc, GError **error)
{
  const SpnConfig *c = &t->model->cfg;
  int B = c->batch_sz, M = c->block_sz;
  /* a restart lands anywhere in [0, M) and must still read a whole block */
  if (!spn_corpus_check_split(t->corpus, SPN_SPLIT_VALID, B, 2 * M, error)) {
    g_prefix_error(error, "the reference's validation needs two blocks per stream: ");
    return FALSE;
  }
  gsize cols = t->corpus->n_tokens[SPN_SPLIT_VALID] / B;
  int blocks = (int)MIN((gsize)MAX(1, every / 10), (cols + M - 1) / M);
  if (t->val_runner == NULL)
    t->val_runner = spn_runner_new_eval(t->model, B, M, t->runner);
  gint32 *x = g_new(gint32, (gsize)B * M), *y = g_new(gint32, (gsize)B * M);
  double total = 0.0;
  gboolean cancelled = FALSE;
  /* a stop leaves the validation's own reading where it got, as after a shorter validation */
  for (int k = 0; k < blocks; k++) {
    if ((cancelled = stopped(t->cancellable, (gsize)k * B * M, (gsize)blocks * B * M, error)))
      break;
    gather_block(t->corpus->tokens[SPN_SPLIT_VALID], cols, B, M, t->val_pos, x, y);
    total += spn_runner_forward(t->val_runner, x, y, M, FALSE, NULL);
    t->val_pos += M;
    if (t->val_pos >= cols - M) {
      t->val_pos = spn_rng_below(&t->val_rng, M);
      spn_runner_reset_cache(t->val_runner);
    }
  }
  g_free(x);
  g_free(y);
  if (!cancelled)
    *bpc = total / blocks / G_LN2;
  return !cancelled;
}

gboolean
spn_trainer_validate(SpnTrainer *t, int every, gsize max_tokens, double *bpc, GError **error)
{
  const SpnConfig *c = &t->model->cfg;
  if (c->eval_mode == SPN_EVAL_REFERENCE)
    return validate_rolling(t, every, bpc, error);
  return spn_trainer_evaluate(t, SPN_SPLIT_VALID, c->batch_sz, max_tokens, bpc, error);
}

static char *
trainer_state_json(SpnTrainer *t)
{
  const SpnConfig *c = &t->model->cfg;
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "pos");
  json_builder_add_int_value(b, (gint64)t->pos);
  json_builder_set_member_name(b, "rng");
  json_builder_begin_array(b);
  for (int k = 0; k < 4; k++) {
    char hex[32];
    g_snprintf(hex, sizeof hex, "%016" G_GINT64_MODIFIER "x", t->rng.s[k]);
    json_builder_add_string_value(b, hex);
  }
  json_builder_end_array(b);
  json_builder_set_member_name(b, "cache_valid");
  json_builder_begin_array(b);
  for (int l = 0; l < c->nlayers; l++)
    json_builder_add_int_value(b, spn_runner_cache_valid(t->runner, l));
  json_builder_end_array(b);
  json_builder_set_member_name(b, "corpus");
  json_builder_add_string_value(b, t->corpus->source);
  json_builder_end_object(b);
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  return json_to_string(root, FALSE);
}

gboolean
spn_trainer_save(SpnTrainer *t, const char *path, GError **error)
{
  const SpnConfig *c = &t->model->cfg;
  g_autofree char *state = trainer_state_json(t);
  g_autofree float **caches = g_new(float *, c->nlayers);
  for (int l = 0; l < c->nlayers; l++)
    caches[l] = spn_runner_cache(t->runner, l);
  SpnCheckpoint ck = {
    .model = t->model, .vocab = t->corpus->vocab, .optim = t->optim, .trainer_json = state,
    .history = t->history, .n_caches = c->nlayers, .caches = caches, .cache_batch = c->batch_sz,
  };
  return spn_checkpoint_save(&ck, path, error);
}
