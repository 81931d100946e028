/* jsonwrite.h — JSON text written piece by piece, for output printed a line at a time (the
 * CLI's) or streamed (the probe's), which json-glib's generator, building the whole document,
 * cannot do. Numbers carry the digits asked for, not 17; a number that is not finite is null, so
 * the text stays JSON whatever the model computed. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

/* v with `digits` significant digits ("%.6g", locale-independent), or null when not finite. */
void spn_json_number(GString *s, double v, int digits);
/* `len` bytes of text (-1: up to its NUL) as a quoted JSON string: quotes, backslashes and
 * control characters (NUL bytes too) escaped, bytes that are not UTF-8 written as U+FFFD. */
void spn_json_string(GString *s, const char *text, gssize len);
/* "key": — with a comma before it unless `first`. */
void spn_json_key(GString *s, const char *key, gboolean first);

G_END_DECLS
