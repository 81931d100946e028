/* accessible.h — the name a screen reader announces for a control (GTK 4.8 has no shorthand). */
#pragma once
#include <gtk/gtk.h>

static inline void
spn_set_accessible_label(GtkWidget *w, const char *label)
{
  gtk_accessible_update_property(GTK_ACCESSIBLE(w), GTK_ACCESSIBLE_PROPERTY_LABEL, label, -1);
}
