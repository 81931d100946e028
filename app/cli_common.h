/* cli_common.h — what every spanscope-cli command shares: messages, option parsing with ranges
 * (the settings table's rows, config.h), text files, checkpoints and the corpus they remember. */
#pragma once
#include <glib.h>

#include "checkpoint.h"
#include "config.h"

G_BEGIN_DECLS

/* Messages start with "spanscope-cli COMMAND: ". */
void spn_cli_set_command(const char *command);
/* Prints the error (freeing it) and returns the exit status: 2 for a G_OPTION_ERROR (a bad
 * command line), else 1. */
int spn_cli_fail(GError *error);
/* Prints the message ("spanscope-cli COMMAND: note: ..."), for notes and warnings. */
void spn_cli_message(const char *format, ...) G_GNUC_PRINTF(1, 2);
/* Prints the message and returns 2, the status of a bad command line. */
int spn_cli_usage_error(const char *format, ...) G_GNUC_PRINTF(1, 2);

/* A command's own numeric option: a row like the settings table's, its offset into the command's
 * struct. */
#define SPN_CLI_ROW(name_, type_, member_, kind_, min_, max_, help_, arg_)                         \
  {.name = (name_), .offset = G_STRUCT_OFFSET(type_, member_), .type = (kind_), .min = (min_),   \
   .max = (max_), .help = (help_), .arg = (arg_)}

/* The context's main group: the rows of `sets` (their values checked against the rows' ranges as
 * they are read), then `entries` (strings, switches). given (may be NULL): receives the name of
 * every row option met. */
GOptionContext *spn_cli_context(const char *parameter, const char *summary,
                                const SpnOptionRows *sets, guint n_sets,
                                const GOptionEntry *entries, GHashTable *given);
/* Parses; FALSE after printing the error (unknown option, bad value, a stray argument). */
gboolean spn_cli_parse(GOptionContext *ctx, int *argc, char ***argv);

/* The settings table's --threads row with the struct it writes to: every command reads it the
 * same way, and spn_cli_threads_init() starts the pool. */
SpnOptionRows spn_cli_threads_rows(int *threads);

/* An error about the file of an option names the option: "--corpus PATH: ..." (the loaders,
 * which refuse anything but a regular file or a corpus folder, name the path). */
void spn_cli_name_option(GError **error, const char *option, const char *path);
/* A text file whole (at most `max` bytes): only a regular file is read (a FIFO, a folder or a
 * device such as /dev/zero is refused before reading); errors name the option and the path. */
char *spn_cli_read_text(const char *option, const char *path, gsize max, gsize *len,
                        GError **error);

/* The checkpoint of --checkpoint, which is required. */
SpnCheckpoint *spn_cli_open_checkpoint(const char *path, GError **error);
/* The corpus the checkpoint was trained on, as recorded, read in the checkpoint's vocabulary
 * kind; errors say to give --corpus when it is not recorded or cannot be read. */
SpnCorpus *spn_cli_checkpoint_corpus(const SpnCheckpoint *ck, const char *path, GError **error);
/* The text a model reads by default: the chosen passage of the bundled or demonstration corpus,
 * or a passage of the validation split of the corpus the checkpoint was trained on. */
char *spn_cli_default_text(const SpnCheckpoint *ck, const char *path, GError **error);

G_END_DECLS
