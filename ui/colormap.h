/* colormap.h — the perceptually uniform colour maps of the heatmap, as functions and as lookup
 * tables fast enough to colour a full-screen image per frame. */
#pragma once
#include <glib.h>

#include "figures.h"

G_BEGIN_DECLS

/* Entries of a lookup table: fine enough that a table entry and spn_colormap_rgb at the same t
 * differ by less than one 8-bit level. */
#define SPN_COLORMAP_LUT_SIZE 1024

/* Opaque ARGB32 pixels (cairo's CAIRO_FORMAT_RGB24/ARGB32 layout); entry i is t = i / (size − 1). */
void spn_colormap_lut(SpnColormap map, guint32 lut[SPN_COLORMAP_LUT_SIZE]);

gboolean spn_colormap_from_name(const char *name, SpnColormap *map);

G_END_DECLS
