/* jsonread.h — parsing JSON that comes from a file (checkpoint metadata, safetensors headers)
 * without trusting it: json-glib parses recursively with no depth limit, so deeply nested input
 * would overflow the stack, and a huge value would be parsed before any check. spn_json_read
 * bounds the size and the nesting before json-glib sees a byte. */
#pragma once
#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Deep enough for every JSON spanscope writes (its deepest, the history's spans, nests 3). */
#define SPN_JSON_MAX_DEPTH 16

/* Parses len bytes of text (valid UTF-8, at most max_len bytes, nesting at most max_depth [ and {)
 * and returns the parser owning the tree, whose root is an object when want_object. Errors, in
 * domain/code, start with `what` ("the \"config\" metadata"): "... is 3000000 bytes, more than
 * the 65536 it may hold", "... nests JSON more than 16 levels deep", "... is not valid JSON at
 * line 1 column 7: ...", "... is not a JSON object". */
JsonParser *spn_json_read(const char *text, gsize len, gsize max_len, guint max_depth,
                          gboolean want_object, const char *what, GQuark domain, gint code,
                          GError **error);
/* The root object of a parser spn_json_read returned with want_object. */
JsonObject *spn_json_root_object(JsonParser *parser);

/* Member or element readers that check the type: FALSE when absent or of another type. */
gboolean spn_json_get_int(JsonNode *node, gint64 *out);
gboolean spn_json_get_string(JsonNode *node, const char **out);

G_END_DECLS
