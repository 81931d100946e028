/* config.c — the settings table and everything it drives: validation, JSON, command-line
 * options; the presets. */
#include "config.h"
#include "demo.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "jsonread.h"

/* What a model may take in memory: its parameters with their gradients and optimizer moments,
 * or the activations of one block with the layer caches. */
#define MAX_MODEL_BYTES 16e9
/* A configuration is a few hundred bytes; anything near this is not one. */
#define MAX_CONFIG_JSON 65536

/* clang-format off */
G_DEFINE_QUARK(spn-config-error-quark, spn_config_error)
/* clang-format on */

/* ---- the table ---- */

#define AT(member) offsetof(SpnConfig, member)
#define MODEL SPN_FIELD_GROUP_MODEL
#define SPAN SPN_FIELD_GROUP_SPAN
#define TRAINING SPN_FIELD_GROUP_TRAINING
#define RUN SPN_FIELD_GROUP_RUN

static const SpnChoice optim_choices[] = {
  {"adagrad", "Adagrad (reference)"}, {"adam", "Adam"}, {NULL, NULL}};
static const SpnChoice window_choices[] = {
  {"reference", "Its layer's (reference)"}, {"head", "Its own"}, {NULL, NULL}};
static const SpnChoice eval_choices[] = {
  {"prefix", "First tokens"}, {"reference", "Rolling (reference)"}, {NULL, NULL}};

/* In the setup dialog's order. Ranges are what is sensible, not what fits a type. */
static const SpnConfigField fields[] = {
  /* name, key, title, offset, type, min, max, help, arg, group, flags, choices */
  {"nlayers", "nlayers", "Layers", AT(nlayers), SPN_FIELD_INT, 1, 64,
   "Number of Transformer layers", "N", MODEL, 0, NULL},
  {"hid-sz", "hid_sz", "Width d", AT(hid_sz), SPN_FIELD_INT, 1, 8192,
   "Model width d; must be divisible by the number of heads", "D", MODEL, 0, NULL},
  {"nheads", "nheads", "Heads", AT(nheads), SPN_FIELD_INT, 1, 256,
   "Attention heads per layer", "K", MODEL, 0, NULL},
  {"inner-hid-sz", "inner_hid_sz", "Feed-forward size F", AT(inner_hid_sz), SPN_FIELD_INT, 1, 65536,
   "Hidden size of the feed-forward sublayer (unused with persistent memory)", "F", MODEL,
   SPN_FIELD_FF_ONLY, NULL},
  {"pers-mem-size", "pers_mem_size", "Persistent memory N", AT(pers_mem_size), SPN_FIELD_INT, 0,
   65536, "Learned key/value vectors per head; above 0 they replace the feed-forward sublayer "
   "(all-attention)", "N", MODEL, 0, NULL},
  {"dropout", "dropout", "Dropout", AT(dropout), SPN_FIELD_DOUBLE, 0, 0.99,
   "Dropout on attention weights and feed-forward activations while training (0 to 0.99)", "P",
   MODEL, SPN_FIELD_RESUMABLE, NULL},
  {"adapt-span", "adapt_span", "Adaptive span", AT(adapt_span), SPN_FIELD_BOOL, 0, 1,
   "Each head learns its own context length through a soft mask", NULL, SPAN, 0, NULL},
  {"attn-span", "attn_span", "Maximum span S", AT(attn_span), SPN_FIELD_INT, 1, 65536,
   "How many previous characters a head can attend to at most", "S", SPAN, 0, NULL},
  {"adapt-span-ramp", "adapt_span_ramp", "Ramp R", AT(adapt_span_ramp), SPN_FIELD_INT, 1, 65536,
   "Length of the linear fall of the soft mask, in characters", "R", SPAN, SPN_FIELD_SPAN_ONLY, NULL},
  {"adapt-span-loss", "adapt_span_loss", "Span loss λ", AT(adapt_span_loss), SPN_FIELD_DOUBLE, 0,
   1e3, "Weight of the span penalty added to the training objective (e.g. 2e-6)", "L", SPAN,
   SPN_FIELD_SPAN_ONLY | SPN_FIELD_RESUMABLE, NULL},
  {"adapt-span-init", "adapt_span_init", "Initial span z₀", AT(adapt_span_init), SPN_FIELD_DOUBLE,
   0, 1, "Starting span of every head as a fraction of S (0 to 1)", "Z", SPAN,
   SPN_FIELD_SPAN_ONLY, NULL},
  {"adapt-span-cache", "adapt_span_cache", "Adaptive cache", AT(adapt_span_cache), SPN_FIELD_BOOL,
   0, 1, "Keep only as many past positions as the longest span of the layer needs", NULL, SPAN,
   SPN_FIELD_SPAN_ONLY, NULL},
  {"attn-window", "attn_window", "Softmax window", AT(attn_window), SPN_FIELD_CHOICE, 0, 0,
   "Distances a head's softmax normaliser covers: reference (its layer's trimmed window: the "
   "reference's numbers exactly) or head (its own window: a little faster, differs from the "
   "reference through the renormalisation's epsilon)", "WINDOW", SPAN, SPN_FIELD_SPAN_ONLY,
   window_choices},
  {"block-sz", "block_sz", "Block M", AT(block_sz), SPN_FIELD_INT, 1, 65536,
   "Characters per stream and optimizer step", "M", TRAINING, 0, NULL},
  {"batch-sz", "batch_sz", "Batch B", AT(batch_sz), SPN_FIELD_INT, 1, 65536,
   "Parallel streams of the training text", "B", TRAINING, 0, NULL},
  {"optim", "optim", "Optimizer", AT(optim), SPN_FIELD_CHOICE, 0, 0,
   "adagrad (with per-tensor clipping, the reference's) or adam", "NAME", TRAINING, 0,
   optim_choices},
  {"lr", "lr", "Learning rate", AT(lr), SPN_FIELD_DOUBLE, 0, 1e3,
   "Step size after warm-up (reference: 0.07 with Adagrad)", "LR", TRAINING,
   SPN_FIELD_RESUMABLE, NULL},
  {"lr-warmup", "lr_warmup", "Warm-up steps", AT(lr_warmup), SPN_FIELD_INT, 0, 1e9,
   "Steps over which the learning rate rises linearly from 0", "N", TRAINING,
   SPN_FIELD_RESUMABLE, NULL},
  {"grad-clip", "grad_clip", "Gradient clip", AT(grad_clip), SPN_FIELD_DOUBLE, 0, 1e9,
   "Largest gradient norm per parameter tensor; 0 turns clipping off", "C", TRAINING,
   SPN_FIELD_RESUMABLE, NULL},
  {"eval-mode", "eval_mode", "Validation", AT(eval_mode), SPN_FIELD_CHOICE, 0, 0,
   "How training measures validation bpc: prefix (the split's first tokens from empty caches) "
   "or reference (as the reference: a tenth of the steps between validations in blocks, "
   "rolling through the split with caches of its own)", "MODE", TRAINING,
   SPN_FIELD_RESUMABLE, eval_choices},
  {"seed", "seed", "Seed", AT(seed), SPN_FIELD_SEED, 0, 0,
   "Random seed of the initial weights and the reading order", "N", RUN, 0, NULL},
  {"threads", "threads", "Threads", AT(threads), SPN_FIELD_INT, 0, 1024,
   "Worker threads for the numerics; 0 uses every core", "N", RUN, SPN_FIELD_RESUMABLE, NULL},
  {"vocab-size", "vocab_size", "Vocabulary", AT(vocab_size), SPN_FIELD_INT, 1, 1 << 24,
   "Tokens in the vocabulary, set from the corpus", NULL, MODEL, SPN_FIELD_INTERNAL, NULL},
};

/* Keys that older checkpoints wrote. */
static const struct {
  const char *old, *key;
} key_aliases[] = {{"span_init", "adapt_span_init"}};

static const char *const group_titles[SPN_FIELD_GROUP_COUNT] = {"Model", "Attention span",
                                                                "Training", "Run"};

const SpnConfigField *
spn_config_fields(guint *n_fields)
{
  *n_fields = G_N_ELEMENTS(fields);
  return fields;
}

const char *
spn_config_group_title(SpnFieldGroup group)
{
  return group < SPN_FIELD_GROUP_COUNT ? group_titles[group] : "";
}

#define FIELD(cfg, f, type) ((type *)((guint8 *)(cfg) + (f)->offset))
#define CFIELD(cfg, f, type) ((const type *)((const guint8 *)(cfg) + (f)->offset))

/* INT, DOUBLE and BOOL values as a number (for ranges and JSON) */
static double
number_of(const SpnConfig *c, const SpnConfigField *f)
{
  switch (f->type) {
  case SPN_FIELD_INT: return *CFIELD(c, f, int);
  case SPN_FIELD_DOUBLE: return *CFIELD(c, f, double);
  case SPN_FIELD_BOOL: return *CFIELD(c, f, gboolean) != 0;
  case SPN_FIELD_CHOICE: return *CFIELD(c, f, int);
  case SPN_FIELD_SEED: return (double)*CFIELD(c, f, guint64);
  }
  return NAN;
}

/* ---- presets ---- */

void
spn_config_init_desktop(SpnConfig *cfg)
{
  *cfg = (SpnConfig){
    .nlayers = 4, .hid_sz = 128, .inner_hid_sz = 512, .nheads = 4, .attn_span = 1024,
    .pers_mem_size = 0, .adapt_span = TRUE, .adapt_span_loss = 2e-6, .adapt_span_ramp = 32,
    .adapt_span_init = 0.0, .adapt_span_cache = TRUE, .attn_window = SPN_ATTN_WINDOW_REFERENCE,
    .dropout = 0.0, .vocab_size = 0, .eval_mode = SPN_EVAL_PREFIX,
    .block_sz = 128, .batch_sz = 16, .optim = SPN_OPTIM_ADAGRAD, .lr = 0.07, .lr_warmup = 100,
    .grad_clip = 0.03, .seed = 1, .threads = 0,
  };
}

void
spn_config_init_reference_small(SpnConfig *cfg)
{
  spn_config_init_desktop(cfg);
  cfg->nlayers = 8;
  cfg->hid_sz = 256;
  cfg->inner_hid_sz = 1024;
  cfg->block_sz = 256;
  cfg->batch_sz = 64;
  cfg->lr_warmup = 8000;   /* the reference's experiments/enwik8_small.sh */
}

void
spn_config_init_all_attention(SpnConfig *cfg)
{
  spn_config_init_desktop(cfg);
  cfg->pers_mem_size = 256;
  cfg->inner_hid_sz = 0;
}

/* Adam moves every span by at most lr·S characters a step, so the wide start (768) passes the
 * planted distance only after ~300 steps, once the copying is learned; with Adagrad the spans
 * swept past it first. The strong λ then prunes all but one of the heads that learned to copy. */
void
spn_config_init_span_demo(SpnConfig *cfg)
{
  spn_config_init_desktop(cfg);
  cfg->adapt_span_init = 0.75;
  cfg->adapt_span_loss = 5e-4;
  cfg->optim = SPN_OPTIM_ADAM;
  cfg->lr = 0.002;
  cfg->grad_clip = 0.0;
}

/* S = 8192 for the long-span corpus (demo.h): every head starts at S, meant to find the copies
 * 6000 characters back before the span loss sweeps it past them. Adam moves a span by at most
 * lr·S ≈ 25 characters a step after the warm-up, and measured runs show the heads sweep past
 * every planted distance before they learn to copy (data/README.md, "Long span"). λ is weaker
 * than the span demo's: each distance holds a third of the copies. Head
 * window: in the reference's window the softmax of every head in a layer with a 6000-character
 * head would cover 6000 distances, and the cost would follow the layer's longest head. */
void
spn_config_init_long_span(SpnConfig *cfg)
{
  spn_config_init_desktop(cfg);
  cfg->hid_sz = 64;
  cfg->inner_hid_sz = 256;
  cfg->attn_span = 8192;
  cfg->adapt_span_init = 1.0;
  cfg->adapt_span_loss = 1e-4;
  cfg->adapt_span_cache = TRUE;
  cfg->attn_window = SPN_ATTN_WINDOW_HEAD;
  cfg->optim = SPN_OPTIM_ADAM;
  cfg->lr = 0.003;
  cfg->grad_clip = 0.0;
}

/* The defaults of the reference's main.py (its argparse table), where we have the setting; its
 * default optimizer, SGD, is not one of ours, so Adagrad stands in. */
void
spn_config_init_reference_defaults(SpnConfig *cfg)
{
  *cfg = (SpnConfig){
    .nlayers = 8, .hid_sz = 256, .inner_hid_sz = 1024, .nheads = 2, .attn_span = 32,
    .pers_mem_size = 0, .adapt_span = FALSE, .adapt_span_loss = 0.0, .adapt_span_ramp = 32,
    .adapt_span_init = 0.0, .adapt_span_cache = FALSE, .dropout = 0.2, .vocab_size = 0,
    .block_sz = 64, .batch_sz = 64, .optim = SPN_OPTIM_ADAGRAD, .lr = 0.03, .lr_warmup = 0,
    .grad_clip = 0.0, .seed = 1, .threads = 0, .attn_window = SPN_ATTN_WINDOW_REFERENCE,
    .eval_mode = SPN_EVAL_REFERENCE,
  };
}

static const struct {
  const char *name, *title, *about, *corpus;
  void (*init)(SpnConfig *cfg);
} presets[SPN_PRESET_COUNT] = {
  [SPN_PRESET_DESKTOP] = {"desktop", "Desktop", "learns within minutes on two cores", NULL,
                          spn_config_init_desktop},
  [SPN_PRESET_REFERENCE_SMALL] = {"small", "Reference small",
                                  "the reference's small enwik8 setting: 8 layers, width 256",
                                  NULL, spn_config_init_reference_small},
  [SPN_PRESET_ALL_ATTENTION] = {"allattn", "All-attention",
                                "256 persistent vectors per head instead of the feed-forward "
                                "sublayer", NULL, spn_config_init_all_attention},
  [SPN_PRESET_SPAN_DEMO] = {"demo", "Span demo",
                            "wide spans on the demonstration corpus: they start at 0.75·S, span "
                            "loss 5e-4, Adam lr 0.002 without clipping", "demo",
                            spn_config_init_span_demo},
  [SPN_PRESET_LONG_SPAN] = {"long", "Long span",
                            "S = 8192 on the long-span corpus, whose passages recur 100, "
                            "800 and 6000 characters later: spans start at S and the cost "
                            "falls with them",
                            SPN_LONG_DEMO_SOURCE, spn_config_init_long_span},
};

const char *
spn_preset_name(SpnPreset p)
{
  return presets[p].name;
}

const char *
spn_preset_title(SpnPreset p)
{
  return presets[p].title;
}

const char *
spn_preset_about(SpnPreset p)
{
  return presets[p].about;
}

const char *
spn_preset_corpus(SpnPreset p)
{
  return presets[p].corpus;
}

gboolean
spn_preset_from_name(const char *name, SpnPreset *p)
{
  for (int i = 0; i < SPN_PRESET_COUNT; i++)
    if (g_strcmp0(name, presets[i].name) == 0) {
      *p = (SpnPreset)i;
      return TRUE;
    }
  return FALSE;
}

char *
spn_preset_names(void)
{
  GString *s = g_string_new(NULL);
  for (int i = 0; i < SPN_PRESET_COUNT; i++)
    g_string_append_printf(s, "%s%s", i == 0 ? "" : i == SPN_PRESET_COUNT - 1 ? " or " : ", ",
                           presets[i].name);
  return g_string_free(s, FALSE);
}

void
spn_preset_init(SpnPreset p, SpnConfig *cfg)
{
  presets[p < SPN_PRESET_COUNT ? p : SPN_PRESET_DESKTOP].init(cfg);
}

/* ---- choice names ---- */

static const char *
choice_name(const SpnChoice *choices, int value)
{
  for (int i = 0; choices[i].name != NULL; i++)
    if (i == value)
      return choices[i].name;
  return "?";
}

static gboolean
choice_from_name(const SpnChoice *choices, const char *name, int *value)
{
  for (int i = 0; choices[i].name != NULL; i++)
    if (g_strcmp0(name, choices[i].name) == 0) {
      *value = i;
      return TRUE;
    }
  return FALSE;
}

/* "adagrad or adam", for messages */
static char *
choice_names(const SpnChoice *choices)
{
  GString *s = g_string_new(NULL);
  for (int i = 0; choices[i].name != NULL; i++)
    g_string_append_printf(s, "%s%s", i == 0 ? "" : choices[i + 1].name ? ", " : " or ",
                           choices[i].name);
  return g_string_free(s, FALSE);
}

const char *
spn_optim_name(SpnOptimKind kind)
{
  return choice_name(optim_choices, kind);
}

gboolean
spn_optim_from_name(const char *name, SpnOptimKind *kind)
{
  int v;
  if (!choice_from_name(optim_choices, name, &v))
    return FALSE;
  *kind = (SpnOptimKind)v;
  return TRUE;
}

const char *
spn_attn_window_name(SpnAttnWindow window)
{
  return choice_name(window_choices, window);
}

const char *
spn_eval_mode_name(SpnEvalMode mode)
{
  return choice_name(eval_choices, mode);
}

gboolean
spn_config_reference_exact(const SpnConfig *cfg, char **why)
{
  if (!cfg->adapt_span || cfg->attn_window == SPN_ATTN_WINDOW_REFERENCE)
    return TRUE;
  if (why)
    *why = g_strdup("the model was trained with --attn-window head: each head's softmax ran "
                    "over its own window, the reference's runs over its layer's trimmed window, "
                    "so the reference computes slightly different numbers (most where a head's "
                    "span holds almost no attention)");
  return FALSE;
}

/* ---- validation ---- */

static gboolean
check_range(const SpnConfig *c, const SpnConfigField *f, GError **error)
{
  double v = number_of(c, f);
  if (!(v >= f->min && v <= f->max)) {
    g_set_error(error, SPN_CONFIG_ERROR, SPN_CONFIG_ERROR_RANGE,
                "--%s is %g; expected a value in [%g, %g]", f->name, v, f->min, f->max);
    return FALSE;
  }
  return TRUE;
}

static gboolean
has_range(const SpnConfigField *f)
{
  return f->type == SPN_FIELD_INT || f->type == SPN_FIELD_DOUBLE;
}

/* The parameters of the layout in params.c, counted in floating point so that no product of
 * absurd settings overflows. */
static double
param_count(const SpnConfig *c)
{
  double d = c->hid_sz, K = c->nheads, N = c->pers_mem_size, F = c->inner_hid_sz;
  double V = c->vocab_size, D = d / K;
  double layer = 4 * d * d + 2 * d + (c->adapt_span ? K : 0) +
                 (N > 0 ? 2 * K * D * N : 2 * F * d + F + d + 2 * d);
  return 2 * V * d + V + D * c->attn_span + c->nlayers * layer;
}

gboolean
spn_config_validate(const SpnConfig *c, GError **error)
{
  for (guint i = 0; i < G_N_ELEMENTS(fields); i++) {
    const SpnConfigField *f = &fields[i];
    gboolean unused = (f->flags & SPN_FIELD_FF_ONLY) && c->pers_mem_size > 0;
    if (has_range(f) && !(f->flags & SPN_FIELD_INTERNAL) && !unused && !check_range(c, f, error))
      return FALSE;
    if (f->type == SPN_FIELD_CHOICE &&
        g_str_equal(choice_name(f->choices, *CFIELD(c, f, int)), "?")) {
      g_set_error(error, SPN_CONFIG_ERROR, SPN_CONFIG_ERROR_RANGE, "--%s has no value %d", f->name,
                  *CFIELD(c, f, int));
      return FALSE;
    }
  }
  if (c->hid_sz % c->nheads != 0) {
    g_set_error(error, SPN_CONFIG_ERROR, SPN_CONFIG_ERROR_INCONSISTENT,
                "--hid-sz %d is not divisible by --nheads %d; each head needs an equal share",
                c->hid_sz, c->nheads);
    return FALSE;
  }
  if (c->vocab_size < 1 || c->vocab_size > (1 << 24)) {
    g_set_error(error, SPN_CONFIG_ERROR, SPN_CONFIG_ERROR_RANGE,
                "vocabulary size %d is out of range [1, 2^24]", c->vocab_size);
    return FALSE;
  }
  /* Parameters, gradients and optimizer moments must fit before anything is allocated (a
   * checkpoint's configuration is checked here too). */
  double params = param_count(c);
  double moments = c->optim == SPN_OPTIM_ADAM ? 2 : 1;
  if (params * (2 + moments) * sizeof(float) > MAX_MODEL_BYTES) {
    g_set_error(error, SPN_CONFIG_ERROR, SPN_CONFIG_ERROR_RANGE,
                "this model would need about %.0f GB for its %.0f million parameters, their "
                "gradients and optimizer state; reduce --hid-sz, --nlayers, --inner-hid-sz, "
                "--pers-mem-size or the vocabulary",
                params * (2 + moments) * sizeof(float) / 1e9, params / 1e6);
    return FALSE;
  }
  /* The activations of one block and the layer caches must fit comfortably in memory. */
  double acts = (double)c->batch_sz * c->block_sz * c->nlayers *
                    (c->hid_sz * 12.0 + c->inner_hid_sz * 2.0 +
                     c->nheads * (double)(c->attn_span + c->pers_mem_size)) +
                (double)c->batch_sz * c->attn_span * c->hid_sz * c->nlayers;
  if (acts * sizeof(float) > MAX_MODEL_BYTES) {
    g_set_error(error, SPN_CONFIG_ERROR, SPN_CONFIG_ERROR_RANGE,
                "this model would need about %.0f GB for the activations of one block; "
                "reduce --batch-sz, --block-sz or --attn-span", acts * sizeof(float) / 1e9);
    return FALSE;
  }
  return TRUE;
}

/* ---- JSON ---- */

/* A double as a JSON number. json-glib's generator cannot be used: it appends ".0" to any number
 * printed without a point, so 2e-14 became "2e-14.0", which no JSON parser (json-glib included)
 * reads back. %.17g round-trips every double; JSON has no NaN or infinity (null, refused when
 * read). */
static void
append_double(GString *s, double v)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  g_string_append(s, isfinite(v) ? g_ascii_formatd(buf, sizeof buf, "%.17g", v) : "null");
}

/* The configuration is flat, its names and string values fixed ASCII: it is written directly. */
static void
append_member(GString *s, const SpnConfig *c, const SpnConfigField *f)
{
  g_string_append_printf(s, "\"%s\":", f->key);
  switch (f->type) {
  case SPN_FIELD_INT: g_string_append_printf(s, "%d", *CFIELD(c, f, int)); break;
  case SPN_FIELD_DOUBLE: append_double(s, *CFIELD(c, f, double)); break;
  case SPN_FIELD_BOOL: g_string_append(s, *CFIELD(c, f, gboolean) ? "true" : "false"); break;
  case SPN_FIELD_CHOICE:
    g_string_append_printf(s, "\"%s\"", choice_name(f->choices, *CFIELD(c, f, int)));
    break;
  case SPN_FIELD_SEED:
    g_string_append_printf(s, "\"%" G_GUINT64_FORMAT "\"", *CFIELD(c, f, guint64));
    break;
  }
}

char *
spn_config_to_json(const SpnConfig *c)
{
  GString *s = g_string_new("{");
  for (guint i = 0; i < G_N_ELEMENTS(fields); i++) {
    if (i > 0)
      g_string_append_c(s, ',');
    append_member(s, c, &fields[i]);
  }
  g_string_append_c(s, '}');
  return g_string_free(s, FALSE);
}

static gboolean
parse_error(GError **error, const char *key, const char *expected)
{
  g_set_error(error, SPN_CONFIG_ERROR, SPN_CONFIG_ERROR_PARSE, "configuration key \"%s\" %s", key,
              expected);
  return FALSE;
}

/* a number, or a boolean as 0/1 */
static gboolean
read_number(JsonNode *n, const char *key, double *out, GError **error)
{
  GType t = JSON_NODE_HOLDS_VALUE(n) ? json_node_get_value_type(n) : G_TYPE_INVALID;
  if (t != G_TYPE_INT64 && t != G_TYPE_DOUBLE && t != G_TYPE_BOOLEAN)
    return parse_error(error, key, "is not a number");
  *out = t == G_TYPE_BOOLEAN ? json_node_get_boolean(n) : json_node_get_double(n);
  return TRUE;
}

static gboolean
read_member(SpnConfig *c, const SpnConfigField *f, JsonNode *n, const char *key, GError **error)
{
  double v = NAN;
  switch (f->type) {
  case SPN_FIELD_CHOICE: {
    const char *name = JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
                           ? json_node_get_string(n)
                           : NULL;
    if (!choice_from_name(f->choices, name, FIELD(c, f, int))) {
      g_autofree char *names = choice_names(f->choices);
      g_set_error(error, SPN_CONFIG_ERROR, SPN_CONFIG_ERROR_PARSE,
                  "configuration key \"%s\" is \"%s\" (expected %s)", key, name ? name : "?",
                  names);
      return FALSE;
    }
    return TRUE;
  }
  case SPN_FIELD_SEED:
    if (!JSON_NODE_HOLDS_VALUE(n))
      return TRUE;
    if (json_node_get_value_type(n) == G_TYPE_STRING)
      *FIELD(c, f, guint64) = g_ascii_strtoull(json_node_get_string(n), NULL, 10);
    else
      *FIELD(c, f, guint64) = (guint64)json_node_get_int(n);
    return TRUE;
  case SPN_FIELD_INT:
    if (!read_number(n, key, &v, error))
      return FALSE;
    if (v != floor(v) || fabs(v) > G_MAXINT)
      return parse_error(error, key, "must be an integer");
    *FIELD(c, f, int) = (int)v;
    return TRUE;
  case SPN_FIELD_DOUBLE:
    if (!read_number(n, key, &v, error))
      return FALSE;
    *FIELD(c, f, double) = v;
    return TRUE;
  case SPN_FIELD_BOOL:
    if (!read_number(n, key, &v, error))
      return FALSE;
    *FIELD(c, f, gboolean) = v != 0;
    return TRUE;
  }
  return TRUE;
}

static const SpnConfigField *
field_by_key(const char *key)
{
  for (guint i = 0; i < G_N_ELEMENTS(fields); i++)
    if (g_str_equal(fields[i].key, key))
      return &fields[i];
  return NULL;
}

gboolean
spn_config_from_json(SpnConfig *c, const char *json, GError **error)
{
  g_autoptr(JsonParser) p = spn_json_read(json, strlen(json), MAX_CONFIG_JSON, SPN_JSON_MAX_DEPTH,
                                          TRUE, "the configuration", SPN_CONFIG_ERROR,
                                          SPN_CONFIG_ERROR_PARSE, error);
  if (p == NULL)
    return FALSE;
  JsonObject *o = spn_json_root_object(p);
  for (guint i = 0; i < G_N_ELEMENTS(key_aliases); i++) {
    JsonNode *n = json_object_get_member(o, key_aliases[i].old);
    if (n != NULL &&
        !read_member(c, field_by_key(key_aliases[i].key), n, key_aliases[i].old, error))
      return FALSE;
  }
  for (guint i = 0; i < G_N_ELEMENTS(fields); i++) {
    JsonNode *n = json_object_get_member(o, fields[i].key);
    if (n != NULL && !read_member(c, &fields[i], n, fields[i].key, error))
      return FALSE;
  }
  return TRUE;
}

/* ---- command-line options ---- */

/* An option's row and where its value goes. */
typedef struct {
  const SpnConfigField *row;
  gpointer dest;
  gboolean off;   /* the --no- form of a switch */
} OptionBinding;

typedef struct {
  GHashTable *bindings;   /* "--name" → OptionBinding */
  GHashTable *given;      /* may be NULL; not owned */
  GPtrArray *strings;     /* the entries' names and descriptions, alive as long as the group */
} OptionData;

static void
option_data_free(gpointer p)
{
  OptionData *d = p;
  g_hash_table_unref(d->bindings);
  g_ptr_array_unref(d->strings);
  g_free(d);
}

static const char *
keep(OptionData *d, char *s)
{
  g_ptr_array_add(d->strings, s);
  return s;
}

static gboolean
bad_value(GError **error, const char *option, const char *value, const SpnConfigField *f)
{
  if (f->type == SPN_FIELD_INT)
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "%s %s: expected an integer in [%.0f, %.0f]", option, value, f->min, f->max);
  else if (f->type == SPN_FIELD_DOUBLE)
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "%s %s: expected a number in [%g, %g]", option, value, f->min, f->max);
  else if (f->type == SPN_FIELD_SEED)
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "%s %s: expected an integer in [0, %" G_GUINT64_FORMAT "]", option, value,
                G_MAXUINT64);
  else {
    g_autofree char *names = choice_names(f->choices);
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "%s %s: expected %s", option,
                value, names);
  }
  return FALSE;
}

/* The value of one option into its field, checked against the row's range. */
static gboolean
parse_value(const SpnConfigField *f, const char *option, const char *value, gpointer dest,
            GError **error)
{
  char *end = NULL;
  switch (f->type) {
  case SPN_FIELD_INT: {
    gint64 v;
    if (!g_ascii_string_to_signed(value, 10, (gint64)f->min, (gint64)f->max, &v, NULL))
      return bad_value(error, option, value, f);
    *(int *)dest = (int)v;
    return TRUE;
  }
  case SPN_FIELD_DOUBLE: {
    double v = g_ascii_strtod(value, &end);
    if (end == value || *end != '\0' || !(v >= f->min && v <= f->max))
      return bad_value(error, option, value, f);
    *(double *)dest = v;
    return TRUE;
  }
  case SPN_FIELD_SEED: {
    guint64 v;
    if (!g_ascii_string_to_unsigned(value, 10, 0, G_MAXUINT64, &v, NULL))
      return bad_value(error, option, value, f);
    *(guint64 *)dest = v;
    return TRUE;
  }
  case SPN_FIELD_CHOICE:
    return choice_from_name(f->choices, value, dest) || bad_value(error, option, value, f);
  case SPN_FIELD_BOOL:
    break;
  }
  return TRUE;
}

static gboolean
parse_option(const char *option, const char *value, gpointer data, GError **error)
{
  OptionData *d = data;
  const OptionBinding *b = g_hash_table_lookup(d->bindings, option);
  if (b == NULL) { /* a short name: GLib passes "-x" */
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, "%s: unknown option", option);
    return FALSE;
  }
  if (b->row->type == SPN_FIELD_BOOL)
    *(gboolean *)b->dest = !b->off;
  else if (!parse_value(b->row, option, value, b->dest, error))
    return FALSE;
  if (d->given)
    g_hash_table_add(d->given, (gpointer)b->row->name);
  return TRUE;
}

/* "Layers (default 4)" */
static char *
describe(const SpnConfigField *f, gconstpointer defaults)
{
  if (defaults == NULL)
    return g_strdup(f->help);
  g_autofree char *value = spn_config_field_format(defaults, f);
  return g_strdup_printf("%s (default %s)", f->help, value);
}

static void
add_entry(GArray *entries, OptionData *d, const SpnConfigField *f, gpointer dest, gboolean off,
          const char *description)
{
  const char *name = off ? keep(d, g_strconcat("no-", f->name, NULL)) : f->name;
  OptionBinding *b = g_new(OptionBinding, 1);
  *b = (OptionBinding){f, dest, off};
  g_hash_table_insert(d->bindings, (gpointer)keep(d, g_strconcat("--", name, NULL)), b);
  GOptionEntry e = {name, 0, f->type == SPN_FIELD_BOOL ? G_OPTION_FLAG_NO_ARG : 0,
                    G_OPTION_ARG_CALLBACK, (gpointer)parse_option, description,
                    f->type == SPN_FIELD_BOOL ? NULL : f->arg};
  g_array_append_val(entries, e);
}

GOptionGroup *
spn_option_group_new(const SpnOptionRows *sets, guint n_sets, GHashTable *given)
{
  OptionData *d = g_new0(OptionData, 1);
  d->bindings = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
  d->given = given;
  d->strings = g_ptr_array_new_with_free_func(g_free);
  GArray *entries = g_array_new(TRUE, TRUE, sizeof(GOptionEntry));
  for (guint s = 0; s < n_sets; s++)
    for (guint i = 0; i < sets[s].n_rows; i++) {
      const SpnConfigField *f = &sets[s].rows[i];
      if (f->flags & SPN_FIELD_INTERNAL)
        continue;
      gpointer dest = (guint8 *)sets[s].base + f->offset;
      add_entry(entries, d, f, dest, FALSE, keep(d, describe(f, sets[s].defaults)));
      if (f->type == SPN_FIELD_BOOL)
        add_entry(entries, d, f, dest, TRUE,
                  keep(d, g_strdup_printf("Turn --%s off", f->name)));
    }
  GOptionGroup *group = g_option_group_new("settings", "Settings:", "Show the settings", d,
                                           option_data_free);
  g_option_group_add_entries(group, (const GOptionEntry *)entries->data);
  g_array_free(entries, TRUE);
  return group;
}

GOptionGroup *
spn_config_option_group(SpnConfig *cfg)
{
  SpnConfig desktop;
  spn_config_init_desktop(&desktop);
  SpnOptionRows set = {fields, G_N_ELEMENTS(fields), cfg, &desktop};
  return spn_option_group_new(&set, 1, NULL);
}

const SpnConfigField *
spn_config_field(const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS(fields); i++)
    if (g_str_equal(fields[i].name, name))
      return &fields[i];
  return NULL;
}

static gsize
field_size(const SpnConfigField *f)
{
  switch (f->type) {
  case SPN_FIELD_INT: return sizeof(int);
  case SPN_FIELD_DOUBLE: return sizeof(double);
  case SPN_FIELD_BOOL: return sizeof(gboolean);
  case SPN_FIELD_SEED: return sizeof(guint64);
  case SPN_FIELD_CHOICE: return sizeof(int);
  }
  return 0;
}

gboolean
spn_config_field_equal(const SpnConfig *a, const SpnConfig *b, const SpnConfigField *f)
{
  if (f->type == SPN_FIELD_SEED)
    return *CFIELD(a, f, guint64) == *CFIELD(b, f, guint64);
  return number_of(a, f) == number_of(b, f);
}

void
spn_config_field_copy(SpnConfig *dst, const SpnConfig *src, const SpnConfigField *f)
{
  memcpy(FIELD(dst, f, void), CFIELD(src, f, void), field_size(f));
}

/* the offsets may be into another struct (a program's own rows): CFIELD only adds them */
char *
spn_config_field_format(const SpnConfig *c, const SpnConfigField *f)
{
  switch (f->type) {
  case SPN_FIELD_BOOL: return g_strdup(*CFIELD(c, f, gboolean) ? "on" : "off");
  case SPN_FIELD_CHOICE: return g_strdup(choice_name(f->choices, *CFIELD(c, f, int)));
  case SPN_FIELD_SEED: return g_strdup_printf("%" G_GUINT64_FORMAT, *CFIELD(c, f, guint64));
  case SPN_FIELD_INT:
  case SPN_FIELD_DOUBLE: return g_strdup_printf("%g", number_of(c, f));
  }
  return g_strdup("");
}
