/* figures.h — every figure of spanscope as a pure cairo function over a snapshot: the window,
 * the export and the headless CLI draw with this code and nothing else. Text goes through
 * pangocairo, so SVG and PDF keep it as text; everything else is vector paths, except the
 * heatmap cells, painted as an image (one pixel per cell, or per screen pixel when zoomed out). */
#pragma once
#include <cairo.h>
#include <glib.h>

#include "snapshot.h"

G_BEGIN_DECLS

typedef enum {
  SPN_FIGURE_SPANS,      /* "Learned spans": per layer per-head bars of z·S (ramp lighter), S marked */
  SPN_FIGURE_HISTORY,    /* every head's span against step */
  SPN_FIGURE_MASKS,      /* m(δ) of every head of the layer + its measured mean attention */
  SPN_FIGURE_ATTENTION,  /* heatmap query × key position over the probe text */
  SPN_FIGURE_CURVES,     /* train/valid bpc, tokens/s, average/max span, cost against step */
  SPN_FIGURE_DISTANCE,   /* heatmap query × distance back, the mask edges drawn */
  SPN_FIGURE_HEADS,      /* every layer × head: where the selected character looked */
  SPN_FIGURE_SUMMARY,    /* span per head per layer with values, layer means, histogram, cost */
  SPN_FIGURE_PERSISTENT, /* persistent memory: share per head, over training, slots used */
  SPN_FIGURE_COUNT
} SpnFigureKind;

typedef enum { SPN_COLORMAP_VIRIDIS, SPN_COLORMAP_CIVIDIS } SpnColormap;

typedef struct {
  gboolean dark;          /* light ink on a dark background */
  double font_size;       /* base font size in user units (default 11) */
  gboolean log_axis;      /* spans/history/curves: logarithmic value axis */
  int layer;              /* masks, attention, distance, persistent: the layer shown */
  int head;               /* attention, distance: the head, or -1 for all heads of the layer;
                             masks: the head emphasised, -1 none; persistent: the head whose
                             slots are listed (-1: head 0) */
  SpnColormap colormap;   /* attention */
  gboolean log_color;     /* attention: logarithmic colour scale */
  /* attention: visible part, in token positions [q0, q1) × [k0, k1); q1 ≤ q0 means all */
  double q0, q1, k0, k1;
  int query;              /* attention, distance: query row outlined, -1 none; heads,
                             persistent: the character shown, -1 the last */
  double smoothing;       /* curves: exponential smoothing 0 (raw) … 0.99; raw drawn faintly */
} SpnFigureOptions;

void spn_figure_options_init(SpnFigureOptions *o);

const char *spn_figure_name(SpnFigureKind kind);        /* "spans", "history", ... */
const char *spn_figure_title(SpnFigureKind kind);       /* "Learned spans", ... */
gboolean spn_figure_from_name(const char *name, SpnFigureKind *kind);
/* Every figure's name, "spans, history, …, persistent", for messages (g_free). */
char *spn_figure_names(void);

/* Draws the figure into (0, 0, width, height) of cr in user units. Missing data (no probe, empty
 * history) draws a short explanation instead of an empty frame. */
void spn_figure_draw(SpnFigureKind kind, cairo_t *cr, double width, double height,
                     const SpnSnapshot *s, const SpnFigureOptions *o);

/* What is under (x, y) as a one-line text for a tooltip (e.g. "query 'e' #812 → key 'h' #790,
 * distance 22, weight 0.143"), NULL when nothing. Same geometry as spn_figure_draw. */
char *spn_figure_describe(SpnFigureKind kind, double width, double height,
                          const SpnSnapshot *s, const SpnFigureOptions *o, double x, double y);

/* Attention heatmap geometry for zoom/scroll and clicks: the token position of query row / key
 * column under (x, y), FALSE outside the cells. */
gboolean spn_figure_attention_cell(double width, double height, const SpnSnapshot *s,
                                   const SpnFigureOptions *o, double x, double y, int *query,
                                   int *key);

/* Attention by distance: the head, query and distance δ of the cell under (x, y), FALSE
 * outside the cells (a click selects that query, as in the heatmap by position). */
gboolean spn_figure_distance_cell(double width, double height, const SpnSnapshot *s,
                                  const SpnFigureOptions *o, double x, double y, int *head,
                                  int *query, int *delta);

/* Head overview: the (layer, head) of the cell under (x, y), FALSE elsewhere. */
gboolean spn_figure_heads_cell(double width, double height, const SpnSnapshot *s,
                               const SpnFigureOptions *o, double x, double y, int *layer,
                               int *head);

/* One head's block of heatmap cells, as laid out at a given size: its pixel edges and the token
 * positions at them (cell k spans [k, k+1) in token units; keys grow rightwards, queries
 * downwards). Zooming about the pointer and dragging convert pixels to tokens with it. */
typedef struct {
  double x0, x1, y0, y1;   /* pixel edges of the visible cells */
  double k0, k1, q0, q1;   /* the key and query positions at x0, x1 and y0, y1 */
  int head;
} SpnAttentionTile;

/* The tile whose cells contain (x, y); FALSE elsewhere (between tiles, on labels, on the
 * persistent-memory column). */
gboolean spn_figure_attention_tile(double width, double height, const SpnSnapshot *s,
                                   const SpnFigureOptions *o, double x, double y,
                                   SpnAttentionTile *tile);

/* Writes one figure, or several side by side in a grid (n > 1), to path: .png (width × height
 * user units at `scale` pixels per unit), .svg or .pdf (vector, size in points). Figure i is
 * drawn with o[i] (n options: each figure keeps its own axes and colours); the background is
 * o[0]'s. Written to a temporary file and renamed. */
gboolean spn_figure_export(const char *path, const SpnFigureKind *kinds, int n, double width,
                           double height, double scale, const SpnSnapshot *s,
                           const SpnFigureOptions *o, GError **error);

/* Colour map value at t ∈ [0, 1] as 0..1 RGB. */
void spn_colormap_rgb(SpnColormap map, double t, double rgb[3]);

G_END_DECLS
