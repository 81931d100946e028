/* export.c — figures to PNG, SVG and PDF files: one figure, or several in a grid on one page.
 * The file is drawn into memory and written with spn_save_bytes (engine/savefile.h): a synced
 * temporary file beside the target renamed over it, so a failed export never leaves a truncated
 * file under the name asked for, nor removes the file that was there. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include <cairo-pdf.h>
#include <cairo-svg.h>

#include "export.h"
#include "plot.h"
#include "savefile.h"

typedef enum { FORMAT_PNG, FORMAT_SVG, FORMAT_PDF } Format;

static cairo_status_t
sink_write(void *closure, const unsigned char *data, unsigned int length)
{
  g_byte_array_append(closure, data, length);
  return CAIRO_STATUS_SUCCESS;
}

static gboolean
format_of(const char *path, Format *format, GError **error)
{
  g_autofree char *lower = g_ascii_strdown(path, -1);
  if (g_str_has_suffix(lower, ".png"))
    *format = FORMAT_PNG;
  else if (g_str_has_suffix(lower, ".svg"))
    *format = FORMAT_SVG;
  else if (g_str_has_suffix(lower, ".pdf"))
    *format = FORMAT_PDF;
  else {
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "%s: cannot tell the file type from the extension \"%s\"; use .png, .svg or .pdf",
                path, dot && (!slash || dot > slash) ? dot : "");
    return FALSE;
  }
  return TRUE;
}

/* Several panels in a grid: as many columns as rows, or one more. draw_one(i) draws panel i into
 * (0, 0, pw, ph). */
void
spn_export_grid(cairo_t *cr, int n, double width, double height, const SpnFigureOptions *o,
                SpnExportPanel draw_one, gconstpointer data)
{
  SpnPlot p;
  spn_plot_init(&p, cr, o);
  spn_plot_fill_background(&p, width, height);
  spn_plot_clear(&p);
  int cols = (int)ceil(sqrt((double)n)), rows = (n + cols - 1) / cols;
  double pw = width / cols, ph = height / rows;
  for (int i = 0; i < n; i++) {
    cairo_save(cr);
    cairo_translate(cr, (i % cols) * pw, (i / cols) * ph);
    draw_one(cr, i, pw, ph, data);
    cairo_restore(cr);
  }
}

typedef struct {
  const SpnFigureKind *kinds;
  const SpnSnapshot *s;
  const SpnFigureOptions *o;
} FigureGrid;

static void
draw_figure(cairo_t *cr, int i, double width, double height, gconstpointer data)
{
  const FigureGrid *g = data;
  spn_figure_draw(g->kinds[i], cr, width, height, g->s, &g->o[i]);
}

static cairo_status_t
render(Format format, GByteArray *sink, double width, double height, double scale,
       SpnExportDraw draw, gconstpointer data)
{
  cairo_surface_t *surface;
  if (format == FORMAT_PNG)
    surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, (int)ceil(width * scale),
                                         (int)ceil(height * scale));
  else if (format == FORMAT_SVG)
    surface = cairo_svg_surface_create_for_stream(sink_write, sink, width, height);
  else
    surface = cairo_pdf_surface_create_for_stream(sink_write, sink, width, height);
  cairo_t *cr = cairo_create(surface);
  if (format == FORMAT_PNG)
    cairo_scale(cr, scale, scale);
  draw(cr, width, height, data);
  cairo_status_t status = cairo_status(cr);
  cairo_destroy(cr);
  if (status == CAIRO_STATUS_SUCCESS && format == FORMAT_PNG)
    status = cairo_surface_write_to_png_stream(surface, sink_write, sink);
  /* vector surfaces write their last pages when finished */
  cairo_surface_finish(surface);
  if (status == CAIRO_STATUS_SUCCESS)
    status = cairo_surface_status(surface);
  cairo_surface_destroy(surface);
  return status;
}

gboolean
spn_export_file(const char *path, int n, double width, double height, double scale,
                SpnExportDraw draw, gconstpointer data, GError **error)
{
  Format format;
  if (!format_of(path, &format, error))
    return FALSE;
  if (n < 1 || !(width >= 1 && height >= 1 && width <= 100000 && height <= 100000) ||
      (format == FORMAT_PNG && !(scale > 0 && width * scale <= 32767 && height * scale <= 32767))) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "%s: nothing to export: %d figures of %g × %g at scale %g (PNG sides are at most "
                "32767 pixels)",
                path, n, width, height, scale);
    return FALSE;
  }
  g_autoptr(GByteArray) bytes = g_byte_array_new();
  cairo_status_t st = render(format, bytes, width, height, scale, draw, data);
  if (st != CAIRO_STATUS_SUCCESS) {
    int e = st == CAIRO_STATUS_NO_MEMORY ? ENOMEM : EIO;
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "cannot write %s: %s", path,
                cairo_status_to_string(st));
    return FALSE;
  }
  g_autoptr(GError) local = NULL;
  if (!spn_save_bytes(path, bytes->data, bytes->len, &local)) {
    g_set_error(error, local->domain, local->code, "%s: %s", path, local->message);
    return FALSE;
  }
  return TRUE;
}

typedef struct {
  int n;
  FigureGrid grid;
} FigureExport;

static void
draw_figures(cairo_t *cr, double width, double height, gconstpointer data)
{
  const FigureExport *e = data;
  spn_export_grid(cr, e->n, width, height, &e->grid.o[0], draw_figure, &e->grid);
}

gboolean
spn_figure_export(const char *path, const SpnFigureKind *kinds, int n, double width,
                  double height, double scale, const SpnSnapshot *s, const SpnFigureOptions *o,
                  GError **error)
{
  for (int i = 0; i < n; i++)
    if (kinds[i] < 0 || kinds[i] >= SPN_FIGURE_COUNT) {
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: unknown figure kind %d", path,
                  (int)kinds[i]);
      return FALSE;
    }
  FigureExport e = {n, {kinds, s, o}};
  return spn_export_file(path, n, width, height, scale, draw_figures, &e, error);
}
