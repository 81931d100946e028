/* application.h — SpnApplication (org.spanscope.Spanscope): the command line, the application
 * actions and shortcuts, and the headless modes (--screenshot, --bench-frames).
 *
 * Properties, set by the command line or before activation (the UI test does that):
 *   "corpus"   the first model's corpus: "bundled" (default), "demo" or a path
 *   "preset"   the first model's settings: "desktop" (default), "small", "allattn", "demo"
 *   "autosave" offer the autosave back at start and write it every 5 minutes and on quit
 *              (default TRUE; --no-autosave, --screenshot and --bench-frames turn it off)
 */
#pragma once
#include <adwaita.h>

G_BEGIN_DECLS

/* SPN_APPLICATION_ID and SPN_VERSION come from the generated spanscope-config.h. */
#include "spanscope-config.h"

#define SPN_TYPE_APPLICATION (spn_application_get_type())
G_DECLARE_FINAL_TYPE(SpnApplication, spn_application, SPN, APPLICATION, AdwApplication)

SpnApplication *spn_application_new(void);

/* What the headless modes report: 0 on success (and when they did not run), else non-zero. */
int spn_application_get_exit_status(SpnApplication *app);

G_END_DECLS
