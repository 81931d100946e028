/* export.h — writing drawings to PNG, SVG and PDF files, shared by the export of one run's
 * figures (figures.h) and of a comparison of runs (compare.h). */
#pragma once
#include <cairo.h>
#include <glib.h>

#include "figures.h"

G_BEGIN_DECLS

/* Draws the whole page (0, 0, width, height). */
typedef void (*SpnExportDraw)(cairo_t *cr, double width, double height, gconstpointer data);
/* Draws panel i of a grid into (0, 0, width, height). */
typedef void (*SpnExportPanel)(cairo_t *cr, int i, double width, double height,
                               gconstpointer data);

/* The file type from path's extension (.png at `scale` pixels per unit, .svg, .pdf), the page
 * drawn in memory and written to a temporary file that is renamed; n is the number of figures
 * drawn (at least 1), for the message when there is nothing to export. */
gboolean spn_export_file(const char *path, int n, double width, double height, double scale,
                         SpnExportDraw draw, gconstpointer data, GError **error);
/* The background of o, then n panels in a grid of as many columns as rows or one more. */
void spn_export_grid(cairo_t *cr, int n, double width, double height, const SpnFigureOptions *o,
                     SpnExportPanel draw_one, gconstpointer data);

G_END_DECLS
