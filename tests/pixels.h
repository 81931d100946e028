/* pixels.h — what the figure tests share: drawing a figure into an image surface of W × H and
 * reading its pixels and colours. Header-only (static inline). */
#pragma once
#include <cairo.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "figures.h"

#define W 600
#define H 350

static inline cairo_surface_t *
draw(SpnFigureKind kind, const SpnSnapshot *s, const SpnFigureOptions *o)
{
  cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
  cairo_t *cr = cairo_create(img);
  spn_figure_draw(kind, cr, W, H, s, o);
  g_assert_cmpint(cairo_status(cr), ==, CAIRO_STATUS_SUCCESS);
  cairo_destroy(cr);
  cairo_surface_flush(img);
  return img;
}

static inline void
pixel(cairo_surface_t *img, int x, int y, int rgb[3])
{
  const guint32 *row = (const guint32 *)(cairo_image_surface_get_data(img) +
                                         (gsize)y * cairo_image_surface_get_stride(img));
  guint32 v = row[x];
  rgb[0] = (v >> 16) & 255;
  rgb[1] = (v >> 8) & 255;
  rgb[2] = v & 255;
}

static inline int
distance(const int a[3], const int b[3])
{
  return MAX(abs(a[0] - b[0]), MAX(abs(a[1] - b[1]), abs(a[2] - b[2])));
}

static inline void
hex_rgb(const char *hex, int rgb[3])
{
  unsigned v = 0;
  g_assert_cmpint(sscanf(hex, "#%6x", &v), ==, 1);
  rgb[0] = (v >> 16) & 255;
  rgb[1] = (v >> 8) & 255;
  rgb[2] = v & 255;
}

static inline void
map_rgb(SpnColormap map, double t, int rgb[3])
{
  double c[3];
  spn_colormap_rgb(map, t, c);
  for (int i = 0; i < 3; i++)
    rgb[i] = (int)lround(c[i] * 255);
}

