/* cli_common.c — what every spanscope-cli command shares. */
#include "cli_common.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "demo.h"
#include "readfile.h"

static char *command;

void
spn_cli_set_command(const char *name)
{
  g_free(command);
  command = g_strdup(name);
}

static void
print_message(const char *message)
{
  g_printerr("spanscope-cli%s%s: %s\n", command ? " " : "", command ? command : "", message);
}

int
spn_cli_fail(GError *error)
{
  int status = error->domain == G_OPTION_ERROR ? 2 : 1;
  print_message(error->message);
  g_error_free(error);
  return status;
}

void
spn_cli_message(const char *format, ...)
{
  va_list ap;
  va_start(ap, format);
  g_autofree char *message = g_strdup_vprintf(format, ap);
  va_end(ap);
  print_message(message);
}

int
spn_cli_usage_error(const char *format, ...)
{
  va_list ap;
  va_start(ap, format);
  g_autofree char *message = g_strdup_vprintf(format, ap);
  va_end(ap);
  print_message(message);
  return 2;
}

GOptionContext *
spn_cli_context(const char *parameter, const char *summary, const SpnOptionRows *sets,
                guint n_sets, const GOptionEntry *entries, GHashTable *given)
{
  GOptionContext *ctx = g_option_context_new(parameter);
  g_option_context_set_summary(ctx, summary);
  g_option_context_set_main_group(ctx, spn_option_group_new(sets, n_sets, given));
  if (entries)
    g_option_context_add_main_entries(ctx, entries, NULL);
  return ctx;
}

gboolean
spn_cli_parse(GOptionContext *ctx, int *argc, char ***argv)
{
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, argc, argv, &error)) {
    spn_cli_usage_error("%s", error->message);
    return FALSE;
  }
  if (*argc > 1) {
    spn_cli_usage_error("unexpected argument \"%s\" (see --help)", (*argv)[1]);
    return FALSE;
  }
  return TRUE;
}

SpnOptionRows
spn_cli_threads_rows(int *threads)
{
  /* offsets into SpnConfig: the struct the row writes to starts where threads would be */
  const SpnConfigField *row = spn_config_field("threads");
  return (SpnOptionRows){row, 1, (guint8 *)threads - row->offset, NULL};
}

void
spn_cli_name_option(GError **error, const char *option, const char *path)
{
  if (error != NULL && *error != NULL && g_str_has_prefix((*error)->message, path))
    g_prefix_error(error, "%s ", option);
}

char *
spn_cli_read_text(const char *option, const char *path, gsize max, gsize *len, GError **error)
{
  struct stat sb;
  int fd = spn_open_regular(path, &sb);
  if (fd < 0 && errno != 0) {
    int err = errno;
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err), "%s %s: %s", option, path,
                g_strerror(err));
    return NULL;
  }
  if (fd < 0 || (guint64)sb.st_size > max) {
    if (fd < 0)
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "%s %s: is %s; give a text file",
                  option, path, spn_file_kind(sb.st_mode));
    else
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                  "%s %s: the file has %" G_GUINT64_FORMAT " bytes; at most %zu are read",
                  option, path, (guint64)sb.st_size, (size_t)max);
    if (fd >= 0)
      close(fd);
    return NULL;
  }
  char *text = g_malloc((gsize)sb.st_size + 1);
  gsize n = 0;
  int err = spn_read_all(fd, text, (gsize)sb.st_size, &n) ? 0 : errno;
  close(fd);
  if (n < (gsize)sb.st_size) {
    g_set_error(error, G_FILE_ERROR, err ? g_file_error_from_errno(err) : G_FILE_ERROR_FAILED,
                "%s %s: read %zu of %zu bytes: %s", option, path, (size_t)n,
                (size_t)sb.st_size, err ? g_strerror(err) : "the file shrank while it was read");
    g_free(text);
    return NULL;
  }
  text[n] = '\0';
  *len = n;
  return text;
}

SpnCheckpoint *
spn_cli_open_checkpoint(const char *path, GError **error)
{
  if (path == NULL) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "--checkpoint PATH is required (see --help)");
    return NULL;
  }
  SpnCheckpoint *ck = spn_checkpoint_load(path, error);
  spn_cli_name_option(error, "--checkpoint", path);
  return ck;
}

SpnCorpus *
spn_cli_checkpoint_corpus(const SpnCheckpoint *ck, const char *path, GError **error)
{
  g_autofree char *source = spn_checkpoint_corpus(ck);
  if (source == NULL) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                "%s does not say which corpus it was trained on: give --corpus", path);
    return NULL;
  }
  SpnCorpusOptions opts = {.byte_mode = ck->vocab->kind == SPN_VOCAB_BYTES,
                           .ref_format = ck->vocab->kind == SPN_VOCAB_REF};
  SpnCorpus *corpus = spn_corpus_load(source, &opts, error);
  if (corpus == NULL)
    g_prefix_error(error, "%s was trained on corpus %s, which cannot be read now (give --corpus): ",
                   path, source);
  return corpus;
}

char *
spn_cli_default_text(const SpnCheckpoint *ck, const char *path, GError **error)
{
  g_autofree char *source = spn_checkpoint_corpus(ck);
  if (g_strcmp0(source, SPN_BUNDLED_SOURCE) == 0 || spn_demo_corpus(source) != NULL)
    return g_strdup(spn_corpus_default_passage(source));
  SpnCorpus *corpus = spn_cli_checkpoint_corpus(ck, path, error);
  if (corpus == NULL)
    return NULL;
  char *text = spn_corpus_passage(corpus);
  spn_corpus_free(corpus);
  return text;
}
