/* test_jsonwrite.c — the JSON the CLI and the probe write piece by piece: numbers with the digits
 * asked for and null for the non-finite, strings escaped whatever their bytes; json-glib reads
 * every piece back. */
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "jsonwrite.h"

static JsonNode *
parse(const GString *s)
{
  g_autoptr(JsonParser) p = json_parser_new();
  g_autoptr(GError) error = NULL;
  g_assert_true(json_parser_load_from_data(p, s->str, (gssize)s->len, &error));
  g_assert_no_error(error);
  return json_node_copy(json_parser_get_root(p));
}

static void
test_numbers(void)
{
  const struct {
    double v;
    int digits;
    const char *text;
  } cases[] = {{NAN, 6, "null"},          {INFINITY, 6, "null"}, {-INFINITY, 7, "null"},
               {0.1234567891, 6, "0.123457"}, {1.4394512, 7, "1.439451"}, {2e-30, 6, "2e-30"},
               {-0.0, 6, "-0"},             {1e20, 6, "1e+20"},   {12345678, 6, "1.23457e+07"}};
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(GString) s = g_string_new("[");
    spn_json_number(s, cases[i].v, cases[i].digits);
    g_assert_cmpstr(s->str + 1, ==, cases[i].text);
    g_string_append_c(s, ']');
    g_autoptr(JsonNode) n = parse(s);
    JsonNode *e = json_array_get_element(json_node_get_array(n), 0);
    if (isfinite(cases[i].v))
      g_assert_cmpfloat(fabs(json_node_get_double(e) - cases[i].v), <=,
                        fabs(cases[i].v) * 5e-6);
    else
      g_assert_true(JSON_NODE_HOLDS_NULL(e));
  }
}

static void
test_strings(void)
{
  /* quotes, a backslash, control characters, a NUL, a byte that is not UTF-8, Greek, an emoji */
  static const char text[] = "a\"b\\c\n\t\x01" "d\0e\xff" "f Ω 😀";
  g_autoptr(GString) s = g_string_new("[");
  spn_json_string(s, text, sizeof text - 1);
  g_string_append_c(s, ',');
  spn_json_string(s, "plain", -1);
  g_string_append_c(s, ']');
  g_assert_true(g_utf8_validate(s->str, (gssize)s->len, NULL));
  g_autoptr(JsonNode) n = parse(s);
  JsonArray *a = json_node_get_array(n);
  g_assert_cmpstr(json_array_get_string_element(a, 1), ==, "plain");
  /* json-glib's strings end at a NUL: the part before it, and the escape written for it */
  g_assert_cmpstr(json_array_get_string_element(a, 0), ==, "a\"b\\c\n\t\x01" "d");
  g_assert_nonnull(strstr(s->str, "d\\u0000e\\ufffdf Ω 😀"));
}

static void
test_keys(void)
{
  g_autoptr(GString) s = g_string_new("{");
  spn_json_key(s, "step", TRUE);
  g_string_append(s, "1");
  spn_json_key(s, "val \"bpc\"", FALSE);
  spn_json_number(s, NAN, 7);
  g_string_append_c(s, '}');
  g_assert_cmpstr(s->str, ==, "{\"step\":1,\"val \\\"bpc\\\"\":null}");
  g_autoptr(JsonNode) n = parse(s);
  g_assert_true(json_object_has_member(json_node_get_object(n), "val \"bpc\""));
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/jsonwrite/numbers", test_numbers);
  g_test_add_func("/jsonwrite/strings", test_strings);
  g_test_add_func("/jsonwrite/keys", test_keys);
  return g_test_run();
}
