/* inspector.c — SpnInspector: a text view tinted by the model's reading of its text.
 *
 * Two tints (tint.h), surprisal and the query's attention weights, each retinting only the
 * characters whose level changed, the visible ones first. A reading is used only when its text
 * equals the buffer's: until the reading catches up with the typing, the old tint stays (tags
 * move with the text they are on). Newer readings of the same text, which training brings five
 * times a second, are taken up once a second. */
#include "inspector.h"

#include <math.h>
#include <string.h>

#include "figures.h"
#include "tint.h"

#define SPN_LEVELS SPN_TINT_LEVELS
#define SPN_SURPRISAL_MAX 8.0   /* bits at the strongest tint */
#define SPN_OPAQUE_LEVEL 8      /* weight levels from here on are opaque, with a chosen ink */

/* ---- the text view, which outlines the query character ---- */

#define SPN_TYPE_INSPECTOR_TEXT (spn_inspector_text_get_type())
G_DECLARE_FINAL_TYPE(SpnInspectorText, spn_inspector_text, SPN, INSPECTOR_TEXT, GtkTextView)

struct _SpnInspectorText {
  GtkTextView parent_instance;
  int outline;  /* character offset outlined, −1 none */
};

G_DEFINE_TYPE(SpnInspectorText, spn_inspector_text, GTK_TYPE_TEXT_VIEW)

static void
spn_inspector_text_snapshot_layer(GtkTextView *view, GtkTextViewLayer layer, GtkSnapshot *snap)
{
  SpnInspectorText *self = SPN_INSPECTOR_TEXT(view);
  GtkTextIter iter;
  GdkRectangle r;
  GdkRGBA ink;
  if (layer != GTK_TEXT_VIEW_LAYER_ABOVE_TEXT || self->outline < 0)
    return;
  gtk_text_buffer_get_iter_at_offset(gtk_text_view_get_buffer(view), &iter, self->outline);
  gtk_text_view_get_iter_location(view, &iter, &r);
  if (r.width <= 0)  /* a newline has no width: outline a narrow box where it is */
    r.width = MAX(r.height / 3, 2);
  gtk_style_context_get_color(gtk_widget_get_style_context(GTK_WIDGET(view)), &ink);
  GskRoundedRect box;
  /* drawn just outside the glyph's box, so the outline never covers the character */
  gsk_rounded_rect_init_from_rect(
      &box, &GRAPHENE_RECT_INIT(r.x - 2, r.y - 1, r.width + 4, r.height + 2), 3);
  const float widths[4] = {2, 2, 2, 2};
  const GdkRGBA colors[4] = {ink, ink, ink, ink};
  gtk_snapshot_append_border(snap, &box, widths, colors);
}

static void
spn_inspector_text_class_init(SpnInspectorTextClass *klass)
{
  GTK_TEXT_VIEW_CLASS(klass)->snapshot_layer = spn_inspector_text_snapshot_layer;
}

static void
spn_inspector_text_init(SpnInspectorText *self)
{
  self->outline = -1;
}

static void
set_outline(SpnInspectorText *view, int offset)
{
  if (view->outline == offset)
    return;
  view->outline = offset;
  gtk_widget_queue_draw(GTK_WIDGET(view));
}

/* ---- the inspector ---- */

struct _SpnInspector {
  GtkWidget parent_instance;
  SpnInspectorText *view;
  GtkTextBuffer *buffer;
  GtkTextMark *query_mark;
  GtkWidget *legend_caption, *legend_low, *legend_bar, *legend_high, *status;
  SpnTint *surprisal, *weights;  /* weight tags are created last: they win where both apply */
  GtkTextTag *unknown;    /* characters the model's vocabulary lacks (read as <unk>) */
  gboolean unknown_shown; /* the tag is on some character */
  SpnSnapshot *snapshot;  /* the latest, even when it read an older text */
  char *text;             /* the buffer's text, kept on every change */
  int *token_char;        /* per token of the snapshot's probe: the character it starts in */
  gboolean matched;       /* token_char describes the buffer's text */
  gboolean weights_shown; /* a query's weights shown, surprisal tint hidden */
  gboolean surprisal_hidden; /* the surprisal tags' backgrounds are switched off */
  gint64 tinted_at;       /* when a reading was last taken up (monotonic µs) */
  guint deferred;         /* takes up the newest reading once SPN_READING_INTERVAL_US passed */
  int layer, head, query; /* query: a token, −1 none */
  gboolean pending_click; /* a primary press without modifiers, not yet released */
  double press_x, press_y;
  gboolean setting_text;
};

enum { SIGNAL_TEXT_CHANGED, SIGNAL_QUERY_SELECTED, SIGNAL_RESET_REQUESTED, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_TYPE(SpnInspector, spn_inspector, GTK_TYPE_WIDGET)

static void update_legend(SpnInspector *self);

/* ---- tags ---- */

/* Surprisal: one warm hue growing stronger; translucent, so it reads on light and dark themes. */
static void
surprisal_color(int level, GdkRGBA *bg, GdkRGBA *ink, gboolean *has_ink)
{
  double t = (double)level / (SPN_LEVELS - 1);
  *bg = (GdkRGBA){1.0, 0.47, 0.0, 0.08 + 0.62 * t};
  *ink = (GdkRGBA){0, 0, 0, 1};
  *has_ink = FALSE;
}

/* Weights: the heatmap's colour map. Weak weights are translucent so the text stays readable;
 * strong ones are opaque and get black or white ink, whichever contrasts. */
static void
weight_color(int level, GdkRGBA *bg, GdkRGBA *ink, gboolean *has_ink)
{
  double t = (double)level / (SPN_LEVELS - 1), rgb[3];
  spn_colormap_rgb(SPN_COLORMAP_VIRIDIS, t, rgb);
  gboolean opaque = level >= SPN_OPAQUE_LEVEL;
  *bg = (GdkRGBA){rgb[0], rgb[1], rgb[2], opaque ? 1.0 : 0.2 + 0.5 * t};
  double luminance = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2];
  *ink = luminance > 0.4 ? (GdkRGBA){0, 0, 0, 1} : (GdkRGBA){1, 1, 1, 1};
  *has_ink = opaque;
}

/* The characters on screen, as offsets [*from, *to). */
static void
visible_chars(SpnInspector *self, int *from, int *to)
{
  GtkTextView *view = GTK_TEXT_VIEW(self->view);
  GdkRectangle r;
  GtkTextIter a, b;
  int top;
  gtk_text_view_get_visible_rect(view, &r);
  gtk_text_view_get_line_at_y(view, &a, r.y, &top);
  gtk_text_view_get_line_at_y(view, &b, r.y + r.height, &top);
  gtk_text_iter_forward_line(&b);
  *from = gtk_text_iter_get_offset(&a);
  *to = gtk_text_iter_get_offset(&b);
}

static void
retint(SpnInspector *self, SpnTint *t, guint8 *want, int nchars)
{
  int from, to;
  visible_chars(self, &from, &to);
  spn_tint_start(t, want, nchars, from, to);
}

/* ---- surprisal ---- */

/* Token i stands for a character the vocabulary lacks: the model reads <unk> there, so its
 * surprisal says nothing about the character. */
static gboolean
token_unknown(const SpnSnapshot *s, int i)
{
  return s->vocab == SPN_VOCAB_CHARS && s->probe->tokens[i] == 0;
}

/* Marks the unknown characters (a dotted underline, dimmed) and leaves them untinted. */
static void
mark_unknown(SpnInspector *self)
{
  const SpnProbe *p = self->snapshot->probe;
  GtkTextIter a, b;
  if (self->unknown_shown) {
    gtk_text_buffer_get_bounds(self->buffer, &a, &b);
    gtk_text_buffer_remove_tag(self->buffer, self->unknown, &a, &b);
  }
  self->unknown_shown = FALSE;
  for (int i = 0; i < p->n; i++)
    if (token_unknown(self->snapshot, i)) {
      gtk_text_buffer_get_iter_at_offset(self->buffer, &a, self->token_char[i]);
      b = a;
      gtk_text_iter_forward_char(&b);
      gtk_text_buffer_apply_tag(self->buffer, self->unknown, &a, &b);
      self->unknown_shown = TRUE;
    }
}

/* The characters' surprisal (a character of several byte tokens sums their bits). */
static void
tint_surprisal(SpnInspector *self)
{
  const SpnProbe *p = self->snapshot->probe;
  int nchars = gtk_text_buffer_get_char_count(self->buffer);
  double *bits = g_new0(double, MAX(nchars, 1));
  guint8 *want = g_new0(guint8, MAX(nchars, 1));
  for (int i = 0; i < p->n; i++)
    if (self->token_char[i] < nchars && isfinite(p->surprisal[i]) &&
        !token_unknown(self->snapshot, i))
      bits[self->token_char[i]] += p->surprisal[i];
  for (int c = 0; c < nchars; c++)
    want[c] = spn_tint_wanted(self->surprisal, nchars, c,
                              bits[c] / SPN_SURPRISAL_MAX * (SPN_LEVELS - 1));
  g_free(bits);
  retint(self, self->surprisal, want, nchars);
}

/* ---- attention weights of the query ---- */

static const SpnProbeHead *
selected_head(SpnInspector *self)
{
  const SpnProbe *p = self->snapshot ? self->snapshot->probe : NULL;
  int head = MAX(self->head, 0);
  if (!p || self->layer < 0 || self->layer >= p->nlayers || head >= p->nheads)
    return NULL;
  return &p->heads[self->layer * p->nheads + head];
}

static gboolean
query_valid(SpnInspector *self)
{
  return self->matched && self->query >= 0 && self->query < self->snapshot->probe->n &&
         selected_head(self) != NULL;
}

/* Touches the tags only on a change: setting a tag property, even to the value it has, makes
 * the text view redisplay all the text (about 1 ms of main thread per snapshot in training). */
static void
set_surprisal_visible(SpnInspector *self, gboolean visible)
{
  if (self->surprisal_hidden == !visible)
    return;
  self->surprisal_hidden = !visible;
  for (int l = 1; l < SPN_LEVELS; l++)
    g_object_set(spn_tint_tag(self->surprisal, l), "background-set", visible, NULL);
}

/* The wanted weight levels of the characters before the query: the head's weight on each,
 * relative to the strongest. Returns the query's character. */
static int
weight_levels(SpnInspector *self, guint8 *want, int nchars)
{
  const SpnProbeHead *hd = selected_head(self);
  const float *row = hd->weights + (gsize)self->query * hd->window;
  int back = MIN(self->query, hd->window);
  int first = self->token_char[self->query - back], last = self->token_char[self->query];
  double *w = g_new0(double, last - first + 1), wmax = 0;
  for (int d = 1; d <= back; d++)
    w[self->token_char[self->query - d] - first] += row[d - 1];
  for (int c = first; c < last; c++)
    wmax = MAX(wmax, w[c - first]);
  /* the query itself is never attended: it stays untinted, outlined */
  for (int c = first; c < last && wmax > 0; c++)
    want[c] = spn_tint_wanted(self->weights, nchars, c, w[c - first] / wmax * (SPN_LEVELS - 1));
  g_free(w);
  return last;
}

/* Highlights the characters before the query by the head's weight on them and outlines the
 * query, or clears the highlight when no query is valid. The surprisal tint is hidden
 * meanwhile: two tints on one character would read as neither. */
static void
show_weights(SpnInspector *self)
{
  int nchars = gtk_text_buffer_get_char_count(self->buffer), outline = -1;
  guint8 *want = g_new0(guint8, MAX(nchars, 1));
  self->weights_shown = query_valid(self);
  if (self->weights_shown)
    outline = weight_levels(self, want, nchars);
  set_surprisal_visible(self, !self->weights_shown);
  set_outline(self->view, outline);
  retint(self, self->weights, want, nchars);
}

/* ---- status line ---- */

/* The query's text, quoted so that blanks show. */
static char *
token_text(const SpnSnapshot *s, int i)
{
  const SpnProbe *p = s->probe;
  gsize from = p->offsets[i], to = i + 1 < p->n ? p->offsets[i + 1] : strlen(s->text);
  char *raw = g_strndup(s->text + from, to - from);
  char *shown = g_str_equal(raw, "\n") ? g_strdup("\\n")
                : g_str_equal(raw, "\t") ? g_strdup("\\t")
                : g_utf8_validate(raw, -1, NULL) ? g_strdup(raw)
                : g_strdup_printf("\\x%02x", (guint8)raw[0]);
  g_free(raw);
  return shown;
}

static char *
query_status(SpnInspector *self)
{
  const SpnSnapshot *s = self->snapshot;
  const SpnProbeHead *hd = selected_head(self);
  int q = self->query, head = MAX(self->head, 0);
  float span_chars = s->probe->spans[self->layer * s->probe->nheads + head];
  int span = isfinite(span_chars) ? MAX(1, (int)ceil(MIN(span_chars, s->cfg.attn_span)))
                                   : s->cfg.attn_span;
  /* a copying head's weight sits on its ramp, past the span: say how much, or it reads as 0 % */
  int ramp_end = s->cfg.adapt_span ? span + s->cfg.adapt_span_ramp : span;
  const float *row = hd->weights + (gsize)q * hd->window;
  double within = 0, ramp = 0;
  for (int d = 1; d <= MIN(MIN(ramp_end, q), hd->window); d++)
    *(d <= span ? &within : &ramp) += row[d - 1];
  char *ch = token_text(s, q);
  GString *out = g_string_new(NULL);
  g_string_append_printf(out,
                         "query '%s' #%d, layer %d head %d: %.0f %% of the weight within its span "
                         "(%d character%s)",
                         ch, q, self->layer, head, 100 * within, span, span == 1 ? "" : "s");
  if (ramp_end > span)
    g_string_append_printf(out, ", %.0f %% on its ramp to %d", 100 * ramp, ramp_end);
  g_string_append_printf(out, ", %.0f %% before the text", 100 * hd->before_start[q]);
  if (s->cfg.pers_mem_size > 0)
    g_string_append_printf(out, ", %.0f %% on persistent memory", 100 * hd->persistent[q]);
  g_string_append(out, ". Escape shows the surprisal again.");
  g_free(ch);
  return g_string_free(out, FALSE);
}

static char *
reading_status(SpnInspector *self)
{
  const SpnProbe *p = self->snapshot->probe;
  double sum = 0;
  int counted = 0, unknown = 0;
  for (int i = 0; i < p->n; i++)
    if (token_unknown(self->snapshot, i))
      unknown++;
    else if (isfinite(p->surprisal[i])) {
      sum += p->surprisal[i];
      counted++;
    }
  if (counted == 0 && unknown == 0)
    return g_strdup("Type some text: the model reads it as you type.");
  g_autofree char *left_out =
      unknown > 0 ? g_strdup_printf(" (%d not in the model's vocabulary, left out, underlined)",
                                    unknown)
                  : g_strdup("");
  return g_strdup_printf("%d characters%s, %.2f bits each on average. Click a character to see "
                         "where layer %d head %d looked from it.",
                         p->n, left_out, counted ? sum / counted : 0.0, self->layer,
                         MAX(self->head, 0));
}

static void
update_status(SpnInspector *self)
{
  char *text;
  if (self->snapshot && !self->snapshot->probe && self->snapshot->reading)
    text = g_strdup("Reading the text\u2026");
  else if (!self->snapshot || !self->snapshot->probe)
    text = g_strdup("No model has read this text yet: start training or open a model.");
  else if (!self->matched)   /* the reading lags the typing: the last one is described */
    text = reading_status(self);
  else if (query_valid(self))
    text = query_status(self);
  else
    text = reading_status(self);
  gtk_inscription_set_text(GTK_INSCRIPTION(self->status), text);
  g_free(text);
}

/* ---- readings ---- */

/* For every token, the character its first byte lies in. */
static void
map_tokens(SpnInspector *self)
{
  const SpnProbe *p = self->snapshot->probe;
  const char *text = self->snapshot->text, *c = text, *end = text + strlen(text);
  int ci = 0;
  g_free(self->token_char);
  self->token_char = g_new(int, MAX(p->n, 1));
  for (int i = 0; i < p->n; i++) {
    const char *t = text + p->offsets[i];
    while (c < end) {
      const char *next = g_utf8_next_char(c);
      if (next > t)
        break;
      c = next;
      ci++;
    }
    self->token_char[i] = ci;
  }
}

/* The token starting in character c, −1 when none (or the reading is of another text). */
static int
token_at_char(SpnInspector *self, int c)
{
  if (!self->matched)
    return -1;
  int lo = 0, hi = self->snapshot->probe->n;  /* first token with token_char ≥ c */
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (self->token_char[mid] < c)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < self->snapshot->probe->n && self->token_char[lo] == c ? lo : -1;
}

/* Takes up the latest reading if it is of the buffer's text. */
static void
refresh(SpnInspector *self)
{
  const SpnSnapshot *s = self->snapshot;
  g_clear_handle_id(&self->deferred, g_source_remove);
  self->matched = s && s->probe && s->text && g_str_equal(s->text, self->text);
  if (self->matched) {
    self->tinted_at = g_get_monotonic_time();
    map_tokens(self);
    mark_unknown(self);
    tint_surprisal(self);
    show_weights(self);
  }
  update_status(self);
  update_legend(self);
}

/* While training, a new reading of the same text comes five times a second and moves hundreds
 * of characters by a tint level, and each retint costs the main thread tag changes and a new
 * layout of the text it touches. Such readings are taken up at most this often; a reading of
 * new text, a head or a query is shown at once. */
#define SPN_READING_INTERVAL_US (G_USEC_PER_SEC)

static gboolean
on_deferred_reading(gpointer data)
{
  SpnInspector *self = data;
  self->deferred = 0;
  refresh(self);
  return G_SOURCE_REMOVE;
}

/* Whether s is a newer reading of the text already shown tinted. */
static gboolean
rereads_shown_text(SpnInspector *self, const SpnSnapshot *s)
{
  return self->matched && s && s->probe && s->text && g_str_equal(s->text, self->text);
}

static void
take_reading(SpnInspector *self)
{
  gint64 wait = self->tinted_at + SPN_READING_INTERVAL_US - g_get_monotonic_time();
  if (!rereads_shown_text(self, self->snapshot) || wait <= 0) {
    refresh(self);
    return;
  }
  if (self->deferred == 0)
    self->deferred = g_timeout_add((guint)(wait / 1000) + 1, on_deferred_reading, self);
}

/* ---- buffer changes ---- */

static void select_and_emit(SpnInspector *self, int query);

/* An edit moves the tokens: the query selected names a character that is no longer there. */
static void
forget_query(SpnInspector *self)
{
  if (self->query >= 0)
    select_and_emit(self, -1);
}

static void
on_buffer_changed(GtkTextBuffer *buffer, SpnInspector *self)
{
  GtkTextIter a, b;
  gtk_text_buffer_get_bounds(buffer, &a, &b);
  g_free(self->text);
  self->text = gtk_text_buffer_get_text(buffer, &a, &b, TRUE);
  if (self->setting_text)
    return;
  refresh(self);  /* an undo may bring back the text of the last reading */
  g_signal_emit(self, signals[SIGNAL_TEXT_CHANGED], 0, self->text);
  forget_query(self);
}

/* ---- input ---- */

static void
select_and_emit(SpnInspector *self, int query)
{
  spn_inspector_select_query(self, query);
  g_signal_emit(self, signals[SIGNAL_QUERY_SELECTED], 0, query);
}

static int
char_at_point(SpnInspector *self, double x, double y)
{
  GtkTextView *view = GTK_TEXT_VIEW(self->view);
  GtkTextIter iter;
  int bx, by, trailing;
  gtk_text_view_window_to_buffer_coords(view, GTK_TEXT_WINDOW_WIDGET, (int)x, (int)y, &bx, &by);
  /* _at_position, not _at_location: the latter moves to the next character past the middle of
   * a glyph (a cursor position), the former gives the character under the point. */
  if (!gtk_text_view_get_iter_at_position(view, &iter, &trailing, bx, by))
    return -1;
  return gtk_text_iter_get_offset(&iter);
}

/* The text view claims presses for its cursor and selection, so a click is seen in two
 * parts: the press position here (capture phase, before the view claims it) ... */
static void
on_press(GtkGestureClick *g, int n_press, double x, double y, SpnInspector *self)
{
  GdkModifierType mods = gtk_event_controller_get_current_event_state(GTK_EVENT_CONTROLLER(g));
  /* the click that brings the focus into the text only places the cursor, to type */
  self->pending_click = n_press == 1 && !(mods & (GDK_SHIFT_MASK | GDK_CONTROL_MASK)) &&
                        gtk_widget_has_focus(GTK_WIDGET(self->view));
  self->press_x = x;
  self->press_y = y;
}

/* ... and the release through the raw events, which no claim withholds. A drag that selected
 * text is no click. */
static gboolean
on_raw_event(GtkEventControllerLegacy *c, GdkEvent *event, SpnInspector *self)
{
  (void)c;
  if (gdk_event_get_event_type(event) != GDK_BUTTON_RELEASE || !self->pending_click ||
      gdk_button_event_get_button(event) != GDK_BUTTON_PRIMARY)
    return FALSE;
  self->pending_click = FALSE;
  int token = token_at_char(self, char_at_point(self, self->press_x, self->press_y));
  if (token >= 0 && !gtk_text_buffer_get_has_selection(self->buffer))
    select_and_emit(self, token);
  return FALSE;
}

static gboolean
on_key_pressed(GtkEventControllerKey *c, guint keyval, guint keycode, GdkModifierType state,
               SpnInspector *self)
{
  (void)c, (void)keycode;
  /* Tab leaves the text like any field (no keyboard trap); Ctrl+Tab types a tab */
  if ((keyval == GDK_KEY_Tab || keyval == GDK_KEY_ISO_Left_Tab) && (state & GDK_CONTROL_MASK) &&
      !(state & GDK_SHIFT_MASK)) {
    gtk_text_buffer_insert_interactive_at_cursor(self->buffer, "\t", 1, TRUE);
    return TRUE;
  }
  if (keyval != GDK_KEY_Escape || self->query < 0)
    return FALSE;
  select_and_emit(self, -1);
  return TRUE;
}

/* A character's own numbers: its surprisal and, with a query selected, the weight on it. */
static gboolean
on_query_tooltip(GtkWidget *w, int x, int y, gboolean keyboard, GtkTooltip *tip,
                 SpnInspector *self)
{
  (void)w;
  int token = keyboard ? -1 : token_at_char(self, char_at_point(self, x, y));
  if (token < 0)
    return FALSE;
  const SpnProbe *p = self->snapshot->probe;
  char *ch = token_text(self->snapshot, token);
  GString *text = g_string_new(NULL);
  g_string_append_printf(text, "'%s' #%d: ", ch, token);
  if (token_unknown(self->snapshot, token))
    g_string_append(text, "not in the model's vocabulary (it reads <unk> here)");
  else if (isfinite(p->surprisal[token]))
    g_string_append_printf(text, "%.2f bits", p->surprisal[token]);
  else
    g_string_append(text, "first character, nothing to predict it from");
  if (query_valid(self) && token < self->query) {
    const SpnProbeHead *hd = selected_head(self);
    int d = self->query - token;
    if (d <= hd->window)
      g_string_append_printf(text, "; weight from the query %.3g (distance %d)",
                             hd->weights[(gsize)self->query * hd->window + d - 1], d);
  }
  gtk_tooltip_set_text(tip, text->str);
  g_string_free(text, TRUE);
  g_free(ch);
  return TRUE;
}

static void
add_text_controllers(SpnInspector *self)
{
  GtkWidget *view = GTK_WIDGET(self->view);
  GtkGesture *click = gtk_gesture_click_new();
  gtk_gesture_single_set_button(GTK_GESTURE_SINGLE(click), GDK_BUTTON_PRIMARY);
  gtk_event_controller_set_propagation_phase(GTK_EVENT_CONTROLLER(click), GTK_PHASE_CAPTURE);
  g_signal_connect(click, "pressed", G_CALLBACK(on_press), self);
  gtk_widget_add_controller(view, GTK_EVENT_CONTROLLER(click));

  GtkEventController *raw = gtk_event_controller_legacy_new();
  gtk_event_controller_set_propagation_phase(raw, GTK_PHASE_CAPTURE);
  g_signal_connect(raw, "event", G_CALLBACK(on_raw_event), self);
  gtk_widget_add_controller(view, raw);

  GtkEventController *keys = gtk_event_controller_key_new();
  gtk_event_controller_set_propagation_phase(keys, GTK_PHASE_CAPTURE);
  g_signal_connect(keys, "key-pressed", G_CALLBACK(on_key_pressed), self);
  gtk_widget_add_controller(view, keys);

  gtk_widget_set_has_tooltip(view, TRUE);
  g_signal_connect(view, "query-tooltip", G_CALLBACK(on_query_tooltip), self);
}

/* ---- legend ---- */

static void
draw_legend_bar(GtkDrawingArea *area, cairo_t *cr, int width, int height, gpointer data)
{
  (void)area;
  SpnInspector *self = data;
  const SpnTint *tint = self->weights_shown ? self->weights : self->surprisal;
  double cell = (double)width / (SPN_LEVELS - 1);
  for (int l = 1; l < SPN_LEVELS; l++) {
    gdk_cairo_set_source_rgba(cr, spn_tint_rgba(tint, l));
    cairo_rectangle(cr, (l - 1) * cell, 0, cell + 0.5, height);
    cairo_fill(cr);
  }
}

static void
update_legend(SpnInspector *self)
{
  gboolean weights = self->weights_shown;
  GtkWidget *texts[] = {self->legend_caption, self->legend_low, self->legend_high};
  for (guint i = 0; i < G_N_ELEMENTS(texts); i++)
    gtk_stack_set_visible_child_name(GTK_STACK(texts[i]), weights ? "weights" : "surprisal");
  const char *what = weights ? "Colour scale of the selected head's weight, relative to its "
                               "strongest weight on this text"
                             : "Colour scale of the surprisal in bits per character: "
                               "untinted near 0, strongest at 8 bits or more";
  /* with every reading: only what changed, or the legend is drawn (and described) again */
  const char *was = gtk_widget_get_tooltip_text(self->legend_bar);
  if (g_strcmp0(was, what) == 0)
    return;
  gtk_widget_set_tooltip_text(self->legend_bar, what);
  gtk_accessible_update_property(GTK_ACCESSIBLE(self->legend_bar),
                                 GTK_ACCESSIBLE_PROPERTY_LABEL, what, -1);
  gtk_widget_queue_draw(self->legend_bar);
}

static GtkWidget *
small_label(const char *text, gboolean dim)
{
  GtkWidget *label = gtk_label_new(text);
  PangoAttrList *attrs = pango_attr_list_new();
  pango_attr_list_insert(attrs, pango_attr_scale_new(0.85));
  gtk_label_set_attributes(GTK_LABEL(label), attrs);
  pango_attr_list_unref(attrs);
  if (dim)
    gtk_widget_add_css_class(label, "dim-label");
  return label;
}

/* The legend's text for the surprisal and for a query's weights in one place, as wide as the
 * wider of the two: a legend that grew when a character is selected would widen the window. */
static GtkWidget *
legend_text(const char *surprisal, const char *weights, gboolean dim)
{
  GtkWidget *stack = gtk_stack_new();
  gtk_stack_add_named(GTK_STACK(stack), small_label(surprisal, dim), "surprisal");
  gtk_stack_add_named(GTK_STACK(stack), small_label(weights, dim), "weights");
  return stack;
}

static void
emit_reset(SpnInspector *self)
{
  g_signal_emit(self, signals[SIGNAL_RESET_REQUESTED], 0);
}

static GtkWidget *
build_legend(SpnInspector *self)
{
  GtkWidget *row = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
  self->legend_caption = legend_text("Surprisal", "Weight", FALSE);
  self->legend_low = legend_text("0", "small", TRUE);
  self->legend_high = legend_text("8+ bits", "strongest", TRUE);
  self->legend_bar = gtk_drawing_area_new();
  gtk_drawing_area_set_content_width(GTK_DRAWING_AREA(self->legend_bar), 110);
  gtk_drawing_area_set_content_height(GTK_DRAWING_AREA(self->legend_bar), 10);
  gtk_widget_set_valign(self->legend_bar, GTK_ALIGN_CENTER);
  gtk_drawing_area_set_draw_func(GTK_DRAWING_AREA(self->legend_bar), draw_legend_bar, self,
                                 NULL);
  gtk_box_append(GTK_BOX(row), self->legend_caption);
  gtk_box_append(GTK_BOX(row), self->legend_low);
  gtk_box_append(GTK_BOX(row), self->legend_bar);
  gtk_box_append(GTK_BOX(row), self->legend_high);
  GtkWidget *reset = gtk_button_new_with_label("Reset text");
  gtk_widget_add_css_class(reset, "flat");
  gtk_widget_set_hexpand(reset, TRUE);
  gtk_widget_set_halign(reset, GTK_ALIGN_END);
  gtk_widget_set_tooltip_text(reset, "Replace the text by a passage of the run's validation "
                                     "text, which the model has not trained on");
  g_signal_connect_swapped(reset, "clicked", G_CALLBACK(emit_reset), self);
  gtk_box_append(GTK_BOX(row), reset);
  return row;
}

/* ---- object ---- */

static GtkWidget *
build_view(SpnInspector *self)
{
  GtkTextView *view = GTK_TEXT_VIEW(self->view);
  gtk_text_view_set_monospace(view, TRUE);
  gtk_text_view_set_accepts_tab(view, FALSE);
  gtk_text_view_set_wrap_mode(view, GTK_WRAP_WORD_CHAR);
  gtk_text_view_set_left_margin(view, 6);
  gtk_text_view_set_right_margin(view, 6);
  gtk_text_view_set_top_margin(view, 4);
  gtk_text_view_set_bottom_margin(view, 4);
  gtk_text_view_set_pixels_below_lines(view, 2);  /* room for the query's outline */
  gtk_accessible_update_property(GTK_ACCESSIBLE(view), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                 "Text the model reads", GTK_ACCESSIBLE_PROPERTY_DESCRIPTION,
                                 "Characters are tinted by surprisal; click a character to see "
                                 "where the selected head looked from it, Escape to clear; Tab "
                                 "leaves the text, Ctrl+Tab types a tab",
                                 -1);
  GtkWidget *scroller = gtk_scrolled_window_new();
  gtk_scrolled_window_set_child(GTK_SCROLLED_WINDOW(scroller), GTK_WIDGET(view));
  gtk_scrolled_window_set_policy(GTK_SCROLLED_WINDOW(scroller), GTK_POLICY_NEVER,
                                 GTK_POLICY_AUTOMATIC);
  gtk_widget_set_vexpand(scroller, TRUE);
  return scroller;
}

static void
spn_inspector_dispose(GObject *object)
{
  SpnInspector *self = SPN_INSPECTOR(object);
  GtkWidget *child;
  g_clear_pointer(&self->surprisal, spn_tint_free);
  g_clear_pointer(&self->weights, spn_tint_free);
  g_clear_handle_id(&self->deferred, g_source_remove);
  if (self->buffer)
    g_signal_handlers_disconnect_by_data(self->buffer, self);
  while ((child = gtk_widget_get_first_child(GTK_WIDGET(self))))
    gtk_widget_unparent(child);
  g_clear_pointer(&self->snapshot, spn_snapshot_unref);
  G_OBJECT_CLASS(spn_inspector_parent_class)->dispose(object);
}

static void
spn_inspector_finalize(GObject *object)
{
  SpnInspector *self = SPN_INSPECTOR(object);
  g_free(self->text);
  g_free(self->token_char);
  G_OBJECT_CLASS(spn_inspector_parent_class)->finalize(object);
}

static void
spn_inspector_class_init(SpnInspectorClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
  object_class->dispose = spn_inspector_dispose;
  object_class->finalize = spn_inspector_finalize;
  gtk_widget_class_set_layout_manager_type(widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name(widget_class, "spninspector");
  gtk_widget_class_set_accessible_role(widget_class, GTK_ACCESSIBLE_ROLE_GROUP);

  signals[SIGNAL_TEXT_CHANGED] =
      g_signal_new("text-changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                   NULL, G_TYPE_NONE, 1, G_TYPE_STRING | G_SIGNAL_TYPE_STATIC_SCOPE);
  signals[SIGNAL_QUERY_SELECTED] =
      g_signal_new("query-selected", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                   NULL, NULL, G_TYPE_NONE, 1, G_TYPE_INT);
  signals[SIGNAL_RESET_REQUESTED] =
      g_signal_new("reset-requested", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                   NULL, NULL, G_TYPE_NONE, 0);
}

static void
spn_inspector_init(SpnInspector *self)
{
  self->text = g_strdup("");
  self->query = -1;
  self->view = g_object_new(SPN_TYPE_INSPECTOR_TEXT, NULL);
  self->buffer = gtk_text_view_get_buffer(GTK_TEXT_VIEW(self->view));
  GtkTextIter start;
  gtk_text_buffer_get_start_iter(self->buffer, &start);
  self->query_mark = gtk_text_buffer_create_mark(self->buffer, NULL, &start, TRUE);
  self->surprisal = spn_tint_new(self->buffer, surprisal_color);
  self->weights = spn_tint_new(self->buffer, weight_color);
  self->unknown = gtk_text_buffer_create_tag(self->buffer, "spn-unknown", "underline",
                                             PANGO_UNDERLINE_ERROR, "foreground", "#8a8a8a",
                                             NULL);
  g_signal_connect(self->buffer, "changed", G_CALLBACK(on_buffer_changed), self);
  add_text_controllers(self);

  GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 4);
  /* an inscription, not a label: its size does not follow its text, so a new reading's line
   * (several a second while training) redraws it without laying the window out again */
  self->status = gtk_inscription_new(NULL);
  gtk_inscription_set_xalign(GTK_INSCRIPTION(self->status), 0);
  gtk_inscription_set_wrap_mode(GTK_INSCRIPTION(self->status), PANGO_WRAP_WORD_CHAR);
  gtk_inscription_set_min_lines(GTK_INSCRIPTION(self->status), 2);
  gtk_inscription_set_nat_lines(GTK_INSCRIPTION(self->status), 3);
  gtk_inscription_set_text_overflow(GTK_INSCRIPTION(self->status),
                                    GTK_INSCRIPTION_OVERFLOW_ELLIPSIZE_END);
  gtk_accessible_update_property(GTK_ACCESSIBLE(self->status), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                 "Reading status", -1);
  GtkWidget *legend = build_legend(self);
  gtk_widget_set_margin_start(legend, 6);
  gtk_widget_set_margin_end(legend, 2);
  gtk_widget_set_margin_start(self->status, 6);
  gtk_widget_set_margin_end(self->status, 6);
  gtk_widget_set_margin_bottom(self->status, 4);
  GtkWidget *frame = gtk_frame_new(NULL);
  gtk_frame_set_child(GTK_FRAME(frame), build_view(self));
  gtk_box_append(GTK_BOX(box), frame);
  gtk_box_append(GTK_BOX(box), legend);
  gtk_box_append(GTK_BOX(box), self->status);
  gtk_widget_set_parent(box, GTK_WIDGET(self));
  update_status(self);
  update_legend(self);
}

GtkWidget *
spn_inspector_new(void)
{
  return g_object_new(SPN_TYPE_INSPECTOR, NULL);
}

void
spn_inspector_set_text(SpnInspector *i, const char *text)
{
  g_return_if_fail(SPN_IS_INSPECTOR(i));
  i->setting_text = TRUE;
  gtk_text_buffer_set_text(i->buffer, text ? text : "", -1);
  i->setting_text = FALSE;
  /* text inserted into an empty buffer carries no tag at all */
  spn_tint_forget(i->surprisal);
  spn_tint_forget(i->weights);
  refresh(i);
  g_signal_emit(i, signals[SIGNAL_TEXT_CHANGED], 0, i->text);
  forget_query(i);
}

char *
spn_inspector_get_text(SpnInspector *i)
{
  g_return_val_if_fail(SPN_IS_INSPECTOR(i), NULL);
  return g_strdup(i->text);
}

void
spn_inspector_set_snapshot(SpnInspector *i, SpnSnapshot *s)
{
  g_return_if_fail(SPN_IS_INSPECTOR(i));
  if (s)
    spn_snapshot_ref(s);
  /* a deferred reading of the same text keeps the token map of the tinted one: same text,
   * same tokens */
  g_clear_pointer(&i->snapshot, spn_snapshot_unref);
  i->snapshot = s;
  take_reading(i);
}

gboolean
spn_inspector_is_current(SpnInspector *i)
{
  g_return_val_if_fail(SPN_IS_INSPECTOR(i), TRUE);
  return i->deferred == 0 && !spn_tint_busy(i->surprisal) && !spn_tint_busy(i->weights);
}

void
spn_inspector_set_head(SpnInspector *i, int layer, int head)
{
  g_return_if_fail(SPN_IS_INSPECTOR(i));
  i->layer = layer;
  i->head = head;
  if (i->matched)
    show_weights(i);
  update_status(i);
  update_legend(i);
}

void
spn_inspector_select_query(SpnInspector *i, int query)
{
  g_return_if_fail(SPN_IS_INSPECTOR(i));
  i->query = query;
  if (i->matched || query < 0)  /* a query waits for a reading of the text; a clear does not */
    show_weights(i);
  update_status(i);
  update_legend(i);
  if (query_valid(i)) {
    GtkTextIter at;
    gtk_text_buffer_get_iter_at_offset(i->buffer, &at, i->token_char[query]);
    gtk_text_buffer_move_mark(i->buffer, i->query_mark, &at);
    gtk_text_view_scroll_to_mark(GTK_TEXT_VIEW(i->view), i->query_mark, 0.1, FALSE, 0, 0);
  }
}
