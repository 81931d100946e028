/* window-private.h — what the files of SpnWindow share: its state and the functions each file
 * offers the others.
 *
 *   window.c          the object, its template (data/ui/window.ui: header bar, menu, toast
 *                     overlay, shortcuts), the worker's snapshots and messages, the view state
 *                     (layer, head, query, probe text) and the title and status line
 *   window-actions.c  the "win" actions: train, files, export, view
 *   window-layout.c   the panes of panels and the inspector, maximizing one panel
 *   session.c         the first model, the offer to resume the autosave, the periodic
 *                     autosave and the asynchronous save at close
 *   recent.c          recently used checkpoints (GtkRecentManager) as a menu
 *   window-follow.c   runs that live elsewhere: opening a reference .pt (its data folder and
 *                     flags asked for), following a checkpoint another run keeps rewriting */
#pragma once
#include "figure_view.h"
#include "figures.h"
#include "setup_dialog.h"
#include "follow.h"
#include "window.h"
#include "worker.h"

G_BEGIN_DECLS

struct _SpnWindow {
  AdwApplicationWindow parent;
  SpnWorker *worker;

  /* session.c */
  char *corpus, *preset, *checkpoint_arg;   /* how the first model is made */
  char *follow_arg;        /* --follow: follow this instead */
  gboolean corpus_given;   /* --corpus was given (a reference run's data folder) */
  gboolean autosave;
  char *autosave_path;
  guint autosave_source;
  gboolean closing;        /* the closing autosave is under way: the window goes once it is saved */
  char *close_error;       /* why it failed: a second close then quits without it */

  /* from the template */
  AdwToastOverlay *toasts;
  GtkLabel *title_label;
  GtkInscription *status_line;
  AdwButtonContent *train_content;
  GtkDropDown *layer_drop, *head_drop;
  GMenu *recent_menu;

  /* window-layout.c */
  GtkWidget *panels[SPN_FIGURE_COUNT];
  GtkWidget *inspector;
  GtkWidget *layout;
  int maximized;           /* SpnFigureKind shown alone, -1 for the full layout */
  gboolean remember_view;  /* panel options and layout are read from and written to viewstate */
  gboolean quiet;          /* toasts for errors only (SpnWindowStart) */

  gboolean updating_selectors;   /* the window, not the user, is changing a drop-down */
  SpnSnapshot *snapshot;
  gboolean ready, training;
  gint64 step;
  gint64 step_seen_at;     /* when the step last changed (monotonic µs) */
  gboolean stepping;       /* a single step was asked for and has not come yet */
  guint step_clock;        /* while busy: the status line counts the seconds of the step */
  double tokens_per_s;
  gint64 rate_kept_at;     /* when the machine's training rate was last remembered (µs) */
  char *seen_checkpoint;   /* the worker's last reported checkpoint */
  char *user_file;         /* where Save writes: the file last opened or saved by the user */
  gint64 saved_step;       /* the step the user's file holds (0 for a new model) */
  SpnSetupDialog *replacing; /* the New model dialog waiting for Save / Discard (weak) */
  SpnSetupDialog *creating;  /* the New model dialog waiting for the engine's model (weak) */
  char *text;              /* the inspector's text, as last sent to the worker */
  char *text_corpus;       /* the corpus whose passage the inspector shows, NULL if none yet */
  gboolean text_default;   /* the inspector shows the run's passage: it follows the corpus */
  int nlayers, nheads, layer, head, query;

  /* window-follow.c */
  SpnFollower *follower;   /* NULL when not following */
  char *follow_path;
  gint64 follow_updated;   /* wall time (µs) of the last version, 0 before the first */
  guint follow_tick;
  char *follow_failure;    /* the last unusable version's error, said once */
  char *ref_data, *ref_flags;   /* the last reference run's data folder and main.py flags */
  char *shown_file;        /* the reference .pt or followed file the run came from, for the
                              title while the user has no file of ours */
};

/* window.c */
/* The rate this machine trains at (work per second, cost.h): the running model's now, else
 * the one remembered from an earlier run (viewstate), 0 when never measured. */
double spn_window_training_rate(SpnWindow *win);
SpnFigureView *spn_window_view(SpnWindow *win, SpnFigureKind kind);
GSimpleAction *spn_window_action(SpnWindow *win, const char *name);
void spn_window_toast(SpnWindow *win, const char *text);
/* A toast that stays long enough to read, and the "worker-error" signal. */
void spn_window_report_error(SpnWindow *win, const char *text);
void spn_window_update_title(SpnWindow *win);
void spn_window_show_training(SpnWindow *win, gboolean training);
/* A single step was asked for: busy until it comes. */
void spn_window_show_stepping(SpnWindow *win);
/* Selections refused when out of the model's range (head −1: all heads). */
gboolean spn_window_select_layer(SpnWindow *win, int layer);
gboolean spn_window_select_head(SpnWindow *win, int head);
/* Selects token `query` of the inspector's text (−1: none); refused unless the current model's
 * reading of the text has that token. */
gboolean spn_window_select_query(SpnWindow *win, int query);
void spn_window_set_probe_text(SpnWindow *win, const char *text);
/* Another model or text: the selected query means nothing there. */
void spn_window_forget_query(SpnWindow *win);

/* window-actions.c */
void spn_window_add_actions(SpnWindow *win);
/* A fresh model of the named preset on corpus. */
void spn_window_new_model(SpnWindow *win, const char *preset, const char *corpus);
void spn_window_open(SpnWindow *win, const char *path);
void spn_window_show_export_dialog(SpnWindow *win, const gboolean selected[SPN_FIGURE_COUNT]);
/* Steps trained since the user's file was saved or opened (a new model has none). */
gboolean spn_window_has_unsaved_steps(SpnWindow *win);
/* The worker's answer to a new model: the New model dialog waiting for it closes, or shows
 * the error (TRUE: the dialog took the error, no toast needed). */
gboolean spn_window_model_created(SpnWindow *win, const GError *error);

/* window-follow.c */
/* Open and Follow of any checkpoint: a reference .pt asks for its data folder and flags. */
void spn_window_open_any(SpnWindow *win, const char *path);
void spn_window_follow_any(SpnWindow *win, const char *path);
/* A reference .pt with its data folder (NULL: main.py's --data in command_line) and main.py's
 * flags (a command line, may be NULL), opened or followed. */
void spn_window_use_reference(SpnWindow *win, const char *path, gboolean follow,
                              const char *data, const char *command_line);
/* Follows path (a .pt: with data and flags; a spanscope checkpoint: both NULL). */
void spn_window_follow(SpnWindow *win, const char *path, const char *data,
                       const SpnRefFlags *flags);
void spn_window_unfollow(SpnWindow *win);
/* "following run.pt · updated 2 min ago", NULL when not following (g_free). */
char *spn_window_follow_status(SpnWindow *win);

/* window-layout.c */
/* Builds the panes of panels and the inspector into win->layout, win->panels, win->inspector. */
GtkWidget *spn_window_build_layout(SpnWindow *win);
/* Shows panel `kind` alone, or everything when kind < 0. */
void spn_window_set_maximized(SpnWindow *win, int kind);
/* Turns the tabs that hold figure `kind` to it (the figures without tabs are always shown). */
void spn_window_show_figure(SpnWindow *win, SpnFigureKind kind);
/* The panels' options, the splits and the maximized panel as last chosen; changes are kept. */
void spn_window_remember_view(SpnWindow *win);

/* session.c */
void spn_session_start(SpnWindow *win);
void spn_session_stop(SpnWindow *win);
gboolean spn_session_is_autosave(SpnWindow *win, const char *path);
/* Takes the messages about the autosave; FALSE for the others. */
gboolean spn_session_take_message(SpnWindow *win, const SpnWorkerMessage *m);
/* TRUE keeps the window open (its autosave is under way, or failed and said so). */
gboolean spn_session_close_request(SpnWindow *win);

/* recent.c */
void spn_recent_add(const char *path);
/* Keeps menu listing the recent checkpoints still on disk, newest first, as win.open-file. */
void spn_recent_follow(GMenu *menu);

G_END_DECLS
