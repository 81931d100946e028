/* inspector.h — SpnInspector: the text the model reads. A monospace, wrapping text view whose
 * characters are tinted by their surprisal (scale of bits under the view); clicking a
 * character selects it as the query and highlights the characters before it by the selected
 * head's weight on them, with a status line summing up where that head looked. */
#pragma once
#include <gtk/gtk.h>

#include "snapshot.h"

G_BEGIN_DECLS

#define SPN_TYPE_INSPECTOR (spn_inspector_get_type())
G_DECLARE_FINAL_TYPE(SpnInspector, spn_inspector, SPN, INSPECTOR, GtkWidget)

GtkWidget *spn_inspector_new(void);
/* Replaces the text (emits "text-changed" once). */
void spn_inspector_set_text(SpnInspector *i, const char *text);
/* The buffer's text; g_free it. */
char *spn_inspector_get_text(SpnInspector *i);
/* Takes a reference (s may be NULL). Tints from s->probe only when s->text equals the buffer's
 * text: the reading lags the typing, and until it catches up the last tint stays. A newer
 * reading of the text already tinted (training goes on) is taken up at most once a second. */
void spn_inspector_set_snapshot(SpnInspector *i, SpnSnapshot *s);
/* Whether the tint shows the newest reading given, with no retint still under way (a
 * screenshot waits for this). */
gboolean spn_inspector_is_current(SpnInspector *i);
/* The head whose weights the selected query shows (head < 0: head 0). */
void spn_inspector_set_head(SpnInspector *i, int layer, int head);
/* Selects token `query` (−1: none) and scrolls to it; does not emit "query-selected". */
void spn_inspector_select_query(SpnInspector *i, int query);

/* Signals:
 *   "text-changed" (const gchar *text): on every change of the buffer.
 *   "query-selected" (gint query): a click on a character (its token), or −1 when Escape or
 *     an edit cleared the selection.
 *   "reset-requested": the user asked for the run's own passage again ("Reset text"). */

G_END_DECLS
