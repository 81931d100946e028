/* panel.h — SpnPanel: a framed SpnFigureView under a one-row header with the figure's title,
 * its own display controls (log axis, colour map, smoothing, ...), a maximize/restore button
 * and a menu (Export figure…, Maximize/Restore). Layer and head are not chosen here: the
 * window sets them on every view. */
#pragma once
#include <gtk/gtk.h>

#include "figure_view.h"
#include "figures.h"

G_BEGIN_DECLS

#define SPN_TYPE_PANEL (spn_panel_get_type())
G_DECLARE_FINAL_TYPE(SpnPanel, spn_panel, SPN, PANEL, GtkWidget)

GtkWidget *spn_panel_new(SpnFigureKind kind);
SpnFigureView *spn_panel_get_view(SpnPanel *p);

/* Whether the window shows this panel maximized: decides "Maximize" or "Restore" on the button
 * and in the menu. The panel flips it itself before emitting "maximize-toggled"; the window
 * sets it when it restores the panel by other means (Escape, another panel maximized). */
void spn_panel_set_maximized(SpnPanel *p, gboolean maximized);
gboolean spn_panel_get_maximized(SpnPanel *p);

/* Signals: "export-requested" (no args), "maximize-toggled" (no args). */

G_END_DECLS
