/* The settings table (engine/config.c) and what it drives: validation, JSON, the command-line
 * options, the presets. Every row is exercised, so a row added to the table is tested too. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include <glib.h>

#include "config.h"

/* field by field (a struct's padding is not part of its value) */
static void
assert_same_config(const SpnConfig *a, const SpnConfig *b)
{
  guint n;
  const SpnConfigField *f = spn_config_fields(&n);
  static const gsize sizes[] = {[SPN_FIELD_INT] = sizeof(int), [SPN_FIELD_DOUBLE] = sizeof(double),
                                [SPN_FIELD_BOOL] = sizeof(gboolean),
                                [SPN_FIELD_SEED] = sizeof(guint64),
                                [SPN_FIELD_CHOICE] = sizeof(int)};
  for (guint i = 0; i < n; i++)
    if (memcmp((const guint8 *)a + f[i].offset, (const guint8 *)b + f[i].offset,
               sizes[f[i].type]) != 0)
      g_error("setting %s differs", f[i].name);
}

static const SpnConfigField *
table(guint *n)
{
  const SpnConfigField *f = spn_config_fields(n);
  g_assert_cmpuint(*n, >, 0);
  return f;
}

/* a value of the field's type different from the desktop default, inside its range */
static void
set_other_value(SpnConfig *c, const SpnConfigField *f)
{
  guint8 *at = (guint8 *)c + f->offset;
  switch (f->type) {
  case SPN_FIELD_INT: *(int *)at = (int)f->min + 1; break;
  case SPN_FIELD_DOUBLE: *(double *)at = f->min + (f->max - f->min) / 3; break;
  case SPN_FIELD_BOOL: *(gboolean *)at = !*(gboolean *)at; break;
  case SPN_FIELD_SEED: *(guint64 *)at = G_MAXUINT64 - 5; break;
  case SPN_FIELD_CHOICE: *(int *)at = !*(int *)at; break; /* every choice has two values */
  }
}

/* Every field survives JSON, one at a time, and the whole changed set at once. */
static void
test_json_roundtrip(void)
{
  guint n;
  const SpnConfigField *fields = table(&n);
  SpnConfig all;
  spn_config_init_desktop(&all);
  for (guint i = 0; i < n; i++) {
    SpnConfig c, back;
    spn_config_init_desktop(&c);
    set_other_value(&c, &fields[i]);
    set_other_value(&all, &fields[i]);
    g_autofree char *json = spn_config_to_json(&c);
    g_assert_nonnull(strstr(json, fields[i].key));
    spn_config_init_reference_small(&back); /* other starting values: each key must be read */
    g_autoptr(GError) error = NULL;
    g_assert_true(spn_config_from_json(&back, json, &error));
    g_assert_no_error(error);
    assert_same_config(&back, &c);
  }
  g_autofree char *json = spn_config_to_json(&all);
  SpnConfig back;
  spn_config_init_desktop(&back);
  g_assert_true(spn_config_from_json(&back, json, NULL));
  assert_same_config(&back, &all);
}

/* Doubles that print without a decimal point (2e-14, 1e+300) stay valid JSON and exact: json-glib's
 * generator wrote "2e-14.0" (fuzzer finding), and the checkpoint could not be opened again. */
static void
test_json_doubles(void)
{
  const double values[] = {2e-14, 1e-300, 5e-324, 1e+300, 0.07, 1.0 / 3.0, 0, 123456789.0};
  for (gsize i = 0; i < G_N_ELEMENTS(values); i++) {
    SpnConfig c, back;
    spn_config_init_desktop(&c);
    c.adapt_span_loss = values[i];
    c.lr = values[G_N_ELEMENTS(values) - 1 - i];
    g_autofree char *json = spn_config_to_json(&c);
    spn_config_init_reference_small(&back);
    g_autoptr(GError) error = NULL;
    g_assert_true(spn_config_from_json(&back, json, &error));
    g_assert_no_error(error);
    g_assert_cmpfloat(back.adapt_span_loss, ==, values[i]);
    g_assert_cmpfloat(back.lr, ==, c.lr);
  }
}

static void
test_json_errors(void)
{
  SpnConfig c;
  spn_config_init_desktop(&c);
  GError *error = NULL;
  g_assert_false(spn_config_from_json(&c, "{\"nlayers\": 2.5}", &error));
  g_assert_error(error, SPN_CONFIG_ERROR, SPN_CONFIG_ERROR_PARSE);
  g_assert_nonnull(strstr(error->message, "nlayers"));
  g_clear_error(&error);
  g_assert_false(spn_config_from_json(&c, "{\"lr\": \"fast\"}", &error));
  g_assert_error(error, SPN_CONFIG_ERROR, SPN_CONFIG_ERROR_PARSE);
  g_clear_error(&error);
  g_assert_false(spn_config_from_json(&c, "{\"optim\": \"sgd\"}", &error));
  g_assert_nonnull(strstr(error->message, "sgd"));
  g_clear_error(&error);
  g_assert_false(spn_config_from_json(&c, "[1]", &error));
  g_clear_error(&error);
  /* the key older checkpoints wrote */
  g_assert_true(spn_config_from_json(&c, "{\"span_init\": 0.25}", NULL));
  g_assert_cmpfloat(c.adapt_span_init, ==, 0.25);
}

/* Every ranged field: its bounds pass, one step outside fails naming the option. */
static void
test_validation_ranges(void)
{
  guint n;
  const SpnConfigField *fields = table(&n);
  for (guint i = 0; i < n; i++) {
    const SpnConfigField *f = &fields[i];
    if ((f->type != SPN_FIELD_INT && f->type != SPN_FIELD_DOUBLE) ||
        (f->flags & SPN_FIELD_INTERNAL))
      continue;
    SpnConfig c;
    spn_config_init_desktop(&c);
    c.vocab_size = 50, c.batch_sz = 1, c.block_sz = 1;   /* room for the largest values */
    guint8 *at = (guint8 *)&c + f->offset;
    double outside[2] = {f->min - (f->type == SPN_FIELD_INT ? 1 : 0.01 * (f->max - f->min)),
                         f->max + (f->type == SPN_FIELD_INT ? 1 : 0.01 * (f->max - f->min))};
    for (int k = 0; k < 2; k++) {
      if (f->type == SPN_FIELD_INT)
        *(int *)at = (int)outside[k];
      else
        *(double *)at = outside[k];
      GError *error = NULL;
      g_assert_false(spn_config_validate(&c, &error));
      g_assert_error(error, SPN_CONFIG_ERROR, SPN_CONFIG_ERROR_RANGE);
      g_autofree char *option = g_strdup_printf("--%s ", f->name);
      g_assert_nonnull(strstr(error->message, option));
      g_error_free(error);
    }
    if (f->type == SPN_FIELD_INT)
      *(int *)at = (int)f->min;
    else
      *(double *)at = f->min;
    if (f->offset == offsetof(SpnConfig, hid_sz) || f->offset == offsetof(SpnConfig, nheads))
      c.hid_sz = c.nheads = (int)f->min;   /* keep d divisible by the heads */
    g_autoptr(GError) error = NULL;
    g_assert_true(spn_config_validate(&c, &error));
  }
}

static void
test_validation_rules(void)
{
  SpnConfig c;
  spn_config_init_desktop(&c);
  c.vocab_size = 50;
  GError *error = NULL;
  c.hid_sz = 130;
  g_assert_false(spn_config_validate(&c, &error));
  g_assert_error(error, SPN_CONFIG_ERROR, SPN_CONFIG_ERROR_INCONSISTENT);
  g_clear_error(&error);
  c.hid_sz = 128;
  /* the FF width means nothing with persistent memory, so it is not checked then */
  c.inner_hid_sz = 0;
  g_assert_false(spn_config_validate(&c, NULL));
  c.pers_mem_size = 8;
  g_assert_true(spn_config_validate(&c, NULL));
  c.vocab_size = 0;
  g_assert_false(spn_config_validate(&c, &error));
  g_assert_nonnull(strstr(error->message, "vocabulary"));
  g_clear_error(&error);
  c.vocab_size = 50, c.attn_span = 65536, c.block_sz = 65536, c.batch_sz = 64;
  g_assert_false(spn_config_validate(&c, &error));
  g_assert_nonnull(strstr(error->message, "GB"));
  g_clear_error(&error);
}

/* The command-line options: every row is an option writing its field, switches have --no-. */
static void
test_options(void)
{
  SpnConfig c;
  spn_config_init_desktop(&c);
  g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
  g_option_context_set_main_group(ctx, spn_config_option_group(&c));
  const char *argv0[] = {"test", "--nlayers", "3", "--dropout", "0.25", "--no-adapt-span",
                         "--no-adapt-span-cache", "--adapt-span-cache", "--optim", "adam",
                         "--seed", "77", "--adapt-span-ramp", "12", NULL};
  g_auto(GStrv) argv = g_strdupv((char **)argv0);
  g_autoptr(GError) error = NULL;
  g_assert_true(g_option_context_parse_strv(ctx, &argv, &error));
  g_assert_no_error(error);
  g_assert_cmpint(c.nlayers, ==, 3);
  g_assert_cmpfloat(c.dropout, ==, 0.25);
  g_assert_false(c.adapt_span);
  g_assert_true(c.adapt_span_cache);   /* the later option wins */
  g_assert_cmpint(c.optim, ==, SPN_OPTIM_ADAM);
  g_assert_cmpuint(c.seed, ==, 77);
  g_assert_cmpint(c.adapt_span_ramp, ==, 12);
  g_assert_cmpint(c.hid_sz, ==, 128);   /* untouched */

  /* every visible row has its option, described with the desktop default */
  g_autofree char *help = g_option_context_get_help(ctx, FALSE, NULL);
  guint n;
  const SpnConfigField *fields = table(&n);
  for (guint i = 0; i < n; i++) {
    g_autofree char *option = g_strdup_printf("--%s", fields[i].name);
    if (fields[i].flags & SPN_FIELD_INTERNAL)
      g_assert_null(strstr(help, option));
    else
      g_assert_nonnull(strstr(help, option));
  }
  g_assert_nonnull(strstr(help, "(default 4)"));

  const char *bad0[] = {"test", "--optim", "sgd", NULL};
  g_auto(GStrv) bad = g_strdupv((char **)bad0);
  g_autoptr(GError) bad_error = NULL;
  g_assert_false(g_option_context_parse_strv(ctx, &bad, &bad_error));
  g_assert_nonnull(strstr(bad_error->message, "sgd"));
}

static void
test_presets(void)
{
  for (int p = 0; p < SPN_PRESET_COUNT; p++) {
    SpnPreset back;
    g_assert_true(spn_preset_from_name(spn_preset_name(p), &back));
    g_assert_cmpint(back, ==, p);
    g_assert_nonnull(spn_preset_title(p));
    g_assert_nonnull(spn_preset_about(p));
    SpnConfig c;
    spn_preset_init(p, &c);
    c.vocab_size = 256;
    g_autoptr(GError) error = NULL;
    g_assert_true(spn_config_validate(&c, &error));
  }
  SpnPreset p;
  g_assert_false(spn_preset_from_name("nope", &p));
  g_autofree char *names = spn_preset_names();
  g_assert_cmpstr(names, ==, "desktop, small, allattn, demo or long");
  g_assert_cmpstr(spn_preset_corpus(SPN_PRESET_SPAN_DEMO), ==, "demo");
  g_assert_cmpstr(spn_preset_corpus(SPN_PRESET_LONG_SPAN), ==, "longdemo");
  g_assert_null(spn_preset_corpus(SPN_PRESET_DESKTOP));
  SpnConfig c;
  spn_preset_init(SPN_PRESET_SPAN_DEMO, &c);
  g_assert_cmpint(c.optim, ==, SPN_OPTIM_ADAM);
  g_assert_cmpfloat(c.adapt_span_init, ==, 0.75);
  /* the long span: S = 8192, every head starting at S, the adaptive cache, each head's own
   * window (the cost follows each head, not its layer's longest) */
  spn_preset_init(SPN_PRESET_LONG_SPAN, &c);
  g_assert_cmpint(c.attn_span, ==, 8192);
  g_assert_cmpfloat(c.adapt_span_init, ==, 1.0);
  g_assert_true(c.adapt_span && c.adapt_span_cache);
  g_assert_cmpint(c.attn_window, ==, SPN_ATTN_WINDOW_HEAD);
}

/* The attention window and validation procedure: names, JSON, and whether a model computes the
 * reference's numbers (what the reference-interop export warns about). */
static void
test_reference_settings(void)
{
  SpnConfig c;
  spn_config_init_desktop(&c);
  g_assert_cmpint(c.attn_window, ==, SPN_ATTN_WINDOW_REFERENCE);
  g_assert_cmpint(c.eval_mode, ==, SPN_EVAL_PREFIX);
  g_assert_cmpstr(spn_attn_window_name(SPN_ATTN_WINDOW_HEAD), ==, "head");
  g_assert_cmpstr(spn_eval_mode_name(SPN_EVAL_REFERENCE), ==, "reference");
  g_autofree char *why = NULL;
  g_assert_true(spn_config_reference_exact(&c, &why));
  g_assert_null(why);
  c.attn_window = SPN_ATTN_WINDOW_HEAD;
  g_assert_false(spn_config_reference_exact(&c, &why));
  g_assert_nonnull(strstr(why, "--attn-window head"));
  c.adapt_span = FALSE; /* every head's window is S: nothing differs */
  g_assert_true(spn_config_reference_exact(&c, NULL));
  g_autoptr(GError) error = NULL;
  g_assert_false(spn_config_from_json(&c, "{\"attn_window\": \"layer\"}", &error));
  g_assert_nonnull(strstr(error->message, "\"attn_window\" is \"layer\" (expected reference or head)"));
  g_clear_error(&error);
  g_assert_true(spn_config_from_json(&c, "{\"attn_window\": \"reference\", \"eval_mode\": \"reference\"}",
                                     &error));
  g_assert_cmpint(c.attn_window, ==, SPN_ATTN_WINDOW_REFERENCE);
  g_assert_cmpint(c.eval_mode, ==, SPN_EVAL_REFERENCE);
  c.attn_window = 7;
  c.vocab_size = 10;
  g_assert_false(spn_config_validate(&c, &error));
  g_assert_nonnull(strstr(error->message, "--attn-window"));
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/config/json-roundtrip", test_json_roundtrip);
  g_test_add_func("/config/json-doubles", test_json_doubles);
  g_test_add_func("/config/json-errors", test_json_errors);
  g_test_add_func("/config/validation-ranges", test_validation_ranges);
  g_test_add_func("/config/validation-rules", test_validation_rules);
  g_test_add_func("/config/options", test_options);
  g_test_add_func("/config/presets", test_presets);
  g_test_add_func("/config/reference-settings", test_reference_settings);
  return g_test_run();
}
