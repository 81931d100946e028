/* test_tint.c — the text tint (ui/tint.c) on a bare GtkTextBuffer: the tags each character
 * carries after a retint, the hysteresis that keeps a level, the levels following insertions
 * and deletions, the visible characters first. No widget, no display. */
#include <math.h>
#include <string.h>

#include "tint.h"

static void
colors(int level, GdkRGBA *bg, GdkRGBA *ink, gboolean *has_ink)
{
  *bg = (GdkRGBA){level / 15.0, 0, 0, 1};
  *ink = (GdkRGBA){1, 1, 1, 1};
  *has_ink = level > 8;
}

static GtkTextBuffer *
buffer_with(const char *text)
{
  GtkTextBuffer *b = gtk_text_buffer_new(NULL);
  gtk_text_buffer_set_text(b, text, -1);
  return b;
}

static void
finish(SpnTint *t)
{
  while (spn_tint_busy(t))
    g_main_context_iteration(NULL, TRUE);
}

/* The level character c carries: the one tag of t on it, 0 for none; fails on two. */
static int
level_at(GtkTextBuffer *b, SpnTint *t, int c)
{
  GtkTextIter it;
  gtk_text_buffer_get_iter_at_offset(b, &it, c);
  int found = 0;
  for (int l = 1; l < SPN_TINT_LEVELS; l++)
    if (gtk_text_iter_has_tag(&it, spn_tint_tag(t, l))) {
      g_assert_cmpint(found, ==, 0);
      found = l;
    }
  return found;
}

static guint8 *
levels(const guint8 *values, int n)
{
  return g_memdup2(values, n);
}

static void
tint_to(SpnTint *t, const guint8 *values, int n)
{
  spn_tint_start(t, levels(values, n), n, 0, n);
  finish(t);
}

static void
assert_levels(GtkTextBuffer *b, SpnTint *t, const guint8 *want, int n)
{
  g_assert_cmpint(gtk_text_buffer_get_char_count(b), ==, n);
  for (int c = 0; c < n; c++)
    if (level_at(b, t, c) != want[c])
      g_error("character %d carries level %d, expected %d", c, level_at(b, t, c), want[c]);
}

static void
test_retint(void)
{
  g_autoptr(GtkTextBuffer) b = buffer_with("abcdéfgh");   /* offsets are characters */
  SpnTint *t = spn_tint_new(b, colors);
  const guint8 first[8] = {0, 3, 3, 5, 15, 0, 1, 1};
  tint_to(t, first, 8);
  assert_levels(b, t, first, 8);
  /* only the changed characters move, and none keeps a stale tag */
  const guint8 second[8] = {2, 3, 0, 5, 14, 14, 1, 0};
  tint_to(t, second, 8);
  assert_levels(b, t, second, 8);
  /* the colours asked for, with ink on the strong levels */
  GdkRGBA *bg;
  gboolean fg_set;
  g_object_get(spn_tint_tag(t, 9), "background-rgba", &bg, "foreground-set", &fg_set, NULL);
  g_assert_cmpfloat_with_epsilon(bg->red, 9 / 15.0, 1e-6);   /* GdkRGBA holds floats */
  g_assert_true(fg_set);
  gdk_rgba_free(bg);
  g_object_get(spn_tint_tag(t, 3), "foreground-set", &fg_set, NULL);
  g_assert_false(fg_set);
  spn_tint_free(t);
}

static void
test_hysteresis(void)
{
  g_autoptr(GtkTextBuffer) b = buffer_with("abcd");
  SpnTint *t = spn_tint_new(b, colors);
  /* untinted text of unknown levels: plain rounding */
  g_assert_cmpint(spn_tint_wanted(t, 4, 0, 3.7), ==, 4);
  g_assert_cmpint(spn_tint_wanted(t, 4, 0, 3.4), ==, 3);
  const guint8 three[4] = {3, 3, 3, 3};
  tint_to(t, three, 4);
  /* within 0.8 of the level applied it stays; beyond, the value rounds */
  g_assert_cmpint(spn_tint_wanted(t, 4, 1, 3.7), ==, 3);
  g_assert_cmpint(spn_tint_wanted(t, 4, 1, 2.3), ==, 3);
  g_assert_cmpint(spn_tint_wanted(t, 4, 1, 3.9), ==, 4);
  g_assert_cmpint(spn_tint_wanted(t, 4, 1, 2.1), ==, 2);
  /* clamped to the scale; a value that is no number is untinted */
  g_assert_cmpint(spn_tint_wanted(t, 4, 2, 100.0), ==, SPN_TINT_LEVELS - 1);
  g_assert_cmpint(spn_tint_wanted(t, 4, 2, -5.0), ==, 0);
  g_assert_cmpint(spn_tint_wanted(t, 4, 2, NAN), ==, 0);
  /* levels for a text of another length know nothing applied */
  g_assert_cmpint(spn_tint_wanted(t, 5, 1, 3.7), ==, 4);
  spn_tint_free(t);
}

/* Inserted text may inherit the tags around it, so its level is unknown until the next retint;
 * the characters around keep theirs, shifted. */
static void
test_edits(void)
{
  g_autoptr(GtkTextBuffer) b = buffer_with("abcdef");
  SpnTint *t = spn_tint_new(b, colors);
  const guint8 five[6] = {5, 5, 5, 5, 1, 1};
  tint_to(t, five, 6);
  GtkTextIter at;
  gtk_text_buffer_get_iter_at_offset(b, &at, 2);
  gtk_text_buffer_insert(b, &at, "XY", -1);                   /* "abXYcdef" */
  g_assert_cmpint(spn_tint_wanted(t, 8, 2, 5.4), ==, 5);       /* rounds: unknown */
  g_assert_cmpint(spn_tint_wanted(t, 8, 3, 4.6), ==, 5);
  g_assert_cmpint(spn_tint_wanted(t, 8, 2, 4.4), ==, 4);
  g_assert_cmpint(spn_tint_wanted(t, 8, 4, 4.4), ==, 5);       /* 'c' keeps 5 */
  g_assert_cmpint(spn_tint_wanted(t, 8, 6, 1.7), ==, 1);       /* 'e' keeps 1 */
  const guint8 after[8] = {5, 5, 0, 0, 5, 5, 1, 2};
  tint_to(t, after, 8);
  assert_levels(b, t, after, 8);   /* X and Y lost the tag they inherited */
  GtkTextIter from, to;
  gtk_text_buffer_get_iter_at_offset(b, &from, 1);
  gtk_text_buffer_get_iter_at_offset(b, &to, 5);
  gtk_text_buffer_delete(b, &from, &to);                       /* "adef" */
  g_assert_cmpint(spn_tint_wanted(t, 4, 2, 1.7), ==, 1);       /* 'e' still 1, now at 2 */
  g_assert_cmpint(spn_tint_wanted(t, 4, 3, 2.7), ==, 2);
  const guint8 left[4] = {5, 5, 1, 2};
  assert_levels(b, t, left, 4);
  spn_tint_free(t);
}

/* A text replaced as a whole carries no tag: forget says so, and rounding gives way to the
 * hysteresis about level 0. */
static void
test_forget(void)
{
  g_autoptr(GtkTextBuffer) b = buffer_with("abc");
  SpnTint *t = spn_tint_new(b, colors);
  gtk_text_buffer_set_text(b, "wxyz", -1);
  g_assert_cmpint(spn_tint_wanted(t, 4, 0, 0.6), ==, 1);
  spn_tint_forget(t);
  g_assert_cmpint(spn_tint_wanted(t, 4, 0, 0.6), ==, 0);
  const guint8 zero[4] = {0, 0, 0, 0};
  assert_levels(b, t, zero, 4);
  spn_tint_free(t);
}

/* A long text: the visible characters are tinted by the time start returns, the rest in idle
 * time (tens of thousands of tag changes take far longer than one slice); the end result is
 * the same everywhere. An edit drops a retint under way: its levels are of the text before. */
static void
test_visible_first(void)
{
  enum { N = 60000, FROM = 40000, TO = 40200 };
  char *text = g_malloc(N + 1);
  for (int i = 0; i < N; i++)
    text[i] = i % 61 == 60 ? '\n' : 'a' + i % 26;
  text[N] = 0;
  g_autoptr(GtkTextBuffer) b = buffer_with(text);
  g_free(text);
  SpnTint *t = spn_tint_new(b, colors);
  spn_tint_forget(t);
  guint8 *want = g_new(guint8, N);
  for (int i = 0; i < N; i++)
    want[i] = 1 + i / 7 % 14;
  spn_tint_start(t, levels(want, N), N, FROM, TO);
  g_assert_true(spn_tint_busy(t));
  for (int c = FROM; c < TO; c++)
    g_assert_cmpint(level_at(b, t, c), ==, want[c]);
  finish(t);
  assert_levels(b, t, want, N);
  for (int i = 0; i < N; i++)
    want[i] = 15 - want[i];
  spn_tint_start(t, levels(want, N), N, 0, 100);
  g_assert_true(spn_tint_busy(t));
  GtkTextIter end;
  gtk_text_buffer_get_end_iter(b, &end);
  gtk_text_buffer_insert(b, &end, "!", -1);
  g_assert_false(spn_tint_busy(t));
  g_free(want);
  spn_tint_free(t);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/tint/retint", test_retint);
  g_test_add_func("/tint/hysteresis", test_hysteresis);
  g_test_add_func("/tint/edits", test_edits);
  g_test_add_func("/tint/forget", test_forget);
  g_test_add_func("/tint/visible-first", test_visible_first);
  return g_test_run();
}
