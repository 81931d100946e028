#include "jsonwrite.h"

#include <math.h>
#include <string.h>

void
spn_json_number(GString *s, double v, int digits)
{
  if (!isfinite(v)) {
    g_string_append(s, "null");
    return;
  }
  char format[8], buf[G_ASCII_DTOSTR_BUF_SIZE];
  g_snprintf(format, sizeof format, "%%.%dg", CLAMP(digits, 1, 17));
  g_string_append(s, g_ascii_formatd(buf, sizeof buf, format, v));
}

void
spn_json_string(GString *s, const char *text, gssize len)
{
  const char *p = text, *end = text + (len < 0 ? strlen(text) : (gsize)len);
  g_string_append_c(s, '"');
  while (p < end) {
    guchar b = (guchar)*p;
    if (b == '"' || b == '\\') {
      g_string_append_c(s, '\\');
      g_string_append_c(s, (char)b);
      p++;
    } else if (b < 0x20) {
      g_string_append_printf(s, "\\u%04x", b);
      p++;
    } else if (b < 0x80) {
      g_string_append_c(s, (char)b);
      p++;
    } else {
      gunichar c = g_utf8_get_char_validated(p, end - p);
      if (c == (gunichar)-1 || c == (gunichar)-2) {
        g_string_append(s, "\\ufffd");
        p++;
      } else {
        const char *next = g_utf8_next_char(p);
        g_string_append_len(s, p, next - p);
        p = next;
      }
    }
  }
  g_string_append_c(s, '"');
}

void
spn_json_key(GString *s, const char *key, gboolean first)
{
  if (!first)
    g_string_append_c(s, ',');
  spn_json_string(s, key, -1);
  g_string_append_c(s, ':');
}
