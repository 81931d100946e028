/* headless.h — the modes that drive a real window through its actions and exit:
 *   --screenshot FILE.png --compare CHECKPOINT...: the comparison window once its runs are open;
 *   --screenshot FILE.png: trains to train_steps, shows the view chosen (--show, --maximize,
 *     --layer, --head, --query), waits until every view shows the newest snapshot and the
 *     inspector's tint the newest reading, renders the window into the PNG;
 *   --bench-frames N: trains while measuring what N painted frames cost the main thread, prints
 *     frame/dispatch/main-loop figures.
 * A worker error or 900 s without finishing ends them with a non-zero status. */
#pragma once
#include <adwaita.h>

#include "window.h"

G_BEGIN_DECLS

typedef struct _SpnHeadless SpnHeadless;

#define SPN_HEADLESS_UNSET G_MININT   /* a view's number the command line did not choose */

/* What the screenshot shows, each through the window's actions (window.h): the tabs turned to
 * the figures named (show), one panel alone (maximize), layer, head (-1: all heads of the layer)
 * and the selected character of the inspector's text (query, -1: none). */
typedef struct {
  char **show;              /* figure names, NULL-terminated; NULL: none */
  char *maximize;           /* a figure name, NULL: the whole window */
  int layer, head, query;   /* SPN_HEADLESS_UNSET: as the window has it */
} SpnHeadlessView;

typedef struct {
  const char *screenshot;   /* the screenshot's path, or NULL for the benchmark */
  gint64 train_steps;       /* screenshot: optimizer steps before the picture */
  int width, height;        /* screenshot: the picture's size (0: the window's) */
  int bench_frames;         /* benchmark: painted frames to measure */
  gboolean compare;         /* screenshot: of the comparison window once its runs are open */
  const SpnHeadlessView *view;   /* screenshot of the main window: what it shows; may be NULL */
} SpnHeadlessOptions;

void spn_headless_view_init(SpnHeadlessView *v);
void spn_headless_view_clear(SpnHeadlessView *v);
/* Whether the command line chose anything of the view. */
gboolean spn_headless_view_chosen(const SpnHeadlessView *v);
/* What can be checked before there is a model: the figure names and the numbers' lower bounds.
 * FALSE with an error naming the option, the value and what is allowed. */
gboolean spn_headless_view_check(const SpnHeadlessView *v, GError **error);
/* Shows v in win through its actions, once its model is ready and the inspector's text read;
 * FALSE with an error naming the option when the window refuses a value (a layer, head or
 * character the model or the text does not have). */
gboolean spn_headless_show_view(SpnWindow *win, const SpnHeadlessView *v, GError **error);

/* Starts driving win; when done it destroys win and quits app. */
SpnHeadless *spn_headless_start(GApplication *app, SpnWindow *win, const SpnHeadlessOptions *o);
/* 0 once it succeeded (or while it runs), else non-zero. */
int spn_headless_get_exit_status(SpnHeadless *h);
void spn_headless_free(SpnHeadless *h);

/* The window as it shows itself (on X11 its pixels read back from the X server; elsewhere its
 * widgets drawn again) as a PNG, written to a temporary name and renamed. */
gboolean spn_window_save_png(GtkWidget *window, const char *path, GError **error);

G_END_DECLS
