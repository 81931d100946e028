/* soak.c — the window over time (issue 13): the real application trains the desktop model on the
 * bundled corpus while a script types into the inspector every 2 s (once the text has grown by
 * --text-growth characters it is set back to what it held at first, as a paste would: the
 * reading's memory follows the text's length, so a text that kept growing would make a slope of
 * its own), switches layer and head every 7 s, and exports a PNG or an SVG
 * of every figure every 60 s. Measured:
 *   - the main thread's longest stall: a 10 ms timer notes every gap between its ticks beyond
 *     its period (a stall anywhere in the main loop delays it); the export action writes its
 *     file before it returns, so its time is measured and reported apart. The limit applies to
 *     the gap less the time the main thread waited for a core while runnable (the kernel's
 *     /proc/thread-self/schedstat): on a machine shared with other work that wait is the
 *     machine's, not the window's; the whole gap is reported beside it;
 *   - the resident memory, sampled every --sample seconds; its slope after --warmup seconds, by
 *     least squares, in MB per hour.
 * Prints TAP (no stall > 250 ms; RSS slope below --max-slope MB/h, not judged when it is 0, as in
 * the suite's short run, whose young model still grows its spans) and one JSON line with the
 * figures. Runs under xvfb-run; without a display it skips.
 *   soak [--seconds 150] [--sample 5] [--warmup 45] [--max-slope 60] [--text-growth 100]
 * The 30-minute run of bench/README.md: soak --seconds 1800 --sample 30 --warmup 300 */
#include <fcntl.h>
#include <glib/gstdio.h>
#include <gtk/gtk.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "application.h"
#include "fixtures.h"
#include "inspector.h"
#include "trainer.h"

#define TICK_MS 10
#define STALL_LIMIT_MS 250.0

static struct {
  int seconds, sample, warmup, text_growth;
  double max_slope;
} opt = {150, 5, 45, 100, 60.0};

static GtkWidget *win;
static char *tmpdir;
static gint64 last_tick, started;
static double worst_stall_ms, worst_own_stall_ms;
static int stalls_over_100, stalls_over_limit;
static int schedstat_fd = -1;
static gint64 last_wait_ns;
static const char *last_action = "start";
static double worst_stall_at_s;
static const char *worst_stall_after;
static GArray *rss_t, *rss_mb;
static int typed, switches, exports, layers = 1, heads = 1;
static double worst_dispatch_ms; /* the window's own account of handing a snapshot to the views */
static double worst_export_ms;   /* an export runs on the main thread until the file is written */

static void
on_dispatched(GtkWidget *w, double ms, gpointer data)
{
  (void)w, (void)data;
  worst_dispatch_ms = MAX(worst_dispatch_ms, ms);
}

static double
now_s(void)
{
  return (g_get_monotonic_time() - started) / 1e6;
}

static double
rss_now_mb(void)
{
  g_autofree char *status = NULL;
  if (!g_file_get_contents("/proc/self/status", &status, NULL, NULL))
    return 0;
  const char *line = strstr(status, "VmRSS:");
  return line ? g_ascii_strtod(line + 6, NULL) / 1024.0 : 0;
}

/* Nanoseconds the main thread has spent runnable but waiting for a core (0 when the kernel does
 * not say: then the whole gap counts). */
static gint64
runqueue_wait_ns(void)
{
  if (schedstat_fd < 0)
    return 0;
  char buf[128];
  ssize_t n = pread(schedstat_fd, buf, sizeof buf - 1, 0);
  long long run_ns, wait_ns;
  if (n <= 0)
    return 0;
  buf[n] = '\0';
  return sscanf(buf, "%lld %lld", &run_ns, &wait_ns) == 2 ? wait_ns : 0;
}

static gboolean
on_tick(gpointer data)
{
  (void)data;
  gint64 t = g_get_monotonic_time(), wait_ns = runqueue_wait_ns();
  double gap_ms = (t - last_tick) / 1000.0 - TICK_MS;
  double own_ms = gap_ms - (wait_ns - last_wait_ns) / 1e6;
  last_tick = t;
  last_wait_ns = wait_ns;
  if (gap_ms > 100)
    stalls_over_100++;
  if (own_ms > STALL_LIMIT_MS)
    stalls_over_limit++;
  worst_own_stall_ms = MAX(worst_own_stall_ms, own_ms);
  if (gap_ms > worst_stall_ms) {
    worst_stall_ms = gap_ms;
    worst_stall_at_s = now_s();
    worst_stall_after = last_action;
  }
  return G_SOURCE_CONTINUE;
}

static gboolean
on_sample(gpointer data)
{
  (void)data;
  double t = now_s(), mb = rss_now_mb();
  g_array_append_val(rss_t, t);
  g_array_append_val(rss_mb, mb);
  return G_SOURCE_CONTINUE;
}

static GtkTextBuffer *
inspector_buffer(void)
{
  GtkWidget *stack[64];
  int n = 0;
  stack[n++] = win;
  while (n > 0) {
    GtkWidget *w = stack[--n];
    if (GTK_IS_TEXT_VIEW(w) && gtk_widget_get_ancestor(w, SPN_TYPE_INSPECTOR) != NULL)
      return gtk_text_view_get_buffer(GTK_TEXT_VIEW(w));
    for (GtkWidget *c = gtk_widget_get_first_child(w); c && n < 64; c = gtk_widget_get_next_sibling(c))
      stack[n++] = c;
  }
  return NULL;
}

static gboolean
on_type(gpointer data)
{
  (void)data;
  static const char *words[] = {"Charity ", "suffereth ", "long, ", "and ", "is ", "kind; ",
                                "charity ", "envieth ", "not.\n"};
  static char *first_text;
  static int first_len;
  GtkTextBuffer *b = inspector_buffer();
  if (b == NULL)
    return G_SOURCE_CONTINUE;
  last_action = "typing";
  GtkTextIter start, end;
  gtk_text_buffer_get_bounds(b, &start, &end);
  if (first_text == NULL) {
    first_text = gtk_text_buffer_get_text(b, &start, &end, FALSE);
    first_len = gtk_text_buffer_get_char_count(b);
  } else if (gtk_text_buffer_get_char_count(b) > first_len + opt.text_growth)
    gtk_text_buffer_set_text(b, first_text, -1);
  gtk_text_buffer_get_end_iter(b, &end);
  gtk_text_buffer_insert(b, &end, words[typed++ % G_N_ELEMENTS(words)], -1);
  return G_SOURCE_CONTINUE;
}

static void
read_shape(void)
{
  g_autoptr(GVariant) v = g_action_group_get_action_state(G_ACTION_GROUP(win), "status");
  GVariantDict d;
  g_variant_dict_init(&d, v);
  g_variant_dict_lookup(&d, "nlayers", "i", &layers);
  g_variant_dict_lookup(&d, "nheads", "i", &heads);
  g_variant_dict_clear(&d);
}

static gboolean
on_switch(gpointer data)
{
  (void)data;
  read_shape();
  last_action = "layer/head switch";
  int k = switches++;
  g_action_group_change_action_state(G_ACTION_GROUP(win), "layer",
                                     g_variant_new_int32(k % MAX(layers, 1)));
  g_action_group_change_action_state(G_ACTION_GROUP(win), "head",
                                     g_variant_new_int32(k % (MAX(heads, 1) + 1) - 1));
  return G_SOURCE_CONTINUE;
}

static gboolean
on_export(gpointer data)
{
  (void)data;
  static const char *all[] = {"spans", "history", "masks", "attention", "curves", NULL};
  g_autofree char *path = g_build_filename(tmpdir, exports % 2 ? "soak.svg" : "soak.png", NULL);
  last_action = exports % 2 ? "SVG export" : "PNG export";
  exports++;
  gint64 t0 = g_get_monotonic_time();
  g_action_group_activate_action(G_ACTION_GROUP(win), "export-to",
                                 g_variant_new("(s^asddd)", path, all, 1600.0, 1000.0, 1.0));
  /* the window writes the file before the action returns: counted apart from the stalls */
  gint64 t1 = g_get_monotonic_time();
  worst_export_ms = MAX(worst_export_ms, (t1 - t0) / 1000.0);
  last_tick += t1 - t0;
  return G_SOURCE_CONTINUE;
}

/* Least-squares slope of the samples after the warm-up, in MB per hour. */
static double
rss_slope(int *n_used)
{
  double st = 0, sm = 0, stt = 0, stm = 0;
  int n = 0;
  for (guint i = 0; i < rss_t->len; i++) {
    double t = g_array_index(rss_t, double, i), m = g_array_index(rss_mb, double, i);
    if (t < opt.warmup)
      continue;
    st += t, sm += m, stt += t * t, stm += t * m;
    n++;
  }
  *n_used = n;
  double den = n * stt - st * st;
  return n >= 2 && den > 0 ? (n * stm - st * sm) / den * 3600.0 : 0.0;
}

static char *
desktop_checkpoint(void)
{
  SpnConfig c;
  spn_config_init_desktop(&c);
  c.threads = 1; /* the machine is shared; the window must stay smooth anyway */
  g_autoptr(GError) error = NULL;
  SpnCorpus *corpus = spn_corpus_load(NULL, NULL, &error);
  SpnTrainer *t = corpus ? spn_trainer_new(&c, corpus, &error) : NULL;
  if (t == NULL)
    g_error("soak: %s", error->message);
  char *path = g_build_filename(tmpdir, "desktop.safetensors", NULL);
  if (!spn_trainer_save(t, path, &error))
    g_error("soak: %s", error->message);
  spn_trainer_free(t);
  return path;
}

static void
remove_tree(const char *path)
{
  GDir *dir = g_dir_open(path, 0, NULL);
  const char *name;
  while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
    g_autofree char *child = g_build_filename(path, name, NULL);
    if (g_file_test(child, G_FILE_TEST_IS_DIR))
      remove_tree(child);
    else
      g_unlink(child);
  }
  if (dir != NULL)
    g_dir_close(dir);
  g_rmdir(path);
}

static gboolean
ready(void)
{
  g_autoptr(GVariant) v = g_action_group_get_action_state(G_ACTION_GROUP(win), "status");
  gboolean r = FALSE;
  g_variant_lookup(v, "ready", "b", &r);
  return r;
}

static gint64
step_now(void)
{
  g_autoptr(GVariant) v = g_action_group_get_action_state(G_ACTION_GROUP(win), "status");
  gint64 s = 0;
  g_variant_lookup(v, "step", "x", &s);
  return s;
}

int
main(int argc, char **argv)
{
  GOptionEntry entries[] = {
    {"seconds", 0, 0, G_OPTION_ARG_INT, &opt.seconds, "How long (default 150)", "S"},
    {"sample", 0, 0, G_OPTION_ARG_INT, &opt.sample, "RSS sample period (default 5)", "S"},
    {"warmup", 0, 0, G_OPTION_ARG_INT, &opt.warmup, "Samples before this are left out (45)", "S"},
    {"max-slope", 0, 0, G_OPTION_ARG_DOUBLE, &opt.max_slope, "RSS slope limit, MB/h (60; 0: not judged)", "M"},
    {"text-growth", 0, 0, G_OPTION_ARG_INT, &opt.text_growth,
     "Characters typed before the text is set back (100)", "N"},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("- the window over time");
  g_option_context_add_main_entries(ctx, entries, NULL);
  if (!g_option_context_parse(ctx, &argc, &argv, NULL) || opt.seconds < 10 || opt.sample < 1 ||
      opt.text_growth < 1)
    return 2;
  tmpdir = spn_test_isolate_environment("spanscope-soak-XXXXXX");
  g_set_application_name("spanscope");
  if (!gtk_init_check()) {
    printf("1..0 # SKIP no display: run under xvfb-run\n");
    remove_tree(tmpdir);
    return 0;
  }
  g_autofree char *checkpoint = desktop_checkpoint();
  SpnApplication *app = spn_application_new();
  g_application_set_flags(G_APPLICATION(app),
                          g_application_get_flags(G_APPLICATION(app)) | G_APPLICATION_NON_UNIQUE);
  g_assert_true(g_application_register(G_APPLICATION(app), NULL, NULL));
  g_autoptr(GFile) model = g_file_new_for_path(checkpoint);
  g_application_open(G_APPLICATION(app), &model, 1, "");
  GList *windows = gtk_application_get_windows(GTK_APPLICATION(app));
  win = windows ? windows->data : NULL;
  g_assert_nonnull(win);
  gint64 deadline = g_get_monotonic_time() + 300 * G_USEC_PER_SEC;
  while (!ready() && g_get_monotonic_time() < deadline)
    g_main_context_iteration(NULL, TRUE);
  g_assert_true(ready());
  read_shape();
  g_action_group_change_action_state(G_ACTION_GROUP(win), "train", g_variant_new_boolean(TRUE));

  rss_t = g_array_new(FALSE, FALSE, sizeof(double));
  rss_mb = g_array_new(FALSE, FALSE, sizeof(double));
  schedstat_fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
  last_wait_ns = runqueue_wait_ns();
  started = last_tick = g_get_monotonic_time();
  gint64 first_step = step_now();
  g_signal_connect(win, "snapshot-dispatched", G_CALLBACK(on_dispatched), NULL);
  guint sources[] = {
    g_timeout_add(TICK_MS, on_tick, NULL),      g_timeout_add_seconds(opt.sample, on_sample, NULL),
    g_timeout_add(2000, on_type, NULL),         g_timeout_add(7000, on_switch, NULL),
    g_timeout_add(60000, on_export, NULL),
  };
  on_sample(NULL);
  gint64 end = started + (gint64)opt.seconds * G_USEC_PER_SEC;
  while (g_get_monotonic_time() < end)
    g_main_context_iteration(NULL, TRUE);
  on_sample(NULL);
  for (guint i = 0; i < G_N_ELEMENTS(sources); i++)
    g_source_remove(sources[i]);
  gint64 steps = step_now() - first_step;

  int n_used;
  double slope = rss_slope(&n_used);
  double first = g_array_index(rss_mb, double, 0), last = g_array_index(rss_mb, double, rss_mb->len - 1);
  printf("ok 1 - %d s, %" G_GINT64_FORMAT " steps: longest main-thread stall %.0f ms (at %.0f s, "
         "after %s), %d stalls over 100 ms; longest snapshot dispatch %.1f ms; longest export "
         "(synchronous, not counted as a stall) %.0f ms\n",
         opt.seconds, steps, worst_stall_ms, worst_stall_at_s, worst_stall_after, stalls_over_100,
         worst_dispatch_ms, worst_export_ms);
  if (opt.max_slope > 0) {
    gboolean flat = slope < opt.max_slope;
    printf("%s 2 - RSS %.1f MB -> %.1f MB, slope after %d s %.1f MB/h over %d samples (limit "
           "%.0f)\n", flat ? "ok" : "not ok", first, last, opt.warmup, slope, n_used,
           opt.max_slope);
  } else {
    /* a short run's model is young: its spans, and the reading's memory they size, still grow */
    printf("ok 2 - RSS %.1f MB -> %.1f MB, slope after %d s %.1f MB/h over %d samples # SKIP "
           "not judged (--max-slope 0): a young model's spans still grow\n",
           first, last, opt.warmup, slope, n_used);
  }
  printf("%s 3 - no stall longer than %.0f ms besides waiting for a core (longest %.0f ms%s)\n",
         stalls_over_limit == 0 ? "ok" : "not ok", STALL_LIMIT_MS, worst_own_stall_ms,
         schedstat_fd < 0 ? ", schedstat unavailable: whole gaps" : "");
  printf("1..3\n");
  printf("# {\"seconds\": %d, \"steps\": %" G_GINT64_FORMAT ", \"typed\": %d, \"switches\": %d, "
         "\"exports\": %d, \"worst_stall_ms\": %.1f, \"worst_own_stall_ms\": %.1f, "
         "\"stalls_over_100ms\": %d, "
         "\"worst_dispatch_ms\": %.1f, \"worst_export_ms\": %.1f, "
         "\"rss_first_mb\": %.1f, \"rss_last_mb\": %.1f, \"rss_slope_mb_per_h\": %.2f}\n",
         opt.seconds, steps, typed, switches, exports, worst_stall_ms, worst_own_stall_ms,
         stalls_over_100, worst_dispatch_ms, worst_export_ms, first, last, slope);
  printf("# rss samples (s, MB):");
  for (guint i = 0; i < rss_t->len; i++)
    printf(" %.0f:%.1f", g_array_index(rss_t, double, i), g_array_index(rss_mb, double, i));
  printf("\n");
  fflush(stdout);
  gtk_window_destroy(GTK_WINDOW(win));
  while (g_main_context_iteration(NULL, FALSE))
    ;
  g_object_unref(app);
  remove_tree(tmpdir);
  return 0;
}
