#include "config.h"

#include <json-glib/json-glib.h>
#include <math.h>

G_DEFINE_QUARK(spn-config-error-quark, spn_config_error)

void
spn_config_init_desktop(SpnConfig *cfg)
{
  *cfg = (SpnConfig){
    .nlayers = 4, .hid_sz = 128, .inner_hid_sz = 512, .nheads = 4, .attn_span = 1024,
    .pers_mem_size = 0, .adapt_span = TRUE, .adapt_span_loss = 2e-6, .adapt_span_ramp = 32,
    .adapt_span_init = 0.0, .adapt_span_cache = TRUE, .dropout = 0.0, .vocab_size = 0,
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
  cfg->lr_warmup = 32000;
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

const char *
spn_optim_name(SpnOptimKind kind)
{
  return kind == SPN_OPTIM_ADAM ? "adam" : "adagrad";
}

static gboolean
check_range(const char *name, double v, double lo, double hi, GError **error)
{
  if (!(v >= lo && v <= hi)) {
    g_set_error(error, SPN_CONFIG_ERROR, SPN_CONFIG_ERROR_RANGE, "--%s is %g; expected a value in [%g, %g]", name, v,
                lo, hi);
    return FALSE;
  }
  return TRUE;
}

gboolean
spn_config_validate(const SpnConfig *c, GError **error)
{
  if (!check_range("nlayers", c->nlayers, 1, 64, error) ||
      !check_range("hid-sz", c->hid_sz, 1, 8192, error) ||
      !check_range("nheads", c->nheads, 1, 256, error) ||
      !check_range("attn-span", c->attn_span, 1, 65536, error) ||
      !check_range("pers-mem-size", c->pers_mem_size, 0, 65536, error) ||
      !check_range("block-sz", c->block_sz, 1, 65536, error) ||
      !check_range("batch-sz", c->batch_sz, 1, 65536, error) ||
      !check_range("adapt-span-ramp", c->adapt_span_ramp, 1, 65536, error) ||
      !check_range("adapt-span-init", c->adapt_span_init, 0, 1, error) ||
      !check_range("adapt-span-loss", c->adapt_span_loss, 0, 1e3, error) ||
      !check_range("dropout", c->dropout, 0, 0.99, error) ||
      !check_range("lr", c->lr, 0, 1e3, error) ||
      !check_range("lr-warmup", c->lr_warmup, 0, 1e9, error) ||
      !check_range("grad-clip", c->grad_clip, 0, 1e9, error) ||
      !check_range("threads", c->threads, 0, 1024, error))
    return FALSE;
  if (c->pers_mem_size == 0 && !check_range("inner-hid-sz", c->inner_hid_sz, 1, 65536, error))
    return FALSE;
  if (c->hid_sz % c->nheads != 0) {
    g_set_error(error, SPN_CONFIG_ERROR, SPN_CONFIG_ERROR_INCONSISTENT,
                "--hid-sz %d is not divisible by --nheads %d; each head needs an equal share",
                c->hid_sz, c->nheads);
    return FALSE;
  }
  if (c->vocab_size < 1 || c->vocab_size > (1 << 24)) {
    g_set_error(error, SPN_CONFIG_ERROR, SPN_CONFIG_ERROR_RANGE, "vocabulary size %d is out of range [1, 2^24]",
                c->vocab_size);
    return FALSE;
  }
  /* The activations of one block must fit comfortably in memory. */
  double acts = (double)c->batch_sz * c->block_sz * c->nlayers *
                (c->hid_sz * 12.0 + c->inner_hid_sz * 2.0 + c->nheads * (double)(c->attn_span + c->pers_mem_size));
  if (acts * 4 > 16e9) {
    g_set_error(error, SPN_CONFIG_ERROR, SPN_CONFIG_ERROR_RANGE,
                "this model would need about %.0f GB for the activations of one block; "
                "reduce --batch-sz, --block-sz or --attn-span", acts * 4 / 1e9);
    return FALSE;
  }
  return TRUE;
}

char *
spn_config_to_json(const SpnConfig *c)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
#define I(k, v) json_builder_set_member_name(b, k), json_builder_add_int_value(b, v)
#define D(k, v) json_builder_set_member_name(b, k), json_builder_add_double_value(b, v)
#define B(k, v) json_builder_set_member_name(b, k), json_builder_add_boolean_value(b, v)
  I("nlayers", c->nlayers);
  I("hid_sz", c->hid_sz);
  I("inner_hid_sz", c->inner_hid_sz);
  I("nheads", c->nheads);
  I("attn_span", c->attn_span);
  I("pers_mem_size", c->pers_mem_size);
  B("adapt_span", c->adapt_span);
  D("adapt_span_loss", c->adapt_span_loss);
  I("adapt_span_ramp", c->adapt_span_ramp);
  D("adapt_span_init", c->adapt_span_init);
  B("adapt_span_cache", c->adapt_span_cache);
  D("dropout", c->dropout);
  I("vocab_size", c->vocab_size);
  I("block_sz", c->block_sz);
  I("batch_sz", c->batch_sz);
  json_builder_set_member_name(b, "optim");
  json_builder_add_string_value(b, spn_optim_name(c->optim));
  D("lr", c->lr);
  I("lr_warmup", c->lr_warmup);
  D("grad_clip", c->grad_clip);
  /* as a string: JSON numbers cannot carry every 64-bit seed */
  json_builder_set_member_name(b, "seed");
  g_autofree char *seed = g_strdup_printf("%" G_GUINT64_FORMAT, c->seed);
  json_builder_add_string_value(b, seed);
  I("threads", c->threads);
#undef I
#undef D
#undef B
  json_builder_end_object(b);
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  return json_to_string(root, FALSE);
}

static gboolean
read_number(JsonObject *o, const char *key, double *out, GError **error)
{
  JsonNode *n = json_object_get_member(o, key);
  if (n == NULL)
    return TRUE;
  GType t = json_node_get_value_type(n);
  if (JSON_NODE_HOLDS_VALUE(n) && (t == G_TYPE_INT64 || t == G_TYPE_DOUBLE || t == G_TYPE_BOOLEAN)) {
    *out = t == G_TYPE_BOOLEAN ? json_node_get_boolean(n) : json_node_get_double(n);
    return TRUE;
  }
  g_set_error(error, SPN_CONFIG_ERROR, SPN_CONFIG_ERROR_PARSE, "configuration key \"%s\" is not a number", key);
  return FALSE;
}

gboolean
spn_config_from_json(SpnConfig *c, const char *json, GError **error)
{
  g_autoptr(JsonParser) p = json_parser_new();
  if (!json_parser_load_from_data(p, json, -1, error))
    return FALSE;
  JsonNode *root = json_parser_get_root(p);
  if (!JSON_NODE_HOLDS_OBJECT(root)) {
    g_set_error(error, SPN_CONFIG_ERROR, SPN_CONFIG_ERROR_PARSE, "configuration is not a JSON object");
    return FALSE;
  }
  JsonObject *o = json_node_get_object(root);
  struct { const char *key; int *i; double *d; gboolean *b; } fields[] = {
    {"nlayers", &c->nlayers, NULL, NULL},         {"hid_sz", &c->hid_sz, NULL, NULL},
    {"inner_hid_sz", &c->inner_hid_sz, NULL, NULL}, {"nheads", &c->nheads, NULL, NULL},
    {"attn_span", &c->attn_span, NULL, NULL},     {"pers_mem_size", &c->pers_mem_size, NULL, NULL},
    {"adapt_span", NULL, NULL, &c->adapt_span},   {"adapt_span_loss", NULL, &c->adapt_span_loss, NULL},
    {"adapt_span_ramp", &c->adapt_span_ramp, NULL, NULL},
    {"adapt_span_init", NULL, &c->adapt_span_init, NULL},
    {"span_init", NULL, &c->adapt_span_init, NULL},
    {"adapt_span_cache", NULL, NULL, &c->adapt_span_cache},
    {"dropout", NULL, &c->dropout, NULL},         {"vocab_size", &c->vocab_size, NULL, NULL},
    {"block_sz", &c->block_sz, NULL, NULL},       {"batch_sz", &c->batch_sz, NULL, NULL},
    {"lr", NULL, &c->lr, NULL},                   {"lr_warmup", &c->lr_warmup, NULL, NULL},
    {"grad_clip", NULL, &c->grad_clip, NULL},     {"threads", &c->threads, NULL, NULL},
  };
  for (gsize k = 0; k < G_N_ELEMENTS(fields); k++) {
    double v = NAN;
    if (!read_number(o, fields[k].key, &v, error))
      return FALSE;
    if (isnan(v))
      continue;
    if (fields[k].i) {
      if (v != floor(v) || fabs(v) > G_MAXINT) {
        g_set_error(error, SPN_CONFIG_ERROR, SPN_CONFIG_ERROR_PARSE, "configuration key \"%s\" must be an integer",
                    fields[k].key);
        return FALSE;
      }
      *fields[k].i = (int)v;
    } else if (fields[k].d) {
      *fields[k].d = v;
    } else {
      *fields[k].b = v != 0;
    }
  }
  const char *optim = json_object_get_string_member_with_default(o, "optim", NULL);
  if (optim != NULL) {
    if (g_strcmp0(optim, "adagrad") == 0)
      c->optim = SPN_OPTIM_ADAGRAD;
    else if (g_strcmp0(optim, "adam") == 0)
      c->optim = SPN_OPTIM_ADAM;
    else {
      g_set_error(error, SPN_CONFIG_ERROR, SPN_CONFIG_ERROR_PARSE, "unknown optimizer \"%s\" (expected adagrad or adam)",
                  optim);
      return FALSE;
    }
  }
  JsonNode *seed = json_object_get_member(o, "seed");
  if (seed != NULL && JSON_NODE_HOLDS_VALUE(seed)) {
    if (json_node_get_value_type(seed) == G_TYPE_STRING)
      c->seed = g_ascii_strtoull(json_node_get_string(seed), NULL, 10);
    else
      c->seed = (guint64)json_node_get_int(seed);
  }
  return TRUE;
}
