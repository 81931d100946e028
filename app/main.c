/* main.c — the spanscope desktop application. */
#include <glib.h>

#include "application.h"

int
main(int argc, char **argv)
{
  g_set_application_name("spanscope");
  g_autoptr(SpnApplication) app = spn_application_new();
  int status = g_application_run(G_APPLICATION(app), argc, argv);
  return status != 0 ? status : spn_application_get_exit_status(app);
}
