/* jsonread.c — bounded JSON parsing for data read from files (jsonread.h). */
#include "jsonread.h"

#include <stdio.h>

/* Nesting depth of [ and { outside of strings; stops counting once past `limit`. */
static guint
json_depth(const char *text, gsize len, guint limit)
{
  guint depth = 0, max_depth = 0;
  gboolean in_string = FALSE;
  for (gsize i = 0; i < len && max_depth <= limit; i++) {
    char c = text[i];
    if (in_string) {
      if (c == '\\')
        i++;
      else if (c == '"')
        in_string = FALSE;
    } else if (c == '"') {
      in_string = TRUE;
    } else if (c == '[' || c == '{') {
      depth++;
      max_depth = MAX(max_depth, depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      depth--;
    }
  }
  return max_depth;
}

/* json-glib's messages read "<data>:1:40: Parse error: ..."; say line and column in words. */
static void
fail_parse(GError **error, GQuark domain, gint code, const char *what, const GError *json_error)
{
  unsigned line = 0, column = 0;
  int consumed = -1;
  sscanf(json_error->message, "<data>:%u:%u: Parse error: %n", &line, &column, &consumed);
  if (consumed > 0)
    g_set_error(error, domain, code, "%s is not valid JSON at line %u column %u: %s", what, line,
                column, json_error->message + consumed);
  else
    g_set_error(error, domain, code, "%s is not valid JSON: %s", what, json_error->message);
}

JsonParser *
spn_json_read(const char *text, gsize len, gsize max_len, guint max_depth, gboolean want_object,
              const char *what, GQuark domain, gint code, GError **error)
{
  g_return_val_if_fail(text != NULL || len == 0, NULL);
  if (len > max_len) {
    g_set_error(error, domain, code, "%s is %" G_GSIZE_FORMAT " bytes, more than the %"
                G_GSIZE_FORMAT " it may hold", what, len, max_len);
    return NULL;
  }
  const char *bad = NULL;
  if (!g_utf8_validate_len(text, len, &bad)) {
    g_set_error(error, domain, code, "%s is not valid UTF-8 (bad byte at offset %" G_GSIZE_FORMAT
                ")", what, (gsize)(bad - text));
    return NULL;
  }
  if (json_depth(text, len, max_depth) > max_depth) {
    g_set_error(error, domain, code, "%s nests JSON more than %u levels deep", what, max_depth);
    return NULL;
  }
  g_autoptr(JsonParser) parser = json_parser_new_immutable();
  g_autoptr(GError) json_error = NULL;
  if (!json_parser_load_from_data(parser, text, (gssize)len, &json_error)) {
    fail_parse(error, domain, code, what, json_error);
    return NULL;
  }
  JsonNode *root = json_parser_get_root(parser);
  if (root == NULL || (want_object && !JSON_NODE_HOLDS_OBJECT(root))) {
    g_set_error(error, domain, code, root == NULL ? "%s is empty" : "%s is not a JSON object",
                what);
    return NULL;
  }
  return g_steal_pointer(&parser);
}

JsonObject *
spn_json_root_object(JsonParser *parser)
{
  return json_node_get_object(json_parser_get_root(parser));
}

gboolean
spn_json_get_int(JsonNode *node, gint64 *out)
{
  if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_INT64)
    return FALSE;
  *out = json_node_get_int(node);
  return TRUE;
}

gboolean
spn_json_get_string(JsonNode *node, const char **out)
{
  if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING)
    return FALSE;
  *out = json_node_get_string(node);
  return TRUE;
}
