/* viewstate.h — what the user chose to see, remembered across runs: each panel's axes, colour
 * map and smoothing, the layout (pane splits, the maximized panel), the export's format, size
 * and scale, and the machine's measured training speed (the New model dialog's estimate).
 *
 * A GKeyFile in $XDG_STATE_HOME/spanscope/view.ini rather than GSettings: it is state, not
 * configuration; it needs no schema compiled and installed, so a program run from the build tree
 * remembers like an installed one, and tests (and the headless modes, which neither read nor
 * write it) stay apart from the user's choices by the state directory alone. Every value read is
 * checked (type, range, known name) and a bad file counts as empty. Writes are coalesced (one
 * second after the last change, and at exit), to a temporary file renamed over the old one. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

gboolean spn_view_state_get_boolean(const char *group, const char *key, gboolean fallback);
/* A finite number in [min, max], else fallback. */
double spn_view_state_get_double(const char *group, const char *key, double fallback, double min,
                                 double max);
/* The index of the stored name among names[0..n), else fallback. */
int spn_view_state_get_choice(const char *group, const char *key, const char *const *names, int n,
                              int fallback);

void spn_view_state_set_boolean(const char *group, const char *key, gboolean value);
void spn_view_state_set_double(const char *group, const char *key, double value);
void spn_view_state_set_string(const char *group, const char *key, const char *value);

/* Writes what changed now (at exit). */
void spn_view_state_flush(void);
/* Where it lives (g_free). */
char *spn_view_state_path(void);

G_END_DECLS
