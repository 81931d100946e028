/* headless.h — the modes that drive a real window through its actions and exit:
 *   --screenshot FILE.png --compare CHECKPOINT...: the comparison window once its runs are open;
 *   --screenshot FILE.png: trains to train_steps, waits until every view shows the newest
 *     snapshot and the inspector's tint the newest reading, renders the window into the PNG;
 *   --bench-frames N: trains while measuring what N painted frames cost the main thread, prints
 *     frame/dispatch/main-loop figures.
 * A worker error or 900 s without finishing ends them with a non-zero status. */
#pragma once
#include <adwaita.h>

#include "window.h"

G_BEGIN_DECLS

typedef struct _SpnHeadless SpnHeadless;

typedef struct {
  const char *screenshot;   /* the screenshot's path, or NULL for the benchmark */
  gint64 train_steps;       /* screenshot: optimizer steps before the picture */
  int width, height;        /* screenshot: the picture's size (0: the window's) */
  int bench_frames;         /* benchmark: painted frames to measure */
  gboolean compare;         /* screenshot: of the comparison window once its runs are open */
} SpnHeadlessOptions;

/* Starts driving win; when done it destroys win and quits app. */
SpnHeadless *spn_headless_start(GApplication *app, SpnWindow *win, const SpnHeadlessOptions *o);
/* 0 once it succeeded (or while it runs), else non-zero. */
int spn_headless_get_exit_status(SpnHeadless *h);
void spn_headless_free(SpnHeadless *h);

/* The window as it shows itself (on X11 its pixels read back from the X server; elsewhere its
 * widgets drawn again) as a PNG, written to a temporary name and renamed. */
gboolean spn_window_save_png(GtkWidget *window, const char *path, GError **error);

G_END_DECLS
