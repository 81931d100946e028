/* figure_view.h — SpnFigureView: one figure of ui/figures.h as a widget. It draws the immutable
 * snapshot it was given in a render thread, shows the image on the main thread and never
 * touches the engine. The attention heatmap is interactive: scroll pans, Ctrl+scroll zooms
 * about the pointer (both axes), drag pans, double-click resets the view, a click on a row
 * selects that query. */
#pragma once
#include <gtk/gtk.h>

#include "figures.h"
#include "snapshot.h"

G_BEGIN_DECLS

#define SPN_TYPE_FIGURE_VIEW (spn_figure_view_get_type())
G_DECLARE_FINAL_TYPE(SpnFigureView, spn_figure_view, SPN, FIGURE_VIEW, GtkWidget)

GtkWidget *spn_figure_view_new(SpnFigureKind kind);
SpnFigureKind spn_figure_view_get_kind(SpnFigureView *v);
/* Takes a reference (s may be NULL) and redraws. */
void spn_figure_view_set_snapshot(SpnFigureView *v, SpnSnapshot *s);
/* Borrowed, may be NULL. */
SpnSnapshot *spn_figure_view_get_snapshot(SpnFigureView *v);
/* Copied. `dark` is ignored: the view follows the theme of the widget. */
void spn_figure_view_set_options(SpnFigureView *v, const SpnFigureOptions *o);
const SpnFigureOptions *spn_figure_view_get_options(SpnFigureView *v);
/* Whether the image shown is of the current snapshot, options and size (a view that is not
 * drawn, or has nothing to draw, counts as current). Drawing is asynchronous: a screenshot or a
 * test waits for this, or for "rendered". */
gboolean spn_figure_view_is_current(SpnFigureView *v);

/* Signals:
 *   "query-selected" (gint query): a click on a heatmap row.
 *   "options-changed" (no args): after set_options and after the user panned or zoomed, so
 *     controls showing the options (the panel's) can follow.
 *   "rendered" (no args): a new image is shown (tooltips and clicks now describe it). */

G_END_DECLS
