/* compare_window.h — SpnCompareWindow: several runs side by side (ui/compare.h). Runs are
 * checkpoints, opened off the main thread, or the main window's run as it was when added; each
 * keeps a colour and a label the user can edit. Three pages draw the comparison (training
 * curves, learned spans, the table); Export writes all three to PNG, SVG or PDF. One per
 * application: the main window's "Compare runs" and `spanscope --compare FILE` add to it. */
#pragma once
#include <adwaita.h>

#include "compare.h"
#include "snapshot.h"

G_BEGIN_DECLS

#define SPN_TYPE_COMPARE_WINDOW (spn_compare_window_get_type())
G_DECLARE_FINAL_TYPE(SpnCompareWindow, spn_compare_window, SPN, COMPARE_WINDOW, AdwWindow)

/* The application's comparison window, made (hidden) if it has none yet. */
SpnCompareWindow *spn_compare_window_get(GtkApplication *app);
/* Opens the checkpoint in a thread and adds it as a run named by its file name; a failure is
 * shown in the window and reported by "run-failed". */
void spn_compare_window_add_file(SpnCompareWindow *w, const char *path);
/* Adds a run from a snapshot (a reference is taken). */
void spn_compare_window_add_snapshot(SpnCompareWindow *w, SpnSnapshot *s, const char *label);
int spn_compare_window_get_n_runs(SpnCompareWindow *w);
/* Run i's label; NULL out of range. */
const char *spn_compare_window_get_label(SpnCompareWindow *w, int i);
void spn_compare_window_set_label(SpnCompareWindow *w, int i, const char *label);
void spn_compare_window_remove(SpnCompareWindow *w, int i);
/* Opens still under way. */
int spn_compare_window_get_pending(SpnCompareWindow *w);
/* The three figures in a grid, as Export writes them. */
gboolean spn_compare_window_export(SpnCompareWindow *w, const char *path, double width,
                                   double height, GError **error);

/* Signals: "runs-changed" (no args) after a run was added, removed or renamed, and after an
 * open failed; "run-failed" (gchararray message). */

G_END_DECLS
