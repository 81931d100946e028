/* viewstate.c — the remembered view (viewstate.h): one key file per process, read on first use,
 * written a second after the last change. */
#include "viewstate.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <math.h>

#define SAVE_DELAY_S 1

static GKeyFile *state;
static guint save_source;

char *
spn_view_state_path(void)
{
  return g_build_filename(g_get_user_state_dir(), "spanscope", "view.ini", NULL);
}

static GKeyFile *
get_state(void)
{
  if (state == NULL) {
    state = g_key_file_new();
    g_autofree char *path = spn_view_state_path();
    /* missing or unreadable: nothing remembered yet */
    if (!g_key_file_load_from_file(state, path, G_KEY_FILE_NONE, NULL)) {
      g_key_file_unref(state);
      state = g_key_file_new();
    }
  }
  return state;
}

static gboolean
save_now(gpointer data)
{
  (void)data;
  save_source = 0;
  g_autofree char *path = spn_view_state_path();
  g_autofree char *dir = g_path_get_dirname(path);
  g_autoptr(GError) error = NULL;
  if (g_mkdir_with_parents(dir, 0700) != 0 || !g_key_file_save_to_file(get_state(), path, &error))
    g_warning("cannot remember the view in %s: %s", path,
              error ? error->message : g_strerror(errno));
  return G_SOURCE_REMOVE;
}

void
spn_view_state_flush(void)
{
  if (save_source == 0)
    return;
  g_clear_handle_id(&save_source, g_source_remove);
  save_now(NULL);
}

static void
changed(void)
{
  if (save_source == 0)
    save_source = g_timeout_add_seconds(SAVE_DELAY_S, save_now, NULL);
}

gboolean
spn_view_state_get_boolean(const char *group, const char *key, gboolean fallback)
{
  g_autoptr(GError) error = NULL;
  gboolean v = g_key_file_get_boolean(get_state(), group, key, &error);
  return error ? fallback : v;
}

double
spn_view_state_get_double(const char *group, const char *key, double fallback, double min,
                          double max)
{
  g_autoptr(GError) error = NULL;
  double v = g_key_file_get_double(get_state(), group, key, &error);
  return error || !isfinite(v) || v < min || v > max ? fallback : v;
}

int
spn_view_state_get_choice(const char *group, const char *key, const char *const *names, int n,
                          int fallback)
{
  g_autofree char *v = g_key_file_get_string(get_state(), group, key, NULL);
  for (int i = 0; v && i < n; i++)
    if (g_strcmp0(v, names[i]) == 0)
      return i;
  return fallback;
}

void
spn_view_state_set_boolean(const char *group, const char *key, gboolean value)
{
  if (spn_view_state_get_boolean(group, key, !value) == value)
    return;
  g_key_file_set_boolean(get_state(), group, key, value);
  changed();
}

void
spn_view_state_set_double(const char *group, const char *key, double value)
{
  if (spn_view_state_get_double(group, key, NAN, -INFINITY, INFINITY) == value)
    return;
  g_key_file_set_double(get_state(), group, key, value);
  changed();
}

void
spn_view_state_set_string(const char *group, const char *key, const char *value)
{
  g_autofree char *old = g_key_file_get_string(get_state(), group, key, NULL);
  if (g_strcmp0(old, value) == 0)
    return;
  g_key_file_set_string(get_state(), group, key, value);
  changed();
}
