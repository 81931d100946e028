/* tint.h — SpnTint: one colour scale painted over the characters of a GtkTextBuffer.
 *
 * A fixed set of tags (SPN_TINT_LEVELS levels, level 0 untinted), never one tag per character.
 * The tint keeps, per character, the level it applied, in step with every insertion and
 * deletion of the buffer, so a new set of wanted levels retints only the characters whose
 * level changed, in slices of main-loop time, the visible characters first. Pure text-buffer
 * work: no widget, no display needed. */
#pragma once
#include <gtk/gtk.h>

G_BEGIN_DECLS

#define SPN_TINT_LEVELS 16

typedef struct _SpnTint SpnTint;

/* colors(level, background, ink, has_ink): the look of level 1 … SPN_TINT_LEVELS − 1. */
typedef void (*SpnTintColors)(int level, GdkRGBA *background, GdkRGBA *ink, gboolean *has_ink);

/* Adds the scale's tags to buffer's tag table (tags added later win where several apply) and
 * follows the buffer's edits. */
SpnTint *spn_tint_new(GtkTextBuffer *buffer, SpnTintColors colors);
/* Stops any retint and leaves the buffer (its tags stay in the table). */
void spn_tint_free(SpnTint *t);

const GdkRGBA *spn_tint_rgba(const SpnTint *t, int level);
GtkTextTag *spn_tint_tag(const SpnTint *t, int level);

/* The level wanted for character c (of nchars) whose value is x, in levels (0 … LEVELS − 1):
 * the level already applied while x stays within 0.8 of it (a reading during training moves
 * every value a little; most characters keep their tint), else x rounded. Non-finite: 0. */
guint8 spn_tint_wanted(const SpnTint *t, int nchars, int c, double x);

/* Starts bringing the characters to `want` (nchars levels, taken): [visible_from, visible_to)
 * first, then the characters after, then those before; a first slice at once, the rest in idle
 * time. A retint under way is dropped. */
void spn_tint_start(SpnTint *t, guint8 *want, int nchars, int visible_from, int visible_to);
/* A retint is under way. */
gboolean spn_tint_busy(const SpnTint *t);
/* Drops the retint under way (the characters keep the levels reached). */
void spn_tint_stop(SpnTint *t);
/* The buffer's text was just replaced as a whole: none of it carries a tag. */
void spn_tint_forget(SpnTint *t);

G_END_DECLS
