/* compare.h — several runs side by side: their training curves overlaid (against step,
 * characters seen and training FLOPs), their learned spans next to each other, and a table of
 * what each reached and cost. Pure cairo functions over one snapshot per run, like figures.h;
 * the comparison window, `spanscope-cli export` with several checkpoints and the tests draw with
 * them. Each run keeps one colour and its label (a file name or the user's) in every figure. */
#pragma once
#include <cairo.h>
#include <glib.h>

#include "figures.h"
#include "snapshot.h"

G_BEGIN_DECLS

typedef struct {
  const SpnSnapshot *snapshot;
  const char *label;   /* the run's name in legends and the table */
} SpnCompareRun;

typedef enum {
  SPN_COMPARE_CURVES,  /* bpc (smoothed train, validation) against step, characters, FLOPs */
  SPN_COMPARE_SPANS,   /* every run's span bars, one group per run on a common axis */
  SPN_COMPARE_TABLE,   /* per run: steps, characters, final and best validation bpc, parameters,
                          FLOPs per character (and their share of all heads at S), mean and
                          longest span */
  SPN_COMPARE_COUNT
} SpnCompareKind;

const char *spn_compare_name(SpnCompareKind kind);    /* "curves", "spans", "table" */
const char *spn_compare_title(SpnCompareKind kind);   /* "Training curves", ... */
gboolean spn_compare_from_name(const char *name, SpnCompareKind *kind);

/* Draws the comparison into (0, 0, width, height) of cr in user units (o: dark, font size, log
 * axis for the spans and bpc, smoothing of the train curves). n = 0 draws an explanation. */
void spn_compare_draw(SpnCompareKind kind, cairo_t *cr, double width, double height,
                      const SpnCompareRun *runs, int n, const SpnFigureOptions *o);
/* What is under (x, y) as one line for a tooltip, NULL when nothing. */
char *spn_compare_describe(SpnCompareKind kind, double width, double height,
                           const SpnCompareRun *runs, int n, const SpnFigureOptions *o, double x,
                           double y);
/* The figures of `kinds` in a grid, to .png/.svg/.pdf as spn_figure_export(). */
gboolean spn_compare_export(const char *path, const SpnCompareKind *kinds, int n_kinds,
                            double width, double height, double scale, const SpnCompareRun *runs,
                            int n, const SpnFigureOptions *o, GError **error);

G_END_DECLS
