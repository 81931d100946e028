/* heatmap.h — what the heatmap figures share (attention by position and by distance, the head
 * overview, the persistent slots): a colour scale over weights, a grid of values painted as one
 * image (at most one value per device pixel, the largest of those falling on it, so a sharp
 * peak never disappears when zoomed out), and the colour bar beside it. */
#pragma once
#include "plot.h"

G_BEGIN_DECLS

typedef struct {
  double vmax;     /* the top of the scale */
  gboolean log;    /* three decades below vmax, else 0 … vmax */
  SpnColormap map;
} SpnHeatScale;

/* The scale for weights up to vmax (a non-finite or non-positive vmax gives 0 … 1). */
SpnHeatScale spn_heat_scale(double vmax, gboolean log, SpnColormap map);
/* Where v falls on the scale, 0 … 1. */
double spn_heat_t(const SpnHeatScale *sc, double v);

/* w × h values, row-major, painted into `area` (row 0 at the top). A negative or non-finite value
 * is "no data": drawn in the palette's no-data colour. */
void spn_heat_paint(SpnPlot *p, const SpnRect *area, const float *v, int w, int h,
                    const SpnHeatScale *sc);

/* Pixels of the device the figure lands on, per user unit; vector output gets a finer raster
 * so printed cells stay sharp. */
double spn_heat_device_scale(cairo_t *cr);

/* The colour bar of sc in bar, ticks and the label to its right. */
void spn_heat_colorbar(SpnPlot *p, const SpnRect *bar, const SpnHeatScale *sc, const char *label);
/* The width spn_heat_colorbar needs to the right of the bar for ticks and label. */
double spn_heat_colorbar_margin(SpnPlot *p);

G_END_DECLS
