/* setup_dialog.h — "New model…": every engine option (one row per entry of the engine's settings
 * table, config.h), the presets and the corpus, refusing invalid values with the reason before
 * anything reaches the engine. */
#pragma once
#include <adwaita.h>

#include "config.h"
#include "corpus.h"

G_BEGIN_DECLS

#define SPN_TYPE_SETUP_DIALOG (spn_setup_dialog_get_type())
G_DECLARE_FINAL_TYPE(SpnSetupDialog, spn_setup_dialog, SPN, SETUP_DIALOG, AdwWindow)

/* Modal over parent, filled with the desktop preset on the bundled corpus.
 * Signal "create" (no arguments): the user pressed Create on valid settings; read them with the
 * getters, then close the dialog. */
SpnSetupDialog *spn_setup_dialog_new(GtkWindow *parent);

/* Chooses a preset, as the user does: every field, and the corpus when it is made for one. */
void spn_setup_dialog_set_preset(SpnSetupDialog *d, SpnPreset preset);
SpnPreset spn_setup_dialog_get_preset(SpnSetupDialog *d);
/* Fills every field (as choosing a preset does); the corpus is left as it is. */
void spn_setup_dialog_set_config(SpnSetupDialog *d, const SpnConfig *cfg);
/* corpus: "bundled", "demo", or a path (a file, or a folder with train/valid/test). */
void spn_setup_dialog_set_corpus(SpnSetupDialog *d, const char *corpus, gboolean byte_mode);

/* The settings as typed; FALSE with the reason (the text the dialog shows) when invalid. */
gboolean spn_setup_dialog_get_config(SpnSetupDialog *d, SpnConfig *cfg, GError **error);
const char *spn_setup_dialog_get_corpus(SpnSetupDialog *d);
void spn_setup_dialog_get_corpus_options(SpnSetupDialog *d, SpnCorpusOptions *opts);
/* The reason shown in the dialog, NULL when the settings are valid (Create is sensitive). */
const char *spn_setup_dialog_get_problem(SpnSetupDialog *d);

/* While the engine makes the model the dialog stays, Create waiting; the engine's refusal is
 * shown in it (a corpus error on the corpus row, until the corpus changes) and every field
 * kept. */
void spn_setup_dialog_set_busy(SpnSetupDialog *d, gboolean busy);
void spn_setup_dialog_show_error(SpnSetupDialog *d, const GError *error);
/* Size and speed of the settings, shown on their row: flops_per_s is the rate this machine
 * trained a model at (work per second, cost.h; 0: not measured yet), run_corpus and run_vocab the current run's corpus
 * and vocabulary size (the vocabulary of the same corpus). */
void spn_setup_dialog_set_machine(SpnSetupDialog *d, double flops_per_s, const char *run_corpus,
                                  int run_vocab);
/* What the row says: parameters, and seconds per step at the initial spans (0: no rate). */
void spn_setup_dialog_get_cost(SpnSetupDialog *d, gint64 *parameters, double *step_seconds);
/* The corpus row's error, NULL when none. */
const char *spn_setup_dialog_get_corpus_error(SpnSetupDialog *d);

G_END_DECLS
