/* window.h — SpnWindow: the five figure panels and the text inspector around one engine worker.
 *
 * Everything the window does is an action of the "win" group, so menus, shortcuts, the
 * headless modes and the UI test drive it the same way:
 *   train (boolean state, Space)    step                      train-until (x)
 *   new-model (Ctrl+N)              open (Ctrl+O)             open-file (s: path)
 *   follow (Ctrl+Shift+O)           follow-file (s: path)     unfollow
 *   save (Ctrl+S)                   save-as (Ctrl+Shift+S)    save-to (s: path)
 *   export (Ctrl+E)                 export-to ((sasddd): path, figure names, width, height,
 *                                              PNG scale)
 *   export-csv                      export-csv-to (s: path)
 *   layer (i state)                 head (i state, -1: all heads of the layer)
 *   query (i state: the selected token of the inspector's text, -1 none; refused unless the
 *     current reading of the text has it)
 *   probe-text (s: the inspector's text)          maximize (s: figure name, "" restores)
 *   show (s: figure name: the tabs holding it turn to it, e.g. "distance", "persistent")
 *   status (a{sv} state, read only): ready, training, step, tokens_per_s, probe (the inspector's
 *     text has been read by the current model), tokens (of that reading, 0 without one), nlayers,
 *     nheads, checkpoint (the user's file).
 */
#pragma once
#include <adwaita.h>

G_BEGIN_DECLS

#define SPN_TYPE_WINDOW (spn_window_get_type())
G_DECLARE_FINAL_TYPE(SpnWindow, spn_window, SPN, WINDOW, AdwApplicationWindow)

typedef struct {
  const char *corpus;       /* first model: "bundled", "demo" or a path */
  const char *preset;       /* "desktop", "small", "allattn", "demo" */
  const char *checkpoint;   /* open this instead of making a model, or NULL */
  const char *follow;       /* follow this instead of making a model, or NULL */
  const char *reference_flags; /* main.py's flags of a reference .pt opened or followed */
  const char *text;         /* probe text; NULL: a passage of the corpus */
  gboolean autosave;        /* offer the autosave back, write it every 5 minutes and on close */
  gboolean remember_view;   /* start with the view last chosen, and remember changes (viewstate.h) */
  gboolean quiet;           /* no passing notices ("Opened …"), only errors: a screenshot's */
} SpnWindowStart;

/* Starts the worker and the first model (or the offer to resume the autosave). */
SpnWindow *spn_window_new(GtkApplication *app, const SpnWindowStart *start);

/* The New model dialog over the window, filled with the preset (NULL: desktop) and the corpus
 * (NULL: the preset's, or the run's); the user's Create makes it. Returns what the dialog holds,
 * e.g. "the Span demo preset on the demonstration corpus" (g_free). */
char *spn_window_offer_new_model(SpnWindow *win, const char *preset, const char *corpus);

/* Opens or (follow) follows path as a command line asks: a reference .pt (or a path ending in
 * .pt) with its data folder (data, or --data in ref_flags; may be NULL) and main.py's flags
 * (may be NULL), any other file as a spanscope checkpoint. Errors are reported by the window. */
void spn_window_start_run(SpnWindow *win, const char *path, gboolean follow, const char *data,
                          const char *ref_flags);
/* Whether the window follows a checkpoint that another run rewrites (--follow, File → Follow…). */
gboolean spn_window_is_following(SpnWindow *win);

/* $XDG_STATE_HOME/spanscope/autosave.safetensors (g_free). */
char *spn_window_autosave_path(void);

/* Signal "worker-error" (const gchar *message): the engine refused a command; the window shows
 * it as a toast, the headless modes stop on it. */

G_END_DECLS
