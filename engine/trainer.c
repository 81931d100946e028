#include "trainer.h"

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "checkpoint.h"
#include "cost.h"
#include "jsonread.h"
#include "rng.h"

/* The trainer metadata is a few hundred bytes (a corpus path included). */
#define MAX_STATE_JSON 65536

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
  t->history = spn_history_new_full(c->nlayers, c->nheads, c->pers_mem_size > 0);
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
state_error(GError **error, const char *path, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static gboolean
state_error(GError **error, const char *path, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *detail = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_set_error(error, SPN_TRAINER_ERROR, SPN_TRAINER_ERROR_STATE,
              "%s: the training state cannot be resumed: %s", path, detail);
  return FALSE;
}

/* "pos": where every stream reads next; a whole block and its targets must fit after it. */
static gboolean
restore_pos(SpnTrainer *t, JsonObject *o, const char *path, GError **error)
{
  gint64 pos;
  gint64 last = (gint64)t->stream_len - t->model->cfg.block_sz - 1;
  if (!spn_json_get_int(json_object_get_member(o, "pos"), &pos) || pos < 0)
    return state_error(error, path, "\"pos\" is not an integer of at least 0");
  /* a corpus other than the one trained on may have shorter streams: start them over */
  t->pos = pos <= last ? (gsize)pos : 0;
  return TRUE;
}

/* "rng": the four words of the stream-restart generator, as 16 hex digits each. */
static gboolean
restore_rng(SpnTrainer *t, JsonObject *o, const char *path, GError **error)
{
  JsonNode *node = json_object_get_member(o, "rng");
  JsonArray *rng = node && JSON_NODE_HOLDS_ARRAY(node) ? json_node_get_array(node) : NULL;
  guint64 s[4] = {0};
  gboolean ok = rng != NULL && json_array_get_length(rng) == 4;
  for (guint k = 0; ok && k < 4; k++) {
    const char *hex = NULL;
    ok = spn_json_get_string(json_array_get_element(rng, k), &hex) && strlen(hex) == 16 &&
         g_ascii_string_to_unsigned(hex, 16, 0, G_MAXUINT64, &s[k], NULL);
  }
  /* xoshiro256** never leaves the all-zero state, and never reaches it */
  if (!ok || (s[0] | s[1] | s[2] | s[3]) == 0)
    return state_error(error, path, "\"rng\" is not four 16-digit hexadecimal words, not all "
                                    "zero");
  memcpy(t->rng.s, s, sizeof s);
  return TRUE;
}

/* "cache_valid": per layer, how many cached positions hold real inputs (0 to S). */
static gboolean
restore_caches(SpnTrainer *t, SpnCheckpoint *ck, JsonObject *o, const char *path, GError **error)
{
  const SpnConfig *c = &t->model->cfg;
  JsonNode *node = json_object_get_member(o, "cache_valid");
  JsonArray *valid = node && JSON_NODE_HOLDS_ARRAY(node) ? json_node_get_array(node) : NULL;
  if (valid == NULL || (int)json_array_get_length(valid) != c->nlayers)
    return state_error(error, path, "\"cache_valid\" is not an array of %d integers",
                       c->nlayers);
  gboolean all_empty = TRUE;
  for (int l = 0; l < c->nlayers; l++) {
    gint64 v;
    if (!spn_json_get_int(json_array_get_element(valid, l), &v) || v < 0 || v > c->attn_span)
      return state_error(error, path, "\"cache_valid\" of layer %d is not an integer from 0 to "
                         "%d", l, c->attn_span);
    all_empty = all_empty && v == 0;
  }
  /* a run that starts with empty caches (an imported reference run) need not store them */
  if (ck->n_caches == 0 && all_empty) {
    spn_runner_reset_cache(t->runner);
    return TRUE;
  }
  if (ck->n_caches != c->nlayers || ck->cache_batch != c->batch_sz)
    return state_error(error, path, "its caches are missing or not %d streams of %d layers",
                       c->batch_sz, c->nlayers);
  for (int l = 0; l < c->nlayers; l++) {
    gint64 v = 0;
    spn_json_get_int(json_array_get_element(valid, l), &v);
    memcpy(spn_runner_cache(t->runner, l), ck->caches[l],
           sizeof(float) * c->batch_sz * c->attn_span * c->hid_sz);
    spn_runner_set_cache_valid(t->runner, l, (int)v);
  }
  return TRUE;
}

/* Why the history could not be read, if it could not: resuming needs it. */
static gboolean
history_readable(SpnCheckpoint *ck, GError **error)
{
  if (ck->history_error) {
    g_propagate_error(error, g_steal_pointer(&ck->history_error));
    return FALSE;
  }
  return TRUE;
}

/* Everything read from the file is checked before it is used: it is not covered by the
 * checksum, which covers the tensor data only. */
static gboolean
restore_state(SpnTrainer *t, SpnCheckpoint *ck, const char *path, GError **error)
{
  if (ck->trainer_json == NULL) {
    g_set_error(error, SPN_TRAINER_ERROR, SPN_TRAINER_ERROR_STATE,
                "%s: the training state is missing; it holds a model only "
                "(use it with eval, probe or generate)", path);
    return FALSE;
  }
  g_autoptr(JsonParser) p =
      spn_json_read(ck->trainer_json, strlen(ck->trainer_json), MAX_STATE_JSON,
                    SPN_JSON_MAX_DEPTH, TRUE, "the \"trainer\" metadata", SPN_TRAINER_ERROR,
                    SPN_TRAINER_ERROR_STATE, error);
  if (p == NULL) {
    g_prefix_error(error, "%s: ", path);
    return FALSE;
  }
  JsonObject *o = spn_json_root_object(p);
  return restore_pos(t, o, path, error) && restore_rng(t, o, path, error) &&
         restore_caches(t, ck, o, path, error) && history_readable(ck, error);
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

/* cost: what the step cost, from the spans it started with; share: each head's attention on
 * persistent memory in its forward pass (NULL without) */
static void
record_step(SpnTrainer *t, double train_bpc, double seconds, const SpnCost *cost,
            const float *share)
{
  const SpnConfig *c = &t->model->cfg;
  g_autofree float *spans = g_new(float, c->nlayers * c->nheads);
  spn_model_spans(t->model, spans);
  double tps = seconds > 0 ? (double)c->batch_sz * c->block_sz / seconds : NAN;
  SpnHistoryRow row = {.step = t->optim->step, .train_bpc = train_bpc, .tokens_per_s = tps,
                       .spans = spans, .flops_per_char = cost->flops,
                       .attn_flops_per_char = cost->attn_flops,
                       .cache_bytes = cost->cache_bytes, .pers_share = share};
  spn_history_append_row(t->history, &row);
}

/* block inputs and targets of every stream at pos: len + 1 tokens of each stream from pos */
static void
gather_block(const SpnCorpus *corpus, SpnSplit split, gsize stream_len, int batch, int len,
             gsize pos, gint32 *x, gint32 *y)
{
  g_assert(pos + (gsize)len + 1 <= stream_len);
  for (int b = 0; b < batch; b++) {
    gsize from = (gsize)b * stream_len + pos;
    spn_corpus_copy_ids(corpus, split, from, len, x + (gsize)b * len);
    spn_corpus_copy_ids(corpus, split, from + 1, len, y + (gsize)b * len);
  }
}

/* The next read position; when the streams are spent, a random restart offset below M, as the
 * reference draws it, but never so far that a block no longer fits (streams shorter than 2M + 1
 * tokens), with every cache zeroed. */
static void
advance(SpnTrainer *t)
{
  int M = t->model->cfg.block_sz;
  t->pos += M;
  if (t->pos + M + 1 <= t->stream_len)
    return;
  gsize room = t->stream_len - M; /* offsets 0 … room − 1 leave M + 1 tokens; ≥ 1 by check_split */
  t->pos = spn_rng_below(&t->rng, (guint64)MIN((gsize)M, room));
  spn_runner_reset_cache(t->runner);
}

/* The first parameter tensor whose gradient is not finite, or NULL. */
static const SpnTensorSpec *
bad_gradient(const SpnModel *m, float *value)
{
  const SpnLayout *layout = m->layout;
  for (int i = 0; i < layout->n_tensors; i++) {
    const SpnTensorSpec *spec = &layout->tensors[i];
    const float *g = m->grads + spec->offset;
    for (gsize k = 0; k < spec->numel; k++)
      if (!isfinite(g[k])) {
        *value = g[k];
        return spec;
      }
  }
  return NULL;
}

static gboolean
caches_finite(SpnTrainer *t)
{
  const SpnConfig *c = &t->model->cfg;
  gsize n = (gsize)c->batch_sz * c->attn_span * c->hid_sz;
  for (int l = 0; l < c->nlayers; l++) {
    const float *cache = spn_runner_cache(t->runner, l);
    for (gsize k = 0; k < n; k++)
      if (!isfinite(cache[k]))
        return FALSE;
  }
  return TRUE;
}

/* FALSE with the reason when the step's objective or a gradient is not finite: the optimizer must
 * not apply it. */
static gboolean
check_step(SpnTrainer *t, double nll, double span, GError **error)
{
  const SpnConfig *c = &t->model->cfg;
  gint64 step = t->optim->step + 1;
  float bad = 0.0f;
  int bad_tensor;
  const SpnTensorSpec *spec = NULL;
  g_autofree char *what = NULL;
  if (!isfinite(nll) || !isfinite(span))
    what = g_strdup_printf("the training loss is %g", isfinite(nll) ? nll + span : nll);
  else if ((spec = bad_gradient(t->model, &bad)) != NULL)
    what = g_strdup_printf("the gradient of %s holds %g", spec->name, (double)bad);
  else if ((bad_tensor = spn_optim_check(t->optim, t->model)) >= 0)
    what = g_strdup_printf("the update of %s would not be finite (its gradients outgrow the "
                           "optimizer's float range)", t->model->layout->tensors[bad_tensor].name);
  else
    return TRUE;
  g_autofree char *clip = c->grad_clip > 0
                              ? g_strdup_printf("a smaller gradient clip (--grad-clip, now %g)",
                                                c->grad_clip)
                              : g_strdup("gradient clipping (--grad-clip, now off)");
  g_set_error(error, SPN_TRAINER_ERROR, SPN_TRAINER_ERROR_DIVERGED,
              "training stopped at step %" G_GINT64_FORMAT " before applying it: %s; the "
              "weights of step %" G_GINT64_FORMAT " are kept. The training diverged: try a lower "
              "learning rate (--lr, now %g) or %s",
              step, what, step - 1, c->lr, clip);
  return FALSE;
}

gboolean
spn_trainer_step(SpnTrainer *t, SpnStepResult *out, GError **error)
{
  const SpnConfig *c = &t->model->cfg;
  gint64 t0 = g_get_monotonic_time();
  gather_block(t->corpus, SPN_SPLIT_TRAIN, t->stream_len, c->batch_sz, c->block_sz, t->pos, t->x,
               t->y);
  spn_runner_set_dropout_seed(t->runner, c->seed + 0x100000000ull * (guint64)(t->optim->step + 1));
  spn_model_zero_grad(t->model);
  int nh = c->nlayers * c->nheads;
  float *share = g_newa(float, nh);
  SpnCost cost = spn_cost_of_model(t->model, NULL);
  double nll = spn_runner_forward(t->runner, t->x, t->y, c->block_sz, TRUE, NULL);
  if (c->pers_mem_size > 0)
    spn_runner_persistent_share(t->runner, share);
  double span = spn_model_span_loss(t->model);
  spn_runner_backward(t->runner);
  spn_model_span_loss_backward(t->model);
  if (!check_step(t, nll, span, error)) {
    /* the block is read (the caches moved past it), the update is not applied; caches that
     * hold what cannot be saved start over */
    advance(t);
    if (!caches_finite(t))
      spn_runner_reset_cache(t->runner);
    return FALSE;
  }
  spn_optim_step(t->optim, t->model);
  advance(t);
  double seconds = (g_get_monotonic_time() - t0) / 1e6;
  record_step(t, nll / G_LN2, seconds, &cost, c->pers_mem_size > 0 ? share : NULL);
  if (out) {
    out->step = t->optim->step;
    out->train_bpc = nll / G_LN2;
    out->objective = nll + span;
    out->lr = spn_optim_lr(t->optim, t->optim->step);
    out->seconds = seconds;
    out->cost = cost;
  }
  return TRUE;
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
    gather_block(corpus, split, stream_len, batch, len, pos, x, y);
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
    gather_block(t->corpus, SPN_SPLIT_VALID, cols, B, M, t->val_pos, x, y);
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
