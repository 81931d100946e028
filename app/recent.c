/* recent.c — the checkpoints opened and saved lately, through GtkRecentManager (shared with
 * the desktop's file choosers), as a menu of win.open-file items. */
#include "window-private.h"

#define RECENT_MAX 8

void
spn_recent_add(const char *path)
{
  g_autofree char *uri = g_filename_to_uri(path, NULL, NULL);
  if (uri == NULL)
    return;
  GtkRecentData data = {
    .display_name = NULL,
    .description = "spanscope checkpoint",
    .mime_type = "application/octet-stream",
    .app_name = (char *)g_get_application_name(),
    .app_exec = "spanscope %f",
  };
  gtk_recent_manager_add_full(gtk_recent_manager_get_default(), uri, &data);
}

static int
by_modified_desc(gconstpointer a, gconstpointer b)
{
  GDateTime *ta = gtk_recent_info_get_modified(*(GtkRecentInfo **)a);
  GDateTime *tb = gtk_recent_info_get_modified(*(GtkRecentInfo **)b);
  return g_date_time_compare(tb, ta);
}

/* Checkpoints only, newest first, and only those still on disk. */
static void
fill(GMenu *menu)
{
  GList *items = gtk_recent_manager_get_items(gtk_recent_manager_get_default());
  g_autoptr(GPtrArray) found = g_ptr_array_new();
  for (GList *l = items; l; l = l->next) {
    GtkRecentInfo *info = l->data;
    const char *uri = gtk_recent_info_get_uri(info);
    if (g_str_has_suffix(uri, ".safetensors") && gtk_recent_info_is_local(info) &&
        gtk_recent_info_exists(info))
      g_ptr_array_add(found, info);
  }
  g_ptr_array_sort(found, by_modified_desc);
  g_menu_remove_all(menu);
  for (guint i = 0; i < found->len && i < RECENT_MAX; i++) {
    g_autofree char *path = g_filename_from_uri(gtk_recent_info_get_uri(found->pdata[i]), NULL, NULL);
    g_autofree char *label = g_path_get_basename(path);
    g_autoptr(GMenuItem) item = g_menu_item_new(label, NULL);
    g_menu_item_set_action_and_target_value(item, "win.open-file", g_variant_new_string(path));
    g_menu_append_item(menu, item);
  }
  if (found->len == 0)
    g_menu_append(menu, "No recent checkpoints", "win.no-recent");
  g_list_free_full(items, (GDestroyNotify)gtk_recent_info_unref);
}

void
spn_recent_follow(GMenu *menu)
{
  fill(menu);
  g_signal_connect_object(gtk_recent_manager_get_default(), "changed", G_CALLBACK(fill), menu,
                          G_CONNECT_SWAPPED);
}
