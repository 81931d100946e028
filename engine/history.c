#include "history.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

/* clang-format off */
G_DEFINE_QUARK(spn-history-error-quark, spn_history_error)
/* clang-format on */

static int
row_spans(const SpnHistory *h)
{
  return h->nlayers * h->nheads;
}

SpnHistory *
spn_history_new(int nlayers, int nheads)
{
  SpnHistory *h = g_new0(SpnHistory, 1);
  h->nlayers = nlayers;
  h->nheads = nheads;
  return h;
}

void
spn_history_free(SpnHistory *h)
{
  if (h == NULL)
    return;
  g_free(h->step);
  g_free(h->train_bpc);
  g_free(h->val_bpc);
  g_free(h->tokens_per_s);
  g_free(h->spans);
  g_free(h);
}

static void
reserve(SpnHistory *h, int cap)
{
  if (cap <= h->cap)
    return;
  cap = MAX(cap, MAX(64, h->cap * 2));
  h->step = g_renew(gint64, h->step, cap);
  h->train_bpc = g_renew(float, h->train_bpc, cap);
  h->val_bpc = g_renew(float, h->val_bpc, cap);
  h->tokens_per_s = g_renew(float, h->tokens_per_s, cap);
  h->spans = g_renew(float, h->spans, (gsize)cap * row_spans(h));
  h->cap = cap;
}

SpnHistory *
spn_history_copy(const SpnHistory *h)
{
  SpnHistory *c = spn_history_new(h->nlayers, h->nheads);
  reserve(c, h->n);
  c->n = h->n;
  if (h->n == 0)
    return c;
  memcpy(c->step, h->step, sizeof(gint64) * h->n);
  memcpy(c->train_bpc, h->train_bpc, sizeof(float) * h->n);
  memcpy(c->val_bpc, h->val_bpc, sizeof(float) * h->n);
  memcpy(c->tokens_per_s, h->tokens_per_s, sizeof(float) * h->n);
  memcpy(c->spans, h->spans, sizeof(float) * h->n * row_spans(h));
  return c;
}

void
spn_history_append(SpnHistory *h, gint64 step, double train_bpc, double val_bpc,
                   double tokens_per_s, const float *spans)
{
  reserve(h, h->n + 1);
  h->step[h->n] = step;
  h->train_bpc[h->n] = (float)train_bpc;
  h->val_bpc[h->n] = (float)val_bpc;
  h->tokens_per_s[h->n] = (float)tokens_per_s;
  memcpy(h->spans + (gsize)h->n * row_spans(h), spans, sizeof(float) * row_spans(h));
  h->n++;
}

void
spn_history_set_val(SpnHistory *h, double val_bpc)
{
  if (h->n > 0)
    h->val_bpc[h->n - 1] = (float)val_bpc;
}

const float *
spn_history_row_spans(const SpnHistory *h, int i)
{
  return h->spans + (gsize)i * row_spans(h);
}

void
spn_span_stats(const float *spans, int n, double *mean, double *max)
{
  double sum = 0.0, mx = NAN;
  int count = 0;
  for (int k = 0; spans != NULL && k < n; k++) {
    if (!isfinite(spans[k]))
      continue;
    sum += spans[k];
    mx = count ? MAX(mx, spans[k]) : spans[k];
    count++;
  }
  *mean = count ? sum / count : NAN;
  *max = mx;
}

/* NaN (no measurement) travels as JSON null */
static void
add_number(JsonBuilder *b, float v)
{
  if (isnan(v))
    json_builder_add_null_value(b);
  else
    json_builder_add_double_value(b, v);
}

static void
add_column(JsonBuilder *b, const char *name, const float *v, int n)
{
  json_builder_set_member_name(b, name);
  json_builder_begin_array(b);
  for (int i = 0; i < n; i++)
    add_number(b, v[i]);
  json_builder_end_array(b);
}

char *
spn_history_to_json(const SpnHistory *h)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "nlayers");
  json_builder_add_int_value(b, h->nlayers);
  json_builder_set_member_name(b, "nheads");
  json_builder_add_int_value(b, h->nheads);
  json_builder_set_member_name(b, "step");
  json_builder_begin_array(b);
  for (int i = 0; i < h->n; i++)
    json_builder_add_int_value(b, h->step[i]);
  json_builder_end_array(b);
  add_column(b, "train_bpc", h->train_bpc, h->n);
  add_column(b, "val_bpc", h->val_bpc, h->n);
  add_column(b, "tokens_per_s", h->tokens_per_s, h->n);
  add_column(b, "spans", h->spans, h->n * row_spans(h));
  json_builder_end_object(b);
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  return json_to_string(root, FALSE);
}

static JsonArray *
column(JsonObject *o, const char *name, guint expected, GError **error)
{
  JsonNode *n = json_object_get_member(o, name);
  if (n == NULL || !JSON_NODE_HOLDS_ARRAY(n)) {
    g_set_error(error, SPN_HISTORY_ERROR, SPN_HISTORY_ERROR_FORMAT,
                "metrics history: member \"%s\" is missing or not an array", name);
    return NULL;
  }
  JsonArray *a = json_node_get_array(n);
  if (json_array_get_length(a) != expected) {
    g_set_error(error, SPN_HISTORY_ERROR, SPN_HISTORY_ERROR_FORMAT,
                "metrics history: \"%s\" has %u values, expected %u", name,
                json_array_get_length(a), expected);
    return NULL;
  }
  return a;
}

static float
number_at(JsonArray *a, guint i)
{
  JsonNode *n = json_array_get_element(a, i);
  return JSON_NODE_HOLDS_VALUE(n) ? (float)json_node_get_double(n) : NAN;
}

static gboolean
read_columns(SpnHistory *h, JsonObject *o, GError **error)
{
  JsonNode *sn = json_object_get_member(o, "step");
  if (sn == NULL || !JSON_NODE_HOLDS_ARRAY(sn)) {
    g_set_error(error, SPN_HISTORY_ERROR, SPN_HISTORY_ERROR_FORMAT,
                "metrics history: member \"step\" is missing or not an array");
    return FALSE;
  }
  JsonArray *step = json_node_get_array(sn);
  guint n = json_array_get_length(step);
  JsonArray *train = column(o, "train_bpc", n, error);
  JsonArray *val = train ? column(o, "val_bpc", n, error) : NULL;
  JsonArray *tps = val ? column(o, "tokens_per_s", n, error) : NULL;
  JsonArray *spans = tps ? column(o, "spans", n * row_spans(h), error) : NULL;
  if (spans == NULL)
    return FALSE;
  reserve(h, (int)n);
  h->n = (int)n;
  for (guint i = 0; i < n; i++) {
    h->step[i] = json_array_get_int_element(step, i);
    h->train_bpc[i] = number_at(train, i);
    h->val_bpc[i] = number_at(val, i);
    h->tokens_per_s[i] = number_at(tps, i);
  }
  for (guint k = 0; k < n * row_spans(h); k++)
    h->spans[k] = number_at(spans, k);
  return TRUE;
}

SpnHistory *
spn_history_from_json(const char *json, GError **error)
{
  g_autoptr(JsonParser) p = json_parser_new();
  if (!json_parser_load_from_data(p, json, -1, error))
    return NULL;
  JsonNode *root = json_parser_get_root(p);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
    g_set_error(error, SPN_HISTORY_ERROR, SPN_HISTORY_ERROR_FORMAT,
                "metrics history: expected a JSON object");
    return NULL;
  }
  JsonObject *o = json_node_get_object(root);
  gint64 nl = json_object_get_int_member_with_default(o, "nlayers", 0);
  gint64 nh = json_object_get_int_member_with_default(o, "nheads", 0);
  if (nl <= 0 || nh <= 0 || nl > 4096 || nh > 4096) {
    g_set_error(error, SPN_HISTORY_ERROR, SPN_HISTORY_ERROR_FORMAT,
                "metrics history: \"nlayers\" and \"nheads\" must be positive");
    return NULL;
  }
  SpnHistory *h = spn_history_new((int)nl, (int)nh);
  if (!read_columns(h, o, error)) {
    spn_history_free(h);
    return NULL;
  }
  return h;
}

static void
csv_number(GString *s, float v)
{
  g_string_append_c(s, ',');
  if (!isnan(v)) {
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
    g_string_append(s, g_ascii_formatd(buf, sizeof buf, "%.6g", v));
  }
}

gboolean
spn_history_write_csv(const SpnHistory *h, const char *path, GError **error)
{
  GString *s = g_string_new("step,train_bpc,val_bpc,tokens_per_s,span_avg,span_max");
  for (int l = 0; l < h->nlayers; l++)
    for (int k = 0; k < h->nheads; k++)
      g_string_append_printf(s, ",span_l%dh%d", l, k);
  g_string_append_c(s, '\n');
  for (int i = 0; i < h->n; i++) {
    double avg, mx;
    spn_span_stats(spn_history_row_spans(h, i), row_spans(h), &avg, &mx);
    g_string_append_printf(s, "%" G_GINT64_FORMAT, h->step[i]);
    csv_number(s, h->train_bpc[i]);
    csv_number(s, h->val_bpc[i]);
    csv_number(s, h->tokens_per_s[i]);
    csv_number(s, (float)avg);
    csv_number(s, (float)mx);
    for (int k = 0; k < row_spans(h); k++)
      csv_number(s, h->spans[(gsize)i * row_spans(h) + k]);
    g_string_append_c(s, '\n');
  }
  /* g_file_set_contents writes a temporary file and renames it over path */
  g_autoptr(GError) local = NULL;
  gboolean ok = g_file_set_contents(path, s->str, (gssize)s->len, &local);
  if (!ok)
    g_set_error(error, SPN_HISTORY_ERROR, SPN_HISTORY_ERROR_IO, "cannot write the metrics CSV: %s",
                local->message);
  g_string_free(s, TRUE);
  return ok;
}
