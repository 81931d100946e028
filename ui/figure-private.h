/* figure-private.h — what the figure files share behind figures.h: each figure's draw and
 * describe functions (the same layout code serves both) and snapshot helpers. */
#pragma once
#include "figures.h"
#include "lines.h"
#include "plot.h"

G_BEGIN_DECLS

void spn_fig_spans_draw(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o);
char *spn_fig_spans_describe(SpnPlot *p, SpnRect r, const SpnSnapshot *s,
                             const SpnFigureOptions *o, double x, double y);

void spn_fig_history_draw(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o);
char *spn_fig_history_describe(SpnPlot *p, SpnRect r, const SpnSnapshot *s,
                               const SpnFigureOptions *o, double x, double y);

void spn_fig_masks_draw(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o);
char *spn_fig_masks_describe(SpnPlot *p, SpnRect r, const SpnSnapshot *s,
                             const SpnFigureOptions *o, double x, double y);

void spn_fig_attention_draw(SpnPlot *p, SpnRect r, const SpnSnapshot *s,
                            const SpnFigureOptions *o);
char *spn_fig_attention_describe(SpnPlot *p, SpnRect r, const SpnSnapshot *s,
                                 const SpnFigureOptions *o, double x, double y);
gboolean spn_fig_attention_cell(SpnPlot *p, SpnRect r, const SpnSnapshot *s,
                                const SpnFigureOptions *o, double x, double y, int *query,
                                int *key, int *head);
gboolean spn_fig_attention_tile(SpnPlot *p, SpnRect r, const SpnSnapshot *s,
                                const SpnFigureOptions *o, double x, double y,
                                SpnAttentionTile *tile);

void spn_fig_curves_draw(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o);
char *spn_fig_curves_describe(SpnPlot *p, SpnRect r, const SpnSnapshot *s,
                              const SpnFigureOptions *o, double x, double y);

void spn_fig_distance_draw(SpnPlot *p, SpnRect r, const SpnSnapshot *s,
                           const SpnFigureOptions *o);
char *spn_fig_distance_describe(SpnPlot *p, SpnRect r, const SpnSnapshot *s,
                                const SpnFigureOptions *o, double x, double y);
/* The head, query and distance δ of the cell under (x, y); FALSE elsewhere. */
gboolean spn_fig_distance_cell(SpnPlot *p, SpnRect r, const SpnSnapshot *s,
                               const SpnFigureOptions *o, double x, double y, int *head,
                               int *query, int *delta);

void spn_fig_heads_draw(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o);
char *spn_fig_heads_describe(SpnPlot *p, SpnRect r, const SpnSnapshot *s,
                             const SpnFigureOptions *o, double x, double y);
gboolean spn_fig_heads_cell(SpnPlot *p, SpnRect r, const SpnSnapshot *s,
                            const SpnFigureOptions *o, double x, double y, int *layer, int *head);

void spn_fig_summary_draw(SpnPlot *p, SpnRect r, const SpnSnapshot *s, const SpnFigureOptions *o);
char *spn_fig_summary_describe(SpnPlot *p, SpnRect r, const SpnSnapshot *s,
                               const SpnFigureOptions *o, double x, double y);

void spn_fig_persistent_draw(SpnPlot *p, SpnRect r, const SpnSnapshot *s,
                             const SpnFigureOptions *o);
char *spn_fig_persistent_describe(SpnPlot *p, SpnRect r, const SpnSnapshot *s,
                                  const SpnFigureOptions *o, double x, double y);

/* Token i of the probe text as something visible: a space as "␣", a newline as "⏎", a tab as
 * "⇥", other control characters as "·". */
char *spn_fig_token_label(const SpnSnapshot *s, int i);

/* "step 1,234"-style step text and the figure title with the step appended. */
char *spn_fig_title_with_step(const char *title, const SpnSnapshot *s);

/* The span of (layer, head) in the snapshot, in characters; 0 when unknown. */
double spn_fig_span(const SpnSnapshot *s, int layer, int head);
/* The colour of one head: its layer's colour, darker for the first heads of the layer and
 * lighter for the last, so heads of a layer stay apart yet read as one layer. */
void spn_fig_head_rgb(SpnPlot *p, int layer, int head, int nheads, double rgb[3]);
/* Whether (layer, head) is the selection of o (the window's layer, and head unless all heads),
 * which the span figures draw strongly and the rest dimmed; everything with layer < 0. */
gboolean spn_fig_selected(const SpnFigureOptions *o, int layer, int head);

/* What the run's tokens are: "characters", "bytes" (byte mode) or "tokens"; and the axis labels
 * in that unit (static strings: chart specs keep them). */
const char *spn_fig_unit(const SpnSnapshot *s);
const char *spn_fig_span_label(const SpnSnapshot *s);      /* "span (characters)" */
const char *spn_fig_distance_label(const SpnSnapshot *s);  /* "distance δ (characters back)" */

/* v through a printf format with one double, or "no data" when v is not finite: what hover
 * texts show for NaN and infinite numbers. */
char *spn_fig_format_value(const char *format, double v);

/* The probe head of (layer, head), NULL without a probe or out of range. */
const SpnProbeHead *spn_fig_probe_head(const SpnSnapshot *s, int layer, int head);

/* Index of the history row whose step is nearest to `step` (rows sorted by step), -1 if empty. */
int spn_fig_history_nearest(const SpnHistory *h, double step);
/* Smallest and largest finite value of a column of h over every row (spans: every head), or
 * with SPN_HISTORY_VALID_BPC of the validation measurements that count; NaN, NaN when none. */
void spn_fig_history_range(const SpnHistory *h, SpnHistoryColumn col, double *lo, double *hi);
/* A line over every row of h, chunk by chunk: column col (train bpc, throughput, or the spans of
 * head `head`, layer-major) or, when derived is given, derived[i] for row i. */
void spn_fig_history_line(SpnLines *lines, const SpnAxis *x, const SpnAxis *y, const SpnHistory *h,
                          SpnHistoryColumn col, int head, const float *derived, const double rgb[3],
                          double alpha, double width);

G_END_DECLS
